"""``rtaudio monitor`` and ``rtaudio devices`` as a user runs them, on the virtual sound card."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

from audio_server import pa_env

pytestmark = pytest.mark.usefixtures("sound_card")
EXE = str(Path(sys.executable).with_name("rtaudio"))


def _speech(path: Path) -> Path:
    subprocess.run(
        ["espeak-ng", "-w", str(path), "monitoring speech from a file played as a microphone"],
        check=True,
    )
    return path


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, *args], capture_output=True, text=True, timeout=timeout, env=pa_env()
    )


def test_devices_json() -> None:
    out = _run("devices", "--json")
    assert out.returncode == 0, out.stderr
    devs = json.loads(out.stdout)
    assert any(d["max_input_channels"] > 0 and d["default_input"] for d in devs)
    assert {"index", "name", "default_samplerate", "max_output_channels"} <= set(devs[0])


def test_monitor_file_source_writes_jsonl_and_recordings(tmp_path: Path) -> None:
    wav = _speech(tmp_path / "in.wav")
    dur = sf.info(str(wav)).duration
    out = _run(
        "monitor",
        "--source",
        str(wav),
        "--separate",
        "mitas",
        "--play",
        "--jsonl",
        str(tmp_path / "log.jsonl"),
        "--record",
        str(tmp_path / "rec"),
        "--lookahead-ms",
        "100",
    )
    assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    labels = [x for x in lines if x["type"] == "label"]
    stats = [x for x in lines if x["type"] == "latency"]
    assert {lab["model"] for lab in labels} == {"swishnet", "esresnet"}
    for lab in labels:
        assert {"start", "end", "label", "scores"} <= set(lab)
        assert lab["end"] > lab["start"] and lab["lookahead_ms"] == 100.0
    assert len(stats) >= int(dur)  # about one per second, plus the final one
    for s in stats:
        assert {
            "t",
            "p50_ms",
            "p95_ms",
            "max_ms",
            "overflows",
            "dropped",
            "algorithmic_ms",
            "end_to_end_ms",
        } <= set(s)
    assert stats[-1]["dropped"] == 0 and stats[-1]["algorithmic_ms"] > 10
    wavs = sorted((tmp_path / "rec").glob("*.wav"))
    assert len(wavs) == 2
    for w in wavs:
        info = sf.info(str(w))
        assert info.samplerate == 16000 and abs(info.duration - dur) < 0.05


def test_monitor_ctrl_c_stops_cleanly_and_flushes(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            EXE,
            "monitor",
            "--duration",
            "60",
            "--jsonl",
            str(tmp_path / "log.jsonl"),
            "--record",
            str(tmp_path / "rec"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=pa_env(),
    )
    log = tmp_path / "log.jsonl"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait for 2 s of stream time, however busy the CPU
        lines = log.read_text().splitlines() if log.exists() else []
        stats = [json.loads(x) for x in lines if '"latency"' in x]
        if stats and stats[-1]["t"] >= 2.0:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Ctrl-C" in err
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["type"] == "latency"  # the final summary was written
    (wav,) = (tmp_path / "rec").glob("*input.wav")
    info = sf.info(str(wav))  # a valid header: the file was closed properly
    assert info.duration > 1.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "no-such-mic"], "no input device matches"),
        (["--separate", "tsenet"], "enroll"),
        (["--source", "/nonexistent.wav"], "no such file"),
        (["--chunk-ms", "0.01"], "chunk_ms"),
    ],
)
def test_monitor_bad_setup_is_one_clear_line(args: list[str], message: str) -> None:
    out = _run("monitor", "--duration", "1", *args)
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr


def test_monitor_rejects_a_text_file_named_wav(tmp_path: Path) -> None:
    bad = tmp_path / "notes.wav"
    bad.write_text("this is not audio")
    out = _run("monitor", "--source", str(bad))
    assert out.returncode == 2 and "not a readable audio file" in out.stderr
    assert os.path.exists(bad)  # nothing the user has is touched
