import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import torch
from disks import mounted_tmpfs

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def sound_card():
    """A running virtual sound card; skips (or fails with RTAUDIO_REQUIRE_AUDIO=1) without one."""
    import audio_server

    try:
        server = audio_server.start()
    except RuntimeError as e:
        if os.environ.get("RTAUDIO_REQUIRE_AUDIO") == "1":
            pytest.fail(f"no virtual sound card: {e}")
        pytest.skip(f"no virtual sound card: {e}")
    from rtaudio import devices

    devices.refresh()
    yield server
    audio_server.stop()


@pytest.fixture
def private_card() -> Iterator[Any]:
    """A PulseAudio server of this test's own (skips without pulseaudio, like sound_card),
    made the process's sound server while the test runs: for injecting device faults."""
    import audio_server

    if not audio_server.available():
        if os.environ.get("RTAUDIO_REQUIRE_AUDIO") == "1":
            pytest.fail("no pulseaudio for a private virtual sound card")
        pytest.skip("pulseaudio is not installed")
    folder = Path(tempfile.mkdtemp(prefix="rtaudio-va-", dir="/tmp"))
    with _the_sound_server(audio_server.PrivateCard(folder)) as card:
        yield card


@pytest.fixture
def private_pipewire() -> Iterator[Any]:
    """A PipeWire of this test's own with the virtual card's devices, made the process's sound
    server while the test runs (skips without PipeWire, WirePlumber, pipewire-pulse and
    dbus-daemon; fails with RTAUDIO_REQUIRE_PIPEWIRE=1, as CI sets)."""
    import audio_server

    if not audio_server.pipewire_available():
        missing = [cmd for cmd in audio_server.PIPEWIRE if shutil.which(cmd) is None]
        if os.environ.get("RTAUDIO_REQUIRE_PIPEWIRE") == "1":
            pytest.fail(f"PipeWire is required here; missing: {', '.join(missing)}")
        pytest.skip(f"PipeWire is not installed (missing: {', '.join(missing)})")
    folder = Path(tempfile.mkdtemp(prefix="rtaudio-pw-", dir="/tmp"))
    with _the_sound_server(audio_server.PrivatePipeWire(folder)) as card:
        yield card


@pytest.fixture(params=["pulseaudio", "pipewire"])
def private_server(request: pytest.FixtureRequest) -> Any:
    """:func:`private_card`, then :func:`private_pipewire`: for a test that must hold on both
    sound servers."""
    pipewire = request.param == "pipewire"
    return request.getfixturevalue("private_pipewire" if pipewire else "private_card")


@contextlib.contextmanager
def _the_sound_server(card: Any) -> Iterator[Any]:
    """``card`` started and made the process's sound server (PULSE_SERVER, and ALSA's default
    device) until the block ends; then stopped and removed."""
    from rtaudio import devices

    names = ("PULSE_SERVER", "ALSA_CONFIG_PATH")
    old = {name: os.environ.get(name) for name in names}
    try:
        os.environ["PULSE_SERVER"] = card.start()
        if card.alsa_config:
            os.environ["ALSA_CONFIG_PATH"] = card.alsa_config
        devices.refresh()
        yield card
    finally:
        card.stop()
        for name, value in old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        devices.refresh()
        shutil.rmtree(card.va_dir, ignore_errors=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 384 KiB file system (tmpfs), where this machine lets the tests mount one."""
    with mounted_tmpfs(tmp_path / "small", "384k") as mnt:
        yield mnt
