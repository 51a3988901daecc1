"""Helpers for tests that interrupt the command line with Ctrl-C (SIGINT)."""

from __future__ import annotations

import signal


def interruptible() -> None:
    """``preexec_fn`` for a child that must see Ctrl-C: a shell starts background jobs with
    SIGINT ignored, the child would inherit that, and Python then never raises
    KeyboardInterrupt; the default disposition lets the child install its own handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
