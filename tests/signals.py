"""Helpers for tests: interrupting the command line with Ctrl-C (SIGINT), finding a played
signal in a recording."""

from __future__ import annotations

import signal

import numpy as np


def interruptible() -> None:
    """``preexec_fn`` for a child that must see Ctrl-C: a shell starts background jobs with
    SIGINT ignored, the child would inherit that, and Python then never raises
    KeyboardInterrupt; the default disposition lets the child install its own handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def best_alignment(ref: np.ndarray, rec: np.ndarray) -> tuple[int, float]:
    """(lag of ``ref`` inside ``rec``, normalised correlation of the aligned overlap)."""
    n = 1 << int(np.ceil(np.log2(ref.size + rec.size)))
    xc = np.fft.irfft(np.fft.rfft(rec, n) * np.conj(np.fft.rfft(ref, n)), n)
    lag = int(np.argmax(xc[: rec.size]))
    seg = rec[lag : lag + ref.size]
    r = ref[: seg.size]
    corr = float(np.dot(seg, r) / (np.linalg.norm(seg) * np.linalg.norm(r) + 1e-12))
    return lag, corr
