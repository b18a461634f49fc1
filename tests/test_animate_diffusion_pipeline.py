"""`InterAnimatePipeline`: a self-describing diffusers pipeline folder, the shipped checkpoint converted to one, and
folders written before it (model folder + training config, run folders) still loading and sampling the same."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler

from interanimate.models import InterAnimateModel
from interanimate.pipelines import animate_pipeline
from interanimate.pipelines.animate_pipeline import AnimatePipeline, array_digest
from interanimate.pipelines.checkpoint_loader import load_checkpoint
from interanimate.pipelines.interanimate_pipeline import InterAnimatePipeline, is_pipeline_folder
from interanimate.training.batch import random_batch
from interanimate.training.config import load_config, to_dict

SHIPPED = Path(__file__).resolve().parents[1] / "src" / "interanimate" / "checkpoints" / "small-synth64"


def _config():
    config = load_config("tiny")
    config.loss.prediction_type = "v_prediction"
    config.scheduler.zero_terminal_snr = True
    config.data.resolution, config.data.num_frames = 32, 4
    config.sampler.num_inference_steps, config.sampler.guidance_scale = 3, 1.5
    return config


@pytest.fixture(scope="module")
def old_run(tmp_path_factory) -> Path:
    """A run folder as the trainer writes it: final/ = model folder + config.yaml + state.json."""
    run = tmp_path_factory.mktemp("run")
    config = _config()
    torch.manual_seed(0)
    model = InterAnimateModel.from_config(config.model, sample_size=32)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.02)
    model.save_pretrained(run / "final")
    (run / "final" / "state.json").write_text('{"global_step": 3, "seed": 0}')
    for folder in (run, run / "final"):
        (folder / "config.yaml").write_text(yaml.safe_dump(to_dict(config)))
    return run


def _video(pipe: InterAnimatePipeline, **kwargs) -> torch.Tensor:
    batch = random_batch(1, 6, 32, seed=5)
    return pipe(batch["reference_pixel_values"], batch["conditions"], [3], pattern_id=batch["pattern_id"],
                identity_embedding=batch["identity_embedding"], output_type="latent", **kwargs)


def test_shipped_checkpoint_describes_its_sampling_without_the_training_config(tmp_path):
    assert is_pipeline_folder(SHIPPED)
    bare = tmp_path / "bare"
    shutil.copytree(SHIPPED, bare)
    (bare / "config.yaml").unlink()
    ckpt = load_checkpoint(bare)
    pipe = ckpt.pipeline
    assert not ckpt.config_found
    scheduler = pipe.scheduler.config
    assert (scheduler.prediction_type, scheduler.rescale_betas_zero_snr, scheduler.timestep_spacing) == \
        ("v_prediction", True, "trailing")
    assert (ckpt.resolution, ckpt.window_frames, pipe.config.condition_channels) == (64, 8, 9)
    assert (pipe.config.num_inference_steps, pipe.config.guidance_scale) == (20, 2.0)
    # the training config, where present, agrees with the folder
    with_config = load_checkpoint(SHIPPED)
    assert with_config.config.loss.prediction_type == "v_prediction" and with_config.config.scheduler.zero_terminal_snr


def test_old_run_folder_loads_and_samples_like_its_converted_pipeline_folder(old_run, tmp_path):
    old = load_checkpoint(old_run)
    assert not is_pipeline_folder(old.path) and old.config_found and old.pipeline.config.use_motion_modules
    assert old.pipeline.prediction_type == "v_prediction" and old.pipeline.scheduler.config.rescale_betas_zero_snr
    assert (old.window_frames, old.resolution, old.pipeline.config.guidance_scale) == (4, 32, 1.5)
    old.pipeline.save_pretrained(tmp_path / "pipe")
    new = load_checkpoint(tmp_path / "pipe")  # no config.yaml: the folder alone
    assert is_pipeline_folder(new.path) and not new.config_found

    def settings(part):
        return {k: v for k, v in part.config.items() if not k.startswith("_")}

    assert settings(new.pipeline) == settings(old.pipeline)
    assert settings(new.pipeline.scheduler) == settings(old.pipeline.scheduler)
    for sampler in ("ddim", "dpmpp"):
        torch.testing.assert_close(_video(new.pipeline, sampler=sampler), _video(old.pipeline, sampler=sampler),
                                   rtol=0, atol=0)
    # the same folder still loads as a plain InterAnimateModel (what training's warm start reads)
    model = InterAnimateModel.from_pretrained(tmp_path / "pipe")
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in new.model.parameters())


def test_round_trip_keeps_a_user_scheduler(old_run, tmp_path):
    pipe = load_checkpoint(old_run).pipeline
    pipe.scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config)
    pipe.save_pretrained(tmp_path / "euler")
    again = InterAnimatePipeline.from_pretrained(tmp_path / "euler")
    assert isinstance(again.scheduler, EulerDiscreteScheduler)
    assert again.scheduler.config.prediction_type == "v_prediction"
    torch.testing.assert_close(_video(again), _video(pipe), rtol=0, atol=0)
    # names pick diffusers' DDIM / DPM-Solver++ on the registered schedule
    assert isinstance(again.scheduler_for("ddim"), DDIMScheduler)
    dpm = again.scheduler_for("dpmpp")
    assert isinstance(dpm, DPMSolverMultistepScheduler) and dpm.config.algorithm_type == "dpmsolver++"
    assert dpm.config.rescale_betas_zero_snr and dpm.config.prediction_type == "v_prediction"


def test_mid_training_checkpoint_still_loads(old_run, tmp_path):
    step = old_run / "checkpoints" / "step-2"
    shutil.copytree(old_run / "final", step / "model", ignore=shutil.ignore_patterns("*.yaml", "state.json"))
    shutil.copy(old_run / "final" / "config.yaml", step / "config.yaml")
    (step / "state.json").write_text('{"global_step": 2, "stage": 1}')
    ckpt = load_checkpoint(step)
    assert ckpt.stage == 1 and ckpt.pipeline.config.use_motion_modules is False
    assert ckpt.pipeline.prediction_type == "v_prediction"


def test_reference_cache_is_keyed_by_content(monkeypatch, old_run):
    loads = []

    def fake_load(source, size, name):
        loads.append(float(np.asarray(source).mean()))
        return loads[-1]

    monkeypatch.setattr(animate_pipeline, "load_reference", fake_load)
    pipe = AnimatePipeline.from_checkpoint(old_run)
    photo = np.zeros((8, 8, 3), np.uint8)
    assert pipe.reference(photo) == 0.0
    assert pipe.reference(photo.copy()) == 0.0 and len(loads) == 1  # same content, another array: cached
    photo[:] = 200  # same object (same id), new content: detected again, never the stale face
    assert pipe.reference(photo) == 200.0 and len(loads) == 2
    assert array_digest(photo) != array_digest(photo.astype(np.float32))
