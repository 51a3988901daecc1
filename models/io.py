"""Save and load models as safetensors files with their config as metadata (never pickle).

Metadata keys:

* ``rtaudio.format``: file format version (``"1"``);
* ``rtaudio.family``: model family (``mitas``, ``swishnet``...);
* ``rtaudio.config``: the family's config dataclass as JSON;
* ``rtaudio.sha256``: digest of every tensor (name, dtype, shape, bytes), so a file whose
  tensors were edited after saving is refused;
* ``rtaudio.meta``: free JSON for the caller (class names, training summary...).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as serialise
from torch import Tensor, nn

from .errors import ConfigError, WeightsError
from .registry import build, config_from_dict, config_to_json, family_of_config

FORMAT = "1"


def tensor_digest(tensors: dict[str, Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def save(
    model: nn.Module, path: str | os.PathLike[str], meta: dict[str, Any] | None = None
) -> Path:
    """Write ``model`` (weights + config + ``meta``) to ``path`` atomically."""
    config = getattr(model, "config", None)
    if config is None:
        raise WeightsError("model has no .config; build it with rtaudio.models.create()")
    family = family_of_config(config).name
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    seen: dict[int, str] = {}
    for k in list(tensors):  # safetensors refuses aliases: store each storage once
        ptr = tensors[k].untyped_storage().data_ptr()
        if ptr in seen and tensors[k].numel():
            tensors[k] = tensors[k].clone()
        seen[ptr] = k
    metadata = {
        "rtaudio.format": FORMAT,
        "rtaudio.family": family,
        "rtaudio.config": config_to_json(config),
        "rtaudio.sha256": tensor_digest(tensors),
        "rtaudio.meta": json.dumps(meta or {}, sort_keys=True),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # serialised in memory and written to a new file of ours: safetensors' save_file (like
    # mkstemp) creates files 0600, weights that no one else on the machine could read
    data = serialise(tensors, metadata=metadata)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The metadata of a weights file, with a clear error for unreadable files."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"{path}: not a readable safetensors file ({e})") from None


def load(path: str | os.PathLike[str], family: str | None = None, device: str = "cpu") -> nn.Module:
    """Load a model saved by :func:`save`, in eval mode, with ``.meta`` holding its metadata.

    Args:
        path: the ``.safetensors`` file.
        family: if given, refuse files of any other family (``mitas``, ``swishnet``...).
        device: where to put the weights.

    Raises:
        WeightsError: the file is missing, unreadable, tampered with, or does not fit.
    """
    path = Path(path)
    md = read_metadata(path)
    if md.get("rtaudio.format") != FORMAT or "rtaudio.config" not in md:
        raise WeightsError(f"{path}: not an rtaudio weights file (no rtaudio metadata)")
    fam = md.get("rtaudio.family", "?")
    if family is not None and fam != family:
        raise WeightsError(f"{path}: holds a {fam!r} model, expected {family!r}")
    try:
        config = config_from_dict(fam, json.loads(md["rtaudio.config"]))
    except (ConfigError, json.JSONDecodeError) as e:
        raise WeightsError(f"{path}: bad model config in metadata: {e}") from None
    try:
        with safe_open(str(path), framework="pt", device=device) as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"{path}: cannot read tensors ({e})") from None
    if tensor_digest(tensors) != md.get("rtaudio.sha256"):
        raise WeightsError(f"{path}: tensor checksum mismatch (file altered or corrupt)")
    model = build(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise WeightsError(
            f"{path}: tensors do not match a {fam} model with this config "
            f"(missing {missing[:5]}, unexpected {extra[:5]})"
        )
    bad = [k for k, v in expected.items() if tuple(v.shape) != tuple(tensors[k].shape)]
    if bad:
        k = bad[0]
        raise WeightsError(
            f"{path}: shape of {k} is {tuple(tensors[k].shape)}, "
            f"the config needs {tuple(expected[k].shape)}"
        )
    model.load_state_dict(tensors)
    model.to(device).eval()
    try:
        model.meta = json.loads(md.get("rtaudio.meta", "{}"))
    except json.JSONDecodeError:
        raise WeightsError(f"{path}: bad rtaudio.meta JSON") from None
    return model
