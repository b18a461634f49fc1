"""Per-frame perception with MediaPipe Tasks (face landmarker + hand landmarker, VIDEO mode, offline).

Handedness convention, checked on real footage (a test keeps it checked): for an ordinary,
non-mirrored camera image the landmarker's ``Left``/``Right`` label names the hand's own anatomical
side as the picture shows it. Megamind.avi frame 40 shows the woman holding a glass in her right
hand (image left): labelled ``Right``; the horizontally flipped frame: ``Left``. messi5.jpg: his left
hand (image right) is labelled ``Left``. So the label is the subject's side for camera footage, and
the opposite side for mirrored footage (front-camera previews saved as shown), which
``mirrored=True`` swaps.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from interanimate.assets import model_path
from interanimate.data.annotate.resize import ALIGNMENT, aligned_empty



@lru_cache(maxsize=1)
def _devnull() -> int:
    """A write descriptor on the null device, opened once per process (every frame's MediaPipe call uses it)."""
    return os.open(os.devnull, os.O_WRONLY)


@contextmanager
def quiet_native_stderr():
    """Silence C++-level stderr for the duration (MediaPipe's graph set-up notices on every landmarker start),
    keeping the user's terminal for our own progress and errors. ``INTERANIMATE_VERBOSE=1`` keeps them."""
    if os.environ.get("INTERANIMATE_VERBOSE"):
        yield
        return
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        os.dup2(_devnull(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _aligned(frame: np.ndarray) -> np.ndarray:
    """``frame`` itself when it is C-contiguous and starts on an ``ALIGNMENT``-byte boundary (as the video reader's
    frames do), else such a copy: LiteRT copies (and warns on stderr about) input tensors that are not aligned,
    which a plain numpy array is not guaranteed to be."""
    if frame.flags.c_contiguous and frame.ctypes.data % ALIGNMENT == 0:
        return frame
    aligned = aligned_empty(frame.shape, frame.dtype)
    aligned[...] = frame
    return aligned


@dataclass
class HandObservation:
    """One detected hand. ``points``: ``(21, 3)`` x, y in pixels and z (depth relative to the wrist)
    in pixels; ``world``: ``(21, 3)`` metres about the hand's centre; ``side``: 0 = subject's left."""

    points: np.ndarray
    world: np.ndarray
    side: int
    score: float


@dataclass
class FrameObservation:
    """Everything perceived in one frame. ``faces``: list of ``(478, 3)`` meshes (x, y pixels; z in
    pixels, relative depth with the face centre near 0, more negative = nearer the camera)."""

    faces: list[np.ndarray] = field(default_factory=list)
    hands: list[HandObservation] = field(default_factory=list)


class Perceiver:
    """Runs both landmarkers on consecutive frames of one video.

    Args:
        max_faces: faces searched per frame (more than one lets the tracker tell the subject from
            bystanders, and lets "several faces" be detected at all).
        max_hands: hands searched per frame.
        mirrored: the footage is mirrored (selfie preview); swaps the handedness labels.
        min_confidence: detection/presence/tracking thresholds of both landmarkers.

    VIDEO mode tracks between frames (faster, steadier) and needs increasing timestamps, so use one
    ``Perceiver`` per video and close it (it is a context manager).
    """

    def __init__(self, max_faces: int = 3, max_hands: int = 2, mirrored: bool = False, min_confidence: float = 0.5):
        from mediapipe.tasks.python import BaseOptions, vision

        self.mirrored = mirrored
        face_options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(model_path("face_landmarker"))),
            running_mode=vision.RunningMode.VIDEO, num_faces=max_faces,
            min_face_detection_confidence=min_confidence, min_face_presence_confidence=min_confidence,
            min_tracking_confidence=min_confidence)
        hand_options = vision.HandLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(model_path("hand_landmarker"))),
            running_mode=vision.RunningMode.VIDEO, num_hands=max_hands,
            min_hand_detection_confidence=min_confidence, min_hand_presence_confidence=min_confidence,
            min_tracking_confidence=min_confidence)
        with quiet_native_stderr():
            self._face = vision.FaceLandmarker.create_from_options(face_options)
            try:
                self._hand = vision.HandLandmarker.create_from_options(hand_options)
            except BaseException:
                self._face.close()
                raise

    def __call__(self, frame: np.ndarray, timestamp_ms: int) -> FrameObservation:
        import mediapipe as mp

        height, width = frame.shape[:2]
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=_aligned(frame))
        # The graphs print their remaining set-up notices on the first frame, and LiteRT warns once about an input
        # tensor it has to realign whenever a model first runs, which for the hand's landmark model is the first
        # frame with a palm in it: every call is kept off the terminal.
        with quiet_native_stderr():
            faces = self._face.detect_for_video(image, timestamp_ms)
            hands = self._hand.detect_for_video(image, timestamp_ms)
        out = FrameObservation()
        # MediaPipe's normalised z uses the same scale as x, so multiplying by the width gives pixels.
        scale = np.array([width, height, width], np.float32)
        for landmarks in faces.face_landmarks:
            out.faces.append(np.array([(p.x, p.y, p.z) for p in landmarks], np.float32) * scale)
        for landmarks, world, handedness in zip(hands.hand_landmarks, hands.hand_world_landmarks, hands.handedness):
            label = handedness[0].category_name.lower()
            side = 0 if label == "left" else 1
            if self.mirrored:
                side = 1 - side
            out.hands.append(HandObservation(
                points=np.array([(p.x, p.y, p.z) for p in landmarks], np.float32) * scale,
                world=np.array([(p.x, p.y, p.z) for p in world], np.float32),
                side=side, score=float(handedness[0].score)))
        return out

    def close(self) -> None:
        # Closing a landmarker prints an ``accelerator_registry.cc`` notice per graph.
        with quiet_native_stderr():
            self._face.close()
            self._hand.close()

    def __enter__(self) -> "Perceiver":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
