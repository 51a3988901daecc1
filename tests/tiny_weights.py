"""Small SwishNet / ESResNet / MiTAS saved under the names the engine loads: the live
pipeline at a fraction of the shipped models' cost, for tests that run it for long."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch

from rtaudio import models

TINY: dict[str, dict[str, object]] = {
    "swishnet": dict(width=1, front_filters=(4, 4, 4)),
    "esresnet": dict(base_channels=4, blocks=(1, 1, 1, 1)),
    "mitas": dict(
        enc_channels=16, bn_channels=8, hidden_channels=16, skip_channels=8, layers=1, stacks=1
    ),
}


def save_tiny_weights(wdir: Path, names: Iterable[str] = tuple(TINY)) -> Path:
    """Write ``<name>.safetensors`` for each of ``names`` into ``wdir``; returns ``wdir``."""
    wdir.mkdir(parents=True, exist_ok=True)
    for name in names:
        torch.manual_seed(0)
        models.save(models.create(name, **TINY[name]), wdir / f"{name}.safetensors")
    return wdir
