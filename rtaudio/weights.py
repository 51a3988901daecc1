"""Where weights files are, and what their training measured, read without loading them.

Nothing here imports torch or the models: the window shows each model's held-out result from
the metadata of its ``.safetensors`` file (an 8-byte length, then a JSON header whose
``__metadata__`` holds what ``rtaudio train`` recorded) while torch stays in the engine's
process.
"""

from __future__ import annotations

import importlib.util
import json
import struct
from pathlib import Path
from typing import Any

MAX_HEADER = 100 << 20  # a safetensors header larger than this is not one


def shipped_weights_dir() -> Path:
    """``rtaudio/models/weights`` wherever the package is installed (found without importing
    ``rtaudio.models``, which imports torch)."""
    spec = importlib.util.find_spec("rtaudio.models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the rtaudio.models package is missing from this installation")
    return Path(next(iter(spec.submodule_search_locations))) / "weights"


def weights_path(name: str, weights_dir: str | Path | None = None) -> Path:
    return Path(weights_dir or shipped_weights_dir()) / f"{name}.safetensors"


def read_header_metadata(path: Path) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file; ValueError if it is not one."""
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ValueError("too short for a safetensors header")
        (n,) = struct.unpack("<Q", head)
        if not 2 <= n <= MAX_HEADER:
            raise ValueError(f"header length {n} out of range")
        raw = f.read(n)
    if len(raw) < n:
        raise ValueError("header cut short")
    header = json.loads(raw)
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    meta = header.get("__metadata__", {})
    return meta if isinstance(meta, dict) else {}


def quality(name: str, weights_dir: str | Path | None = None) -> str:
    """How good the weights the engine would load are, in one line, from the held-out metrics
    their training recorded: ``"94.2 % right on held-out sources"``, ``"58.6 % per class
    (balanced) on held-out sources"``, ``"+6.2 dB median SI-SNRi on held-out mixtures"``,
    ``"5.1 % phoneme errors on held-out words"``;
    ``"untrained"`` without a weights file."""
    path = weights_path(name, weights_dir)
    if not path.exists():
        return "untrained"
    try:
        meta = read_header_metadata(path)
    except (OSError, ValueError):  # json.JSONDecodeError is a ValueError
        return "unreadable weights file"
    try:
        test: Any = json.loads(meta.get("rtaudio.meta", "{}"))["metrics"]["test"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return "no held-out metrics recorded"
    if not isinstance(test, dict):
        return "no held-out metrics recorded"
    try:
        if "per" in test:
            return f"{100 * float(test['per']):.1f} % phoneme errors on held-out words"
        if "median_si_snri" in test:
            return f"{float(test['median_si_snri']):+.1f} dB median SI-SNRi on held-out mixtures"
        if "balanced_accuracy" in test and len(test.get("labels", [])) > 3:
            ba = 100 * float(test["balanced_accuracy"])
            return f"{ba:.1f} % per class (balanced) on held-out sources"
        if "accuracy" in test:
            return f"{100 * float(test['accuracy']):.1f} % right on held-out sources"
    except (TypeError, ValueError):
        pass
    return "no held-out metrics recorded"
