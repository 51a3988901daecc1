"""Label tracks for Audacity (File > Import > Labels): ``start<TAB>end<TAB>label`` per line,
seconds from the start of the audio, runs of one label merged into one span.

:func:`label_track` turns a file's segments into a track (``rtaudio process
--label-tracks``); :class:`LabelTrackWriter` writes one as labels arrive live, beside a
recording (a span is written when the next label differs, so a crash loses only the run in
progress).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rtaudio.outputs import write_all

Span = tuple[float, float, str]


def span_line(span: Span) -> str:
    start, end, label = span
    return f"{start:.6f}\t{end:.6f}\t{label}\n"


class Runs:
    """Merges consecutive spans of one label that touch; :meth:`add` returns a run once a
    span that does not continue it arrives."""

    def __init__(self) -> None:
        self.run: list[Any] | None = None

    def add(self, start: float, end: float, label: str) -> Span | None:
        run = self.run
        if run is not None and run[2] == label and abs(run[1] - start) < 1e-6:
            run[1] = end
            return None
        done = self.finish()
        self.run = [start, end, label]
        return done

    def finish(self) -> Span | None:
        run, self.run = self.run, None
        return None if run is None else (run[0], run[1], run[2])


def merged(spans: Iterable[Span]) -> list[Span]:
    runs = Runs()
    out = [r for s in spans if (r := runs.add(*s)) is not None]
    last = runs.finish()
    return out if last is None else [*out, last]


def label_track(segments: Sequence[dict[str, Any]]) -> str:
    """The track of a classifier's segments (``start``, ``end``, ``label`` dicts)."""
    return "".join(
        span_line(s) for s in merged((g["start"], g["end"], g["label"]) for g in segments)
    )


class LabelTrackWriter:
    """A track written as labels arrive, in seconds from stream time ``t0`` (the recording's
    first sample); spans that end before it are left out, one that straddles it is cut."""

    def __init__(self, path: Path, t0: float) -> None:
        self.path = path
        self.t0 = t0
        self._runs = Runs()
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)

    def add(self, start: float, end: float, label: str) -> None:
        start, end = max(0.0, start - self.t0), end - self.t0
        if end > 0:
            self._write(self._runs.add(round(start, 6), round(end, 6), label))

    def _write(self, span: Span | None) -> None:
        if span is not None and self._fd is not None:
            write_all(self._fd, span_line(span).encode())

    def close(self) -> None:
        """Write the run in progress and close the file (idempotent)."""
        try:
            self._write(self._runs.finish())
        finally:
            fd, self._fd = self._fd, None
            if fd is not None:
                os.close(fd)
