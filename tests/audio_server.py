"""The virtual sound card for tests: PulseAudio null sink "vsink", default source "vmic"."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "virtual_audio.sh"
VA_DIR = "/tmp/rtaudio-va-tests"


def available() -> bool:
    """Whether there is a pulseaudio daemon to start: the system's, or on a PipeWire machine
    the one install.sh unpacked into .venv."""
    return subprocess.run(["bash", str(SCRIPT), "available"], check=False).returncode == 0


def exports(stdout: str) -> dict[str, str]:
    """The variables that ``virtual_audio.sh start`` prints (``export NAME=value`` lines):
    PULSE_SERVER, and ALSA_CONFIG_PATH pointing ALSA's "default" device at the card."""
    lines = [ln.removeprefix("export ") for ln in stdout.splitlines() if ln.startswith("export ")]
    return dict(ln.split("=", 1) for ln in lines)


def start() -> str:
    """Start the server (idempotent) and make it the process's sound server; returns
    PULSE_SERVER. Raises RuntimeError if impossible."""
    if not available():
        raise RuntimeError("pulseaudio is not installed (bash install.sh installs it)")
    env = {**os.environ, "VA_DIR": VA_DIR}
    out = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"virtual sound card failed: {out.stderr.strip()}")
    os.environ.update(exports(out.stdout))
    return os.environ["PULSE_SERVER"]


def stop() -> None:
    subprocess.run(["bash", str(SCRIPT), "stop"], env={**os.environ, "VA_DIR": VA_DIR}, check=False)


def pa_env() -> dict[str, str]:
    return {**os.environ, "PULSE_SERVER": os.environ.get("PULSE_SERVER", "")}


@dataclass
class PrivateCard:
    """A PulseAudio server of the test's own: faults injected here disturb no other test."""

    va_dir: Path
    server: str = ""
    alsa_config: str = ""  # ALSA_CONFIG_PATH: ALSA's "default" device to this card

    def _env(self) -> dict[str, str]:
        return {**os.environ, "VA_DIR": str(self.va_dir)}

    def start(self) -> str:
        out = subprocess.run(
            ["bash", str(SCRIPT), "start"], env=self._env(), capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        found = exports(out.stdout)
        self.server = found["PULSE_SERVER"]
        self.alsa_config = found.get("ALSA_CONFIG_PATH", "")
        return self.server

    def stop(self) -> None:
        """The server dies at once (SIGKILL, as in a crash): every device is gone."""
        for name in ("pulse.pid", "keepalive.pid"):
            pid_file = self.va_dir / name
            if not pid_file.exists():
                continue
            pid = int(pid_file.read_text())
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            for _ in range(100):  # reaped by init; wait until it is gone
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.02)
            pid_file.unlink()
        (self.va_dir / "native").unlink(missing_ok=True)

    def freeze(self, frozen: bool = True) -> None:
        """Stop (SIGSTOP) or continue the server: it keeps its connections but answers nothing,
        as a hung sound server does."""
        pid = int((self.va_dir / "pulse.pid").read_text())
        os.kill(pid, signal.SIGSTOP if frozen else signal.SIGCONT)

    def pactl(self, *args: str) -> str:
        out = subprocess.run(
            ["pactl", *args],
            env={**os.environ, "PULSE_SERVER": self.server},
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    def module(self, name: str, args: str = "") -> str:
        """The index of the first module ``name`` loaded (with ``args`` among its arguments)."""
        lines = self.pactl("list", "short", "modules").splitlines()
        return next(x.split()[0] for x in lines if x.split()[1] == name and args in x)

    @contextlib.contextmanager
    def tone(self, sink: str, hz: float = 440.0, seconds: float = 30.0) -> Iterator[None]:
        """A 0.5-amplitude sine played into ``sink`` while the block runs."""
        t = np.arange(int(16000 * seconds)) / 16000
        raw = self.va_dir / f"tone-{hz:g}.raw"
        raw.write_bytes((0.5 * np.sin(2 * np.pi * hz * t)).astype("<f4").tobytes())
        cmd = ["pacat", "-d", sink, "--rate=16000", "--channels=1", "--format=float32le", str(raw)]
        proc = subprocess.Popen(cmd, env={**os.environ, "PULSE_SERVER": self.server})
        try:
            yield
        finally:
            proc.kill()
            proc.wait()

    def plug_back(self) -> None:
        """The virtual card's devices again, as scripts/virtual_audio.sh makes them."""
        self.pactl("load-module", "module-null-sink", "sink_name=vsink", "rate=48000", "channels=2")
        self.pactl("load-module", "module-remap-source", "master=vsink.monitor", "source_name=vmic")
        self.pactl("set-default-sink", "vsink")
        self.pactl("set-default-source", "vmic")
