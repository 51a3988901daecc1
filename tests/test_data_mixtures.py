"""Training mixtures: exact SNR, distinct enrollment, determinism, manifest sampler."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rtaudio.data.audio import write_wav
from rtaudio.data.manifest import ClipRecord, read_manifest, write_manifest
from rtaudio.data.mixtures import (
    MixtureSampler,
    fit_length,
    mix_at_snr,
    snr_db,
    speech_noise_example,
    tse_example,
)

SR = 16000


def _sig(seed: int, n: int = SR, scale: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    f0 = rng.uniform(100, 300)
    x = np.sin(2 * np.pi * f0 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    return (scale * x + 0.01 * rng.standard_normal(n)).astype(np.float32)


@pytest.mark.parametrize("snr", [-5.0, 0.0, 7.5, 15.0])
def test_mix_at_snr_is_exact(snr: float) -> None:
    s, v = _sig(0), _sig(1, scale=0.05)
    m = mix_at_snr(s, v, snr)
    assert m.mixture.dtype == np.float32 and m.signal.dtype == np.float32
    assert abs(snr_db(m.signal, m.noise) - snr) < 0.01
    np.testing.assert_allclose(m.mixture, m.signal + m.noise, atol=1e-6)


def test_mix_at_snr_rescales_to_avoid_clipping_without_changing_snr() -> None:
    s = _sig(0, scale=0.9)
    v = _sig(1, scale=0.9)
    m = mix_at_snr(s, v, -5.0, peak=0.5)
    assert np.max(np.abs(m.mixture)) <= 0.5 + 1e-6
    assert abs(snr_db(m.signal, m.noise) + 5.0) < 0.01


def test_mix_at_snr_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        mix_at_snr(np.zeros(10, np.float32), np.ones(10, np.float32), 0.0)
    with pytest.raises(ValueError):
        mix_at_snr(np.ones(10, np.float32), np.ones(11, np.float32), 0.0)


def test_fit_length_crops_pads_and_loops() -> None:
    rng = np.random.default_rng(0)
    x = np.arange(10, dtype=np.float32) + 1
    assert fit_length(x, 4, rng).size == 4
    padded = fit_length(x, 20, rng, loop=False)
    assert padded.size == 20 and np.count_nonzero(padded) == 10
    looped = fit_length(x, 25, rng, loop=True)
    assert looped.size == 25 and np.count_nonzero(looped) == 25


def test_speech_noise_example_in_range_and_deterministic() -> None:
    s, v = _sig(2, 2 * SR), _sig(3, SR // 2, 0.1)
    a = speech_noise_example(s, v, np.random.default_rng(5))
    b = speech_noise_example(s, v, np.random.default_rng(5))
    assert -5.0 <= a.snr_db <= 15.0
    assert abs(snr_db(a.signal, a.noise) - a.snr_db) < 0.1
    np.testing.assert_array_equal(a.mixture, b.mixture)
    assert a.mixture.size == s.size  # noise looped to the speech length


def test_tse_example_uses_a_different_enrollment_utterance() -> None:
    utts = [_sig(10 + k) for k in range(4)]
    interferer = _sig(99)
    seen = set()
    for seed in range(20):
        ex = tse_example(utts, interferer, np.random.default_rng(seed))
        assert ex.target_index != ex.enrollment_index
        assert not np.array_equal(ex.enrollment, utts[ex.target_index])
        np.testing.assert_array_equal(ex.enrollment, utts[ex.enrollment_index])
        assert -5.0 <= ex.sir_db <= 5.0
        assert abs(snr_db(ex.target, ex.interferer) - ex.sir_db) < 0.1
        np.testing.assert_allclose(ex.mixture, ex.target + ex.interferer, atol=1e-6)
        assert ex.mixture.dtype == np.float32 and ex.enrollment.dtype == np.float32
        seen.add((ex.target_index, ex.enrollment_index))
    assert len(seen) > 3
    a = tse_example(utts, interferer, np.random.default_rng(1), enrollment_length=SR // 2)
    b = tse_example(utts, interferer, np.random.default_rng(1), enrollment_length=SR // 2)
    np.testing.assert_array_equal(a.mixture, b.mixture)
    np.testing.assert_array_equal(a.enrollment, b.enrollment)
    assert a.enrollment.size == SR // 2
    with pytest.raises(ValueError):
        tse_example(utts[:1], interferer, np.random.default_rng(0))


def _corpus(root: Path) -> None:
    recs = []
    k = 0
    for split in ("train", "test"):
        for spk in ("a", "b", "c"):
            for u in range(3):
                rel = f"speech/{split}/{spk}/{u}.wav"
                write_wav(root / rel, _sig(k))
                recs.append(
                    ClipRecord(
                        rel,
                        "speech",
                        "speech",
                        f"{split}-{spk}",
                        f"g-{split}-{spk}",
                        "test",
                        "CC0",
                        split,
                        1.0,
                        1,
                        "x",
                    )
                )
                k += 1
        rel = f"noise/{split}/n.wav"
        write_wav(root / rel, _sig(500 + k, scale=0.05))
        recs.append(
            ClipRecord(
                rel,
                "noise",
                "pink_noise",
                "gen",
                f"n-{split}",
                "rtaudio",
                "MIT",
                split,
                1.0,
                0,
                "numpy",
            )
        )
    write_manifest(root, recs, {"test": True})


def test_mixture_sampler_draws_from_one_split(tmp_path: Path) -> None:
    _corpus(tmp_path)
    rows = read_manifest(tmp_path)
    sampler = MixtureSampler(rows, tmp_path, "test")
    assert set(sampler.by_speaker) == {"test-a", "test-b", "test-c"}
    for seed in range(5):
        ex = sampler.tse(np.random.default_rng(seed), seconds=0.5)
        assert ex.mixture.shape == (SR // 2,)
        assert ex.target_index != ex.enrollment_index
        assert ex.enrollment.size == SR  # a whole other clip of the target speaker
        m = sampler.speech_noise(np.random.default_rng(seed), seconds=0.5)
        assert abs(snr_db(m.signal, m.noise) - m.snr_db) < 0.1
    a = sampler.tse(np.random.default_rng(3))
    b = MixtureSampler(rows, tmp_path, "test").tse(np.random.default_rng(3))
    np.testing.assert_array_equal(a.mixture, b.mixture)
