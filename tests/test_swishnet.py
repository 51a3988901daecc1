"""SwishNet: shapes, streaming == offline, causality, registry, save/load, config errors."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rtaudio import models
from rtaudio.models import ConfigError, StreamingError, count_macs, count_params
from rtaudio.models.streaming import Streamer, state_tensors
from rtaudio.models.swishnet import SwishNet, SwishNetConfig
from streaming_utils import (
    assert_causal_by_gradient,
    assert_offline_causal,
    assert_stream_matches_offline,
    random_chunks,
    randomise_batchnorm,
    stream,
)


def _net(name: str = "swishnet", **overrides: object) -> SwishNet:
    net = models.create(name, **overrides)
    assert isinstance(net, SwishNet)
    return net.eval()


# ----------------------------------------------------------------------------- registry


def test_registered_variants_and_defaults() -> None:
    assert {"swishnet", "swishnet_wide", "swishnet_slim"} <= set(models.list_models())
    net = _net()
    cfg = net.config
    assert (cfg.n_mfcc, cfg.classes, cfg.causal) == (20, 3, True)
    assert net.labels == ("speech", "music", "noise")
    assert net.latency == 0


def test_param_counts_tens_of_thousands_and_slim_smaller() -> None:
    live = count_params(_net("swishnet"))
    full = count_params(_net("swishnet_wide"))
    slim = count_params(_net("swishnet_slim"))
    assert 10_000 <= full < live < 100_000, (full, live)
    assert slim < full / 2, (slim, full)


def test_macs_per_frame_match_params_scale() -> None:
    net = _net()
    t = 50
    macs = count_macs(net, torch.randn(1, 20, t)) / t
    # every weight (depthwise taps + pointwise) is used once per frame; biases are not MACs
    assert 0.8 * count_params(net) < macs < 1.05 * count_params(net), macs


# ------------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("t", [1, 2, 7, 130])
def test_forward_and_pooled_shapes(t: int) -> None:
    net = _net()
    x = torch.randn(2, 20, t)
    y = net(x)
    assert y.shape == (2, 3, t)
    p = net.pooled(x)
    assert p.shape == (2, 3)
    torch.testing.assert_close(p, y.mean(-1))


def test_rejects_wrong_input_shape() -> None:
    net = _net()
    with pytest.raises(ValueError, match="MFCC"):
        net(torch.randn(1, 13, 10))
    with pytest.raises(StreamingError):
        net.step(torch.randn(1, 13, 1), net.init_state(1))


def test_receptive_field_matches_config() -> None:
    net = _net("swishnet_slim")
    rf = net.config.receptive_field
    t = rf + 20
    x = torch.randn(1, 20, t + 10, requires_grad=True)
    net(x)[..., t].sum().backward()
    assert x.grad is not None
    g = x.grad[0].abs().sum(0)
    assert g[t - rf + 1] > 0
    assert g[: t - rf + 1].max() == 0
    assert g[t + 1 :].max() == 0


# ---------------------------------------------------------------------------- streaming


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    total=st.integers(1, 160),
    max_chunk=st.integers(1, 40),
    slim=st.booleans(),
)
def test_stream_matches_offline_random_chunks(
    seed: int, total: int, max_chunk: int, slim: bool
) -> None:
    torch.manual_seed(seed)
    net = _net("swishnet_slim" if slim else "swishnet")
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 20, total, generator=gen)
    assert_stream_matches_offline(net, x, random_chunks(total, gen, max_chunk), atol=1e-5)


def test_one_frame_steps_match_offline_past_the_receptive_field() -> None:
    net = _net()
    x = torch.randn(1, 20, 2 * net.config.receptive_field)
    assert_stream_matches_offline(net, x, [1] * x.shape[-1], atol=1e-5)


@pytest.mark.parametrize("norm", ["batch", "cln"])
def test_stream_matches_offline_with_norms(norm: str) -> None:
    net = _net("swishnet_slim", norm=norm)
    randomise_batchnorm(net)
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 20, 90, generator=gen)
    assert_stream_matches_offline(net, x, random_chunks(90, gen, 17), atol=1e-5)


def test_batchnorm_streaming_needs_eval_mode() -> None:
    net = _net("swishnet_slim", norm="batch").train()
    with pytest.raises(StreamingError, match="eval"):
        net.step(torch.randn(1, 20, 1), net.init_state(1))


def test_causal_by_gradient() -> None:
    net = _net("swishnet_slim")
    x = torch.randn(1, 20, 60)
    assert_causal_by_gradient(net, x, cut=25)
    assert_offline_causal(net, x, cut=25)


def test_non_causal_variant_sees_the_future_and_cannot_stream() -> None:
    net = _net("swishnet_slim", causal=False, norm="gln")
    x = torch.randn(1, 20, 40)
    assert net(x).shape == (1, 3, 40)
    with pytest.raises(AssertionError, match="leaks"):
        assert_offline_causal(net, x, cut=20)
    with pytest.raises(StreamingError):
        net.init_state(1)


def test_reset_equals_fresh_state() -> None:
    net = _net()
    gen = torch.Generator().manual_seed(5)
    x1 = torch.randn(1, 20, 37, generator=gen)
    x2 = torch.randn(1, 20, 23, generator=gen)
    fresh = net.init_state(1)
    assert all(isinstance(t, torch.Tensor) for t in state_tensors(fresh))
    with torch.no_grad():
        _, used = net.step(x1, fresh)
        assert any(t.abs().sum() > 0 for t in state_tensors(used))
        a, _ = net.step(x2, net.init_state(1))  # reset after a stream
        b, _ = net.step(x2, fresh)  # the fresh state was not mutated by stepping
        c = net(x2)  # a fresh stream is the offline pass of x2 alone
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(a, c, rtol=0, atol=1e-5)


def test_streamer_wrapper_one_frame_at_a_time() -> None:
    net = _net()
    x = torch.randn(1, 20, 30)
    s = Streamer(net)
    out = torch.cat([s(x[..., i : i + 1]) for i in range(30)], dim=-1)
    torch.testing.assert_close(out, net(x).detach(), atol=1e-5, rtol=0)
    s.reset()
    torch.testing.assert_close(s(x[..., :5]), net(x[..., :5]).detach(), atol=1e-5, rtol=0)


def test_folded_weights_follow_weight_updates() -> None:
    net = _net()
    x = torch.randn(1, 20, 12)
    with torch.no_grad():
        stream(net, x, [4, 8])  # builds the cached folded weights
        for p in net.parameters():
            p.mul_(1.1)
        assert_stream_matches_offline(net, x, [5, 7])
        other = _net()
        torch.nn.init.normal_(other.block1.branches[0].conv.pw.conv.weight)
        net.load_state_dict(other.state_dict())
        assert_stream_matches_offline(net, x, [1, 11])
        torch.testing.assert_close(stream(net, x, [12]), other(x), atol=1e-5, rtol=0)


def test_deepcopy_streams_with_its_own_weights() -> None:
    net = _net()
    x = torch.randn(1, 20, 10)
    with torch.no_grad():
        stream(net, x, [10])
        twin = copy.deepcopy(net)
        for p in twin.parameters():
            p.mul_(0.5)
        assert_stream_matches_offline(twin, x, [3, 7])
        assert_stream_matches_offline(net, x, [3, 7])
        assert (twin(x) - net(x)).abs().max() > 1e-4


def test_step_is_differentiable_for_parameters() -> None:
    net = _net("swishnet_slim")
    y = stream(net, torch.randn(1, 20, 9), [3, 6])
    y.sum().backward()
    w = net.block1.branches[0].conv.dw.conv.weight
    assert w.grad is not None and w.grad.abs().sum() > 0


# ------------------------------------------------------------------------ save / load


def test_save_load_round_trip(tmp_path: Path) -> None:
    net = _net("swishnet_slim", labels=("a", "b"), classes=2)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.01 * torch.randn_like(p))
    path = models.save(net, tmp_path / "swish.safetensors", meta={"note": "test"})
    back = models.load(path, family="swishnet")
    assert isinstance(back, SwishNet)
    assert back.config == net.config
    assert back.labels == ("a", "b")
    x = torch.randn(1, 20, 33)
    torch.testing.assert_close(back(x), net(x), rtol=0, atol=0)


# ------------------------------------------------------------------------ config errors


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"n_mfcc": 0}, "n_mfcc"),
        ({"classes": 0}, "classes"),
        ({"width": 0}, "width"),
        ({"kernel_size": 0}, "kernel_size"),
        ({"classes": 4}, "labels"),
        ({"labels": ("a", "a", "b")}, "duplicates"),
        ({"norm": "gln"}, "not causal"),
        ({"norm": "weird"}, "unknown norm"),
        ({"front_filters": (16, 8)}, "3 entries"),
        ({"front_filters": (16, 8, 4)}, "front_filters"),
        ({"branch_kernels": ()}, "branch_kernels"),
        ({"branch_kernels": (3, 0)}, "branch_kernels"),
        ({"dilations": (2,)}, "dilations"),
        ({"width": True}, "width"),
        ({"nonsense": 1}, "no field"),
    ],
)
def test_config_errors(overrides: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        models.create("swishnet", **overrides)


def test_non_causal_global_norm_is_allowed() -> None:
    cfg = SwishNetConfig(causal=False, norm="gln")
    assert models.build(cfg)(torch.randn(1, 20, 5)).shape == (1, 3, 5)
