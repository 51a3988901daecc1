"""The engine in a process of its own, for front ends that draw (the desktop window).

Why: a window redrawing ~15 times a second holds Python's GIL for most of each frame (pyqtgraph
paints through Python, and PySide keeps the GIL inside the Qt calls it makes), and the engine's
worker needs the same GIL between its torch calls. Measured on a 2-core machine, processing p95
went from 5 ms without redraws to 17-24 ms with them. In a process of its own the engine has an
interpreter to itself; the front end only receives what it computed.

Parent side, :class:`RemoteEngine`: the part of :class:`~rtaudio.engine.Engine` a front end
uses (status, latency summary, results, the live controls), none of it blocking on inference.
Results, status and the latency summary arrive by themselves; :meth:`RemoteEngine.pump` reads
what has arrived without waiting. Controls are sent without waiting for an answer (a control
that fails shows as the engine's status message), except :meth:`RemoteEngine.start_recording`
and :meth:`RemoteEngine.stop_recording`, whose answers (paths, errors) the caller needs.

Child side, :func:`serve`: builds the engine, starts it on a helper thread (so controls sent
meanwhile are taken at once), and every ``TICK_S`` sends the new results with a snapshot of the
status and controls. It stops when asked to, or when the parent is gone (its end of the pipe
closed), and ignores Ctrl-C, which the terminal sends to the whole process group: the parent
decides when the engine stops, so recordings are always closed properly.

Protocol, pickled tuples over two one-way pipes (the child reads commands on a thread of its
own, so neither side can wait on a send while the other does). Parent to child: ``("call", id,
name, args, kwargs)`` (``id`` None: no answer wanted) and ``("stop",)``. Child to parent:
``("started",)`` or ``("failed", text)``; ``("tick", results, snapshot, summary)``; ``("reply",
id, ok, value, snapshot)``; ``("stopped",)``.

Start method: ``forkserver`` where the platform has it (children fork from a server process that
imported torch and the engine once: a start, models loaded, takes ~0.15 s instead of
~1.3 s), else ``spawn``. PortAudio is initialised in the child only (sounddevice is imported
lazily), and the child takes the parent's environment as it is at each start, since the sound
server (e.g. ``PULSE_SERVER``) may have changed since the fork server started. Programs that
start a :class:`RemoteEngine` need the ``if __name__ == "__main__":`` guard, as with any
non-fork start method.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from rtaudio.bench_loopback import SPACING_S
from rtaudio.config import EngineConfig
from rtaudio.errors import describe, is_user_error
from rtaudio.latency import LatencyStats, LatencySummary
from rtaudio.results import ChunkResult, EngineStatus

log = logging.getLogger(__name__)

TICK_S = 0.03  # how often the child sends what is new (the window redraws every 66 ms)
CALL_TIMEOUT_S = 15.0  # a control that needs an answer (the child may still be loading)
# the controls a parent may call, as Engine methods (set_muted: the ``muted`` attribute)
CONTROLS = frozenset(
    {
        "set_monitor",
        "set_muted",
        "switch_input",
        "switch_output",
        "request_enrollment",
        "start_recording",
        "stop_recording",
        "measure_round_trip",
    }
)


# imported once by the fork server: torch and the engine
PRELOAD = ["rtaudio.engine"]


def _context() -> Any:
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ctx
    return mp.get_context("spawn")


def warm_up() -> None:
    """Start the fork server now (it imports torch and the engine in the background), so the
    first :meth:`RemoteEngine.start` does not wait for that. Cheap; a no-op after the first."""
    if "forkserver" in mp.get_all_start_methods():
        _context()
        from multiprocessing import forkserver

        forkserver.ensure_running()


@dataclass(frozen=True)
class Snapshot:
    """The engine's status and live controls as the child last saw them."""

    status: EngineStatus = field(default_factory=EngineStatus)
    enrollment: tuple[float, float] | None = None
    enrollment_saved: Path | None = None
    enrollment_note: str | None = None  # a live enrollment cut short by the end of the run
    measuring: bool = False
    round_trip: dict[str, Any] | None = None
    round_trips: int = 0
    recording: bool = False
    recordings: dict[str, Path] = field(default_factory=dict)
    label_tracks: dict[str, Path] = field(default_factory=dict)
    monitor: str = "separated"
    muted: bool = False


# ------------------------------------------------------------------------------ child side


def _snapshot(engine: Any) -> Snapshot:
    st = engine.status
    return Snapshot(
        status=dataclasses.replace(st, trained=dict(st.trained)),
        enrollment=engine.enrollment,
        enrollment_saved=engine.enrollment_saved,
        enrollment_note=engine.enrollment_note(),
        measuring=engine.measuring,
        round_trip=engine.round_trip,
        round_trips=engine.round_trips,
        recording=engine.recording,
        recordings=dict(engine.recordings),
        label_tracks=dict(engine.label_tracks),
        monitor=engine.monitor,
        muted=engine.muted,
    )


def _control(engine: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if name not in CONTROLS:
        raise ValueError(f"not an engine control: {name!r}")
    if name == "set_muted":
        engine.muted = bool(args[0])
        return None
    return getattr(engine, name)(*args, **kwargs)


def _portable(e: BaseException) -> BaseException:
    """What crosses the pipe for a failed control: OS errors and rtaudio's user errors as they
    are (plain message classes), anything else as a RuntimeError with its description."""
    if is_user_error(e):
        return e
    return RuntimeError(describe(e))


def serve(
    commands: Connection,
    events: Connection,
    cfg: EngineConfig,
    threads: int,
    environ: dict[str, str],
    log_level: int,
) -> None:
    """The child process: run one engine for the parent, which writes ``commands`` and
    reads ``events``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.clear()
    os.environ.update(environ)
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s")
    from rtaudio.engine import Engine  # torch: here, not in the front end's process

    engine = Engine(cfg, threads=threads)
    channel = engine.subscribe(maxsize=4096)
    outcome: dict[str, str | None] = {}
    inbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()

    def start() -> None:
        try:
            engine.start()
            outcome["error"] = None
        except Exception as e:  # reported to the parent, shown there
            if not is_user_error(e):
                log.exception("engine start failed")
            outcome["error"] = describe(e)

    def read() -> None:
        # commands are read on a thread of their own, so the parent never waits on a send
        # while this process waits on its own (a large enrollment clip against results)
        try:
            while True:
                msg = commands.recv()
                inbox.put(msg)
                if msg[0] == "stop":
                    return
        except (EOFError, OSError):  # the parent is gone: stop all the same
            inbox.put(("gone",))

    starter = threading.Thread(target=start, name="rtaudio-remote-start", daemon=True)
    reader = threading.Thread(target=read, name="rtaudio-remote-read", daemon=True)
    starter.start()
    reader.start()
    reported = False
    last: Snapshot | None = None
    try:
        while True:
            try:
                msg = inbox.get(timeout=TICK_S)
            except queue.Empty:
                msg = None
            if msg is not None and msg[0] in ("stop", "gone"):
                break
            if msg is not None:
                _, call_id, name, args, kwargs = msg
                try:
                    value, ok = _control(engine, name, args, kwargs), True
                except Exception as e:
                    if call_id is None:  # nobody waits for the answer: say it in the status
                        log.warning("%s failed: %s", name, describe(e))
                        engine.status.message = f"{name.replace('_', ' ')} failed: {describe(e)}"
                    value, ok = _portable(e), False
                if call_id is not None:
                    events.send(("reply", call_id, ok, value, _snapshot(engine)))
            if not reported and "error" in outcome:
                reported = True
                error = outcome["error"]
                events.send(("started",) if error is None else ("failed", error))
            results = channel.drain()
            snap = _snapshot(engine)
            if results or snap != last:
                summary = engine.summary() if results else None
                events.send(("tick", results, snap, summary))
                last = snap
        gone = msg is not None and msg[0] == "gone"
    except OSError:  # the parent stopped reading (gone)
        gone = True
    starter.join(CALL_TIMEOUT_S)
    engine.stop()
    if not gone:
        with contextlib.suppress(OSError):
            events.send(("tick", channel.drain(), _snapshot(engine), engine.summary()))
            events.send(("stopped",))
    events.close()


# ----------------------------------------------------------------------------- parent side


class RemoteEngine:
    """One engine run in a child process, seen from the parent (see the module docstring).

    ``phase``: new -> launching -> starting -> running -> ended, or failed (the engine could not
    start; ``error`` says why) or lost (the child died; ``status.message`` says how).
    """

    def __init__(self, cfg: EngineConfig, threads: int = 1) -> None:
        self.cfg = cfg
        self.threads = threads
        self.phase = "new"
        self.error: str | None = None
        self.snapshot = Snapshot()
        self._results: list[ChunkResult] = []
        self._summary: LatencySummary | None = None
        self._replies: dict[int, tuple[bool, Any]] = {}
        self._ids = itertools.count()
        self._lock = threading.Lock()  # the connection, between the launching and Qt threads
        self._launched = threading.Event()
        self._pending: list[tuple[Any, ...]] = []  # calls made before the child exists
        self._conn: Connection | None = None  # events from the child
        self._commands: Connection | None = None  # commands to the child
        self._proc: Any = None
        self._over = False  # the child said it stopped

    # ------------------------------------------------------------------ lifetime
    def start(self) -> None:
        """Start the child (blocks until it is forked: call it off the GUI thread). The
        engine then starts there; :attr:`phase` follows."""
        self.phase = "launching"
        try:
            ctx = _context()
            cmd_read, cmd_write = ctx.Pipe(duplex=False)
            evt_read, evt_write = ctx.Pipe(duplex=False)
            env, level = dict(os.environ), logging.getLogger().level
            args = (cmd_read, evt_write, self.cfg, self.threads, env, level)
            proc = ctx.Process(target=serve, args=args, name="rtaudio-engine", daemon=True)
            proc.start()
            # the child's ends live in the child: its death reads as EOF here, ours there
            cmd_read.close()
            evt_write.close()
        except Exception as e:
            self.error = f"cannot start the engine process: {describe(e)}"
            self.phase = "failed"
            self._launched.set()
            raise
        with self._lock:
            self._conn, self._commands, self._proc = evt_read, cmd_write, proc
            if self.phase == "launching":
                self.phase = "starting"
            for msg in self._pending:
                self._send(msg)
            self._pending.clear()
        self._launched.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the engine to stop, collect what it sent until then, end the child. Idempotent."""
        if self.phase == "new":  # never started
            return
        self._launched.wait(timeout)
        end = time.monotonic() + timeout
        with self._lock:
            conn, proc = self._conn, self._proc
            if conn is None or proc is None:
                return
            with contextlib.suppress(OSError):
                self._send(("stop",))
            while not self._over and self.phase != "lost":
                left = end - time.monotonic()
                if left <= 0 or not self._read(left):
                    break
            proc.join(max(end - time.monotonic(), 0.5))
            if proc.is_alive():
                log.warning("the engine process did not stop in %.0f s: killed", timeout)
                proc.kill()
                proc.join(2.0)
            conn.close()
            if self._commands is not None:
                self._commands.close()
            self._conn = self._commands = None
            if self.phase not in ("failed", "lost"):
                self.phase = "ended"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # --------------------------------------------------------------- receiving
    def pump(self) -> None:
        """Take in everything the child has sent so far, without waiting."""
        with self._lock:
            if self._conn is not None:
                while self._read(0.0):
                    pass

    def _read(self, timeout: float) -> bool:
        """Read one message if one comes within ``timeout``; False if none (or the child
        is gone). Holds ``_lock``."""
        conn = self._conn
        assert conn is not None
        try:
            if not conn.poll(timeout):
                return False
            msg = conn.recv()
        except (EOFError, OSError):
            self._lost()
            return False
        kind = msg[0]
        if kind == "tick":
            _, results, snap, summary = msg
            self._results.extend(results)
            self.snapshot = snap
            if summary is not None:
                self._summary = summary
        elif kind == "reply":
            _, call_id, ok, value, snap = msg
            self._replies[call_id] = (ok, value)
            self.snapshot = snap
        elif kind == "started":
            self.phase = "running"
        elif kind == "failed":
            self.error, self.phase = msg[1], "failed"
        elif kind == "stopped":
            self._over = True
            if self.phase != "failed":
                self.phase = "ended"
        return True

    def _lost(self) -> None:
        if self.phase in ("ended", "failed", "lost"):
            return
        proc = self._proc
        code = None
        if proc is not None:
            proc.join(1.0)
            code = proc.exitcode
        how = f"exit code {code}" if code is not None and code >= 0 else f"signal {-(code or 0)}"
        message = f"the engine process ended unexpectedly ({how})"
        log.error("%s", message)
        st = self.snapshot.status
        state = "error" if self.phase == "running" else st.state
        status = dataclasses.replace(st, state=state, message=message)
        self.snapshot = dataclasses.replace(self.snapshot, status=status)
        if self.phase != "running":
            self.error = message
            self.phase = "failed"
        else:
            self.phase = "lost"

    def drain(self) -> list[ChunkResult]:
        """The results received since the last call."""
        self.pump()
        with self._lock:
            out, self._results = self._results, []
        return out

    def summary(self) -> LatencySummary:
        """The engine's latency summary as of its last results."""
        return self._summary if self._summary is not None else LatencyStats().summary()

    # ----------------------------------------------------------------- controls
    def _send(self, msg: tuple[Any, ...]) -> None:
        """Holds ``_lock``."""
        if self._commands is None:
            if self.phase in ("new", "launching"):
                self._pending.append(msg)
            return  # ended: controls no longer matter
        try:
            self._commands.send(msg)
        except OSError:
            self._lost()

    def _tell(self, name: str, *args: Any, **kwargs: Any) -> None:
        """A control whose answer nobody waits for (a failure shows as the status message)."""
        with self._lock:
            self._send(("call", None, name, args, kwargs))

    def _ask(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """A control whose result (or error) the caller needs."""
        if not self._launched.wait(CALL_TIMEOUT_S) or self._conn is None:
            raise RuntimeError(f"{name}: the engine process is not running")
        call_id = next(self._ids)
        end = time.monotonic() + CALL_TIMEOUT_S
        with self._lock:
            self._send(("call", call_id, name, args, kwargs))
            while call_id not in self._replies:
                left = end - time.monotonic()
                if self._conn is None or self.phase in ("lost", "failed", "ended"):
                    raise RuntimeError(f"{name}: the engine process is not running")
                if left <= 0:
                    raise RuntimeError(f"{name}: no answer from the engine process")
                self._read(left)
            ok, value = self._replies.pop(call_id)
        if not ok:
            raise value
        return value

    @property
    def status(self) -> EngineStatus:
        return self.snapshot.status

    @property
    def enrollment(self) -> tuple[float, float] | None:
        return self.snapshot.enrollment

    @property
    def enrollment_saved(self) -> Path | None:
        return self.snapshot.enrollment_saved

    def enrollment_note(self) -> str | None:
        return self.snapshot.enrollment_note

    @property
    def measuring(self) -> bool:
        return self.snapshot.measuring

    @property
    def round_trip(self) -> dict[str, Any] | None:
        return self.snapshot.round_trip

    @property
    def round_trips(self) -> int:
        return self.snapshot.round_trips

    @property
    def recording(self) -> bool:
        return self.snapshot.recording

    @property
    def recordings(self) -> dict[str, Path]:
        return self.snapshot.recordings

    @property
    def label_tracks(self) -> dict[str, Path]:
        return self.snapshot.label_tracks

    @property
    def monitor(self) -> str:
        return self.snapshot.monitor

    @monitor.setter
    def monitor(self, what: str) -> None:
        self.set_monitor(what)

    @property
    def muted(self) -> bool:
        return self.snapshot.muted

    @muted.setter
    def muted(self, on: bool) -> None:
        self._tell("set_muted", bool(on))

    def set_monitor(self, what: str) -> None:
        self._tell("set_monitor", what)

    def switch_input(self, device: str | None) -> None:
        self._tell("switch_input", device)

    def switch_output(self, device: str | None) -> None:
        self._tell("switch_output", device)

    def request_enrollment(self, audio: Any = None, seconds: float = 0.0) -> None:
        self._tell("request_enrollment", audio=audio, seconds=seconds)

    def start_recording(self, directory: str | Path, what: str = "both") -> dict[str, Path]:
        return dict(self._ask("start_recording", str(directory), what))

    def stop_recording(self) -> dict[str, Path]:
        return dict(self._ask("stop_recording"))

    def measure_round_trip(self, chirps: int = 8, spacing_s: float = SPACING_S) -> None:
        self._ask("measure_round_trip", chirps, spacing_s)
