"""Aggregates of per-chunk latency: percentiles over a sliding window plus lifetime counters."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from rtaudio.results import LatencyRecord


@dataclass(frozen=True)
class LatencySummary:
    chunks: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    queue_p95_ms: float
    algorithmic_ms: float
    end_to_end_ms: float | None
    overflows: int
    underflows: int
    dropped: int
    trimmed_ms: float = 0.0  # playback audio removed to keep the output latency down

    def to_json(self, t: float) -> dict[str, object]:
        return {
            "type": "latency",
            "t": round(t, 3),
            "chunks": self.chunks,
            "p50_ms": round(self.p50_ms, 3),
            "p95_ms": round(self.p95_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "max_ms": round(self.max_ms, 3),
            "queue_p95_ms": round(self.queue_p95_ms, 3),
            "overflows": self.overflows,
            "underflows": self.underflows,
            "dropped": self.dropped,
            "trimmed_ms": round(self.trimmed_ms, 3),
            "algorithmic_ms": round(self.algorithmic_ms, 3),
            "end_to_end_ms": None if self.end_to_end_ms is None else round(self.end_to_end_ms, 3),
        }


class LatencyStats:
    """Processing-time percentiles over the last ``window`` chunks (bounded memory)."""

    def __init__(self, window: int = 1000) -> None:
        self._proc: deque[float] = deque(maxlen=window)
        self._queue: deque[float] = deque(maxlen=window)
        self._e2e: deque[float] = deque(maxlen=window)
        self.chunks = 0
        self.max_ms = 0.0
        self.algorithmic_ms = 0.0

    def add(self, rec: LatencyRecord) -> None:
        self.chunks += 1
        self._proc.append(rec.processing_ms)
        self._queue.append(rec.queue_ms)
        if rec.end_to_end_ms is not None:
            self._e2e.append(rec.end_to_end_ms)
        self.max_ms = max(self.max_ms, rec.processing_ms)
        self.algorithmic_ms = rec.algorithmic_ms

    def summary(
        self, overflows: int = 0, underflows: int = 0, dropped: int = 0, trimmed_ms: float = 0.0
    ) -> LatencySummary:
        proc = np.asarray(self._proc) if self._proc else np.zeros(1)
        queue = np.asarray(self._queue) if self._queue else np.zeros(1)
        p50, p95, p99 = np.percentile(proc, [50, 95, 99])
        return LatencySummary(
            chunks=self.chunks,
            p50_ms=float(p50),
            p95_ms=float(p95),
            p99_ms=float(p99),
            max_ms=self.max_ms,
            queue_p95_ms=float(np.percentile(queue, 95)),
            algorithmic_ms=self.algorithmic_ms,
            end_to_end_ms=float(np.median(self._e2e)) if self._e2e else None,
            overflows=overflows,
            underflows=underflows,
            dropped=dropped,
            trimmed_ms=trimmed_ms,
        )
