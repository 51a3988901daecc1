"""Streaming features equal librosa's offline features."""

from __future__ import annotations

import numpy as np
import pytest

from rtaudio.features import FeatureConfig, FeatureConfigError, FeatureExtractor, offline_features

librosa = pytest.importorskip("librosa")


def _signal(seconds: float = 1.3, sr: int = 16000) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sr)) / sr
    chirp = np.sin(2 * np.pi * (200 + 1500 * t) * t)
    return (0.5 * chirp + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def _librosa(y: np.ndarray, cfg: FeatureConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    stft = librosa.stft(
        y,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        win_length=cfg.win_length,
        window="hann",
        center=True,
        pad_mode="constant",
    )
    power = np.abs(stft) ** 2
    mel = librosa.feature.melspectrogram(
        S=power, sr=cfg.sample_rate, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax
    )
    logmel = librosa.power_to_db(mel, ref=1.0, amin=cfg.amin, top_db=None)
    mfcc = librosa.feature.mfcc(S=logmel, n_mfcc=cfg.n_mfcc)
    return power.T, logmel.T, mfcc.T


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize(
    "cfg",
    [
        FeatureConfig(),
        FeatureConfig(n_fft=1024, win_length=1024, hop_length=256, n_mels=64, n_mfcc=13),
    ],
)
def test_streaming_equals_librosa(cfg: FeatureConfig) -> None:
    y = _signal()
    power, logmel, mfcc = _librosa(y, cfg)
    ext = FeatureExtractor(cfg)
    rng = np.random.default_rng(1)
    pieces, t = [], 0
    while t < y.size:
        n = int(rng.integers(1, 700))
        pieces.append(ext.push(y[t : t + n]))
        t += n
    got_mfcc = np.concatenate([p.mfcc for p in pieces])
    got_logmel = np.concatenate([p.logmel for p in pieces])
    got_power = np.concatenate([p.power for p in pieces])
    n = got_mfcc.shape[0]
    # every frame whose window lies inside the signal is produced; the rest wait for audio
    assert n == 1 + (y.size + cfg.n_fft // 2 - cfg.n_fft) // cfg.hop_length
    assert [p.start for p in pieces if len(p)] == sorted({p.start for p in pieces if len(p)})
    assert _rel(got_power, power[:n]) < 1e-4
    assert _rel(got_logmel, logmel[:n]) < 1e-4
    assert _rel(got_mfcc, mfcc[:n]) < 1e-4
    off = offline_features(y, cfg)
    assert off.mfcc.shape == mfcc.shape
    assert _rel(off.mfcc, mfcc) < 1e-4


def test_push_cost_does_not_grow_with_history() -> None:
    ext = FeatureExtractor()
    for _ in range(500):
        ext.push(np.zeros(160, np.float32))
    assert ext._buf.size < ext.cfg.n_fft
    assert ext.push(np.zeros(160, np.float32)).start == 1 + (500 * 160 + 256 - 512) // 160


def test_reset_restarts_frame_count() -> None:
    ext = FeatureExtractor()
    y = _signal(0.2)
    a = ext.push(y)
    ext.reset()
    b = ext.push(y)
    assert a.start == b.start == 0
    np.testing.assert_array_equal(a.mfcc, b.mfcc)


@pytest.mark.parametrize(
    "kw", [dict(win_length=600), dict(n_mfcc=50), dict(fmax=9000.0), dict(hop_length=0)]
)
def test_bad_config(kw: dict) -> None:
    with pytest.raises(FeatureConfigError):
        FeatureConfig(**kw)


@pytest.mark.parametrize(
    "cfg", [FeatureConfig(), FeatureConfig(n_mels=64, fmin=50.0, fmax=7000.0, n_mfcc=13)]
)
def test_mel_band_centres_are_librosas(cfg: FeatureConfig) -> None:
    """The band centres the window labels its spectrogram with, computed without librosa."""
    top = cfg.fmax or cfg.sample_rate / 2
    ref = librosa.mel_frequencies(cfg.n_mels + 2, fmin=cfg.fmin, fmax=top, htk=False)[1:-1]
    np.testing.assert_allclose(cfg.mel_centres_hz, ref, rtol=1e-9)
    assert [cfg.band_position(f) for f in cfg.mel_centres_hz[[0, 5, -1]]] == pytest.approx(
        [0.5, 5.5, cfg.n_mels - 0.5]
    )


@pytest.mark.parametrize(
    "cfg",
    [
        FeatureConfig(),
        FeatureConfig(n_mels=64, fmin=50.0, fmax=7000.0, n_mfcc=13),
        FeatureConfig(sample_rate=22050, n_fft=2048, win_length=2048, n_mels=128),
    ],
)
def test_the_mel_filterbank_is_librosas(cfg: FeatureConfig) -> None:
    """Built without librosa, to the bit: the shipped models' inputs do not move."""
    ref = librosa.filters.mel(
        sr=cfg.sample_rate,
        n_fft=cfg.n_fft,
        n_mels=cfg.n_mels,
        fmin=cfg.fmin,
        fmax=cfg.fmax,
        htk=False,
        norm="slaney",
    )
    assert cfg.mel_basis.dtype == np.float32
    np.testing.assert_array_equal(cfg.mel_basis, ref)
