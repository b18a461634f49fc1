"""The shipped configuration files: training presets (``tiny``, ``small``, ``sd15``) and ``accelerate launch``
files (``accelerate/ddp.yaml``, ``fsdp.yaml``, ``fsdp_zero2.yaml``).

They are package data, so an installed package (not only a source checkout) has them.
``python -m interanimate.configs`` prints where they are, e.g. for
``accelerate launch --config_file "$(python -m interanimate.configs)/accelerate/ddp.yaml" ...``.
"""

from __future__ import annotations

from pathlib import Path

CONFIGS_DIR = Path(__file__).resolve().parent
ACCELERATE_DIR = CONFIGS_DIR / "accelerate"


def preset_names() -> list[str]:
    """The names of the shipped training presets."""
    return sorted(p.stem for p in CONFIGS_DIR.glob("*.yaml"))


def accelerate_files() -> list[Path]:
    """The shipped ``accelerate launch`` configuration files."""
    return sorted(ACCELERATE_DIR.glob("*.yaml"))
