"""PydMobileNet: CIFAR residual networks with pyramid depthwise-separable convolutions.

Hoang & Jo, "PydMobileNet: Improved Version of MobileNets with Pyramid Depthwise Separable
Convolution", arXiv:1811.07083, 2018 (architecture table, Figure 3, Table 2); layout checked
against the authors' released CIFAR models (MXNet symbol files).

Pre-activation bottleneck ResNet for 32x32 images:

* stem: affine-free BatchNorm of the input image, then a 3x3 conv to ``stem_channels`` (32);
* three stages of ``n = (depth - 2) / 9`` residual blocks with ``channels`` (32, 64, 128)
  outputs at 32x32, 16x16, 8x8 (the first block of stages 2 and 3 has stride 2);
* global average pooling and a fully connected layer (no norm before the pooling).

Each block, with ``C`` output channels and ``M = int(width * C)`` bottleneck channels::

    x -> BN -> ReLU -> 1x1 conv (C_in -> M) -> BN -> ReLU        (expand)
      -> middle: depthwise k x k / pyramid sum_k depthwise k x k / standard 3x3 conv (stride s)
      -> BN -> ReLU -> 1x1 conv (M -> C) -> BN
      + shortcut (identity, or 1x1 conv stride s + BN when the shape changes)

``block`` picks the middle conv: ``pyramid`` (PydMobileNet-Add, depthwise kernels
``kernel_sizes`` = (3, 5, 7) summed before the pointwise conv), ``depthwise`` (the paper's
"MobileNet" baseline, one 3x3 depthwise kernel) or ``standard`` (the "ResNet" baseline, a full
3x3 conv). Parameter counts (CIFAR-10), ours = the authors' released models:
PydMobileNet-29-1 192,522 (paper 0.193M), MobileNet-29-1 142,794 (0.142M),
ResNet-29-0.5 221,162 (0.221M), PydMobileNet-56-1 382,698 (0.382M).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from .blocks import SeparableConv2d
from .errors import ConfigError
from .mobilenet import check_image_config
from .registry import register, register_family

BLOCK_TYPES = ("pyramid", "depthwise", "standard")
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)


@dataclass(frozen=True)
class PydMobileNetConfig:
    """PydMobileNet / MobileNet / ResNet (CIFAR) hyper-parameters and preprocessing.

    Attributes:
        depth: layers ``9 n + 2`` (29 -> 3 blocks per stage, 56 -> 6).
        width: bottleneck multiplier in (0, 4]: ``M = int(width * C)`` (the "-0.5" in
            "PydMobileNet-29-0.5").
        block: ``pyramid``, ``depthwise`` or ``standard`` middle conv.
        kernel_sizes: depthwise kernels of a ``pyramid`` block (odd, distinct).
        stem_channels: output of the 3x3 stem conv.
        channels: outputs ``C`` of the three stages.
        num_classes, in_chans: classifier outputs, image channels.
        resolution: input side (32 for CIFAR); >= 8.
        dropout: dropout before the classifier.
        crop_pct, interpolation, mean, std: evaluation preprocessing (CIFAR statistics).
    """

    depth: int = 29
    width: float = 1.0
    block: str = "pyramid"
    kernel_sizes: tuple[int, ...] = (3, 5, 7)
    stem_channels: int = 32
    channels: tuple[int, int, int] = (32, 64, 128)
    num_classes: int = 10
    in_chans: int = 3
    resolution: int = 32
    dropout: float = 0.0
    crop_pct: float = 1.0
    interpolation: str = "bilinear"
    mean: tuple[float, ...] = CIFAR_MEAN
    std: tuple[float, ...] = CIFAR_STD

    def __post_init__(self) -> None:
        if self.depth < 11 or (self.depth - 2) % 9:
            raise ConfigError(
                f"pydmobilenet: depth must be 9n + 2 with n >= 1 (11, 20, 29, 56...), "
                f"got {self.depth}"
            )
        if not 0.0 < self.width <= 4.0:
            raise ConfigError(f"pydmobilenet: width must be in (0, 4], got {self.width}")
        if self.block not in BLOCK_TYPES:
            raise ConfigError(
                f"pydmobilenet: unknown block {self.block!r}; choose {', '.join(BLOCK_TYPES)}"
            )
        ks = self.kernel_sizes
        if not isinstance(ks, tuple) or not ks:
            raise ConfigError("pydmobilenet: kernel_sizes must be a non-empty tuple")
        if any(k < 1 or k % 2 == 0 for k in ks) or len(set(ks)) != len(ks):
            raise ConfigError(f"pydmobilenet: kernel_sizes must be distinct odd ints, got {ks}")
        if not isinstance(self.channels, tuple) or len(self.channels) != 3:
            raise ConfigError(f"pydmobilenet: channels must be 3 stage widths, got {self.channels}")
        if self.stem_channels < 1 or min(self.channels) < 1:
            raise ConfigError("pydmobilenet: stem_channels and channels must be >= 1")
        if min(int(self.width * c) for c in self.channels) < 1:
            raise ConfigError(f"pydmobilenet: width {self.width} leaves a stage with 0 channels")
        check_image_config(
            "pydmobilenet",
            num_classes=self.num_classes,
            in_chans=self.in_chans,
            resolution=self.resolution,
            min_resolution=8,
            dropout=self.dropout,
            crop_pct=self.crop_pct,
            interpolation=self.interpolation,
            mean=self.mean,
            std=self.std,
        )

    @property
    def blocks_per_stage(self) -> int:
        return (self.depth - 2) // 9

    @property
    def input_size(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of the images the model expects."""
        return (self.in_chans, self.resolution, self.resolution)


class StandardBottleneckConv(nn.Module):
    """The ResNet baseline's middle: 3x3 conv -> BN -> ReLU -> 1x1 conv -> BN.

    Same attribute names as :class:`SeparableConv2d` (``dw`` is a full conv here).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.dw = nn.Conv2d(in_channels, in_channels, 3, stride=stride, padding=1, bias=False)
        self.mid_norm = nn.BatchNorm2d(in_channels)
        self.mid_act = nn.ReLU()
        self.pw = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.norm = nn.BatchNorm2d(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.pw(self.mid_act(self.mid_norm(self.dw(x)))))


class PydBlock(nn.Module):
    """Pre-activation bottleneck residual block (see module docstring).

    Shapes: ``[B, in_channels, H, W]`` -> ``[B, out_channels, H/stride, W/stride]``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        mid_channels: int,
        stride: int,
        block: str,
        kernel_sizes: tuple[int, ...],
    ) -> None:
        super().__init__()
        self.expand = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            nn.ReLU(),
            nn.Conv2d(in_channels, mid_channels, 1, bias=False),
            nn.BatchNorm2d(mid_channels),
            nn.ReLU(),
        )
        self.conv: nn.Module
        if block == "standard":
            self.conv = StandardBottleneckConv(mid_channels, out_channels, stride)
        else:
            kernel: int | tuple[int, ...] = kernel_sizes if block == "pyramid" else 3
            self.conv = SeparableConv2d(
                mid_channels,
                out_channels,
                kernel,
                stride=stride,
                mid_norm="batch",
                mid_act="relu",
                norm="batch",
                act="none",
            )
        self.shortcut: nn.Module
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:  # B, C, H, W
        return self.conv(self.expand(x)) + self.shortcut(x)


class PydMobileNet(nn.Module):
    """PydMobileNet-``depth``-``width`` (or its MobileNet / ResNet baselines) for CIFAR.

    Shapes: ``[B, in_chans, H, W]`` -> ``[B, num_classes]``; features ``[B, 128, H/4, W/4]``.
    """

    def __init__(self, config: PydMobileNetConfig) -> None:
        super().__init__()
        self.config = config
        self.input_norm = nn.BatchNorm2d(config.in_chans, affine=False)
        self.stem = nn.Conv2d(config.in_chans, config.stem_channels, 3, padding=1, bias=False)
        blocks: list[nn.Module] = []
        c = config.stem_channels
        for stage, out in enumerate(config.channels):
            for i in range(config.blocks_per_stage):
                stride = 2 if stage > 0 and i == 0 else 1
                mid = int(config.width * out)
                blocks.append(PydBlock(c, out, mid, stride, config.block, config.kernel_sizes))
                c = out
        self.blocks = nn.Sequential(*blocks)
        self.num_features = c
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(config.dropout)
        self.fc = nn.Linear(c, config.num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        """``[B, C_in, H, W]`` -> ``[B, channels[-1], H/4, W/4]``."""
        return self.blocks(self.stem(self.input_norm(x)))

    def forward(self, x: Tensor) -> Tensor:  # B, C, H, W
        x = self.pool(self.forward_features(x)).flatten(1)  # B, C
        return self.fc(self.dropout(x))  # B, num_classes


@register_family("pydmobilenet", PydMobileNetConfig)
def build_pydmobilenet(config: PydMobileNetConfig) -> nn.Module:
    return PydMobileNet(config)


# name: (depth, width, block), paper's CIFAR-10 params in the description.
_VARIANTS: dict[str, tuple[int, float, str, str]] = {
    "pydmobilenet": (29, 1.0, "pyramid", "PydMobileNet-29-1 (default), 0.193M params"),
    "pydmobilenet_29_050": (29, 0.5, "pyramid", "PydMobileNet-29-0.5, 0.104M params"),
    "pydmobilenet_29_025": (29, 0.25, "pyramid", "PydMobileNet-29-0.25, 0.060M params"),
    "pydmobilenet_56_1": (56, 1.0, "pyramid", "PydMobileNet-56-1, 0.382M params"),
    "pydmobilenet_56_050": (56, 0.5, "pyramid", "PydMobileNet-56-0.5, 0.200M params"),
    "mobilenet_29_1": (29, 1.0, "depthwise", "MobileNet-29-1 (3x3 depthwise), 0.142M params"),
    "mobilenet_56_1": (56, 1.0, "depthwise", "MobileNet-56-1 (3x3 depthwise), 0.283M params"),
    "resnet_29_050": (29, 0.5, "standard", "ResNet-29-0.5 (3x3 conv bottleneck), 0.221M params"),
}
for _name, (_depth, _width, _block, _desc) in _VARIANTS.items():
    register(
        _name,
        "pydmobilenet",
        PydMobileNetConfig(depth=_depth, width=_width, block=_block),
        f"{_desc}; CIFAR-10 (10 classes, 32x32), Hoang & Jo 2018",
    )
