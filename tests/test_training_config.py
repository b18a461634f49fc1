"""Config schema: presets merge over the dataclasses, overrides last, unknown keys are errors."""

from __future__ import annotations

import pytest

from interanimate.training.config import ConfigError, load_config, to_dict, config_from_dict


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_presets_load(preset):
    config = load_config(preset)
    assert config.data.resolution in (32, 64)


def test_overrides_apply_with_types():
    config = load_config("tiny", ["train.learning_rate=1e-4", "model.interaction.enabled=false",
                                  "model.unet.block_out_channels=[16,32]", "loss.prediction_type=v_prediction"])
    assert config.train.learning_rate == 1e-4
    assert config.model.interaction.enabled is False
    assert config.model.unet.block_out_channels == (16, 32)
    assert config.loss.prediction_type == "v_prediction"


@pytest.mark.parametrize("override, message", [
    ("model.unet.chanels=3", "unknown config key 'model.unet.chanels'"),
    ("train.learning_rate=fast", "expected a number"),
    ("model.id_preserver.enabled=3", "expected true/false"),
    ("loss.prediction_type=x0", "prediction_type"),
    ("no_equals_sign", "key=value"),
    ("loss.prediction_type=epsilon scheduler.zero_terminal_snr=true", "needs loss.prediction_type=v_prediction"),
    ("train.init_modules=[vae]", "train.init_from is not"),
    ("train.init_from=/runs/a train.init_modules=[unet,decoder]", "unknown part.s. decoder"),
])
def test_bad_overrides_are_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("tiny", override.split(" "))


def test_sd15_needs_local_weights():
    with pytest.raises(ConfigError, match="model.pretrained.sd_path"):
        load_config("sd15")
    config = load_config("sd15", ["model.pretrained.sd_path=/models/sd15"])
    assert config.train.mixed_precision == "bf16"


def test_unknown_preset_is_an_error():
    with pytest.raises(ConfigError, match="unknown preset"):
        load_config("huge")


def test_resolved_config_round_trips():
    config = load_config("small", ["train.seed=7"])
    assert config_from_dict(to_dict(config)) == config
