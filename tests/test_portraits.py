"""The recorded portraits: the recipe in portraits.json is complete, and each fetched portrait is the recorded file
and a photo the composite renderer takes."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

PORTRAITS = Path(__file__).resolve().parents[1] / "devset" / "portraits"
ENTRIES = json.loads((PORTRAITS / "portraits.json").read_text())["portraits"]
FETCH = "run tools/fetch_devset.py --mirrors DIR (devset/portraits/README.md)"


def test_every_portrait_has_a_complete_recipe():
    assert ENTRIES, "no portrait is recorded"
    readme = (PORTRAITS / "README.md").read_text()
    for entry in ENTRIES:
        assert re.fullmatch(r"[0-9a-f]{40}", entry["commit"]), entry["file"]
        assert re.fullmatch(r"[0-9a-f]{64}", entry["sha256_original"]) and re.fullmatch(r"[0-9a-f]{64}", entry["sha256"])
        x0, y0, x1, y1 = entry["crop"]
        assert 0 <= x0 < x1 and 0 <= y0 < y1
        assert f"`{entry['file']}`" in readme and entry["sha256"] in readme, entry["file"]
    assert not list(PORTRAITS.glob("*.png")), "portraits are JPEG files made by the recipe"


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["file"] for e in ENTRIES])
def test_fetched_portrait_is_the_recorded_file_and_taken_by_the_composite_renderer(entry):
    from interanimate.render.composite.photo import load_photo

    path = PORTRAITS / entry["file"]
    if not path.is_file():
        pytest.skip(f"{entry['file']} is not fetched: {FETCH}")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
    reference = load_photo(path, size=256)
    assert reference.image.shape == (256, 256, 3)
    x0, y0, x1, y1 = reference.face_box
    # One face, large in the frame, wholly inside it: the bars measure identity and contact on it.
    assert 0 <= x0 < x1 <= 256 and 0 <= y0 < y1 <= 256
    assert x1 - x0 > 60
    assert np.isfinite(reference.landmarks).all()


def _tool():
    import importlib.util

    spec = importlib.util.spec_from_file_location("fetch_devset", PORTRAITS.parents[1] / "tools" / "fetch_devset.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_a_portrait_is_made_from_its_listed_source_only_when_every_sha256_matches(tmp_path):
    import cv2

    tool = _tool()
    rng = np.random.default_rng(0)
    source = cv2.imencode(".png", rng.integers(0, 256, (60, 80, 3), dtype=np.uint8))[1].tobytes()
    (tmp_path / "source.png").write_bytes(source)
    entry = {"file": "p.jpg", "repo": "owner/name", "commit": "0" * 40, "path": "p.png",
             "sha256_original": hashlib.sha256(source).hexdigest(), "crop": [10, 5, 50, 45],
             "jpeg": {"quality": 92, "subsampling": "4:2:0", "optimize": True}}
    made = tool.portrait_bytes(source, entry)
    assert cv2.imdecode(np.frombuffer(made, np.uint8), cv2.IMREAD_COLOR).shape == (40, 40, 3)
    urls = {"p.jpg": "source.png"}
    out = tmp_path / "out"
    out.mkdir()
    assert tool.fetch_portrait({**entry, "sha256": "1" * 64}, out, None, urls, tmp_path).startswith("the source")
    assert not (out / "p.jpg").exists()
    assert tool.fetch_portrait({**entry, "sha256_original": "2" * 64, "sha256": "1" * 64}, out, None, urls,
                               tmp_path) == "no mirror or URL gave the recorded file"
    good = {**entry, "sha256": hashlib.sha256(made).hexdigest()}
    assert tool.fetch_portrait(good, out, None, urls, tmp_path) == "fetched"
    assert (out / "p.jpg").read_bytes() == made
    assert tool.fetch_portrait(good, out, None, {}, tmp_path) == "ok"
