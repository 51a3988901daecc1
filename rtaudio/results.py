"""What the engine publishes: frozen per-chunk results, and channels that never block it.

Subscribers (the terminal monitor, the GUI, the JSONL writer) each get a :class:`Channel`: a
bounded queue whose ``put`` never blocks and drops the OLDEST item when full (counting drops).
A channel of size 1 is a latest-value channel.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

T = TypeVar("T")


@dataclass(frozen=True)
class Label:
    """A classifier's decision for the audio span ``[start, end)`` (seconds from stream start).

    ``emitted_at`` is the stream time (seconds of audio received) when the label was produced:
    always ``>= end + lookahead``; ``window`` is the span of audio the classifier looked at
    (never past ``end + lookahead``).
    """

    model: str
    start: float
    end: float
    label: str
    scores: dict[str, float]
    lookahead: float
    window: tuple[float, float]
    emitted_at: float

    def to_json(self) -> dict[str, object]:
        return {
            "type": "label",
            "model": self.model,
            "start": round(self.start, 4),
            "end": round(self.end, 4),
            "label": self.label,
            "scores": {k: round(v, 4) for k, v in self.scores.items()},
            "lookahead_ms": round(self.lookahead * 1000, 1),
            "window": [round(self.window[0], 4), round(self.window[1], 4)],
            "emitted_at": round(self.emitted_at, 4),
        }


@dataclass(frozen=True)
class LatencyRecord:
    """Timings of one chunk. Times are ``time.perf_counter()`` seconds; durations are ms.

    Attributes:
        index: chunk number.
        adc_time: when the chunk's first sample hit the ADC (PortAudio's timestamp mapped to
            ``perf_counter``; for file sources, when it was due).
        dequeued: when the worker started on the chunk.
        feature_ms: feature extraction time.
        model_ms: time per model (``mitas``, ``swishnet``, ``esresnet``...).
        processing_ms: total compute for the chunk (features + models + sinks).
        queue_ms: ``dequeued - (adc_time + chunk duration)``: waiting before processing.
        dac_time: predicted DAC time of the chunk's first output sample (None without playback).
        algorithmic_ms: latency by construction: chunk + separator window (+ resampler delay).
        end_to_end_ms: ``dac_time - adc_time`` when playing, else None.
        backlog: chunks waiting when this one was dequeued.
        background_ms: network time spent off the chunk path (in a thread of its own) for the
            labels this chunk delivered, per model (ESResNet in the live engine); not part of
            ``processing_ms``.
    """

    index: int
    adc_time: float
    dequeued: float
    feature_ms: float
    model_ms: dict[str, float]
    processing_ms: float
    queue_ms: float
    dac_time: float | None
    algorithmic_ms: float
    end_to_end_ms: float | None
    backlog: int
    background_ms: dict[str, float] = field(default_factory=dict)


@dataclass
class EngineStatus:
    """What the engine is doing (written by its worker, read by front ends)."""

    # idle | enrolling | running | reconnecting | finished | error | stopped
    state: str = "idle"
    message: str = ""
    input_name: str = ""
    output_name: str = ""
    input_rate: int = 0
    trained: dict[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class ChunkResult:
    """Everything the engine computed for one chunk."""

    index: int
    start: float  # seconds of stream time
    end: float
    level_db: float  # RMS of the input chunk, dBFS
    silent: bool
    spectrogram: np.ndarray  # [F, n_mels] log-mel frames completed by this chunk
    labels: tuple[Label, ...]
    latency: LatencyRecord
    separated: bool
    counters: dict[str, int] = field(default_factory=dict)
    audio: np.ndarray | None = None  # [n] the 16 kHz input chunk (for waveform views)
    voice: np.ndarray | None = None  # [n] the separated voice of the chunk, when separating
    # [F, n_mels] log-mel frames of the separated voice, like ``spectrogram`` (when the
    # config's voice_spectrogram is on)
    voice_spectrogram: np.ndarray | None = None
    # what the output played: input | separated | removed | muted | chirps | none
    played: str = "none"
    separator_gain_db: float | None = None  # the leveller's gain on the separator's input


class Channel(Generic[T]):
    """Bounded, non-blocking for the producer: a full channel drops its oldest item."""

    def __init__(self, maxsize: int = 256) -> None:
        if maxsize < 1:
            raise ValueError("channel size must be >= 1")
        self._q: deque[T] = deque(maxlen=maxsize)
        self._cv = threading.Condition()
        self.dropped = 0
        self.closed = False

    def put(self, item: T) -> None:
        with self._cv:
            if len(self._q) == self._q.maxlen:
                self.dropped += 1
            self._q.append(item)
            self._cv.notify()

    def close(self) -> None:
        with self._cv:
            self.closed = True
            self._cv.notify_all()

    def get(self, timeout: float | None = None) -> T | None:
        """Oldest item, waiting up to ``timeout`` seconds; None if none came (or closed)."""
        with self._cv:
            if not self._q and not self.closed:
                self._cv.wait(timeout)
            return self._q.popleft() if self._q else None

    def drain(self) -> list[T]:
        with self._cv:
            items = list(self._q)
            self._q.clear()
            return items

    def latest(self) -> T | None:
        with self._cv:
            return self._q[-1] if self._q else None


class Bus(Generic[T]):
    """Fan-out of results to subscribers; publishing never blocks on a slow subscriber."""

    def __init__(self) -> None:
        self._subs: list[Channel[T]] = []
        self._lock = threading.Lock()

    def subscribe(self, maxsize: int = 256) -> Channel[T]:
        ch: Channel[T] = Channel(maxsize)
        with self._lock:
            self._subs.append(ch)
        return ch

    def unsubscribe(self, ch: Channel[T]) -> None:
        with self._lock:
            if ch in self._subs:
                self._subs.remove(ch)

    def publish(self, item: T) -> None:
        with self._lock:
            subs = list(self._subs)
        for ch in subs:
            ch.put(item)

    def close(self) -> None:
        with self._lock:
            for ch in self._subs:
                ch.close()
