"""The registry, config round trips and the weights format, over every registered model."""

from __future__ import annotations

import dataclasses

import pytest

from rtaudio import models
from rtaudio.models import ConfigError
from rtaudio.models.registry import config_from_dict, register

REQUIRED = (
    "mitas",
    "tsenet",
    "swishnet",
    "esresnet",
    "mobilenet_v1",
    "xception",
    "pydmobilenet",
    "slicenet",
)


def test_required_models_are_registered() -> None:
    names = models.list_models()
    missing = [n for n in REQUIRED if n not in names]
    assert not missing, missing
    assert names == sorted(names)


@pytest.mark.parametrize("name", models.list_models())
def test_every_variant_builds_and_config_round_trips(name: str) -> None:
    variant = models.get_variant(name)
    cfg = variant.config
    back = config_from_dict(variant.family, dataclasses.asdict(cfg))
    assert back == cfg
    assert models.count_params(models.create(name)) > 0


def test_unknown_names_and_fields_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match=r"unknown model 'nope'.*available"):
        models.create("nope")
    with pytest.raises(ConfigError, match="no field"):
        models.create("mitas", widht=3)
    with pytest.raises(ConfigError, match="registered twice"):
        register("mitas", "mitas", models.get_config("mitas"))
    with pytest.raises(ConfigError, match="no field"):
        config_from_dict("mitas", {"nonsense": 1})
