"""The sound libraries' own stderr lines (PortAudio, ALSA, JACK) are dropped, the rest kept.

Each test runs a fresh Python that installs the filter as the ``rtaudio`` script does, and
writes to file descriptor 2 the way C code does (``os.write``), so the real filter process
runs on real pipes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from rtaudio.native_stderr import RAW_ENV

PORTAUDIO = (
    "Expression 'alsa_snd_pcm_poll_descriptors_revents( self->pcm, pfds, self->nfds, &revents )'"
    " failed in 'src/hostapi/alsa/pa_linux_alsa.c', line: 3665"
)
ALSA = "ALSA lib pulse.c:242:(pulse_connect) PulseAudio: Unable to connect: Connection refused"
JACK = [
    "Cannot connect to server socket err = No such file or directory",
    "Cannot connect to server request channel",
    "jack server is not running or cannot be started",
    "JackShmReadWritePtr::~JackShmReadWritePtr - Init not done for -1, skipping unlock",
]
MPG123 = [  # a damaged MP3 (libsndfile's MP3 decoder)
    "Note: Illegal Audio-MPEG-Header 0x00000000 at offset 19996.",
    "Note: Trying to resync...",
    "Note: Skipped 1024 bytes in input.",
    "Note: Hit end of (available) data during resync.",
    "[src/libmpg123/layer3.c:INT123_do_layer3():1801] error: dequantization failed!",
]


def _run(body: str, env: dict[str, str] | None = None, **kw: object) -> subprocess.CompletedProcess:
    code = "import os, signal, sys\nfrom rtaudio import native_stderr\n"
    code += "installed = native_stderr.install()\n" + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        **kw,  # type: ignore[arg-type]
    )


def _lines(noise: bool) -> str:
    """A child writing the libraries' lines between its own, as C code does."""
    lines = [PORTAUDIO, ALSA + "\n", *JACK, *MPG123] if noise else []
    writes = [f"os.write(2, {(line + chr(10)).encode()!r})" for line in lines]
    return "\n".join(
        [
            "os.write(2, b'a library warning that matters\\n')",
            *writes,
            "os.write(2, b'\\nblank line above is kept\\n')",
            "print('from python', file=sys.stderr)",
            "os.write(2, b'no line end')",
        ]
    )


def test_sound_library_lines_are_dropped_and_everything_else_kept() -> None:
    out = _run("assert installed\n" + _lines(noise=True))
    assert out.returncode == 0, out.stderr
    err = out.stderr.decode()
    lines = err.splitlines()
    theirs = ("Expression '", "ALSA lib", "Cannot connect", "jack", "Jack")
    assert not any(line.startswith(theirs) for line in lines), err
    # what is not theirs comes through whole, a blank line of its own included, and Python's
    # own stderr is untouched (it does not go through the filter)
    ours = ["a library warning that matters", "", "blank line above is kept", "from python"]
    assert sorted(lines) == sorted([*ours, "no line end"]), err
    assert "\n\n" not in err.replace("matters\n\nblank", "")  # ALSA's trailing blank line went too


def test_raw_stderr_leaves_every_line() -> None:
    out = _run("assert not installed\n" + _lines(noise=True), env={RAW_ENV: "1"})
    err = out.stderr.decode()
    assert PORTAUDIO in err and ALSA in err and all(j in err for j in JACK)


def test_what_a_crashing_process_writes_last_gets_through() -> None:
    """The filter is a process of its own: a crash (abort, segfault) cannot take the last
    lines with it."""
    out = _run("os.write(2, b'last words\\n')\nos.abort()\n")
    assert out.returncode == -signal.SIGABRT
    assert b"last words" in out.stderr


def test_ctrl_c_does_not_end_the_filter_before_the_program() -> None:
    """A terminal's Ctrl-C reaches the whole foreground process group, filter included; what
    the program prints while it stops must still get through."""
    body = """
        assert installed
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        os.killpg(os.getpgid(0), signal.SIGINT)
        import time; time.sleep(0.3)
        os.write(2, b'stopping after ctrl-c\\n')
    """
    out = _run(body, start_new_session=True)
    assert out.returncode == 0, out.stderr
    assert b"stopping after ctrl-c" in out.stderr
