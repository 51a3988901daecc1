"""The engine's live controls (used by the GUI while the engine runs): recording on / off,
what is played (input / separated / muted), re-enrolling the target speaker."""

from __future__ import annotations

import itertools
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from engine_runs import run_to_end

from rtaudio.audiofile import read_audio
from rtaudio.config import ConfigError, EngineConfig
from rtaudio.engine import Engine
from rtaudio.results import ChunkResult


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 2.5 s of speech, 16 kHz."""
    d = tmp_path_factory.mktemp("controls")
    raw = d / "raw.wav"
    subprocess.run(
        ["espeak-ng", "-s", "160", "-w", str(raw), "recording starts and stops while running"],
        check=True,
    )
    out = d / "speech.wav"
    sf.write(out, read_audio(raw), 16000)
    return out


def _wait(cond: object, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_recording_starts_and_stops_while_running(speech: Path, tmp_path: Path) -> None:
    engine = Engine(EngineConfig(source=str(speech), classifiers=()))
    results = engine.subscribe(10_000)
    engine.start()
    try:
        time.sleep(0.4)
        assert not engine.recording
        paths = engine.start_recording(tmp_path / "rec", "both")
        assert set(paths) == {"input"}  # no separated voice without separation
        assert engine.recording
        time.sleep(0.8)
        closed = engine.stop_recording()
        assert closed == paths and not engine.recording
        assert engine.stop_recording() == {}  # idempotent
        second = engine.start_recording(tmp_path / "rec", "input")
        assert second["input"] != paths["input"]  # a new file, even within the same second
        assert engine.wait(10)
    finally:
        engine.stop()
    x, sr = sf.read(paths["input"], dtype="float32")
    assert sr == 16000 and 0.5 < x.size / sr < 1.2
    # what was recorded is the stretch of input processed while recording was on
    ref = read_audio(speech)
    chunks = results.drain()
    audio = np.concatenate([r.audio for r in chunks if r.audio is not None])[: ref.size]
    np.testing.assert_allclose(audio, ref[: audio.size], atol=1e-6)  # results carry the input
    starts = range(0, ref.size - x.size + 1, 160)  # chunk boundaries; 1e-4: PCM_16 rounding
    assert any(np.allclose(ref[i : i + x.size], x, atol=1e-4) for i in starts), (
        "the recording is not a stretch of the input"
    )
    y, _ = sf.read(second["input"], dtype="float32")
    assert y.size > 0  # the second recording ran to the end of the file and was closed


def test_a_recording_gets_label_tracks_in_its_own_time(speech: Path, tmp_path: Path) -> None:
    """Beside the WAVs, each classifier's labels as an Audacity label track whose 0 is the
    recording's first sample: the spans the engine published, shifted by the recording's start
    in the stream, runs merged; a file the user has is never written over."""
    src = tmp_path / "speech_and_silence.wav"
    x = read_audio(speech)
    sf.write(src, np.concatenate([x, np.zeros(16000, np.float32), x]), 16000)
    rec = tmp_path / "rec"
    rec.mkdir()
    engine = Engine(EngineConfig(source=str(src), classifiers=("swishnet",)))
    results = engine.subscribe(10_000)
    engine.start()
    try:
        time.sleep(0.5)
        engine.start_recording(rec, "input")
        track = engine.label_tracks["swishnet"]
        assert track.name.endswith("-swishnet.txt") and track.parent == rec
        assert engine.wait(20)  # to the end of the file: the recording holds the rest
    finally:
        engine.stop()
    wav = engine.recordings["input"]
    y, _ = sf.read(wav, dtype="float32")
    full = read_audio(src)
    head = y[:8000]  # where in the stream the recording starts (a chunk boundary)
    starts = range(0, full.size - head.size + 1, 160)
    (i0,) = [i for i in starts if np.allclose(full[i : i + head.size], head, atol=1e-4)][:1]
    t0 = i0 / 16000
    spans = [line.split("\t") for line in track.read_text().splitlines()]
    spans = [(float(a), float(b), lab) for a, b, lab in spans]
    # from the recording's first sample to its last: the labels the file's end brought too
    end = pytest.approx(y.size / 16000, abs=0.01)  # (the recording: whole chunks)
    assert spans and spans[0][0] == 0.0 and spans[-1][1] == end
    assert all(s[1] <= t[0] + 1e-6 and s[2] != t[2] for s, t in itertools.pairwise(spans))
    assert {lab for *_, lab in spans} >= {"speech", "silence"}  # the gap between the two
    published = [lab for r in results.drain() for lab in r.labels if lab.end > t0]
    for lab in published:  # each published span is inside a track span of the same label
        a, b = max(0.0, lab.start - t0), lab.end - t0
        assert any(s - 1e-6 <= a and b <= e + 1e-6 and lab.label == w for s, e, w in spans)
    # a second recording in the same second keeps the first one's track
    before = track.read_text()
    engine2 = Engine(EngineConfig(source=str(speech), classifiers=("swishnet",)))
    engine2.start()
    try:
        engine2.start_recording(rec, "input")
        assert engine2.label_tracks["swishnet"] != track
        assert engine2.wait(20)
    finally:
        engine2.stop()
    assert track.read_text() == before


def test_recording_rejects_bad_kind(tmp_path: Path) -> None:
    engine = Engine(EngineConfig(source="x.wav"))
    with pytest.raises(ConfigError, match="record"):
        engine.start_recording(tmp_path, "everything")
    with pytest.raises(ConfigError, match="monitor"):
        engine.set_monitor("speakers")


def test_live_reenrollment_from_input_and_from_a_clip(speech: Path, tmp_path: Path) -> None:
    # 1 s of silence, then speech: a live enrollment of the first 0.5 s must fail (silent)
    # and keep the clip's target; a later one succeeds
    audio = np.concatenate((np.zeros(16000, np.float32), read_audio(speech)))
    src = tmp_path / "silence_then_speech.wav"
    sf.write(src, audio, 16000)
    kept = tmp_path / "kept.wav"
    kept.write_bytes(b"the user's own file")  # an enrollment kept later must not replace it
    cfg = EngineConfig(
        source=str(src),
        separate="tsenet",
        enroll=str(speech),
        enroll_save=str(kept),
        classifiers=(),
    )
    engine = Engine(cfg)
    results = engine.subscribe(10_000)
    engine.start()
    try:
        assert engine.status.state == "running"
        engine.request_enrollment(seconds=0.5)
        _wait(lambda: engine.enrollment is not None)
        assert engine.status.state == "enrolling"
        _wait(lambda: "enrollment failed" in engine.status.message)
        assert "silent" in engine.status.message and engine.status.state == "running"
        time.sleep(0.8)  # now in the speech
        engine.request_enrollment(seconds=0.5)
        _wait(lambda: "enrolled from 0.5 s of input" in engine.status.message)
        assert engine.enrollment is None
        second = tmp_path / "kept-2.wav"
        assert engine.enrollment_saved == second and f"saved as {second}" in engine.status.message
        engine.request_enrollment(audio=read_audio(speech))
        _wait(lambda: "enrolled from the enrollment clip" in engine.status.message)
        with pytest.raises(ConfigError, match="silent"):
            engine.request_enrollment(audio=np.zeros(16000, np.float32))
        with pytest.raises(ConfigError, match="seconds"):
            engine.request_enrollment(seconds=0)
        assert engine.wait(10)
    finally:
        engine.stop()
    assert engine.status.state == "finished" and engine.error is None
    assert all(r.separated for r in results.drain())  # separation never stopped
    # only the successful enrollment from the input was kept (not the failed one, not the clip)
    assert kept.read_bytes() == b"the user's own file"
    assert sorted(p.name for p in tmp_path.glob("kept*")) == ["kept-2.wav", "kept.wav"]
    saved, rate = sf.read(second, dtype="float32")
    assert rate == 16000 and saved.size == 8000
    at = int(np.argmax(np.correlate(audio, saved, "valid")))  # where in the input it was taken
    assert at >= 16000  # after the silence
    np.testing.assert_allclose(saved, audio[at : at + 8000], atol=1 / 32768 + 1e-6)


def test_the_round_trip_needs_playback_and_a_live_input() -> None:
    with pytest.raises(ConfigError, match="needs playback"):
        Engine(EngineConfig()).measure_round_trip()
    with pytest.raises(ConfigError, match="needs a live input"):
        Engine(EngineConfig(source="x.wav", play=True)).measure_round_trip()


def test_enrollment_needs_tsenet() -> None:
    engine = Engine(EngineConfig(source="x.wav", separate="mitas"))
    with pytest.raises(ConfigError, match="tsenet"):
        engine.request_enrollment(seconds=1.0)


@pytest.mark.usefixtures("sound_card")
def test_what_is_played_switches_while_running(speech: Path, tmp_path: Path) -> None:
    twice = tmp_path / "twice.wav"  # long enough for every switch
    sf.write(twice, np.tile(read_audio(speech), 2), 16000)
    engine = Engine(EngineConfig(source=str(twice), separate="mitas", play=True, classifiers=()))
    results = engine.subscribe(10_000)
    seen: list[str] = []
    engine.start()
    try:
        for what in ("input", "separated", "removed"):
            time.sleep(0.3)
            engine.set_monitor(what)
            time.sleep(0.3)
            engine.muted = True
            time.sleep(0.3)
            engine.muted = False
        assert engine.wait(10)
    finally:
        engine.stop()
    for r in results.drain():
        if not seen or seen[-1] != r.played:
            seen.append(r.played)
    assert seen == [
        "separated",
        *("input", "muted", "input"),
        *("separated", "muted", "separated"),
        *("removed", "muted", "removed"),
    ]
    assert not [t for t in threading.enumerate() if t.name.startswith("rtaudio")]


def _run_file(path: Path) -> tuple[Engine, list[ChunkResult]]:
    """The engine over a whole file, as fast as it goes: (engine, every chunk's result)."""
    engine = Engine(EngineConfig(source=str(path), realtime=False, classifiers=()))
    channel = engine.results.subscribe(10_000)
    engine.start()
    try:
        assert engine.wait(10)
    finally:
        engine.stop()
    return engine, channel.drain()


def test_a_file_that_breaks_while_playing_is_an_error(speech: Path, tmp_path: Path) -> None:
    x = read_audio(speech)
    x[8000:8100] = np.nan
    broken = tmp_path / "broken.wav"
    sf.write(broken, x, 16000, subtype="FLOAT")
    engine, _ = _run_file(broken)
    assert engine.status.state == "error" and "NaN" in engine.status.message


def test_clipped_input_samples_are_counted_per_channel(tmp_path: Path) -> None:
    """A microphone driven into full scale is counted on the samples as they came (any
    channel), not after the mixdown, which would hide one clipped channel of two."""
    rng = np.random.default_rng(0)
    left = (0.3 * rng.standard_normal(44100)).clip(-0.9, 0.9).astype(np.float32)
    right = 0.1 * left
    left[1000:1037] = 1.0  # 37 clipped samples, only on the left channel
    left[30000:30005] = -1.0
    path = tmp_path / "clipped.wav"
    sf.write(path, np.stack([left, right], 1), 44100, subtype="FLOAT")
    engine, results = _run_file(path)
    assert engine.status.state == "finished"
    assert engine.clipped == 42
    assert results[-1].counters["clipped"] == 42
    counts = [r.counters["clipped"] for r in results]
    assert counts == sorted(counts) and set(counts) <= {0, 37, 42}  # as the audio arrives
    clean = tmp_path / "clean.wav"
    sf.write(clean, np.stack([0.9 * left, right], 1), 44100, subtype="FLOAT")
    engine, _ = _run_file(clean)
    assert engine.clipped == 0


def test_a_file_read_as_fast_as_it_is_consumed_gives_the_same_results_every_run(
    speech: Path,
) -> None:
    """ESResNet runs in a thread of its own only in real time; a file read as fast as it is
    consumed labels inline, so which chunk carries which label does not depend on timing (it
    did: 426 or 427 results for the same file, the last label landing before or after the
    file's end)."""
    runs = []
    for _ in range(3):
        engine, results = run_to_end(EngineConfig(source=str(speech), realtime=False))
        assert engine.processor is not None
        assert not any(getattr(t, "background", False) for t in engine.processor.taggers)
        runs.append(
            [(r.index, tuple((x.model, x.label, x.start) for x in r.labels)) for r in results]
        )
    assert runs[0] == runs[1] == runs[2]
    live = Engine(EngineConfig(source=str(speech)))
    live.prepare()
    assert live.processor is not None
    assert any(getattr(t, "background", False) for t in live.processor.taggers)
    live.processor.close()
