"""What the sound libraries print on the process's stderr, kept off the user's screen.

PortAudio's ALSA host prints a line per failed call ("Expression 'alsa_snd_pcm_poll_descriptors_
revents( ... )' failed in 'src/hostapi/alsa/pa_linux_alsa.c', line: 3665") and ALSA one per
error ("ALSA lib pulse.c:242:(pulse_connect) PulseAudio: Unable to connect: Connection
refused", "... underrun occurred"); JACK's client library a few more when no JACK server runs.
They come from C, straight to file descriptor 2, on every device loss or reconnection attempt:
half a screen of them among the monitor's view or its log, for what rtaudio already says in
one line ("input device lost; ... reconnecting").

:func:`install` points file descriptor 2 at a small filter process that drops those lines and
passes everything else on unchanged; Python's own ``sys.stderr`` keeps writing to the real
stderr directly. The filter is a process, not a thread, so it needs no Python lock (an audio
thread printing is never held up by a busy interpreter) and what a crashing process writes
last still gets through. ``RTAUDIO_RAW_STDERR=1`` leaves stderr as it is.
"""

from __future__ import annotations

import atexit
import contextlib
import faulthandler
import os
import signal
import subprocess
import sys

RAW_ENV = "RTAUDIO_RAW_STDERR"

# whole lines, without the line end
NOISE = "|".join(
    [
        r"Expression '.*' failed in '.*', line: \d+",  # PortAudio's PA_ENSURE
        r"ALSA lib .*",  # ALSA's default error handler
        r"Cannot connect to server (socket|request channel).*",  # JACK's client library
        r"jack server is not running or cannot be started",
        r"JackShmReadWritePtr::.*",
        # libmpg123 (MP3 through libsndfile) on a damaged file; rtaudio says what is wrong
        r"Note: (Illegal Audio-MPEG-Header|Trying to resync|Skipped \d+ bytes in input"
        r"|Hit end of \(available\) data during resync).*",
        r"\[src/libmpg123/.*\] (error|warning): .*",
    ]
)

# the filter: lines in on stdin, the ones that are not noise out on stdout; one blank line
# right after an ALSA line goes too (its messages often end in a line break of their own)
_FILTER = r"""
import os, re, select, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
noise = re.compile(sys.argv[1].encode())
pending, dropped = b"", False

def emit(data):
    while data:
        data = data[os.write(1, data):]

try:
    while True:
        if pending and not select.select([0], [], [], 0.1)[0]:
            emit(pending)  # a line left open for 0.1 s: shown as it is
            pending = b""
            continue
        data = os.read(0, 65536)
        if not data:
            break
        *lines, pending = (pending + data).split(b"\n")
        kept = []
        for line in lines:
            bare = line.rstrip(b"\r")
            if noise.fullmatch(bare):
                dropped = bare.startswith(b"ALSA lib ")
            elif dropped and not bare:
                dropped = False
            else:
                dropped = False
                kept.append(line + b"\n")
        emit(b"".join(kept))
    emit(pending)
except (OSError, KeyboardInterrupt):
    pass
"""

_installed: dict[str, object] = {}


def install() -> bool:
    """Filter this process's stderr (and its children's) from here on; True if it now is.
    Call it first thing in a program's entry point, from the main thread; never where
    something else owns file descriptor 2 (a test runner capturing it)."""
    if _installed or os.environ.get(RAW_ENV, "") not in ("", "0"):
        return bool(_installed)
    try:
        real = os.dup(2)
    except OSError:  # no stderr at all
        return False
    os.set_inheritable(real, False)
    try:
        filt = _start_filter(real)
    except OSError:
        os.close(real)
        return False
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sys.stderr.flush()
    os.dup2(filt.stdin.fileno(), 2)  # type: ignore[union-attr]
    filt.stdin.close()  # type: ignore[union-attr]
    old = sys.stderr
    sys.stderr = open(  # noqa: SIM115 - lives as long as the process
        real,
        "w",
        buffering=1,
        encoding=getattr(old, "encoding", None) or "utf-8",
        errors=getattr(old, "errors", None) or "backslashreplace",
        closefd=False,
    )
    if faulthandler.is_enabled():
        faulthandler.enable(file=sys.stderr)
    _installed.update(filter=filt, real=real)
    atexit.register(_uninstall)
    return True


def _start_filter(real: int) -> subprocess.Popen[bytes]:
    # ignored signals stay ignored across exec: Ctrl-C in the terminal reaches the whole
    # foreground group, and the filter must outlive the program's last words
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _FILTER, NOISE],
            stdin=subprocess.PIPE,
            stdout=real,
            stderr=real,
            close_fds=True,
        )
    finally:
        signal.signal(signal.SIGINT, old)


def _uninstall() -> None:
    """At exit: stderr back to the real one, and the filter given a moment to pass on the
    last lines. It ends within milliseconds once every process that inherited the pipe has
    closed it; a child still running (the window's engine server, ending after this process)
    holds it open, and is not waited for."""
    filt = _installed["filter"]
    real = _installed["real"]
    assert isinstance(filt, subprocess.Popen) and isinstance(real, int)
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    with contextlib.suppress(OSError):
        os.dup2(real, 2)
    with contextlib.suppress(subprocess.TimeoutExpired):
        filt.wait(0.25)
