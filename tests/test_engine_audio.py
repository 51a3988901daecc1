"""The engine against real PortAudio streams on the virtual sound card (no mocks)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio_server import pa_env
from rtaudio.audiofile import read_audio
from rtaudio.config import EngineConfig
from rtaudio.devices import DeviceError, list_devices, resolve
from rtaudio.engine import Engine

pytestmark = pytest.mark.usefixtures("sound_card")


def speech_wav(path: Path, text: str = "the quick brown fox jumps over the lazy dog") -> Path:
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(path), text], check=True)
    return path


def best_alignment(ref: np.ndarray, rec: np.ndarray) -> tuple[int, float]:
    """(lag of ``ref`` inside ``rec``, normalised correlation of the aligned overlap)."""
    n = 1 << int(np.ceil(np.log2(ref.size + rec.size)))
    xc = np.fft.irfft(np.fft.rfft(rec, n) * np.conj(np.fft.rfft(ref, n)), n)
    lag = int(np.argmax(xc[: rec.size]))
    seg = rec[lag : lag + ref.size]
    r = ref[: seg.size]
    corr = float(np.dot(seg, r) / (np.linalg.norm(seg) * np.linalg.norm(r) + 1e-12))
    return lag, corr


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
    engine = Engine(cfg)
    engine.start()
    try:
        time.sleep(0.5)
        subprocess.run(["paplay", str(tmp_path / "click.wav")], check=True, env=pa_env())
        time.sleep(0.3)
        summary = engine.summary()
    finally:
        engine.stop()
    x, sr = sf.read(engine.recordings["input"], dtype="float32")
    onsets = _clicks(x, sr, 0.2)
    assert len(onsets) >= 2, f"the click did not come back (onsets {onsets})"
    gaps = np.diff(onsets[:6]) * 1000
    measured = float(np.median(gaps))
    report = {
        "measured_round_trip_ms": round(measured, 2),
        "engine_estimate_ms": summary.end_to_end_ms,
        "algorithmic_ms": summary.algorithmic_ms,
    }
    (Path(__file__).parent / ".." / ".e2e_latency.json").resolve().write_text(json.dumps(report))
    print(report)
    assert 5 < measured < 250, report
    assert summary.end_to_end_ms is not None and summary.end_to_end_ms > summary.algorithmic_ms


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
