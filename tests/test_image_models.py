"""Image classifiers of the zoo: MobileNet V1, Xception, PydMobileNet (and its baselines)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from rtaudio import models
from rtaudio.models import ConfigError, count_macs, count_params
from rtaudio.models.blocks import PyramidDepthwiseConv2d, SeparableConv2d
from rtaudio.models.mobilenet import MobileNetV1Config, round_channels
from rtaudio.models.pydmobilenet import PydMobileNetConfig
from rtaudio.models.xception import XceptionBlock, XceptionConfig

IMAGE_FAMILIES = ("mobilenet", "xception", "pydmobilenet")
IMAGE_VARIANTS = [n for n in models.list_models() if models.get_variant(n).family in IMAGE_FAMILIES]


def test_every_image_family_has_variants() -> None:
    fams = {models.get_variant(n).family for n in IMAGE_VARIANTS}
    assert fams == set(IMAGE_FAMILIES)
    for name in ("mobilenet_v1", "mobilenet_v1_050", "xception", "xception_tiny"):
        assert name in IMAGE_VARIANTS
    for name in ("pydmobilenet", "pydmobilenet_56_1", "mobilenet_29_1", "resnet_29_050"):
        assert name in IMAGE_VARIANTS


# ------------------------------------------------------------------------------ MobileNet


def test_mobilenet_v1_exact_params_and_macs() -> None:
    """Howard et al. Table 6/8: 1.0 MobileNet-224 has 4.2M params and 569M mult-adds.

    4,231,976 is the Keras trainable count (convs without bias, BN gamma/beta, FC with bias).
    """
    model = models.create("mobilenet_v1")
    assert count_params(model) == 4_231_976
    macs = count_macs(model, torch.randn(1, 3, 224, 224))
    assert abs(macs - 569e6) / 569e6 < 0.02


@pytest.mark.parametrize(
    ("name", "params_m", "macs_m"),
    [
        # Howard et al. Table 6 (width multiplier) and Table 8 (0.50 MobileNet-160).
        ("mobilenet_v1_075", 2.6, 325),
        ("mobilenet_v1_050", 1.3, 149),
        ("mobilenet_v1_050_160", 1.32, 76),
        ("mobilenet_v1_025", 0.5, 41),
    ],
)
def test_mobilenet_v1_width_and_resolution_multipliers(
    name: str, params_m: float, macs_m: float
) -> None:
    model = models.create(name)
    cfg = model.config
    assert abs(count_params(model) / 1e6 - params_m) / params_m < 0.06  # paper rounds to 0.1M
    macs = count_macs(model, torch.randn(1, *cfg.input_size))
    assert abs(macs / 1e6 - macs_m) / macs_m < 0.02


def test_mobilenet_v1_layout() -> None:
    model = models.create("mobilenet_v1_025", num_classes=7)
    layers = list(model.layers)
    assert len(layers) == 13
    assert all(isinstance(m, SeparableConv2d) for m in layers)
    assert isinstance(layers[0].mid_norm, nn.BatchNorm2d) and isinstance(layers[0].act, nn.ReLU)
    strides = [m.dw.stride[0] for m in layers]
    assert strides == [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]
    assert model.num_features == 256  # 1024 * 0.25
    feats = model.forward_features(torch.randn(1, 3, 64, 64))
    assert feats.shape == (1, 256, 2, 2)  # total stride 32
    relu6 = models.create("mobilenet_v1_025", act="relu6")
    assert isinstance(relu6.layers[3].mid_act, nn.ReLU6)


def test_round_channels() -> None:
    assert [round_channels(c * 0.25) for c in (32, 64, 1024)] == [8, 16, 256]
    assert round_channels(728 * 0.25) == 184  # 182 -> nearest multiple of 8
    assert round_channels(3.0) == 8  # never below the divisor
    assert round_channels(100 * 0.3, divisor=1) == 30


# ------------------------------------------------------------------------------- Xception


def test_xception_exact_params() -> None:
    """Chollet 2017 Table 3 / Keras: 22,855,952 trainable parameters."""
    model = models.create("xception")
    assert count_params(model) == 22_855_952
    feats = model.forward_features(torch.randn(1, 3, 96, 96))
    assert feats.shape == (1, 2048, 3, 3)


def test_xception_layout() -> None:
    model = models.create("xception_tiny")
    assert len(model.entry) == 3 and len(model.middle) == 2
    first = model.entry[0]
    assert isinstance(first, XceptionBlock)
    # entry block 1 starts without ReLU (the stem ends with one); the others start with one
    assert isinstance(first.pre_acts[0], nn.Identity)
    assert isinstance(model.entry[1].pre_acts[0], nn.ReLU)
    middle = model.middle[0]
    assert isinstance(middle.skip, nn.Identity) and len(middle.convs) == 3
    sep = middle.convs[0]
    # no norm / non-linearity between depthwise and pointwise, BN after the pointwise conv
    assert isinstance(sep.mid_norm, nn.Identity) and isinstance(sep.mid_act, nn.Identity)
    assert isinstance(sep.norm, nn.BatchNorm2d) and isinstance(sep.act, nn.Identity)
    # exit block grows on its last separable conv: 184 -> 184 -> 256 at width 0.25
    assert [c.pw.out_channels for c in model.exit_block.convs] == [184, 256]


def test_xception_width_and_depth_options() -> None:
    small = models.create(
        "xception", width=0.5, middle_blocks=4, num_classes=5, in_chans=1, mean=(0.5,), std=(0.5,)
    )
    assert len(small.middle) == 4
    assert small.num_features == 1024
    assert count_params(small) < 22_855_952 / 3
    y = small(torch.randn(2, 1, 64, 64))
    assert y.shape == (2, 5)
    no_middle = models.create("xception_tiny", middle_blocks=0)
    assert len(no_middle.middle) == 0
    assert no_middle(torch.randn(1, 1, 64, 64)).shape == (1, 10)


# --------------------------------------------------------------------------- PydMobileNet

# Hoang & Jo 2018 table (CIFAR-10 #params, M) and the exact counts of the authors' released
# CIFAR-10 models (MXNet symbol files, summed the same way: no BN running statistics).
PYD_TABLE: list[tuple[dict[str, Any], float, int]] = [
    (dict(depth=29, width=1.0, block="pyramid"), 0.193, 192_522),
    (dict(depth=29, width=0.75, block="pyramid"), 0.148, 148_210),
    (dict(depth=29, width=0.5, block="pyramid"), 0.104, 103_898),
    (dict(depth=29, width=0.25, block="pyramid"), 0.060, 59_586),
    (dict(depth=56, width=1.0, block="pyramid"), 0.382, 382_698),
    (dict(depth=56, width=0.5, block="pyramid"), 0.200, 200_330),
    (dict(depth=56, width=0.25, block="pyramid"), 0.109, 109_146),
    (dict(depth=29, width=1.0, block="depthwise"), 0.142, 142_794),
    (dict(depth=29, width=0.5, block="depthwise"), 0.079, 79_034),
    (dict(depth=29, width=1.5, block="depthwise"), 0.206, 206_554),
    (dict(depth=56, width=1.0, block="depthwise"), 0.283, 283_242),
    (dict(depth=29, width=0.5, block="standard"), 0.221, 221_162),
    (dict(depth=56, width=0.5, block="standard"), 0.435, 434_858),
]


@pytest.mark.parametrize(("kwargs", "paper_m", "released"), PYD_TABLE)
def test_pydmobilenet_params_match_paper(
    kwargs: dict[str, Any], paper_m: float, released: int
) -> None:
    model = models.build(PydMobileNetConfig(**kwargs))
    n = count_params(model)
    assert abs(n / 1e6 - paper_m) / paper_m < 0.05
    assert n == released


@pytest.mark.parametrize(
    ("name", "released"),
    [
        ("pydmobilenet", 192_522),
        ("pydmobilenet_56_1", 382_698),
        ("mobilenet_29_1", 142_794),
        ("mobilenet_56_1", 283_242),
        ("resnet_29_050", 221_162),
    ],
)
def test_pydmobilenet_registered_counts(name: str, released: int) -> None:
    assert count_params(models.create(name)) == released


def test_pydmobilenet_cifar100_head() -> None:
    """The authors' note: CIFAR-100 adds (128 + 1) * 90 parameters."""
    ten = count_params(models.create("pydmobilenet"))
    hundred = count_params(models.create("pydmobilenet", num_classes=100))
    assert hundred - ten == 129 * 90


def test_pydmobilenet_blocks() -> None:
    pyd = models.create("pydmobilenet")
    cfg = pyd.config
    assert cfg.blocks_per_stage == 3 and len(pyd.blocks) == 9
    conv = pyd.blocks[0].conv
    assert isinstance(conv, SeparableConv2d) and isinstance(conv.dw, PyramidDepthwiseConv2d)
    assert [c.kernel_size[0] for c in conv.dw.convs] == [3, 5, 7]
    assert [pyd.blocks[i].conv.dw.convs[0].stride[0] for i in (0, 3, 6)] == [1, 2, 2]
    dw = models.create("mobilenet_29_1").blocks[4].conv.dw
    assert isinstance(dw, nn.Conv2d) and dw.groups == dw.in_channels == 64
    std = models.create("resnet_29_050").blocks[4].conv.dw
    assert isinstance(std, nn.Conv2d) and std.groups == 1 and std.in_channels == 32
    assert pyd.forward_features(torch.randn(1, 3, 32, 32)).shape == (1, 128, 8, 8)
    # the pyramid sums its branches: dropping the 5x5 and 7x7 kernels changes the output
    pyd.eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        y = pyd(x)
        for block in pyd.blocks:
            for c in block.conv.dw.convs[1:]:
                c.weight.zero_()
        assert not torch.allclose(pyd(x), y)


def test_pydmobilenet_macs() -> None:
    """Paper FLOPs (mult-adds): 34M for 29-1, 69M for 56-1; ours within 10 %."""
    for name, paper in (("pydmobilenet", 34e6), ("pydmobilenet_56_1", 69e6)):
        macs = count_macs(models.create(name), torch.randn(1, 3, 32, 32))
        assert abs(macs - paper) / paper < 0.10


# -------------------------------------------------------------------------------- shared


def _small_input(cfg: Any) -> torch.Tensor:
    side = min(cfg.resolution, 64)
    return torch.randn(2, cfg.in_chans, side, side)


@pytest.mark.parametrize("name", IMAGE_VARIANTS)
def test_forward_shape_every_variant(name: str) -> None:
    model = models.create(name).eval()
    cfg = model.config
    assert cfg.input_size == (cfg.in_chans, cfg.resolution, cfg.resolution)
    assert len(cfg.mean) in (1, cfg.in_chans) and 0 < cfg.crop_pct <= 1
    with torch.no_grad():
        y = model(_small_input(cfg))
    assert y.shape == (2, cfg.num_classes)
    assert torch.isfinite(y).all()


def test_preprocessing_defaults() -> None:
    """timm pretrained_cfg of mobilenetv1_100 and legacy_xception."""
    mb = models.get_config("mobilenet_v1")
    assert mb.input_size == (3, 224, 224) and mb.crop_pct == 0.875
    assert mb.interpolation == "bicubic" and mb.mean == mb.std == (0.5, 0.5, 0.5)
    xc = models.get_config("xception")
    assert xc.input_size == (3, 299, 299) and xc.crop_pct == 0.8975
    assert xc.interpolation == "bicubic" and xc.mean == xc.std == (0.5, 0.5, 0.5)
    assert models.get_config("pydmobilenet").input_size == (3, 32, 32)


@pytest.mark.parametrize("model_name", ["pydmobilenet", "xception_tiny", "mobilenet_v1_025"])
def test_backward_reaches_every_parameter(model_name: str) -> None:
    model = models.create(model_name, num_classes=4)
    cfg = model.config
    x = torch.randn(2, cfg.in_chans, 32, 32)
    loss = nn.functional.cross_entropy(model(x), torch.tensor([0, 3]))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("mobilenet_v1_025", dict(num_classes=7, act="relu6")),
        ("xception_tiny", dict(num_classes=3, middle_blocks=1)),
        ("pydmobilenet", dict(depth=20, kernel_sizes=(3, 5), num_classes=100)),
        ("resnet_29_050", {}),
        ("mobilenet_v1", dict(in_chans=1, mean=(0.45,), std=(0.25,), alpha=0.25)),
    ],
)
def test_save_load_round_trip(tmp_path: Path, name: str, overrides: dict[str, Any]) -> None:
    model = models.create(name, **overrides)
    # train a step so BN running statistics are not the defaults
    model.train()
    model(_small_input(model.config))
    model.eval()
    path = models.save(model, tmp_path / f"{name}.safetensors", meta={"classes": "abc"})
    loaded = models.load(path)
    assert loaded.config == model.config
    assert type(loaded.config.mean) is tuple
    assert loaded.meta == {"classes": "abc"}
    x = _small_input(model.config)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize(
    ("cls", "kwargs", "match"),
    [
        (MobileNetV1Config, dict(alpha=0.0), "alpha"),
        (MobileNetV1Config, dict(alpha=-0.5), "alpha"),
        (MobileNetV1Config, dict(alpha=5.0), "alpha"),
        (MobileNetV1Config, dict(resolution=16), "resolution 16 is too small"),
        (MobileNetV1Config, dict(act="mish"), "activation"),
        (MobileNetV1Config, dict(num_classes=0), "num_classes"),
        (MobileNetV1Config, dict(in_chans=0), "in_chans"),
        (MobileNetV1Config, dict(dropout=1.0), "dropout"),
        (MobileNetV1Config, dict(crop_pct=0.0), "crop_pct"),
        (MobileNetV1Config, dict(interpolation="lanczos9"), "interpolation"),
        (MobileNetV1Config, dict(in_chans=1), "mean has 3 values"),
        (MobileNetV1Config, dict(std=(0.5, 0.0, 0.5)), "std values"),
        (MobileNetV1Config, dict(mean=[0.5, 0.5, 0.5]), "tuple"),
        (MobileNetV1Config, dict(channel_divisor=0), "channel_divisor"),
        (XceptionConfig, dict(width=0.0), "width"),
        (XceptionConfig, dict(middle_blocks=-1), "middle_blocks"),
        (XceptionConfig, dict(resolution=31), "too small"),
        (PydMobileNetConfig, dict(depth=30), "9n \\+ 2"),
        (PydMobileNetConfig, dict(depth=2), "9n \\+ 2"),
        (PydMobileNetConfig, dict(width=0.0), "width"),
        (PydMobileNetConfig, dict(width=0.01), "0 channels"),
        (PydMobileNetConfig, dict(block="inception"), "unknown block"),
        (PydMobileNetConfig, dict(kernel_sizes=(3, 4)), "odd"),
        (PydMobileNetConfig, dict(kernel_sizes=(3, 3)), "distinct"),
        (PydMobileNetConfig, dict(kernel_sizes=()), "non-empty"),
        (PydMobileNetConfig, dict(channels=(32, 64)), "3 stage widths"),
        (PydMobileNetConfig, dict(resolution=4), "too small"),
    ],
)
def test_config_validation(cls: type, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        cls(**kwargs)


def test_create_rejects_bad_overrides() -> None:
    with pytest.raises(ConfigError, match="alpha"):
        models.create("mobilenet_v1", alpha=0)
    with pytest.raises(ConfigError, match="no field"):
        models.create("xception", depth=3)
