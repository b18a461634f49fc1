"""Provenance: tags are written and read; the watermark is invisible, survives re-encoding, and is not
found where it was never put."""

from __future__ import annotations

import numpy as np
import pytest

from interanimate.cli import main
from interanimate.data.io import decode_video, encode_video, read_container_metadata
from interanimate.data.sketch import SketchConfig, render_sketch_clip
from interanimate.provenance import (
    DETECTION_THRESHOLD,
    check_file,
    embed_watermark,
    provenance_tags,
    watermark_score,
)
from interanimate.taxonomy import get_pattern


def _real_video(size=128, num_frames=32, seed=0) -> np.ndarray:
    """A real photograph (scikit-image's astronaut) with a slow camera drift and sensor noise."""
    import cv2
    from skimage import data

    image = cv2.resize(data.astronaut(), (size + 16, size + 16), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(seed)
    frames = []
    for t in range(num_frames):
        dx, dy = int(round(8 + 6 * np.sin(t / 9))), int(round(8 + 4 * np.cos(t / 11)))
        crop = image[dy:dy + size, dx:dx + size].astype(np.float32) + rng.normal(0, 2, (size, size, 3))
        frames.append(np.clip(crop, 0, 255).astype(np.uint8))
    return np.stack(frames)


def _rendered_video(size=128, num_frames=32) -> np.ndarray:
    return render_sketch_clip(get_pattern("stroke_cheek_left"), 3, 9, SketchConfig(num_frames, size))[0]


def _reencode(frames: np.ndarray, crf: int = 28) -> np.ndarray:
    """Encode as delivered (crf 18), then re-encode at ordinary web quality."""
    return decode_video(encode_video(decode_video(encode_video(frames, 15, crf=18)), 15, crf=crf))


def test_watermark_is_invisible():
    video = _real_video()
    marked = embed_watermark(video)
    difference = marked.astype(int) - video
    assert np.abs(difference).max() <= 3
    psnr = 10 * np.log10(255 ** 2 / np.mean(difference.astype(float) ** 2))
    assert psnr > 38


@pytest.mark.parametrize("make", [_real_video, _rendered_video], ids=["real", "rendered"])
def test_watermark_survives_reencoding(make):
    assert watermark_score(_reencode(embed_watermark(make()))) > DETECTION_THRESHOLD + 1


@pytest.mark.parametrize("make", [_real_video, _rendered_video], ids=["real", "rendered"])
def test_unmarked_videos_are_not_flagged(make):
    assert abs(watermark_score(_reencode(make()))) < DETECTION_THRESHOLD - 2


def test_unmarked_scores_behave_like_a_standard_normal():
    """Across many unmarked clips the statistic stays centred with unit-ish spread (no false alarms)."""
    scores = [watermark_score(_real_video(64, 16, seed=s)[:, ::-1] if s % 2 else _real_video(64, 16, seed=s))
              for s in range(12)]
    assert max(abs(z) for z in scores) < DETECTION_THRESHOLD
    assert abs(np.mean(scores)) < 1.5


def test_clips_without_a_sign_flip_are_not_scored():
    assert np.isnan(watermark_score(_real_video(64, 5)))
    assert np.isnan(watermark_score(_real_video(64, 4)))


def test_tags_round_trip_through_the_container():
    tags = provenance_tags(checkpoint_sha256="ab" * 32, seed=7, pattern="poke_nose")
    data = encode_video(_real_video(64, 8), 15, metadata=tags)
    found = read_container_metadata(data)
    for key, value in tags.items():
        assert found[key] == value
    assert "SYNTHETIC" in found["comment"]


def test_check_file_and_cli(tmp_path, capsys):
    video = _real_video(128, 32)
    marked = tmp_path / "marked.mp4"
    marked.write_bytes(encode_video(embed_watermark(video), 15, metadata=provenance_tags(seed=1)))
    stripped = tmp_path / "stripped.mp4"  # tags lost, pixels re-encoded: only the watermark is left
    stripped.write_bytes(encode_video(decode_video(marked), 15, crf=26))
    plain = tmp_path / "plain.mp4"
    plain.write_bytes(encode_video(video, 15))
    assert check_file(marked).metadata_says_synthetic and check_file(marked).watermark_detected
    report = check_file(stripped)
    assert not report.metadata_says_synthetic and report.watermark_detected and report.synthetic
    assert not check_file(plain).synthetic

    assert main(["provenance", "check", str(marked), str(stripped)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{marked}: SYNTHETIC; metadata: synthetic (generator interanimate")
    assert "watermark: detected" in out[1]
    assert main(["provenance", "check", str(plain)]) == 1
    assert "no provenance mark found" in capsys.readouterr().out
    assert main(["provenance", "check", str(tmp_path / "missing.mp4")]) == 2
