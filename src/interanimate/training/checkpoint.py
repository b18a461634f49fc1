"""Run folders and checkpoints: safetensors + JSON + YAML only, so resuming never unpickles anything.

A run folder::

    RUN_DIR/
      config.yaml                    the resolved config (re-running with another config is refused)
      checkpoints/step-0000002/      one folder per checkpoint, renamed into place only once complete
        model/                       InterAnimateModel.save_pretrained (raw weights; from_pretrained loads it)
        ema.safetensors              EMA shadows of the current stage's trainable parameters
        optimizer.safetensors        optimizer state per parameter name (+ optimizer.json for non-tensor values)
        config.yaml                  the resolved config
        state.json                   step, stage position, seed, data position per process, code version
      final/                         the trained model (EMA weights), written when the plan is complete
      validation/                    frame strips (PNG)
      logs/                          TensorBoard

The learning-rate schedule is a function of the step, and every step's randomness comes from a generator seeded
by ``(seed, step, process)``, so neither needs saving: step, weights, EMA, optimizer moments and data position
determine the continuation exactly.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

import interanimate
from interanimate.training.config import Config, ConfigError, config_from_dict, save_config, to_dict

import yaml

from interanimate.errors import UserError

CHECKPOINTS = "checkpoints"
_STEP_DIR = re.compile(r"^step-(\d+)$")


class IncompatibleRunError(UserError, ValueError):
    """The run folder holds a run with another config or process count; the message names the difference."""


def code_version() -> dict[str, Any]:
    """Package version and, when the package lives in a git checkout, its commit and whether it has local edits."""
    info: dict[str, Any] = {"interanimate": interanimate.__version__, "torch": torch.__version__}
    package_dir = Path(interanimate.__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(package_dir), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10)
        if commit.returncode == 0:
            info["git_commit"] = commit.stdout.strip()
            dirty = subprocess.run(["git", "-C", str(package_dir), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=10)
            info["git_dirty"] = bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return info


# ------------------------------------------------------------------------------------------- the run's config

# Keys that change where data comes from or how often things are written, not the arithmetic of training; a
# resumed run may change them.
OPERATIONAL_KEYS = ("data.path", "data.num_workers", "train.checkpoint_every", "train.validate_every",
                    "train.keep_checkpoints", "train.log_every")


def flatten_dict(data: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flatten_dict(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_differences(saved: Config, current: Config) -> list[str]:
    a, b = flatten_dict(to_dict(saved)), flatten_dict(to_dict(current))
    return [f"{k}: {a.get(k)!r} → {b.get(k)!r}" for k in sorted(set(a) | set(b))
            if k not in OPERATIONAL_KEYS and a.get(k) != b.get(k)]


def check_run_config(run_dir: Path, config: Config) -> bool:
    """Whether ``run_dir`` already holds a run; refuses one trained with a different config (read-only)."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        return False
    try:
        saved = config_from_dict(yaml.safe_load(path.read_text()) or {})
    except ConfigError as exc:
        raise IncompatibleRunError(f"{path} is not a config this version can read ({exc}); use a new --out folder") from None
    differences = config_differences(saved, current=config)
    if differences and not list_checkpoints(run_dir):
        return False  # a run that failed before its first checkpoint holds nothing to keep: start it afresh
    if differences:
        shown = "; ".join(differences[:4]) + (f"; and {len(differences) - 4} more" if len(differences) > 4 else "")
        raise IncompatibleRunError(f"{run_dir} holds a run with a different config ({shown}); re-run the same "
                                   "command to resume it, or use a new --out folder")
    return True


def write_run_config(run_dir: Path, config: Config) -> None:
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    save_config(config, Path(run_dir) / "config.yaml")  # operational keys may have changed on a resume


# ------------------------------------------------------------------------------------------------ checkpoints


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / CHECKPOINTS / f"step-{step:07d}"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first (a folder still being written has a ``.tmp`` suffix and is ignored)."""
    folder = Path(run_dir) / CHECKPOINTS
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _STEP_DIR.match(p.name)) and
             (p / "state.json").is_file()]
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def checkpoint_problem(folder: Path) -> str | None:
    """Why a checkpoint folder cannot be resumed from (unreadable state, truncated or damaged weights), or None."""
    from safetensors import safe_open

    try:
        state = json.loads((Path(folder) / "state.json").read_text(encoding="utf-8"))
        if not isinstance(state, dict) or not isinstance(state.get("global_step"), int):
            return "state.json holds no step"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return f"state.json unreadable ({err})"
    for path in sorted(Path(folder).rglob("*.safetensors")):
        try:
            with safe_open(str(path), framework="pt") as handle:
                handle.keys()
        except Exception as err:  # safetensors raises its own error types for damaged headers and lengths
            return f"{path.relative_to(folder)} is damaged ({str(err).splitlines()[0]})"
    return None


def usable_checkpoint(run_dir: Path) -> tuple[Path | None, list[tuple[Path, str]]]:
    """The newest checkpoint that can be resumed from, and the newer ones skipped with the reason."""
    skipped = []
    for folder in reversed(list_checkpoints(run_dir)):
        problem = checkpoint_problem(folder)
        if problem is None:
            return folder, skipped
        skipped.append((folder, problem))
    return None, skipped


def set_aside(folder: Path) -> Path:
    """Rename a damaged checkpoint out of the way (kept for inspection; ``list_checkpoints`` ignores it)."""
    target = folder.with_name(f"{folder.name}.damaged")
    index = 1
    while target.exists():
        index += 1
        target = folder.with_name(f"{folder.name}.damaged-{index}")
    os.replace(folder, target)
    return target


def optimizer_states(optimizer: torch.optim.Optimizer, names: dict[torch.nn.Parameter, str]) -> dict[str, dict]:
    """The optimizer state per parameter name: ``{name: {field: value}}``."""
    return {names[param]: dict(state) for param, state in optimizer.state.items()}


def save_optimizer(states: dict[str, dict], folder: Path) -> None:
    """Per-parameter optimizer states (``optimizer_states``) as safetensors (tensors) + JSON (plain numbers)."""
    tensors, plain = {}, {}
    for name, state in states.items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"{name}::{key}"] = value.detach().contiguous().cpu()
            else:
                plain[f"{name}::{key}"] = value
    save_file(tensors, str(folder / "optimizer.safetensors"))
    (folder / "optimizer.json").write_text(json.dumps(plain))


def read_optimizer(folder: Path) -> dict[str, dict]:
    """The states ``save_optimizer`` wrote: ``{name: {field: value}}``."""
    states: dict[str, dict] = {}
    tensors = load_file(str(folder / "optimizer.safetensors"))
    plain = json.loads((folder / "optimizer.json").read_text())
    for key, value in [*tensors.items(), *plain.items()]:
        name, _, field = key.rpartition("::")
        states.setdefault(name, {})[field] = value
    return states


def optimizer_names(folder: Path) -> set[str]:
    """The parameter names ``save_optimizer`` wrote states for, read without loading the tensors."""
    from safetensors import safe_open

    with safe_open(str(folder / "optimizer.safetensors"), framework="pt") as handle:
        keys = list(handle.keys())
    keys += list(json.loads((folder / "optimizer.json").read_text()))
    return {key.rpartition("::")[0] for key in keys}


def load_optimizer(optimizer: torch.optim.Optimizer, params: dict[str, torch.nn.Parameter],
                   states: dict[str, dict], folder: Path) -> None:
    """Put ``states`` (read from ``folder``) into ``optimizer``, whose parameters are ``params`` by name."""
    for name, fields in states.items():
        if name not in params:
            raise IncompatibleRunError(f"{folder}: optimizer state for {name!r}, which this stage does not train")
        param = params[name]
        for field, value in fields.items():
            optimizer.state[param][field] = value.to(param.device) if torch.is_tensor(value) else value


def write_checkpoint(run_dir: Path, step: int, write_contents) -> Path:
    """Create ``step-N.tmp``, let ``write_contents(folder)`` fill it, then rename it into place (atomic on POSIX)."""
    final = checkpoint_dir(run_dir, step)
    staging = final.with_name(final.name + ".tmp")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    write_contents(staging)
    if final.exists():  # a checkpoint of the same step from an earlier attempt: replace it
        shutil.rmtree(final)
    os.replace(staging, final)
    return final


def prune_checkpoints(run_dir: Path, keep: int) -> None:
    if keep <= 0:
        return
    for old in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def read_state(folder: Path) -> dict[str, Any]:
    return json.loads((Path(folder) / "state.json").read_text())

