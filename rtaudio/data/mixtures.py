"""Training mixtures made on the fly (MiTAS speech enhancement, TseNet speaker extraction).

* :func:`mix_at_snr` scales a noise so the mixture has exactly the requested SNR;
* :func:`speech_noise_example` — speech + noise / music at an SNR drawn from -5..15 dB;
* :func:`tse_example` — target + interfering speaker at an SIR drawn from -5..5 dB, with an
  enrollment utterance of the target that is a *different* utterance;
* :class:`MixtureSampler` draws both from a corpus manifest (one split), reading clips lazily.

All return float32 arrays and are deterministic given the ``Generator`` passed in.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .audio import SR, load_audio


def power(x: np.ndarray) -> float:
    """Mean square (float64)."""
    return float(np.mean(np.square(np.asarray(x, np.float64)))) if np.size(x) else 0.0


def snr_db(signal: np.ndarray, noise: np.ndarray) -> float:
    """``10 log10(P_signal / P_noise)`` over the whole arrays."""
    return 10.0 * np.log10(max(power(signal), 1e-30) / max(power(noise), 1e-30))


def fit_length(x: np.ndarray, n: int, rng: np.random.Generator, loop: bool = True) -> np.ndarray:
    """Crop a random ``n``-sample segment, or extend to ``n`` (looping or zero padding at a
    random offset)."""
    x = np.asarray(x, np.float32)
    if x.size == n:
        return x.copy()
    if x.size > n:
        a = int(rng.integers(0, x.size - n + 1))
        return x[a : a + n].copy()
    if x.size == 0:
        return np.zeros(n, np.float32)
    if loop:
        reps = int(np.ceil(n / x.size)) + 1
        a = int(rng.integers(0, x.size))
        return np.tile(x, reps)[a : a + n].copy()
    out = np.zeros(n, np.float32)
    a = int(rng.integers(0, n - x.size + 1))
    out[a : a + x.size] = x
    return out


@dataclass(frozen=True)
class Mixture:
    """A mixture and its parts, all ``(T,)`` float32; ``mixture == signal + noise``."""

    mixture: np.ndarray
    signal: np.ndarray
    noise: np.ndarray
    snr_db: float


def mix_at_snr(signal: np.ndarray, noise: np.ndarray, snr: float, *, peak: float = 0.99) -> Mixture:
    """Scale ``noise`` so that ``10 log10(P_signal / P_noise) == snr`` and add it.

    Both inputs must have the same length. If the sum would exceed ``peak``, signal, noise and
    mixture are scaled together (the SNR is unchanged).

    Raises:
        ValueError: on length mismatch or a silent signal / noise.
    """
    s = np.asarray(signal, np.float64)
    v = np.asarray(noise, np.float64)
    if s.shape != v.shape:
        raise ValueError(f"signal {s.shape} and noise {v.shape} differ in shape")
    ps, pv = power(s), power(v)
    if ps <= 0 or pv <= 0:
        raise ValueError("signal and noise must not be silent")
    v = v * np.sqrt(ps / (pv * 10.0 ** (snr / 10.0)))
    m = s + v
    top = float(np.max(np.abs(m)))
    if top > peak:
        g = peak / top
        s, v, m = s * g, v * g, m * g
    s32, v32 = s.astype(np.float32), v.astype(np.float32)
    return Mixture((s32 + v32).astype(np.float32), s32, v32, float(snr))


def speech_noise_example(
    speech: np.ndarray,
    noise: np.ndarray,
    rng: np.random.Generator,
    snr_range: tuple[float, float] = (-5.0, 15.0),
    length: int | None = None,
) -> Mixture:
    """Speech + noise (or music) at an SNR uniform in ``snr_range`` (MiTAS training pairs).

    ``length`` (samples) defaults to the speech length; the noise is looped / cropped to it.
    """
    n = length or int(np.size(speech))
    s = fit_length(speech, n, rng, loop=False)
    v = fit_length(noise, n, rng, loop=True)
    return mix_at_snr(s, v, float(rng.uniform(*snr_range)))


@dataclass(frozen=True)
class TseExample:
    """Target speaker extraction example (all float32).

    Attributes:
        mixture: ``target + interferer``, ``(T,)``.
        target: the target utterance, ``(T,)``.
        interferer: the scaled interfering speech, ``(T,)``.
        enrollment: a different utterance of the target speaker, ``(T_e,)``.
        sir_db: target-to-interferer ratio of the mixture.
        target_index / enrollment_index: which of the target speaker's utterances were used
            (always different).
    """

    mixture: np.ndarray
    target: np.ndarray
    interferer: np.ndarray
    enrollment: np.ndarray
    sir_db: float
    target_index: int
    enrollment_index: int


def tse_example(
    target_utterances: Sequence[np.ndarray],
    interferer: np.ndarray,
    rng: np.random.Generator,
    sir_range: tuple[float, float] = (-5.0, 5.0),
    length: int | None = None,
    enrollment_length: int | None = None,
) -> TseExample:
    """Target + interferer at an SIR uniform in ``sir_range``, with a distinct enrollment.

    Args:
        target_utterances: at least two utterances of the target speaker; one becomes the
            target, a different one the enrollment.
        interferer: speech of another speaker.
        length: mixture length (default: the chosen target's length).
        enrollment_length: crop / pad the enrollment to this many samples (default: as is).

    Raises:
        ValueError: with fewer than two target utterances.
    """
    if len(target_utterances) < 2:
        raise ValueError("need at least two utterances of the target speaker")
    ti, ei = (int(i) for i in rng.choice(len(target_utterances), size=2, replace=False))
    target = np.asarray(target_utterances[ti], np.float32)
    n = length or target.size
    t = fit_length(target, n, rng, loop=False)
    v = fit_length(interferer, n, rng, loop=False)
    if power(v) <= 0:
        v = fit_length(interferer, n, rng, loop=True)
    m = mix_at_snr(t, v, float(rng.uniform(*sir_range)))
    enr = np.asarray(target_utterances[ei], np.float32)
    if enrollment_length is not None:
        enr = fit_length(enr, enrollment_length, rng, loop=False)
    return TseExample(m.mixture, m.signal, m.noise, enr.astype(np.float32).copy(), m.snr_db, ti, ei)


class MixtureSampler:
    """Draws training mixtures from a corpus manifest, restricted to one split.

    Args:
        records: manifest rows (dicts with at least ``path``, ``kind``, ``speaker``, ``split``),
            e.g. from :func:`rtaudio.data.manifest.read_manifest`.
        root: the corpus directory the ``path`` fields are relative to.
        split: ``train``, ``validation`` or ``test``.
        noise_kinds: kinds used as interference for :meth:`speech_noise`.
    """

    def __init__(
        self,
        records: Sequence[dict[str, object]],
        root: str | Path,
        split: str = "train",
        noise_kinds: tuple[str, ...] = ("noise", "music", "events"),
    ) -> None:
        self.root = Path(root)
        rows = [r for r in records if r["split"] == split]
        self.speech = [r for r in rows if r["kind"] == "speech"]
        self.noise = [r for r in rows if r["kind"] in noise_kinds]
        by_spk: dict[str, list[dict[str, object]]] = defaultdict(list)
        for r in self.speech:
            by_spk[str(r["speaker"])].append(r)
        self.by_speaker = {k: v for k, v in sorted(by_spk.items())}
        self.tse_speakers = [k for k, v in self.by_speaker.items() if len(v) >= 2]
        self._load = functools.lru_cache(maxsize=2048)(self._read)

    def _read(self, rel: str) -> np.ndarray:
        return load_audio(self.root / rel, SR)

    def audio(self, row: dict[str, object]) -> np.ndarray:
        return self._load(str(row["path"]))

    def speech_noise(
        self,
        rng: np.random.Generator,
        seconds: float = 4.0,
        snr_range: tuple[float, float] = (-5.0, 15.0),
    ) -> Mixture:
        """Speech + noise / music / events at a random SNR in ``snr_range``."""
        if not self.speech or not self.noise:
            raise ValueError("the split has no speech or no noise clips")
        s = self.audio(self.speech[int(rng.integers(len(self.speech)))])
        v = self.audio(self.noise[int(rng.integers(len(self.noise)))])
        return speech_noise_example(s, v, rng, snr_range, round(seconds * SR))

    def tse(
        self,
        rng: np.random.Generator,
        seconds: float = 4.0,
        sir_range: tuple[float, float] = (-5.0, 5.0),
        enrollment_seconds: float | None = None,
    ) -> TseExample:
        """Two-speaker mixture with an enrollment utterance of the target (different clip)."""
        if len(self.tse_speakers) < 1 or len(self.by_speaker) < 2:
            raise ValueError("need a speaker with two clips and a second speaker")
        spk = self.tse_speakers[int(rng.integers(len(self.tse_speakers)))]
        others = [k for k in self.by_speaker if k != spk]
        other = others[int(rng.integers(len(others)))]
        mine = self.by_speaker[spk]
        pick = rng.choice(len(mine), size=2, replace=False)
        utts = [self.audio(mine[int(i)]) for i in pick]
        theirs = self.by_speaker[other]
        interferer = self.audio(theirs[int(rng.integers(len(theirs)))])
        return tse_example(
            utts,
            interferer,
            rng,
            sir_range,
            round(seconds * SR),
            None if enrollment_seconds is None else round(enrollment_seconds * SR),
        )
