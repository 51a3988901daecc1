"""Audio augmentation for training (numpy / scipy; deterministic given a ``Generator``).

Every function takes ``(T,)`` float audio and returns ``(T,)`` float32 of the same length:

* :func:`gain` / :func:`random_gain` — level changes;
* :func:`eq` — random low / high shelves and peaking bands (RBJ biquads);
* :func:`room_impulse_response` + :func:`reverb` — simulated rooms: an image-source shoebox
  model for the early reflections plus an exponentially decaying, frequency-dependent noise
  tail (Sabine RT60) for the late reverberation;
* :func:`resample_through` — down to 8 / 11.025 / 22.05 kHz and back (lost bandwidth, aliasing
  of a cheap source);
* :func:`clip` — hard or soft (tanh) clipping;
* :func:`speed` — play faster or slower (pitch moves with it); the one function whose output
  length differs: ``len(x) / factor`` samples;
* :func:`band_limit` and :func:`codec` — telephone / AM-radio / low-bitrate style band limits
  with µ-law or coarse quantisation.

:func:`augment` chains them at random with the probabilities of an :class:`AugmentConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal as sps

from .audio import SR, resample

C_SOUND = 343.0


def _f32(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)


def gain(x: np.ndarray, db: float) -> np.ndarray:
    """Multiply by ``10**(db/20)``."""
    return _f32(np.asarray(x, np.float64) * 10.0 ** (db / 20.0))


def random_gain(
    x: np.ndarray, rng: np.random.Generator, low_db: float = -12.0, high_db: float = 6.0
) -> np.ndarray:
    """:func:`gain` by a uniform random amount in ``[low_db, high_db]``."""
    return gain(x, float(rng.uniform(low_db, high_db)))


# ---- equalisation ---------------------------------------------------------------------------


def _biquad(kind: str, f0: float, gain_db: float, q: float, sr: int) -> np.ndarray:
    """RBJ cookbook biquad as a ``(1, 6)`` second-order section."""
    a_ = 10 ** (gain_db / 40.0)
    w0 = 2 * np.pi * min(f0, 0.45 * sr) / sr
    cw, sw = np.cos(w0), np.sin(w0)
    alpha = sw / (2 * q)
    if kind == "peak":
        b = [1 + alpha * a_, -2 * cw, 1 - alpha * a_]
        a = [1 + alpha / a_, -2 * cw, 1 - alpha / a_]
    elif kind == "lowshelf":
        s = 2 * np.sqrt(a_) * alpha
        b = [
            a_ * ((a_ + 1) - (a_ - 1) * cw + s),
            2 * a_ * ((a_ - 1) - (a_ + 1) * cw),
            a_ * ((a_ + 1) - (a_ - 1) * cw - s),
        ]
        a = [
            (a_ + 1) + (a_ - 1) * cw + s,
            -2 * ((a_ - 1) + (a_ + 1) * cw),
            (a_ + 1) + (a_ - 1) * cw - s,
        ]
    elif kind == "highshelf":
        s = 2 * np.sqrt(a_) * alpha
        b = [
            a_ * ((a_ + 1) + (a_ - 1) * cw + s),
            -2 * a_ * ((a_ - 1) + (a_ + 1) * cw),
            a_ * ((a_ + 1) + (a_ - 1) * cw - s),
        ]
        a = [
            (a_ + 1) - (a_ - 1) * cw + s,
            2 * ((a_ - 1) - (a_ + 1) * cw),
            (a_ + 1) - (a_ - 1) * cw - s,
        ]
    else:
        raise ValueError(f"unknown biquad kind {kind!r}")
    b_arr = np.array(b) / a[0]
    a_arr = np.array(a) / a[0]
    return np.concatenate([b_arr, a_arr])[None, :]


def eq(
    x: np.ndarray,
    rng: np.random.Generator,
    sr: int = SR,
    max_db: float = 9.0,
    n_peaks: tuple[int, int] = (1, 3),
) -> np.ndarray:
    """Random equaliser: a low shelf, a high shelf and 1..3 peaking bands of ±``max_db``."""
    sos = [
        _biquad(
            "lowshelf", float(rng.uniform(80, 400)), float(rng.uniform(-max_db, max_db)), 0.707, sr
        ),
        _biquad(
            "highshelf",
            float(rng.uniform(2000, 0.4 * sr)),
            float(rng.uniform(-max_db, max_db)),
            0.707,
            sr,
        ),
    ]
    for _ in range(int(rng.integers(n_peaks[0], n_peaks[1] + 1))):
        f0 = float(np.exp(rng.uniform(np.log(150), np.log(0.4 * sr))))
        sos.append(
            _biquad(
                "peak", f0, float(rng.uniform(-max_db, max_db)), float(rng.uniform(0.5, 4.0)), sr
            )
        )
    return _f32(sps.sosfilt(np.concatenate(sos), np.asarray(x, np.float64)))


# ---- reverberation --------------------------------------------------------------------------


def room_impulse_response(
    rng: np.random.Generator,
    sr: int = SR,
    rt60: float | None = None,
    room: tuple[float, float, float] | None = None,
    max_order: int = 6,
    max_seconds: float = 1.2,
) -> np.ndarray:
    """A simulated room impulse response, direct path at sample 0 with amplitude 1.

    Early part: image-source model of a shoebox (Allen & Berkley) up to ``max_order``
    reflections per axis, wall reflection coefficient from Sabine's formula for ``rt60``.
    Late part: Gaussian noise with exponential decay (60 dB in ``rt60`` at low frequencies,
    faster at high ones), starting where the image-source echo density thins out, level
    matched to the early part's energy there.

    Args:
        rng: random source (room size, positions, wall jitter, tail noise).
        rt60: reverberation time in seconds (default: uniform 0.15..0.9).
        room: ``(Lx, Ly, Lz)`` in metres (default: random 3..10 x 3..8 x 2.4..4).

    Returns:
        ``(N,)`` float32 impulse response.
    """
    rt60 = float(rng.uniform(0.15, 0.9)) if rt60 is None else float(rt60)
    dims = np.array(
        room if room is not None else (rng.uniform(3, 10), rng.uniform(3, 8), rng.uniform(2.4, 4.0))
    )
    volume = float(np.prod(dims))
    surface = 2.0 * float(dims[0] * dims[1] + dims[0] * dims[2] + dims[1] * dims[2])
    alpha = float(np.clip(0.161 * volume / (surface * rt60), 0.02, 0.98))
    beta = np.sqrt(1.0 - alpha)
    margin = 0.5
    src = np.array([rng.uniform(margin, d - margin) for d in dims])
    mic = np.array([rng.uniform(margin, d - margin) for d in dims])
    n_len = round(min(max_seconds, 1.2 * rt60 + 0.05) * sr)
    h = np.zeros(n_len + 2)
    # image positions and reflection counts per axis
    ls = np.arange(-max_order, max_order + 1)
    pos_axes, refl_axes = [], []
    for ax in range(3):
        p, r = [], []
        for u in (0, 1):
            p.append((1 - 2 * u) * src[ax] + 2 * ls * dims[ax])
            r.append(np.abs(ls - u) + np.abs(ls))
        pos_axes.append(np.concatenate(p))
        refl_axes.append(np.concatenate(r))
    px, py, pz = np.meshgrid(*pos_axes, indexing="ij")
    rx, ry, rz = np.meshgrid(*refl_axes, indexing="ij")
    d = np.sqrt((px - mic[0]) ** 2 + (py - mic[1]) ** 2 + (pz - mic[2]) ** 2).ravel()
    refl = (rx + ry + rz).ravel()
    jitter = rng.uniform(0.9, 1.0, refl.size)  # uneven walls
    amp = beta**refl * jitter / np.maximum(d, 0.1)
    d0 = float(np.min(d))
    delay = (d - d0) / C_SOUND * sr
    keep = delay < n_len
    delay, amp = delay[keep], amp[keep]
    i0 = np.floor(delay).astype(np.int64)
    frac = delay - i0
    np.add.at(h, i0, amp * (1 - frac))
    np.add.at(h, i0 + 1, amp * frac)
    h = h[:n_len]
    h /= max(float(np.max(np.abs(h[:4]))), 1e-12)
    # late tail from where the image sources stop covering all directions
    t_mix = int(max_order * float(np.min(dims)) / C_SOUND * sr * 0.8)
    if t_mix < n_len - 1:
        t = np.arange(n_len - t_mix) / sr
        noise = rng.standard_normal(n_len - t_mix)
        lo = sps.sosfilt(sps.butter(2, 1500, "low", fs=sr, output="sos"), noise)
        hi = noise - lo
        tail = lo * np.exp(-6.9 * t / rt60) + hi * np.exp(-6.9 * t / (0.6 * rt60))
        w = max(1, sr // 100)
        ref = h[max(0, t_mix - w) : t_mix]
        level = float(np.sqrt(np.mean(ref**2))) if ref.size else 0.0
        tail *= level / max(float(np.sqrt(np.mean(tail[:w] ** 2))), 1e-12)
        ramp = np.minimum(1.0, np.arange(tail.size) / max(1, w))
        h[t_mix:] = h[t_mix:] * (1 - ramp) + tail * ramp
    return _f32(h)


def reverb(
    x: np.ndarray,
    rng: np.random.Generator,
    sr: int = SR,
    rir: np.ndarray | None = None,
    keep_level: bool = True,
) -> np.ndarray:
    """Convolve with ``rir`` (or a fresh :func:`room_impulse_response`), same length.

    The direct path stays at the same sample, so a reverberant mixture stays aligned with its
    dry target. With ``keep_level`` the RMS is restored to the input's.
    """
    h = room_impulse_response(rng, sr) if rir is None else np.asarray(rir, np.float64)
    x64 = np.asarray(x, np.float64)
    y = sps.fftconvolve(x64, h)[: x64.size]
    if keep_level:
        rx = float(np.sqrt(np.mean(x64**2)))
        ry = float(np.sqrt(np.mean(y**2)))
        if ry > 0:
            y *= rx / ry
    return _f32(y)


# ---- bandwidth and distortion ---------------------------------------------------------------


def resample_through(x: np.ndarray, sr: int = SR, via: int = 8000) -> np.ndarray:
    """Down-sample to ``via`` Hz and back to ``sr`` (the band above ``via / 2`` is lost)."""
    y = resample(resample(_f32(x), sr, via), via, sr)
    n = np.asarray(x).size
    if y.size < n:
        y = np.pad(y, (0, n - y.size))
    return _f32(y[:n])


def speed(x: np.ndarray, factor: float) -> np.ndarray:
    """``x`` played ``factor`` times as fast (tape-style: pitch up by the same ratio):
    ``round(len(x) / factor)`` samples out."""
    x32 = _f32(x)
    n = max(1, round(x32.size / factor))
    if n == x32.size:
        return x32
    y = resample(x32, x32.size, n)
    if y.size < n:
        y = np.pad(y, (0, n - y.size))
    return _f32(y[:n])


def clip(x: np.ndarray, threshold: float = 0.5, soft: bool = False) -> np.ndarray:
    """Clip at ``threshold`` of the peak: hard, or soft (``tanh``) with the same ceiling."""
    x64 = np.asarray(x, np.float64)
    peak = float(np.max(np.abs(x64))) if x64.size else 0.0
    if peak <= 0:
        return _f32(x64)
    c = threshold * peak
    y = c * np.tanh(x64 / c) if soft else np.clip(x64, -c, c)
    return _f32(y)


def band_limit(
    x: np.ndarray,
    sr: int = SR,
    low: float | None = 300.0,
    high: float | None = 3400.0,
    order: int = 6,
) -> np.ndarray:
    """Butterworth band-pass (or high-/low-pass when one edge is None)."""
    x64 = np.asarray(x, np.float64)
    if high is not None and high >= 0.5 * sr:
        high = None
    if low is not None and high is not None:
        sos = sps.butter(order, [low, high], "bandpass", fs=sr, output="sos")
    elif low is not None:
        sos = sps.butter(order, low, "highpass", fs=sr, output="sos")
    elif high is not None:
        sos = sps.butter(order, high, "lowpass", fs=sr, output="sos")
    else:
        return _f32(x64)
    return _f32(sps.sosfilt(sos, x64))


def mu_law(x: np.ndarray, bits: int = 8, mu: float = 255.0) -> np.ndarray:
    """µ-law companding to ``bits`` bits and back (telephone quantisation noise)."""
    x64 = np.clip(np.asarray(x, np.float64), -1, 1)
    y = np.sign(x64) * np.log1p(mu * np.abs(x64)) / np.log1p(mu)
    levels = 2 ** (bits - 1)
    y = np.round(y * levels) / levels
    return _f32(np.sign(y) * ((1 + mu) ** np.abs(y) - 1) / mu)


def quantize(x: np.ndarray, bits: int) -> np.ndarray:
    """Uniform quantisation to ``bits`` bits."""
    levels = 2 ** (bits - 1)
    return _f32(np.round(np.clip(np.asarray(x, np.float64), -1, 1) * levels) / levels)


CODECS = ("telephone", "am_radio", "low_bitrate", "wideband")


def codec(
    x: np.ndarray, rng: np.random.Generator, sr: int = SR, kind: str | None = None
) -> np.ndarray:
    """A codec-like degradation: ``telephone`` (300-3400 Hz, µ-law 8 bit), ``am_radio``
    (100-4500 Hz, soft saturation), ``low_bitrate`` (4-7 kHz low-pass, 10-bit) or
    ``wideband`` (50-7000 Hz)."""
    kind = kind or str(rng.choice(CODECS))
    x64 = np.asarray(x, np.float64)
    peak = float(np.max(np.abs(x64))) if x64.size else 0.0
    scale = 0.9 / peak if peak > 0.9 else 1.0
    y = x64 * scale
    if kind == "telephone":
        y = mu_law(band_limit(y, sr, 300.0, 3400.0), 8)
    elif kind == "am_radio":
        y = clip(band_limit(y, sr, 100.0, 4500.0), 0.8, soft=True)
    elif kind == "low_bitrate":
        y = quantize(band_limit(y, sr, None, float(rng.uniform(4000, 7000))), 10)
    elif kind == "wideband":
        y = band_limit(y, sr, 50.0, 7000.0)
    else:
        raise ValueError(f"unknown codec {kind!r} (one of {CODECS})")
    return _f32(np.asarray(y, np.float64) / scale)


# ---- chains ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of :func:`augment`'s steps."""

    p_eq: float = 0.5
    p_reverb: float = 0.4
    p_resample: float = 0.2
    p_codec: float = 0.15
    p_clip: float = 0.05
    p_gain: float = 1.0
    gain_db: tuple[float, float] = (-12.0, 6.0)
    resample_rates: tuple[int, ...] = (8000, 11025, 22050)


def augment(
    x: np.ndarray, rng: np.random.Generator, sr: int = SR, config: AugmentConfig | None = None
) -> tuple[np.ndarray, list[str]]:
    """A random chain of augmentations; returns the audio and the names of the steps applied.

    Deterministic given ``rng``; the output has the input's length.
    """
    cfg = config or AugmentConfig()
    y = _f32(x)
    steps: list[str] = []
    if rng.random() < cfg.p_eq:
        y = eq(y, rng, sr)
        steps.append("eq")
    if rng.random() < cfg.p_reverb:
        y = reverb(y, rng, sr)
        steps.append("reverb")
    if rng.random() < cfg.p_resample:
        via = int(rng.choice(cfg.resample_rates))
        if via < sr:
            y = resample_through(y, sr, via)
            steps.append(f"resample{via}")
    if rng.random() < cfg.p_codec:
        kind = str(rng.choice(CODECS))
        y = codec(y, rng, sr, kind)
        steps.append(kind)
    if rng.random() < cfg.p_clip:
        y = clip(y, float(rng.uniform(0.3, 0.8)), soft=bool(rng.random() < 0.5))
        steps.append("clip")
    if rng.random() < cfg.p_gain:
        y = random_gain(y, rng, *cfg.gain_db)
        steps.append("gain")
    return y, steps
