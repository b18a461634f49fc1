"""Backbones: published parameter names/shapes load from local files; honest metric names; features."""

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from interanimate.evaluation.backbones import (
    PUBLISHED_WEIGHTS,
    FIDInceptionV3,
    InceptionI3D,
    LPIPSAlex,
    PublishedWeights,
    WeightsError,
    load_state_dict,
    sha256_file,
    verify_weights,
)
from interanimate.evaluation.backbones import weights as weights_module
from interanimate.evaluation.backbones.i3d import _same_padding
from interanimate.evaluation.backbones.inception import _avg_pool_exclusive
from interanimate.evaluation.backbones.lpips import _ALEX_CONVS

torch.set_num_threads(2)


def _random_state_dict(module, seed=0):
    """Random tensors with exactly the module's names and shapes (as a published file would have)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, tensor in module.state_dict().items():
        if name.endswith("num_batches_tracked"):
            continue  # old published checkpoints lack these counters
        if name.endswith("running_var") or name.endswith("bn.weight"):
            out[name] = torch.rand(tensor.shape, generator=g) + 0.5
        elif tensor.ndim >= 2:  # He-scaled so the signal survives ~50 random layers
            fan_in = tensor[0].numel()
            out[name] = torch.randn(tensor.shape, generator=g) * (2.0 / fan_in) ** 0.5
        else:
            out[name] = torch.randn(tensor.shape, generator=g) * 0.05
    return out


@pytest.fixture(scope="module")
def inception():
    return FIDInceptionV3()


def test_fid_inception_has_published_names_and_shapes(inception):
    sd = inception.state_dict()
    expected = {
        "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
        "Conv2d_4a_3x3.bn.running_var": (192,),
        "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
        "Mixed_6e.branch7x7dbl_5.conv.weight": (192, 192, 1, 7),
        "Mixed_7a.branch7x7x3_4.conv.weight": (192, 192, 3, 3),
        "Mixed_7c.branch_pool.conv.weight": (192, 2048, 1, 1),
        "Mixed_7c.branch3x3dbl_3b.conv.weight": (384, 384, 3, 1),
        "fc.weight": (1008, 2048),
        "fc.bias": (1008,),
    }
    for name, shape in expected.items():
        assert tuple(sd[name].shape) == shape, name
    assert not any(k.startswith("AuxLogits") for k in sd)
    # torchvision's Inception-v3 has 27,161,264 parameters; without the auxiliary head (3,326,696) and
    # with 1008 instead of 1000 classes (+16,392) that is the FID network's 23,850,960
    assert sum(p.numel() for p in inception.parameters()) == 23_850_960
    assert all(m.eps == 0.001 for m in inception.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert inception.Mixed_7c.max_pool and not inception.Mixed_7b.max_pool  # the TF graph's last block max-pools


def test_fid_average_pools_exclude_padding():
    x = torch.ones(1, 1, 5, 5)
    np.testing.assert_allclose(_avg_pool_exclusive(x).numpy(), 1.0)  # with padding counted, corners would be 4/9


def test_fid_inception_loads_safetensors_and_pth_and_names_itself_honestly(inception, tmp_path):
    sd = _random_state_dict(inception)
    save_file(sd, str(tmp_path / "fid.safetensors"))
    torch.save(sd, tmp_path / "fid.pth")
    images = torch.rand(2, 3, 64, 80, generator=torch.Generator().manual_seed(0))
    images[1] = torch.linspace(0, 1, 80).expand(3, 64, 80)  # a smooth ramp vs noise: different statistics
    assert inception.metric_name() == "frechet_inception_v3_pool3_random"
    feats = []
    for name in ("fid.safetensors", "fid.pth"):
        model = FIDInceptionV3()
        info = model.load_weights(tmp_path / name)
        assert info.verification == "none" and not model.is_standard
        assert model.metric_name() == "frechet_inception_v3_pool3_unverified"
        feats.append(model(images))
    assert feats[0].shape == (2, 2048)
    torch.testing.assert_close(feats[0], feats[1])
    assert bool((feats[0] >= 0).all())  # pool3 averages post-ReLU activations
    assert (feats[0][0] - feats[0][1]).abs().max() > 1e-3  # different images, different features
    asserted = FIDInceptionV3()
    asserted.load_weights(tmp_path / "fid.safetensors", assume_standard=True)
    assert asserted.metric_name() == "FID" and asserted.weights_info.verification == "user-asserted"


def test_weights_with_wrong_names_or_shapes_are_refused(inception, tmp_path):
    sd = _random_state_dict(inception)
    sd["Mixed_7c.branch_pool.conv.weight"] = torch.zeros(10, 2048, 1, 1)
    del sd["fc.bias"]
    sd["AuxLogits.fc.weight"] = torch.zeros(3)
    torch.save(sd, tmp_path / "bad.pth")
    with pytest.raises(WeightsError) as err:
        FIDInceptionV3().load_weights(tmp_path / "bad.pth")
    message = str(err.value)
    assert "fc.bias" in message and "AuxLogits.fc.weight" in message and "Mixed_7c.branch_pool.conv.weight" in message


def test_pickled_objects_and_missing_files_are_refused(tmp_path):
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pth")  # a pickled module, not a state dict
    with pytest.raises(WeightsError, match="weights_only"):
        load_state_dict(tmp_path / "module.pth")
    with pytest.raises(WeightsError, match="no such"):
        load_state_dict(tmp_path / "absent.pth")


def test_verification_by_full_hash_and_by_published_name_prefix(tmp_path, monkeypatch):
    path = tmp_path / "w.pth"
    torch.save({"a": torch.zeros(3)}, path)
    digest = sha256_file(path)
    monkeypatch.setitem(PUBLISHED_WEIGHTS, "full", PublishedWeights("full", "FID", "w.pth", "", digest, None, ""))
    monkeypatch.setitem(PUBLISHED_WEIGHTS, "prefix", PublishedWeights("prefix", "FID", f"w-{digest[:8]}.pth", "", None, digest[:8], ""))
    monkeypatch.setitem(PUBLISHED_WEIGHTS, "other", PublishedWeights("other", "FID", "x.pth", "", "0" * 64, None, ""))
    assert verify_weights(path, "full").verification == "sha256"
    assert verify_weights(path, "prefix").verification == "sha256-prefix"
    assert verify_weights(path, "other").verification == "none"
    assert verify_weights(path, "other", assume_standard=True).verification == "user-asserted"


def test_registry_documents_every_backbone():
    for model in (FIDInceptionV3, InceptionI3D, LPIPSAlex):
        entry = PUBLISHED_WEIGHTS[model.registry_key]
        assert entry.metric == model.metric
        assert entry.sha256 is None or len(entry.sha256) == 64
        assert entry.sha256 is not None or entry.sha256_prefix is not None or "unknown" in entry.note.lower()
    assert weights_module.PUBLISHED_WEIGHTS["fid_inception_v3"].file_name.endswith("6726825d.pth")


def test_tf_same_padding():
    assert _same_padding(224, 7, 2) == (2, 3)
    assert _same_padding(7, 3, 1) == (1, 1)
    assert _same_padding(5, 2, 2) == (0, 1)
    assert _same_padding(8, 1, 1) == (0, 0)


def test_i3d_names_shapes_and_fvd_features(tmp_path):
    model = InceptionI3D()
    sd = model.state_dict()
    expected = {
        "Conv3d_1a_7x7.conv3d.weight": (64, 3, 7, 7, 7),
        "Conv3d_1a_7x7.bn.running_mean": (64,),
        "Conv3d_2c_3x3.conv3d.weight": (192, 64, 3, 3, 3),
        "Mixed_3b.b1b.conv3d.weight": (128, 96, 3, 3, 3),
        "Mixed_4f.b3b.conv3d.weight": (128, 528, 1, 1, 1),
        "Mixed_5c.b0.conv3d.weight": (384, 832, 1, 1, 1),
        "logits.conv3d.weight": (400, 1024, 1, 1, 1),
        "logits.conv3d.bias": (400,),
    }
    for name, shape in expected.items():
        assert tuple(sd[name].shape) == shape, name
    assert "logits.bn.weight" not in sd and "Conv3d_1a_7x7.conv3d.bias" not in sd
    save_file(_random_state_dict(model, seed=1), str(tmp_path / "i3d.safetensors"))
    model.load_weights(tmp_path / "i3d.safetensors")
    assert model.metric_name() == "frechet_i3d_logits_unverified"
    videos = torch.rand(2, 3, 16, 64, 64, generator=torch.Generator().manual_seed(0))
    videos[1] = torch.linspace(0, 1, 64).expand(3, 16, 64, 64)  # a static ramp vs noise
    logits = model(videos)
    assert logits.shape == (2, 400) and torch.isfinite(logits).all()
    assert (logits[0] - logits[1]).abs().max() > 1e-3
    assert model.pooled_features(videos[:1, :, :8]).shape == (1, 1024)  # short clips still pool


def _alexnet_torchvision_layout(seed=0):
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for i, (cin, cout, k, _, _) in _ALEX_CONVS.items():
        sd[f"features.{i}.weight"] = torch.randn(cout, cin, k, k, generator=g) * (2.0 / (cin * k * k)) ** 0.5
        sd[f"features.{i}.bias"] = torch.zeros(cout)
    sd["classifier.1.weight"] = torch.zeros(8, 8)  # the classifier is not used by LPIPS and is dropped
    return sd


def test_lpips_names_and_two_file_loading(tmp_path):
    model = LPIPSAlex()
    sd = model.state_dict()
    for k, c in enumerate((64, 192, 384, 256, 256)):
        assert tuple(sd[f"lin{k}.model.1.weight"].shape) == (1, c, 1, 1)
    assert tuple(sd["net.slice1.0.weight"].shape) == (64, 3, 11, 11)
    assert tuple(sd["net.slice5.10.weight"].shape) == (256, 256, 3, 3)
    assert sum(p.numel() for n, p in model.named_parameters() if n.startswith("net.")) == 2_469_696  # AlexNet conv trunk
    lin = {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) for k, c in enumerate((64, 192, 384, 256, 256))}
    torch.save(lin, tmp_path / "alex.pth")
    torch.save(_alexnet_torchvision_layout(), tmp_path / "alexnet.pth")
    model.load_weights(tmp_path / "alex.pth", tmp_path / "alexnet.pth")
    torch.testing.assert_close(model.net.slice3[1].weight, _alexnet_torchvision_layout()["features.6.weight"])
    assert model.metric_name() == "alexnet_lin_unverified" and model.metric_name() != "LPIPS"


def test_lpips_behaves_like_a_distance(tmp_path):
    torch.manual_seed(0)
    model = LPIPSAlex()
    lin = {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) for k, c in enumerate((64, 192, 384, 256, 256))}
    combined = {**LPIPSAlex.backbone_to_lpips_names(_alexnet_torchvision_layout()), **lin,
                "scaling_layer.shift": torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1),
                "scaling_layer.scale": torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)}
    save_file(combined, str(tmp_path / "lpips_full.safetensors"))
    model.load_weights(tmp_path / "lpips_full.safetensors")
    x = torch.rand(3, 3, 64, 64) * 2 - 1
    small = (x + 0.05 * torch.randn_like(x)).clamp(-1, 1)
    large = (x + 0.4 * torch.randn_like(x)).clamp(-1, 1)
    torch.testing.assert_close(model(x, x), torch.zeros(3))
    d_small, d_large = model(x, small), model(x, large)
    assert torch.all(d_small > 0) and torch.all(d_large > d_small)
    torch.testing.assert_close(model(x, large), model(large, x))
    bad = dict(combined)
    bad["scaling_layer.shift"] = torch.zeros(1, 3, 1, 1)
    save_file(bad, str(tmp_path / "bad.safetensors"))
    with pytest.raises(ValueError, match="constants"):
        LPIPSAlex().load_weights(tmp_path / "bad.safetensors")
