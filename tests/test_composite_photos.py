"""The composite path from the command line: a validating dataset, and one clear line for each unusable photo."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

skimage_data = pytest.importorskip("skimage.data")


def _animate(argv, capsys):
    from interanimate.pipelines.command import main

    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    face = skimage_data.astronaut()
    paths = {}

    def save(name, image):
        paths[name] = root / name
        assert cv2.imwrite(str(paths[name]), image)

    save("astronaut.png", face[..., ::-1])
    save("no_face.png", np.full((256, 256, 3), (40, 120, 200), np.uint8))
    crop = face[20:260, 110:330]
    save("two_faces.png", np.concatenate([crop, crop], axis=1)[..., ::-1])
    save("tiny_face.png", cv2.resize(face, (64, 64), interpolation=cv2.INTER_AREA)[..., ::-1])
    save("grey.png", cv2.cvtColor(face, cv2.COLOR_RGB2GRAY))
    save("grey_rgb.png", cv2.cvtColor(cv2.cvtColor(face, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2BGR))
    rgba = np.concatenate([face[..., ::-1], np.full(face.shape[:2] + (1,), 255, np.uint8)], axis=2)
    rgba[:40, :40, 3] = 0
    save("alpha.png", rgba)
    save("deep.png", face[..., ::-1].astype(np.uint16) * 257)
    return paths


@pytest.mark.parametrize("name, words", [
    ("no_face.png", "no face found"),
    ("two_faces.png", "2 faces found"),
    ("tiny_face.png", "px high"),
    ("grey.png", "greyscale"),
    ("grey_rgb.png", "greyscale"),
    ("alpha.png", "transparent"),
    ("deep.png", "16 bits"),
])
def test_bad_photo_gets_one_line_and_status_2(photos, tmp_path, capsys, name, words):
    code, _, err = _animate(["--reference", str(photos[name]), "--pattern", "poke_nose", "--out", str(tmp_path)],
                            capsys)
    lines = [line for line in err.splitlines() if line.strip() and "INFO" not in line and not line.startswith("W0")]
    assert code == 2
    assert len(lines) == 1, lines
    assert words in lines[0] and name in lines[0]


def test_huge_photo_is_refused(monkeypatch):
    from interanimate.pipelines.errors import AnimateError
    from interanimate.render.composite import photo

    monkeypatch.setattr(photo, "MAX_PIXELS", 100 * 100)
    with pytest.raises(AnimateError, match="too large; scale it down"):
        photo.check_photo_array(np.zeros((101, 100, 3), np.uint8) + np.arange(3, dtype=np.uint8) * 60, "big.png")


def test_unreadable_driving_video_gets_one_line_and_status_2(photos, tmp_path, capsys):
    video = tmp_path / "driving.mp4"
    video.write_bytes(b"x")
    code, _, err = _animate(["--reference", str(photos["astronaut.png"]), "--driving", str(video), "--out",
                             str(tmp_path / "o")], capsys)
    lines = [line for line in err.splitlines() if line.strip() and "INFO" not in line and not line.startswith("W0")]
    assert code == 2 and len(lines) == 1 and "driving.mp4" in lines[0], lines


def test_diffusion_renderer_needs_a_checkpoint(photos, tmp_path, capsys):
    code, _, err = _animate(["--reference", str(photos["astronaut.png"]), "--pattern", "poke_nose", "--renderer",
                             "diffusion", "--out", str(tmp_path)], capsys)
    assert code == 2 and "--checkpoint" in err


def test_as_dataset_output_validates_and_names_the_renderer(photos, tmp_path, capsys):
    from interanimate.data.manifest import read_manifest
    from interanimate.data.validate import validate_dataset

    out, data = tmp_path / "videos", tmp_path / "data"
    code, stdout, _ = _animate(["--reference", str(photos["astronaut.png"]), "--pattern", "pinch_cheek_left",
                                "stroke_jaw", "--frames", "8", "--size", "128", "--out", str(out), "--as-dataset",
                                str(data), "--quiet"], capsys)
    assert code == 0, stdout
    assert "composite renderer" in stdout
    report = validate_dataset(data)
    assert report.ok, [str(v) for v in report.violations][:5]
    records = read_manifest(data)
    assert {r.source["origin"] for r in records} == {"interanimate-composite"}
    assert {r.width for r in records} == {128}
    assert (out / "astronaut-pinch_cheek_left-s0.mp4").is_file()
    assert (out / "astronaut-stroke_jaw-s1.labels.npz").is_file()
