"""Generated noise: coloured noise (white, pink, brown, blue, violet), mains hum, babble.

All generators are numpy-only and deterministic given the ``rng`` they are passed.
"""

from __future__ import annotations

import numpy as np

from .audio import SR, normalize

COLOURS = {"white": 0.0, "pink": -1.0, "brown": -2.0, "blue": 1.0, "violet": 2.0}


def coloured_noise(
    n: int, rng: np.random.Generator, exponent: float = 0.0, sr: int = SR, f_min: float = 20.0
) -> np.ndarray:
    """Gaussian noise with power spectral density ``∝ f**exponent``.

    ``exponent`` 0 is white, -1 pink, -2 brown (red), +1 blue, +2 violet. Shaped in the
    frequency domain; below ``f_min`` the spectrum is flat at its ``f_min`` value (no DC
    blow-up for brown noise).

    Returns:
        ``(n,)`` float32 with unit RMS.
    """
    if n <= 0:
        return np.zeros(0, np.float32)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / sr)
    f = np.maximum(f, f_min)
    spec *= f ** (exponent / 2.0)
    x = np.fft.irfft(spec, n)
    x /= max(float(np.sqrt(np.mean(x * x))), 1e-12)
    return x.astype(np.float32)


def hum(n: int, rng: np.random.Generator, sr: int = SR) -> np.ndarray:
    """Mains hum (50 or 60 Hz with random harmonics) plus a little broadband noise."""
    f0 = float(rng.choice([50.0, 60.0])) * float(rng.uniform(0.995, 1.005))
    t = np.arange(n) / sr
    x = np.zeros(n)
    for k in range(1, int(rng.integers(3, 12))):
        x += rng.uniform(0.05, 1.0) / k * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.3))
    x += 0.05 * coloured_noise(n, rng, -1.0, sr)
    x /= max(float(np.sqrt(np.mean(x * x))), 1e-12)
    return x.astype(np.float32)


def modulate(
    x: np.ndarray, rng: np.random.Generator, sr: int = SR, depth_db: float = 6.0
) -> np.ndarray:
    """Slow random level changes (0.1..2 Hz) so stationary noise sounds less synthetic."""
    n = x.size
    k = max(2, int(n / sr * rng.uniform(0.1, 2.0)) + 2)
    knots = rng.uniform(-depth_db, depth_db, k)
    env = np.interp(np.linspace(0, k - 1, n), np.arange(k), knots)
    return (x * 10 ** (env / 20)).astype(np.float32)


def noise_clip(kind: str, seconds: float, rng: np.random.Generator, sr: int = SR) -> np.ndarray:
    """A normalised clip of ``kind`` (a colour name or ``hum``)."""
    n = round(seconds * sr)
    if kind == "hum":
        x = hum(n, rng, sr)
    else:
        x = coloured_noise(n, rng, COLOURS[kind], sr)
        if rng.random() < 0.5:
            x = modulate(x, rng, sr)
    return normalize(x, float(rng.uniform(-30, -18)))


def babble(
    utterances: list[np.ndarray], seconds: float, rng: np.random.Generator, sr: int = SR
) -> np.ndarray:
    """Several talkers at once: utterances laid end to end per talker, talkers summed.

    Args:
        utterances: speech clips, each ``(T_i,)``; split round-robin among 3..8 talkers.
        seconds: output length.

    Returns:
        ``(round(seconds * sr),)`` float32, normalised.
    """
    n = round(seconds * sr)
    out = np.zeros(n, np.float64)
    if not utterances:
        return out.astype(np.float32)
    talkers = min(len(utterances), int(rng.integers(3, 9)))
    for k in range(talkers):
        mine = utterances[k::talkers]
        track = np.zeros(n)
        t = int(rng.integers(0, max(1, sr)))
        i = 0
        while t < n and mine:
            u = mine[i % len(mine)]
            i += 1
            seg = u[: n - t]
            track[t : t + seg.size] += seg
            t += seg.size + int(rng.integers(sr // 20, sr // 2))
        rms = float(np.sqrt(np.mean(track**2))) or 1.0
        out += track / rms * 10 ** (rng.uniform(-6, 0) / 20)
    return normalize(out.astype(np.float32), float(rng.uniform(-28, -20)))
