"""One run of the engine on behalf of the window, without Qt.

Opening devices and loading models can take a second or two, so :meth:`EngineSession.start`
does it on a short-lived thread (``rtaudio-gui-start``); the window's timer polls
:attr:`EngineSession.state` and drains :meth:`EngineSession.drain`. Nothing here blocks on
inference: the engine's worker thread computes, the channel between them drops the oldest
results if the window ever falls behind.
"""

from __future__ import annotations

import logging
import threading

from rtaudio.config import EngineConfig
from rtaudio.engine import Engine
from rtaudio.errors import user_errors as engine_user_errors
from rtaudio.latency import LatencySummary
from rtaudio.results import ChunkResult

log = logging.getLogger(__name__)


def user_errors() -> tuple[type[BaseException], ...]:
    """The engine's user-facing errors, plus OS errors (files, devices) shown in the window."""
    return (*engine_user_errors(), OSError)


def describe(e: BaseException) -> str:
    """One line for the window: the message of a user error, the type too for anything else."""
    if isinstance(e, user_errors()):
        return str(e)
    return f"{type(e).__name__}: {e}"


class EngineSession:
    """Start (in the background), poll and stop one :class:`~rtaudio.engine.Engine`."""

    def __init__(self, cfg: EngineConfig, threads: int = 1) -> None:
        self.cfg = cfg
        self.engine = Engine(cfg, threads=threads)
        self.channel = self.engine.subscribe(maxsize=4096)
        self.error: str | None = None  # why starting failed
        self._started = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._start, name="rtaudio-gui-start", daemon=True)
        self._thread.start()

    def _start(self) -> None:
        try:
            self.engine.start()
        except Exception as e:  # shown in the window; the window never dies of a bad setup
            if not isinstance(e, user_errors()):
                log.exception("engine start failed")
            self.error = describe(e)
        finally:
            self._started.set()

    @property
    def state(self) -> str:
        """starting | failed | enrolling | running | reconnecting | finished | error | stopped."""
        if not self._started.is_set():
            return "starting"
        if self.error is not None:
            return "failed"
        return self.engine.status.state

    @property
    def active(self) -> bool:
        return self.state in ("starting", "enrolling", "running", "reconnecting")

    def drain(self) -> list[ChunkResult]:
        return self.channel.drain()

    def summary(self) -> LatencySummary:
        return self.engine.summary()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the engine and join every thread this session started (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        if self._thread is not None:
            self._thread.join(timeout)
        self.engine.stop()
        self.engine.results.unsubscribe(self.channel)
