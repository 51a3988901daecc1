"""Augmentation functions: shapes, determinism and that each one does what it says."""

from __future__ import annotations

import numpy as np
import pytest

from rtaudio.data import augment as A

SR = 16000


def _tone(f: float, seconds: float = 1.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * f * t)).astype(np.float32)


def _band_energy(x: np.ndarray, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    f = np.fft.rfftfreq(x.size, 1 / SR)
    return float(spec[(f >= lo) & (f < hi)].sum())


def _noise(seed: int = 0, seconds: float = 1.0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(round(seconds * SR))).astype(
        np.float32
    )


def test_gain_is_exact() -> None:
    x = _noise()
    y = A.gain(x, -6.0)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, x * 10 ** (-6 / 20), rtol=1e-6)


def test_eq_changes_spectrum_keeps_length_and_is_deterministic() -> None:
    x = _noise()
    a = A.eq(x, np.random.default_rng(3))
    b = A.eq(x, np.random.default_rng(3))
    c = A.eq(x, np.random.default_rng(4))
    assert a.shape == x.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert not np.allclose(a, x)


def test_rir_direct_path_decay_and_rt60() -> None:
    rt60 = 0.6
    h = A.room_impulse_response(np.random.default_rng(0), SR, rt60=rt60)
    assert h.dtype == np.float32
    assert abs(float(np.max(np.abs(h[:4]))) - 1.0) < 1e-6  # direct path first, unit amplitude
    assert int(np.argmax(np.abs(h))) < 4
    # Schroeder backward integration: -5 dB to -25 dB slope -> RT60 estimate
    e = np.cumsum((h.astype(np.float64) ** 2)[::-1])[::-1]
    edc = 10 * np.log10(e / e[0])
    t5 = np.argmax(edc < -5) / SR
    t25 = np.argmax(edc < -25) / SR
    est = 3.0 * (t25 - t5)
    assert 0.5 * rt60 < est < 1.6 * rt60, est


def test_reverb_keeps_length_level_and_alignment() -> None:
    x = np.zeros(SR, np.float32)
    x[1000] = 1.0
    y = A.reverb(x, np.random.default_rng(1), SR, keep_level=False)
    assert y.shape == x.shape
    assert int(np.argmax(np.abs(y))) == 1000  # direct path stays in place
    z = _noise()
    r = A.reverb(z, np.random.default_rng(2), SR)
    assert (
        abs(
            np.sqrt(np.mean(r.astype(np.float64) ** 2))
            - np.sqrt(np.mean(z.astype(np.float64) ** 2))
        )
        < 1e-4
    )


@pytest.mark.parametrize("via", [8000, 11025, 22050])
def test_resample_through_removes_the_band_above_nyquist(via: int) -> None:
    x = _tone(5000.0) + _tone(1000.0)
    y = A.resample_through(x, SR, via)
    assert y.shape == x.shape and y.dtype == np.float32
    ratio = _band_energy(y, 4900, 5100) / _band_energy(x, 4900, 5100)
    if via < 10000:  # 5 kHz is above 4 kHz: gone
        assert ratio < 1e-3
    else:
        assert ratio > 0.9
    assert _band_energy(y, 950, 1050) / _band_energy(x, 950, 1050) > 0.9


@pytest.mark.parametrize("factor", [0.87, 1.15])
def test_speed_moves_pitch_and_length_by_the_factor(factor: float) -> None:
    x = _tone(1000.0, seconds=1.15)
    y = A.speed(x, factor)
    assert y.dtype == np.float32 and y.size == round(x.size / factor)
    spec = np.abs(np.fft.rfft(y[1000:-1000].astype(np.float64) * np.hanning(y.size - 2000)))
    peak = np.fft.rfftfreq(y.size - 2000, 1 / SR)[int(np.argmax(spec))]
    assert abs(peak - 1000.0 * factor) < 5.0, peak
    assert np.array_equal(A.speed(x, 1.0), x)


def test_clip_hard_and_soft_respect_the_ceiling() -> None:
    x = _tone(440.0, amp=0.8)
    hard = A.clip(x, 0.5)
    soft = A.clip(x, 0.5, soft=True)
    assert np.max(np.abs(hard)) == pytest.approx(0.4, rel=1e-6)
    assert np.max(np.abs(soft)) <= 0.4 + 1e-6
    assert not np.allclose(hard, soft)


def test_band_limit_and_codecs() -> None:
    x = _noise(5)
    tel = A.band_limit(x, SR, 300.0, 3400.0)
    inside = _band_energy(tel, 500, 3000) / _band_energy(x, 500, 3000)
    outside = _band_energy(tel, 5000, 8000) / _band_energy(x, 5000, 8000)
    assert inside > 0.8 and outside < 1e-3
    for kind in A.CODECS:
        y = A.codec(x, np.random.default_rng(0), SR, kind)
        assert y.shape == x.shape and y.dtype == np.float32 and np.isfinite(y).all()
    assert _band_energy(A.codec(x, np.random.default_rng(0), SR, "telephone"), 5000, 8000) < (
        1e-2 * _band_energy(x, 5000, 8000)
    )
    q = A.mu_law(x, 8)
    assert len(np.unique(q)) <= 256
    with pytest.raises(ValueError):
        A.codec(x, np.random.default_rng(0), SR, "mp9")


def test_augment_chain_is_deterministic_and_keeps_length() -> None:
    x = _noise(7, 2.0)
    cfg = A.AugmentConfig(p_eq=1, p_reverb=1, p_resample=1, p_codec=1, p_clip=1, p_gain=1)
    a, sa = A.augment(x, np.random.default_rng(11), SR, cfg)
    b, sb = A.augment(x, np.random.default_rng(11), SR, cfg)
    assert sa == sb and len(sa) >= 5
    np.testing.assert_array_equal(a, b)
    assert a.shape == x.shape and a.dtype == np.float32 and np.isfinite(a).all()
    none, steps = A.augment(
        x,
        np.random.default_rng(0),
        SR,
        A.AugmentConfig(p_eq=0, p_reverb=0, p_resample=0, p_codec=0, p_clip=0, p_gain=0),
    )
    assert steps == []
    np.testing.assert_array_equal(none, x)
