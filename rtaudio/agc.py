"""Causal level control for the separators: their input at the level they were trained on.

MiTAS and TseNet have no input normalisation and were trained on mixtures between about -45
and -14 dBFS RMS. Off that range they separate worse. Measured on the repository evaluation set
(100 mixtures of 4 s, median SI-SNR improvement, input scaled to the median level given):

| input level | -69 | -49 | -19 (as trained) | -9 | -4 dBFS |
|---|---|---|---|---|---|
| MiTAS as it is | 1.5 | 6.5 | 5.8 | 3.8 | 1.9 dB |
| MiTAS levelled | 5.9 | 5.9 | 5.7 | 5.6 | 5.6 dB |
| TseNet as it is | | -0.5 | 3.0 | -1.5 | dB |
| TseNet levelled | | 2.2 | 3.0 | 2.9 | dB |

A close microphone or a quiet one is easily that far off, so :class:`Leveller` scales the
separator's input towards ``target_db`` and divides its output by the same gain: the separated
voice keeps the input's level.

How: the signal is cut into blocks of ``block`` samples counted from the start of the stream.
After each block its level (dB) updates a running estimate (exponential in dB, faster when the
level rises than when it falls; blocks below ``gate_db`` leave it alone, so digital silence does
not pump the gain), and the gain for the next block is ``target - estimate`` dB within
``[-max_cut_db, +max_boost_db]``, ramped linearly over the block from the previous gain. The
gain of a sample therefore depends only on the samples of earlier blocks: the result is causal
and the same for any chunking (the streaming path and the whole-file path agree to the sample).
"""

from __future__ import annotations

import math

import numpy as np

TARGET_DB = -25.0  # inside both separators' good range (see above)


class Leveller:
    """Per-sample gains for a stream; see the module docstring.

    Args:
        target_db: level (dBFS RMS) the separator should see.
        max_boost_db, max_cut_db: how far the gain may go up / down.
        block: samples per gain step (160: 10 ms at 16 kHz).
        attack_s, release_s: time constants of the level estimate, rising / falling.
        gate_db: blocks quieter than this do not move the estimate.
        delay: samples by which the separator's output lags its input (the gains that
            :meth:`restore` divides by are this much older).
    """

    def __init__(
        self,
        target_db: float = TARGET_DB,
        max_boost_db: float = 30.0,
        max_cut_db: float = 30.0,
        block: int = 160,
        attack_s: float = 0.2,
        release_s: float = 1.0,
        gate_db: float = -80.0,
        delay: int = 0,
        sample_rate: int = 16000,
    ) -> None:
        self.target_db = target_db
        self.gain_range = (-max_cut_db, max_boost_db)
        self.block = block
        block_s = block / sample_rate
        self.attack = 1.0 - math.exp(-block_s / attack_s)
        self.release = 1.0 - math.exp(-block_s / release_s)
        self.gate_db = gate_db
        self.delay = delay
        self.reset()

    def reset(self) -> None:
        self.level = self.target_db  # the estimate (dBFS); starting here: unity gain
        self.gain = 1.0  # gain at the end of the last complete block
        self.next_gain = 1.0  # gain the current block ramps to
        self.filled = 0  # samples of the current block seen so far
        self.acc = 0.0  # their sum of squares
        self._pending = np.ones(self.delay, np.float32)  # gains of inputs not yet output

    def restart(self) -> None:
        """A new stream after a gap (dropped audio, a reconnected device): the separator starts
        again, so the gains waiting for its output go; the level estimate and the gain stay, the
        source being most likely as loud as before."""
        g = self._latest()
        self.gain = self.next_gain = g
        self.filled, self.acc = 0, 0.0
        self._pending = np.full(self.delay, g, np.float32)

    def _latest(self) -> float:
        """The gain of the latest sample (on the ramp of the current block)."""
        return self.gain + (self.next_gain - self.gain) * self.filled / self.block

    @property
    def gain_db(self) -> float:
        """The gain of the latest sample, dB."""
        return 20.0 * math.log10(self._latest())

    def _target_gain(self) -> float:
        db = self.target_db - self.level
        lo, hi = self.gain_range
        return 10.0 ** (min(max(db, lo), hi) / 20.0)

    def gains(self, x: np.ndarray) -> np.ndarray:
        """The gains of the samples ``x`` (the stream's next ones), updating the estimate."""
        out = np.empty(x.size, np.float32)
        i = 0
        while i < x.size:
            take = min(self.block - self.filled, x.size - i)
            pos = (np.arange(self.filled + 1, self.filled + take + 1)) / self.block
            out[i : i + take] = self.gain + (self.next_gain - self.gain) * pos
            seg = x[i : i + take].astype(np.float64)
            self.acc += float(np.dot(seg, seg))
            self.filled += take
            i += take
            if self.filled == self.block:
                db = 10.0 * math.log10(self.acc / self.block + 1e-20)
                if db > self.gate_db:
                    rate = self.attack if db > self.level else self.release
                    self.level += rate * (db - self.level)
                self.gain, self.next_gain = self.next_gain, self._target_gain()
                self.filled, self.acc = 0, 0.0
        return out

    def apply(self, x: np.ndarray) -> np.ndarray:
        """``x`` scaled for the separator (the gains are kept for :meth:`restore`)."""
        g = self.gains(x)
        self._pending = np.concatenate((self._pending, g))
        return (x * g).astype(np.float32)

    def restore(self, y: np.ndarray) -> np.ndarray:
        """The separator's output ``y`` (as many samples as went into :meth:`apply`, ``delay``
        behind) at the input's level."""
        g, self._pending = self._pending[: y.size], self._pending[y.size :]
        return (y / g).astype(np.float32)


SCALE_TAU_S = 5.0  # memory of the output scale's running statistics


class OutputScale:
    """The separator's output at the level of what it kept of the input, for weights whose
    output scale was not calibrated at export (:mod:`rtaudio.train.calibrate`).

    MiTAS and TseNet are trained with SI-SNR, which leaves the scale of their output free: the
    shipped MiTAS, as trained, gave clean speech back about 9 dB louder than it came in, so the
    separated voice clipped (in files and on the speaker) wherever the input's peaks were above
    about -9 dBFS. Each output sample ``y`` is multiplied by the least-squares gain of the output
    onto the input ``x`` (as late as the output), ``E[x y] / E[y y]``, both running averages
    over about ``tau_s`` (per sample, exponential: causal and the same for any chunking; the
    ratio of two energy-weighted averages, so the seconds of noise the separator silences
    hardly move it). The gain's magnitude never exceeds ``max_gain`` (1: the voice is only ever
    made quieter, and a faint leak in silenced stretches is never brought up); a negative gain
    puts a voice given back inverted the right way up.
    """

    def __init__(
        self, tau_s: float = SCALE_TAU_S, max_gain: float = 1.0, sample_rate: int = 16000
    ) -> None:
        self.decay = math.exp(-1.0 / (tau_s * sample_rate))
        self.max_gain = max_gain
        self.reset()

    def reset(self) -> None:
        # a faint prior at unity gain (about -70 dBFS): the first samples keep their level
        prior = np.array([self.decay * 1e-7])
        self._xy = prior.copy()
        self._yy = prior.copy()

    def apply(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``y`` (the output for the input samples ``x``, aligned) brought to ``x``'s scale."""
        if y.size == 0:  # (lfilter would return its state as zeros)
            return y.astype(np.float32)
        from scipy.signal import lfilter  # here: importing it costs every start ~1 s

        b, a = [1.0 - self.decay], [1.0, -self.decay]
        x64, y64 = x.astype(np.float64), y.astype(np.float64)
        xy, self._xy = lfilter(b, a, x64 * y64, zi=self._xy)
        yy, self._yy = lfilter(b, a, y64 * y64, zi=self._yy)
        # a negative gain: the network gives the voice back inverted (SI-SNR is blind to the
        # sign), which the gain puts the right way up
        g = np.clip(xy / np.maximum(yy, 1e-30), -self.max_gain, self.max_gain)
        return (g * y64).astype(np.float32)
