"""ESResNet: multi-window front end, shapes, attention branch, param counts, save/load, errors."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from rtaudio import models
from rtaudio.models import ConfigError, count_macs, count_params
from rtaudio.models.esresnet import DEFAULT_LABELS, AttentionBranch, ESResNet, ESResNetConfig

RESNET50_TRUNK = 23_508_032  # torchvision resnet50 without its fc layer (3-channel stem)


def _net(name: str = "esresnet", **overrides: object) -> ESResNet:
    net = models.create(name, **overrides)
    assert isinstance(net, ESResNet)
    return net.eval()


def test_registered_variants_and_defaults() -> None:
    assert {"esresnet", "esresnet50"} <= set(models.list_models())
    net = _net()
    assert net.labels == DEFAULT_LABELS
    assert net.config.classes == len(DEFAULT_LABELS) == 13
    assert net.config.sample_rate == 16000
    assert not hasattr(net, "step") and not hasattr(net, "init_state")  # windowed, not streaming


@pytest.mark.parametrize("samples", [1, 160, 4000, 16000, 24000])
def test_logits_shape_for_several_window_lengths(samples: int) -> None:
    net = _net()
    x = torch.randn(2, samples)
    with torch.no_grad():
        assert net(x).shape == (2, 13)
        assert net.spectrogram(x).shape == (2, 3, 128, 1 + samples // 160)


def test_rejects_non_batched_input() -> None:
    with pytest.raises(ValueError, match="samples"):
        _net()(torch.randn(16000))


# ---------------------------------------------------------------------------- front end


def test_frontend_equals_torch_stft_per_window() -> None:
    cfg = ESResNetConfig(image_size=(0, 0))
    fe = models.build(cfg).frontend
    x = torch.randn(2, 3000, dtype=torch.float64)
    image = fe(x)
    n_frames = 1 + 3000 // cfg.hop_length
    assert image.shape == (2, 3, cfg.n_fft // 2 + 1, n_frames)  # common size by construction
    for i, w in enumerate(cfg.win_lengths):
        win = torch.hann_window(w, periodic=True, dtype=torch.float64)
        spec = torch.stft(
            x,
            cfg.n_fft,
            hop_length=cfg.hop_length,
            win_length=w,
            window=win,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        ref = 10 * torch.log10(spec.abs().square() / win.square().sum() + 1e-10)
        torch.testing.assert_close(image[:, i], ref, atol=1e-3, rtol=0)  # float32 windows


def test_frontend_channels_are_three_different_windows() -> None:
    net = _net(image_size=(0, 0))
    sr, n_fft = 16000, net.config.n_fft
    t = torch.arange(sr, dtype=torch.float32) / sr
    bin_hz = sr / n_fft
    tone = torch.sin(2 * math.pi * (100.5 * bin_hz) * t)[None]  # between two bins
    image = net.spectrogram(tone)[0, :, :, 50]  # one frame in the middle: n_win, F
    assert image.shape[0] == 3
    for a in range(3):
        for b in range(a + 1, 3):
            assert (image[a] - image[b]).abs().max() > 1.0
    # a longer window resolves the tone better: less energy 10 bins away from the peak
    leak = [float(ch[110] - ch[100]) for ch in image]
    assert leak[0] > leak[1] > leak[2], leak
    # white noise: the window-energy normalisation puts the channels on one level
    noise = net.spectrogram(torch.randn(1, sr))
    levels = (10 ** (noise / 10)).mean(dim=(0, 2, 3))
    assert levels.max() / levels.min() < 1.1, levels


def test_frontend_resize_and_windows_not_saved() -> None:
    net = _net(image_size=(64, 40))
    assert net.spectrogram(torch.randn(1, 8000)).shape == (1, 3, 64, 40)
    assert not any("window" in k for k in net.state_dict())


# ---------------------------------------------------------------------------- attention


def test_attention_multiplies_every_stage_and_gets_gradients() -> None:
    net = _net().train()
    assert len(net.attention) == len(net.config.blocks)
    assert net.final_attention is not None
    x = torch.randn(2, 4000)
    net(x).logsumexp(-1).sum().backward()
    branches = [*net.attention, net.final_attention]
    for branch in branches:
        assert isinstance(branch, AttentionBranch)
        grads = [p.grad for p in branch.parameters()]
        assert all(g is not None and g.abs().sum() > 0 for g in grads), branch
    kernels = [tuple(b.conv.dw.convs[0].kernel_size) for b in branches]
    assert kernels == [(3, 1), (1, 5), (3, 1), (1, 5), (3, 5)]


def test_attention_changes_the_output() -> None:
    net = _net()
    x = torch.randn(1, 8000)
    with torch.no_grad():
        before = net(x)
        for branch in net.attention:
            branch.conv.norm.bias.fill_(-30.0)
        after = net(x)
    assert (before - after).abs().max() > 1e-3


# ------------------------------------------------------------------------------ sizes


def test_esresnet50_params_are_resnet50_plus_attention() -> None:
    plain = count_params(_net("esresnet50", attention=False))
    full_net = _net("esresnet50")
    full = count_params(full_net)
    head = 2048 * 13 + 13
    assert plain == RESNET50_TRUNK + head
    # attention: depthwise (3x1 / 1x5 / 3x5) + pointwise + BN per branch
    ins, outs = [64, 256, 512, 1024, 2048], [256, 512, 1024, 2048, 2048]
    taps = [3, 5, 3, 5, 15]
    expected = sum(i * k + i * o + 2 * o for i, o, k in zip(ins, outs, taps, strict=True))
    assert full - plain == expected
    assert 30_000_000 < full < 31_000_000, full
    with torch.no_grad():  # a short input keeps this quick
        assert full_net(torch.randn(1, 1600)).shape == (1, 13)


def test_small_variant_is_small() -> None:
    net = _net()
    assert count_params(net) < 2_000_000
    macs = count_macs(net, torch.randn(1, 16000))
    assert 5e6 < macs < 1e8, macs


# ------------------------------------------------------------------------ save / load


def test_save_load_round_trip(tmp_path: Path) -> None:
    net = _net(labels=("a", "b", "c"), classes=3)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                assert m.running_mean is not None
                m.running_mean.uniform_(-0.1, 0.1)
    path = models.save(net, tmp_path / "es.safetensors")
    with safe_open(str(path), framework="pt") as f:
        assert not any("window" in k for k in f.keys())  # noqa: SIM118
    back = models.load(path, family="esresnet")
    assert isinstance(back, ESResNet)
    assert back.config == net.config and back.labels == ("a", "b", "c")
    x = torch.randn(2, 8000)
    with torch.no_grad():
        torch.testing.assert_close(back(x), net(x), rtol=0, atol=1e-6)


# ------------------------------------------------------------------------ config errors


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"classes": 0}, "classes"),
        ({"classes": 5}, "labels"),
        ({"labels": ("x",) * 13}, "duplicates"),
        ({"sample_rate": 0}, "sample_rate"),
        ({"hop_length": 0}, "hop_length"),
        ({"win_lengths": ()}, "win_lengths"),
        ({"win_lengths": (128, 1024)}, "longer than n_fft"),
        ({"win_lengths": (256, 256, 512)}, "differ"),
        ({"window": "kaiser"}, "window"),
        ({"image_size": (64,)}, "image_size"),
        ({"image_size": (-1, 0)}, "image_size"),
        ({"base_channels": 0}, "base_channels"),
        ({"blocks": ()}, "blocks"),
        ({"blocks": (1, 0)}, "blocks"),
        ({"expansion": 0}, "expansion"),
        ({"norm": "cln"}, "norm"),
        ({"bogus": 1}, "no field"),
    ],
)
def test_config_errors(overrides: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        models.create("esresnet", **overrides)


def test_other_depths_and_window_counts_build() -> None:
    net = _net(win_lengths=(200, 400), blocks=(2, 1), base_channels=8, attention=False)
    assert net.spectrogram(torch.randn(1, 800)).shape[1] == 2
    assert net(torch.randn(3, 800)).shape == (3, 13)
