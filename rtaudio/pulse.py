"""The sound server's own sources and sinks (PulseAudio, or PipeWire's PulseAudio service).

PortAudio as Debian builds it has no PulseAudio host API: it sees a sound server as the ALSA
devices "pulse" and "default", both the server's *default* source and sink. A USB microphone
beside the built-in one, a second interface, or the monitor of what the speakers play (to
label what another program plays) are sources of the server's own, out of PortAudio's sight.

libpulse connects a new stream to the source or sink that ``PULSE_SOURCE`` / ``PULSE_SINK``
name, when set, and ALSA's pulse plugin opens its streams through libpulse. So rtaudio lists the
server's sources and sinks (``pactl list``) and opens one by naming it in that variable
while it opens the "pulse" device (:func:`aimed`). Without pactl or a server the list is empty,
and everything else works as before.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass

LIST_LIMIT_S = 2.0  # a server that does not answer is not waited for longer
PRESENCE_PERIOD_S = 1.0  # how often an open source / sink is checked for
RESUBSCRIBE_S = 2.0  # how often a subscription to the server's events that ended is made again
ENV = {"input": "PULSE_SOURCE", "output": "PULSE_SINK"}
_ENDPOINTS = ("source", "sink")  # as the server's events name them
_USERS = {var: os.environ.get(var) for var in ENV.values()}  # as the user started us
# the events' pactl dies with the thread that started it, even when this process is killed
# (SIGKILL, a crash) and the server is quiet: it would otherwise wait for the next event to
# find nobody reading (util-linux's setpriv; without it, pactl alone)
_WITH_US = ["setpriv", "--pdeathsig", "KILL", "--"] if shutil.which("setpriv") else []
_SPEC = re.compile(r"\S+ (\d+)ch (\d+)Hz")
_FIELD = re.compile(r"^\t([A-Z][A-Za-z ]+): (.*)$", re.M)  # a block's top-level fields


@dataclass(frozen=True)
class Endpoint:
    """A source (``kind`` "input") or sink ("output") of the sound server, by its name (what
    the server is told) and its description (what desktops show: "Scarlett 2i2 Analog
    Stereo")."""

    name: str
    kind: str
    channels: int
    rate: int
    description: str = ""


def endpoints() -> list[Endpoint]:
    """The server's sources, then its sinks; [] without pactl or an answering server."""
    sources = _list("input")
    sinks = _list("output") if sources is not None else None
    return sources + sinks if sources is not None and sinks is not None else []


def _pactl(*args: str) -> str | None:
    """pactl's output in the C locale (its field names are translated otherwise), or None if
    it is missing, fails or the server does not answer within :data:`LIST_LIMIT_S`."""
    try:
        out = subprocess.run(
            ["pactl", *args],
            capture_output=True,
            text=True,
            timeout=LIST_LIMIT_S,
            env={**os.environ, "LC_ALL": "C"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def _list(kind: str) -> list[Endpoint] | None:
    """The server's sources (``kind`` "input") or sinks; None if pactl could not say."""
    text = _pactl("list", "sources" if kind == "input" else "sinks")
    if text is None:
        return None
    found = []
    for block in re.split(r"^(?:Source|Sink) #\d+$", text, flags=re.M)[1:]:
        fields = dict(_FIELD.findall(block))
        spec = _SPEC.fullmatch(fields.get("Sample Specification", "").strip())
        if fields.get("Name") and spec:
            desc = fields.get("Description", "").strip()
            found.append(Endpoint(fields["Name"].strip(), kind, int(spec[1]), int(spec[2]), desc))
    return found


def default_name(kind: str) -> str | None:
    """The source (``kind`` "input") or sink that a stream opened without a name gets: the
    one the user's ``PULSE_SOURCE`` / ``PULSE_SINK`` names, else the server's default; None if
    pactl cannot say."""
    own = _USERS[ENV[kind]]
    if own:
        return own
    return _default_in(_pactl("info") or "", kind)


def _default_in(info: str, kind: str) -> str | None:
    """The default source / sink that ``pactl info`` names; None where there is none (PipeWire
    says "@DEFAULT_SOURCE@", PulseAudio "n/a", "(null)" once every source is gone, or
    nothing)."""
    key = "Default Source: " if kind == "input" else "Default Sink: "
    found = [ln[len(key) :].strip() for ln in info.splitlines() if ln.startswith(key)]
    name = found[0] if found else ""
    return None if not name or name in ("n/a", "(null)") or name.startswith("@") else name


class _Events:
    """The server's events (``pactl subscribe``: "Event 'remove' on source #3"), each handed
    to :meth:`_heard` on a thread of their own until it returns True or :meth:`close`. With
    ``resubscribe``, a subscription that ends (the server stopped or restarted) is made again
    every :data:`RESUBSCRIBE_S` s. Each pactl ends with the thread that listens to it."""

    def __init__(self, resubscribe: bool = False) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._resubscribe = resubscribe
        threading.Thread(target=self._listen, name="rtaudio-events", daemon=True).start()

    def _start(self) -> subprocess.Popen | None:
        with self._lock:
            if self._stop.is_set():
                return None
            try:
                self._proc = subprocess.Popen(
                    [*_WITH_US, "pactl", "subscribe"],  # its lines come unbuffered
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    text=True,
                    env={**os.environ, "LC_ALL": "C"},
                )
            except OSError:
                self._proc = None
            return self._proc

    def _listen(self) -> None:
        while True:
            proc = self._start()
            if proc is None:
                return  # closed, or no pactl
            assert proc.stdout is not None
            with proc.stdout as lines:
                if self._subscribed() and any(self._heard(line.strip()) for line in lines):
                    return
            if not self._resubscribe or self._stop.wait(RESUBSCRIBE_S):
                return
            self._kill(proc)

    def _subscribed(self) -> bool:
        """Once subscribed (what happens from now on is heard; the server may not answer):
        go on listening?"""
        return True

    def _heard(self, event: str) -> bool:
        raise NotImplementedError

    @staticmethod
    def _kill(proc: subprocess.Popen) -> None:
        with contextlib.suppress(OSError):
            proc.kill()
        proc.wait()

    def close(self) -> None:
        with self._lock:
            self._stop.set()
            proc = self._proc
        if proc is not None:
            self._kill(proc)


class Presence(_Events):
    """Whether source / sink ``name`` is still on the server. When a source goes away (a USB
    microphone unplugged) the server moves its streams to the default source without a word:
    rtaudio would go on capturing the built-in microphone under the USB one's name (and play a
    headset's sound out of the speakers). :attr:`gone` says so within milliseconds - the
    server's ``remove`` event for it - so that the streams can drop what comes after and the
    engine treat it as the device lost, and reopen the named one when it is back. A listing
    every ``period`` s stands in where no event comes (pactl without ``subscribe``, a server
    that restarted)."""

    def __init__(self, kind: str, name: str, period: float = PRESENCE_PERIOD_S) -> None:
        self.kind, self.name, self.period = kind, name, period
        self._what = "sources" if kind == "input" else "sinks"
        self._gone = threading.Event()
        self._removal = ""
        super().__init__()
        threading.Thread(target=self._run, name="rtaudio-presence", daemon=True).start()

    @property
    def gone(self) -> bool:
        return self._gone.is_set()

    def _listed(self) -> dict[str, int] | None:
        """The server's sources / sinks by name, with their indices (never reused while it
        runs); None if pactl could not say."""
        text = _pactl("list", "short", self._what)  # a tenth of the full listing
        if text is None:
            return None
        cells = [line.split("\t") for line in text.splitlines()]
        return {c[1]: int(c[0]) for c in cells if len(c) > 1 and c[0].isdigit()}

    def _subscribed(self) -> bool:
        listed = self._listed()
        if listed is None:
            return False  # the listing every period watches it alone
        if self.name not in listed:
            self._gone.set()
            return False
        self._removal = f"Event 'remove' on {self._what[:-1]} #{listed[self.name]}"
        return True

    def _heard(self, event: str) -> bool:
        if event == self._removal:
            self._gone.set()
        return self.gone

    def _run(self) -> None:
        while not self._stop.wait(self.period) and not self._gone.is_set():
            listed = self._listed()
            if listed is not None and self.name not in listed:
                self._gone.set()  # pactl failing says nothing: the stream's own errors will
                return


class Changes(_Events):
    """Whether the server's sources / sinks have changed since :meth:`take` last asked: one
    appeared (a USB microphone plugged in: reconnecting can try at once instead of at its next
    turn) or, with ``all_changes``, one went away or the default source / sink changed (device
    pickers follow)."""

    def __init__(self, all_changes: bool = False) -> None:
        self._seen = threading.Event()
        kinds = ("new", "remove") if all_changes else ("new",)
        self._events_of = tuple(f"Event '{k}' on {what} #" for k in kinds for what in _ENDPOINTS)
        if all_changes:
            self._events_of += ("Event 'change' on server",)  # the defaults
        self._up = True  # the server answered when last asked
        super().__init__(resubscribe=True)

    def _subscribed(self) -> bool:
        up = _pactl("info") is not None
        if up != self._up:  # the server went away (its devices with it) or is back
            self._up = up
            self._seen.set()
        return True

    def _heard(self, event: str) -> bool:
        if event.startswith(self._events_of):
            self._seen.set()
        return False

    def take(self) -> bool:
        seen = self._seen.is_set()
        self._seen.clear()
        return seen


class DefaultFollower(_Events):
    """Where a ``kind`` stream opened without a name is now. The server moves such streams
    when the desktop's default source / sink changes (PulseAudio 15 and later, PipeWire): what
    was shown as "default (vmic)" is then on another one. :meth:`take` gives its name once,
    after such a change; never while the user's ``PULSE_SOURCE`` / ``PULSE_SINK`` pins it."""

    def __init__(self, kind: str, current: str) -> None:
        self.kind = kind
        self._current = current
        self._new: str | None = None
        super().__init__(resubscribe=True)

    def _subscribed(self) -> bool:
        return not _USERS[ENV[self.kind]]

    def _heard(self, event: str) -> bool:
        if event.startswith("Event 'change' on server"):
            name = default_name(self.kind)
            if name and name != self._current:
                self._current = self._new = name
        return False

    def take(self) -> str | None:
        new, self._new = self._new, None
        return new


@contextlib.contextmanager
def aimed(kind: str, name: str) -> Iterator[None]:
    """While a ``kind`` stream opens on the "pulse" device: connect it to source or sink
    ``name`` ("" for the one the user's environment names, or else the server's default)."""
    var = ENV[kind]
    _set(var, name or _USERS[var])
    try:
        yield
    finally:
        _set(var, _USERS[var])


def _set(var: str, value: str | None) -> None:
    if value:
        os.environ[var] = value
    else:
        os.environ.pop(var, None)
