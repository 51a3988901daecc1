"""One run of the engine on behalf of the window, without Qt.

The engine runs in a process of its own (:class:`~rtaudio.remote.RemoteEngine`): the window's
drawing holds Python's GIL for much of every frame, and in the same process that delayed the
engine's worker (processing p95 5 ms -> 17-24 ms on a 2-core machine). Starting the process and
the engine can take a second or two, so :meth:`EngineSession.start` does it on a short-lived
thread (``rtaudio-gui-start``); the window's timer polls :attr:`EngineSession.state` and drains
:meth:`EngineSession.drain`, neither of which waits. The live controls are on
:attr:`EngineSession.engine`, as on a local :class:`~rtaudio.engine.Engine`.
"""

from __future__ import annotations

import logging
import threading

from rtaudio.config import EngineConfig
from rtaudio.errors import describe as describe
from rtaudio.latency import LatencySummary
from rtaudio.remote import RemoteEngine
from rtaudio.results import ChunkResult

log = logging.getLogger(__name__)


class EngineSession:
    """Start (in the background), poll and stop one engine in its own process."""

    def __init__(self, cfg: EngineConfig, threads: int = 1) -> None:
        self.cfg = cfg
        self.engine = RemoteEngine(cfg, threads=threads)
        self._thread: threading.Thread | None = None
        self._stopped = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._start, name="rtaudio-gui-start", daemon=True)
        self._thread.start()

    def _start(self) -> None:
        try:
            self.engine.start()
        except Exception:  # the reason is in engine.error, shown by the window
            log.exception("engine process start failed")

    @property
    def error(self) -> str | None:
        """Why starting failed."""
        return self.engine.error

    @property
    def state(self) -> str:
        """starting | failed | enrolling | running | reconnecting | finished | error | stopped."""
        self.engine.pump()
        phase = self.engine.phase
        if phase in ("new", "launching", "starting"):
            return "starting"
        if phase == "failed":
            return "failed"
        return self.engine.status.state

    @property
    def active(self) -> bool:
        return self.state in ("starting", "enrolling", "running", "reconnecting")

    def drain(self) -> list[ChunkResult]:
        return self.engine.drain()

    def summary(self) -> LatencySummary:
        return self.engine.summary()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the engine and its process, and join every thread this session started
        (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        if self._thread is not None:
            self._thread.join(timeout)
        self.engine.stop(timeout)
