"""Derive the MediaPipe face-mesh vertex that best stands for each iBUG-68 landmark, from data.

    .venv/bin/python tools/derive_ibug68_map.py [--video Megamind.avi] [--out map.json]

dlib's 68-point predictor (trained on iBUG-300W) and MediaPipe's face landmarker run on the same real
faces (scikit-image's astronaut, matplotlib's Grace Hopper, optionally frames of a video), each also
mirrored, rotated and rescaled. For every iBUG point the mesh vertex with the smallest mean distance
to it (in units of the face box size) is chosen. The printed table gives that error per point; the
chosen indices are what ``interanimate.data.annotate.ibug68`` ships.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np


def faces(video: Path | None):
    import matplotlib
    from skimage import data

    base = [data.astronaut(), cv2.cvtColor(cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg")), cv2.COLOR_BGR2RGB)]
    if video is not None:
        cap = cv2.VideoCapture(str(video))
        index = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if index % 15 == 0:
                base.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            index += 1
    for image in base:
        for flip in (False, True):
            img = image[:, ::-1].copy() if flip else image
            for angle in (-12, 0, 12):
                for scale in (0.8, 1.0):
                    h, w = img.shape[:2]
                    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
                    yield np.ascontiguousarray(cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--video", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    import dlib
    import face_recognition_models as models
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    from interanimate.assets import model_path
    from interanimate.data.annotate.perception import quiet_native_stderr

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(models.pose_predictor_model_location())
    options = vision.FaceLandmarkerOptions(base_options=BaseOptions(model_asset_path=str(model_path("face_landmarker"))),
                                           num_faces=1)
    errors = []  # per face: (68, 478) distances / face size
    with quiet_native_stderr():  # MediaPipe's set-up notices, printed on creation and the first detection
        landmarker = vision.FaceLandmarker.create_from_options(options)
        landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.zeros((64, 64, 3), np.uint8)))
    try:
        for image in faces(args.video):
            boxes = detector(image, 1)
            if not boxes:
                continue
            box = max(boxes, key=lambda b: b.width() * b.height())
            shape = predictor(image, box)
            ibug = np.array([[p.x + 0.5, p.y + 0.5] for p in shape.parts()], np.float64)
            result = landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=image))
            if not result.face_landmarks:
                continue
            h, w = image.shape[:2]
            mesh = np.array([[p.x * w, p.y * h] for p in result.face_landmarks[0]], np.float64)
            if np.linalg.norm(mesh.mean(0) - ibug.mean(0)) > 0.3 * box.width():
                continue  # the two detectors found different faces
            errors.append(np.linalg.norm(ibug[:, None] - mesh[None], axis=-1) / max(box.width(), box.height()))
    finally:
        with quiet_native_stderr():
            landmarker.close()
    errors = np.stack(errors)
    mean = errors.mean(axis=0)
    choice = mean.argmin(axis=1)
    print(f"faces used: {len(errors)}")
    for i in range(68):
        print(f"ibug {i:2d} -> mesh {choice[i]:3d}   mean error {mean[i, choice[i]]:.3f} of face size")
    print(f"overall mean error {mean[np.arange(68), choice].mean():.4f} of face size")
    if args.out:
        args.out.write_text(json.dumps({"mesh_index": choice.tolist(),
                                        "mean_error": mean[np.arange(68), choice].round(4).tolist(),
                                        "faces": len(errors)}))


if __name__ == "__main__":
    main()
