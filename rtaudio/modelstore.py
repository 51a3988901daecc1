"""Find and load the weights the engine runs: shipped ones, or a user's directory."""

from __future__ import annotations

import json
import logging
from importlib import resources
from pathlib import Path

from torch import nn

import rtaudio.models as models

log = logging.getLogger(__name__)


def shipped_weights_dir() -> Path:
    return Path(str(resources.files("rtaudio.models"))) / "weights"


def weights_path(name: str, weights_dir: str | Path | None = None) -> Path:
    return Path(weights_dir or shipped_weights_dir()) / f"{name}.safetensors"


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


def quality(name: str, weights_dir: str | Path | None = None) -> str:
    """How good the weights the engine would load are, in one line, from the held-out metrics
    their training recorded (``rtaudio train`` writes them into the file's metadata):
    ``"94.2 % right on held-out sources"``, ``"+6.2 dB median SI-SNR on held-out mixtures"``;
    ``"untrained"`` without a weights file."""
    path = weights_path(name, weights_dir)
    if not path.exists():
        return "untrained"
    try:
        md = models.read_metadata(path)
    except models.WeightsError:
        return "unreadable weights file"
    try:
        test = json.loads(md.get("rtaudio.meta", "{}"))["metrics"]["test"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return "no held-out metrics recorded"
    if not isinstance(test, dict):
        return "no held-out metrics recorded"
    if "median_si_snri" in test:
        return f"{float(test['median_si_snri']):+.1f} dB median SI-SNR on held-out mixtures"
    if "balanced_accuracy" in test and len(test.get("labels", [])) > 3:
        ba = 100 * float(test["balanced_accuracy"])
        return f"{ba:.1f} % per class (balanced) on held-out sources"
    if "accuracy" in test:
        return f"{100 * float(test['accuracy']):.1f} % right on held-out sources"
    return "no held-out metrics recorded"
