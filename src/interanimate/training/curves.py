"""Training curves as a picture: the run's TensorBoard scalars plotted per stage into ``loss.png``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from interanimate.data.images import figure_png
from interanimate.data.io import atomic_write_bytes


def read_scalars(run_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{tag: (steps, values)}`` from every TensorBoard event file under ``run_dir/logs``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    merged: dict[str, dict[int, float]] = {}
    for folder in sorted({p.parent for p in (Path(run_dir) / "logs").rglob("events.out.tfevents.*")}):
        events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
        events.Reload()
        for tag in events.Tags().get("scalars", []):
            merged.setdefault(tag, {}).update({e.step: e.value for e in events.Scalars(tag)})
    return {tag: (np.array(sorted(v)), np.array([v[k] for k in sorted(v)])) for tag, v in merged.items()}


def _smooth(values: np.ndarray, weight: float) -> np.ndarray:
    out, last = np.empty_like(values, dtype=float), values[0] if len(values) else 0.0
    for i, v in enumerate(values):
        last = weight * last + (1 - weight) * v
        out[i] = last
    return out


def plot_training_curves(run_dir: Path, out: Path | None = None) -> Path | None:
    """Plot loss per stage (raw and smoothed), the orthogonality term and the learning rate.

    Returns the PNG path, or ``None`` when the run has logged nothing yet.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scalars = read_scalars(run_dir)
    if "train/loss" not in scalars:
        return None
    steps, loss = scalars["train/loss"]
    stage_steps, stages = scalars.get("train/stage", (steps, np.zeros_like(loss)))
    stage_of = dict(zip(stage_steps.tolist(), stages.tolist()))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    colours = {0: "#00798c", 1: "#30638e", 2: "#d1495b"}
    for stage in sorted(set(stage_of.values())):
        keep = np.array([stage_of.get(s) == stage for s in steps.tolist()])
        if not keep.any():
            continue
        colour = colours.get(int(stage), "#555555")
        axes[0].plot(steps[keep], loss[keep], color=colour, alpha=0.25, lw=0.6)
        axes[0].plot(steps[keep], _smooth(loss[keep], 0.98), color=colour, lw=2, label=f"stage {int(stage)}")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("step")
    axes[0].set_title("loss (stage 0: VAE reconstruction; 1-2: region-weighted diffusion)", fontsize=10)
    axes[0].legend()
    if "train/orthogonality" in scalars:
        s, v = scalars["train/orthogonality"]
        axes[1].plot(s, v, color="#edae49", alpha=0.4, lw=0.6)
        axes[1].plot(s, _smooth(v, 0.98), color="#edae49", lw=2)
        axes[1].set_title("orthogonality term ‖L̂L̂ᵀ − I‖²")
        axes[1].set_xlabel("step")
    if "train/lr" in scalars:
        s, v = scalars["train/lr"]
        axes[2].plot(s, v, color="#555555")
        axes[2].set_title("learning rate")
        axes[2].set_xlabel("step")
    fig.tight_layout()
    out = Path(out) if out else Path(run_dir) / "loss.png"
    atomic_write_bytes(out, figure_png(fig, dpi=100))
    return out
