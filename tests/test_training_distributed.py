"""Two CPU processes (gloo DDP through ``accelerate launch``): replicas stay identical while seeing different data."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file

WORKER = textwrap.dedent('''
    import os, sys
    from safetensors.torch import save_file
    from interanimate.training.config import load_config
    from interanimate.training.trainer import train

    data, out, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
    config = load_config("tiny", [f"data.path={data}", "train.batch_size=1", "stage.stages=[0,1,2]",
                                  "stage.steps=[1,1,2]", "train.validate_every=0", "train.checkpoint_every=0", *extra])
    summary = train(config, out, progress=False)
    state = {name: p.detach().clone().contiguous() for name, p in summary.model.named_parameters()}
    save_file(state, os.path.join(out, f"replica{os.environ['RANK']}.safetensors"))
''')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("overrides", [[], ["train.gradient_accumulation_steps=2"]], ids=["plain", "accumulation"])
def test_two_process_ddp_keeps_replicas_identical(sketch_dataset, tmp_path, overrides):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    out = tmp_path / "run"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    # --multi_gpu on a machine without GPUs starts CPU processes on gloo (--cpu would start only one).
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", str(_free_port()), str(script), str(sketch_dataset), str(out), *overrides]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]

    state = json.loads((out / "final" / "state.json").read_text())
    assert state["global_step"] == 4
    last = json.loads(sorted((out / "checkpoints").iterdir())[-1].joinpath("state.json").read_text())
    assert last["world_size"] == 2
    replicas = [load_file(str(out / f"replica{rank}.safetensors")) for rank in (0, 1)]
    assert replicas[0].keys() == replicas[1].keys()
    for name, value in replicas[0].items():
        torch.testing.assert_close(replicas[1][name], value, rtol=0, atol=1e-7, msg=name)
