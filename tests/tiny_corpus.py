"""A tiny generated corpus in the ``rtaudio data build`` manifest layout, for training tests.

Three easily told apart classes, made with numpy in well under a second:

* ``speech``: a harmonic voice (f0 per "speaker") with formant-like spectral envelopes that
  change every syllable and a 4 Hz syllabic amplitude envelope;
* ``music``: sequences of harmonic notes on a scale with plucked (decaying) envelopes;
* ``noise``: white / pink / brown noise.

Every split has its own speakers / sources, like the real builder's source-disjoint splits.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 16000
FIELDS = (
    "path",
    "kind",
    "label",
    "speaker",
    "source",
    "package",
    "license",
    "split",
    "duration",
    "real",
    "origin",
    "details",
)


def _voice(rng: np.random.Generator, f0: float, seconds: float) -> np.ndarray:
    n = round(seconds * SR)
    t = np.arange(n) / SR
    syl = round(0.2 * SR)
    out = np.zeros(n)
    for a in range(0, n, syl):
        b = min(n, a + syl)
        f = f0 * (1 + 0.1 * rng.standard_normal())
        formants = rng.uniform([300, 900, 2200], [800, 2000, 3200])
        seg = np.zeros(b - a)
        for k in range(1, int(4000 / f)):
            amp = sum(np.exp(-((k * f - fm) ** 2) / (2 * 150.0**2)) for fm in formants) + 0.02
            seg += amp / k**0.5 * np.sin(2 * np.pi * k * f * t[a:b] + rng.uniform(0, 6.28))
        out[a:b] = seg * np.sin(np.pi * np.arange(b - a) / (b - a)) ** 2
    return out


def _music(rng: np.random.Generator, seconds: float) -> np.ndarray:
    n = round(seconds * SR)
    note = round(0.25 * SR)
    scale = 220.0 * 2 ** (np.array([0, 2, 4, 5, 7, 9, 11, 12]) / 12)
    out = np.zeros(n)
    for a in range(0, n, note):
        b = min(n, a + note)
        tt = np.arange(b - a) / SR
        f = float(rng.choice(scale)) * float(rng.choice([1, 2]))
        env = np.exp(-tt * 6.0)
        for k in range(1, 6):
            out[a:b] += env * 0.6**k * np.sin(2 * np.pi * k * f * tt)
    return out


def _noise(rng: np.random.Generator, seconds: float, colour: str) -> np.ndarray:
    n = round(seconds * SR)
    w = rng.standard_normal(n)
    if colour == "white":
        return w
    spec = np.fft.rfft(w)
    f = np.maximum(np.arange(spec.size), 1)
    spec /= f ** (0.5 if colour == "pink" else 1.0)
    return np.fft.irfft(spec, n)


def make_tiny_corpus(
    root: str | Path, seed: int = 0, clips_per_source: int = 3, real: bool = False
) -> Path:
    """Write the corpus under ``root`` and return it (``real``: mark speech and music as real
    recordings, as the evaluation-set builder prefers them)."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    rows = []
    plan = {
        "train": {"speech": [110, 150, 190, 230], "music": 3, "noise": ["white", "pink", "brown"]},
        "validation": {"speech": [130, 210], "music": 1, "noise": ["pink", "white"]},
        "test": {"speech": [120, 200], "music": 1, "noise": ["brown", "pink"]},
    }
    for split, kinds in plan.items():
        for i, f0 in enumerate(kinds["speech"]):
            spk = f"tiny:{split}:spk{i}"
            for c in range(clips_per_source):
                rows.append((split, "speech", "speech", spk, _voice(rng, f0, 2.0), c))
        for i in range(kinds["music"]):
            for c in range(clips_per_source):
                rows.append((split, "music", "music", f"tiny:{split}:song{i}", _music(rng, 2.0), c))
        for colour in kinds["noise"]:
            for c in range(clips_per_source):
                x = _noise(rng, 2.0, colour)
                rows.append((split, "noise", f"{colour}_noise", f"tiny:{split}:{colour}", x, c))
    out_rows = []
    for split, kind, label, source, x, c in rows:
        x = x / (np.sqrt(np.mean(x**2)) + 1e-12) * 0.1  # -20 dBFS
        rel = f"{kind}/{split}/{source.replace(':', '_')}_{c}.wav"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        sf.write(root / rel, np.clip(x, -1, 1).astype(np.float32), SR, subtype="PCM_16")
        out_rows.append(
            {
                "path": rel,
                "kind": kind,
                "label": label,
                "speaker": source,
                "source": source,
                "package": "numpy",
                "license": "CC0",
                "split": split,
                "duration": f"{x.size / SR:.4f}",
                "real": "1" if real and kind in ("speech", "music") else "0",
                "origin": "tests/tiny_corpus.py",
                "details": "{}",
            }
        )
    with open(root / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(FIELDS), lineterminator="\n")
        w.writeheader()
        w.writerows(out_rows)
    return root
