"""The training loop on the tiny preset: checkpoints, exact resume, EMA, validation strips, data formats, CLI errors."""

from __future__ import annotations

import argparse
import json
import shutil

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from interanimate.diffusion import NoiseSchedule
from interanimate.models import InterAnimateModel
from interanimate.training.checkpoint import IncompatibleRunError, list_checkpoints, write_run_config
from interanimate.training.command import add_arguments, run
from interanimate.training.config import ConfigError, load_config
from interanimate.training.ema import ema_decay_at
from interanimate.training.stages import apply_stage
from interanimate.training.trainer import TrainingObjective, TrainingSetupError, train

QUIET = ["train.validate_every=0", "train.keep_checkpoints=0"]


def _config(data, *overrides):
    return load_config("tiny", [f"data.path={data}", "train.batch_size=2", *QUIET, *overrides])


def _parse(*argv):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args([str(a) for a in argv])


def _weights(folder):
    model = InterAnimateModel.from_pretrained(folder)
    return {name: p.detach().clone() for name, p in model.named_parameters()}


@pytest.fixture(scope="module")
def short_run(sketch_dataset, tmp_path_factory):
    """Stage 1 planned for 3 steps, stopped after 2; a checkpoint every step, validation every 2 steps."""
    out = tmp_path_factory.mktemp("short") / "run"
    config = _config(sketch_dataset, "stage.stages=[1]", "stage.steps=[3]", "train.checkpoint_every=1",
                     "train.validate_every=2")
    summary = train(config, out, max_steps=2, progress=False)
    return config, out, summary


def test_two_steps_write_a_checkpoint_that_from_pretrained_loads(short_run):
    config, out, summary = short_run
    assert summary.global_step == 2 and not summary.complete and summary.final_model is None
    assert [p.name for p in list_checkpoints(out)] == ["step-0000001", "step-0000002"]
    folder = out / "checkpoints" / "step-0000002"
    loaded = _weights(folder / "model")
    trained = dict(summary.model.named_parameters())
    assert loaded.keys() == trained.keys()
    for name, value in loaded.items():
        torch.testing.assert_close(value, trained[name].detach(), rtol=0, atol=0, msg=name)
    state = json.loads((folder / "state.json").read_text())
    assert state["global_step"] == 2 and state["seed"] == config.train.seed and state["world_size"] == 1
    assert state["code"]["interanimate"] and state["data"] == [{"epoch": 0, "batch": 2}]
    assert load_config(folder / "config.yaml") == config
    assert list((out / "logs").rglob("events.out.tfevents.*")), "no TensorBoard log"


def test_ema_differs_from_raw_weights_and_follows_the_documented_decay(short_run):
    config, out, _ = short_run
    torch.manual_seed(config.train.seed)  # the trainer's initialisation of a fresh run
    initial = dict(InterAnimateModel.from_config(config.model, sample_size=config.data.resolution).named_parameters())
    step1 = _weights(out / "checkpoints" / "step-0000001" / "model")
    step2 = _weights(out / "checkpoints" / "step-0000002" / "model")
    ema = load_file(str(out / "checkpoints" / "step-0000002" / "ema.safetensors"))
    trainable = set(apply_stage(InterAnimateModel.from_config(config.model, config.data.resolution), 1))
    assert set(ema) == trainable
    b0, b1 = ema_decay_at(0, config.train.ema_decay), ema_decay_at(1, config.train.ema_decay)
    assert (b0, b1) == (pytest.approx(0.1), pytest.approx(2 / 11))
    moved = 0
    for name, shadow in ema.items():
        expected = b1 * (b0 * initial[name].detach() + (1 - b0) * step1[name]) + (1 - b1) * step2[name]
        torch.testing.assert_close(shadow, expected, rtol=1e-5, atol=1e-6, msg=name)
        moved += int(not torch.equal(shadow, step2[name]))
    assert moved > len(ema) // 2, "EMA equals the raw weights"


def test_validation_strip_is_written(short_run):
    config, out, summary = short_run
    names = sorted(p.name for p in (out / "validation").glob("*.png"))
    assert names == ["step-0000000-stage1.png", "step-0000002-stage1.png"]
    image = cv2.imread(str(out / "validation" / names[-1]))
    size, frames, gap = config.data.resolution, config.data.num_frames, 2
    # one row per frame: reference | conditions | generated | ground truth
    assert image.shape == (frames * size + (frames - 1) * gap, 4 * size + 3 * gap, 3)
    assert image.std() > 10


@pytest.mark.parametrize("accumulation", [1, 2])
def test_kill_and_resume_equals_an_uninterrupted_run(sketch_dataset, tmp_path, accumulation):
    overrides = ["stage.stages=[0,1,2]", "stage.steps=[1,2,2]", "train.checkpoint_every=2",
                 f"train.gradient_accumulation_steps={accumulation}"]
    config = _config(sketch_dataset, *overrides)
    straight = train(config, tmp_path / "straight", progress=False)
    assert straight.complete

    interrupted = tmp_path / "interrupted"
    train(config, interrupted, max_steps=3, progress=False)
    # A kill after step 3, before its checkpoint was complete: the newest checkpoint is gone, a partial one is left.
    shutil.rmtree(interrupted / "checkpoints" / "step-0000003")
    (interrupted / "checkpoints" / "step-0000004.tmp").mkdir()
    resumed = train(config, interrupted, progress=False)  # the same call again
    assert resumed.resumed_from.name == "step-0000002" and resumed.steps_run == 3 and resumed.complete

    a, b = _weights(straight.final_model), _weights(resumed.final_model)
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=1e-5, atol=1e-6, msg=name)
    vae_a = json.loads((straight.final_model / "vae" / "config.json").read_text())["scaling_factor"]
    vae_b = json.loads((resumed.final_model / "vae" / "config.json").read_text())["scaling_factor"]
    assert vae_a == pytest.approx(vae_b) and vae_a != 1.0  # stage 0 rescaled the latents


def test_packed_shards_train(sketch_dataset, tmp_path):
    from interanimate.data.pack import pack_dataset

    shards = tmp_path / "shards"
    pack_dataset(sketch_dataset, shards, clips_per_shard=8)
    config = _config(shards, "stage.stages=[2]", "stage.steps=[2]", "train.checkpoint_every=0")
    summary = train(config, tmp_path / "run", progress=False)
    assert summary.complete and np.isfinite(summary.final_loss)
    state = json.loads((summary.checkpoint / "state.json").read_text())
    assert state["global_step"] == 2


def test_bf16_mixed_precision_trains_on_cpu(sketch_dataset, tmp_path):
    config = _config(sketch_dataset, "stage.stages=[1]", "stage.steps=[1]", "train.mixed_precision=bf16",
                     "train.gradient_checkpointing=true")
    summary = train(config, tmp_path / "run", progress=False)
    assert summary.complete and np.isfinite(summary.final_loss)


def test_gradient_checkpointing_gives_the_same_gradients():
    from interanimate.training.batch import random_batch

    config = load_config("tiny", ["dropout.reference=0", "dropout.identity=0", "dropout.pose=0"])
    torch.manual_seed(0)
    model = InterAnimateModel.from_config(config.model, sample_size=32)
    with torch.no_grad():  # open zero-initialised outputs so every branch carries gradient
        for p in model.parameters():
            if not p.any():
                p.normal_(0, 0.1)
    apply_stage(model, 2)
    objective = TrainingObjective(model, NoiseSchedule(), config, stage=2)
    batch = random_batch(1, 3, 32, seed=1)
    grads = []
    for checkpointing in (False, True):
        if checkpointing:
            model.unet.enable_gradient_checkpointing()
        model.zero_grad(set_to_none=True)
        objective(batch, torch.Generator().manual_seed(3))["loss"].backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad})
    assert model.unet.is_gradient_checkpointing
    for name, grad in grads[0].items():
        torch.testing.assert_close(grads[1][name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_dry_run_prints_the_resolved_config(sketch_dataset, tmp_path, capsys):
    out = tmp_path / "run"
    assert run(_parse("--preset", "tiny", "--data", sketch_dataset, "--out", out, "train.learning_rate=3e-4",
                      "--dry-run")) == 0
    printed = capsys.readouterr().out
    assert "learning_rate: 0.0003" in printed and f"path: {sketch_dataset.resolve()}" in printed
    assert "# plan: stage 0: 2 steps, stage 1: 4 steps, stage 2: 4 steps" in printed
    assert not out.exists()


@pytest.mark.parametrize("argv, error, message", [
    (["--preset", "huge"], ConfigError, "unknown preset 'huge'"),
    (["train.lerning_rate=1"], ConfigError, "unknown config key 'train.lerning_rate'"),
    (["train.use_8bit_adam=true"], TrainingSetupError, "pip install bitsandbytes"),
    (["stage.stages=[1,2]", "stage.steps=[3]"], ConfigError, "one step count per stage"),
])
def test_bad_settings_are_one_line_errors(sketch_dataset, tmp_path, argv, error, message):
    if error is TrainingSetupError and __import__("importlib").util.find_spec("bitsandbytes"):
        pytest.skip("bitsandbytes is installed")
    with pytest.raises(error, match=message) as info:
        run(_parse("--data", sketch_dataset, "--out", tmp_path / "run", *argv))
    assert "\n" not in str(info.value)
    assert not (tmp_path / "run").exists()


def test_missing_data_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        run(_parse("--data", tmp_path / "nowhere", "--out", tmp_path / "run"))


def test_resuming_with_another_config_is_refused(sketch_dataset, tmp_path):
    out = tmp_path / "run"
    write_run_config(out, _config(sketch_dataset, "train.learning_rate=1e-3"))
    (out / "checkpoints" / "step-0000001").mkdir(parents=True)  # the run got as far as one checkpoint
    (out / "checkpoints" / "step-0000001" / "state.json").write_text('{"global_step": 1}')
    with pytest.raises(IncompatibleRunError, match=r"train.learning_rate: 0.001 → 0.002.*re-run the same command"):
        train(_config(sketch_dataset, "train.learning_rate=2e-3"), out, progress=False)


def test_an_unrelated_output_folder_is_refused(sketch_dataset, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(TrainingSetupError, match="holds no training run"):
        train(_config(sketch_dataset), tmp_path, progress=False)


def test_warm_start_copies_the_named_parts_and_nothing_else(short_run, sketch_dataset, tmp_path):
    _, out, _ = short_run
    source = out / "checkpoints" / "step-0000002"
    config = _config(sketch_dataset, "stage.stages=[1]", "stage.steps=[1]", "train.learning_rate=0",
                     "train.use_ema=false", f"train.init_from={source}", "train.init_modules=[vae,unet]")
    summary = train(config, tmp_path / "warm", progress=False)
    warm, trained = _weights(summary.final_model), _weights(source / "model")
    torch.manual_seed(config.train.seed)
    fresh = dict(InterAnimateModel.from_config(config.model, sample_size=config.data.resolution).named_parameters())
    for name, value in warm.items():
        expected = trained[name] if name.split(".")[0] in ("vae", "unet") else fresh[name]
        assert torch.equal(value, expected), name
    assert any(not torch.equal(trained[n], fresh[n]) for n in warm if n.startswith("unet."))  # the copy mattered


def test_warm_start_from_another_architecture_is_one_line(sketch_dataset, tmp_path):
    other = load_config("tiny", ["model.id_preserver.embedding_dim=512"])
    InterAnimateModel.from_config(other.model, sample_size=32).save_pretrained(tmp_path / "other")
    heads = load_config("tiny", ["model.unet.motion_num_attention_heads=1"])  # same shapes, other meaning
    InterAnimateModel.from_config(heads.model, sample_size=32).save_pretrained(tmp_path / "heads")
    config = _config(sketch_dataset, f"train.init_from={tmp_path / 'heads'}", "train.init_modules=[unet]")
    with pytest.raises(TrainingSetupError, match="cannot copy unet .* the architectures differ .*motion_num_attention"):
        train(config, tmp_path / "bad-heads", progress=False)
    for parts, message in ([["id_preserver"], "cannot copy id_preserver .* the architectures differ"],
                           [["vae"], None]):
        config = _config(sketch_dataset, "stage.stages=[1]", "stage.steps=[1]", f"train.init_from={tmp_path / 'other'}",
                         f"train.init_modules=[{','.join(parts)}]")
        if message is None:
            assert train(config, tmp_path / "vae-only", progress=False).complete
            continue
        with pytest.raises(TrainingSetupError, match=message) as info:
            train(config, tmp_path / "bad", progress=False)
        assert "\n" not in str(info.value)
    config = _config(sketch_dataset, f"train.init_from={tmp_path / 'nowhere'}")
    with pytest.raises(TrainingSetupError, match="is not a trained model folder"):
        train(config, tmp_path / "bad2", progress=False)


def test_gradient_accumulation_consumes_that_many_batches_per_step(short_run, sketch_dataset, tmp_path):
    _, out, _ = short_run  # batch_size 2, one micro-batch per step
    config = _config(sketch_dataset, "stage.stages=[1]", "stage.steps=[3]", "train.checkpoint_every=1",
                     "train.gradient_accumulation_steps=3")
    accumulated = train(config, tmp_path / "run", max_steps=2, progress=False)
    plain = json.loads((out / "checkpoints" / "step-0000002" / "state.json").read_text())["data"][0]
    state = json.loads((accumulated.checkpoint / "state.json").read_text())
    assert state["global_step"] == 2
    assert state["data"][0]["batch"] == 3 * plain["batch"] and state["data"][0]["epoch"] == plain["epoch"]
