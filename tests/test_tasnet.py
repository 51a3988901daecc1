"""MiTAS / Conv-TasNet / TseNet: paper sizes, exact streaming, causality, weights."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rtaudio import models
from rtaudio.models import ConfigError, Streamer, StreamingError, WeightsError
from rtaudio.models.tasnet import SHARING, MiTAS, TseNet
from streaming_utils import (
    assert_causal_by_gradient,
    assert_offline_causal,
    assert_stream_matches_offline,
    delayed,
    random_chunks,
    randomise_batchnorm,
    stream,
)

SMALL = dict(
    enc_kernel=16,
    enc_stride=8,
    enc_channels=24,
    bn_channels=12,
    hidden_channels=20,
    skip_channels=10,
    layers=3,
    stacks=2,
)


class WithEmbedding(torch.nn.Module):
    """TseNet with a fixed target embedding, in the generic streaming test shape."""

    def __init__(self, net: TseNet, embedding: torch.Tensor) -> None:
        super().__init__()
        self.net, self.embedding, self.latency = net, embedding, net.latency

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x, self.embedding[: x.shape[0]])

    def init_state(self, batch: int = 1) -> models.State:
        return self.net.init_state(batch, self.embedding[:batch])

    def step(self, chunk: torch.Tensor, state: models.State) -> tuple[torch.Tensor, models.State]:
        return self.net.step(chunk, state)


# ------------------------------------------------------------------------------ paper sizes


def test_conv_tasnet_base_has_paper_size() -> None:
    n = models.count_params(models.create("conv_tasnet"))
    assert 5_050_000 <= n <= 5_100_000, n


def test_mitas_sharing_shrinks_in_paper_proportions() -> None:
    base = models.count_params(models.create("conv_tasnet"))
    ratio = {
        f"{dw}/{pw}": models.count_params(
            models.create("conv_tasnet", share_depthwise=dw, share_pointwise=pw)
        )
        / base
        for dw in SHARING
        for pw in SHARING
    }
    assert ratio["none/none"] == 1.0
    # Conv-MiTAS_ss: depthwise and pointwise shared across the 3 stacks, about 36 % of the base
    assert 0.34 <= ratio["stacks/stacks"] <= 0.38
    assert models.count_params(models.create("mitas_ss")) == round(ratio["stacks/stacks"] * base)
    # the pointwise convs hold almost all weights; sharing all of them leaves < 10 %
    assert ratio["all/all"] < 0.10
    assert ratio["none/stacks"] < ratio["none/none"]
    assert ratio["none/all"] < ratio["none/dilations"] < ratio["none/stacks"]  # X=8 > R=3
    assert ratio["stacks/none"] < 1.0
    assert abs(ratio["stacks/none"] - 1.0) < 0.02  # depthwise weights are small


def test_shared_weights_are_one_tensor() -> None:
    net = models.create("mitas_ss")
    assert len(net.tcn.pw_in) == 8 and len(net.tcn.dw) == 8
    keys = list(net.state_dict())
    assert not any(k.startswith("tcn.pw_in.8.") for k in keys)


def test_macs_counted_per_use() -> None:
    x = torch.randn(1, 16000)
    base = models.count_macs(models.create("conv_tasnet"), x)
    shared = models.count_macs(models.create("mitas_ss"), x)
    assert shared == base  # sharing saves parameters, not computation
    # about 5.05M weights applied at ~2000 frames/s: a few GMAC per second of audio
    assert 5e9 < base < 15e9, base


# ------------------------------------------------------------------------------- streaming


@pytest.mark.parametrize("norm", ["cln", "batch"])
@pytest.mark.parametrize("share", [("none", "none"), ("stacks", "dilations"), ("all", "all")])
@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10_000), max_chunk=st.sampled_from([1, 5, 8, 37, 160, 700]))
def test_mitas_stream_equals_offline(
    norm: str, share: tuple[str, str], seed: int, max_chunk: int
) -> None:
    torch.manual_seed(seed)
    net = models.create(
        "mitas", **SMALL, norm=norm, share_depthwise=share[0], share_pointwise=share[1]
    )
    randomise_batchnorm(net)
    x = torch.randn(2, 900)
    chunks = random_chunks(900, torch.Generator().manual_seed(seed), max_chunk)
    assert_stream_matches_offline(net, x, chunks)


def test_stream_one_sample_and_seconds_chunks() -> None:
    net = models.create("mitas", **SMALL, num_sources=2).eval()
    x = torch.randn(1, 16000 + 333)
    assert_stream_matches_offline(net, x, [16000, 333])
    assert_stream_matches_offline(net, x[:, :300], [1] * 300)


def test_shipped_mitas_streams_exactly() -> None:
    net = models.create("mitas")
    randomise_batchnorm(net)
    x = torch.randn(1, 4000)
    assert_stream_matches_offline(net, x, [160] * 25)


def test_stream_output_length_and_latency() -> None:
    net = models.create("mitas", **SMALL).eval()
    assert net.latency == 15  # L - 1 samples
    x = torch.randn(1, 480)
    y = stream(net, x, [160, 160, 160])
    assert y.shape == (1, 1, 480)
    assert y[..., : net.latency].abs().max() == 0  # nothing is emitted before its input


@pytest.mark.parametrize("name", ["mitas", "tsenet"])
def test_causal_by_gradient(name: str) -> None:
    net = models.create(name, **SMALL)
    randomise_batchnorm(net)
    if isinstance(net, TseNet):
        net = WithEmbedding(net, torch.randn(1, net.config.emb_dim))
    x = torch.randn(1, 700)
    for cut in (100, 333, 512):
        assert_causal_by_gradient(net, x, cut)
        assert_offline_causal(net, x, cut)


def test_noncausal_config_leaks_future_and_refuses_to_stream() -> None:
    net = models.create("mitas", **SMALL, causal=False, norm="gln").eval()
    x = torch.randn(1, 600).requires_grad_(True)
    net(x)[..., :200].sum().backward()
    assert x.grad is not None and x.grad[..., 400:].abs().max() > 0
    with pytest.raises(StreamingError):
        net.init_state(1)


def test_reset_equals_fresh_state() -> None:
    net = models.create("mitas", **SMALL).eval()
    x = torch.randn(1, 800)
    s = Streamer(net)
    first = torch.cat([s(c) for c in x.split(160, dim=-1)], dim=-1)
    s.reset()
    again = torch.cat([s(c) for c in x.split(160, dim=-1)], dim=-1)
    fresh = torch.cat([Streamer(net)(x)], dim=-1)
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    torch.testing.assert_close(first, fresh, rtol=1e-6, atol=1e-6)


def test_streamer_rejects_bad_chunks() -> None:
    net = models.create("mitas", **SMALL).eval()
    s = Streamer(net)
    with pytest.raises(StreamingError, match="NaN"):
        s(torch.full((1, 10), float("nan")))
    with pytest.raises(StreamingError, match="batch"):
        s(torch.zeros(2, 10))
    with pytest.raises(StreamingError, match="eval"):
        Streamer(models.create("mitas", **SMALL))


def test_fused_stream_weights_follow_training() -> None:
    """The cached streaming weights must never go stale after an optimiser step."""
    net = models.create("mitas", **SMALL, norm="batch").eval()
    x = torch.randn(1, 400)
    stream(net, x, [400])
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.01 * torch.randn_like(p))
    assert_stream_matches_offline(net, x, [160, 240])


@pytest.mark.parametrize("name", ["mitas", "tsenet"])
def test_scale_output_scales_the_output_offline_and_streamed_exactly(name: str) -> None:
    """What ``rtaudio train`` uses to give speech back at its input level (SI-SNR leaves the
    scale free): every output, offline and chunk by chunk, times the gain."""
    net = models.create(name, **SMALL)
    randomise_batchnorm(net)
    net.eval()
    x = torch.randn(1, 1200)
    emb = net.embed(torch.randn(1, 8000)) if name == "tsenet" else None
    wrapped = WithEmbedding(net, emb) if emb is not None else net
    chunks = [160, 320, 7, 713]
    with torch.no_grad():
        before_offline, before_stream = wrapped(x), stream(wrapped, x, chunks)
        net.scale_output(0.25)
        after_offline, after_stream = wrapped(x), stream(wrapped, x, chunks)
    torch.testing.assert_close(after_offline, 0.25 * before_offline, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(after_stream, 0.25 * before_stream, rtol=1e-5, atol=1e-7)
    assert_stream_matches_offline(wrapped, x, chunks)
    net.scale_output(-1.0)  # a polarity flip is a scale too
    with torch.no_grad():
        torch.testing.assert_close(wrapped(x), -0.25 * before_offline, rtol=1e-5, atol=1e-7)
    for bad in (0.0, float("nan"), float("inf"), float("-inf")):
        with pytest.raises(ValueError, match="non-zero finite"):
            net.scale_output(bad)


# ---------------------------------------------------------------------------------- TseNet


def test_tsenet_streams_exactly_with_embedding() -> None:
    net = models.create("tsenet", **SMALL)
    randomise_batchnorm(net)
    net.eval()
    emb = net.embed(torch.randn(2, 8000))
    assert emb.shape == (2, net.config.emb_dim)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 1000)
    assert_stream_matches_offline(WithEmbedding(net, emb), x, random_chunks(1000, g, 64))


def test_tsenet_output_depends_on_enrollment() -> None:
    net = models.create("tsenet", **SMALL).eval()
    x = torch.randn(1, 800)
    a = net(x, enrollment=torch.randn(1, 4000))
    b = net(x, enrollment=torch.randn(1, 4000) * 3 + 1)
    assert (a - b).abs().max() > 1e-4


def test_tsenet_needs_embedding() -> None:
    net = models.create("tsenet", **SMALL).eval()
    with pytest.raises(StreamingError, match="embedding"):
        net.init_state(1)
    with pytest.raises(StreamingError, match="embedding must be"):
        net.init_state(1, torch.zeros(1, 3))
    with pytest.raises(ValueError, match="enrollment"):
        net.embed(torch.zeros(1, 4))


# ---------------------------------------------------------------------------------- configs


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (dict(norm="gln"), "not causal"),
        (dict(norm="layer"), "unknown norm"),
        (dict(enc_kernel=20, enc_stride=8), "multiple"),
        (dict(layers=0), "layers"),
        (dict(share_pointwise="sometimes"), "share_pointwise"),
        (dict(mask_act="softmax"), "mask_act"),
        (dict(bogus=1), "no field"),
    ],
)
def test_config_errors(overrides: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        models.create("mitas", **overrides)


def test_tsenet_config_is_single_source() -> None:
    with pytest.raises(ConfigError, match="num_sources"):
        models.create("tsenet", num_sources=2)


# ---------------------------------------------------------------------------------- weights


@pytest.mark.parametrize("name", ["mitas", "tsenet"])
def test_save_load_round_trip(name: str, tmp_path) -> None:
    net = models.create(name, **SMALL)
    randomise_batchnorm(net)
    net.eval()
    path = models.save(net, tmp_path / f"{name}.safetensors", meta={"note": "test"})
    back = models.load(path, family=name)
    assert type(back) is type(net) and back.config == net.config
    assert back.meta == {"note": "test"}
    x = torch.randn(1, 500)
    kw = {"enrollment": torch.randn(1, 2000)} if name == "tsenet" else {}
    torch.testing.assert_close(back(x, **kw), net(x, **kw), rtol=0, atol=0)


def test_load_refuses_wrong_family_and_tampering(tmp_path) -> None:
    net = models.create("mitas", **SMALL)
    path = models.save(net, tmp_path / "m.safetensors")
    with pytest.raises(WeightsError, match="expected 'tsenet'"):
        models.load(path, family="tsenet")
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF  # flip bits in the last tensor's data
    bad = tmp_path / "tampered.safetensors"
    bad.write_bytes(bytes(raw))
    with pytest.raises(WeightsError, match="checksum"):
        models.load(bad)
    trunc = tmp_path / "trunc.safetensors"
    trunc.write_bytes(path.read_bytes()[:100])
    with pytest.raises(WeightsError, match="safetensors"):
        models.load(trunc)
    with pytest.raises(WeightsError, match="no such"):
        models.load(tmp_path / "missing.safetensors")


def test_separator_outputs_have_input_length() -> None:
    net = models.create("mitas", **SMALL, num_sources=3).eval()
    for t in (1, 7, 8, 1601):
        assert net(torch.randn(2, t)).shape == (2, 3, t)
    assert isinstance(net, MiTAS)


def test_delayed_helper() -> None:
    y = torch.arange(5.0)[None]
    assert delayed(y, 2, 5).tolist() == [[0.0, 0.0, 0.0, 1.0, 2.0]]
