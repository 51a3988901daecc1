"""Find and load the weights the engine runs: shipped ones, or a user's directory."""

from __future__ import annotations

import logging
from pathlib import Path

from torch import nn

import rtaudio.models as models
from rtaudio.weights import weights_path

log = logging.getLogger(__name__)


def load_model(name: str, weights_dir: str | Path | None = None) -> tuple[nn.Module, bool]:
    """``(model in eval mode, trained)``. Without a weights file the model is untrained.

    A weights file that exists but is unreadable or does not fit raises
    :class:`rtaudio.models.WeightsError`: a broken file is never silently replaced; so does a
    ``weights_dir`` that is not a folder (a typo would otherwise run every model untrained).
    """
    family = models.get_variant(name).family
    if weights_dir is not None and not Path(weights_dir).is_dir():
        raise models.WeightsError(
            f"weights_dir {weights_dir} is not a folder (it should hold NAME.safetensors files; "
            "leave it unset for the shipped weights)"
        )
    path = weights_path(name, weights_dir)
    if path.exists():
        return models.load(path, family=family), True
    log.warning("no trained weights for %s at %s: running it untrained", name, path)
    return models.create(name).eval(), False
