"""Contact sheets of every pattern on the offline portraits, and the composite dataset the quality bars are measured on.

    PYTHONPATH=src python tools/composite_gallery.py --out composite_gallery [--size 512] [--frames 16]
    PYTHONPATH=src python tools/composite_gallery.py --out composite_gallery \
        --compare src/interanimate/checkpoints/small-synth64 --thumb 128

Writes ``OUT/refs/`` (the portraits: scikit-image's astronaut, matplotlib's Grace Hopper and those fetched into
``devset/portraits/`` by ``tools/fetch_devset.py``), ``OUT/dataset/`` (all 18
patterns × every portrait, through ``interanimate animate --as-dataset``, so ``interanimate data validate`` and
``interanimate evaluate --generated OUT/dataset --reference OUT/dataset --metrics anatomy`` run on it) and
``OUT/sheet_<person>.jpg`` (one row per pattern: the reference, then evenly spaced frames with contact frames
outlined in red). ``--compare CHECKPOINT`` instead renders one request (the astronaut × poke_cheek_left, seed 0)
through both renderers and writes ``OUT/compare.png`` (top: composite, bottom: diffusion, same frames).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

FETCHED_PORTRAITS = Path(__file__).resolve().parents[1] / "devset" / "portraits"


def portraits(folder: Path) -> list[Path]:
    import matplotlib.cbook
    import skimage.data

    from interanimate.data.images import write_png

    astronaut = write_png(skimage.data.astronaut(), folder / "astronaut.png")
    hopper = folder / "grace_hopper.jpg"
    hopper.write_bytes(Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).read_bytes())
    fetched = []
    for source in sorted(FETCHED_PORTRAITS.glob("*.jpg")):
        fetched.append(folder / source.name)
        fetched[-1].write_bytes(source.read_bytes())
    return [astronaut, hopper, *fetched]


def sheet(dataset: Path, person: str, columns: int, thumb: int) -> np.ndarray:
    from interanimate.data.annotations import load_annotations
    from interanimate.data.images import text_tile, tile_rows
    from interanimate.data.io import decode_video
    from interanimate.data.manifest import clip_dir, read_manifest
    from interanimate.taxonomy import PATTERNS

    records = {r.pattern: r for r in read_manifest(dataset) if r.extra["reference"]["name"] == person}
    rows = []
    for pattern in PATTERNS:
        record = records.get(pattern.name)
        if record is None:
            continue
        folder = clip_dir(dataset, record.clip_id)
        frames = decode_video(folder / "video.mp4")
        ann = load_annotations(folder / "annotations.npz", record.height, record.width)
        picks = np.linspace(0, len(frames) - 1, columns).round().astype(int)
        tiles = []
        for f in picks:
            tile = cv2.resize(frames[f], (thumb, thumb), interpolation=cv2.INTER_AREA)
            if ann.contact[f].any():
                cv2.rectangle(tile, (0, 0), (thumb - 1, thumb - 1), (230, 30, 30), 3)
            tiles.append(tile)
        rows.append([text_tile(pattern.name.replace("_", " "), thumb, 150, (4, thumb // 2), 0.38, (0, 0, 0), 255),
                     *tiles])
    return tile_rows(rows)


def compare(out: Path, checkpoint: Path, frames: int, columns: int, thumb: int) -> Path:
    from interanimate.data.images import tile_rows, write_png
    from interanimate.data.io import decode_video
    from interanimate.pipelines.command import main as animate

    ref = portraits(out / "refs")[0]
    rows = []
    for renderer in ("composite", "diffusion"):
        video = out / f"compare_{renderer}.mp4"
        extra = ["--checkpoint", str(checkpoint)] if renderer == "diffusion" else ["--size", "256"]
        code = animate(["--reference", str(ref), "--pattern", "poke_cheek_left", "--frames", str(frames),
                        "--renderer", renderer, *extra, "--out", str(video), "--quiet"])
        if code != 0:
            raise SystemExit(code)
        clip = decode_video(video)
        picks = np.linspace(0, len(clip) - 1, columns).round().astype(int)
        rows.append([cv2.resize(clip[f], (thumb, thumb), interpolation=cv2.INTER_AREA) for f in picks])
    return write_png(tile_rows(rows), out / "compare.png")


def main() -> None:
    from interanimate.pipelines.command import main as animate

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("composite_gallery"))
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--columns", type=int, default=8)
    parser.add_argument("--thumb", type=int, default=128)
    parser.add_argument("--compare", type=Path, metavar="CHECKPOINT", help="composite vs diffusion on one request")
    args = parser.parse_args()
    if args.compare is not None:
        print(f"wrote {compare(args.out, args.compare, args.frames, args.columns, args.thumb)}")
        return
    refs = portraits(args.out / "refs")
    code = animate(["--reference", *map(str, refs), "--pattern", "all", "--frames", str(args.frames), "--size",
                    str(args.size), "--as-dataset", str(args.out / "dataset"), "--quiet"])
    if code != 0:
        raise SystemExit(code)
    for ref in refs:
        image = sheet(args.out / "dataset", ref.stem, args.columns, args.thumb)
        path = args.out / f"sheet_{ref.stem}.jpg"
        cv2.imwrite(str(path), image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 88])
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
