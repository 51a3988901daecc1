"""Batched training features that equal the engine's, and SwishNet's input normalisation.

:func:`mfcc_batch` computes, for a batch of waveforms in torch, the MFCC frames that
:func:`rtaudio.features.offline_features` (and so the streaming
:class:`~rtaudio.features.FeatureExtractor` of the live engine) computes for each waveform:
same window, padding, mel filters, dB conversion and DCT, from the same precomputed matrices.

SwishNet reads raw MFCCs (``c0`` spans hundreds of units). To train well it sees
``(mfcc - mean) / std`` through :class:`InputNorm`; :func:`fold_input_norm` then moves that
affine map into the depthwise convolutions of the first block (a per-channel scale and bias),
so the shipped network reads raw MFCCs exactly as the engine produces them.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rtaudio.features import FeatureConfig


@lru_cache(maxsize=4)
def _mats(cfg: FeatureConfig) -> tuple[Tensor, Tensor, Tensor]:
    return (
        torch.from_numpy(cfg.window.copy()),
        torch.from_numpy(cfg.mel_basis.copy()),
        torch.from_numpy(cfg.dct_matrix.copy()),
    )


def logmel_mfcc_batch(wave: Tensor, cfg: FeatureConfig | None = None) -> tuple[Tensor, Tensor]:
    """``[B, T]`` -> (log-mel ``[B, F, n_mels]``, MFCC ``[B, n_mfcc, F]``), ``F = 1 + T // hop``
    (``center=True`` with zero padding, as :func:`rtaudio.features.offline_features`)."""
    cfg = cfg or FeatureConfig()
    window, mel, dct = (m.to(wave.device) for m in _mats(cfg))
    half = cfg.n_fft // 2
    frames = F.pad(wave.float(), (half, half)).unfold(-1, cfg.n_fft, cfg.hop_length)  # B, F, n
    spec = torch.fft.rfft(frames * window, dim=-1)
    power = spec.real.square() + spec.imag.square()
    logmel = 10.0 * torch.log10(torch.clamp(power @ mel.T, min=cfg.amin))  # B, F, n_mels
    mfcc = (logmel @ dct.T).transpose(1, 2)  # B, n_mfcc, F
    return logmel, mfcc.contiguous()


def mfcc_batch(wave: Tensor, cfg: FeatureConfig | None = None) -> Tensor:
    """MFCC frames ``[B, n_mfcc, F]`` of a waveform batch ``[B, T]`` (16 kHz)."""
    return logmel_mfcc_batch(wave, cfg)[1]


class InputNorm(nn.Module):
    """``model((x - mean) / std)`` with per-channel statistics ``mean, std [C]`` (buffers).

    Shapes: ``[B, C, T] -> model's output``.
    """

    def __init__(self, model: nn.Module, mean: Tensor, std: Tensor) -> None:
        super().__init__()
        self.model = model
        self.mean: Tensor
        self.std: Tensor
        self.register_buffer("mean", mean.detach().clone().float())
        self.register_buffer("std", std.detach().clone().float().clamp_min(1e-3))

    def forward(self, x: Tensor) -> Tensor:  # B, C, T
        return self.model((x - self.mean[:, None]) / self.std[:, None])


@torch.no_grad()
def fold_input_norm(swishnet: nn.Module, mean: Tensor, std: Tensor) -> nn.Module:
    """Fold ``(x - mean) / std`` into the depthwise convs of SwishNet's first block, in place.

    Every branch of ``block1`` reads the input; its depthwise conv ``y_c = sum_j w_cj x_c + b_c``
    becomes ``sum_j (w_cj / s_c) x_c + (b_c - m_c / s_c * sum_j w_cj)``. The result equals
    ``InputNorm(swishnet, mean, std)`` on every frame whose first-block taps lie inside the
    input (i.e. after the first ``max(branch_kernels) - 1`` frames of a stream, whose left
    padding the two see differently), and streams like any SwishNet.
    """
    s = std.float().clamp_min(1e-3)
    m = mean.float()
    for branch in swishnet.block1.branches:  # type: ignore[union-attr]
        conv = branch.conv.dw.conv
        w = conv.weight  # C, 1, k
        tap_sum = w.sum(dim=(1, 2))  # C
        if conv.bias is None:
            raise ValueError("fold_input_norm needs depthwise convs with a bias")
        conv.bias.sub_(tap_sum * m / s)
        w.div_(s[:, None, None])
    return swishnet


@torch.no_grad()
def unfold_input_norm(swishnet: nn.Module, mean: Tensor, std: Tensor) -> nn.Module:
    """The inverse of :func:`fold_input_norm`, in place: a SwishNet that reads raw MFCCs (as
    the shipped weights do) becomes one that reads ``(x - mean) / std``, so that
    ``InputNorm(swishnet, mean, std)`` computes what the original did (e.g. to fine-tune
    shipped weights: ``w = w' s``, ``b = b' + m sum_j w'_j``)."""
    s = std.float().clamp_min(1e-3)
    m = mean.float()
    for branch in swishnet.block1.branches:  # type: ignore[union-attr]
        conv = branch.conv.dw.conv
        w = conv.weight
        if conv.bias is None:
            raise ValueError("unfold_input_norm needs depthwise convs with a bias")
        conv.bias.add_(w.sum(dim=(1, 2)) * m)
        w.mul_(s[:, None, None])
    return swishnet
