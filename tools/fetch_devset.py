"""Rebuild the real development set's media from their sources and check every sha256.

The clips are the original files of public repositories at the commits recorded in
``devset/real/labels.json``; they are taken from local git mirrors of those repositories (bare git
directories named ``owner+name`` or ``owner+name/repo`` under ``--mirrors``) or from a URL list
(``--urls FILE``: lines ``<clip id or sha256> <url or local path>``), checked against the recorded sha256
and written to ``devset/real/media/<clip id><ext>``. The portraits of ``devset/portraits/portraits.json`` are made
the same way: the recorded original, checked, cropped and saved as the recorded JPEG (Pillow's encoder, whose output
is checked against the recorded sha256 too) into ``devset/portraits/``::

    PYTHONPATH=src python tools/fetch_devset.py --mirrors /path/to/mirrors
    PYTHONPATH=src python tools/fetch_devset.py --check          # verify only, fetch nothing

Exit status 0 when every clip is present and verified; otherwise one line says how many are missing,
and the status is 1. Nothing is downloaded unless ``--urls`` names remote URLs.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

from interanimate.data.io import atomic_write_bytes, sha256_bytes, sha256_file
from interanimate.evaluation.devset import Devset, DevsetClip, load_devset


def mirror_dirs(mirrors: Path, repo: str) -> list[Path]:
    """Candidate bare git directories of ``repo`` (``owner/name``) under ``mirrors``."""
    base = mirrors / repo.replace("/", "+")
    return [base / "repo", base, mirrors / repo]


def from_mirror(mirrors: Path, repo: str, commit: str, path: str) -> bytes | None:
    """The file at ``commit:path`` in a local mirror of ``repo``, or None when no mirror has it."""
    for git_dir in mirror_dirs(mirrors, repo):
        if not git_dir.is_dir():
            continue
        done = subprocess.run(["git", "--git-dir", str(git_dir), "show", f"{commit}:{path}"], capture_output=True)
        if done.returncode == 0:
            return done.stdout
    return None


def read_url_list(path: Path) -> dict[str, str]:
    """``{clip id or sha256: url}`` from a list file (blank lines and ``#`` comments ignored)."""
    urls = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, url = line.partition(" ")
            urls[key] = url.strip()
    return urls


def from_url(url: str, list_dir: Path) -> bytes | None:
    """The bytes behind a URL or a path (relative to the list file); None when it cannot be read."""
    try:
        if "://" in url:
            with urllib.request.urlopen(url, timeout=60) as response:
                return response.read()
        return (list_dir / url).read_bytes()
    except OSError:
        return None


def fetch_clip(devset: Devset, clip: DevsetClip, out: Path, mirrors: Path | None, urls: dict[str, str],
               list_dir: Path) -> str:
    """Bring one clip's original into ``out``; return ``"ok"``, ``"fetched"`` or the reason it is missing."""
    target = devset.media_path(clip, out)
    if target.is_file() and sha256_file(target) == clip.sha256_clip:
        return "ok"
    if clip.clip_file:
        return "committed clip missing or altered"
    source = devset.sources[clip.source]
    candidates = []
    if mirrors is not None:
        candidates.append(lambda: from_mirror(mirrors, source.repo, source.commit, clip.path))
    url = urls.get(clip.id) or urls.get(clip.sha256_original)
    if url:
        candidates.append(lambda: from_url(url, list_dir))
    for get in candidates:
        data = get()
        if data is not None and sha256_bytes(data) == clip.sha256_original:
            atomic_write_bytes(target, data)
            return "fetched"
    return "no mirror or URL gave the recorded file" if candidates else "no mirror or URL given"


PORTRAITS = Path(__file__).resolve().parents[1] / "devset" / "portraits"
SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}


def portrait_bytes(original: bytes, entry: dict) -> bytes:
    """The portrait file an entry of ``portraits.json`` describes, made from its source file."""
    from PIL import Image

    x0, y0, x1, y1 = entry["crop"]
    out = io.BytesIO()
    jpeg = entry["jpeg"]
    Image.open(io.BytesIO(original)).convert("RGB").crop((x0, y0, x1, y1)).save(
        out, "JPEG", quality=jpeg["quality"], subsampling=SUBSAMPLING[jpeg["subsampling"]], optimize=jpeg["optimize"])
    return out.getvalue()


def fetch_portrait(entry: dict, folder: Path, mirrors: Path | None, urls: dict[str, str], list_dir: Path) -> str:
    """Make one portrait in ``folder``; return ``"ok"``, ``"fetched"`` or the reason it is missing."""
    target = folder / entry["file"]
    if target.is_file() and sha256_file(target) == entry["sha256"]:
        return "ok"
    candidates = []
    if mirrors is not None:
        candidates.append(lambda: from_mirror(mirrors, entry["repo"], entry["commit"], entry["path"]))
    url = urls.get(entry["file"]) or urls.get(entry["sha256_original"])
    if url:
        candidates.append(lambda: from_url(url, list_dir))
    for get in candidates:
        data = get()
        if data is None or sha256_bytes(data) != entry["sha256_original"]:
            continue
        made = portrait_bytes(data, entry)
        if sha256_bytes(made) != entry["sha256"]:
            return "the source was found but this Pillow's JPEG encoder makes another file"
        atomic_write_bytes(target, made)
        return "fetched"
    return "no mirror or URL gave the recorded file" if candidates else "no mirror or URL given"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, default=None, help="labels.json (default: devset/real/labels.json)")
    parser.add_argument("--mirrors", type=Path, default=None, help="folder of bare git mirrors (owner+name)")
    parser.add_argument("--urls", type=Path, default=None, help="list file: '<clip id or sha256> <url or path>'")
    parser.add_argument("--out", type=Path, default=None, help="where fetched originals go (default: devset/real/media)")
    parser.add_argument("--check", action="store_true", help="only verify what is there")
    args = parser.parse_args(argv)
    devset = load_devset(args.labels)
    out = args.out or devset.root / "media"
    urls = read_url_list(args.urls) if args.urls else {}
    list_dir = args.urls.parent if args.urls else Path.cwd()
    missing = []
    for clip in devset.clips:
        status = (fetch_clip(devset, clip, out, None if args.check else args.mirrors, {} if args.check else urls,
                             list_dir))
        if status not in ("ok", "fetched"):
            missing.append(f"{clip.id} ({status})")
        elif status == "fetched":
            print(f"fetched {clip.id}")
    entries = json.loads((PORTRAITS / "portraits.json").read_text())["portraits"]
    missing_portraits = []
    for entry in entries:
        status = fetch_portrait(entry, PORTRAITS, None if args.check else args.mirrors,
                                {} if args.check else urls, list_dir)
        if status not in ("ok", "fetched"):
            missing_portraits.append(f"{entry['file']} ({status})")
        elif status == "fetched":
            print(f"fetched portrait {entry['file']}")
    if missing or missing_portraits:
        parts = []
        if missing:
            parts.append(f"{len(missing)} of {len(devset.clips)} clips missing: "
                         + ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else ""))
        if missing_portraits:
            parts.append(f"{len(missing_portraits)} of {len(entries)} portraits missing: "
                         + ", ".join(missing_portraits))
        print("devset: " + "; ".join(parts) + " (give --mirrors or --urls)", file=sys.stderr)
        return 1
    print(f"devset: all {len(devset.clips)} clips present and verified in {out}; "
          f"all {len(entries)} portraits in {PORTRAITS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
