"""Re-detect hands, face, contact and pattern in a generated video with the annotator's own stages.

The evaluation judges a generated clip by what a perception system finds in it, not by what the
generator was asked for: the same MediaPipe perception, temporal cleaning, contact detection and
pattern recognition that build datasets from real video: ``interanimate.data.annotate.analyse``, the annotator's
one analysis, with its hand rule (a point counts inside the image, a hand when one of its points does).
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
        from interanimate.data.annotate import RejectedInput, analyse

        try:
            analysis = analyse(frames, fps)
        except RejectedInput:
            # Nothing recognisable in the generated video: that is the measurement (detection rate 0).
            return nothing_found(len(frames))
        hands, present = analysis.hand_keypoints()
        return Redetection(face_keypoints=analysis.tracks.landmarks.astype(np.float32),
                           face_present=analysis.tracks.face_present.copy(), hand_keypoints=hands.astype(np.float32),
                           hand_present=present, contact=analysis.contact.contact.copy(), pattern=analysis.pattern)
