"""Convert timm ImageNet weights to the zoo's image models (pure key / shape mapping).

Supported timm architectures (``timm.create_model(name).state_dict()``, or the safetensors
files timm publishes; timm itself is never imported here):

* ``mobilenetv1_100`` (timm ``efficientnet.py``: ``_gen_mobilenet_v1`` with the
  ``dsa_r1_k3_s1_c64, dsa_r2_k3_s2_c128, dsa_r2_k3_s2_c256, dsa_r6_k3_s2_c512,
  dsa_r2_k3_s2_c1024`` arch string, no head conv, ReLU6) -> family ``mobilenet``
  (``act="relu6"``). Keys ``conv_stem``, ``bn1``, ``blocks.{stage}.{i}.{conv_dw,bn1,conv_pw,
  bn2}``, ``classifier``.
* ``legacy_xception`` (timm ``xception.py``, the Cadene / Keras port) -> family ``xception``.
  Keys ``conv1``, ``bn1``, ``conv2``, ``bn2``, ``block{1..12}.{skip,skipbn,rep.{j}}``,
  ``conv3``, ``bn3``, ``conv4``, ``bn4``, ``fc``; inside ``rep`` each unit is
  ``[ReLU], SeparableConv2d(conv1 = depthwise, pointwise), BatchNorm2d``.

Both nets use symmetric PyTorch padding (timm ``pad_type=''``), which our blocks also use, so a
converted model gives the same logits as timm's. The configs also take the preprocessing of
timm's ``pretrained_cfg`` (input size, crop_pct, bicubic, mean = std = 0.5).

Errors (:class:`WeightsError`) name the first unexpected / missing key or wrong shape. A
missing ``num_batches_tracked`` is filled with 0 (old checkpoints lack it).

Example::

    sd = safetensors.torch.load_file("mobilenetv1_100.safetensors")
    model = from_timm("mobilenetv1_100", sd)          # eval mode, ready to save()
    timm_sd = to_timm(model)                          # back to timm's names
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from .errors import ConfigError, WeightsError
from .mobilenet import MOBILENET_V1_LAYERS, MobileNetV1Config
from .registry import build, get_config
from .xception import XceptionConfig

BN_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
OPTIONAL_SUFFIX = "num_batches_tracked"


def _bn(src: str, dst: str) -> dict[str, str]:
    return {f"{src}.{k}": f"{dst}.{k}" for k in BN_KEYS}


def _stages(layers: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
    """(stage, index in stage) of each MobileNet layer: a stride-2 layer opens a new stage."""
    out: list[tuple[int, int]] = []
    stage, idx = 0, 0
    for i, (_, stride) in enumerate(layers):
        if i > 0 and stride == 2:
            stage, idx = stage + 1, 0
        out.append((stage, idx))
        idx += 1
    return out


# ------------------------------------------------------------------------------- key maps


def mobilenetv1_key_map(config: MobileNetV1Config) -> dict[str, str]:
    """timm ``mobilenetv1_*`` key -> our ``mobilenet`` key, for every tensor."""
    m = {"conv_stem.weight": "stem.weight", **_bn("bn1", "stem_norm")}
    for i, (stage, j) in enumerate(_stages(MOBILENET_V1_LAYERS)):
        src, dst = f"blocks.{stage}.{j}", f"layers.{i}"
        m[f"{src}.conv_dw.weight"] = f"{dst}.dw.weight"
        m.update(_bn(f"{src}.bn1", f"{dst}.mid_norm"))
        m[f"{src}.conv_pw.weight"] = f"{dst}.pw.weight"
        m.update(_bn(f"{src}.bn2", f"{dst}.norm"))
    m["classifier.weight"] = "classifier.weight"
    m["classifier.bias"] = "classifier.bias"
    return m


def _xception_block(
    src: str, dst: str, reps: int, start_with_relu: bool, has_skip: bool
) -> dict[str, str]:
    m: dict[str, str] = {}
    if has_skip:
        m[f"{src}.skip.weight"] = f"{dst}.skip.0.weight"
        m.update(_bn(f"{src}.skipbn", f"{dst}.skip.1"))
    offset = 1 if start_with_relu else 0  # timm drops the leading ReLU from ``rep``
    for i in range(reps):
        sep, bn = 3 * i + offset, 3 * i + offset + 1
        m[f"{src}.rep.{sep}.conv1.weight"] = f"{dst}.convs.{i}.dw.weight"
        m[f"{src}.rep.{sep}.pointwise.weight"] = f"{dst}.convs.{i}.pw.weight"
        m.update(_bn(f"{src}.rep.{bn}", f"{dst}.convs.{i}.norm"))
    return m


def xception_key_map(config: XceptionConfig) -> dict[str, str]:
    """timm ``legacy_xception`` key -> our ``xception`` key, for every tensor."""
    m = {
        "conv1.weight": "stem.0.weight",
        **_bn("bn1", "stem.1"),
        "conv2.weight": "stem.3.weight",
        **_bn("bn2", "stem.4"),
    }
    for i in range(3):
        m.update(_xception_block(f"block{i + 1}", f"entry.{i}", 2, i > 0, True))
    for j in range(config.middle_blocks):
        m.update(_xception_block(f"block{j + 4}", f"middle.{j}", 3, True, False))
    m.update(_xception_block(f"block{config.middle_blocks + 4}", "exit_block", 2, True, True))
    for n, k in ((3, 0), (4, 1)):
        m[f"conv{n}.conv1.weight"] = f"exit.{k}.dw.weight"
        m[f"conv{n}.pointwise.weight"] = f"exit.{k}.pw.weight"
        m.update(_bn(f"bn{n}", f"exit.{k}.norm"))
    m["fc.weight"] = "fc.weight"
    m["fc.bias"] = "fc.bias"
    return m


# ------------------------------------------------------------------------ config inference


def _shape(sd: Mapping[str, Tensor], key: str, arch: str) -> tuple[int, ...]:
    if key not in sd:
        raise WeightsError(f"{arch}: state dict has no {key!r}; is this a timm {arch} checkpoint?")
    return tuple(sd[key].shape)


def _image_overrides(in_chans: int, overrides: dict[str, Any]) -> dict[str, Any]:
    if in_chans != 3:  # the timm defaults are 3-channel; keep the (equal) per-channel value
        overrides.setdefault("mean", (0.5,))
        overrides.setdefault("std", (0.5,))
    return overrides


def mobilenetv1_config(sd: Mapping[str, Tensor], **overrides: Any) -> MobileNetV1Config:
    """The ``mobilenet`` config matching a timm ``mobilenetv1_*`` state dict (ReLU6)."""
    arch = "mobilenetv1_100"
    num_classes, features = _shape(sd, "classifier.weight", arch)
    in_chans = _shape(sd, "conv_stem.weight", arch)[1]
    kw: dict[str, Any] = {
        "alpha": features / MOBILENET_V1_LAYERS[-1][0],
        "num_classes": num_classes,
        "in_chans": in_chans,
        "act": "relu6",
    }
    kw.update(_image_overrides(in_chans, overrides))
    try:
        cfg = get_config("mobilenet_v1", **kw)
    except ConfigError as e:
        raise WeightsError(f"{arch}: cannot derive a mobilenet config: {e}") from None
    assert isinstance(cfg, MobileNetV1Config)
    return cfg


def xception_config(sd: Mapping[str, Tensor], **overrides: Any) -> XceptionConfig:
    """The ``xception`` config matching a timm ``legacy_xception`` state dict."""
    arch = "legacy_xception"
    num_classes, features = _shape(sd, "fc.weight", arch)
    in_chans = _shape(sd, "conv1.weight", arch)[1]
    blocks = {int(k.split(".")[0][5:]) for k in sd if k.startswith("block") and k[5].isdigit()}
    if not blocks or blocks != set(range(1, max(blocks) + 1)) or max(blocks) < 4:
        raise WeightsError(f"{arch}: expected blocks block1..blockN with N >= 4, got {blocks}")
    kw: dict[str, Any] = {
        "num_classes": num_classes,
        "in_chans": in_chans,
        "width": features / 2048,
        "middle_blocks": max(blocks) - 4,
    }
    kw.update(_image_overrides(in_chans, overrides))
    try:
        cfg = get_config("xception", **kw)
    except ConfigError as e:
        raise WeightsError(f"{arch}: cannot derive an xception config: {e}") from None
    assert isinstance(cfg, XceptionConfig)
    return cfg


# ------------------------------------------------------------------------------ conversion


def _expected_shapes(config: Any) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        model = build(config)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def remap(
    state_dict: Mapping[str, Tensor],
    key_map: Mapping[str, str],
    expected: Mapping[str, tuple[int, ...]],
    source: str,
) -> dict[str, Tensor]:
    """Rename ``state_dict`` through ``key_map`` and check every shape against ``expected``.

    Raises:
        WeightsError: a key not in ``key_map``, a mapped key missing from ``state_dict``
            (``num_batches_tracked`` excepted: it is filled with 0), or a wrong shape.
    """
    unexpected = sorted(k for k in state_dict if k not in key_map)
    if unexpected:
        raise WeightsError(
            f"{source}: unexpected key {unexpected[0]!r} ({len(unexpected)} unexpected in all)"
        )
    missing = sorted(k for k in key_map if k not in state_dict and not k.endswith(OPTIONAL_SUFFIX))
    if missing:
        raise WeightsError(f"{source}: missing key {missing[0]!r} ({len(missing)} missing in all)")
    out: dict[str, Tensor] = {}
    for src, dst in key_map.items():
        if src not in state_dict:
            out[dst] = torch.zeros((), dtype=torch.long)
            continue
        t = state_dict[src]
        if dst not in expected:  # a key map that does not fit its config: a bug here
            raise WeightsError(f"{source}: {src!r} maps to {dst!r}, which the model lacks")
        if tuple(t.shape) != expected[dst]:
            raise WeightsError(
                f"{source}: {src!r} has shape {tuple(t.shape)}, expected {expected[dst]} "
                f"(for {dst!r})"
            )
        out[dst] = t
    return out


_ARCHS: dict[str, tuple[Callable[..., Any], Callable[[Any], dict[str, str]]]] = {
    "mobilenetv1_100": (mobilenetv1_config, mobilenetv1_key_map),
    "legacy_xception": (xception_config, xception_key_map),
}
TIMM_ARCHS = tuple(_ARCHS)


def convert(
    arch: str, state_dict: Mapping[str, Tensor], **overrides: Any
) -> tuple[Any, dict[str, Tensor]]:
    """Map a timm ``arch`` state dict to ``(config, our state dict)``.

    Args:
        arch: ``mobilenetv1_100`` or ``legacy_xception``.
        state_dict: timm's tensors, by timm's names.
        overrides: config fields to set besides those read from the shapes (e.g. ``dropout``).
    """
    if arch not in _ARCHS:
        raise WeightsError(f"unsupported timm architecture {arch!r}; supported: {TIMM_ARCHS}")
    make_config, make_map = _ARCHS[arch]
    config = make_config(state_dict, **overrides)
    return config, remap(state_dict, make_map(config), _expected_shapes(config), arch)


def convert_mobilenetv1(
    state_dict: Mapping[str, Tensor], **overrides: Any
) -> tuple[MobileNetV1Config, dict[str, Tensor]]:
    """timm ``mobilenetv1_100`` state dict -> ``(MobileNetV1Config, state dict)``."""
    config, sd = convert("mobilenetv1_100", state_dict, **overrides)
    return config, sd


def convert_legacy_xception(
    state_dict: Mapping[str, Tensor], **overrides: Any
) -> tuple[XceptionConfig, dict[str, Tensor]]:
    """timm ``legacy_xception`` state dict -> ``(XceptionConfig, state dict)``."""
    config, sd = convert("legacy_xception", state_dict, **overrides)
    return config, sd


def from_timm(arch: str, state_dict: Mapping[str, Tensor], **overrides: Any) -> nn.Module:
    """Build our model from a timm state dict, in eval mode (``rtaudio.models.save`` it)."""
    config, sd = convert(arch, state_dict, **overrides)
    model = build(config)
    model.load_state_dict(sd, strict=True)
    return model.eval()


def to_timm(model: nn.Module) -> dict[str, Tensor]:
    """Our ``mobilenet`` / ``xception`` model's tensors under timm's names (inverse map)."""
    config = getattr(model, "config", None)
    if isinstance(config, MobileNetV1Config):
        key_map = mobilenetv1_key_map(config)
    elif isinstance(config, XceptionConfig):
        key_map = xception_key_map(config)
    else:
        raise WeightsError(f"no timm layout for a {type(config).__name__} model")
    ours = model.state_dict()
    return {src: ours[dst] for src, dst in key_map.items()}


__all__ = [
    "TIMM_ARCHS",
    "convert",
    "convert_legacy_xception",
    "convert_mobilenetv1",
    "from_timm",
    "mobilenetv1_config",
    "mobilenetv1_key_map",
    "remap",
    "to_timm",
    "xception_config",
    "xception_key_map",
]
