"""``rtaudio monitor`` and ``rtaudio devices`` as a user runs them, on the virtual sound card."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import termios
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from disks import mounted_tmpfs
from odd_inputs import stale_header_wav, write_malformed_audio, write_unusual_audio
from signals import best_alignment, interruptible
from waiting import wait_until

from audio_server import PrivateCard, pa_env
from rtaudio.audiofile import read_audio

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
        "--host-latency-ms",
        "40",
    )
    assert out.returncode == 0, out.stderr
    assert "output playing the separated voice" in out.stdout
    lines = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    labels = [x for x in lines if x["type"] == "label"]
    stats = [x for x in lines if x["type"] == "latency"]
    assert {lab["model"] for lab in labels} == {"swishnet", "esresnet"}
    for lab in labels:
        assert {"start", "end", "label", "scores"} <= set(lab)
        assert lab["end"] > lab["start"] and lab["lookahead_ms"] == 100.0
    # a log's view carries the labels too (it showed latency only)
    last = {lab["model"]: lab["label"] for lab in labels}
    final = out.stdout.splitlines()[-1]
    assert f"swishnet {last['swishnet']}" in final and f"esresnet {last['esresnet']}" in final
    level = r"level +(-?\d+\.\d dBFS|silence) [#.]{20} peak +-?\d+\.\d dBFS"
    assert re.search(level, final), final
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


def test_playback_starts_without_a_host_underrun(tmp_path: Path) -> None:
    """ESResNet's weights, copied on two OpenMP threads while the models loaded, left the pool
    spinning as the output stream started: its first host deadline was missed and ALSA printed
    "underrun occurred" over the monitor's display (4 of 6 runs on a 2-core machine)."""
    wav = str(_speech(tmp_path / "in.wav"))
    for _ in range(3):
        out = _run(
            "monitor", "--source", wav, "--play", "--classifiers", "swishnet,esresnet",
            "--duration", "1",
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert "underrun" not in out.stderr, out.stderr


def test_monitor_plays_what_the_separator_removed(tmp_path: Path) -> None:
    wav = _speech(tmp_path / "in.wav")
    args = ["monitor", "--source", str(wav), "--separate", "mitas", "--play", "--hear"]
    out = _run(*args, "removed", "--classifiers", "", "--duration", "1")
    assert out.returncode == 0, out.stderr
    assert "output playing what the separator removed" in out.stdout
    out = _run(*args, "everything")
    assert out.returncode == 2 and "invalid choice: 'everything'" in out.stderr


def test_monitor_says_when_the_input_clips(tmp_path: Path) -> None:
    x = 0.5 * np.sin(np.arange(32000) * 0.05).astype(np.float32)
    x[16000:16042] = 1.0
    sf.write(tmp_path / "hot.wav", np.stack([x, 0.5 * x], 1), 16000, subtype="FLOAT")
    log = tmp_path / "log.jsonl"
    out = _run(
        "monitor", "--source", str(tmp_path / "hot.wav"), "--classifiers", "", "--jsonl", str(log)
    )
    assert out.returncode == 0, out.stderr
    assert "CLIPPING the input: 42 samples at full scale so far" in out.stdout
    assert "input clipped 42 samples" in out.stderr
    stats = [json.loads(v) for v in log.read_text().splitlines()]
    assert stats[-1]["type"] == "latency" and stats[-1]["clipped"] == 42


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
        preexec_fn=interruptible,
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
    last = [json.loads(x) for x in lines[-2:]]  # the final summary, then how it ended
    assert [x["type"] for x in last] == ["latency", "status"] and last[1]["state"] == "stopped"
    (wav,) = (tmp_path / "rec").glob("*input.wav")
    info = sf.info(str(wav))  # a valid header: the file was closed properly
    assert info.duration > 1.0


def test_an_enrollment_from_the_input_is_kept_and_used_again(tmp_path: Path) -> None:
    """``--save-enrollment`` keeps the N seconds the target was enrolled from, so the next
    run can ``--enroll`` it instead of asking the speaker again; nothing is written over."""
    wav = tmp_path / "in.wav"
    sf.write(wav, read_audio(_speech(tmp_path / "raw.wav")), 16000)
    kept = tmp_path / "me.wav"
    args = ["monitor", "--source", str(wav), "--separate", "tsenet", "--classifiers", ""]
    out = _run(*args, "--enroll-seconds", "1", "--save-enrollment", str(kept))
    assert out.returncode == 0, out.stderr
    assert f"enrollment saved: {kept} (use it with --enroll)" in out.stderr
    saved, rate = sf.read(kept, dtype="float32")
    assert rate == 16000 and saved.shape == (16000,)
    # the file source is the microphone: the enrollment is its first second, to 16-bit
    np.testing.assert_allclose(saved, read_audio(wav)[:16000], atol=1 / 32768 + 1e-6)
    assert kept.stat().st_mode & 0o044 == 0o044 & ~_umask()  # readable as any new file
    out = _run(*args, "--enroll", str(kept), "--duration", "2")
    assert out.returncode == 0, out.stderr
    before = kept.read_bytes()
    for extra, target, message in (
        (["--enroll-seconds", "1"], kept, f"{kept} exists; choose another name"),
        (["--enroll", str(wav)], tmp_path / "other.wav", "give --enroll-seconds N too"),
        (["--enroll-seconds", "1"], wav / "x.wav", f"--save-enrollment: {wav} is a file"),
    ):
        out = _run(*args, *extra, "--save-enrollment", str(target))
        assert out.returncode == 2 and message in out.stderr, out.stderr
    assert kept.read_bytes() == before and not (tmp_path / "other.wav").exists()


def test_an_enrollment_that_cannot_complete_is_said(tmp_path: Path) -> None:
    """A --source shorter than the enrollment taken from it is refused at once; a monitor
    stopped before the enrollment was complete says so, and that nothing was separated."""
    src = _speech(tmp_path / "in.wav")  # about 3 s
    tsenet = ("--separate", "tsenet", "--classifiers", "")
    out = _run("monitor", "--source", str(src), *tsenet, "--enroll-seconds", "10")
    assert out.returncode == 2 and "less than the 10 s enrollment" in out.stderr, out.stderr
    rec = tmp_path / "rec"
    out = _run("monitor", *tsenet, "--enroll-seconds", "5", "--duration", "1", "--record", str(rec))
    assert out.returncode == 0, out.stderr
    said = r"the enrollment was not complete \([0-9.]+ of 5 s of input\): nothing was separated"
    assert re.search(said, out.stderr), out.stderr
    assert re.search(r"recorded output: \S+-voice\.wav \(empty\)", out.stderr), out.stderr
    assert re.search(r"recorded input: \S+-input\.wav\n", out.stderr), out.stderr


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "no-such-mic"], "no input device matches"),
        (["--separate", "tsenet"], "enroll"),
        (["--source", "/nonexistent.wav"], "no such file"),
        (["--chunk-ms", "0.01"], "chunk_ms"),
        (["--host-latency-ms", "-1"], "host_latency_ms"),
        (["--duration", "0"], "--duration must be positive"),
        # options that would do nothing are refused, not ignored
        (["--enroll-seconds", "2"], "--enroll-seconds: the target speaker is for --separate"),
        (["--hear", "removed", "--play"], "--hear removed: give --separate mitas or tsenet"),
        (["--separate", "mitas", "--hear", "input"], "--hear chooses what --play plays"),
        (["--output", "nosuch"], "--output nosuch is where --play plays: give --play too"),
        (["--input", ""], "--input '': give a device's name or index, or leave --input out"),
    ],
)
def test_monitor_bad_setup_is_one_clear_line(args: list[str], message: str) -> None:
    out = _run("monitor", "--duration", "1", *args)
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("rtaudio monitor: ") and "Error:" not in line, line  # no class name


def test_a_missing_weights_folder_is_an_error_not_untrained_models(tmp_path: Path) -> None:
    """A mistyped ``weights_dir`` used to run every model untrained (a warning line, then
    labels from random weights)."""
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f'weights_dir = "{tmp_path / "wieghts"}"\n')
    src = tmp_path / "a.wav"
    sf.write(src, np.zeros(16000, np.float32), 16000)
    for cmd in (
        ["monitor", "--duration", "1", "--source"],
        ["process", "--out", str(tmp_path / "o")],
    ):
        out = _run(*cmd, str(src), "--config", str(cfg))
        assert out.returncode == 2, out.stderr
        assert f"weights_dir {tmp_path / 'wieghts'} is not a folder" in out.stderr
        assert "Traceback" not in out.stderr and "untrained" not in out.stderr


def test_a_full_disk_stops_the_jsonl_log_not_the_monitor(tmp_path: Path) -> None:
    """The log's disk fills up after a few dozen lines: the monitor used to end there ('No
    space left on device', exit 2). Now it runs to the end of the source, says where the log
    stopped, and the log holds whole lines only."""
    src = tmp_path / "a.wav"
    t = np.arange(8 * 16000) / 16000
    sf.write(src, (0.2 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), 16000)
    with mounted_tmpfs(tmp_path / "disk", "8k") as disk:
        log = disk / "log.jsonl"
        out = _run("monitor", "--source", str(src), "--jsonl", str(log), timeout=90)
        assert out.returncode == 0, out.stderr
        assert f"--jsonl {log} stopped after" in out.stderr and "No space left" in out.stderr
        lines = log.read_text().splitlines()
        assert all(json.loads(x)["type"] in ("label", "latency", "status") for x in lines)
        assert len(lines) > 10 and log.stat().st_size <= 8192
    assert "stopped: " in out.stderr  # ran on to its normal end
    assert "[finished]" in out.stdout


def test_monitor_rejects_a_text_file_named_wav(tmp_path: Path) -> None:
    bad = tmp_path / "notes.wav"
    bad.write_text("this is not audio")
    out = _run("monitor", "--source", str(bad))
    assert out.returncode == 2 and "not a readable audio file" in out.stderr
    assert os.path.exists(bad)  # nothing the user has is touched


# ------------------------------------------------------------------ hardening (issue 7)


def _speech_left_tone_right(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A 16 kHz stereo file: speech on channel 1, a 1 kHz tone on channel 2."""
    speech = read_audio(_speech(path.with_name("left.wav")))
    tone = 0.3 * np.sin(2 * np.pi * 1000 * np.arange(speech.size) / 16000).astype(np.float32)
    sf.write(path, np.stack((speech, tone), 1), 16000)
    return speech, tone


@pytest.mark.parametrize("channel", [1, 2])
def test_one_channel_of_the_microphone_is_taken(tmp_path: Path, channel: int) -> None:
    """``--channel N`` (a microphone on one input of an interface): the other channel is not
    mixed in. The card's microphone hears the stereo file played to its speakers."""
    speech, tone = _speech_left_tone_right(tmp_path / "stereo.wav")
    rec, log = tmp_path / "rec", tmp_path / "log.jsonl"
    args = ["monitor", "--channel", str(channel), "--classifiers", "", "--record", str(rec)]
    proc = subprocess.Popen(
        [EXE, *args, "--jsonl", str(log), "--duration", "6"],
        stderr=subprocess.PIPE,
        text=True,
        env=pa_env(),
    )
    wait_until(lambda: _stream_time(log) > 0, 40, "the monitor to capture audio")
    subprocess.run(["paplay", str(tmp_path / "stereo.wav")], check=True, env=pa_env())
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    (wav,) = rec.glob("*input.wav")
    heard = read_audio(wav)
    wanted, other = (speech, tone) if channel == 1 else (tone, speech)
    assert best_alignment(wanted, heard)[1] > 0.9
    assert abs(best_alignment(other, heard)[1]) < 0.2


def test_the_input_rate_is_chosen(tmp_path: Path) -> None:
    for rate in ("16000", "22050"):
        out = _run("monitor", "--rate", rate, "--classifiers", "", "--duration", "0.5")
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith(f"input: default (vmic) @ {rate} Hz; "), out.stdout
    out = _run("monitor", "--source", str(_speech(tmp_path / "in.wav")), "--rate", "16000")
    assert out.returncode == 2 and "a --source file is read at its own" in out.stderr


def test_one_channel_of_a_source_file_is_taken(tmp_path: Path) -> None:
    speech, tone = _speech_left_tone_right(tmp_path / "stereo.wav")
    rec = tmp_path / "rec"
    for channel, wanted in ((2, tone), (1, speech)):
        args = ["--source", str(tmp_path / "stereo.wav"), "--classifiers", ""]
        out = _run("monitor", *args, "--channel", str(channel), "--record", str(rec / str(channel)))
        assert out.returncode == 0, out.stderr
        setup = out.stdout.splitlines()[0]  # a log says what ran on what
        source = tmp_path / "stereo.wav"
        assert setup == (
            f"input: {source} @ 16000 Hz, channel {channel}; separation: off; classifiers: none"
        )
        (wav,) = (rec / str(channel)).glob("*input.wav")
        heard = read_audio(wav)[: wanted.size]
        np.testing.assert_allclose(heard, wanted, atol=1e-4)  # 16-bit WAV
    mono = _speech(tmp_path / "mono.wav")
    out = _run("monitor", "--source", str(mono), "--channel", "2")
    assert out.returncode == 2
    assert out.stderr.strip() == f"rtaudio monitor: {mono}: 1 channel, channel 2 requested"


def _stream_time(log: Path) -> float:
    lines = log.read_text().splitlines() if log.exists() else []
    stats = [json.loads(x) for x in lines if '"latency"' in x and x.endswith("}")]
    return stats[-1]["t"] if stats else 0.0


def _strict_wav_frames(path: Path, chunk: int = 160) -> int:
    """Frames per the header, read with the strict stdlib reader; the header must account for
    the whole file but the chunk being written when the process was killed (its samples are
    written before the header is updated: a kill between the two leaves them after the data
    the header declares, where readers ignore them)."""
    with wave.open(str(path)) as w:
        frames = w.getnframes()
    extra = path.stat().st_size - (44 + 2 * frames)
    assert 0 <= extra <= 2 * chunk, f"stale WAV header ({extra} bytes beyond it)"
    return frames


def _monitor_on(card: PrivateCard, stdout: Any, tmp_path: Path, *extra: str) -> Any:
    """``rtaudio monitor`` on a private card's microphone for up to 90 s, logging to
    ``log.jsonl`` and recording to ``rec/`` in ``tmp_path``."""
    return subprocess.Popen(
        [
            EXE,
            "monitor",
            "--duration",
            "90",
            "--classifiers",
            "",
            "--jsonl",
            str(tmp_path / "log.jsonl"),
            "--record",
            str(tmp_path / "rec"),
            *extra,
        ],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PULSE_SERVER": card.server},
        preexec_fn=interruptible,
    )


def test_monitor_stays_up_while_the_sound_server_restarts(
    private_card: PrivateCard, tmp_path: Path
) -> None:
    log, rec, out = tmp_path / "log.jsonl", tmp_path / "rec", tmp_path / "out.txt"
    with out.open("w") as stdout:
        proc = _monitor_on(private_card, stdout, tmp_path)
        try:
            wait_until(lambda: _stream_time(log) >= 1.0, 40, "the monitor to capture audio")
            private_card.stop()  # every device gone at once
            wait_until(lambda: "[reconnecting]" in out.read_text(), 15, "the loss to be shown")
            (wav,) = rec.glob("*input.wav")
            frames_at_loss = _strict_wav_frames(wav)  # already a valid WAV
            time.sleep(1.0)
            assert proc.poll() is None  # still up
            private_card.start()
            wait_until(lambda: "back after" in out.read_text(), 20, "the devices to return")
            t = _stream_time(log)
            wait_until(lambda: _stream_time(log) >= t + 1.0, 20, "audio after the restart")
        finally:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    text = out.read_text()
    assert "device lost" in text and "resumed" in text
    # said once, in rtaudio's words; PortAudio's and ALSA's own lines (a dozen per loss) kept
    # off stderr by rtaudio.native_stderr
    assert "input device lost" in err
    assert "Expression '" not in err and "ALSA lib" not in err, err
    assert _strict_wav_frames(wav) > frames_at_loss  # one recording across the gap
    # the log tells the gap too (it had labels and latency only, its stream time running on
    # as if nothing happened), and the screen's log does not repeat a frozen status line
    states = [r for r in map(json.loads, log.read_text().splitlines()) if r["type"] == "status"]
    lost = next(r for r in states if r["state"] == "reconnecting" and "lost" in r["message"])
    back = next(r for r in states if "back after" in r["message"])
    assert back["wall"] - lost["wall"] >= 1.0 and back["t"] >= lost["t"], states
    lines = text.splitlines()
    assert all(a != b for a, b in itertools.pairwise(lines)), text


@pytest.mark.parametrize("thaw", [False, True], ids=["ctrl-c-while-frozen", "thawed"])
def test_monitor_survives_a_sound_server_that_stops_answering(
    private_card: PrivateCard, tmp_path: Path, thaw: bool
) -> None:
    """A frozen sound server (SIGSTOP: connections open, nothing answered) makes closing a
    stream through ALSA's pulse plugin wait for as long as it is frozen. The monitor gives up
    on such a stream after 2 s: Ctrl-C ends it at once (it used to hang until the server came
    back, and then for good), and once the server answers again it resumes."""
    log, rec, out = tmp_path / "log.jsonl", tmp_path / "rec", tmp_path / "out.txt"
    with out.open("w") as stdout:
        proc = _monitor_on(private_card, stdout, tmp_path, "--play")
        try:
            wait_until(lambda: _stream_time(log) >= 1.0, 40, "the monitor to capture audio")
            captured = _stream_time(log)  # what it had processed, by its own log
            private_card.freeze()
            wait_until(lambda: "[reconnecting]" in out.read_text(), 15, "the stall to be shown")
            time.sleep(4.0)  # a reconnection attempt closes the frozen stream, and gives up
            if thaw:
                private_card.freeze(False)
                wait_until(lambda: "back after" in out.read_text(), 20, "the devices to return")
                t = _stream_time(log)
                wait_until(lambda: _stream_time(log) >= t + 1.0, 20, "audio after the thaw")
            stopped = time.monotonic()
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
            took = time.monotonic() - stopped
        finally:
            private_card.freeze(False)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, err
    assert took < 10, f"Ctrl-C took {took:.1f} s"
    assert "did not close within 2 s; left to close on its own" in err
    assert "Traceback" not in err
    (wav,) = rec.glob("*input.wav")
    # the recording is whole: all the log said was captured (the server may freeze right at
    # that chunk's end: nothing more need come)
    assert _strict_wav_frames(wav) >= round(captured * 16000) >= 16000


def test_a_frozen_sound_server_at_start_is_one_clear_error(private_card: PrivateCard) -> None:
    """PortAudio asks every device when it starts; a frozen server used to hang `rtaudio
    devices` and `monitor` for good (with stderr pointed at /dev/null by sounddevice)."""
    env = {**os.environ, "PULSE_SERVER": private_card.server}
    private_card.freeze()
    try:
        t0 = time.monotonic()
        out = subprocess.run([EXE, "devices"], capture_output=True, text=True, env=env, timeout=60)
        took = time.monotonic() - t0
    finally:
        private_card.freeze(False)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [
        "rtaudio devices: starting PortAudio: no answer within 6 s (the sound server is not "
        "answering)"
    ]
    assert took < 20


def test_a_reader_that_leaves_ends_the_monitor_quietly(tmp_path: Path) -> None:
    """``rtaudio monitor | head -1``: no "Broken pipe" error, no traceback, exit 141."""
    wav = _speech(tmp_path / "in.wav")
    proc = subprocess.Popen(
        [EXE, "monitor", "--source", str(wav), "--classifiers", "", "--duration", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=pa_env(),
    )
    assert proc.stdout is not None and proc.stdout.readline().startswith("input: ")
    proc.stdout.close()
    err = proc.stderr.read() if proc.stderr else ""
    assert proc.wait(30) == 141, err
    assert "Broken pipe" not in err and "Traceback" not in err and "Exception" not in err


class _Terminal:
    """``rtaudio monitor`` in a pseudo-terminal of its own (its controlling terminal, in the
    foreground, as in a shell): what it shows is read, keys are typed."""

    def __init__(self, *args: str) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the monitor, on the pseudo-terminal
            os.execve(EXE, [EXE, "monitor", *args], pa_env())
        self.screen = b""
        self.code: int | None = None

    def wait_for(self, text: str, timeout: float = 20, through: str = "") -> str:
        """The output from the first ``text`` shown after this call on, read at least up to the
        first ``through`` after it (a screen comes in pieces: the rest of its lines)."""
        start = len(self.screen)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                with contextlib.suppress(OSError):
                    self.screen += os.read(self.fd, 65536)
            tail = self.screen[start:].decode(errors="ignore")
            if text in tail and through in tail[tail.index(text) :]:
                return tail[tail.index(text) :]
        raise AssertionError(f"{text!r} not shown; last screen: {self.screen[-1500:]!r}")

    def type(self, key: str) -> None:
        os.write(self.fd, key.encode())

    def exit_status(self, timeout: float = 30) -> int | None:
        """Its exit status once it ends within ``timeout`` s, else None."""
        end = time.monotonic() + timeout
        while self.code is None and time.monotonic() < end:
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if ready:
                with contextlib.suppress(OSError):
                    self.screen += os.read(self.fd, 65536)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.code = os.waitstatus_to_exitcode(status)
        return self.code

    def close(self) -> None:
        if self.exit_status(0) is None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)


def test_keys_switch_what_is_heard_and_q_quits(tmp_path: Path) -> None:
    """In a terminal, i / s / r switch what the output plays (input, separated voice, what was
    removed) without stopping, space stops and starts recording, and q ends the monitor as a
    finished run does."""
    talk = tmp_path / "talk.wav"
    sf.write(talk, np.tile(read_audio(_speech(tmp_path / "in.wav")), 8), 16000)
    args = ["--source", str(talk), "--separate", "mitas", "--play", "--classifiers", ""]
    rec = tmp_path / "rec"
    term = _Terminal(*args, "--jsonl", str(tmp_path / "log.jsonl"), "--record", str(rec))
    try:
        screen = term.wait_for("playing the separated voice", through="q quit")
        assert "i input  s separated  r removed  space stop recording  q quit" in screen
        assert "REC      rtaudio-" in screen
        term.type(" ")  # stop recording, then a second take
        term.wait_for("removed  space record  q quit")
        term.type(" ")
        term.wait_for("space stop recording")
        term.type("i")
        term.wait_for("output   playing the input")
        term.type("r")
        term.wait_for("output   playing what the separator removed")
        term.type("s")
        term.wait_for("output   playing the separated voice")
        assert _stream_time(tmp_path / "log.jsonl") < 20  # long before the file's end
        term.type("q")
        assert term.exit_status() == 0
        lflag = termios.tcgetattr(term.fd)[3]  # the terminal's mode is given back
        assert lflag & termios.ECHO and lflag & termios.ICANON
    finally:
        term.close()
    screen = term.screen.decode(errors="ignore")
    assert "stopped: " in screen
    takes = sorted(rec.glob("*-voice.wav"))
    assert len(takes) == 2 and all(f"recorded output: {p}" in screen for p in takes)
    assert all(_strict_wav_frames(p) > 1600 for p in sorted(rec.glob("*.wav")))


def _note(term: _Terminal) -> str:
    """What the next screen says the input was switched to: "'vmic'" (its line read whole:
    on to the next screen's keys)."""
    screen = term.wait_for("input switched to ", through="q quit")
    return screen.split("input switched to ", 1)[1].split("\n", 1)[0].strip()


def test_key_d_moves_the_capture_to_the_next_input_device(sound_card: str) -> None:
    """d in a terminal: the next input device of `rtaudio devices` (then the system default
    again), without stopping; the view names each."""
    term = _Terminal("--classifiers", "")
    try:
        screen = term.wait_for("[running]", through="q quit")
        assert "input: default (vmic) @ " in screen and "d next input  space record" in screen
        shown = [""]
        for _ in range(5):  # pulse, vsink.monitor, vmic, the default again (and one spare)
            term.type("d")
            while shown[-1] == (said := _note(term)):
                pass  # a screen drawn before this switch
            shown.append(said)
            if said.startswith("'default"):
                break
        assert shown[1:] == ["'pulse (vmic)'", "'vsink.monitor'", "'vmic'", "'default (vmic)'"]
        assert "[running]" in term.wait_for("rtaudio monitor", through="q quit")
        term.type("q")
        assert term.exit_status() == 0
    finally:
        term.close()


def test_kill_9_while_recording_loses_at_most_a_chunk(tmp_path: Path) -> None:
    src = tmp_path / "talk.wav"
    sf.write(src, 0.3 * np.sin(np.arange(16000 * 20) * 0.05).astype(np.float32), 16000)
    log, rec = tmp_path / "log.jsonl", tmp_path / "rec"
    proc = subprocess.Popen(
        [
            EXE,
            "monitor",
            "--source",
            str(src),
            "--separate",
            "mitas",
            "--classifiers",
            "",
            "--jsonl",
            str(log),
            "--record",
            str(rec),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=pa_env(),
        preexec_fn=interruptible,
    )
    wait_until(lambda: _stream_time(log) >= 1.5, 40, "1.5 s of stream")
    t = _stream_time(log)
    proc.kill()  # SIGKILL: no cleanup at all
    proc.wait(10)
    wavs = sorted(rec.glob("*.wav"))
    assert len(wavs) == 2  # input and separated voice
    for w in wavs:
        frames = _strict_wav_frames(w)  # correct header although never closed
        assert frames >= (t - 0.02) * 16000, (w.name, frames, t)  # nothing before the kill lost
        x, sr = sf.read(str(w), dtype="float32")
        assert sr == 16000 and x.size == frames
    x, _ = sf.read(str(next(w for w in wavs if w.name.endswith("input.wav"))), dtype="float32")
    np.testing.assert_allclose(x, sf.read(str(src), dtype="float32")[0][: x.size], atol=1e-4)


def test_wavs_left_by_a_crash_are_repaired(tmp_path: Path) -> None:
    from rtaudio.cli import main
    from rtaudio.config import EngineConfig
    from rtaudio.engine import Engine

    stale = tmp_path / "old.wav"
    pcm = stale_header_wav(stale)  # sizes 0: what a writer killed before closing leaves
    with wave.open(str(stale)) as w:
        assert w.getnframes() == 0  # strict readers see nothing
    assert main(["repair-wav", str(stale)]) == 0
    assert _strict_wav_frames(stale, chunk=0) == pcm.size
    assert main(["repair-wav", str(stale)]) == 0  # idempotent: "header was correct"
    (tmp_path / "notes.wav").write_text("not a wav")
    assert main(["repair-wav", str(tmp_path / "notes.wav")]) == 1
    # the next recording into the folder repairs rtaudio's own leftovers
    rec = tmp_path / "rec"
    rec.mkdir()
    left = rec / "rtaudio-20240101-000000-input.wav"
    stale_header_wav(left, seconds=0.5)
    src = tmp_path / "src.wav"
    sf.write(src, np.zeros(1600, np.float32), 16000)
    engine = Engine(EngineConfig(source=str(src), realtime=False, classifiers=()))
    engine.start_recording(rec, "input")
    engine.stop_recording()
    assert "repaired 1 recording" in engine.status.message
    assert _strict_wav_frames(left, chunk=0) == 8000


def test_monitor_refuses_bad_sources_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rtaudio.audiofile import AudioFileError
    from rtaudio.cli import main
    from rtaudio.config import EngineConfig
    from rtaudio.engine import Engine

    bad = write_malformed_audio(tmp_path / "bad")
    broken_while_playing = {
        n for n, why in bad.items() if why in ("NaN or infinite", "out-of-range")
    }
    for name, why in bad.items():
        engine = Engine(EngineConfig(source=str(tmp_path / "bad" / name), classifiers=()))
        if name in broken_while_playing:  # readable header, bad samples: found while playing
            engine.cfg = engine.cfg.replace(realtime=False)
            engine.start()
            assert engine.wait(20)
            engine.stop()
            assert engine.status.state == "error" and why in engine.status.message, name
            assert name in engine.status.message
        else:
            with pytest.raises(AudioFileError, match=why):
                engine.prepare()
    # as a user runs it: exit 2 for a file refused up front, 1 for one that breaks mid-stream
    assert main(["monitor", "--source", str(tmp_path / "bad" / "random.mp3")]) == 2
    err = capsys.readouterr().err
    assert "format not recognised" in err and "Traceback" not in err
    nan = str(tmp_path / "bad" / "nan.wav")
    assert main(["monitor", "--source", nan, "--classifiers", ""]) == 1
    err = capsys.readouterr().err
    assert "NaN or infinite samples (first at 0.250 s" in err and "Traceback" not in err


def test_monitor_labels_every_odd_source_to_its_end(tmp_path: Path) -> None:
    """Valid but unusual files through the live engine: each is labelled up to its last
    sample, a file shorter than one analysis window included."""
    from rtaudio.config import EngineConfig
    from rtaudio.engine import Engine

    odd = write_unusual_audio(tmp_path / "odd")
    for name, seconds in odd.items():
        cfg = EngineConfig(
            source=str(tmp_path / "odd" / name), realtime=False, classifiers=("swishnet",)
        )
        engine = Engine(cfg)
        ch = engine.subscribe(100_000)
        engine.start()
        assert engine.wait(30), name
        engine.stop()
        assert engine.status.state == "finished", (name, engine.status.message)
        labels = [lab for r in ch.drain() for lab in r.labels]
        assert labels and labels[0].start == 0.0, name
        assert labels[-1].end == pytest.approx(max(seconds, 1 / 16000), abs=0.011), name
        assert all(b.start == pytest.approx(a.end) for a, b in itertools.pairwise(labels))


def test_monitor_never_overwrites_a_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rtaudio.cli import main

    log = tmp_path / "log.jsonl"
    log.write_text('{"type": "earlier session"}\n')
    assert main(["monitor", "--duration", "1", "--jsonl", str(log)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert log.read_text() == '{"type": "earlier session"}\n'


def test_crash_safe_wav_rolls_over_and_repair_leaves_good_files_alone(tmp_path: Path) -> None:
    from rtaudio.audiofile import AudioFileError, CrashSafeWav, repair_wav
    from rtaudio.engine import WavRecorder

    rec = WavRecorder(tmp_path / "r.wav", max_bytes=1000)  # 500 frames per file
    x = np.linspace(-1, 1, 1234).astype(np.float32)
    for i in range(0, x.size, 160):
        rec.write(x[i : i + 160])
    rec.close()
    assert [p.name for p in rec.paths] == ["r.wav", "r.2.wav", "r.3.wav"]
    parts = [sf.read(str(p), dtype="float32")[0] for p in rec.paths]
    assert [len(p) for p in parts] == [500, 500, 234]
    np.testing.assert_allclose(np.concatenate(parts), x, atol=1 / 32767)
    for p in rec.paths:
        assert repair_wav(p) is None  # correct headers are left as they are
    # a WAV with a chunk after the data (as some recorders write) is not "repaired"
    buf = tmp_path / "list.wav"
    sf.write(buf, x, 16000, subtype="PCM_16")
    data = buf.read_bytes()
    extra = b"LIST" + (4).to_bytes(4, "little") + b"INFO"
    riff = (len(data) + len(extra) - 8).to_bytes(4, "little")
    buf.write_bytes(data[:4] + riff + data[8:] + extra)
    assert repair_wav(buf) is None and sf.info(str(buf)).frames == x.size
    text = tmp_path / "text.wav"
    text.write_text("RIFF? no")
    with pytest.raises(AudioFileError, match="not a RIFF/WAVE"):
        repair_wav(text)
    with CrashSafeWav(tmp_path / "w.wav") as w, pytest.raises(FileExistsError):
        CrashSafeWav(tmp_path / "w.wav")  # never overwrites
    assert w.frames == 0
