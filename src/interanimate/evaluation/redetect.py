"""Re-detect hands, face, contact and pattern in a generated video with the annotator's own stages.

The evaluation judges a generated clip by what a perception system finds in it, not by what the
generator was asked for: the same MediaPipe perception, temporal cleaning, contact detection and
pattern recognition that build datasets from real video (``interanimate.data.annotate``).
"""

from __future__ import annotations

import numpy as np

from interanimate.evaluation.runner import Redetection


def nothing_found(num_frames: int) -> Redetection:
    """A re-detection in which no face and no hand was found."""
    hands = np.zeros((num_frames, 2, 21, 3), np.float32)
    hands[..., :2] = np.nan
    return Redetection(face_keypoints=np.full((num_frames, 68, 2), np.nan, np.float32),
                       face_present=np.zeros(num_frames, bool), hand_keypoints=hands,
                       hand_present=np.zeros((num_frames, 2), bool), contact=np.zeros((num_frames, 2), bool))


class AnnotatorRedetector:
    """Callable ``(frames (F, H, W, 3) uint8, fps) -> Redetection``; MediaPipe models load on first use."""

    __name__ = "annotator"

    def __call__(self, frames: np.ndarray, fps: float) -> Redetection:
        from interanimate.data.annotate.contact import detect_contact
        from interanimate.data.annotate.geometry import face_frame
        from interanimate.data.annotate.patterns import PatternModel
        from interanimate.data.annotate.perception import Perceiver
        from interanimate.data.annotate.pipeline import AnnotateConfig, clean, plan_clips
        from interanimate.data.annotate.video import RejectedInput

        num_frames, height, width = frames.shape[:3]
        with Perceiver() as perceiver:
            observations = [perceiver(frame, int(round(i * 1000.0 / fps))) for i, frame in enumerate(frames)]
        try:
            with np.errstate(invalid="ignore", divide="ignore"):
                tracks = clean(observations, fps)
        except RejectedInput:
            # Nothing recognisable in the generated video: that is the measurement (detection rate 0).
            return nothing_found(num_frames)
        with np.errstate(invalid="ignore", divide="ignore"):
            frame = face_frame(np.nan_to_num(tracks.landmarks.astype(np.float64)))
            contact = detect_contact(frame, tracks.mesh, tracks.face_present, tracks.hands, tracks.hand_world,
                                     tracks.hand_present, fps, (width, height))
            plans = plan_clips(tracks, contact, fps, num_frames, AnnotateConfig(), PatternModel())
        labelled = [p for p in plans if p.pattern is not None]
        pattern = max(labelled, key=lambda p: p.confidence).pattern if labelled else None
        hands = tracks.hands.astype(np.float32).copy()
        inside = (hands[..., 0] >= 0) & (hands[..., 0] <= width) & (hands[..., 1] >= 0) & (hands[..., 1] <= height)
        hands[..., 2] = np.where(tracks.hand_present[..., None] & inside, np.clip(tracks.hand_score, 0.05, 1.0)[..., None],
                                 0.0)
        hands[..., :2] = np.where(hands[..., 2:3] > 0, hands[..., :2], np.nan)
        return Redetection(face_keypoints=tracks.landmarks.astype(np.float32), face_present=tracks.face_present.copy(),
                           hand_keypoints=hands, hand_present=(hands[..., 2] > 0).any(axis=-1),
                           contact=contact.contact.copy(), pattern=pattern)
