"""Corpus access for training: manifest rows, audio held in memory, window sampling, augmentation.

A corpus is a directory written by ``rtaudio data build`` (or any directory with a
``manifest.csv`` in the same columns, such as the fixed evaluation set in ``tests/data/eval``).
Rows carry a ``split`` (``train`` / ``validation`` / ``test``) assigned by *source*, so a model
trained on ``train`` and scored on ``test`` has never heard the test speakers, voices, tracks or
recordings.

Audio is decoded once per clip and kept as int16 (a 6-hour corpus is about 0.7 GB), so a training
step never touches the disk.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from rtaudio.data.audio import SR, AudioError, load_audio, split_member
from rtaudio.data.augment import (
    CODECS,
    clip,
    codec,
    eq,
    resample_through,
    reverb,
    room_impulse_response,
)
from rtaudio.data.manifest import read_manifest
from rtaudio.errors import missing

Row = dict[str, Any]
CLASSES3 = ("speech", "music", "noise")
NOISE_KINDS = ("noise", "music", "events")  # interference for the separators


class CorpusError(ValueError):
    """The corpus is missing, empty, or lacks what a task needs."""


def class3(row: Row) -> str | None:
    """The 3-class label (SwishNet, spectrogram classifiers) of a manifest row.

    ``speech`` clips -> ``speech``, ``music`` -> ``music``, ``noise`` and sound ``events``
    -> ``noise``; anything else -> ``None`` (unused).
    """
    kind = str(row["kind"])
    if kind == "speech":
        return "speech"
    if kind == "music":
        return "music"
    if kind in ("noise", "events"):
        return "noise"
    return None


def group3(row: Row) -> str:
    """Sampling group of a row within its 3-class label: real / synthetic speech and music,
    each generated noise type (babble, white, hum...) and sound events as one group."""
    kind = str(row["kind"])
    if kind in ("speech", "music"):
        return f"{kind}:{'real' if int(row['real']) else 'synthetic'}"
    if kind == "noise":
        label = str(row["label"])
        return (
            "noise:babble"
            if label == "babble"
            else ("noise:hum" if label == "hum" else "noise:coloured")
        )
    return kind


def level_db(x: np.ndarray) -> float:
    """RMS level in dBFS (-200 for silence)."""
    p = float(np.mean(np.square(x, dtype=np.float64))) if x.size else 0.0
    return 10.0 * float(np.log10(max(p, 1e-20)))


class Corpus:
    """A built corpus: its manifest rows and their audio (decoded lazily, cached as int16).

    Args:
        root: the corpus directory (with ``manifest.csv``).
        log: where to report progress (stderr by default).
    """

    def __init__(self, root: str | Path, log: Callable[[str], None] | None = None) -> None:
        self.root = Path(root)
        manifest = self.root / "manifest.csv"
        if not self.root.is_dir():
            raise CorpusError(
                missing(self.root, "folder")
                if not self.root.exists()
                else f"{root}: not a folder (give the corpus's folder, which holds manifest.csv)"
            )
        if not manifest.is_file():
            raise CorpusError(
                f"{manifest} not found: build a corpus with `rtaudio data build --out {root}`"
            )
        try:
            self.rows: list[Row] = read_manifest(self.root)
        except (OSError, UnicodeDecodeError, csv.Error, ValueError) as e:
            raise CorpusError(str(e) if isinstance(e, ValueError) else f"{manifest}: {e}") from None
        if not self.rows:
            raise CorpusError(f"{manifest} lists no clips")
        gone = [r["path"] for r in self.rows if not self._file(str(r["path"])).is_file()]
        if gone:
            raise CorpusError(
                f"{root}: {len(gone)} of the {len(self.rows)} clips its manifest lists are "
                f"missing ({gone[0]}{', ...' if len(gone) > 1 else ''}): restore them, or build "
                "the corpus again into a new folder"
            )
        self.manifest_sha256 = hashlib.sha256(manifest.read_bytes()).hexdigest()
        self._audio: dict[str, np.ndarray] = {}
        self.log = log or (lambda s: print(s, file=sys.stderr, flush=True))

    def select(
        self,
        split: str,
        kinds: Sequence[str] | None = None,
        where: Callable[[Row], bool] | None = None,
    ) -> list[Row]:
        """Rows of one split, optionally of some kinds and passing a filter."""
        return [
            r
            for r in self.rows
            if r["split"] == split
            and (kinds is None or r["kind"] in kinds)
            and (where is None or where(r))
        ]

    def audio(self, row: Row) -> np.ndarray:
        """The clip as int16 samples at 16 kHz (cached)."""
        rel = str(row["path"])
        x = self._audio.get(rel)
        if x is None:
            x = self._read(rel)
            self._audio[rel] = x
        return x

    def _file(self, rel: str) -> Path:
        """The file a manifest path is in (``container::member``: the container)."""
        return self.root / split_member(rel)[0]

    def _read(self, rel: str) -> np.ndarray:
        path = self.root / rel
        try:
            info = sf.info(str(path))
            if info.samplerate == SR and info.channels == 1 and info.subtype == "PCM_16":
                data, _ = sf.read(str(path), dtype="int16", always_2d=False)
                return np.ascontiguousarray(data, dtype=np.int16)
        except (sf.LibsndfileError, RuntimeError):
            pass
        try:
            y = load_audio(path, SR)
        except AudioError as e:  # damaged since it was built
            why = str(e).splitlines()[0]
            raise CorpusError(
                f"{self.root}: clip {rel} cannot be read ({why}): restore it, or build the "
                "corpus again into a new folder"
            ) from None
        return np.clip(np.rint(y * 32767.0), -32768, 32767).astype(np.int16)

    def float_audio(self, row: Row) -> np.ndarray:
        return self.audio(row).astype(np.float32) / 32768.0

    def preload(self, rows: Iterable[Row]) -> None:
        """Decode every clip of ``rows`` now (so training steps never wait on the disk)."""
        rows = list(rows)
        for i, r in enumerate(rows):
            self.audio(r)
            if (i + 1) % 2000 == 0:
                self.log(f"  loaded {i + 1}/{len(rows)} clips")

    def summary(self, rows: Iterable[Row]) -> dict[str, Any]:
        """What a model was trained / tested on: hours and sources per split and kind."""
        hours: dict[str, float] = defaultdict(float)
        sources: dict[str, set[str]] = defaultdict(set)
        real: dict[str, float] = defaultdict(float)
        packages: dict[str, set[str]] = defaultdict(set)
        licences: set[str] = set()
        for r in rows:
            key = f"{r['kind']}/{r['split']}"
            hours[key] += float(r["duration"]) / 3600.0
            sources[key].add(str(r["source"]))
            if int(r["real"]):
                real[key] += float(r["duration"]) / 3600.0
            packages[str(r["kind"])].add(str(r["package"]))
            licences.add(str(r["license"]))
        out: dict[str, Any] = {
            "corpus": str(self.root),
            "manifest_sha256": self.manifest_sha256,
            "hours": {k: round(v, 4) for k, v in sorted(hours.items())},
            "real_hours": {k: round(v, 4) for k, v in sorted(real.items())},
            "sources": {k: len(v) for k, v in sorted(sources.items())},
            "packages": {k: sorted(v) for k, v in sorted(packages.items())},
            "licenses": sorted(licences),
        }
        summary = self.root / "summary.json"
        if summary.is_file():
            try:
                s = json.loads(summary.read_text())
                out["builder_seed"] = s.get("seed")
                out["builder_version"] = s.get("builder_version")
                if s.get("packed_from"):  # a subset packed for a remote machine
                    out["packed_from"] = s["packed_from"]
            except (OSError, ValueError):
                pass
        return out


# ---- cropping ---------------------------------------------------------------------------------


def crop(
    x: np.ndarray,
    n: int,
    rng: np.random.Generator,
    loop: bool,
    min_db: float | None = -45.0,
    tries: int = 4,
) -> np.ndarray:
    """A random ``n``-sample float32 segment of int16 or float audio ``x``.

    Shorter clips are looped (``loop``) or placed at a random offset in zeros. With ``min_db``
    a few offsets are tried to avoid a near-silent segment (pauses in speech).
    """
    xf = x.astype(np.float32) / 32768.0 if x.dtype == np.int16 else np.asarray(x, np.float32)
    if xf.size == 0:
        return np.zeros(n, np.float32)
    if xf.size < n:
        if loop:
            reps = n // xf.size + 2
            a = int(rng.integers(0, xf.size))
            return np.tile(xf, reps)[a : a + n].copy()
        out = np.zeros(n, np.float32)
        a = int(rng.integers(0, n - xf.size + 1))
        out[a : a + xf.size] = xf
        return out
    best, best_db = xf[:n], -1e9
    for _ in range(max(1, tries)):
        a = int(rng.integers(0, xf.size - n + 1))
        seg = xf[a : a + n]
        db = level_db(seg)
        if min_db is None or db >= min_db:
            return seg.copy()
        if db > best_db:
            best, best_db = seg, db
    return best.copy()


# ---- class-balanced window sampling ------------------------------------------------------------


def _hours(rows: Iterable[Row]) -> float:
    return sum(float(r["duration"]) for r in rows) / 3600.0


class WindowSampler:
    """Labelled windows drawn class -> group -> source -> clip (clip chosen by duration).

    Class ``c`` is drawn with probability proportional to ``hours_c ** class_power`` (0: uniform,
    1: natural frequencies); :attr:`class_weights` are the matching cross-entropy weights that
    make every class count equally in expectation (class-balanced loss). Within a class, a
    *group* (``group_of``: e.g. real vs synthetic speech, babble vs coloured noise vs sound
    events) is drawn with probability proportional to ``hours ** group_power``, then a source
    uniformly: so hundreds of small synthetic voices cannot drown a few real speakers, and
    a sub-type with few sources (babble) is still seen often.

    Args:
        corpus: the corpus.
        rows: candidate rows (one split).
        label_of: row -> class name or ``None`` (skip).
        classes: the class names, in logit order; classes without rows are never drawn.
        class_power: the class sampling exponent.
        group_of: row -> group name within its class (default: one group per class).
        group_power: the group sampling exponent.
    """

    def __init__(
        self,
        corpus: Corpus,
        rows: Sequence[Row],
        label_of: Callable[[Row], str | None],
        classes: Sequence[str],
        class_power: float = 0.5,
        group_of: Callable[[Row], str] | None = None,
        group_power: float = 0.5,
    ) -> None:
        self.corpus = corpus
        self.classes = tuple(classes)
        by: dict[int, dict[str, dict[str, list[Row]]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(list))
        )
        for r in rows:
            lab = label_of(r)
            if lab is not None and lab in self.classes:
                g = group_of(r) if group_of is not None else ""
                by[self.classes.index(lab)][g][str(r["source"])].append(r)
        if not by:
            has = Counter(str(r["split"]) for r in corpus.rows)
            raise CorpusError(
                f"{corpus.root}: no clips of the classes {', '.join(self.classes)} to draw "
                f"from here ({len(rows)} clips of the split; the corpus has "
                + ", ".join(f"{n} {split}" for split, n in sorted(has.items()))
                + ")"
            )
        self.by_class = {
            c: {g: dict(sorted(s.items())) for g, s in sorted(v.items())}
            for c, v in sorted(by.items())
        }
        self.present = sorted(self.by_class)
        hours = np.array(
            [
                _hours(r for s in self.by_class[c].values() for rs in s.values() for r in rs)
                for c in self.present
            ]
        )
        self.hours = dict(zip(self.present, hours, strict=True))
        p = hours**class_power
        self.p = p / p.sum()
        w = np.zeros(len(self.classes))
        for c, pc in zip(self.present, self.p, strict=True):
            w[c] = 1.0 / (len(self.present) * pc)
        self.class_weights = w.astype(np.float32)
        self._group_p: dict[int, tuple[list[str], np.ndarray]] = {}
        for c in self.present:
            names = list(self.by_class[c])
            gh = np.array(
                [_hours(r for rs in self.by_class[c][g].values() for r in rs) for g in names]
            )
            gp = gh**group_power
            self._group_p[c] = (names, gp / gp.sum())
        self._clip_p = {
            (c, g, s): (d := np.array([float(r["duration"]) for r in rs])) / d.sum()
            for c in self.present
            for g, srcs in self.by_class[c].items()
            for s, rs in srcs.items()
        }

    def rows(self) -> list[Row]:
        return [
            r
            for c in self.present
            for srcs in self.by_class[c].values()
            for rs in srcs.values()
            for r in rs
        ]

    def draw_row(self, rng: np.random.Generator, cls: int | None = None) -> tuple[Row, int]:
        c = self.present[int(rng.choice(len(self.present), p=self.p))] if cls is None else cls
        names, gp = self._group_p[c]
        g = names[int(rng.choice(len(names), p=gp))] if len(names) > 1 else names[0]
        srcs = list(self.by_class[c][g])
        s = srcs[int(rng.integers(len(srcs)))]
        rs = self.by_class[c][g][s]
        return rs[int(rng.choice(len(rs), p=self._clip_p[(c, g, s)]))], c

    def draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, int, Row]:
        """``(audio (n,) float32, class index, row)``."""
        row, c = self.draw_row(rng)
        loop = row["kind"] in ("music", "noise")
        return crop(self.corpus.audio(row), n, rng, loop), c, row


# ---- augmentation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AugmentOptions:
    """Probabilities of the training augmentations (:mod:`rtaudio.data.augment`)."""

    p_eq: float = 0.4
    p_reverb: float = 0.3
    p_resample: float = 0.2
    p_codec: float = 0.1
    p_clip: float = 0.03
    gain_db: tuple[float, float] = (-30.0, 0.0)  # RMS level relative to -20 dBFS
    floor_snr_db: tuple[float, float] = (35.0, 70.0)  # a faint noise floor (real inputs)


class Augmenter:
    """Random EQ, room reverb (from a fixed bank of simulated rooms), resampling through
    8 / 11 / 22 kHz, codec band limits, clipping, level and a faint noise floor.

    The room bank is made once from ``seed`` (simulating a room per example would cost more
    than the training step); every call is deterministic given the ``Generator``.
    """

    def __init__(self, seed: int, options: AugmentOptions | None = None, rooms: int = 48) -> None:
        self.o = options or AugmentOptions()
        rng = np.random.default_rng(seed)
        self.rirs = [room_impulse_response(rng) for _ in range(rooms)]

    def colour(self, x: np.ndarray, rng: np.random.Generator, reverb_ok: bool = True) -> np.ndarray:
        """Channel effects only (no level change): EQ, reverb, resampling, codec, clipping."""
        o = self.o
        y = np.asarray(x, np.float32)
        if level_db(y) < -90:
            return y
        if rng.random() < o.p_eq:
            y = eq(y, rng)
        if reverb_ok and rng.random() < o.p_reverb:
            y = reverb(y, rng, rir=self.rirs[int(rng.integers(len(self.rirs)))])
        if rng.random() < o.p_resample:
            y = resample_through(y, SR, int(rng.choice([8000, 11025, 22050])))
        if rng.random() < o.p_codec:
            y = codec(y, rng, SR, str(rng.choice(CODECS)))
        if rng.random() < o.p_clip:
            y = clip(y, float(rng.uniform(0.3, 0.8)), soft=bool(rng.random() < 0.5))
        return np.asarray(y, np.float32)

    def level(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Set a random RMS level (``gain_db`` around -20 dBFS) and add a faint noise floor."""
        y = np.asarray(x, np.float64)
        lvl = level_db(y)
        if lvl < -90:
            return y.astype(np.float32)
        target = -20.0 + float(rng.uniform(*self.o.gain_db))
        y = y * 10 ** ((target - lvl) / 20.0)
        floor = target - float(rng.uniform(*self.o.floor_snr_db))
        y = y + rng.standard_normal(y.size) * 10 ** (floor / 20.0)
        peak = float(np.max(np.abs(y)))
        if peak > 0.999:
            y *= 0.999 / peak
        return y.astype(np.float32)

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.level(self.colour(x, rng), rng)
