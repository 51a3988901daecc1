"""Normalisation layers for 1-D feature maps, each usable offline and in streaming.

Offline layout is ``[B, C, T]``; streaming ``step`` works time-major, ``[B, T, C]``.

* ``batch``: BatchNorm1d. Causal at inference (running statistics only).
* ``gln``: global layer norm over channels and all time (Conv-TasNet). Not causal.
* ``cln``: cumulative layer norm over channels and all time up to ``t`` (Conv-TasNet, causal).
  Its running sums live in the streaming state, in float64 so long streams stay exact.
* ``none``: identity.

References:
    Luo & Mesgarani, "Conv-TasNet: Surpassing Ideal Time-Frequency Magnitude Masking for
    Speech Separation", IEEE/ACM TASLP 2019, section II-C.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .errors import ConfigError, StreamingError
from .streaming import State

NORMS = ("batch", "gln", "cln", "none")
CAUSAL_NORMS = ("batch", "cln", "none")
EPS = 1e-8


class Norm1d(nn.Module):
    """Base class: ``forward`` on ``[B, C, T]``, ``step`` on ``[B, T, C]``."""

    causal: bool = True

    def init_state(self, batch: int = 1) -> State:
        return ()

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        raise NotImplementedError


class Identity1d(Norm1d):
    def forward(self, x: Tensor) -> Tensor:
        return x

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        return x, state


class BatchNorm(Norm1d):
    """BatchNorm1d whose ``step`` applies the running statistics (eval mode)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(x)

    def affine(self) -> tuple[Tensor, Tensor]:
        """Scale and shift equal to the eval-mode transform: ``y = x * scale + shift``."""
        bn = self.bn
        assert bn.running_var is not None and bn.running_mean is not None
        scale = torch.rsqrt(bn.running_var + bn.eps)
        if bn.weight is not None:
            scale = scale * bn.weight
        shift = -bn.running_mean * scale
        if bn.bias is not None:
            shift = shift + bn.bias
        return scale, shift

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        if self.training:
            raise StreamingError("BatchNorm streaming needs eval mode")
        scale, shift = self.affine()
        return torch.addcmul(shift, x, scale), state


class GlobalLayerNorm(Norm1d):
    """gLN: normalise over channels and the whole sequence (non-causal)."""

    causal = False

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:  # B, C, T
        mean = x.mean(dim=(1, 2), keepdim=True)
        var = (x - mean).pow(2).mean(dim=(1, 2), keepdim=True)
        y = (x - mean) / torch.sqrt(var + EPS)
        return y * self.gamma[:, None] + self.beta[:, None]

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        raise StreamingError("gLN looks at the whole sequence and cannot stream; use cLN")


class CumulativeLayerNorm(Norm1d):
    """cLN: at frame ``t`` normalise with the mean / variance of channels x frames ``<= t``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    @staticmethod
    def _normalise(x: Tensor, s: Tensor, s2: Tensor, n: Tensor) -> Tensor:
        # s, s2, n: cumulative sum, sum of squares and element count, float64, broadcastable
        mean = s / n
        var = (s2 / n - mean * mean).clamp_min(0.0)
        inv = torch.rsqrt(var + EPS)
        return ((x.double() - mean) * inv).to(x.dtype)

    def forward(self, x: Tensor) -> Tensor:  # B, C, T
        c = x.shape[1]
        xd = x.double()
        s = xd.sum(1).cumsum(-1)[:, None]  # B, 1, T
        s2 = (xd * xd).sum(1).cumsum(-1)[:, None]
        n = torch.arange(1, x.shape[-1] + 1, device=x.device, dtype=torch.float64) * c
        y = self._normalise(x, s, s2, n)
        return y * self.gamma[:, None] + self.beta[:, None]

    def init_state(self, batch: int = 1) -> State:
        z = torch.zeros(batch, 1, dtype=torch.float64)
        return (z, z.clone(), torch.zeros(1, dtype=torch.float64))

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:  # B, T, C
        s0, s20, n0 = state
        assert isinstance(s0, Tensor) and isinstance(s20, Tensor) and isinstance(n0, Tensor)
        c = x.shape[-1]
        xd = x.double()
        s = xd.sum(-1).cumsum(-1) + s0  # B, T
        s2 = (xd * xd).sum(-1).cumsum(-1) + s20
        n = n0 + c * torch.arange(1, x.shape[1] + 1, dtype=torch.float64, device=x.device)
        y = self._normalise(x, s[..., None], s2[..., None], n[:, None])
        y = torch.addcmul(self.beta, y, self.gamma)
        return y, (s[:, -1:], s2[:, -1:], n[-1:])


def make_norm(kind: str, channels: int) -> Norm1d:
    """Build a 1-D norm by name: ``batch``, ``gln``, ``cln`` or ``none``."""
    if kind == "batch":
        return BatchNorm(channels)
    if kind == "gln":
        return GlobalLayerNorm(channels)
    if kind == "cln":
        return CumulativeLayerNorm(channels)
    if kind == "none":
        return Identity1d()
    raise ConfigError(f"unknown norm {kind!r}; choose one of {', '.join(NORMS)}")


def check_causal_norm(kind: str, causal: bool, where: str = "model") -> None:
    """Raise :class:`ConfigError` if a causal model asks for a non-causal norm."""
    if kind not in NORMS:
        raise ConfigError(f"{where}: unknown norm {kind!r}; choose one of {', '.join(NORMS)}")
    if causal and kind not in CAUSAL_NORMS:
        raise ConfigError(
            f"{where}: norm {kind!r} is not causal; a causal model needs one of "
            f"{', '.join(CAUSAL_NORMS)}"
        )
