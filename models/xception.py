"""Xception: residual stacks of depthwise-separable convolutions.

Chollet, "Xception: Deep Learning with Depthwise Separable Convolutions", CVPR 2017, Figure 5.

* Entry flow: two 3x3 convs (32 stride 2, 64; unpadded, each BN + ReLU), then three residual
  modules ``[ReLU] -> SepConv -> BN -> ReLU -> SepConv -> BN -> MaxPool 3x3/2`` with 128, 256
  and 728 channels; the shortcut is a 1x1 stride-2 conv + BN (the first module starts without
  ReLU since the stem already ends in one).
* Middle flow: ``middle_blocks`` (8) identity-shortcut modules of three
  ``ReLU -> SepConv(728) -> BN``.
* Exit flow: ``ReLU -> SepConv(728) -> BN -> ReLU -> SepConv(1024) -> BN -> MaxPool`` with a
  1x1 stride-2 shortcut, then ``SepConv(1536) -> BN -> ReLU -> SepConv(2048) -> BN -> ReLU``,
  global average pooling and a fully connected layer.

Every SepConv is a 3x3 depthwise conv straight into a 1x1 pointwise conv, without norm or
non-linearity in between (section 4.7 of the paper). The ImageNet configuration has
22,855,952 trainable parameters (Table 3 / Keras). ``width`` scales every channel count and
``middle_blocks`` sets the middle-flow depth, for small variants such as ``xception_tiny``
(one-channel spectrogram images).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from .blocks import SeparableConv2d
from .errors import ConfigError
from .mobilenet import IMAGENET_INCEPTION_MEAN, IMAGENET_INCEPTION_STD, check_image_config
from .mobilenet import round_channels as _round
from .registry import register, register_family

# Channels of the ImageNet network at width 1: stem convs, entry modules, middle, exit.
STEM = (32, 64)
ENTRY = (128, 256, 728)
MIDDLE = 728
EXIT = (1024, 1536, 2048)


@dataclass(frozen=True)
class XceptionConfig:
    """Xception hyper-parameters and preprocessing.

    Attributes:
        num_classes: classifier outputs.
        in_chans: input image channels.
        width: multiplier on every channel count, in (0, 4] (rounded to multiples of 8).
        middle_blocks: residual modules in the middle flow (8 in the paper), >= 0.
        resolution: input side ``H = W`` (299 for ImageNet); >= 32.
        dropout: dropout before the classifier.
        crop_pct, interpolation, mean, std: evaluation preprocessing (timm ``legacy_xception``
            defaults: crop 0.8975, bicubic, mean = std = 0.5).
    """

    num_classes: int = 1000
    in_chans: int = 3
    width: float = 1.0
    middle_blocks: int = 8
    resolution: int = 299
    dropout: float = 0.0
    crop_pct: float = 0.8975
    interpolation: str = "bicubic"
    mean: tuple[float, ...] = IMAGENET_INCEPTION_MEAN
    std: tuple[float, ...] = IMAGENET_INCEPTION_STD

    def __post_init__(self) -> None:
        if not 0.0 < self.width <= 4.0:
            raise ConfigError(f"xception: width must be in (0, 4], got {self.width}")
        if self.middle_blocks < 0:
            raise ConfigError(f"xception: middle_blocks must be >= 0, got {self.middle_blocks}")
        check_image_config(
            "xception",
            num_classes=self.num_classes,
            in_chans=self.in_chans,
            resolution=self.resolution,
            min_resolution=32,
            dropout=self.dropout,
            crop_pct=self.crop_pct,
            interpolation=self.interpolation,
            mean=self.mean,
            std=self.std,
        )

    @property
    def input_size(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of the images the model expects."""
        return (self.in_chans, self.resolution, self.resolution)

    def channels(self, c: int) -> int:
        """Channels of a layer that has ``c`` at width 1 (a multiple of 8)."""
        return _round(c * self.width)


class XceptionBlock(nn.Module):
    """One residual module: ``reps`` x ([ReLU] -> SepConv -> BN), optional max-pool, shortcut.

    Args:
        in_channels, out_channels: module input / output channels.
        reps: separable convs in the residual branch.
        stride: 2 adds a 3x3/2 max-pool (padding 1) and makes the shortcut a 1x1/2 conv + BN.
        start_with_relu: whether the first SepConv is preceded by a ReLU.
        grow_first: the first SepConv changes the channel count (otherwise the last one does).

    Shapes: ``[B, in_channels, H, W]`` -> ``[B, out_channels, ceil(H/stride), ceil(W/stride)]``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        reps: int,
        stride: int = 1,
        start_with_relu: bool = True,
        grow_first: bool = True,
    ) -> None:
        super().__init__()
        self.skip: nn.Module
        if stride != 1 or in_channels != out_channels:
            self.skip = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        else:
            self.skip = nn.Identity()
        self.pre_acts = nn.ModuleList()
        self.convs = nn.ModuleList()
        for i in range(reps):
            if grow_first:
                cin, cout = (in_channels if i == 0 else out_channels), out_channels
            else:
                cin, cout = in_channels, (out_channels if i == reps - 1 else in_channels)
            relu = i > 0 or start_with_relu
            self.pre_acts.append(nn.ReLU() if relu else nn.Identity())
            self.convs.append(SeparableConv2d(cin, cout, 3, norm="batch", act="none"))
        self.pool: nn.Module = (
            nn.MaxPool2d(3, stride=stride, padding=1) if stride != 1 else nn.Identity()
        )

    def forward(self, x: Tensor) -> Tensor:  # B, C, H, W
        y = x
        for act, conv in zip(self.pre_acts, self.convs, strict=True):
            y = conv(act(y))
        return self.pool(y) + self.skip(x)


class Xception(nn.Module):
    """Xception classifier (paper Figure 5).

    Layout (names used by :mod:`models.convert_timm`): ``stem`` (Sequential: conv, BN, ReLU,
    conv, BN, ReLU), ``entry`` (3 :class:`XceptionBlock`), ``middle`` (``middle_blocks``
    blocks), ``exit_block``, ``exit`` (2 :class:`SeparableConv2d` with BN + ReLU), ``pool``,
    ``dropout``, ``fc``.

    Shapes: ``[B, in_chans, H, W]`` -> ``[B, num_classes]``; 299x299 gives a 10x10 final map.
    """

    def __init__(self, config: XceptionConfig) -> None:
        super().__init__()
        self.config = config
        ch = config.channels
        s0, s1 = ch(STEM[0]), ch(STEM[1])
        self.stem = nn.Sequential(
            nn.Conv2d(config.in_chans, s0, 3, stride=2, padding=0, bias=False),
            nn.BatchNorm2d(s0),
            nn.ReLU(),
            nn.Conv2d(s0, s1, 3, padding=0, bias=False),
            nn.BatchNorm2d(s1),
            nn.ReLU(),
        )
        entry: list[nn.Module] = []
        c = s1
        for i, out in enumerate(ENTRY):
            entry.append(XceptionBlock(c, ch(out), 2, stride=2, start_with_relu=i > 0))
            c = ch(out)
        self.entry = nn.Sequential(*entry)
        m = ch(MIDDLE)
        self.middle = nn.Sequential(*(XceptionBlock(m, m, 3) for _ in range(config.middle_blocks)))
        e0, e1, e2 = (ch(x) for x in EXIT)
        self.exit_block = XceptionBlock(m, e0, 2, stride=2, grow_first=False)
        self.exit = nn.Sequential(
            SeparableConv2d(e0, e1, 3, norm="batch", act="relu"),
            SeparableConv2d(e1, e2, 3, norm="batch", act="relu"),
        )
        self.num_features = e2
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(config.dropout)
        self.fc = nn.Linear(e2, config.num_classes)
        for mod in self.modules():
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: Tensor) -> Tensor:
        """``[B, C_in, H, W]`` -> ``[B, 2048 width, H', W']`` (ReLU-activated)."""
        x = self.entry(self.stem(x))
        x = self.exit_block(self.middle(x))
        return self.exit(x)

    def forward(self, x: Tensor) -> Tensor:  # B, C, H, W
        x = self.pool(self.forward_features(x)).flatten(1)  # B, C
        return self.fc(self.dropout(x))  # B, num_classes


@register_family("xception", XceptionConfig)
def build_xception(config: XceptionConfig) -> nn.Module:
    return Xception(config)


register(
    "xception",
    "xception",
    XceptionConfig(),
    "Xception, ImageNet (1000 classes, 299x299): 22.86M params",
)
register(
    "xception_tiny",
    "xception",
    XceptionConfig(
        num_classes=10,
        in_chans=1,
        width=0.25,
        middle_blocks=2,
        resolution=128,
        crop_pct=1.0,
        interpolation="bilinear",
        mean=(0.5,),
        std=(0.5,),
    ),
    "Xception at 1/4 width with 2 middle modules, for 1x128x128 spectrogram images (10 classes)",
)
