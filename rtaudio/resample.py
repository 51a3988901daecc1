"""Low-latency streaming resampling for the live engine (libsamplerate, ``sinc_medium``).

soxr, which the offline readers use, buffers its output in blocks of about 30 ms when fed 10 ms
chunks: fine for files, but 30 ms of queueing on each side of a live stream. libsamplerate's
sinc converters emit output on every call and delay it only by half their filter (2.9 ms for
``sinc_medium``: 121 dB SNR over 90 % of the band). The output is aligned with the input (the
filter delay is not prepended), so output sample ``k`` sits at input time ``k / rate_out``.
"""

from __future__ import annotations

import numpy as np
import samplerate

CONVERTER = "sinc_medium"


class StreamResampler:
    """Mono float32 resampler with state across calls."""

    def __init__(self, rate_in: int, rate_out: int, converter: str = CONVERTER) -> None:
        self.rate_in, self.rate_out = int(rate_in), int(rate_out)
        self.ratio = self.rate_out / self.rate_in
        self.converter = converter
        self._src = samplerate.Resampler(converter, channels=1)
        self._in = 0  # input samples fed
        self._out = 0  # output samples returned

    def process(self, x: np.ndarray, last: bool = False) -> np.ndarray:
        """Resample the next block (1-D); ``last`` also flushes what the filter still holds,
        so that the whole stream comes out as ``round(n_in * rate_out / rate_in)`` samples."""
        x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
        self._in += x.size
        if last:  # libsamplerate flushes only by being fed: push the tail out with silence
            x = np.concatenate((x, np.zeros(self.rate_in // 20, np.float32)))
        y = np.asarray(self._src.process(x, self.ratio, end_of_input=last), np.float32).reshape(-1)
        if last:
            y = y[: max(0, round(self._in * self.ratio) - self._out)]
        self._out += y.size
        return y

    def reset(self) -> None:
        self._src.reset()
        self._in = self._out = 0
