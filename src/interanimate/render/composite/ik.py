"""Inverse kinematics: the synthetic generator's articulated hand posed to match 21 image keypoints.

The unknowns are the hand model's 20 joint angles (``data.synth.hand.POSE_NAMES``), the hand's global rotation (axis
and angle) and its wrist position in the camera frame (metres); the model's own forward kinematics
(``HandModel.joints_local``) gives the 21 joints, the pinhole camera projects them. ``scipy.optimize.least_squares``
(trust-region reflective, numeric Jacobian) minimises, in pixels:

- the reprojection error of the 21 keypoints, each weighted by its confidence;
- a weak pull toward the relaxed hand (the pose the keypoints leave undetermined stays natural);
- temporal smoothness: the departure from the frame predicted by the previous ones (constant velocity: angles,
  rotation, millimetres of wrist position), which also settles the mirror ambiguities of a monocular view;
- optionally a point hint: one joint at a given camera-frame point (a fingertip on the skin where the video shows
  contact).

The joint limits are box bounds on the angles, so the solver never leaves the anatomical range. Monocular depth comes
from the hand's known bone lengths: its apparent size fixes its distance. A cold start (no previous frame) is the
rigid perspective-n-point solution of the relaxed hand (``cv2.solvePnP``, SQPnP), refined from there.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.optimize import least_squares

from interanimate.data.synth.hand import NUM_POSE, POSE_LIMITS, POSES, HandModel
from interanimate.data.synth.render import Camera

POSE_PRIOR_PX = 1.5  # pixels of reprojection one radian away from the relaxed pose costs
SMOOTH_ANGLE_PX = 3.0  # pixels per radian of departure from the predicted frame (joint angles and global rotation)
SMOOTH_WRIST_PX = 0.15  # pixels per millimetre of departure of the wrist from its predicted place
POINT_HINT_PX = 2.0  # pixels per millimetre of distance of the hinted joint from its point
MIN_KEYPOINTS = 6  # fewer leave the 26 unknowns to the priors
_X_SCALE = np.concatenate([np.ones(NUM_POSE + 3), np.full(3, 0.01)])


@dataclass
class HandFit:
    """One frame's solution: joint angles, hand-local → camera rotation, wrist (m), joints (m) and its error."""

    pose: np.ndarray  # (20,)
    rotation: np.ndarray  # (3, 3)
    wrist: np.ndarray  # (3,)
    joints: np.ndarray  # (21, 3) camera frame
    rms_px: float  # confidence-weighted reprojection RMS

    @property
    def params(self) -> np.ndarray:
        rotvec = cv2.Rodrigues(self.rotation)[0].ravel()
        return np.concatenate([self.pose, rotvec, self.wrist])


def rotation_of(rotvec: np.ndarray) -> np.ndarray:
    """Rotation matrix of an axis-angle vector."""
    return cv2.Rodrigues(np.asarray(rotvec, np.float64).reshape(3, 1))[0]


class HandIK:
    """Fits ``hand`` (scaled by ``scale`` about its wrist) to keypoints seen by ``camera``.

    Args:
        hand: the articulated model whose angles are solved.
        camera: the pinhole camera of the keypoints' image.
        scale: size of the fitted hand relative to the model (a person's hand proportions).
    """

    def __init__(self, hand: HandModel, camera: Camera, scale: float = 1.0):
        self.hand, self.camera, self.scale = hand, camera, float(scale)
        self.relaxed = POSES["relaxed"]
        self.lower = np.concatenate([POSE_LIMITS[:, 0], np.full(3, -np.inf), [-np.inf, -np.inf, 0.05]])
        self.upper = np.concatenate([POSE_LIMITS[:, 1], np.full(3, np.inf), np.full(3, np.inf)])

    def joints(self, params: np.ndarray) -> np.ndarray:
        """Camera-frame joints ``(21, 3)`` of a parameter vector (20 angles, axis-angle, wrist)."""
        local = self.hand.joints_local(params[:NUM_POSE]) * self.scale
        return local @ rotation_of(params[NUM_POSE:NUM_POSE + 3]).T + params[NUM_POSE + 3:]

    def _cold_start(self, keypoints: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """Rigid PnP of the relaxed hand on the confident keypoints."""
        local = self.hand.joints_local(self.relaxed) * self.scale
        use = weight > 0
        cam = self.camera
        matrix = np.array([[cam.fx, 0, cam.cx], [0, cam.fy, cam.cy], [0, 0, 1]], np.float64)
        ok, rvec, tvec = cv2.solvePnP(local[use], keypoints[use].astype(np.float64), matrix, None,
                                      flags=cv2.SOLVEPNP_SQPNP)
        if not ok or tvec[2, 0] <= 0.05:
            rvec, tvec = np.zeros((3, 1)), np.array([[0.0], [0.0], [0.5]])
        return np.concatenate([self.relaxed, rvec.ravel(), tvec.ravel()])

    def predict(self, history: list[HandFit]) -> np.ndarray | None:
        """The next frame's parameters from the last one or two solutions (constant velocity), within the limits."""
        if not history:
            return None
        x = history[-1].params
        if len(history) > 1:
            x = x + (x - history[-2].params)
        return np.clip(x, self.lower + 1e-9, self.upper - 1e-9)

    def fit(self, keypoints: np.ndarray, confidence: np.ndarray | None = None, prior: np.ndarray | None = None,
            point_hint: tuple[int, np.ndarray] | None = None, max_nfev: int = 30) -> HandFit:
        """Solve one frame; see the module docstring.

        Args:
            keypoints: ``(21, 2)`` image positions (pixels); NaN rows are ignored.
            confidence: ``(21,)`` weights in [0, 1] (default all 1).
            prior: the predicted parameters (``predict``): warm start and smoothness target; ``None``: cold start.
            point_hint: ``(joint index, (3,) camera-frame point in metres)`` where the joint should be.
        """
        keypoints = np.asarray(keypoints, np.float64)
        weight = np.ones(21) if confidence is None else np.clip(np.asarray(confidence, np.float64), 0.0, 1.0)
        weight = np.where(np.isfinite(keypoints).all(1), weight, 0.0)
        if (weight > 0).sum() < MIN_KEYPOINTS:
            raise ValueError(f"inverse kinematics needs at least {MIN_KEYPOINTS} keypoints")
        target = np.nan_to_num(keypoints)
        sqrt_w = np.sqrt(weight)[:, None]
        start = prior if prior is not None else self._cold_start(target, weight)

        def residuals(x: np.ndarray) -> np.ndarray:
            joints = self.joints(x)
            parts = [((self.camera.project(joints) - target) * sqrt_w).ravel(),
                     POSE_PRIOR_PX * (x[:NUM_POSE] - self.relaxed)]
            if prior is not None:
                parts.append(SMOOTH_ANGLE_PX * (x[:NUM_POSE + 3] - prior[:NUM_POSE + 3]))
                parts.append(SMOOTH_WRIST_PX * 1e3 * (x[NUM_POSE + 3:] - prior[NUM_POSE + 3:]))
            if point_hint is not None:
                parts.append(POINT_HINT_PX * 1e3 * (joints[point_hint[0]] - point_hint[1]))
            return np.concatenate(parts)

        start = np.clip(start, self.lower + 1e-9, self.upper - 1e-9)
        solution = least_squares(residuals, start, bounds=(self.lower, self.upper), x_scale=_X_SCALE,
                                 method="trf", max_nfev=max_nfev, xtol=1e-6, ftol=1e-6)
        x = solution.x
        joints = self.joints(x)
        error = np.linalg.norm(self.camera.project(joints) - target, axis=1)
        rms = float(np.sqrt((weight * error ** 2).sum() / weight.sum()))
        return HandFit(pose=x[:NUM_POSE].copy(), rotation=rotation_of(x[NUM_POSE:NUM_POSE + 3]),
                       wrist=x[NUM_POSE + 3:].copy(), joints=joints, rms_px=rms)


def interpolate_fits(a: HandFit, b: HandFit, t: float, ik: HandIK) -> HandFit:
    """The solution a fraction ``t`` of the way from ``a`` to ``b`` (for frames where the video lost the hand)."""
    x = (1 - t) * a.params + t * b.params
    return HandFit(pose=x[:NUM_POSE], rotation=rotation_of(x[NUM_POSE:NUM_POSE + 3]), wrist=x[NUM_POSE + 3:],
                   joints=ik.joints(x), rms_px=float("nan"))
