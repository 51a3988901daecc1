"""SwishNet: a small causal 1-D CNN over MFCC frames for speech / music / noise classification.

Reference:
    Hussain & Haque, "SwishNet: A Fast Convolutional Neural Network for Speech, Music and Noise
    Classification and Segmentation", arXiv:1812.00149, 2018.

Architecture (the paper's network as laid out by its public re-implementations, with rtaudio's
separable convs; the placement of the swish is rtaudio's reading). Every convolution is a *causal
gated* conv: ``g(x) = tanh(a) * sigmoid(b)`` where ``[a; b]`` are the two halves of the output of
one causal depthwise-separable conv (depthwise taps on ``x[t - (P-1) d .. t]``, then a pointwise
conv to ``2 F`` channels), so ``g`` has ``F`` channels. With width multiplier ``w`` and
``K = len(branch_kernels)`` parallel kernel lengths (paper: 3 and 6):

1. three *multi-kernel* blocks: ``K`` gated convs of lengths ``branch_kernels`` run side by side
   and are concatenated, with ``front_filters * w`` (paper: 16, 8, 8) filters per branch; block 3
   is residual around block 2: ``x = x2 + block3(x2)``, ``C = K * front_filters[2] * w`` channels;
2. a stack of gated convs of length ``kernel_size`` with dilations ``dilations[:-2]``, each
   residual (``x = x + g_i(x)``), then two gated convs with dilations ``dilations[-2:]`` reading
   the same ``x`` in parallel, with ``C`` and ``2 C`` filters (paper: 16 and 32);
3. the outputs of every back-stage conv except the first (the paper's skip connections of
   blocks 5-8) are concatenated, passed through **swish** ``s(x) = x * sigmoid(x)`` and a
   pointwise conv to ``classes`` per-frame logits.

The paper down-samples time with strided convs; rtaudio keeps one output per 10 ms MFCC frame
(frame-wise segmentation, streaming one frame at a time), so the strides become dilations "a
trous": the paper's strides 3, 2, 2, 2 after the first back conv compound to dilations
1, 3, 6, 12, 24 (receptive field 84 frames, 0.84 s, of the order of the paper's 0.5-2 s
clips).

Clip scores (``pooled``) are the time average of the per-frame logits. The head is linear after
the swish, so this equals the paper's global average pooling of the features followed by the
1x1 conv.

Shapes: ``forward``: ``[B, n_mfcc, T] -> [B, classes, T]``; ``step``: ``[B, n_mfcc, t] ->
[B, classes, t]`` with an explicit state; ``pooled``: ``[B, n_mfcc, T] -> [B, classes]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import Pointwise1d, SeparableConv1d
from .errors import ConfigError, StreamingError
from .norms import BatchNorm, check_causal_norm
from .registry import register, register_family
from .streaming import State


@dataclass(frozen=True)
class SwishNetConfig:
    """SwishNet hyper-parameters.

    Attributes:
        n_mfcc: MFCC coefficients per frame (input channels).
        classes: number of output classes; must equal ``len(labels)``.
        labels: class names, in logit order.
        width: channel multiplier ``w`` (paper: 1 for SwishNet-slim, 2 for the wide net).
        front_filters: gated filters per branch of the three multi-kernel blocks (paper 16, 8, 8).
        branch_kernels: kernel lengths of the parallel branches (paper: 3 and 6).
        kernel_size: kernel length of the back-stage convs (paper: 3).
        dilations: dilations of the back-stage convs; the last two run in parallel.
        norm: norm after each pointwise conv: ``none`` (paper), ``batch`` or ``cln``
            (``gln`` only when not causal).
        causal: causal (left) padding, streamable; ``False`` centres the kernels.
    """

    n_mfcc: int = 20
    classes: int = 3
    labels: tuple[str, ...] = ("speech", "music", "noise")
    width: int = 2
    front_filters: tuple[int, int, int] = (16, 8, 8)
    branch_kernels: tuple[int, ...] = (3, 6)
    kernel_size: int = 3
    dilations: tuple[int, ...] = (1, 3, 6, 12, 24)
    norm: str = "none"
    causal: bool = True

    def __post_init__(self) -> None:
        for name in ("n_mfcc", "classes", "width", "kernel_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"SwishNetConfig.{name} must be an integer >= 1, got {value!r}")
        if not isinstance(self.labels, tuple) or not all(isinstance(s, str) for s in self.labels):
            raise ConfigError("SwishNetConfig.labels must be a tuple of strings")
        if len(self.labels) != self.classes:
            raise ConfigError(
                f"SwishNetConfig: {len(self.labels)} labels for {self.classes} classes; "
                "pass labels=(...) with one name per class"
            )
        if len(set(self.labels)) != len(self.labels):
            raise ConfigError(f"SwishNetConfig.labels has duplicates: {self.labels}")
        for name in ("front_filters", "branch_kernels", "dilations"):
            seq = getattr(self, name)
            if not isinstance(seq, tuple) or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in seq
            ):
                raise ConfigError(f"SwishNetConfig.{name} must be a tuple of integers >= 1")
        if len(self.front_filters) != 3:
            raise ConfigError("SwishNetConfig.front_filters needs 3 entries (one per front block)")
        if self.front_filters[1] != self.front_filters[2]:
            raise ConfigError(
                "SwishNetConfig.front_filters[1] must equal front_filters[2] "
                "(block 3 is residual around block 2)"
            )
        if not self.branch_kernels:
            raise ConfigError("SwishNetConfig.branch_kernels needs at least one kernel length")
        if len(self.dilations) < 2:
            raise ConfigError("SwishNetConfig.dilations needs at least 2 entries (the two heads)")
        check_causal_norm(self.norm, self.causal, "SwishNetConfig")

    @property
    def channels(self) -> int:
        """``C``: channels of the residual stream of the back stage."""
        return len(self.branch_kernels) * self.front_filters[2] * self.width

    @property
    def receptive_field(self) -> int:
        """Frames seen by one output frame (current frame included)."""
        front = 3 * (max(self.branch_kernels) - 1)
        back_chain = [*self.dilations[:-2], max(self.dilations[-2:])]
        return 1 + front + (self.kernel_size - 1) * sum(back_chain)


class GatedSeparableConv1d(nn.Module):
    """Causal gated separable conv: ``tanh(a) * sigmoid(b)``, ``[a; b] = pw(dw(x))``.

    Args:
        in_channels: ``C_in``.
        out_channels: ``F`` (the pointwise conv makes ``2 F``).
        kernel_size, dilation: of the depthwise conv.
        padding: ``causal`` or ``same``.
        norm: norm on the ``2 F`` pre-activations.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int = 1,
        padding: str = "causal",
        norm: str = "none",
    ) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.conv = SeparableConv1d(
            in_channels,
            2 * out_channels,
            kernel_size,
            dilation=dilation,
            padding=padding,
            norm=norm,
        )

    def forward(self, x: Tensor) -> Tensor:  # B, C_in, T -> B, F, T
        a, b = self.conv(x).chunk(2, dim=1)
        return torch.tanh(a) * torch.sigmoid(b)

    def init_state(self, batch: int = 1) -> State:
        return self.conv.init_state(batch)

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:  # B, t, C_in -> B, t, F
        y, state = self.conv.step(x, state)
        a, b = y.chunk(2, dim=-1)
        return torch.tanh(a) * torch.sigmoid(b), state


def _gated(modules: nn.ModuleList) -> list[GatedSeparableConv1d]:
    """The members of a ModuleList of gated convs, typed."""
    return [cast(GatedSeparableConv1d, m) for m in modules]


class MultiKernelGated(nn.Module):
    """Parallel gated convs of several kernel lengths on one input, concatenated on channels."""

    def __init__(
        self,
        in_channels: int,
        filters: int,
        kernel_sizes: Sequence[int],
        padding: str = "causal",
        norm: str = "none",
    ) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            GatedSeparableConv1d(in_channels, filters, k, padding=padding, norm=norm)
            for k in kernel_sizes
        )
        self.out_channels = filters * len(kernel_sizes)

    def forward(self, x: Tensor) -> Tensor:  # B, C_in, T -> B, K F, T
        return torch.cat([b(x) for b in self.branches], dim=1)

    def init_state(self, batch: int = 1) -> State:
        return tuple(b.init_state(batch) for b in _gated(self.branches))

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:  # B, t, C_in
        outs, new = [], []
        for branch, s in zip(_gated(self.branches), state, strict=True):
            assert isinstance(s, tuple)
            y, s = branch.step(x, s)
            outs.append(y)
            new.append(s)
        return torch.cat(outs, dim=-1), tuple(new)


class SwishNet(nn.Module):
    """SwishNet (Hussain & Haque 2018) with causal separable gated convs; see the module doc.

    Args:
        config: a :class:`SwishNetConfig`.
    """

    def __init__(self, config: SwishNetConfig) -> None:
        super().__init__()
        self.config = config
        self.latency = 0
        pad = "causal" if config.causal else "same"
        w, ks, norm = config.width, config.branch_kernels, config.norm
        f1, f2, f3 = (f * w for f in config.front_filters)
        self.block1 = MultiKernelGated(config.n_mfcc, f1, ks, pad, norm)
        self.block2 = MultiKernelGated(self.block1.out_channels, f2, ks, pad, norm)
        self.block3 = MultiKernelGated(self.block2.out_channels, f3, ks, pad, norm)
        c = self.block3.out_channels
        k = config.kernel_size
        self.residual = nn.ModuleList(
            GatedSeparableConv1d(c, c, k, d, pad, norm) for d in config.dilations[:-2]
        )
        self.head_a = GatedSeparableConv1d(c, c, k, config.dilations[-2], pad, norm)
        self.head_b = GatedSeparableConv1d(c, 2 * c, k, config.dilations[-1], pad, norm)
        skip_channels = c * max(0, len(self.residual) - 1) + c + 2 * c
        self.act = nn.SiLU()  # swish
        self.classifier = Pointwise1d(skip_channels, config.classes)
        # streaming fast path: the groups, their (span, tap spacing), and where to find every
        # tensor the folded weights depend on (dict + key, so .to() / load_state_dict are seen)
        self._group_list = self._groups()
        self._geometry = [self._group_geometry(g) for g in self._group_list]
        self._fold_sources: list[tuple[dict[str, Any], str]] = [
            (d, name)
            for mod in self.modules()
            for d in (mod._parameters, mod._buffers)
            for name, t in d.items()
            if t is not None
        ]
        self._fold_cache: tuple[tuple[object, ...], list[tuple[Tensor, Tensor]]] | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        return self.config.labels

    def forward(self, mfcc: Tensor) -> Tensor:  # B, n_mfcc, T -> B, classes, T
        """Per-frame logits; with ``causal`` frame ``t`` depends on frames ``<= t`` only."""
        if mfcc.dim() != 3 or mfcc.shape[1] != self.config.n_mfcc:
            raise ValueError(
                f"expected MFCCs [B, {self.config.n_mfcc}, T], got {tuple(mfcc.shape)}"
            )
        x = self.block2(self.block1(mfcc))
        x = x + self.block3(x)
        skips = []
        for i, conv in enumerate(self.residual):
            y = conv(x)
            x = x + y
            if i > 0:
                skips.append(y)
        skips.append(self.head_a(x))
        skips.append(self.head_b(x))
        return self.classifier(self.act(torch.cat(skips, dim=1)))

    def pooled(self, mfcc: Tensor) -> Tensor:  # B, n_mfcc, T -> B, classes
        """Clip logits: mean over time of the per-frame logits (= pooled features -> 1x1 conv)."""
        return self.forward(mfcc).mean(dim=-1)

    # ------------------------------------------------------------------------- streaming
    #
    # Fast path (norm ``none`` or ``batch``): the gated convs that read the same input (the
    # branches of a multi-kernel block, the two parallel heads) form one *group*. A group keeps
    # one history cache ``[B, span, C]`` and runs as ONE matmul: every tap of every depthwise
    # kernel, times its pointwise conv (and eval-mode BatchNorm affine), is folded into a
    # ``[R, C * n_taps]`` matrix whose rows are ordered ``[a_1 .. a_K, b_1 .. b_K]``, so the gate
    # ``tanh(a) * sigmoid(b)`` directly yields the concatenated branch outputs. The folded
    # matrices depend on the weights only; outside autograd they are cached on the module and
    # rebuilt whenever a parameter or buffer changes (storage or version counter).
    # With ``cln`` (cumulative statistics per conv) each conv streams on its own instead.

    def _groups(self) -> list[list[GatedSeparableConv1d]]:
        groups = [_gated(b.branches) for b in (self.block1, self.block2, self.block3)]
        groups += [[c] for c in _gated(self.residual)]
        groups.append([self.head_a, self.head_b])
        return groups

    @staticmethod
    def _group_geometry(group: Sequence[GatedSeparableConv1d]) -> tuple[int, int]:
        """``(span, g)``: longest lag in frames and the tap spacing shared by the group."""
        span = max(c.conv.dw.span for c in group)
        g = 0
        for c in group:
            g = math.gcd(g, c.conv.dw.dilation)
        return span, g

    @staticmethod
    def _fold_group(group: Sequence[GatedSeparableConv1d]) -> tuple[Tensor, Tensor]:
        """Fold a group into ``(W [R, C * n_taps], bias [R])`` with rows ``[a_*; b_*]``."""
        span, g = SwishNet._group_geometry(group)
        n_taps = span // g + 1
        a_w, b_w, a_b, b_b = [], [], [], []
        for conv in group:
            sep = conv.conv
            dw, pw = sep.dw, sep.pw
            wd = dw.conv.weight[:, 0]  # C, k
            wp = pw.matrix()  # 2F, C
            # tap i of the depthwise kernel reads lag (k - 1 - i) * d frames back
            start = (span - dw.span) // g
            taps = wd.new_zeros(wd.shape[0], n_taps)
            taps[:, start :: dw.dilation // g] = wd
            w = wp[:, :, None] * taps[None]  # 2F, C, n_taps
            b = wp @ dw.conv.bias if dw.conv.bias is not None else wp.new_zeros(wp.shape[0])
            if pw.conv.bias is not None:
                b = b + pw.conv.bias
            if isinstance(sep.norm, BatchNorm):
                scale, shift = sep.norm.affine()
                w = w * scale[:, None, None]
                b = b * scale + shift
            f = conv.out_channels
            a_w.append(w[:f])
            b_w.append(w[f:])
            a_b.append(b[:f])
            b_b.append(b[f:])
        weight = torch.cat(a_w + b_w)
        return weight.reshape(weight.shape[0], -1), torch.cat(a_b + b_b)

    def _folded(self) -> list[tuple[Tensor, Tensor]]:
        if self.training and self.config.norm == "batch":
            raise StreamingError("BatchNorm streaming needs eval mode (model.eval())")
        if torch.is_grad_enabled():  # differentiable, never cached
            return [self._fold_group(g) for g in self._group_list]
        tensors = [d[name] for d, name in self._fold_sources]
        key = tuple((t.data_ptr(), t._version) for t in tensors if t is not None)
        cache = self._fold_cache
        if cache is None or cache[0] != key:
            with torch.inference_mode(False), torch.no_grad():
                folded = [self._fold_group(g) for g in self._group_list]
            cache = self._fold_cache = (key, folded)
        return cache[1]

    @property
    def _fused(self) -> bool:
        return self.config.norm in ("none", "batch")

    def _check_streamable(self) -> None:
        if not self.config.causal:
            raise StreamingError("a non-causal SwishNet (causal=False) cannot stream")

    def init_state(self, batch: int = 1) -> State:
        """Fresh streaming state (all-zero history).

        Fast path: one cache ``[B, span, C]`` per group (3 front blocks, each residual conv,
        the heads). ``cln``: ``(block1, block2, block3, residual, heads)`` per-conv states.
        """
        self._check_streamable()
        if self._fused:
            w = self.classifier.conv.weight
            return tuple(
                torch.zeros(batch, span, g[0].conv.dw.channels, dtype=w.dtype, device=w.device)
                for g, (span, _) in zip(self._group_list, self._geometry, strict=True)
            )
        return (
            self.block1.init_state(batch),
            self.block2.init_state(batch),
            self.block3.init_state(batch),
            tuple(c.init_state(batch) for c in _gated(self.residual)),
            (self.head_a.init_state(batch), self.head_b.init_state(batch)),
        )

    def step(self, mfcc: Tensor, state: State) -> tuple[Tensor, State]:
        """Stream ``t >= 1`` frames: ``[B, n_mfcc, t] -> ([B, classes, t], state)``.

        Runs time-major (``[B, t, C]``: pointwise convs are matmuls); the output equals the
        matching frames of :meth:`forward` on the whole stream (``latency = 0``).
        """
        self._check_streamable()
        if mfcc.dim() != 3 or mfcc.shape[1] != self.config.n_mfcc or mfcc.shape[-1] < 1:
            raise StreamingError(
                f"expected an MFCC chunk [B, {self.config.n_mfcc}, t >= 1], got {tuple(mfcc.shape)}"
            )
        x = mfcc.transpose(1, 2)  # B, t, n_mfcc
        if self._fused:
            return self._step_fused(x, state)
        return self._step_modules(x, state)

    def _step_fused(self, x: Tensor, state: State) -> tuple[Tensor, State]:  # B, t, C
        n_groups = len(self._group_list)
        if len(state) != n_groups:
            raise StreamingError("state does not belong to this SwishNet (wrong layout)")
        folded = self._folded()
        new: list[Tensor] = []

        def run(i: int, inp: Tensor) -> Tensor:
            cache = state[i]
            assert isinstance(cache, Tensor)
            span, g = self._geometry[i]
            xc = torch.cat((cache, inp), dim=1)  # B, span + t, C
            new.append(xc[:, xc.shape[1] - span :])
            win = xc.unfold(1, span + 1, 1)[..., ::g]  # B, t, C, n_taps
            y = F.linear(win.reshape(win.shape[0], win.shape[1], -1), *folded[i])
            a, b = y.chunk(2, dim=-1)
            return torch.tanh(a) * torch.sigmoid(b)

        x = run(1, run(0, x))
        x = x + run(2, x)
        skips = []
        for i in range(len(self.residual)):
            y = run(3 + i, x)
            x = x + y
            if i > 0:
                skips.append(y)
        skips.append(run(n_groups - 1, x))
        logits = self.classifier.step(F.silu(torch.cat(skips, dim=-1)))
        return logits.transpose(1, 2), tuple(new)

    def _step_modules(self, x: Tensor, state: State) -> tuple[Tensor, State]:  # B, t, C
        s1, s2, s3, s_res, s_heads = state
        assert isinstance(s1, tuple) and isinstance(s2, tuple) and isinstance(s3, tuple)
        assert isinstance(s_res, tuple) and isinstance(s_heads, tuple)
        x, s1 = self.block1.step(x, s1)
        x, s2 = self.block2.step(x, s2)
        y, s3 = self.block3.step(x, s3)
        x = x + y
        skips, new_res = [], []
        for i, (conv, s) in enumerate(zip(_gated(self.residual), s_res, strict=True)):
            assert isinstance(s, tuple)
            y, s = conv.step(x, s)
            new_res.append(s)
            x = x + y
            if i > 0:
                skips.append(y)
        sa, sb = s_heads
        assert isinstance(sa, tuple) and isinstance(sb, tuple)
        ya, sa = self.head_a.step(x, sa)
        yb, sb = self.head_b.step(x, sb)
        skips += [ya, yb]
        logits = self.classifier.step(F.silu(torch.cat(skips, dim=-1)))
        return logits.transpose(1, 2), (s1, s2, s3, tuple(new_res), (sa, sb))


@register_family("swishnet", SwishNetConfig)
def build_swishnet(config: SwishNetConfig) -> SwishNet:
    return SwishNet(config)


register(
    "swishnet",
    "swishnet",
    SwishNetConfig(width=4),
    "SwishNet at w=4, the live tagger: causal gated separable 1-D CNN, 20 MFCC -> "
    "speech/music/noise per 10 ms",
)
register(
    "swishnet_wide",
    "swishnet",
    SwishNetConfig(width=2),
    "SwishNet (wide, w=2): the paper's wide network",
)
register(
    "swishnet_slim",
    "swishnet",
    SwishNetConfig(width=1),
    "SwishNet-slim (w=1): the same causal network at half width",
)
