"""The engine against real PortAudio streams on the virtual sound card (no mocks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import wave
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
from signals import best_alignment
from waiting import wait_until

from audio_server import PrivateCard, pa_env
from rtaudio import devices
from rtaudio.audiofile import read_audio
from rtaudio.config import ConfigError, EngineConfig
from rtaudio.devices import DeviceError, list_devices, resolve
from rtaudio.engine import Engine, _Playback, cut_crossfaded

pytestmark = pytest.mark.usefixtures("sound_card")
EXE = str(Path(sys.executable).with_name("rtaudio"))


def speech_wav(path: Path, text: str = "the quick brown fox jumps over the lazy dog") -> Path:
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(path), text], check=True)
    return path


def lowpass(x: np.ndarray, cutoff: float = 6000.0, sr: int = 16000) -> np.ndarray:
    spec = np.fft.rfft(x)
    spec[int(cutoff / sr * x.size) :] = 0
    return np.fft.irfft(spec, x.size).astype(np.float32)


def windowed_correlation(ref: np.ndarray, rec: np.ndarray, win: int = 3200) -> list[float]:
    """Correlation of each loud window of ``ref`` with its best match in ``rec`` (a playback
    underflow shifts what follows, so each window is aligned on its own)."""
    lag, _ = best_alignment(ref, rec)
    out = []
    for i in range(0, ref.size - win, win):
        a = ref[i : i + win]
        if np.abs(a).max() < 0.05:
            continue
        lo = max(0, lag + i - 1600)
        _, c = best_alignment(a, rec[lo : lag + i + win + 1600])
        out.append(round(c, 3))
    return out


def test_devices_are_listed() -> None:
    devs = list_devices()
    assert any(d.max_input_channels > 0 for d in devs)
    assert resolve(None, "input").max_input_channels > 0
    with pytest.raises(DeviceError, match="no input device matches"):
        resolve("no-such-device-xyz", "input")
    with pytest.raises(DeviceError, match="index 999"):
        resolve(999, "output")


def test_capture_from_virtual_mic_correlates_and_labels(tmp_path: Path) -> None:
    wav = speech_wav(tmp_path / "speech.wav")
    cfg = EngineConfig(record_dir=str(tmp_path / "rec"), record="input", classifiers=("swishnet",))
    engine = Engine(cfg)
    results = engine.subscribe(100_000)
    engine.start()
    try:
        time.sleep(0.3)
        subprocess.run(["paplay", str(wav)], check=True, env=pa_env())
        time.sleep(0.5)
    finally:
        engine.stop()
    captured, sr = sf.read(engine.recordings["input"], dtype="float32")
    assert sr == 16000
    ref = read_audio(wav)
    lag, corr = best_alignment(ref, captured)
    assert corr > 0.9, f"captured audio correlates {corr:.3f} with what was played"
    chunks = results.drain()
    labels = [lab for r in chunks for lab in r.labels]
    assert labels, "no labels came out"
    spoken = [lab for lab in labels if lab.end * sr > lag and lab.start * sr < lag + ref.size]
    assert any(lab.label != "silence" for lab in spoken), "speech spans were all gated as silence"
    s = engine.summary()
    assert s.chunks == len(chunks) and s.overflows == 0 and s.dropped == 0


def test_playback_of_separated_voice_reaches_the_speaker(tmp_path: Path) -> None:
    wav = speech_wav(tmp_path / "speech.wav", "separated voice goes out to the speaker")
    cfg = EngineConfig(
        source=str(wav),
        separate="mitas",
        play=True,
        classifiers=(),
        record_dir=str(tmp_path / "rec"),
        record="output",
        # a host buffer that survives a loaded CI machine (the lowest one underruns there)
        host_latency_ms=40.0,
    )
    raw = tmp_path / "sink.f32"
    with raw.open("wb") as out:
        rec = subprocess.Popen(
            [
                "parec",
                "-d",
                "vsink.monitor",
                "--raw",
                "--format=float32le",
                "--rate=16000",
                "--channels=1",
                "--latency-msec=10",
            ],
            stdout=out,
            env=pa_env(),
        )
        try:
            time.sleep(0.3)
            engine = Engine(cfg)
            engine.start()
            assert engine.wait(30)
            time.sleep(0.4)
            engine.stop()
        finally:
            rec.terminate()
            rec.wait(5)
    played = np.fromfile(raw, dtype=np.float32)
    emitted, _ = sf.read(engine.recordings["output"], dtype="float32")
    assert emitted.std() > 1e-3
    # the sound server resamples 16 -> 48 -> 16 kHz, which dulls the top of the band
    corr = windowed_correlation(lowpass(emitted), lowpass(played))
    assert np.median(corr) > 0.9, f"sink vs emitted output, per 200 ms window: {corr}"
    assert engine.summary().underflows <= 3


def test_the_end_of_a_file_is_not_an_underflow(tmp_path: Path) -> None:
    """A file played to its end: the output runs dry because the file ended, which is not an
    underflow. (The worker used to notice the end only after waiting 50 ms for another block
    and after labelling the tail, so every file played ended with one counted underflow; then
    it labelled the tail - a burst of computing - while the end still played, which starved
    the output's callbacks on a slower machine: [1, 1, 1] in CI, 5 of 20 files here under
    load, 0 of 20 once the end is played out first.)"""
    t = np.arange(16000) / 16000
    wav = tmp_path / "tone.wav"
    sf.write(wav, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    counts = []
    for _ in range(3):  # one underflow of a busy machine is forgiven, not one per file
        engine = Engine(EngineConfig(source=str(wav), play=True))
        results = engine.subscribe(10_000)
        engine.start()
        try:
            assert engine.wait(30)
        finally:
            engine.stop()
        assert engine.status.state == "finished" and engine.error is None
        # those counted after the last chunk of the file was played out: the end's (a callback
        # late mid-file on a busy 2-core machine - the GIL held - is counted before it, and
        # is another matter)
        last = [r for r in results.drain() if r.audio is not None][-1]
        counts.append(engine.summary().underflows - last.counters["underflows"])
    assert sum(counts) <= 1, counts


def _lag(x: np.ndarray, ref: np.ndarray) -> int:
    """Where ``ref`` starts in ``x`` (samples), by cross-correlation."""
    m = x.size + ref.size
    r = np.fft.irfft(np.fft.rfft(x, m) * np.conj(np.fft.rfft(ref, m)), m)
    return int(np.argmax(r[: x.size]))


def test_live_separation_through_the_microphone(tmp_path: Path) -> None:
    """Real held-out speech + pink noise at 0 dB played into the virtual microphone: the
    shipped MiTAS separates it live about as well as offline, and the recorded voice lags the
    recorded input by exactly the model's latency (the live path is sample-exact)."""
    import torch

    from rtaudio import models
    from rtaudio.train.metrics import si_snr

    SR = 16000
    ev = Path(__file__).parent / "data" / "eval"
    clips = [sf.read(p, dtype="float32")[0] for p in sorted(ev.glob("speech/*ktuberling_ca*"))]
    clips += [sf.read(p, dtype="float32")[0] for p in sorted(ev.glob("speech/*klettres*"))]
    speech = np.concatenate(clips)[: 8 * SR]
    noise = np.resize(sf.read(next(ev.glob("noise/*pink*")), dtype="float32")[0], speech.size)
    noise *= np.sqrt(np.mean(speech**2) / np.mean(noise**2))  # 0 dB
    gain = 0.3 / np.abs(speech + noise).max()
    speech, mix = speech * gain, (speech + noise) * gain
    pad = np.zeros(SR // 2, np.float32)
    played = np.concatenate([pad, mix, pad]).astype(np.float32)
    sf.write(tmp_path / "mix.wav", played, SR)
    cfg = EngineConfig(
        classifiers=(), separate="mitas", record_dir=str(tmp_path / "rec"), record="both"
    )
    engine = Engine(cfg)
    engine.start()
    try:
        wait_until(lambda: engine.summary().chunks > 20, 10, "audio")
        subprocess.run(["paplay", str(tmp_path / "mix.wav")], check=True, env=pa_env())
        time.sleep(0.5)
    finally:
        engine.stop()
    heard = sf.read(engine.recordings["input"], dtype="float32")[0]
    voice = sf.read(engine.recordings["output"], dtype="float32")[0]
    net = models.load(ev.parents[2] / "models" / "weights" / "mitas.safetensors", family="mitas")
    at_in, at_out = _lag(heard, played), _lag(voice, played)
    assert at_out - at_in == net.latency, (at_in, at_out, net.latency)

    def sisnr(x: np.ndarray, at: int) -> float:
        seg = torch.from_numpy(x[at + pad.size : at + pad.size + speech.size].copy())
        return float(si_snr(seg[None], torch.from_numpy(speech.astype(np.float32))[None]))

    live = sisnr(voice, at_out) - sisnr(heard, at_in)
    with torch.inference_mode():
        offline = net.eval()(torch.from_numpy(mix.astype(np.float32))[None])[0, 0].numpy()
    off = sisnr(np.concatenate([pad, offline]), 0) - sisnr(played, 0)
    # measured 8.4 dB live, 8.9 dB offline (the sound server's resampling dulls the top band)
    assert live > 6.0 and live > off - 1.5, (live, off)


def _clicks(x: np.ndarray, sr: int, threshold: float) -> list[float]:
    """Onset times (s) of clicks: samples above threshold, at least 20 ms apart."""
    idx = np.flatnonzero(np.abs(x) > threshold)
    onsets: list[float] = []
    for i in idx:
        if not onsets or i / sr - onsets[-1] > 0.02:
            onsets.append(i / sr)
    return onsets


def test_click_round_trip_latency(tmp_path: Path) -> None:
    """Speaker -> mic loop on the virtual card: the engine plays what it hears, so a click
    comes back once per round trip; the spacing is the real end-to-end latency."""
    click = np.zeros(48000, np.float32)
    click[100:110] = 0.8
    sf.write(tmp_path / "click.wav", click, 48000)
    cfg = EngineConfig(play=True, classifiers=(), record_dir=str(tmp_path), record="input")
    for _attempt in range(3):
        engine = Engine(cfg)
        engine.start()
        try:
            time.sleep(1.5)  # steady state: the start-up surplus in the playback buffer is trimmed
            before = engine.summary()
            subprocess.run(["paplay", str(tmp_path / "click.wav")], check=True, env=pa_env())
            time.sleep(0.3)
            summary = engine.summary()
        finally:
            engine.stop()
        x, sr = sf.read(engine.recordings["input"], dtype="float32")
        onsets = _clicks(x, sr, 0.2)
        measured = float(np.median(np.diff(onsets[:6]) * 1000)) if len(onsets) >= 2 else 0.0
        # the playback buffer trimmed or starved while the click went round (the documented
        # trade for low latency: samples are dropped) can take the click out, and each output
        # underrun before it lengthens the loop (a busy machine: 445 ms once, with the engine
        # estimating 298): measure again with a new engine
        disturbed = {
            k: (getattr(before, k), getattr(summary, k))
            for k in ("trimmed_ms", "underflows", "overflows", "dropped")
            if getattr(summary, k) != getattr(before, k)
        }
        if summary.underflows:
            disturbed["underflows since the start"] = (0, summary.underflows)
        if (len(onsets) >= 2 and measured < 250) or not disturbed:
            break
    assert len(onsets) >= 2, f"the click did not come back (onsets {onsets}; {disturbed})"
    report = {
        "measured_round_trip_ms": round(measured, 2),
        "engine_estimate_ms": summary.end_to_end_ms,
        "algorithmic_ms": summary.algorithmic_ms,
    }
    print(report)
    assert 5 < measured < 250, report
    assert summary.end_to_end_ms is not None and summary.end_to_end_ms > summary.algorithmic_ms
    # `rtaudio bench loopback` times one chirp per pass (the pass-through muted) and must
    # find the same round trip as the click going round and round
    for _attempt in range(2):  # again after a run the machine disturbed (output underruns)
        out = subprocess.run(
            [EXE, "bench", "loopback", "--json", "--chirps", "4"],
            capture_output=True,
            text=True,
            timeout=60,
            env=pa_env(),
        )
        bench = json.loads(out.stdout) if out.returncode == 0 else {}
        if out.returncode == 0 and (bench["returned"] == 4 or not bench["underflows"]):
            break
    assert out.returncode == 0, out.stderr
    assert bench["returned"] == 4, bench
    # (two engines, seconds apart: an output underrun in between moves the loop by up to a
    # chunk or so, measured 44 vs 52 ms once)
    assert abs(bench["measured_ms"]["median"] - measured) < 15, (json.dumps(bench), report)
    # PortAudio's timestamps on the virtual card miss a few ms (measured: 4.5 ms)
    assert -5 < bench["measured_ms"]["median"] - bench["estimate_ms"] < 30, bench


def test_loopback_bench_says_when_nothing_comes_back() -> None:
    """The output goes to a sink nobody records: no chirp returns, one line, exit status 1."""
    load = subprocess.run(
        ["pactl", "load-module", "module-null-sink", "sink_name=rtaudio_nowhere"],
        capture_output=True,
        text=True,
        env=pa_env(),
        check=True,
    )
    try:
        out = subprocess.run(
            [EXE, "bench", "loopback", "--chirps", "2", "--longest-ms", "300"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**pa_env(), "PULSE_SINK": "rtaudio_nowhere"},
        )
    finally:
        subprocess.run(["pactl", "unload-module", load.stdout.strip()], env=pa_env(), check=True)
    assert out.returncode == 1, out.stderr
    assert (
        "none of the 2 chirps came back within 0.3 s: connect the output to the input" in out.stderr
    )
    assert "(or the loop is longer: --longest-ms)" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("chunk", [16, 160, 320])
def test_round_trip_measurement_finds_each_chirp_where_the_loop_put_it(chunk: int) -> None:
    """``RoundTrip`` fed by a simulated loop (output back into the input ``delay`` samples
    later, plus noise): every chirp is found at exactly that delay, whatever the chunk size;
    a loop that returns nothing measures nothing; the estimate is that of the chunk that
    played the chirp's first sample."""
    from rtaudio.bench_loopback import RoundTrip

    rng = np.random.default_rng(0)
    for delay, gain in ((817, 0.3), (0, 0.0)):
        rt = RoundTrip(chirps=3, spacing_s=0.1, extra_ms=1.9375)  # MiTAS's window
        played = np.zeros(200_000, np.float32)
        first = start = chunk * (1 + 1000 // chunk)  # the stream has run for a while
        while not rt.done:
            played[start : start + chunk] = rt.output(start, chunk)
            heard = gain * played[start - delay : start - delay + chunk]
            heard = heard + 0.01 * rng.standard_normal(chunk).astype(np.float32)
            rt.input(start, heard, estimate_ms=start / 16.0)
            start += chunk
        report = rt.report()
        if gain:
            assert rt.measured == [pytest.approx(delay / 16.0 + 1.9375)] * 3
            firsts = [first + k * 1600 for k in range(3)]  # chirps 0.1 s apart
            expected = [(p - p % chunk) / 16.0 for p in firsts]
            assert rt.estimates == pytest.approx(expected)
            assert report["returned"] == 3
            assert report["measured_ms"]["median"] == pytest.approx(delay / 16.0 + 1.9375)
        else:
            assert rt.measured == [None] * 3 and report["measured_ms"] is None


def test_round_trips_longer_than_the_default_window_are_found_with_a_wider_one() -> None:
    """A 0.8 s loop (Bluetooth with big buffers): the default 0.6 s window cannot hold it,
    one of 1 s finds every chirp."""
    from rtaudio.bench_loopback import SPACING_S, RoundTrip, summary_line

    delay, chunk = 12_800, 160
    rng = np.random.default_rng(1)
    found = {}
    for spacing in (SPACING_S, 1.0):
        rt = RoundTrip(chirps=3, spacing_s=spacing)
        played = np.zeros(200_000, np.float32)
        start = 16_000
        while not rt.done:
            played[start : start + chunk] = rt.output(start, chunk)
            heard = 0.3 * played[start - delay : start - delay + chunk]
            rt.input(start, heard + 0.01 * rng.standard_normal(chunk).astype(np.float32), None)
            start += chunk
        found[spacing] = rt.report()
    assert found[1.0]["returned"] == 3
    assert found[1.0]["measured_ms"]["median"] == pytest.approx(800.0)
    assert found[SPACING_S]["measured_ms"] is None or found[SPACING_S]["measured_ms"]["median"] != (
        pytest.approx(800.0)
    )
    assert found[1.0]["window_s"] == 1.0
    assert "within 1 s" in summary_line({**found[1.0], "measured_ms": None})
    with pytest.raises(ValueError, match="spacing"):
        RoundTrip(spacing_s=10.0)


def test_host_latency_setting_reaches_the_streams() -> None:
    """``host_latency_ms`` sizes PortAudio's buffers: the streams report it and the engine's
    end-to-end estimate grows with it."""
    seen = {}
    for ms in (0.0, 120.0):
        engine = Engine(EngineConfig(play=True, classifiers=(), host_latency_ms=ms))
        engine.start()
        try:
            time.sleep(0.8)
            assert engine._playback is not None and engine._input is not None
            seen[ms] = (engine._playback.latency_s, engine.summary().end_to_end_ms)
        finally:
            engine.stop()
    assert seen[0.0][0] < 0.06 <= seen[120.0][0], seen
    assert seen[0.0][1] is not None and seen[120.0][1] is not None
    assert seen[120.0][1] - seen[0.0][1] > 40, seen


def test_clean_shutdown_leaves_no_threads_or_streams(tmp_path: Path) -> None:
    before = {t.name for t in threading.enumerate()}
    engine = Engine(EngineConfig(play=True, classifiers=("swishnet",)))
    engine.start()
    time.sleep(0.3)
    engine.stop()
    engine.stop()  # idempotent
    alive = {t.name for t in threading.enumerate() if t.name.startswith("rtaudio")} - before
    assert not alive
    assert engine._input is not None and not engine._input.alive()
    assert engine.status.state == "stopped"


# --------------------------------------------------------------- device faults (issue 7)


def _wav_is_consistent(path: Path) -> int:
    """Frames of a 16-bit mono WAV, read with the strict stdlib reader; the header must
    account for every byte of the file (what a crash-safe writer promises)."""
    with wave.open(str(path)) as w:
        frames = w.getnframes()
        assert w.getframerate() == 16000 and w.getsampwidth() == 2
    assert path.stat().st_size == 44 + 2 * frames
    return frames


def test_input_device_vanishes_and_comes_back(private_card: PrivateCard, tmp_path: Path) -> None:
    engine = Engine(EngineConfig(classifiers=(), record_dir=str(tmp_path), record="input"))
    engine.start()
    try:
        wait_until(lambda: engine.summary().chunks > 30, 10, "audio from the virtual mic")
        private_card.pactl("unload-module", private_card.module("module-null-sink"))  # unplug
        wait_until(lambda: engine.status.state == "reconnecting", 10, "the loss to be noticed")
        assert "input device lost" in engine.status.message
        before = engine.summary().chunks
        wav = engine.recordings["input"]
        frames_at_loss = _wav_is_consistent(wav)  # a valid WAV while the engine is down
        assert frames_at_loss >= 30 * 160
        time.sleep(1.5)  # retries fail while the device is gone; nothing crashes
        assert engine.status.state == "reconnecting" and engine.error is None
        assert "retry" in engine.status.message
        private_card.plug_back()
        wait_until(lambda: engine.status.state == "running", 15, "the device to be reopened")
        assert "back after" in engine.status.message
        wait_until(lambda: engine.summary().chunks > before + 30, 10, "audio after the return")
    finally:
        engine.stop()
    assert engine.reconnects == 1 and engine.error is None
    assert _wav_is_consistent(wav) > frames_at_loss  # one recording across the gap


def test_input_can_be_switched_while_running(private_card: PrivateCard) -> None:
    engine = Engine(EngineConfig(classifiers=(), input_device="default"))
    engine.start()
    try:
        wait_until(lambda: engine.summary().chunks > 10, 10, "audio")
        engine.switch_input("no-such-device")
        wait_until(lambda: "cannot switch input" in engine.status.message, 5, "the refusal")
        n = engine.summary().chunks
        wait_until(lambda: engine.summary().chunks > n + 10, 5, "audio from the old device")
        engine.switch_input("pulse")
        switched = "input switched to 'pulse (vmic)'"
        wait_until(lambda: switched in engine.status.message, 5, "the switch")
        n = engine.summary().chunks
        wait_until(lambda: engine.summary().chunks > n + 10, 5, "audio from the new device")
        assert engine.status.input_name == "pulse (vmic)"
    finally:
        engine.stop()


def test_a_picked_channel_is_kept_across_an_input_switch(
    private_card: PrivateCard, tmp_path: Path
) -> None:
    """``input_channel=2`` on one device, then another: still channel 2 alone (speech left,
    a tone right, played to the card after the switch)."""
    speech = read_audio(speech_wav(tmp_path / "speech.wav"))
    tone = (0.3 * np.sin(2 * np.pi * 1000 * np.arange(speech.size) / 16000)).astype(np.float32)
    sf.write(tmp_path / "stereo.wav", np.stack((speech, tone), 1), 16000)
    cfg = EngineConfig(
        classifiers=(),
        input_device="default",
        input_channel=2,
        record_dir=str(tmp_path / "rec"),
        record="input",
    )
    engine = Engine(cfg)
    engine.start()
    try:
        wait_until(lambda: engine.summary().chunks > 10, 10, "audio")
        engine.switch_input("pulse")
        switched = "input switched to 'pulse (vmic)'"
        wait_until(lambda: switched in engine.status.message, 5, "the switch")
        subprocess.run(["paplay", str(tmp_path / "stereo.wav")], check=True, env=pa_env())
        time.sleep(0.3)
    finally:
        engine.stop()
    heard = read_audio(engine.recordings["input"])
    assert best_alignment(tone, heard)[1] > 0.9
    assert abs(best_alignment(speech, heard)[1]) < 0.2


def test_output_can_be_switched_while_running(private_card: PrivateCard) -> None:
    engine = Engine(
        EngineConfig(classifiers=(), play=True, output_device="default", host_latency_ms=40)
    )
    engine.start()
    try:
        wait_until(lambda: engine.summary().chunks > 10, 10, "audio")
        engine.switch_output("no-such-device")
        wait_until(lambda: "cannot switch output" in engine.status.message, 5, "the refusal")
        assert engine.status.output_name == "default (vsink)"
        engine.switch_output("pulse")
        wait_until(
            lambda: "output switched to 'pulse (vsink)'" in engine.status.message, 5, "the switch"
        )
        pb = engine._playback
        assert pb is not None and pb.device.name == "pulse" and pb.alive()
        n = engine.summary().chunks
        wait_until(lambda: engine.summary().chunks > n + 10, 5, "audio after the switch")
        assert pb.alive() and engine.status.output_name == "pulse (vsink)"
    finally:
        engine.stop()
    with pytest.raises(ConfigError, match="play"):
        Engine(EngineConfig(classifiers=())).switch_output("pulse")


def test_no_sound_server_is_a_clear_message(capsys: pytest.CaptureFixture[str]) -> None:
    from rtaudio.cli import main

    old = os.environ.get("PULSE_SERVER")
    os.environ["PULSE_SERVER"] = "unix:/nonexistent/rtaudio/native"
    try:
        devices.refresh()
        assert main(["devices"]) == 1
        assert "no audio devices found" in capsys.readouterr().err
        assert main(["monitor", "--duration", "1"]) == 2
        err = capsys.readouterr().err
        assert "no audio input devices found (is a sound server running?)" in err
        assert "Traceback" not in err
    finally:
        if old is None:
            os.environ.pop("PULSE_SERVER", None)
        else:
            os.environ["PULSE_SERVER"] = old
        devices.refresh()


def test_device_refusing_the_channels_or_rate(tmp_path: Path) -> None:
    import sounddevice as sd

    from rtaudio.engine import _open_stream

    with pytest.raises(DeviceError, match=r"has \d+ channels, 64 requested"):
        Engine(EngineConfig(classifiers=(), input_channels=64)).prepare()
    with pytest.raises(DeviceError, match=r"has \d+ channels, channel 64 requested"):
        Engine(EngineConfig(classifiers=(), input_channel=64)).prepare()
    dev = resolve(None, "input")  # the sound server accepts up to 384 kHz, config's maximum
    with pytest.raises(DeviceError, match=r"cannot open input .* at 400000 Hz x 1"):
        _open_stream(sd, "input", dev, 1, 400000, 0, lambda *a: None)


def test_output_underflow_is_counted_and_shown(tmp_path: Path) -> None:
    """A model too slow for real time: the output runs dry, the engine counts and shows it
    and goes on."""
    from io import StringIO

    from rtaudio.classify import Tagger
    from rtaudio.monitor import TerminalView

    class Slow(Tagger):
        def __init__(self) -> None:
            super().__init__("slow", ("x",), 10.0, 0.0, 100.0, silence_db=-120.0)

        def update(self, audio: object) -> list:
            time.sleep(0.02)
            return []

    wav = speech_wav(tmp_path / "speech.wav", "slow model")
    engine = Engine(EngineConfig(source=str(wav), classifiers=(), play=True, max_backlog_ms=60))
    engine.prepare()
    assert engine.processor is not None
    engine.processor.taggers.append(Slow())
    engine.start()
    try:
        assert engine.wait(30)
    finally:
        engine.stop()
    s = engine.summary()
    assert s.underflows > 0 and s.dropped > 0 and engine.error is None
    assert engine.status.state == "finished"
    shown = TerminalView(engine, StringIO()).render(s)
    assert f"underflows {s.underflows}" in shown and f"dropped {s.dropped}" in shown


def test_cut_crossfaded_keeps_the_start_and_has_no_jump() -> None:
    x = np.sin(np.arange(2000) * 0.05).astype(np.float32)
    y = cut_crossfaded(x, 300, 96)
    assert y.size == x.size - 300 and y.dtype == x.dtype
    assert y[0] == x[0]  # continuous with what was queued before
    np.testing.assert_array_equal(y[96:], x[396:])
    assert np.abs(np.diff(y)).max() <= 2 * np.abs(np.diff(x)).max()
    np.testing.assert_array_equal(cut_crossfaded(x, 0, 96), x)


@pytest.mark.parametrize("trim", [True, False])
def test_playback_trims_audio_that_piles_up_beyond_the_jitter_buffer(trim: bool) -> None:
    """A standing surplus in the playback ring (say from a start-up burst) is removed, a
    level within the jitter buffer is left alone, and ``trim_playback=False`` keeps it all."""
    cfg = EngineConfig(play=True, output_rate=16000, trim_playback=trim, playback_buffer_ms=20)
    pb = _Playback(cfg)  # never opened: the test plays the device's part
    chunk = np.zeros(160, np.float32)  # 10 ms
    pb.ring.write(np.zeros((pb.prefill + 1600, 1), np.float32))  # 100 ms over the buffer
    pb.primed = True
    levels = []
    for _ in range(600):  # 6 s: the device reads exactly what is written
        before = pb.trimmed
        pb.write(chunk)
        assert pb.trimmed - before <= 80  # at most half a chunk goes per chunk
        pb.ring.skip(160)
        levels.append(pb.ring.available())
    if trim:
        assert 1568 <= pb.trimmed <= 1600, pb.trimmed  # all but the 2 ms tolerance
        assert levels[-1] - pb.prefill <= 32, levels[-1]
        settled = pb.trimmed
        for _ in range(300):  # at the buffer: nothing more goes
            pb.write(chunk)
            pb.ring.skip(160)
        assert pb.trimmed == settled
    else:
        assert pb.trimmed == 0 and levels[-1] == pb.prefill + 1600


def test_a_microphone_driven_to_full_scale_is_counted(tmp_path: Path) -> None:
    """Through PortAudio: a tone driven into clipping (flat tops at full scale), then the same
    tone 6 dB below full scale."""
    t = np.arange(24000) / 48000
    hot = np.clip(1.5 * np.sin(2 * np.pi * 440 * t), -1.0, 1.0).astype(np.float32)
    sf.write(tmp_path / "hot.wav", hot, 48000, subtype="PCM_16")
    sf.write(tmp_path / "cool.wav", 0.5 * hot, 48000, subtype="PCM_16")
    counts = []
    for name in ("cool.wav", "hot.wav"):
        engine = Engine(EngineConfig(classifiers=()))
        engine.start()
        try:
            time.sleep(0.2)
            subprocess.run(["paplay", str(tmp_path / name)], check=True, env=pa_env())
            time.sleep(0.3)
        finally:
            engine.stop()
        counts.append(engine.clipped)
    assert counts[0] == 0
    # 0.5 s of a 440 Hz tone at 1.5 x full scale: a third of each period flat at full scale
    assert counts[1] > 0.2 * 0.5 * engine.status.input_rate, counts


def test_nan_and_inf_from_the_device_become_silence_not_poison(tmp_path: Path) -> None:
    """A faulty driver's NaN / inf samples (injected where PortAudio hands blocks over: the
    virtual card itself never produces them) are counted and replaced with silence, and the
    separator and classifiers go on giving finite results on the speech that follows."""
    wav = speech_wav(tmp_path / "speech.wav")
    engine = Engine(EngineConfig(separate="mitas", classifiers=("swishnet",)))
    results = engine.subscribe(100_000)
    engine.start()
    try:
        time.sleep(0.3)
        inp = engine._input
        assert inp is not None
        bad = np.full((inp.rate // 100, inp.channels), np.nan, np.float32)
        bad[::7] = np.inf
        bad[1::7] = -np.inf
        t = SimpleNamespace(inputBufferAdcTime=0.0, currentTime=0.0)
        inp._callback(inp._token, bad, bad.shape[0], t, None)  # as PortAudio would call it
        subprocess.run(["paplay", str(wav)], check=True, env=pa_env())
        time.sleep(0.5)
        assert engine.status.state == "running"
    finally:
        engine.stop()
    assert engine.nonfinite == bad.size
    chunks = results.drain()
    assert chunks[-1].counters["nonfinite"] == bad.size
    voice = np.concatenate([r.voice for r in chunks if r.voice is not None])
    assert np.isfinite(voice).all() and np.abs(voice).max() > 0.01  # the speech came through
    scores = [v for r in chunks for lab in r.labels for v in lab.scores.values()]
    assert scores and np.isfinite(scores).all()


def test_a_late_output_callback_is_an_underflow(tmp_path: Path) -> None:
    """When the output callback comes too late (here: the GIL held for 300 ms by another
    thread), the host's buffer runs dry although the engine's ring still holds audio; the
    host says so in the callback's status, and that is an underflow the user hears."""
    t = np.arange(4 * 16000) / 16000
    wav = tmp_path / "tone.wav"
    sf.write(wav, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    engine = Engine(EngineConfig(source=str(wav), classifiers=(), play=True))
    engine.start()
    before = -1
    try:
        time.sleep(1.0)  # playing: primed
        before = engine.summary().underflows
        interval = sys.getswitchinterval()
        sys.setswitchinterval(5.0)  # no other Python thread runs until this one waits
        try:
            end = time.perf_counter() + 0.3
            while time.perf_counter() < end:
                pass
        finally:
            sys.setswitchinterval(interval)
        time.sleep(0.5)
    finally:
        engine.stop()
    assert engine.summary().underflows > before >= 0
