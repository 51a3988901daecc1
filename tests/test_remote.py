"""The engine in a process of its own (what the window uses): the same results as in-process,
controls and their errors across the pipe, and a child that dies or outlives its parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from engine_runs import run_to_end

from rtaudio.audiofile import read_audio
from rtaudio.config import ConfigError, EngineConfig
from rtaudio.remote import RemoteEngine
from rtaudio.results import ChunkResult


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("remote")
    raw = d / "raw.wav"
    text = "the engine runs in a process of its own and sends what it computes"
    subprocess.run(["espeak-ng", "-s", "160", "-w", str(raw), text], check=True)
    out = d / "speech.wav"
    sf.write(out, read_audio(raw), 16000)
    return out


def _until(cond: object, timeout: float = 20.0, remote: RemoteEngine | None = None) -> None:
    end = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < end, "timed out"
        if remote is not None:
            remote.pump()
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent) counts as gone
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def _labels(results: list[ChunkResult]) -> list[tuple[str, str, float, float]]:
    return sorted((x.model, x.label, x.start, x.end) for r in results for x in r.labels)


def test_a_remote_engine_gives_what_the_engine_gives_in_process(speech: Path) -> None:
    cfg = EngineConfig(source=str(speech), realtime=False, separate="mitas")
    local, expected = run_to_end(cfg)

    remote = RemoteEngine(cfg)
    remote.start()
    got: list[ChunkResult] = []
    try:
        assert remote.pid is not None and remote.pid != os.getpid()
        _until(lambda: got.extend(remote.drain()) or remote.status.state == "finished")
    finally:
        remote.stop()
    got.extend(remote.drain())
    assert remote.phase == "ended" and not _alive(remote.pid)
    assert remote.status.trained == {"swishnet": True, "esresnet": True, "mitas": True}
    assert len(got) == len(expected) > 100
    assert sum(r.voice is not None for r in got) > 100
    assert [r.index for r in got] == [r.index for r in expected]
    for a, b in zip(got, expected, strict=True):
        assert (a.voice is None) == (b.voice is None)
        if a.voice is not None and b.voice is not None:
            np.testing.assert_allclose(a.voice, b.voice, atol=1e-5)
        np.testing.assert_allclose(a.spectrogram, b.spectrogram, atol=1e-4)
    assert _labels(got) == _labels(expected) and _labels(got)
    assert remote.summary().chunks == local.summary().chunks > 100


def test_controls_cross_the_pipe_with_their_errors(speech: Path, tmp_path: Path) -> None:
    remote = RemoteEngine(EngineConfig(source=str(speech), classifiers=()))
    remote.muted = True  # before the child exists: sent once it does
    remote.start()
    try:
        _until(lambda: remote.status.state == "running", remote=remote)
        _until(lambda: remote.muted, remote=remote)
        # an answer the caller needs: paths, and the error itself (its type kept)
        paths = remote.start_recording(tmp_path, "input")
        assert set(paths) == {"input"} and remote.recording
        seen: list[ChunkResult] = []
        _until(lambda: len(seen.extend(remote.drain()) or seen) > 20)
        blocker = tmp_path / "a-file"
        blocker.write_text("")
        with pytest.raises(OSError):
            remote.start_recording(blocker / "sub", "input")
        with pytest.raises(ConfigError, match="record='sideways'"):  # a user error, as is
            remote.start_recording(tmp_path, "sideways")
        assert remote.recording  # the recording in progress goes on
        assert remote.stop_recording() == paths and not remote.recording
        # a control nobody waits for: its failure shows in the status message
        remote.switch_input("pulse")
        _until(lambda: "switch input failed" in remote.status.message, remote=remote)
        assert "needs a microphone input" in remote.status.message
    finally:
        remote.stop()
    assert paths["input"].exists() and sf.info(paths["input"]).frames > 0


def test_a_bad_start_is_reported(tmp_path: Path) -> None:
    remote = RemoteEngine(EngineConfig(source=str(tmp_path / "missing.wav")))
    remote.start()
    try:
        _until(lambda: remote.phase != "starting", remote=remote)
    finally:
        remote.stop()
    assert remote.phase == "failed" and remote.error is not None
    assert "no such file" in remote.error


def test_a_killed_engine_process_is_an_error_not_a_hang(speech: Path) -> None:
    remote = RemoteEngine(EngineConfig(source=str(speech), classifiers=()))
    remote.start()
    try:
        _until(lambda: remote.status.state == "running", remote=remote)
        assert remote.pid is not None
        os.kill(remote.pid, signal.SIGKILL)
        _until(lambda: remote.phase == "lost", remote=remote)
        assert remote.status.state == "error"
        assert "ended unexpectedly (signal 9)" in remote.status.message
        with pytest.raises(RuntimeError, match="not running"):
            remote.start_recording("/tmp")
        remote.muted = True  # nobody to tell: no error either
        t0 = time.monotonic()
    finally:
        remote.stop()
    assert time.monotonic() - t0 < 2.0


CHILD = """
import os, sys, time
from rtaudio.config import ConfigError, EngineConfig
from rtaudio.remote import RemoteEngine

if __name__ == "__main__":
    remote = RemoteEngine(EngineConfig(source=sys.argv[1], classifiers=()))
    remote.start()
    while remote.status.state != "running":
        remote.pump()
        time.sleep(0.02)
    print(remote.pid, flush=True)
    os._exit(0)  # no stop, no atexit: as if the window crashed
"""


def test_the_engine_process_ends_with_its_parent(speech: Path, tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(CHILD)
    out = subprocess.run(
        [sys.executable, str(script), str(speech)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    pid = int(out.stdout.split()[-1])
    end = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < end:
        time.sleep(0.05)
    assert not _alive(pid), "the engine process outlived its parent"


def test_stopping_an_engine_never_started_is_immediate(tmp_path: Path) -> None:
    remote = RemoteEngine(EngineConfig(source=str(tmp_path / "x.wav")))
    t0 = time.monotonic()
    remote.stop()
    assert time.monotonic() - t0 < 0.5 and remote.phase == "new" and remote.drain() == []
