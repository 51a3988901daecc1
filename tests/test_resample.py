"""The live resampler: output on every call, a few ms of delay, clean in band, no aliasing."""

from __future__ import annotations

import numpy as np
import pytest

from rtaudio.resample import StreamResampler


def stream_delay_ms(rate_in: int, rate_out: int) -> float:
    """How far the output lags the input in steady streaming of 10 ms blocks (filter delay
    plus anything the converter holds back), over 200 ms."""
    rs = StreamResampler(rate_in, rate_out)
    n = rate_in // 100
    out = sum(rs.process(np.zeros(n, np.float32)).size for _ in range(20))
    return (20 * n / rate_in - out / rate_out) * 1000


@pytest.mark.parametrize(("rate_in", "rate_out"), [(48000, 16000), (44100, 16000), (16000, 44100)])
def test_streaming_output_every_call_with_a_few_ms_of_delay(rate_in: int, rate_out: int) -> None:
    rs = StreamResampler(rate_in, rate_out)
    n = rate_in // 100  # 10 ms blocks
    sizes = [rs.process(np.zeros(n, np.float32)).size for _ in range(50)]
    assert all(s > 0 for s in sizes[1:]), sizes  # nothing held back for later blocks
    assert sum(sizes) == pytest.approx(50 * n * rate_out / rate_in, abs=rate_out * 0.005)
    assert 0.5 < stream_delay_ms(rate_in, rate_out) < 5.0


def test_in_band_tone_passes_aligned_and_out_of_band_tone_is_removed() -> None:
    sr = 48000
    t = np.arange(sr) / sr
    rs = StreamResampler(sr, 16000)
    tone = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    out = np.concatenate([rs.process(tone[i : i + 480]) for i in range(0, sr, 480)])
    out = np.concatenate((out, rs.process(np.zeros(0, np.float32), last=True)))
    ref = np.sin(2 * np.pi * 1000 * np.arange(out.size) / 16000)
    core = slice(1600, 14400)  # away from the start-up and the flush
    err = out[core] - ref[core]
    assert np.sqrt(np.mean(err**2)) < 1e-3  # aligned with the input: no delay prepended
    rs = StreamResampler(sr, 16000)
    high = np.sin(2 * np.pi * 11000 * t).astype(np.float32)  # would alias to 5 kHz
    out = np.concatenate([rs.process(high[i : i + 480]) for i in range(0, sr, 480)])
    assert np.sqrt(np.mean(out[1600:] ** 2)) < 1e-3


def test_flush_returns_what_the_filter_holds() -> None:
    rs = StreamResampler(44100, 16000)
    x = np.random.default_rng(0).standard_normal(44100).astype(np.float32) * 0.1
    out = [rs.process(x[i : i + 441]) for i in range(0, x.size, 441)]
    out.append(rs.process(np.zeros(0, np.float32), last=True))
    total = sum(o.size for o in out)
    assert total == 16000
