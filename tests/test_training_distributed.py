"""Two CPU processes on gloo through ``accelerate launch``: DDP replicas stay identical; FSDP (the shipped
``configs/accelerate/fsdp*.yaml``) trains like DDP, and a killed FSDP run resumes exactly."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from interanimate.configs import ACCELERATE_DIR
from interanimate.models import InterAnimateModel
from interanimate.training.sharding import ShardingSetupError, sharding_settings

CONFIGS = ACCELERATE_DIR

WORKER = textwrap.dedent('''
    import os, sys
    from safetensors.torch import save_file
    from interanimate.training.config import load_config
    from interanimate.training.trainer import train

    data, out, max_steps, extra = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    config = load_config("tiny", [f"data.path={data}", "train.batch_size=1", "stage.stages=[0,1,2]",
                                  "stage.steps=[1,1,2]", "train.validate_every=0", "train.checkpoint_every=0", *extra])
    summary = train(config, out, max_steps=max_steps or None, progress=False)
    state = {name: p.detach().clone().contiguous() for name, p in summary.model.named_parameters()}
    save_file(state, os.path.join(out, f"replica{os.environ['RANK']}.safetensors"))
''')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(workdir: Path, dataset: Path, out: Path, launcher: list[str], overrides: tuple[str, ...] = (),
            max_steps: int = 0) -> subprocess.CompletedProcess:
    script = workdir / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "accelerate.commands.launch", *launcher, "--num_processes", "2",
               "--main_process_port", str(_free_port()), str(script), str(dataset), str(out), str(max_steps),
               *overrides]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done


# --multi_gpu on a machine without GPUs starts CPU processes on gloo (--cpu would start only one).
DDP = ["--multi_gpu", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
FSDP = ["--config_file", str(CONFIGS / "fsdp.yaml")]
ZERO2 = ["--config_file", str(CONFIGS / "fsdp_zero2.yaml")]
ACCUMULATION = ("train.gradient_accumulation_steps=2",)


@pytest.fixture(scope="module")
def runs(sketch_dataset, tmp_path_factory):
    """``runs(name, launcher, overrides)``: the run folder of one uninterrupted 4-step launch, run once per module."""
    done: dict[str, Path] = {}

    def run(name: str, launcher: list[str], overrides: tuple[str, ...] = ()) -> Path:
        if name not in done:
            workdir = tmp_path_factory.mktemp(name)
            _launch(workdir, sketch_dataset, workdir / "run", launcher, overrides)
            done[name] = workdir / "run"
        return done[name]

    return run


def _replicas(out: Path) -> list[dict[str, torch.Tensor]]:
    return [load_file(str(out / f"replica{rank}.safetensors")) for rank in (0, 1)]


def _assert_close(a: dict, b: dict, atol: float) -> None:
    assert a.keys() == b.keys()
    for name, value in a.items():
        torch.testing.assert_close(b[name], value, rtol=0, atol=atol, msg=name)


@pytest.mark.parametrize("overrides", [(), ACCUMULATION], ids=["plain", "accumulation"])
def test_two_process_ddp_keeps_replicas_identical(runs, overrides):
    out = runs(f"ddp{len(overrides)}", DDP, overrides)
    state = json.loads((out / "final" / "state.json").read_text())
    assert state["global_step"] == 4
    last = json.loads(sorted((out / "checkpoints").iterdir())[-1].joinpath("state.json").read_text())
    assert last["world_size"] == 2
    replicas = _replicas(out)
    _assert_close(replicas[0], replicas[1], atol=1e-7)


@pytest.mark.parametrize("launcher, overrides", [(FSDP, ()), (ZERO2, ACCUMULATION)], ids=["fsdp", "zero2-accumulation"])
def test_two_process_fsdp_trains_like_ddp(runs, launcher, overrides):
    """Stages 0 → 1 → 2 sharded (EMA, stage hand-overs and the VAE rescale included) end where DDP ends."""
    ddp = runs(f"ddp{len(overrides)}", DDP, overrides)
    fsdp = runs(f"fsdp-{Path(launcher[-1]).stem}", launcher, overrides)
    replicas = _replicas(fsdp)
    _assert_close(replicas[0], replicas[1], atol=0)
    # Reduce-scatter and all-reduce sum in other orders; Adam turns such rounding (~1e-7) into differences of up to
    # ~1e-5 for weights whose gradients are close to zero. Lost or unaveraged gradients, a wrong EMA or stage
    # hand-over would differ by the size of the updates (learning rate 1e-3).
    _assert_close(_replicas(ddp)[0], replicas[0], atol=1e-4)
    saved = InterAnimateModel.from_pretrained(fsdp / "final")
    _assert_close({n: p.detach() for n, p in saved.named_parameters()}, replicas[0], atol=0)
    assert saved.vae.config.scaling_factor == pytest.approx(
        InterAnimateModel.from_pretrained(ddp / "final").vae.config.scaling_factor, rel=1e-5)


def test_killed_fsdp_run_resumes_exactly(runs, sketch_dataset, tmp_path):
    """Stopped inside stage 2 (sharded optimizer and EMA states in the checkpoint), then the same command again.
    This run also samples validation strips from gathered EMA weights, which must leave the training untouched."""
    uninterrupted = runs(f"fsdp-{Path(ZERO2[-1]).stem}", ZERO2, ACCUMULATION)
    out = tmp_path / "run"
    overrides = (*ACCUMULATION, "train.validate_every=2")
    _launch(tmp_path, sketch_dataset, out, ZERO2, overrides, max_steps=3)
    checkpoint = out / "checkpoints" / "step-0000003"
    assert (checkpoint / "optimizer.safetensors").is_file() and (checkpoint / "ema.safetensors").is_file()
    resumed = _launch(tmp_path, sketch_dataset, out, ZERO2, overrides)
    assert "resuming from" in resumed.stdout
    strips = sorted(p.name for p in (out / "validation").glob("*.png"))
    assert strips == ["step-0000000-stage0.png", "step-0000001-stage0.png", "step-0000002-stage1.png",
                      "step-0000004-stage2.png"]
    _assert_close(_replicas(uninterrupted)[0], _replicas(out)[0], atol=0)


def test_a_ddp_checkpoint_resumes_under_fsdp(runs, sketch_dataset, tmp_path):
    """Checkpoints are whole-model files whatever the launch: stop a DDP run inside stage 2, finish it sharded."""
    ddp = runs("ddp0", DDP)
    out = tmp_path / "run"
    _launch(tmp_path, sketch_dataset, out, DDP, max_steps=3)
    resumed = _launch(tmp_path, sketch_dataset, out, FSDP)
    assert "resuming from" in resumed.stdout and "FSDP over 2 processes" in resumed.stdout
    _assert_close(_replicas(ddp)[0], _replicas(out)[0], atol=1e-4)  # one sharded step: rounding only, as above


def test_an_fsdp1_launch_stops_with_one_line(sketch_dataset, tmp_path):
    """accelerate's own FSDP1 setup fails on CPU-only machines with a device error; the loop refuses first."""
    config = tmp_path / "fsdp1.yaml"
    config.write_text((CONFIGS / "fsdp.yaml").read_text().replace("fsdp_version: 2", "fsdp_version: 1"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config), "--num_processes",
               "2", "--main_process_port", str(_free_port()), "-m", "interanimate.training.command",
               "--preset", "tiny", "--data", str(sketch_dataset), "--out", str(tmp_path / "run")]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("interanimate: error:")]
    assert errors and all("set fsdp_version: 2" in line for line in errors), done.stderr[-3000:]
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize("environ, message", [
    ({"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "1"}, "fsdp_version: 2"),
    ({"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2", "FSDP_OFFLOAD_PARAMS": "true"}, "fsdp_offload_params: false"),
    ({"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2", "FSDP_RESHARD_AFTER_FORWARD": "SHARD_GRAD_OP"},
     "use true"),
    ({"ACCELERATE_USE_DEEPSPEED": "true"}, "fsdp_zero2.yaml"),
])
def test_unsupported_sharding_settings_are_refused(environ, message):
    with pytest.raises(ShardingSetupError, match=message) as error:
        sharding_settings("MULTI_CPU", 2, environ)
    assert "\n" not in str(error.value)


def test_a_one_process_fsdp_launch_is_refused():
    """On a GPU accelerate reports FSDP for it and would wrap the model in its own FSDP."""
    with pytest.raises(ShardingSetupError, match="at least 2 processes") as error:
        sharding_settings("FSDP", 1, {"FSDP_VERSION": "2"})
    assert "\n" not in str(error.value)


def test_sharding_settings_follow_the_launch():
    fsdp = {"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2", "FSDP_RESHARD_AFTER_FORWARD": "false"}
    assert sharding_settings("MULTI_CPU", 2, fsdp).reshard_after_forward is False
    assert sharding_settings("FSDP", 2, {"FSDP_VERSION": "2"}).reshard_after_forward is True
    assert sharding_settings("NO", 1, {"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2"}) is None  # one process
    assert sharding_settings("MULTI_CPU", 2, {}) is None  # DDP
