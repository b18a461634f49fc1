"""tools/refine_gain.py end to end: two tiny checkpoints (plain and composite) on a tiny synthetic dataset."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from interanimate.data.manifest import read_manifest
from interanimate.models import InterAnimateModel
from interanimate.training.config import load_config, save_config
from project_tools import load_tool


def _tool():
    return load_tool("refine_gain")


def test_checkpoints_are_named_once_and_at_least_one_is_given():
    tool = _tool()
    assert tool.parse_checkpoints(["a=runs/a/final"]) == {"a": Path("runs/a/final")}
    assert list(tool.parse_checkpoints(["b=x", "a=y"])) == ["b", "a"]
    for bad in ([], ["a=x", "a=y"], ["ground_truth=x"], ["no-path"]):
        with pytest.raises(SystemExit):
            tool.parse_checkpoints(bad)


def _save_tiny(folder: Path, composite: bool) -> Path:
    overrides = ["data.resolution=64"] + (["model.composite_conditions=true"] if composite else [])
    config = load_config("tiny", overrides)
    torch.manual_seed(0)
    model = InterAnimateModel.from_config(config.model, sample_size=64)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # perturbed, so the zero-initialised composite convolution takes part
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    model.save_pretrained(folder)
    save_config(config, folder / "config.yaml")
    return folder


@pytest.fixture(scope="module")
def synth_clips(tmp_path_factory) -> Path:
    from interanimate.data.synth import generate_dataset
    from interanimate.taxonomy import resolve_patterns

    root = tmp_path_factory.mktemp("gain") / "synth"
    generate_dataset(root, num_subjects=2, clips_per_pattern=1, num_frames=8, size=64, seed=3,
                     patterns=resolve_patterns(["poke_nose"]), progress=False)
    return root


def test_refine_gain_scores_both_models_on_the_same_clips(synth_clips, tmp_path, capsys):
    small = _save_tiny(tmp_path / "small", composite=False)
    refine = _save_tiny(tmp_path / "refine", composite=True)
    out = tmp_path / "gain"
    code = _tool().main(["--data", str(synth_clips), "--checkpoint", f"small={small}", "--checkpoint",
                         f"refine={refine}", "--clips", "1", "--frames", "6", "--steps", "2", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    header = next(line for line in printed.splitlines() if line.startswith("| metric"))
    assert header == "| metric | small | refine | better? |"
    ssim = next(line for line in printed.splitlines() if line.startswith("| SSIM (frame) |"))
    cells = [c.strip() for c in ssim.strip("|").split("|")]
    assert all(0.0 < float(v) <= 1.0 for v in cells[1:3]) and cells[3] in ("small", "refine", "=")
    test_clip = next(r for r in read_manifest(synth_clips) if r.split == "test")
    truth, = read_manifest(out / "ground_truth")
    assert (truth.clip_id, truth.num_frames) == (test_clip.clip_id, 6)
    for name in ("small", "refine"):
        clip, = read_manifest(out / name)
        assert (clip.extra["source_clip_id"], clip.num_frames, clip.width) == (test_clip.clip_id, 6, 64)
    strip = cv2.imread(str(out / "strip.png"))
    assert strip is not None and strip.shape[0] > 3 * 64  # ground truth, small, refine rows (enlarged)


def test_composite_model_sees_the_clips_composite(synth_clips, tmp_path):
    """The composite channels reach the refine model: blanking them changes what it samples."""
    from interanimate.data.dataset import build_sample
    from interanimate.data.manifest import clip_file
    from interanimate.pipelines import AnimatePipeline

    tool = _tool()
    pipe = AnimatePipeline.from_checkpoint(_save_tiny(tmp_path / "refine", composite=True), num_inference_steps=2)
    record = next(r for r in read_manifest(synth_clips) if r.split == "test")
    frames, labels, generated, _ = tool.regenerate_from_pair(pipe, synth_clips, record, 4, seed=0)
    assert frames.shape == (4, 64, 64, 3) and labels.num_frames == 4
    sample = build_sample(record, clip_file(synth_clips, record, "video"),
                          clip_file(synth_clips, record, "annotations"), record.num_frames, composite=True)
    reference = ((sample["reference_pixel_values"].permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()
    conditions = sample["conditions"].numpy()[:4]
    blank = conditions.copy()
    blank[:, -5:] = 0
    with_composite = pipe.sample_frames(reference, conditions, record.pattern, 0, None)
    without = pipe.sample_frames(reference, blank, record.pattern, 0, None)
    assert not np.array_equal(with_composite, without)
