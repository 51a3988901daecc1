"""Checks shared by the streaming tests of every causal model.

Convention: ``forward`` and ``step`` take time on the last axis (waveforms ``[B, T]``, feature
frames ``[B, C, T]``) and return time on the last axis. ``model.latency`` (default 0) is the
delay, in input steps, of the streamed output relative to the offline output.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


def stream(model: nn.Module, x: Tensor, chunks: Sequence[int]) -> Tensor:
    """Feed ``x`` through ``model.step`` in chunks of the given lengths (must sum to T)."""
    assert sum(chunks) == x.shape[-1]
    state = model.init_state(x.shape[0])
    outs, t = [], 0
    for c in chunks:
        y, state = model.step(x[..., t : t + c], state)
        outs.append(y)
        t += c
    return torch.cat(outs, dim=-1)


def delayed(y: Tensor, latency: int, length: int) -> Tensor:
    """``y`` delayed by ``latency`` steps (zeros in front), cut to ``length`` steps."""
    if latency:
        y = torch.cat((y.new_zeros(*y.shape[:-1], latency), y), dim=-1)
    return y[..., :length]


def random_chunks(total: int, rng: torch.Generator, max_chunk: int) -> list[int]:
    out = []
    while sum(out) < total:
        out.append(int(torch.randint(1, max_chunk + 1, (1,), generator=rng)))
    out[-1] -= sum(out) - total
    return [c for c in out if c > 0]


def assert_stream_matches_offline(
    model: nn.Module, x: Tensor, chunks: Sequence[int], atol: float = 1e-5
) -> None:
    model.eval()
    with torch.no_grad():
        offline = model(x)
        streamed = stream(model, x, chunks)
    latency = int(getattr(model, "latency", 0))
    expected = delayed(offline, latency, streamed.shape[-1])
    assert streamed.shape == expected.shape, (streamed.shape, expected.shape)
    err = (streamed - expected).abs().max().item()
    scale = max(1.0, expected.abs().max().item())
    assert err <= atol * scale, (
        f"stream differs from offline by {err:.3g} (chunks {list(chunks)[:8]}...)"
    )


def assert_causal_by_gradient(model: nn.Module, x: Tensor, cut: int) -> None:
    """Streamed outputs before step ``cut`` get no gradient from inputs at or after ``cut``."""
    model.eval()
    x = x.clone().requires_grad_(True)
    y = stream(model, x, [cut, x.shape[-1] - cut])
    y[..., :cut].pow(2).sum().backward()
    assert x.grad is not None
    future = x.grad[..., cut:].abs().max().item()
    past = x.grad[..., :cut].abs().max().item()
    assert past > 0, "no gradient at all: the check would pass vacuously"
    assert future == 0, f"future inputs leak into past outputs (grad {future:.3g})"


def assert_offline_causal(model: nn.Module, x: Tensor, cut: int) -> None:
    """Offline outputs before ``cut - latency`` get no gradient from inputs at or after ``cut``."""
    model.eval()
    latency = int(getattr(model, "latency", 0))
    x = x.clone().requires_grad_(True)
    y = model(x)
    y[..., : cut - latency].pow(2).sum().backward()
    assert x.grad is not None
    assert x.grad[..., :cut].abs().max().item() > 0
    future = x.grad[..., cut:].abs().max().item()
    assert future == 0, f"offline output leaks future input (grad {future:.3g})"


def randomise_batchnorm(model: nn.Module, seed: int = 3) -> None:
    """Give every BatchNorm non-trivial statistics and affine weights, so folding them into
    neighbouring layers (as streaming code does) is really exercised."""
    g = torch.Generator().manual_seed(seed)
    for mod in model.modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            assert mod.running_mean is not None and mod.running_var is not None
            n = mod.num_features
            mod.running_mean.copy_(torch.randn(n, generator=g) * 0.3)
            mod.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            if mod.affine:
                mod.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
                mod.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
