"""Bad and unusual inputs to ``annotate``: every kind gives a reject reason (or is read correctly)."""

from __future__ import annotations

import struct
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from interanimate.data.annotate.identity import cluster_subjects, load_sidecar, sidecar_subject
from interanimate.data.annotate.resize import ALIGNMENT, block_factors, is_three_quarters, resize_area
from interanimate.data.annotate.video import AnnotateError, ReadLimits, RejectedInput, VideoReader, discover_inputs


def _write_mp4(path, frames, fps=25, pts=None):
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        if pts is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        for i, frame in enumerate(frames):
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video_frame.pts = i if pts is None else pts[i]
            if pts is not None:
                video_frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(video_frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _frames(n=10, h=32, w=48):
    frames = np.zeros((n, h, w, 3), np.uint8)
    frames[:, :, :8] = 255  # a white band on the image's left edge
    for i in range(n):
        frames[i, :4, 8 + i] = 128  # a moving marker so frames differ
    return frames


def _reject(path, limits=None) -> str:
    with pytest.raises(RejectedInput) as info:
        reader = VideoReader(path, limits)
        reader.open()
        for _ in reader.frames():
            pass
    return info.value.reason


def test_bad_inputs_are_rejected_with_reasons(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    good = _write_mp4(tmp_path / "good.mp4", _frames(30))
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    single = _write_mp4(tmp_path / "single.mp4", _frames(1))
    assert _reject(empty) == "empty_file"
    assert _reject(text) == "not_a_video"
    assert _reject(truncated) in {"not_a_video", "corrupt", "truncated"}
    assert _reject(single) == "too_short"
    assert _reject(good, ReadLimits(max_pixels=40 * 30)) == "resolution_too_large"


def test_large_frames_are_scaled_to_the_working_size(tmp_path):
    path = _write_mp4(tmp_path / "big.mp4", _frames(8, 64, 128))
    reader = VideoReader(path, ReadLimits(max_side=64))
    info = reader.open()
    frames = [f for _, f in reader.frames()]
    assert (info.width, info.height) == (64, 32) and frames[0].shape == (32, 64, 3)


@pytest.mark.parametrize("source", [(720, 1280), (1280, 720), (36, 64), (4, 4), (1080, 1440)])
def test_three_quarter_scaling_gives_opencvs_pixels(source):
    """The fast 3/4 kernel is bit-identical to ``cv2.resize(INTER_AREA)``, on random pixels (ties to even
    included) and on flat and saturated ones; frames come out aligned for MediaPipe."""
    rng = np.random.default_rng(sum(source))
    height, width = source[0] * 3 // 4, source[1] * 3 // 4
    assert is_three_quarters((*source, 3), width, height)
    images = [rng.integers(0, 256, (*source, 3), dtype=np.uint8), np.full((*source, 3), 255, np.uint8),
              rng.integers(0, 2, (*source, 3), dtype=np.uint8) * 255]
    images.append(images[0][:, ::-1])  # a view with negative strides (rotated or flipped frames)
    for image in images:
        ours = resize_area(image, width, height)
        assert ours.ctypes.data % ALIGNMENT == 0 and ours.flags.c_contiguous
        assert np.array_equal(ours, cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA))


@pytest.mark.parametrize("source, size, factors", [
    ((540, 960), (64, 36), (15, 15)), ((360, 640), (64, 36), (10, 10)), ((90, 96), (32, 45), (2, 3)),
    ((90, 96), (96, 30), (3, 1)), ((72, 128), (64, 36), None), ((1080, 1920), (960, 540), None),
    ((1080, 1920), (958, 538), None), ((480, 640), (64, 36), None)])
def test_other_scales_give_opencvs_pixels(source, size, factors):
    """Whole-number factors take the block-mean kernel (except 2x2, which OpenCV rounds its own way), the rest
    ``cv2.resize``: the same pixels either way."""
    assert block_factors((*source, 3), *size) == factors
    rng = np.random.default_rng(sum(source) + sum(size))
    for image in (rng.integers(0, 256, (*source, 3), dtype=np.uint8), np.full((*source, 3), 255, np.uint8)):
        ours = resize_area(image, *size)
        assert ours.ctypes.data % ALIGNMENT == 0
        assert np.array_equal(ours, cv2.resize(image, size, interpolation=cv2.INTER_AREA))


def test_rotation_metadata_is_honoured(tmp_path):
    path = _write_mp4(tmp_path / "plain.mp4", _frames(8))
    data = bytearray(path.read_bytes())
    matrix = data.find(b"tkhd") + 44  # the track header's display matrix
    data[matrix:matrix + 36] = struct.pack(">9i", 0, 1 << 16, 0, -(1 << 16), 0, 0, 0, 0, 1 << 30)  # 90 deg, as phones write
    rotated = tmp_path / "rotated.mp4"
    rotated.write_bytes(bytes(data))
    reader = VideoReader(rotated)
    info = reader.open()
    frame = next(reader.frames())[1]
    assert info.rotation == 270 and frame.shape == (48, 32, 3)
    # Displayed clockwise by 90 degrees: the band on the image's left edge is now along the top.
    assert frame[:6].mean() > 200 and frame[-10:].mean() < 60


def test_variable_frame_rate_is_resampled_to_a_constant_grid(tmp_path):
    pts = np.cumsum([0] + [20, 60] * 10)[:20]  # alternating 20 ms and 60 ms gaps: 25 fps on average
    path = _write_mp4(tmp_path / "vfr.mp4", _frames(20), fps=25, pts=pts.tolist())
    reader = VideoReader(path)
    info = reader.open()
    indices = [i for i, _ in reader.frames()]
    assert info.variable_frame_rate
    assert info.fps == pytest.approx((len(pts) - 1) / ((pts[-1] - pts[0]) / 1000), rel=0.05)  # the mean rate
    assert indices == list(range(info.num_frames))


def test_discover_inputs_folders_lists_and_missing(tmp_path):
    folder = tmp_path / "videos"
    (folder / "sub").mkdir(parents=True)
    a = _write_mp4(folder / "a.mp4", _frames(8))
    b = _write_mp4(folder / "sub" / "b.mov", _frames(8))
    (folder / "readme.txt").write_text("ignored inside folders")
    listing = tmp_path / "list.txt"
    listing.write_text("# my videos\nvideos/a.mp4\nvideos/gone.mp4\n")
    items = discover_inputs([folder, listing])
    assert [i.path.name for i in items] == ["a.mp4", "b.mov", "gone.mp4"]  # a.mp4 once, not twice
    assert items[2].error and not items[0].error
    assert items[0].key != items[1].key and items[0].key.startswith("a-")
    with pytest.raises(AnnotateError, match="no such file"):
        discover_inputs([tmp_path / "nope.mp4"])
    assert a.exists() and b.exists()


def test_sidecar_and_clustering(tmp_path):
    sidecar = tmp_path / "subjects.csv"
    sidecar.write_text("video,subject\nclips/a.mp4,alice\nb.mp4,bob\n")
    mapping = load_sidecar(sidecar)
    assert sidecar_subject(mapping, tmp_path / "clips" / "a.mp4") == "alice"
    assert sidecar_subject(mapping, tmp_path / "elsewhere" / "b.mp4") == "bob"
    assert sidecar_subject(mapping, tmp_path / "c.mp4") is None
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        load_sidecar(bad)
    rng = np.random.default_rng(0)
    person_a, person_b = rng.normal(0, 0.1, 128), rng.normal(0, 0.1, 128)
    embeddings = {"v1": person_a + rng.normal(0, 0.01, 128), "v2": person_a + rng.normal(0, 0.01, 128),
                  "v3": person_b}
    subjects = cluster_subjects({k: v.astype(np.float32) for k, v in embeddings.items()})
    assert subjects["v1"] == subjects["v2"] != subjects["v3"]
