"""Depthwise-separable building blocks shared by every network in the zoo.

1-D blocks work offline on ``[B, C, T]`` and, where causal, stream time-major on ``[B, T, C]``
(pointwise convs become matmuls, depthwise convs read a history cache kept in the state).
2-D blocks work on images ``[B, C, H, W]``.

References:
    Chollet, "Xception: Deep Learning with Depthwise Separable Convolutions", CVPR 2017.
    Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
    Applications", 2017.
    Hoang & Jo, "PydMobileNet: Improved Version of MobileNets with Pyramid Depthwise Separable
    Convolution", 2018.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .errors import ConfigError, StreamingError
from .norms import CumulativeLayerNorm, GlobalLayerNorm, Norm1d, make_norm
from .streaming import State

ACTIVATIONS = ("relu", "relu6", "prelu", "silu", "swish", "gelu", "tanh", "sigmoid", "elu", "none")
PADDINGS = ("causal", "same", "valid")


def make_act(name: str) -> nn.Module:
    """Elementwise activation by name (``prelu`` has one shared slope, so any layout works)."""
    table: dict[str, type[nn.Module]] = {
        "relu": nn.ReLU,
        "relu6": nn.ReLU6,
        "prelu": nn.PReLU,
        "silu": nn.SiLU,
        "swish": nn.SiLU,
        "gelu": nn.GELU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "elu": nn.ELU,
        "none": nn.Identity,
    }
    if name not in table:
        raise ConfigError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    return table[name]()


def _pad_1d(padding: str, span: int) -> tuple[int, int]:
    if padding == "causal":
        return span, 0
    if padding == "same":
        return span // 2, span - span // 2
    if padding == "valid":
        return 0, 0
    raise ConfigError(f"unknown padding {padding!r}; choose one of {', '.join(PADDINGS)}")


class DepthwiseConv1d(nn.Module):
    """Depthwise 1-D convolution: one filter (or ``depth_multiplier`` filters) per channel.

    Args:
        channels: input channels ``C``; output has ``C * depth_multiplier``.
        kernel_size: taps ``P``.
        stride: hop (streaming needs 1).
        dilation: gap between taps ``d``; receptive field ``(P - 1) * d + 1``.
        depth_multiplier: filters per input channel.
        padding: ``causal`` (left only, streamable), ``same`` (centred) or ``valid``.
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int,
        stride: int = 1,
        dilation: int = 1,
        depth_multiplier: int = 1,
        padding: str = "causal",
        bias: bool = True,
    ) -> None:
        super().__init__()
        if kernel_size < 1 or stride < 1 or dilation < 1 or depth_multiplier < 1:
            raise ConfigError("kernel_size, stride, dilation and depth_multiplier must be >= 1")
        self.channels = channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.dilation = dilation
        self.multiplier = depth_multiplier
        self.padding = padding
        self.span = (kernel_size - 1) * dilation
        self.pad = _pad_1d(padding, self.span)
        self.conv = nn.Conv1d(
            channels,
            channels * depth_multiplier,
            kernel_size,
            stride=stride,
            dilation=dilation,
            groups=channels,
            bias=bias,
        )

    @property
    def causal(self) -> bool:
        return self.padding == "causal" and self.stride == 1

    def forward(self, x: Tensor, dilation: int | None = None) -> Tensor:  # B, C, T
        """Offline convolution; ``dilation`` overrides the configured one (shared weights)."""
        if dilation is None or dilation == self.dilation:
            if self.pad != (0, 0):
                x = F.pad(x, self.pad)
            return self.conv(x)
        x = F.pad(x, _pad_1d(self.padding, (self.kernel_size - 1) * dilation))
        c = self.conv
        return F.conv1d(x, c.weight, c.bias, c.stride, 0, dilation, c.groups)

    def init_state(self, batch: int = 1, dilation: int | None = None) -> State:
        span = (self.kernel_size - 1) * (dilation or self.dilation)
        w = self.conv.weight
        return (torch.zeros(batch, span, self.channels, dtype=w.dtype, device=w.device),)

    def step(
        self, x: Tensor, state: State, dilation: int | None = None
    ) -> tuple[Tensor, State]:  # B, T, C
        if not self.causal:
            raise StreamingError("only causal, stride-1 depthwise convs can stream")
        (cache,) = state
        assert isinstance(cache, Tensor)
        d = dilation or self.dilation
        span = (self.kernel_size - 1) * d
        xc = torch.cat((cache, x), dim=1) if span else x
        new_cache = xc[:, xc.shape[1] - span :] if span else cache
        if self.multiplier > 1:
            xc = xc.repeat_interleave(self.multiplier, dim=-1)
        t = x.shape[1]
        w = self.conv.weight[:, 0]  # C*m, P
        out = xc[:, 0:t] * w[:, 0]
        for j in range(1, self.kernel_size):
            out = torch.addcmul(out, xc[:, j * d : j * d + t], w[:, j])
        if self.conv.bias is not None:
            out = out + self.conv.bias
        return out, (new_cache,)


class Pointwise1d(nn.Module):
    """1x1 convolution; ``step`` runs it as a matmul on time-major input."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, 1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:  # B, C, T
        return self.conv(x)

    def matrix(self) -> Tensor:
        return self.conv.weight[:, :, 0]

    def step(self, x: Tensor) -> Tensor:  # B, T, C (stateless)
        return F.linear(x, self.conv.weight[:, :, 0], self.conv.bias)


class SeparableConv1d(nn.Module):
    """Depthwise conv -> pointwise conv -> norm -> activation, streamable when causal.

    Args:
        in_channels, out_channels: channel counts.
        kernel_size, stride, dilation, depth_multiplier, padding: of the depthwise conv.
        norm: ``batch``, ``gln``, ``cln`` or ``none`` after the pointwise conv.
        act: activation name after the norm.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        dilation: int = 1,
        depth_multiplier: int = 1,
        padding: str = "causal",
        norm: str = "none",
        act: str = "none",
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.dw = DepthwiseConv1d(
            in_channels, kernel_size, stride, dilation, depth_multiplier, padding, bias=bias
        )
        self.pw = Pointwise1d(in_channels * depth_multiplier, out_channels, bias=bias)
        self.norm: Norm1d = make_norm(norm, out_channels)
        self.act = make_act(act)
        if padding == "causal" and not self.norm.causal:
            raise ConfigError(f"causal separable conv with non-causal norm {norm!r}")

    @property
    def causal(self) -> bool:
        return self.dw.causal and self.norm.causal

    def forward(self, x: Tensor) -> Tensor:  # B, C, T
        return self.act(self.norm(self.pw(self.dw(x))))

    def init_state(self, batch: int = 1) -> State:
        return (self.dw.init_state(batch), self.norm.init_state(batch))

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:  # B, T, C
        s_dw, s_norm = state
        assert isinstance(s_dw, tuple) and isinstance(s_norm, tuple)
        y, s_dw = self.dw.step(x, s_dw)
        y, s_norm = self.norm.step(self.pw.step(y), s_norm)
        return self.act(y), (s_dw, s_norm)


# ----------------------------------------------------------------------------------------- 2-D


def make_norm2d(kind: str, channels: int) -> nn.Module:
    """2-D norm by name: ``batch`` or ``none``."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise ConfigError(f"unknown 2-D norm {kind!r}; choose batch or none")


def _pad_2d(
    padding: str | int, kernel: int | tuple[int, int], dilation: int
) -> int | tuple[int, int]:
    """Conv2d padding; a rectangular ``(kh, kw)`` kernel gets ``same`` padding per axis."""
    if isinstance(padding, int):
        return padding
    if padding == "same":
        if isinstance(kernel, tuple):
            return (dilation * (kernel[0] - 1) // 2, dilation * (kernel[1] - 1) // 2)
        return dilation * (kernel - 1) // 2
    if padding == "valid":
        return 0
    raise ConfigError(f"unknown 2-D padding {padding!r}; choose same, valid or an int")


class PyramidDepthwiseConv2d(nn.Module):
    """Depthwise convs with kernels ``k1..kn`` applied in parallel and summed (PydMobileNet).

    A kernel may be rectangular, ``(kh, kw)``: ``[(3, 1)]`` is a single 3x1 depthwise conv
    (ESResNet's attention branch).
    """

    def __init__(
        self,
        channels: int,
        kernel_sizes: Sequence[int | tuple[int, int]],
        stride: int = 1,
        dilation: int = 1,
        depth_multiplier: int = 1,
        padding: str | int = "same",
        bias: bool = False,
    ) -> None:
        super().__init__()
        if not kernel_sizes:
            raise ConfigError("a pyramid depthwise conv needs at least one kernel size")
        self.convs = nn.ModuleList(
            nn.Conv2d(
                channels,
                channels * depth_multiplier,
                k,
                stride=stride,
                padding=_pad_2d(padding, k, dilation),
                dilation=dilation,
                groups=channels,
                bias=bias,
            )
            for k in kernel_sizes
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self.convs[0](x)
        for conv in self.convs[1:]:
            out = out + conv(x)
        return out


class SeparableConv2d(nn.Module):
    """Depthwise (or pyramid depthwise) conv -> [mid norm/act] -> pointwise -> norm -> act.

    ``kernel_size`` may be a sequence of kernel sizes, which makes the depthwise stage a
    :class:`PyramidDepthwiseConv2d`; its entries may be rectangular ``(kh, kw)`` pairs, so
    ``[(3, 1)]`` is one 3x1 depthwise kernel. MobileNet uses ``mid_norm="batch", mid_act="relu"``;
    Xception uses no mid norm (its ReLU comes before the block).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int | tuple[int, int]] = 3,
        stride: int = 1,
        dilation: int = 1,
        depth_multiplier: int = 1,
        padding: str | int = "same",
        mid_norm: str = "none",
        mid_act: str = "none",
        norm: str = "batch",
        act: str = "none",
        bias: bool = False,
    ) -> None:
        super().__init__()
        mid = in_channels * depth_multiplier
        self.dw: nn.Module
        if isinstance(kernel_size, int):
            self.dw = nn.Conv2d(
                in_channels,
                mid,
                kernel_size,
                stride=stride,
                padding=_pad_2d(padding, kernel_size, dilation),
                dilation=dilation,
                groups=in_channels,
                bias=bias,
            )
        else:
            self.dw = PyramidDepthwiseConv2d(
                in_channels, kernel_size, stride, dilation, depth_multiplier, padding, bias
            )
        self.mid_norm = make_norm2d(mid_norm, mid)
        self.mid_act = make_act(mid_act)
        self.pw = nn.Conv2d(mid, out_channels, 1, bias=bias)
        self.norm = make_norm2d(norm, out_channels)
        self.act = make_act(act)

    def forward(self, x: Tensor) -> Tensor:
        x = self.mid_act(self.mid_norm(self.dw(x)))
        return self.act(self.norm(self.pw(x)))


__all__ = [
    "ACTIVATIONS",
    "CumulativeLayerNorm",
    "DepthwiseConv1d",
    "GlobalLayerNorm",
    "Pointwise1d",
    "PyramidDepthwiseConv2d",
    "SeparableConv1d",
    "SeparableConv2d",
    "make_act",
    "make_norm",
    "make_norm2d",
]
