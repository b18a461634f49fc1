"""Labels drawn over frames (masks tinted, keypoints, contact point and region) and the contact timeline plot."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from interanimate.data.annotations import ClipAnnotations
from interanimate.data.images import figure_png
from interanimate.data.io import atomic_write_bytes
from interanimate.taxonomy import FACE_REGIONS

DISPLAY_SIDE = 256  # small clips are enlarged to about this for viewing, so labels stay legible


def upscale_factor(height: int, width: int) -> int:
    return max(1, int(DISPLAY_SIDE // max(height, width)))


def enlarge(frames: np.ndarray, factor: int) -> np.ndarray:
    """``(F, H, W, 3)`` → ``(F, H*k, W*k, 3)`` by pixel repetition (no invented detail)."""
    if factor == 1:
        return frames
    return np.ascontiguousarray(frames.repeat(factor, axis=1).repeat(factor, axis=2))


def scaled_annotations(ann: ClipAnnotations, factor: int) -> ClipAnnotations:
    """The labels of a clip enlarged by ``factor`` (pixel coordinates times ``factor``, masks repeated)."""
    if factor == 1:
        return ann
    hands = ann.hand_keypoints.copy()
    hands[..., :2] *= factor
    return dataclasses.replace(
        ann, face_keypoints=ann.face_keypoints * factor, face_box=ann.face_box * factor, hand_keypoints=hands,
        contact_point=ann.contact_point * factor,
        masks=ann.masks.repeat(factor, axis=2).repeat(factor, axis=3))


def overlay_frames(frames: np.ndarray, ann: ClipAnnotations) -> np.ndarray:
    """``(F, H', W', 3) uint8``: every frame with its labels drawn (enlarged for small clips)."""
    from interanimate.data.annotate import render_frame

    factor = upscale_factor(*frames.shape[1:3])
    big, labels = enlarge(frames, factor), scaled_annotations(ann, factor)
    return np.stack([render_frame(big[f], labels, f) for f in range(len(big))])


def plot_contact_timeline(ann: ClipAnnotations, fps: float, path: Path, title: str = "") -> Path:
    """A PNG: per hand, the frames it is present and in contact, coloured by the face region touched."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    num = ann.num_frames
    regions = sorted({int(r) for r in ann.contact_region[ann.contact] if r >= 0})
    colours = plt.get_cmap("tab20")
    fig, ax = plt.subplots(figsize=(7.0, 1.9), dpi=110)
    for row, (hand, label) in enumerate(((1, "right hand"), (0, "left hand"))):
        present = np.flatnonzero(ann.hand_present[:, hand])
        ax.broken_barh([(f, 1) for f in present], (row - 0.12, 0.24), color="#cccccc")
        for region in regions:
            frames = np.flatnonzero(ann.contact[:, hand] & (ann.contact_region[:, hand] == region))
            ax.broken_barh([(f, 1) for f in frames], (row - 0.35, 0.7), color=colours(region % 20),
                           label=FACE_REGIONS[region])
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    if unique:
        ax.legend(unique.values(), unique.keys(), loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7,
                  title="contact region", title_fontsize=7, frameon=False)
    ax.set_yticks([0, 1], ["right hand", "left hand"], fontsize=8)
    ax.set_xlim(0, max(num, 1))
    ax.set_ylim(-0.6, 1.6)
    ax.set_xlabel(f"frame ({fps:g} fps; grey: hand visible, colour: in contact)", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    contact_frames = int(ann.contact.any(axis=1).sum())
    ax.set_title(title or f"contact in {contact_frames} of {num} frames", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    atomic_write_bytes(path, figure_png(fig))
    return path
