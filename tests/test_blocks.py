"""Shared blocks, norms and counters."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rtaudio.models import ConfigError, count_macs, count_params
from rtaudio.models.blocks import (
    DepthwiseConv1d,
    PyramidDepthwiseConv2d,
    SeparableConv1d,
    SeparableConv2d,
    make_act,
)
from rtaudio.models.norms import CumulativeLayerNorm, GlobalLayerNorm, check_causal_norm, make_norm
from streaming_utils import assert_causal_by_gradient, assert_stream_matches_offline, random_chunks


class TimeMajor(nn.Module):
    """Adapt a block whose step is time-major to the ``[B, C, T]`` convention of the tests."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)

    def init_state(self, batch: int = 1):
        return self.block.init_state(batch)

    def step(self, x: torch.Tensor, state):
        y, state = self.block.step(x.transpose(1, 2), state)
        return y.transpose(1, 2), state


@pytest.mark.parametrize(
    ("kernel", "dilation", "mult"), [(3, 1, 1), (3, 4, 1), (5, 2, 2), (1, 1, 3)]
)
def test_depthwise_stream_equals_offline(kernel: int, dilation: int, mult: int) -> None:
    conv = DepthwiseConv1d(6, kernel, dilation=dilation, depth_multiplier=mult)
    x = torch.randn(2, 6, 120)
    assert conv(x).shape == (2, 6 * mult, 120)
    chunks = random_chunks(120, torch.Generator().manual_seed(kernel + dilation), 17)
    assert_stream_matches_offline(TimeMajor(conv), x, chunks)
    assert_causal_by_gradient(TimeMajor(conv), x[:1], 50)


def test_depthwise_dilation_override_matches_a_conv_of_that_dilation() -> None:
    a = DepthwiseConv1d(4, 3, dilation=1)
    b = DepthwiseConv1d(4, 3, dilation=8)
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 4, 64)
    torch.testing.assert_close(a(x, 8), b(x))
    y, _ = a.step(x.transpose(1, 2), a.init_state(1, 8), 8)
    torch.testing.assert_close(y.transpose(1, 2), b(x))


@pytest.mark.parametrize("norm", ["cln", "batch", "none"])
def test_separable_conv1d_streams(norm: str) -> None:
    block = SeparableConv1d(5, 7, 3, dilation=2, norm=norm, act="prelu").eval()
    x = torch.randn(2, 5, 90)
    assert_stream_matches_offline(TimeMajor(block), x, [1, 30, 2, 57])


def test_same_padding_is_not_causal() -> None:
    conv = DepthwiseConv1d(3, 5, padding="same")
    assert conv(torch.randn(1, 3, 20)).shape == (1, 3, 20)
    assert not conv.causal
    x = torch.randn(1, 3, 40, requires_grad=True)
    conv(x)[..., :10].sum().backward()
    assert x.grad is not None and x.grad[..., 10:12].abs().sum() > 0


def test_cumulative_layer_norm_matches_definition() -> None:
    norm = CumulativeLayerNorm(4)
    x = torch.randn(2, 4, 30)
    y = norm(x)
    for t in (0, 5, 29):
        seen = x[:, :, : t + 1]
        mean = seen.mean(dim=(1, 2), keepdim=True)
        var = seen.var(dim=(1, 2), unbiased=False, keepdim=True)
        ref = (x[:, :, t : t + 1] - mean) / torch.sqrt(var + 1e-8)
        torch.testing.assert_close(y[:, :, t : t + 1], ref, rtol=1e-4, atol=1e-5)


def test_global_layer_norm_normalises_whole_sequence() -> None:
    y = GlobalLayerNorm(3)(torch.randn(2, 3, 50) * 5 + 2)
    assert y.mean(dim=(1, 2)).abs().max() < 1e-5
    assert (y.var(dim=(1, 2), unbiased=False) - 1).abs().max() < 1e-3


def test_norm_and_activation_errors() -> None:
    with pytest.raises(ConfigError, match="not causal"):
        check_causal_norm("gln", True)
    check_causal_norm("gln", False)
    with pytest.raises(ConfigError, match="non-causal norm"):
        SeparableConv1d(4, 4, 3, padding="causal", norm="gln")
    with pytest.raises(ConfigError, match="unknown norm"):
        make_norm("layer", 3)
    with pytest.raises(ConfigError, match="unknown activation"):
        make_act("mish!")
    with pytest.raises(ConfigError):
        DepthwiseConv1d(3, 0)


def test_pyramid_depthwise_sums_its_kernels() -> None:
    pyr = PyramidDepthwiseConv2d(4, (3, 5, 7))
    assert count_params(pyr) == 4 * (9 + 25 + 49)
    x = torch.randn(1, 4, 16, 16)
    expected = sum(conv(x) for conv in pyr.convs)
    torch.testing.assert_close(pyr(x), expected)
    sep = SeparableConv2d(4, 8, (3, 5), stride=2, mid_norm="batch", mid_act="relu")
    assert sep(x).shape == (1, 8, 8, 8)


def test_counters_are_exact_on_known_layers() -> None:
    conv = nn.Conv1d(4, 6, 3, bias=True)
    assert count_params(conv) == 4 * 6 * 3 + 6
    assert count_macs(conv, torch.randn(1, 4, 12)) == 6 * 10 * 4 * 3
    lin = nn.Linear(10, 5)
    shared = nn.Sequential(lin, nn.ReLU(), nn.Linear(5, 10), nn.ReLU(), lin)
    assert count_params(shared) == 55 + 60  # the reused layer counts once
    assert count_macs(shared, torch.randn(1, 10)) == 50 + 50 + 50
    dw = SeparableConv2d(8, 16, 3)
    macs = count_macs(dw, torch.randn(1, 8, 10, 10))
    assert macs == 10 * 10 * 8 * 9 + 10 * 10 * 8 * 16
