"""The input's level as a meter shows it: the window's meter and `rtaudio monitor`'s level line."""

from __future__ import annotations

from collections import deque

import numpy as np

from rtaudio.results import ChunkResult


class LevelModel:
    """The input's level as a meter shows it, in stream time: RMS over the last ``window_s``,
    the highest peak of the last ``hold_s`` (dBFS of the 16 kHz mono input the models get),
    and whether the device reached full scale in the last ``clip_hold_s`` (the engine's
    ``clipped`` counter, counted on the device's own samples)."""

    FLOOR_DB = -100.0

    def __init__(self, window_s: float = 0.3, hold_s: float = 1.5, clip_hold_s: float = 3.0):
        self.window_s, self.hold_s, self.clip_hold_s = window_s, hold_s, clip_hold_s
        self._chunks: deque[tuple[float, float, float, int]] = deque()  # end, energy, peak, n
        self.now = 0.0
        self._clipped = 0
        self._clip_at: float | None = None

    def update(self, results: list[ChunkResult]) -> None:
        for r in results:
            clipped = r.counters.get("clipped", self._clipped)
            if clipped > self._clipped:
                self._clip_at = r.end
            self._clipped = clipped
            if r.audio is None or not r.audio.size:
                continue
            x = r.audio.astype(np.float64)
            self._chunks.append((r.end, float(np.sum(x * x)), float(np.abs(x).max()), x.size))
            self.now = r.end
        while self._chunks and self._chunks[0][0] <= self.now - max(self.window_s, self.hold_s):
            self._chunks.popleft()

    def _db(self, amplitude: float) -> float:
        return max(self.FLOOR_DB, 20.0 * float(np.log10(max(amplitude, 1e-12))))

    @property
    def rms_db(self) -> float:
        recent = [c for c in self._chunks if c[0] > self.now - self.window_s]
        n = sum(c[3] for c in recent)
        return self._db(np.sqrt(sum(c[1] for c in recent) / n)) if n else self.FLOOR_DB

    @property
    def peak_db(self) -> float:
        return self._db(max((c[2] for c in self._chunks), default=0.0))

    @property
    def clipping(self) -> bool:
        return self._clip_at is not None and self.now - self._clip_at < self.clip_hold_s

    def clear(self) -> None:
        self._chunks.clear()
        self.now = 0.0
        self._clipped = 0
        self._clip_at = None
