"""The virtual sound card for tests: PulseAudio null sink "vsink", default source "vmic"."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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
        rows = [x.split("\t") for x in self.pactl("list", "short", "modules").splitlines()]
        # PipeWire's own modules have arguments over several lines: rows start with an index
        modules = [r for r in rows if len(r) > 2 and r[0].isdigit()]
        return next(r[0] for r in modules if r[1] == name and args in r[2])

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


PIPEWIRE = ("dbus-daemon", "pipewire", "wireplumber", "pipewire-pulse")
# the private WirePlumber leaves the machine's sound cards, cameras and Bluetooth alone (0.4's
# Lua configuration, 0.5's SPA-JSON): only the null sinks made here are its devices
_WIREPLUMBER_04 = "alsa_monitor.enabled = false\nv4l2_monitor.enabled = false\n"
_WIREPLUMBER_05 = """wireplumber.profiles = {
  main = {
    monitor.alsa = disabled
    monitor.alsa-midi = disabled
    monitor.bluez = disabled
    monitor.v4l2 = disabled
    monitor.libcamera = disabled
  }
}
"""


def pipewire_available() -> bool:
    return all(shutil.which(cmd) for cmd in PIPEWIRE)


@dataclass
class PrivatePipeWire(PrivateCard):
    """A PipeWire of the test's own (PipeWire, WirePlumber and PipeWire's PulseAudio service,
    on a D-Bus session bus of their own, in ``va_dir``) with the virtual card's devices: the
    sound server most Linux desktops run now, for the tests that must hold on both."""

    procs: list[subprocess.Popen] = field(default_factory=list)

    def start(self) -> str:
        run, home = self.va_dir / "run", self.va_dir / "home"
        run.mkdir(mode=0o700, parents=True, exist_ok=True)
        for folder, name, text in (
            ("main.lua.d", "51-rtaudio-tests.lua", _WIREPLUMBER_04),
            ("bluetooth.lua.d", "51-rtaudio-tests.lua", "bluez_monitor.enabled = false\n"),
            ("wireplumber.conf.d", "51-rtaudio-tests.conf", _WIREPLUMBER_05),
        ):
            conf = home / ".config" / "wireplumber" / folder
            conf.mkdir(parents=True, exist_ok=True)
            (conf / name).write_text(text)
        env = {k: v for k, v in os.environ.items() if k not in ("PULSE_SERVER", "PIPEWIRE_REMOTE")}
        env.update(
            XDG_RUNTIME_DIR=str(run),
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / ".config"),
            XDG_STATE_HOME=str(home / ".state"),
            DBUS_SESSION_BUS_ADDRESS=f"unix:path={run / 'bus'}",
        )
        log = (self.va_dir / "pipewire.log").open("ab")
        steps = (
            (["dbus-daemon", "--session", "--nofork", f"--address=unix:path={run / 'bus'}"], "bus"),
            (["pipewire"], "pipewire-0"),
            (["wireplumber"], ""),
            (["pipewire-pulse"], "pulse/native"),
        )
        for cmd, ready in steps:
            self.procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=log))
            if ready:
                _wait(lambda r=ready: (run / r).exists(), f"{cmd[0]} to start", self.va_dir)
        self.server = f"unix:{run / 'pulse' / 'native'}"
        _wait(lambda: self._answers(), "PipeWire's PulseAudio service", self.va_dir)
        self.plug_back()
        _wait(lambda: "Default Source: vmic" in self.pactl("info"), "the defaults", self.va_dir)
        out = subprocess.run(
            ["bash", str(SCRIPT), "alsa"], env=self._env(), capture_output=True, text=True
        )
        self.alsa_config = exports(out.stdout).get("ALSA_CONFIG_PATH", "")
        return self.server

    def _answers(self) -> bool:
        env = {**os.environ, "PULSE_SERVER": self.server}
        return subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode == 0

    def stop(self) -> None:
        """Every process of it dies at once (SIGKILL, as in a crash)."""
        for proc in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()
        self.procs.clear()


def _wait(ready: Callable[[], bool], what: str, va_dir: Path, limit: float = 20.0) -> None:
    end = time.monotonic() + limit
    while not ready():
        if time.monotonic() > end:
            log = va_dir / "pipewire.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"timed out waiting for {what}; log:\n{tail}")
        time.sleep(0.05)
