"""rtaudio.models: depthwise-separable networks (torch + numpy only).

Use the registry::

    from rtaudio import models
    models.list_models()
    net = models.create("mitas", num_sources=1)
    models.save(net, "mitas.safetensors"); net2 = models.load("mitas.safetensors")
"""

from __future__ import annotations

# Each module registers its family and named variants on import: the list is explicit.
from . import esresnet, mobilenet, pydmobilenet, slicenet, swishnet, tasnet, xception  # noqa: F401
from .counting import count_macs, count_params
from .errors import ConfigError, StreamingError, WeightsError
from .io import load, read_metadata, save
from .registry import build, create, get_config, get_variant, list_families, list_models
from .streaming import State, Streamer, StreamingModule

__all__ = [
    "ConfigError",
    "State",
    "Streamer",
    "StreamingError",
    "StreamingModule",
    "WeightsError",
    "build",
    "count_macs",
    "count_params",
    "create",
    "get_config",
    "get_variant",
    "list_families",
    "list_models",
    "load",
    "read_metadata",
    "save",
]
