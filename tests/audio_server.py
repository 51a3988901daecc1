"""The virtual sound card for tests: PulseAudio null sink "vsink", default source "vmic"."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "virtual_audio.sh"
VA_DIR = "/tmp/rtaudio-va-tests"


def start() -> str:
    """Start the server (idempotent); returns PULSE_SERVER. Raises RuntimeError if impossible."""
    if shutil.which("pulseaudio") is None:
        raise RuntimeError("pulseaudio is not installed (bash install.sh installs it)")
    env = {**os.environ, "VA_DIR": VA_DIR}
    out = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"virtual sound card failed: {out.stderr.strip()}")
    server = out.stdout.strip().split("=", 1)[1]
    os.environ["PULSE_SERVER"] = server
    return server


def stop() -> None:
    subprocess.run(["bash", str(SCRIPT), "stop"], env={**os.environ, "VA_DIR": VA_DIR}, check=False)


def pa_env() -> dict[str, str]:
    return {**os.environ, "PULSE_SERVER": os.environ.get("PULSE_SERVER", "")}
