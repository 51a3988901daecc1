"""MobileNet V1: a plain stack of depthwise-separable convolutions for image classification.

Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
Applications", 2017 (arXiv:1704.04861), Table 1. A 3x3 stride-2 stem conv is followed by 13
depthwise-separable layers (3x3 depthwise conv -> BN -> ReLU -> 1x1 pointwise conv -> BN ->
ReLU), global average pooling and one fully connected layer. The paper's two shrinking knobs:

* width multiplier ``alpha``: every layer has ``alpha * C`` channels (rounded to a multiple of
  ``channel_divisor``, as TF-slim, Keras and timm do);
* resolution multiplier ``rho``: expressed here directly as the input ``resolution``.

With ``alpha=1``, ``resolution=224`` and 1000 classes the net has 4,231,976 trainable parameters
and 569M mult-adds, the paper's 4.2M / 569M (Table 6, 8).

This module also holds helpers shared by the image families (:func:`round_channels`,
:func:`check_image_config`): each image config carries the preprocessing its weights expect
(``resolution``/``input_size``, ``crop_pct``, ``interpolation``, ``mean``, ``std``), following
timm's ``pretrained_cfg`` conventions, so an image CLI can preprocess per model.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from .blocks import ACTIVATIONS, SeparableConv2d, make_act
from .errors import ConfigError
from .registry import register, register_family

INTERPOLATIONS = ("nearest", "bilinear", "bicubic")
IMAGENET_INCEPTION_MEAN = (0.5, 0.5, 0.5)
IMAGENET_INCEPTION_STD = (0.5, 0.5, 0.5)

# Table 1 of the paper: (output channels, stride) of the 13 depthwise-separable layers.
MOBILENET_V1_LAYERS: tuple[tuple[int, int], ...] = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)
MOBILENET_V1_STEM = 32


def round_channels(channels: float, divisor: int = 8, round_limit: float = 0.9) -> int:
    """Round a scaled channel count to a multiple of ``divisor`` (at least ``divisor``).

    Rounds to the nearest multiple, then adds one more ``divisor`` if that lost more than
    ``1 - round_limit`` of the channels: the TF-slim / timm ``make_divisible`` rule.
    """
    if divisor < 1:
        raise ConfigError(f"channel divisor must be >= 1, got {divisor}")
    new = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    if new < round_limit * channels:
        new += divisor
    return new


def check_image_config(
    name: str,
    *,
    num_classes: int,
    in_chans: int,
    resolution: int,
    min_resolution: int,
    dropout: float,
    crop_pct: float,
    interpolation: str,
    mean: tuple[float, ...],
    std: tuple[float, ...],
) -> None:
    """Validate the fields every image-classifier config shares; raise :class:`ConfigError`."""
    if num_classes < 1:
        raise ConfigError(f"{name}: num_classes must be >= 1, got {num_classes}")
    if in_chans < 1:
        raise ConfigError(f"{name}: in_chans must be >= 1, got {in_chans}")
    if resolution < min_resolution:
        raise ConfigError(
            f"{name}: resolution {resolution} is too small; this network needs >= {min_resolution}"
        )
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"{name}: dropout must be in [0, 1), got {dropout}")
    if not 0.0 < crop_pct <= 1.0:
        raise ConfigError(f"{name}: crop_pct must be in (0, 1], got {crop_pct}")
    if interpolation not in INTERPOLATIONS:
        raise ConfigError(
            f"{name}: unknown interpolation {interpolation!r}; choose {', '.join(INTERPOLATIONS)}"
        )
    for field, values in (("mean", mean), ("std", std)):
        if not isinstance(values, tuple):
            raise ConfigError(f"{name}: {field} must be a tuple, got {type(values).__name__}")
        if len(values) not in (1, in_chans):
            raise ConfigError(
                f"{name}: {field} has {len(values)} values; give 1 or in_chans={in_chans}"
            )
    if any(s <= 0 for s in std):
        raise ConfigError(f"{name}: std values must be > 0, got {std}")


@dataclass(frozen=True)
class MobileNetV1Config:
    """MobileNet V1 hyper-parameters and preprocessing.

    Attributes:
        alpha: width multiplier ``alpha`` in (0, 4]; channels ``round(alpha * C)``.
        resolution: input side ``H = W`` in pixels (the paper's 224, 192, 160, 128); at least 32,
            the network's total stride. The net itself is fully convolutional.
        num_classes: outputs of the classifier.
        in_chans: input image channels.
        dropout: dropout before the classifier (Keras uses 1e-3; 0 disables it).
        act: activation after every BN: ``relu`` in the paper, ``relu6`` in TF-slim and timm.
        channel_divisor: scaled channel counts are rounded to a multiple of this.
        crop_pct: centre-crop fraction used at evaluation (resize to ``resolution / crop_pct``).
        interpolation: resize filter for preprocessing.
        mean, std: per-channel normalisation of ``[0, 1]`` pixels (1 value or ``in_chans``).
    """

    alpha: float = 1.0
    resolution: int = 224
    num_classes: int = 1000
    in_chans: int = 3
    dropout: float = 0.0
    act: str = "relu"
    channel_divisor: int = 8
    crop_pct: float = 0.875
    interpolation: str = "bicubic"
    mean: tuple[float, ...] = IMAGENET_INCEPTION_MEAN
    std: tuple[float, ...] = IMAGENET_INCEPTION_STD

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha <= 4.0:
            raise ConfigError(f"mobilenet: alpha must be in (0, 4], got {self.alpha}")
        if self.act not in ACTIVATIONS:
            raise ConfigError(
                f"mobilenet: unknown activation {self.act!r}; choose {', '.join(ACTIVATIONS)}"
            )
        if self.channel_divisor < 1:
            raise ConfigError(
                f"mobilenet: channel_divisor must be >= 1, got {self.channel_divisor}"
            )
        check_image_config(
            "mobilenet",
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
        """Channels of a layer that has ``c`` at ``alpha = 1``."""
        return round_channels(c * self.alpha, self.channel_divisor)


class MobileNetV1(nn.Module):
    """MobileNet V1 classifier (paper Table 1).

    Layout (names used by :mod:`models.convert_timm`):

    * ``stem``: 3x3 stride-2 conv ``in_chans -> 32 alpha`` (no bias); ``stem_norm``: BN;
      ``stem_act``.
    * ``layers``: 13 :class:`SeparableConv2d` (``dw`` 3x3, ``mid_norm`` BN, ``mid_act``,
      ``pw`` 1x1, ``norm`` BN, ``act``), strides from Table 1.
    * ``pool`` (global average) -> ``dropout`` -> ``classifier`` (``Linear`` with bias).

    Shapes: ``[B, in_chans, H, W]`` -> ``[B, num_classes]``; the last feature map is
    ``[B, 1024 alpha, H/32, W/32]``.
    """

    def __init__(self, config: MobileNetV1Config) -> None:
        super().__init__()
        self.config = config
        c = config.channels(MOBILENET_V1_STEM)
        self.stem = nn.Conv2d(config.in_chans, c, 3, stride=2, padding=1, bias=False)
        self.stem_norm = nn.BatchNorm2d(c)
        self.stem_act = make_act(config.act)
        layers: list[nn.Module] = []
        for out, stride in MOBILENET_V1_LAYERS:
            o = config.channels(out)
            layers.append(
                SeparableConv2d(
                    c,
                    o,
                    3,
                    stride=stride,
                    mid_norm="batch",
                    mid_act=config.act,
                    norm="batch",
                    act=config.act,
                )
            )
            c = o
        self.layers = nn.Sequential(*layers)
        self.num_features = c
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(c, config.num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        """``[B, C_in, H, W]`` -> ``[B, 1024 alpha, H/32, W/32]``."""
        x = self.stem_act(self.stem_norm(self.stem(x)))
        return self.layers(x)

    def forward(self, x: Tensor) -> Tensor:  # B, C, H, W
        x = self.pool(self.forward_features(x)).flatten(1)  # B, C
        return self.classifier(self.dropout(x))  # B, num_classes


@register_family("mobilenet", MobileNetV1Config)
def build_mobilenet(config: MobileNetV1Config) -> nn.Module:
    return MobileNetV1(config)


register(
    "mobilenet_v1",
    "mobilenet",
    MobileNetV1Config(),
    "MobileNet V1 1.0-224, ImageNet (1000 classes): 4.23M params, 569M mult-adds",
)
register(
    "mobilenet_v1_075",
    "mobilenet",
    MobileNetV1Config(alpha=0.75),
    "MobileNet V1 0.75-224, ImageNet: 2.59M params, 325M mult-adds",
)
register(
    "mobilenet_v1_050",
    "mobilenet",
    MobileNetV1Config(alpha=0.5),
    "MobileNet V1 0.5-224, ImageNet: 1.33M params, 149M mult-adds",
)
register(
    "mobilenet_v1_050_160",
    "mobilenet",
    MobileNetV1Config(alpha=0.5, resolution=160),
    "MobileNet V1 0.5-160, ImageNet: 1.33M params, 76M mult-adds",
)
register(
    "mobilenet_v1_025",
    "mobilenet",
    MobileNetV1Config(alpha=0.25),
    "MobileNet V1 0.25-224, ImageNet: 0.47M params, 41M mult-adds",
)
