"""Render, then refine: zero-initialised composite inputs, training pairs from a clip's own labels, the SDEdit start
and ``animate --renderer refine`` end to end (tiny models, CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from interanimate.data.annotations import load_annotations
from interanimate.data.composite_pairs import NUM_COMPOSITE_CHANNELS
from interanimate.data.conditions import NUM_CONDITION_CHANNELS
from interanimate.data.dataset import InterHFDataset
from interanimate.data.io import decode_video
from interanimate.data.manifest import clip_file
from interanimate.diffusion.sampler import sample, start_step
from interanimate.models import InterAnimateModel
from interanimate.pipelines.command import main as animate_main
from interanimate.training.batch import random_batch
from interanimate.training.config import load_config, save_config
from interanimate.training.trainer import train

SHIPPED = Path(__file__).resolve().parents[1] / "src" / "interanimate" / "checkpoints" / "small-synth64"
NUM_FRAMES = 2


def _randomise(model: InterAnimateModel, seed: int = 1) -> None:
    """Perturb every weight, so zero-initialised outputs (the pose guider's last conv) are not zero any more."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)


def _with_composite(batch: dict, seed: int = 4) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    b, _, f, h, w = batch["conditions"].shape
    extra = torch.rand(b, NUM_COMPOSITE_CHANNELS, f, h, w, generator=g) * 2 - 1
    return torch.cat([batch["conditions"], extra], dim=1)


def _sample(model, batch, conditions, **kwargs):
    return sample(model, batch["reference_pixel_values"], conditions, [0, 1], num_inference_steps=2,
                  guidance_scale=2.0, **kwargs)


def _prediction(model: InterAnimateModel, batch: dict, conditions: torch.Tensor) -> torch.Tensor:
    """One denoising prediction (the whole model: reference, pose guider, interaction, identity)."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        latents = model.encode(batch["pixel_values"], generator=g)
        reference = model.compute_reference_features(model.encode(batch["reference_pixel_values"], sample=False))
        return model(latents, torch.tensor([3, 600]), conditions, reference, pattern_id=batch["pattern_id"],
                     identity_embedding=batch["identity_embedding"], identity_present=batch["identity_present"])


def test_composite_inputs_start_as_no_ops_on_an_old_model(tmp_path):
    torch.manual_seed(0)
    old = InterAnimateModel.from_config(load_config("tiny").model, sample_size=32).eval()
    _randomise(old)
    old.save_pretrained(tmp_path / "old")
    new = InterAnimateModel.from_config(load_config("tiny", ["model.composite_conditions=true"]).model,
                                        sample_size=32).eval()
    copied = new.copy_parts_from(tmp_path / "old")
    assert "pose_guider" in copied and len(copied) == 6
    batch = random_batch(2, NUM_FRAMES, 32, seed=3)
    before = _prediction(old, batch, batch["conditions"])
    assert torch.equal(_prediction(new, batch, _with_composite(batch)), before)
    # The new channels are read: once their weights move, the output does.
    with torch.no_grad():
        new.pose_guider.conv_in_composite.weight.normal_(0, 0.5)
    assert not torch.allclose(_prediction(new, batch, _with_composite(batch)), before, atol=1e-4)
    with pytest.raises(ValueError, match="reads 14 condition channels"):
        _prediction(new, batch, batch["conditions"])


def test_old_checkpoints_load_unchanged_and_refine_refuses_them():
    from interanimate.pipelines import AnimateError
    from interanimate.pipelines.checkpoint_loader import load_checkpoint
    from interanimate.render.refine import RefinePipeline

    checkpoint = load_checkpoint(SHIPPED)
    assert not checkpoint.composite_conditions and checkpoint.model.pose_guider.conv_in_composite is None
    with pytest.raises(AnimateError, match="not trained with composite conditions"):
        RefinePipeline(checkpoint)


def test_the_shipped_refine_checkpoint_describes_itself_and_its_composite_inputs_are_trained():
    from interanimate.pipelines.checkpoint_loader import load_checkpoint
    from interanimate.render.refine import RefinePipeline

    checkpoint = load_checkpoint(SHIPPED.parent / "small-refine64")
    assert checkpoint.composite_conditions and checkpoint.resolution == 64 and checkpoint.window_frames == 8
    assert checkpoint.pipeline.scheduler.config.prediction_type == "v_prediction"
    # training moved the zero-initialised composite convolution: the model reads the composite
    assert float(checkpoint.model.pose_guider.conv_in_composite.weight.abs().sum()) > 0
    RefinePipeline(checkpoint)  # accepted by the refine renderer


def test_loader_pairs_a_composite_of_the_first_frame_with_the_real_frames(sketch_dataset):
    plain = InterHFDataset(sketch_dataset, num_frames=4, resolution=(48, 48), seed=2)
    paired = InterHFDataset(sketch_dataset, num_frames=4, resolution=(48, 48), seed=2, composite=True)
    index = next(i for i in range(len(paired)) if paired[i]["hand_mask"].sum() > 20)
    a, b = plain[index], paired[index]
    maps = NUM_CONDITION_CHANNELS
    assert b["conditions"].shape == (4, maps + NUM_COMPOSITE_CHANNELS, 48, 48)
    assert torch.equal(b["conditions"][:, :maps], a["conditions"])  # same window, same maps
    assert torch.equal(b["pixel_values"], a["pixel_values"])  # the targets are the clip's own frames
    composite_rgb = b["conditions"][:, maps:maps + 3]
    assert composite_rgb.min() >= -1 and composite_rgb.max() <= 1
    # The masks are the labels'.
    assert torch.equal(b["conditions"][:, maps + 3], b["hand_mask"][:, 0])
    assert torch.equal(b["conditions"][:, maps + 4], b["contact_mask"][:, 0])
    # The reference is the first frame, which the composite starts from.
    record = paired.records[index]
    first = decode_video(clip_file(paired.root, record, "video"), [0])[0]
    first = cv2.resize(first, (48, 48), interpolation=cv2.INTER_AREA)
    assert torch.allclose(b["reference_pixel_values"], torch.from_numpy(first).permute(2, 0, 1).float() / 127.5 - 1)
    # Condition and target differ, most of all where the hand is: it is drawn, not copied.
    hand = b["hand_mask"][:, 0] > 0
    difference = (composite_rgb - b["pixel_values"]).abs().mean(1)
    assert difference.mean() > 0.01
    assert difference[hand].mean() > difference[~hand].mean()


def test_loader_composite_follows_the_labelled_hand(sketch_dataset):
    """Inside the labelled hand the composite is the painted hand, outside it the (moved) first frame."""
    paired = InterHFDataset(sketch_dataset, num_frames=4, resolution=(48, 48), seed=2, composite=True)
    sample_ = next(s for s in (paired[i] for i in range(len(paired))) if s["hand_mask"].sum() > 20)
    rgb = sample_["conditions"][:, NUM_CONDITION_CHANNELS:NUM_CONDITION_CHANNELS + 3]
    hand = sample_["hand_mask"][:, 0] > 0
    frame = int(hand.flatten(1).sum(1).argmax())
    inside = rgb[frame][:, hand[frame]]
    # one skin colour shaded by depth: the channels keep their ratio to within the shading's 0.72-1 range
    spread = inside.std(1) / (inside.mean(1).abs() + 1e-3)
    assert float(spread.max()) < 0.5


def _save_tiny(folder: Path, composite: bool) -> Path:
    overrides = ["data.resolution=64"] + (["model.composite_conditions=true"] if composite else [])
    config = load_config("tiny", overrides)
    torch.manual_seed(0)
    model = InterAnimateModel.from_config(config.model, sample_size=64)
    _randomise(model)
    model.save_pretrained(folder)
    save_config(config, folder / "config.yaml")
    return folder


@pytest.fixture(scope="module")
def refine_model(tmp_path_factory) -> Path:
    return _save_tiny(tmp_path_factory.mktemp("refine") / "model", composite=True)


def _animate(args, capsys) -> tuple[int, str]:
    code = animate_main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_animate_refine_writes_a_video_and_the_composites_labels(refine_model, astronaut_png, tmp_path, capsys):
    out = tmp_path / "out" / "clip.mp4"
    code, text = _animate(["--renderer", "refine", "--checkpoint", refine_model, "--reference", astronaut_png,
                           "--pattern", "poke_nose", "--frames", 8, "--num-inference-steps", 2, "--strength", 0.5,
                           "--out", out, "--quiet"], capsys)
    assert code == 0, text
    frames = decode_video(out)
    assert frames.shape == (8, 64, 64, 3)
    composite = decode_video(out.with_name("clip.composite.mp4"))
    assert composite.shape == frames.shape and np.abs(composite.astype(int) - frames).mean() > 1
    labels = load_annotations(out.with_name("clip.labels.npz"), 64, 64)
    assert labels.num_frames == 8 and labels.mask("hand_left").any() | labels.mask("hand_right").any()
    info = json.loads(out.with_name("clip.json").read_text())
    assert info["renderer"] == "interanimate-refine" and info["strength"] == 0.5
    assert info["sampler"]["num_inference_steps"] == 2 and info["seed"] == 0


def test_refine_and_diffusion_renderers_refuse_the_other_kind_of_checkpoint(refine_model, astronaut_png, tmp_path,
                                                                              capsys):
    plain = _save_tiny(tmp_path / "plain", composite=False)
    code, text = _animate(["--renderer", "refine", "--checkpoint", plain, "--reference", astronaut_png,
                           "--pattern", "poke_nose", "--out", tmp_path / "a.mp4"], capsys)
    assert code == 2 and "not trained with composite conditions" in text and len(text.strip().splitlines()) == 1
    code, text = _animate(["--renderer", "diffusion", "--checkpoint", refine_model, "--reference", astronaut_png,
                           "--pattern", "poke_nose", "--frames", 8, "--out", tmp_path / "b.mp4"], capsys)
    assert code == 2 and "--renderer refine" in text


def test_strength_zero_returns_the_composite_and_one_samples_from_noise():
    assert [start_step(10, s) for s in (0.0, 0.3, 0.5, 1.0)] == [10, 7, 5, 0]
    config = load_config("tiny", ["model.composite_conditions=true"])
    torch.manual_seed(0)
    model = InterAnimateModel.from_config(config.model, sample_size=32).eval()
    _randomise(model)
    batch = random_batch(2, NUM_FRAMES, 32, seed=3)
    conditions = _with_composite(batch)
    init = batch["pixel_values"]
    through_vae = model.decode(model.encode(init, sample=False))
    assert torch.allclose(_sample(model, batch, conditions, init_pixel_values=init, strength=0.0), through_vae)
    from_noise = _sample(model, batch, conditions)
    assert torch.equal(_sample(model, batch, conditions, init_pixel_values=init, strength=1.0), from_noise)
    half = _sample(model, batch, conditions, init_pixel_values=init, strength=0.5)
    assert not torch.allclose(half, from_noise, atol=1e-3) and not torch.allclose(half, through_vae, atol=1e-3)
    # The noised start keeps the composite: half strength lands nearer to it than sampling from noise does.
    assert (half - through_vae).abs().mean() < (from_noise - through_vae).abs().mean()
    with pytest.raises(ValueError, match="strength"):
        _sample(model, batch, conditions, init_pixel_values=init, strength=1.5)


def test_training_on_composite_pairs_reaches_the_composite_inputs(sketch_dataset, tmp_path):
    """Three image-stage steps (the first moves only the zero-initialised output convolution, as for any pose
    guider; from the second on the gradient reaches the composite inputs)."""
    config = load_config("tiny", [f"data.path={sketch_dataset}", "train.batch_size=2", "train.validate_every=0",
                                  "model.composite_conditions=true", "stage.stages=[1]", "stage.steps=[3]"])
    train(config, tmp_path / "run", progress=False)
    model = InterAnimateModel.from_pretrained(tmp_path / "run" / "final")
    weight = model.pose_guider.conv_in_composite.weight
    assert weight.shape[1] == NUM_COMPOSITE_CHANNELS and float(weight.abs().sum()) > 0


def test_app_offers_refine_only_with_a_checkpoint(refine_model):
    from interanimate.app.errors import AppInputError
    from interanimate.app.renderers import PipelineCache, renderer_names
    from interanimate.render.refine import RefinePipeline

    assert "refine" in renderer_names() and renderer_names()[0] == "composite"
    with pytest.raises(AppInputError, match="needs a checkpoint trained with composite conditions"):
        PipelineCache(None).get("refine")
    pipe = PipelineCache(refine_model).get("refine", num_inference_steps=3)
    assert isinstance(pipe, RefinePipeline) and pipe.num_inference_steps == 3 and pipe.size == 64
