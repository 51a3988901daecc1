"""View models: what the widgets show, computed from the engine's results (no Qt here).

The window's timer drains the engine's :class:`~rtaudio.results.Channel` and feeds the
:class:`~rtaudio.results.ChunkResult` list to these models; widgets only read ready-made arrays
and strings from them. Every model keeps bounded memory (rings / deques), so a long session
costs the same per tick as a short one. Times are stream seconds (seconds of audio received),
the engine's clock for labels, so the waveform, the spectrogram and the label timeline share one
x axis and the lookahead delay shows as the gap between the newest label and "now".
"""

from __future__ import annotations

import re
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rtaudio.audiofile import AudioFileError, probe
from rtaudio.config import SAMPLE_RATE
from rtaudio.features import FeatureConfig
from rtaudio.latency import LatencySummary
from rtaudio.results import ChunkResult, Label

SILENCE = "silence"
SWISHNET_CLASSES = ("speech", "music", "noise")


class Ring:
    """The newest ``capacity`` rows of a stream of ``[n, *shape]`` arrays."""

    def __init__(self, capacity: int, shape: tuple[int, ...] = (), fill: float = 0.0) -> None:
        self.capacity = capacity
        self.fill = fill
        self._buf = np.full((capacity, *shape), fill, np.float32)
        self._pos = 0  # next write index
        self.total = 0  # rows ever pushed

    def push(self, x: np.ndarray) -> None:
        n = x.shape[0]
        if n == 0:
            return
        if n >= self.capacity:
            self._buf[:] = x[-self.capacity :]
            self._pos = 0
        else:
            first = min(n, self.capacity - self._pos)
            self._buf[self._pos : self._pos + first] = x[:first]
            self._buf[: n - first] = x[first:]
            self._pos = (self._pos + n) % self.capacity
        self.total += n

    def ordered(self) -> np.ndarray:
        """All rows, oldest first (rows never written hold ``fill``)."""
        return np.concatenate((self._buf[self._pos :], self._buf[: self._pos]))

    def newest(self, n: int) -> np.ndarray:
        """The newest ``n`` rows (at most ``capacity``), oldest first."""
        n = min(n, self.capacity)
        idx = (self._pos - n + np.arange(n)) % self.capacity
        return self._buf[idx]

    def clear(self) -> None:
        self._buf[:] = self.fill
        self._pos = 0
        self.total = 0


# ------------------------------------------------------------------------------- waveform


@dataclass(frozen=True)
class Envelope:
    """A min/max envelope drawn as one connected line: ``x`` seconds, ``y`` amplitude."""

    x: np.ndarray
    y: np.ndarray


class WaveformModel:
    """The last ``seconds`` of input (and separated voice), reduced to a min/max envelope."""

    def __init__(self, seconds: float = 6.0, buckets: int = 600) -> None:
        n = int(seconds * SAMPLE_RATE)
        self.buckets = buckets
        self.samples = n - n % buckets
        self.input = Ring(self.samples)
        self.voice = Ring(self.samples)
        self.has_voice = False
        self.now = 0.0  # stream time of the newest sample

    def update(self, results: list[ChunkResult]) -> None:
        for r in results:
            if r.audio is None:
                continue
            self.input.push(r.audio)
            if r.voice is not None:
                self.voice.push(r.voice)
                self.has_voice = True
            else:
                self.voice.push(np.zeros_like(r.audio))
            self.now = r.end

    def _envelope(self, ring: Ring) -> Envelope:
        x = ring.ordered().reshape(self.buckets, -1)  # buckets, samples per bucket
        lo, hi = x.min(axis=1), x.max(axis=1)
        t = self.now - (self.samples - np.arange(self.buckets) * x.shape[1]) / SAMPLE_RATE
        return Envelope(np.repeat(t, 2), np.stack((lo, hi), axis=1).ravel())

    def input_envelope(self) -> Envelope:
        return self._envelope(self.input)

    def voice_vs_input_db(self, seconds: float = 1.0, floor_db: float = -60.0) -> float | None:
        """How loud the separated voice is against the input over the last ``seconds``, in dB
        (-12: the separator took away all but a sixteenth of the energy; about 0: it kept
        everything); None without a voice or while the input is below ``floor_db`` dBFS."""
        if not self.has_voice:
            return None
        n = min(int(seconds * SAMPLE_RATE), self.samples, self.input.total)
        if n <= 0:
            return None
        x = self.input.newest(n).astype(np.float64)
        v = self.voice.newest(n).astype(np.float64)
        ex, ev = float(np.mean(x * x)), float(np.mean(v * v))
        if ex < 10 ** (floor_db / 10):
            return None
        return 10.0 * np.log10(max(ev, 1e-12) / ex)

    def voice_envelope(self) -> Envelope | None:
        return self._envelope(self.voice) if self.has_voice else None

    def clear(self) -> None:
        self.input.clear()
        self.voice.clear()
        self.has_voice = False
        self.now = 0.0


# ---------------------------------------------------------------------------- spectrogram


class SpectrogramModel:
    """Scrolling log-mel image: the newest ``frames`` frames, ``[frames, n_mels]`` (x = time).

    Args:
        frames: frames kept (10 ms each at the engine's feature hop).
        levels: dB range mapped onto the colour map.
        features: the analysis the engine computes the frames with (bands, hop, mel scale).
    """

    TICKS_HZ = (200, 500, 1000, 2000, 4000, 6000)

    def __init__(
        self,
        frames: int = 600,
        levels: tuple[float, float] = (-80.0, 10.0),
        features: FeatureConfig | None = None,
    ) -> None:
        self.features = features or FeatureConfig()
        self.n_mels = self.features.n_mels
        self.hop_s = self.features.hop_length / self.features.sample_rate
        self.ring = Ring(frames, (self.n_mels,), fill=levels[0])
        self.voice_ring = Ring(frames, (self.n_mels,), fill=levels[0])  # the separated voice's
        self.has_voice = False  # any voice frames since the last clear
        self.levels = levels
        self.now = 0.0

    def frequency_ticks(self) -> list[tuple[float, str]]:
        """``(position on the band axis, label)`` for round frequencies within the bands, so
        the image reads in Hz: ``[(2.2, "200"), ..., (13.1, "1k"), ...]``."""
        centres = self.features.mel_centres_hz
        return [
            (self.features.band_position(hz), f"{hz // 1000}k" if hz >= 1000 else str(hz))
            for hz in self.TICKS_HZ
            if centres[0] <= hz <= centres[-1]
        ]

    def update(self, results: list[ChunkResult]) -> None:
        for r in results:
            if r.spectrogram.size:
                frames = np.asarray(r.spectrogram, np.float32).reshape(-1, self.n_mels)
                self.ring.push(frames)
                voice = r.voice_spectrogram
                if voice is not None and voice.shape[0] == frames.shape[0]:
                    self.voice_ring.push(np.asarray(voice, np.float32).reshape(frames.shape))
                    self.has_voice = True
                else:  # nothing separated: the floor, so both images stay in step
                    self.voice_ring.push(np.full_like(frames, self.levels[0]))
            self.now = r.end

    def image(self, which: str = "input") -> np.ndarray:
        """``[frames, n_mels]`` of the ``input`` or the separated ``voice``, oldest first,
        clipped to :attr:`levels`."""
        ring = self.voice_ring if which == "voice" else self.ring
        return np.clip(ring.ordered(), *self.levels)

    def rect(self) -> tuple[float, float, float, float]:
        """``(x, y, width, height)`` of the image in (stream seconds, mel band) coordinates."""
        width = self.ring.capacity * self.hop_s
        return (self.now - width, 0.0, width, float(self.n_mels))

    def clear(self) -> None:
        self.ring.clear()
        self.voice_ring.clear()
        self.has_voice = False
        self.now = 0.0


# --------------------------------------------------------------------------------- labels


@dataclass(frozen=True)
class Segment:
    """Consecutive spans of one model with the same label, merged for drawing."""

    model: str
    start: float
    end: float
    label: str
    score: float  # mean top score over the merged spans (0 for silence)


class LabelsModel:
    """Latest scores per classifier and the recent label history for the timeline."""

    def __init__(self, history_s: float = 30.0, top_k: int = 5) -> None:
        self.history_s = history_s
        self.top_k = top_k
        self.latest: dict[str, Label] = {}
        self.history: dict[str, deque[Label]] = {}
        self.now = 0.0  # stream time received (the newest chunk's end)

    def update(self, results: list[ChunkResult]) -> None:
        for r in results:
            for lab in r.labels:
                self.latest[lab.model] = lab
                hist = self.history.setdefault(lab.model, deque())
                hist.append(lab)
            self.now = max(self.now, r.end)
        for hist in self.history.values():
            while hist and hist[0].end < self.now - self.history_s:
                hist.popleft()

    def swishnet_scores(self) -> tuple[str, list[tuple[str, float]]]:
        """(current label, [(class, confidence)] for speech / music / noise)."""
        lab = self.latest.get("swishnet")
        if lab is None:
            return "", [(c, 0.0) for c in SWISHNET_CLASSES]
        names = list(lab.scores) or list(SWISHNET_CLASSES)
        return lab.label, [(c, float(lab.scores.get(c, 0.0))) for c in names]

    def top_events(self) -> tuple[str, list[tuple[str, float]]]:
        """(current label, the ``top_k`` ESResNet events by score, best first)."""
        lab = self.latest.get("esresnet")
        if lab is None:
            return "", []
        ranked = sorted(lab.scores.items(), key=lambda kv: -kv[1])[: self.top_k]
        return lab.label, [(k, float(v)) for k, v in ranked]

    def label_time(self, model: str) -> tuple[float, float] | None:
        """(span end of the newest label, lookahead) of ``model``; None before its first."""
        lab = self.latest.get(model)
        return None if lab is None else (lab.end, lab.lookahead)

    def delay(self, model: str) -> float | None:
        """How far the newest label trails the audio received (>= its lookahead)."""
        lab = self.latest.get(model)
        return None if lab is None else self.now - lab.end

    def segments(self, model: str, t0: float, t1: float) -> list[Segment]:
        """Labels of ``model`` overlapping ``[t0, t1]``, consecutive equal labels merged."""
        out: list[Segment] = []
        acc: list[float] = []
        for lab in self.history.get(model, ()):
            if lab.end < t0 or lab.start > t1:
                continue
            score = max(lab.scores.values()) if lab.scores else 0.0
            last = out[-1] if out else None
            if last is not None and last.label == lab.label and abs(last.end - lab.start) < 1e-6:
                acc.append(score)
                out[-1] = Segment(model, last.start, lab.end, lab.label, float(np.mean(acc)))
            else:
                acc = [score]
                out.append(Segment(model, lab.start, lab.end, lab.label, score))
        return out

    def clear(self) -> None:
        self.latest.clear()
        self.history.clear()
        self.now = 0.0


# -------------------------------------------------------------------------------- latency


@dataclass(frozen=True)
class LatencyText:
    """The latency panel's numbers, formatted."""

    percentiles: str
    queue: str
    algorithmic: str
    end_to_end: str
    counters: str


class LatencyModel:
    """Per-chunk processing times, queue depth, counters and "falling behind" warnings.

    A warning stays up for ``hold_s`` stream seconds after what caused it: a dropped chunk, an
    overflow, an underflow, or a backlog over half the engine's drop limit
    (``max_backlog_ms``). A single slow chunk is not a warning: the backlog absorbs it; a p95
    processing time above the chunk duration is (the engine cannot keep up for long).
    """

    def __init__(
        self,
        chunk_ms: float = 10.0,
        points: int = 600,
        hold_s: float = 3.0,
        max_backlog_ms: float = 300.0,
    ) -> None:
        self.chunk_ms = chunk_ms
        self.hold_s = hold_s
        self.max_backlog_ms = max_backlog_ms
        self.times = Ring(points)
        self.proc_ms = Ring(points)
        self.backlog = 0
        self.max_backlog = 0
        self.recent_backlog = 0  # the largest backlog behind the current warning
        self.queue_ms = 0.0
        self.counters: dict[str, int] = {
            "overflows": 0,
            "underflows": 0,
            "dropped": 0,
            "clipped": 0,
            "nonfinite": 0,
        }
        self.now = 0.0
        self._events: dict[str, float] = {}  # warning key -> stream time it last happened
        self.summary: LatencySummary | None = None
        self.chunks = 0

    def reset(self, chunk_ms: float, max_backlog_ms: float = 300.0) -> None:
        self.__init__(chunk_ms, self.times.capacity, self.hold_s, max_backlog_ms)  # type: ignore[misc]

    def update(self, results: list[ChunkResult], summary: LatencySummary | None = None) -> None:
        if results:
            self.times.push(np.array([r.end for r in results], np.float32))
            self.proc_ms.push(np.array([r.latency.processing_ms for r in results], np.float32))
        for r in results:
            self.chunks += 1
            self.now = r.end
            self.backlog = r.latency.backlog
            self.queue_ms = r.latency.queue_ms
            self.max_backlog = max(self.max_backlog, self.backlog)
            for key, value in r.counters.items():
                if value > self.counters.get(key, 0):
                    self._events[key] = r.end
                self.counters[key] = value
            if r.latency.backlog * self.chunk_ms >= self.max_backlog_ms / 2:
                if self.now - self._events.get("backlog", -1e9) > self.hold_s:
                    self.recent_backlog = 0
                self._events["backlog"] = r.end
                self.recent_backlog = max(self.recent_backlog, r.latency.backlog)
        if summary is not None:
            self.summary = summary

    def series(self) -> tuple[np.ndarray, np.ndarray]:
        """(stream time, processing ms) of the newest chunks, oldest first."""
        n = min(self.times.total, self.times.capacity)
        start = self.times.capacity - n
        return self.times.ordered()[start:], self.proc_ms.ordered()[start:]

    def warnings(self) -> list[str]:
        """Active warnings, most serious first (empty when the pipeline keeps up)."""
        recent = {k for k, t in self._events.items() if self.now - t <= self.hold_s}
        s = self.summary
        out = []
        if "dropped" in recent:
            out.append(f"falling behind: {self.counters['dropped']} chunks dropped so far")
        if s is not None and s.chunks >= 20 and s.p95_ms > self.chunk_ms:
            out.append(
                f"falling behind: p95 processing {s.p95_ms:.1f} ms > {self.chunk_ms:g} ms chunk"
            )
        if "backlog" in recent:
            out.append(
                f"backlog: up to {self.recent_backlog} chunks waiting "
                f"(drops start at {self.max_backlog_ms:g} ms)"
            )
        if "overflows" in recent:
            out.append(f"input overflow ({self.counters['overflows']} so far)")
        if "underflows" in recent:
            out.append(f"output underflow ({self.counters['underflows']} so far)")
        if "clipped" in recent:
            out.append(
                f"input clipping: {self.counters['clipped']} samples at full scale so far "
                "(turn the input gain down)"
            )
        if "nonfinite" in recent:
            out.append(
                f"bad input: {self.counters['nonfinite']} NaN / infinite samples from the device "
                "so far (replaced with silence)"
            )
        return out

    def text(self) -> LatencyText:
        s = self.summary
        if s is None or s.chunks == 0:
            dash = "–"
            return LatencyText(dash, dash, dash, dash, self._counter_text())
        e2e = "– (no playback)" if s.end_to_end_ms is None else f"{s.end_to_end_ms:.1f} ms"
        return LatencyText(
            percentiles=f"p50 {s.p50_ms:.2f}  p95 {s.p95_ms:.2f}  max {s.max_ms:.1f} ms",
            queue=f"{self.backlog} chunk(s)  ({self.queue_ms:.1f} ms wait, max {self.max_backlog})",
            algorithmic=f"{s.algorithmic_ms:.1f} ms",
            end_to_end=e2e,
            counters=self._counter_text(),
        )

    def _counter_text(self) -> str:
        c = self.counters
        trimmed = self.summary.trimmed_ms if self.summary is not None else 0.0
        return (
            f"overflows {c.get('overflows', 0)}  underflows {c.get('underflows', 0)}  "
            f"dropped {c.get('dropped', 0)}  trimmed {trimmed:.0f} ms  "
            f"clipped {c.get('clipped', 0)}"
        )


def countdown_text(enrollment: tuple[float, float] | None) -> str:
    """ "Recording the target speaker: 2.4 s left" while live enrollment collects audio."""
    if enrollment is None:
        return ""
    got, need = enrollment
    return f"● recording the target speaker: {max(0.0, need - got):.1f} s left — speak now"


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
KEPT_NAME = re.compile(r"enrollment-(\d{4})(\d\d)(\d\d)-(\d\d)(\d\d)(\d\d)(?:-(\d+))?\.wav")


@dataclass(frozen=True)
class KeptEnrollment:
    path: Path
    text: str  # "Nov 29 09:12:05, 3.0 s" ("2025 Nov 29 ..." from another year)


def kept_enrollments(folder: Path) -> list[KeptEnrollment]:
    """The enrollments the window kept in ``folder`` (``enrollment-YYYYMMDD-HHMMSS[-N].wav``),
    newest first, each named by when it was taken and how long it is."""
    found: list[tuple[tuple[int, ...], KeptEnrollment]] = []
    this_year = time.localtime().tm_year
    if not folder.is_dir():
        return []
    for p in folder.iterdir():
        m = KEPT_NAME.fullmatch(p.name)
        if m is None or not p.is_file():
            continue
        y, mo, d, h, mi, s, n = m.groups()
        try:
            length = f"{probe(p).duration:.1f} s"
        except AudioFileError:
            length = "unreadable"
        month = MONTHS[int(mo) - 1] if 1 <= int(mo) <= 12 else mo
        year = "" if int(y) == this_year else f"{y} "
        text = f"{year}{month} {int(d)} {h}:{mi}:{s}{f' ({n})' if n else ''}, {length}"
        key = tuple(int(g or 0) for g in m.groups())
        found.append((key, KeptEnrollment(p, text)))
    return [k for _, k in sorted(found, key=lambda kv: kv[0], reverse=True)]
