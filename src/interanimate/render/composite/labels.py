"""Labels of one composite frame, read off the geometry that drew it (dataset contract, ``data.schema``)."""

from __future__ import annotations

import numpy as np

from interanimate.data.annotate import ibug68_from_mesh
from interanimate.data.annotations import ClipAnnotations
from interanimate.data.schema import HAND_SIDES
from interanimate.data.synth.physics import apply_kernels
from interanimate.data.synth.raster import cover
from interanimate.render.composite.face import PhotoFace
from interanimate.render.composite.hand_render import HandLayer
from interanimate.render.composite.warp import HeadPose, WarpedFace

OCCLUDED_CONFIDENCE = 0.5  # a keypoint hidden by the hand itself or by the face
SELF_OCCLUSION_M = 0.018  # nearer hand surface than this in front of a joint hides it (palm half-thickness + skin)


def displaced(points: np.ndarray, kernels: np.ndarray) -> np.ndarray:
    """``points (N, 3)`` moved by the contact kernels."""
    if not len(kernels):
        return points
    disp = np.zeros_like(points)
    weight = np.zeros(len(points))
    apply_kernels(np.ascontiguousarray(points, np.float64), kernels, disp, weight)
    return points + disp


def fill_frame(ann: ClipAnnotations, f: int, face: PhotoFace, pose: HeadPose, kernels: np.ndarray,
               warped: WarpedFace, layer: HandLayer, hand_vertices: np.ndarray, hand_only_faces: np.ndarray,
               joints: np.ndarray, hand_index: int, contact_point: np.ndarray | None, region: int,
               penetration_mm: float) -> None:
    """Write frame ``f`` of ``ann`` (camera-frame ``hand_vertices`` and ``joints`` after head motion)."""
    camera = face.camera
    h, w = face.height, face.width
    # Face: the mesh's iBUG-68 and dense points, moved and deformed like the pixels.
    mesh = pose.apply(displaced(face.vertices, kernels), face.pivot)
    mesh_px = face.project(mesh)
    ann.face_keypoints[f] = ibug68_from_mesh(mesh_px)
    ann.face_dense[f, :, :2] = mesh_px
    face_width = float(np.ptp(mesh_px[:, 0]))
    ann.face_dense[f, :, 2] = (mesh[:, 2] - np.median(mesh[:, 2])) * face.px_per_m / max(face_width, 1.0)
    ann.face_present[f] = True
    hand_visible = layer.alpha > 0.5
    lm = ann.face_keypoints[f]
    ix = np.clip(lm[:, 0].astype(int), 0, w - 1)
    iy = np.clip(lm[:, 1].astype(int), 0, h - 1)
    ann.face_confidence[f] = float(np.clip(1.0 - 0.6 * hand_visible[iy, ix].mean(), 0.05, 1.0))
    rows, cols = np.flatnonzero(warped.face_mask.any(1)), np.flatnonzero(warped.face_mask.any(0))
    if len(rows):
        ann.face_box[f] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
    # Hand: keypoints with self- and face-occlusion confidence, amodal mask.
    px = face.project(joints)
    inside = (px[:, 0] >= 0.5) & (px[:, 0] <= w - 0.5) & (px[:, 1] >= 0.5) & (px[:, 1] <= h - 0.5)
    mask = np.zeros((h, w), bool)
    cover(hand_vertices, hand_only_faces, camera.fx, camera.fy, camera.cx, camera.cy, mask, 0.05)
    present = bool(inside.any() and mask.any())
    # Face skin the hand itself hides is the hand's; under the forearm the face mask stays (the contract's masks
    # have no forearm channel, and the landmarks there must stay inside one of them).
    ann.mask("face")[f] = warped.face_mask & ~(mask & hand_visible) if present else warped.face_mask
    if present:
        front = layer.front_depth(px)
        fx = np.clip(px[:, 0].astype(int), 0, w - 1)
        fy = np.clip(px[:, 1].astype(int), 0, h - 1)
        face_z = np.where(warped.face_mask[fy, fx], warped.depth[fy, fx], np.inf)
        visible = (front >= joints[:, 2] - SELF_OCCLUSION_M) & (face_z >= joints[:, 2] - 0.002)
        ann.hand_present[f, hand_index] = True
        ann.hand_keypoints[f, hand_index, :, :2] = px
        ann.hand_keypoints[f, hand_index, :, 2] = np.where(visible, 1.0, OCCLUDED_CONFIDENCE) * inside
        ann.mask(f"hand_{HAND_SIDES[hand_index]}")[f] = mask
        ann.joints_3d[f, hand_index] = joints
    # Contact: the deepest dent's foot, deformed and moved, in a face region.
    if present and contact_point is not None and region >= 0:
        point = face.project(pose.apply(displaced(contact_point[None], kernels), face.pivot))[0]
        if 0 <= point[0] < w and 0 <= point[1] < h:
            ann.contact[f, hand_index] = True
            ann.contact_point[f, hand_index] = point
            ann.contact_region[f, hand_index] = region
            contact_mask = (warped.contact_weight > 0.5) & warped.face_mask
            contact_mask[int(point[1]), int(point[0])] = True
            ann.mask("contact")[f] = contact_mask
    # Synthetic arrays: visible depth, visible skin deformation, penetration.
    face_depth = np.where(warped.face_mask, warped.depth, 0.0)
    ann.depth[f] = np.where(hand_visible & np.isfinite(layer.depth), layer.depth, face_depth)
    ann.deformation[f] = np.where(hand_visible, 0.0, warped.deformation_mm)
    ann.penetration[f] = penetration_mm
