"""Incremental STFT, log-mel and MFCC features with per-chunk cost independent of history.

The streaming :class:`FeatureExtractor` produces exactly the frames librosa computes offline with
``center=True, pad_mode="constant"`` (zero padding of ``n_fft // 2`` in front), a periodic Hann
window of ``win_length`` centred in ``n_fft``, power spectrogram, Slaney mel filters,
``power_to_db(ref=1, amin=1e-10, top_db=None)`` and an orthonormal DCT-II. Frame ``t`` is centred
on sample ``t * hop_length`` and becomes available once ``n_fft // 2`` samples past its centre
have arrived (16 ms at the defaults): that is the features' algorithmic latency.

``top_db`` clipping is left out on purpose: it depends on the loudest frame of the whole signal,
which a stream cannot know.

All matrices are precomputed once (numpy), the mel filterbank too (equal to librosa's, tested).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

F32 = NDArray[np.float32]


class FeatureConfigError(ValueError):
    """Invalid feature settings."""


@dataclass(frozen=True)
class FeatureConfig:
    """Analysis settings shared by the engine, the training code and the classifiers."""

    sample_rate: int = 16000
    n_fft: int = 512
    win_length: int = 400
    hop_length: int = 160
    n_mels: int = 40
    n_mfcc: int = 20
    fmin: float = 0.0
    fmax: float | None = None
    amin: float = 1e-10

    def __post_init__(self) -> None:
        if self.sample_rate <= 0 or self.hop_length <= 0:
            raise FeatureConfigError("sample_rate and hop_length must be positive")
        if not 0 < self.win_length <= self.n_fft:
            raise FeatureConfigError("win_length must be in 1..n_fft")
        if not 0 < self.n_mfcc <= self.n_mels:
            raise FeatureConfigError("n_mfcc must be in 1..n_mels")
        top = self.fmax if self.fmax is not None else self.sample_rate / 2
        if not 0 <= self.fmin < top <= self.sample_rate / 2:
            raise FeatureConfigError("need 0 <= fmin < fmax <= sample_rate / 2")

    @property
    def latency_samples(self) -> int:
        """Samples past a frame's centre needed before the frame can be computed."""
        return self.n_fft // 2

    @cached_property
    def window(self) -> F32:
        n = np.arange(self.win_length)
        w = 0.5 - 0.5 * np.cos(2 * np.pi * n / self.win_length)  # periodic Hann
        out = np.zeros(self.n_fft)
        left = (self.n_fft - self.win_length) // 2
        out[left : left + self.win_length] = w
        return out.astype(np.float32)

    @cached_property
    def mel_basis(self) -> F32:
        """``[n_mels, n_fft // 2 + 1]`` triangular filters on the Slaney mel scale, each
        normalised to unit area (librosa's ``filters.mel`` with ``norm="slaney"``, built
        here: importing librosa and scipy for it cost every start 0.4 s)."""
        top = self.fmax if self.fmax is not None else self.sample_rate / 2
        edges = _mel_to_hz(np.linspace(_hz_to_mel(self.fmin), _hz_to_mel(top), self.n_mels + 2))
        bins = np.linspace(0, self.sample_rate / 2, 1 + self.n_fft // 2)
        width = np.diff(edges)
        ramps = edges[:, None] - bins[None, :]
        rising = -ramps[:-2] / width[:-1, None]
        falling = ramps[2:] / width[1:, None]
        weights = np.maximum(0, np.minimum(rising, falling)).astype(np.float32)
        weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
        return weights

    @cached_property
    def mel_centres_hz(self) -> NDArray[np.float64]:
        """The centre frequency of each mel band, in Hz (librosa's ``mel_frequencies`` on the
        Slaney scale, computed here so a process that only draws need not import librosa)."""
        top = self.fmax if self.fmax is not None else self.sample_rate / 2
        edges = np.linspace(_hz_to_mel(self.fmin), _hz_to_mel(top), self.n_mels + 2)
        return _mel_to_hz(edges[1:-1])

    def band_position(self, hz: float) -> float:
        """Where ``hz`` falls on the band axis of an image whose band ``i`` spans ``[i, i+1)``
        (its centre at ``i + 0.5``), interpolated on the mel scale."""
        centres = _hz_to_mel(self.mel_centres_hz)
        return float(np.interp(_hz_to_mel(hz), centres, np.arange(self.n_mels) + 0.5))

    @cached_property
    def dct_matrix(self) -> F32:
        """Orthonormal DCT-II, ``[n_mfcc, n_mels]`` (scipy's ``dct(type=2, norm="ortho")``)."""
        m = self.n_mels
        k = np.arange(self.n_mfcc)[:, None]
        n = np.arange(m)[None, :]
        d = np.cos(np.pi * k * (2 * n + 1) / (2 * m)) * np.sqrt(2.0 / m)
        d[0] /= np.sqrt(2.0)
        return d.astype(np.float32)


# the Slaney mel scale (librosa's default, htk=False): linear to 1 kHz, logarithmic above
_F_SP = 200.0 / 3
_LOG_HZ, _LOG_MEL, _LOG_STEP = 1000.0, 1000.0 / (200.0 / 3), np.log(6.4) / 27.0


def _hz_to_mel(hz: float | NDArray[np.float64]) -> NDArray[np.float64]:
    f = np.asarray(hz, dtype=np.float64)
    above = _LOG_MEL + np.log(np.maximum(f, _LOG_HZ) / _LOG_HZ) / _LOG_STEP
    return np.where(f >= _LOG_HZ, above, f / _F_SP)


def _mel_to_hz(mel: NDArray[np.float64]) -> NDArray[np.float64]:
    m = np.asarray(mel, dtype=np.float64)
    above = _LOG_HZ * np.exp(_LOG_STEP * (np.maximum(m, _LOG_MEL) - _LOG_MEL))
    return np.where(m >= _LOG_MEL, above, m * _F_SP)


@dataclass(frozen=True)
class Frames:
    """Feature frames computed from one push; time is the first axis.

    Attributes:
        start: index of the first frame (frame ``t`` is centred at ``t * hop / sr`` seconds).
        power: ``[F, n_fft // 2 + 1]`` power spectrum.
        logmel: ``[F, n_mels]`` log-mel in dB.
        mfcc: ``[F, n_mfcc]``.
    """

    start: int
    power: F32
    logmel: F32
    mfcc: F32

    def __len__(self) -> int:
        return int(self.mfcc.shape[0])


def frames_from_padded(padded: F32, cfg: FeatureConfig, start: int = 0) -> Frames:
    """Features of every complete frame of an already padded signal."""
    n_fft, hop = cfg.n_fft, cfg.hop_length
    n = 0 if padded.shape[0] < n_fft else 1 + (padded.shape[0] - n_fft) // hop
    if n == 0:
        empty = np.zeros((0, 1), np.float32)
        return Frames(
            start,
            np.zeros((0, n_fft // 2 + 1), np.float32),
            empty.repeat(cfg.n_mels, 1),
            empty.repeat(cfg.n_mfcc, 1),
        )
    view = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[: (n - 1) * hop + 1 : hop]
    spec = np.fft.rfft(view * cfg.window, axis=-1)
    power = (spec.real**2 + spec.imag**2).astype(np.float32)
    mel = power @ cfg.mel_basis.T
    logmel = (10.0 * np.log10(np.maximum(mel, cfg.amin))).astype(np.float32)
    mfcc = (logmel @ cfg.dct_matrix.T).astype(np.float32)
    return Frames(start, power, logmel, mfcc)


def offline_features(y: F32, cfg: FeatureConfig | None = None) -> Frames:
    """All frames librosa would compute for ``y`` (``center=True``, zero padding both ends)."""
    cfg = cfg or FeatureConfig()
    pad = cfg.n_fft // 2
    return frames_from_padded(np.pad(np.asarray(y, np.float32), (pad, pad)), cfg)


class FeatureExtractor:
    """Streaming features: push any number of samples, get the frames that became complete.

    Keeps only the last ``n_fft - hop`` samples (plus a partial hop) between pushes, so the
    cost of a push depends on its length, never on how long the stream has run.
    """

    def __init__(self, cfg: FeatureConfig | None = None) -> None:
        self.cfg = cfg or FeatureConfig()
        self.cfg.mel_basis  # noqa: B018  (build the filterbank now, not on the first chunk)
        self.reset()

    def reset(self) -> None:
        self._buf = np.zeros(self.cfg.n_fft // 2, np.float32)  # the centre padding
        self._next = 0  # index of the next frame

    def skip(self, n: int) -> int:
        """Advance over ``n`` samples of silence without computing them (dropped audio).

        Returns the number of frames skipped; later frames keep their absolute indices.
        """
        cfg = self.cfg
        total = self._buf.size + n
        count = 0 if total < cfg.n_fft else 1 + (total - cfg.n_fft) // cfg.hop_length
        keep = total - count * cfg.hop_length
        self._buf = np.zeros(keep, np.float32)
        self._next += count
        return count

    def push(self, samples: F32) -> Frames:
        cfg = self.cfg
        buf = np.concatenate((self._buf, np.asarray(samples, np.float32)))
        frames = frames_from_padded(buf, cfg, self._next)
        self._next += len(frames)
        self._buf = buf[len(frames) * cfg.hop_length :]
        return frames
