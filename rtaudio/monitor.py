"""``rtaudio monitor``: the engine with a live terminal view and a JSONL log, no GUI."""

from __future__ import annotations

import contextlib
import json
import os
import select
import sys
import termios
import time
import tty
from pathlib import Path
from typing import IO, Any

import soundfile as sf

from rtaudio.classify import SILENCE
from rtaudio.config import DEFAULT_RECORD_DIR, EngineConfig
from rtaudio.devices import DeviceError, list_devices
from rtaudio.engine import Engine
from rtaudio.errors import os_message
from rtaudio.latency import LatencySummary
from rtaudio.levels import LevelModel
from rtaudio.outputs import write_all
from rtaudio.results import ChunkResult, Label


class JsonLog:
    """``--jsonl``: one JSON object per line, each written whole at once. A write the system
    refuses (a full disk, a drive gone) stops the log, not the monitoring: the file is cut
    back to its last whole line and :attr:`note` says where and why."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lines = 0
        self.size = 0  # bytes of whole lines written
        self.note = ""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)

    def write(self, obj: dict[str, object]) -> None:
        if self._fd is None:
            return
        line = (json.dumps(obj) + "\n").encode()
        try:
            write_all(self._fd, line)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self.size)  # no half line at the end
            self.note = (
                f"--jsonl {self.path} stopped after {self.lines} lines "
                f"({e.strerror or e}); monitoring goes on"
            )
            self.close()
            return
        self.lines += 1
        self.size += len(line)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def _bar(p: float, width: int = 20) -> str:
    n = round(max(0.0, min(1.0, p)) * width)
    return "#" * n + "." * (width - n)


PLAYED = {  # ChunkResult.played, as the view says it
    "separated": "the separated voice",
    "removed": "what the separator removed",
    "input": "the input",
}


HEAR_KEYS = {"i": "input", "s": "separated", "r": "removed"}


def _next_input(current: str | None) -> str | None:
    """The input device after ``current`` (None: the system default) in `rtaudio devices`'
    order, the system default after the last; ``current`` itself if none can be listed."""
    try:
        found = [d.name for d in list_devices() if d.max_input_channels > 0]
    except DeviceError:
        return current
    names: list[str | None] = [None, *(n for n in found if n != "default")]
    i = names.index(current) if current in names else 0
    return names[(i + 1) % len(names)]


def _switchable(cfg: EngineConfig) -> bool:
    """Whether what is played can be switched (played, and separated: else it is the input)."""
    return cfg.play and cfg.separate != "off"


class KeyReader:
    """Single key presses from a terminal in the foreground (no Enter needed, not echoed)
    while the monitor runs; the terminal's mode is restored by :meth:`close`. Anything else
    (a pipe, a file, a job in the background) gives no keys."""

    def __init__(self, stream: IO[str] | None) -> None:
        self.fd: int | None = None
        self._mode: list[Any] = []
        try:
            if stream is None or not stream.isatty():
                return
            fd = stream.fileno()
            with contextlib.suppress(OSError):  # not our controlling terminal: no job control
                if os.tcgetpgrp(fd) != os.getpgrp():
                    return  # in the background: changing the mode would stop the job
            self._mode = termios.tcgetattr(fd)
            tty.setcbreak(fd)
            self.fd = fd
        except (OSError, ValueError, termios.error):
            self.fd = None

    def wait(self, timeout: float) -> str:
        """The keys pressed within ``timeout`` s (returns at the first); "" if none."""
        if self.fd is None:
            time.sleep(timeout)
            return ""
        try:
            ready, _, _ = select.select([self.fd], [], [], timeout)
            if not ready:
                return ""
            data = os.read(self.fd, 64)
        except (OSError, ValueError):
            data = b""
        if not data:  # the terminal hung up: no more keys (and no spinning on it)
            self.close()
        return data.decode(errors="ignore")

    def close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            with contextlib.suppress(OSError, termios.error):
                termios.tcsetattr(fd, termios.TCSADRAIN, self._mode)


class TerminalView:
    """Keeps the latest label per model and renders a small status screen."""

    def __init__(self, engine: Engine, out: IO[str], log: JsonLog | None = None) -> None:
        self.engine = engine
        self.out = out
        self.log = log
        self.tty = out.isatty()
        self.latest: dict[str, Label] = {}
        self.level = LevelModel()
        self.gain_db: float | None = None  # the separator's input gain (leveller)
        self.stream_time = 0.0
        self.played = "none"  # what the output played last (ChunkResult.played)
        self.clipped = 0  # input samples at full scale so far
        self.nonfinite = 0  # NaN / infinite input samples so far (replaced with silence)
        self._said = ("", "")  # (state, message) last written (non-terminal output)
        self._setup_said = ""  # the devices and models last written (non-terminal output)
        self._line = ""  # the status line last written (non-terminal output)
        self.keys = False  # keys are read: the view lists them

    def update(self, results: list[ChunkResult]) -> None:
        self.level.update(results)
        for r in results:
            for lab in r.labels:
                self.latest[lab.model] = lab
            self.gain_db = r.separator_gain_db
            self.clipped = r.counters.get("clipped", self.clipped)
            self.nonfinite = r.counters.get("nonfinite", self.nonfinite)
            self.stream_time = r.end
            self.played = r.played

    def _input(self) -> str:
        st, pick = self.engine.status, self.engine.cfg.input_channel
        return f"{st.input_name} @ {st.input_rate} Hz" + (f", channel {pick}" if pick else "")

    def setup_line(self) -> str:
        """What runs on what (a log's first line, and again when a device changes):
        "input: NAME @ RATE Hz; output: NAME; separation: mitas; classifiers: swishnet"."""
        st, cfg = self.engine.status, self.engine.cfg
        parts = [f"input: {self._input()}"]
        if st.output_name:
            parts.append(f"output: {st.output_name}")
        parts.append(f"separation: {cfg.separate}")
        parts.append(f"classifiers: {', '.join(cfg.classifiers) or 'none'}")
        return "; ".join(parts)

    def render(self, s: LatencySummary) -> str:
        st = self.engine.status
        cfg = self.engine.cfg
        lines = [
            f"rtaudio monitor  [{st.state}]  input: {self._input()}"
            + (f"  output: {st.output_name}" if st.output_name else ""),
            f"time {self.stream_time:7.1f} s   separation: {cfg.separate}"
            + (" (playing)" if cfg.play else "")
            + (f"   input gain {self.gain_db:+5.1f} dB" if self.gain_db is not None else ""),
            self.level_line(),
        ]
        if self.clipped:
            lines.append(
                f"CLIPPING the input: {self.clipped} samples at full scale so far "
                "(turn the input gain down)"
            )
        if self.nonfinite:
            lines.append(
                f"BAD INPUT: {self.nonfinite} NaN / infinite samples from the device so far "
                "(replaced with silence)"
            )
        untrained = [k for k, v in st.trained.items() if not v]
        if untrained:
            lines.append(f"WARNING untrained models (no weights): {', '.join(untrained)}")
        for model in cfg.classifiers:
            lab = self.latest.get(model)
            if lab is None:
                wait = getattr(cfg, model + "_lookahead_ms")
                lines.append(f"{model:<9} (waiting for audio: {wait:.0f} ms lookahead)")
                continue
            head = f"{model:<9} {lab.label:<16} [{lab.start:6.2f}-{lab.end:6.2f} s]"
            lines.append(head)
            if lab.label != SILENCE:
                top = sorted(lab.scores.items(), key=lambda kv: -kv[1])[:3]
                lines.extend(f"    {k:<16} {_bar(v)} {v:5.2f}" for k, v in top)
        if cfg.play:
            lines.append(f"output   playing {PLAYED.get(self.played, self.played)}")
        e2e = "-" if s.end_to_end_ms is None else f"{s.end_to_end_ms:.1f}"
        lines.append(
            f"latency  p50 {s.p50_ms:.2f} ms  p95 {s.p95_ms:.2f} ms  max {s.max_ms:.2f} ms  "
            f"algorithmic {s.algorithmic_ms:.1f} ms  end-to-end {e2e} ms"
        )
        lines.append(
            f"xruns    overflows {s.overflows}  underflows {s.underflows}  dropped {s.dropped}"
            f"  trimmed {s.trimmed_ms:.0f} ms"
        )
        if self.engine.recording:
            names = ", ".join(p.name for p in self.engine.recordings.values())
            lines.append(f"REC      {names}")
        if self.keys:
            hear = "  ".join(f"{k} {v}" for k, v in HEAR_KEYS.items())
            rec = "space stop recording" if self.engine.recording else "space record"
            device = "" if cfg.source else "d next input  "
            lines.append(f"keys     {hear + '  ' if _switchable(cfg) else ''}{device}{rec}  q quit")
        if st.message:
            lines.append(f"note: {st.message}")
        if self.log is not None and self.log.note:
            lines.append(f"note: {self.log.note}")
        return "\n".join(lines)

    def level_line(self) -> str:
        """The input level: RMS of the last 0.3 s with a bar from -60 dBFS, and the held peak."""
        rms, peak = self.level.rms_db, self.level.peak_db
        say = "silence" if rms <= self.level.FLOOR_DB else f"{rms:.1f} dBFS"
        return f"level    {say:>12} {_bar((rms + 60) / 60)}  peak {peak:6.1f} dBFS"

    def label_line(self) -> str:
        """Time and the latest label of each classifier with its score, on one line (a log's
        view): "t 3.4 s; swishnet speech 0.93 [3.20-3.30 s]; esresnet rain 0.41 [...]"."""
        parts = [f"t {self.stream_time:.1f} s"]
        for model in self.engine.cfg.classifiers:
            lab = self.latest.get(model)
            if lab is not None:
                score = "" if lab.label == SILENCE else f" {lab.scores[lab.label]:.2f}"
                parts.append(f"{model} {lab.label}{score} [{lab.start:.2f}-{lab.end:.2f} s]")
        return "; ".join(parts)

    def show(self, s: LatencySummary) -> None:
        text = self.render(s)
        if self.tty:
            self.out.write("\x1b[H\x1b[J" + text + "\n")
        else:  # a log: one status line per refresh, plus state changes and notes once
            st = self.engine.status
            setup = self.setup_line()
            if setup != self._setup_said:
                self._setup_said = setup
                self.out.write(setup + "\n")
            note = self.log.note if self.log is not None else ""
            message = "; ".join(x for x in (st.message, note) if x)
            if (st.state, message) != self._said:
                self._said = (st.state, message)
                self.out.write(f"[{st.state}] {message}".rstrip() + "\n")
            keep = ("level", "CLIPPING", "BAD INPUT", "output", "latency", "xruns")
            lines = [self.label_line(), *(x for x in text.splitlines() if x.startswith(keep))]
            line = "   ".join(" ".join(x.split()) for x in lines if x)
            if line != self._line:  # the same again (no audio: a device lost) is not news
                self._line = line
                self.out.write(line + "\n")
        self.out.flush()


def _stats(s: LatencySummary, view: TerminalView, engine: Engine) -> dict[str, object]:
    """A ``--jsonl`` latency record: the summary, and the input's faults so far."""
    return {**s.to_json(view.stream_time), "clipped": engine.clipped, "nonfinite": engine.nonfinite}


def _status(engine: Engine) -> dict[str, object]:
    """A ``--jsonl`` status record (written when it changes): the engine's state and message."""
    return {"type": "status", "state": engine.status.state, "message": engine.status.message}


def _toggle_recording(engine: Engine, takes: list[dict[str, Path]]) -> None:
    """Space in the terminal: stop the recording in progress, or start one in ``--record``'s
    folder (else ``~/rtaudio-recordings``, as the window's); a refusal goes to the view."""
    if engine.recording:
        engine.stop_recording()
        return
    folder = engine.cfg.record_dir or DEFAULT_RECORD_DIR
    try:
        takes.append(engine.start_recording(folder, engine.cfg.record))
    except OSError as e:
        engine.status.message = f"cannot record: {os_message(e)}"


def _frames(path: Path) -> int | None:
    """Samples in a recording; None if it cannot be read."""
    try:
        return sf.info(str(path)).frames
    except (OSError, RuntimeError):
        return None


def run_monitor(
    cfg: EngineConfig,
    duration: float | None = None,
    jsonl: str | None = None,
    out: IO[str] | None = None,
    refresh_hz: float = 4.0,
    hear: str = "separated",
    keys_from: IO[str] | None = None,
) -> int:
    """Run until ``duration`` elapses, a file source ends, ``q`` is pressed or Ctrl-C.
    Returns an exit code. ``hear``: what is played while separating (:meth:`Engine.set_monitor`;
    keys ``i`` / ``s`` / ``r`` switch it live when ``keys_from`` is the terminal the view is
    shown on; ``d`` takes the next input device, space starts / stops recording)."""
    out = out or sys.stdout
    engine = Engine(cfg)
    engine.set_monitor(hear)
    channel = engine.subscribe(maxsize=8192)
    log = JsonLog(jsonl) if jsonl else None
    view = TerminalView(engine, out, log)
    engine.start()
    keys = KeyReader(keys_from if view.tty else None)
    view.keys = keys.fd is not None
    takes = [dict(engine.recordings)] if engine.recordings else []  # each recording made
    device = None if cfg.input_device is None else str(cfg.input_device)  # key d: the next
    t0 = time.monotonic()
    next_stat = t0 + 1.0
    said: dict[str, object] = {}  # the last status record of the log
    interrupted = False
    try:
        while True:
            pressed = keys.wait(1.0 / refresh_hz).lower()
            if "q" in pressed:
                break
            for key in pressed:
                if key in HEAR_KEYS and _switchable(cfg):
                    engine.set_monitor(HEAR_KEYS[key])
                elif key == " ":
                    _toggle_recording(engine, takes)
                elif key == "d" and not cfg.source:
                    device = _next_input(device)
                    engine.switch_input(device)
            results = channel.drain()
            view.update(results)
            if log is not None:
                for r in results:
                    for lab in r.labels:
                        log.write(lab.to_json())
                status = _status(engine)
                if status != said:  # a device lost and back, an enrollment...: in the log too
                    said = status
                    log.write({**status, "t": round(view.stream_time, 3), "wall": time.time()})
            now = time.monotonic()
            s = engine.summary()
            if now >= next_stat:
                next_stat += 1.0
                if log is not None:
                    log.write(_stats(s, view, engine))
            view.show(s)
            if engine.status.state in ("finished", "error"):
                break
            if duration is not None and now - t0 >= duration:
                break
    except KeyboardInterrupt:
        interrupted = True
    finally:
        keys.close()
        engine.stop()
        results = channel.drain()
        view.update(results)
        s = engine.summary()
        if log is not None:
            for r in results:
                for lab in r.labels:
                    log.write(lab.to_json())
            log.write(_stats(s, view, engine))
            status = _status(engine)  # how the run ended
            if status != said:
                log.write({**status, "t": round(view.stream_time, 3), "wall": time.time()})
            log.close()
    print(
        f"stopped{' (Ctrl-C)' if interrupted else ''}: {s.chunks} chunks, p50 {s.p50_ms:.2f} ms, "
        f"p95 {s.p95_ms:.2f} ms, overflows {s.overflows}, underflows {s.underflows}, "
        f"dropped {s.dropped}, playback trimmed {s.trimmed_ms:.0f} ms"
        + (f", input clipped {engine.clipped} samples" if engine.clipped else "")
        + (f", {engine.nonfinite} NaN / infinite input samples" if engine.nonfinite else ""),
        file=sys.stderr,
    )
    cut = engine.enrollment_note()  # stopped while taking the target from the input
    if cut:
        print(f"rtaudio monitor: {cut}", file=sys.stderr)
    for take in takes:
        for kind, path in take.items():
            empty = " (empty)" if _frames(path) == 0 else ""
            print(f"recorded {kind}: {path}{empty}", file=sys.stderr)
    for model, path in engine.label_tracks.items():
        if path.exists():
            print(f"labels of {model} (Audacity label track): {path}", file=sys.stderr)
    if engine.enrollment_saved is not None:
        print(
            f"enrollment saved: {engine.enrollment_saved} (use it with --enroll)", file=sys.stderr
        )
    if log is not None and log.note:
        print(f"rtaudio monitor: {log.note}", file=sys.stderr)
    if engine.status.state == "error":
        print(f"rtaudio monitor: {engine.status.message}", file=sys.stderr)
        return 1
    return 0
