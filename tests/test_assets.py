"""Model files: found offline, verified by checksum, overridable, and really usable by MediaPipe."""

from __future__ import annotations

import numpy as np
import pytest

from interanimate import assets


def test_set_up_cached_verified_model_files():
    for name, asset in assets.ASSETS.items():
        path = assets.model_path(name)
        assert path.name == asset.filename and path.stat().st_size > 1_000_000


def test_environment_override_is_used_and_checked(tmp_path, monkeypatch):
    real = assets.model_path("hand_landmarker")
    copy = tmp_path / "my_hand.task"
    copy.write_bytes(real.read_bytes())
    monkeypatch.setenv("INTERANIMATE_HAND_LANDMARKER", str(copy))
    assert assets.model_path("hand_landmarker") == copy
    copy.write_bytes(b"not the model")
    with pytest.raises(assets.AssetMissingError, match="sha256 does not match"):
        assets.model_path("hand_landmarker")


def test_missing_files_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("INTERANIMATE_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(assets.AssetMissingError, match="interanimate assets fetch"):
        assets.model_path("face_landmarker")


def test_model_dir_override(tmp_path, monkeypatch):
    real = assets.model_path("face_landmarker")
    (tmp_path / "face_landmarker.task").write_bytes(real.read_bytes())
    monkeypatch.setenv("INTERANIMATE_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("INTERANIMATE_CACHE", str(tmp_path / "nothing-here"))
    assert assets.model_path("face_landmarker") == tmp_path / "face_landmarker.task"


def test_the_face_landmarker_finds_a_real_face_offline():
    mp = pytest.importorskip("mediapipe")
    from mediapipe.tasks.python import BaseOptions, vision
    from skimage import data

    from interanimate.data.annotate.perception import quiet_native_stderr

    options = vision.FaceLandmarkerOptions(base_options=BaseOptions(model_asset_path=str(assets.model_path("face_landmarker"))),
                                           num_faces=2)
    with quiet_native_stderr(), vision.FaceLandmarker.create_from_options(options) as landmarker:
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(data.astronaut()))
        result = landmarker.detect(image)
    assert len(result.face_landmarks) == 1 and len(result.face_landmarks[0]) == 478
