"""The committed portraits are the files their README describes, and each is a photo the composite renderer takes."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

PORTRAITS = Path(__file__).resolve().parents[1] / "devset" / "portraits"


def _recorded() -> dict[str, str]:
    rows = re.findall(r"^\| `([^`]+\.jpg)` \|.*\| `([0-9a-f]{64})` \|$", (PORTRAITS / "README.md").read_text(), re.M)
    return dict(rows)


def test_every_committed_portrait_is_recorded_with_its_sha256():
    files = sorted(p.name for p in PORTRAITS.glob("*.jpg"))
    assert files, "no committed portraits"
    recorded = _recorded()
    assert sorted(recorded) == files
    for name, digest in recorded.items():
        assert hashlib.sha256((PORTRAITS / name).read_bytes()).hexdigest() == digest, name


@pytest.mark.parametrize("name", sorted(p.name for p in PORTRAITS.glob("*.jpg")))
def test_portrait_is_accepted_by_the_composite_renderer(name):
    from interanimate.render.composite.photo import load_photo

    reference = load_photo(PORTRAITS / name, size=256)
    assert reference.image.shape == (256, 256, 3)
    x0, y0, x1, y1 = reference.face_box
    # One face, large in the frame, wholly inside it: the bars measure identity and contact on it.
    assert 0 <= x0 < x1 <= 256 and 0 <= y0 < y1 <= 256
    assert x1 - x0 > 60
    assert np.isfinite(reference.landmarks).all()
