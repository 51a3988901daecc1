"""The GUI's view models and settings: engine results in, what the widgets draw out (no window)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QSettings

from rtaudio.config import ConfigError
from rtaudio.gui.settings import GuiSettings, open_settings
from rtaudio.gui.viewmodels import (
    LabelsModel,
    LatencyModel,
    Ring,
    SpectrogramModel,
    WaveformModel,
    countdown_text,
)
from rtaudio.latency import LatencySummary
from rtaudio.levels import LevelModel
from rtaudio.results import ChunkResult, Label, LatencyRecord

CHUNK = 160


def label(
    model: str, k: int, name: str, hop: float = 0.1, la: float = 0.2, **scores: float
) -> Label:
    start, end = k * hop, (k + 1) * hop
    return Label(model, start, end, name, dict(scores), la, (end + la - 1.0, end + la), end + la)


def result(
    i: int,
    labels: tuple[Label, ...] = (),
    proc_ms: float = 1.0,
    backlog: int = 0,
    audio: np.ndarray | None = None,
    voice: np.ndarray | None = None,
    counters: dict[str, int] | None = None,
    voice_spectrogram: np.ndarray | None = None,
) -> ChunkResult:
    rec = LatencyRecord(i, 0.0, 0.0, 0.1, {}, proc_ms, 0.0, None, 10.0, None, backlog)
    return ChunkResult(
        index=i,
        start=i * 0.01,
        end=(i + 1) * 0.01,
        level_db=-20.0,
        silent=False,
        spectrogram=np.full((1, 40), float(i), np.float32),
        labels=labels,
        latency=rec,
        separated=voice is not None,
        counters=counters or {"overflows": 0, "underflows": 0, "dropped": 0},
        audio=np.full(CHUNK, 0.001 * i, np.float32) if audio is None else audio,
        voice=voice,
        voice_spectrogram=voice_spectrogram,
    )


def summary(p95: float, chunks: int = 100, trimmed_ms: float = 0.0) -> LatencySummary:
    return LatencySummary(chunks, 1.0, p95, p95, p95, 0.0, 10.0, None, 0, 0, 0, trimmed_ms)


def test_ring_keeps_the_newest_rows_in_order() -> None:
    r = Ring(5)
    r.push(np.arange(3, dtype=np.float32))
    np.testing.assert_array_equal(r.ordered(), [0, 0, 0, 1, 2])
    r.push(np.arange(3, 7, dtype=np.float32))
    np.testing.assert_array_equal(r.ordered(), [2, 3, 4, 5, 6])
    r.push(np.arange(10, 20, dtype=np.float32))  # longer than the ring
    np.testing.assert_array_equal(r.ordered(), [15, 16, 17, 18, 19])
    assert r.total == 17
    r.push(np.array([20, 21], np.float32))  # the write position mid-ring
    for n in (1, 3, 5, 9):
        np.testing.assert_array_equal(r.newest(n), r.ordered()[-min(n, 5) :])


def test_voice_against_input_level_over_the_last_second() -> None:
    rng = np.random.default_rng(0)
    wf = WaveformModel(seconds=2.0, buckets=100)
    x = [(0.1 * rng.standard_normal(CHUNK)).astype(np.float32) for _ in range(200)]
    wf.update([result(i, audio=c) for i, c in enumerate(x)])
    assert wf.voice_vs_input_db() is None  # nothing separated
    quiet = [c * 0.25 for c in x]  # a quarter of the amplitude: -12 dB
    wf.update(
        [result(200 + i, audio=c, voice=q) for i, (c, q) in enumerate(zip(x, quiet, strict=True))]
    )
    assert wf.voice_vs_input_db() == pytest.approx(-12.04, abs=0.01)
    loud = [c * 2 for c in x[:100]]  # the last second only: the voice louder (+6 dB)
    wf.update(
        [
            result(400 + i, audio=c, voice=v)
            for i, (c, v) in enumerate(zip(x[:100], loud, strict=True))
        ]
    )
    assert wf.voice_vs_input_db() == pytest.approx(6.02, abs=0.01)
    silent = np.zeros(CHUNK, np.float32)
    wf.update([result(500 + i, audio=silent, voice=silent) for i in range(100)])
    assert wf.voice_vs_input_db() is None  # nothing to compare


def test_waveform_envelope_covers_the_last_seconds_up_to_now() -> None:
    wf = WaveformModel(seconds=1.0, buckets=100)
    chunks = [
        np.sin(np.arange(CHUNK) * (0.1 + i)).astype(np.float32) * (i / 100) for i in range(150)
    ]
    wf.update([result(i, audio=c) for i, c in enumerate(chunks)])
    env = wf.input_envelope()
    assert env.x.shape == env.y.shape == (200,)
    assert wf.now == pytest.approx(1.5)
    assert env.x[0] == pytest.approx(0.5) and env.x[-1] == pytest.approx(1.49)
    # the newest bucket holds the loudest chunk's extremes
    last = chunks[-1][-CHUNK:]
    assert env.y[-1] == pytest.approx(last.max(), abs=1e-6)
    assert env.y[-2] >= last.min() - 1e-6
    assert wf.voice_envelope() is None
    wf.update([result(150, voice=np.ones(CHUNK, np.float32))])
    voice = wf.voice_envelope()
    assert voice is not None and voice.y.max() == 1.0


def test_spectrogram_scrolls_and_ends_at_now() -> None:
    sm = SpectrogramModel(frames=50, levels=(-80.0, 10.0))
    sm.update([result(i) for i in range(60)])
    img = sm.image()
    assert img.shape == (50, 40)
    assert img[-1, 0] == 10.0  # frame 59 clipped to the top level
    assert img[0, 0] == 10.0 and sm.image()[:, 0].min() >= -80
    sm2 = SpectrogramModel(frames=50)
    sm2.update([result(0)])
    assert sm2.image()[-1, 0] == 0.0 and sm2.image()[0, 0] == -80.0
    x, y, w, h = sm.rect()
    assert x + w == pytest.approx(0.6) and (y, h) == (0.0, 40.0)


@pytest.mark.parametrize("hz", [200, 1000, 4000])
def test_the_spectrograms_frequency_labels_sit_where_a_tone_shows(hz: int) -> None:
    """A pure tone, through the engine's own features, is brightest at the band the "Hz"
    axis labels with its frequency."""
    from rtaudio.features import FeatureExtractor

    sm = SpectrogramModel()
    ticks = dict((label, y) for y, label in sm.frequency_ticks())
    assert list(ticks) == ["200", "500", "1k", "2k", "4k", "6k"]
    assert sorted(ticks.values()) == list(ticks.values())
    t = np.arange(16000) / 16000
    frames = FeatureExtractor(sm.features).push(
        (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    )
    brightest = float(np.argmax(frames.logmel[50:].mean(axis=0))) + 0.5  # a band's centre
    label = f"{hz // 1000}k" if hz >= 1000 else str(hz)
    assert abs(brightest - ticks[label]) < 1.0, (brightest, ticks[label])


def test_the_voice_spectrogram_scrolls_in_step_with_the_input() -> None:
    sm = SpectrogramModel(frames=50, levels=(-80.0, 10.0))
    sm.update([result(i) for i in range(10)])  # nothing separated yet: the floor
    assert not sm.has_voice and (sm.image("voice") == -80.0).all()
    sm.update(
        [result(i, voice_spectrogram=np.full((1, 40), -i, np.float32)) for i in range(10, 20)]
    )
    assert sm.has_voice
    voice, inp = sm.image("voice"), sm.image("input")
    assert voice.shape == inp.shape == (50, 40)
    np.testing.assert_array_equal(voice[-10:, 0], -np.arange(10, 20))  # newest last
    np.testing.assert_array_equal(voice[-20:-10, 0], -80.0)  # the same frames as the input's
    np.testing.assert_array_equal(inp[-20:, 0], np.clip(np.arange(20), -80, 10))
    sm.clear()
    assert not sm.has_voice and (sm.image("voice") == -80.0).all()


def test_labels_scores_top_events_delay_and_merged_segments() -> None:
    lm = LabelsModel(top_k=2)
    assert lm.swishnet_scores() == ("", [("speech", 0.0), ("music", 0.0), ("noise", 0.0)])
    sw = [label("swishnet", k, "speech", speech=0.7, music=0.2, noise=0.1) for k in range(3)]
    sw.append(label("swishnet", 3, "music", speech=0.1, music=0.8, noise=0.1))
    ev = label("esresnet", 0, "bird", hop=0.5, bird=0.5, water=0.3, wind=0.2)
    lm.update([result(60, labels=(*sw, ev))])
    name, scores = lm.swishnet_scores()
    assert name == "music" and dict(scores)["music"] == 0.8
    assert lm.top_events() == ("bird", [("bird", 0.5), ("water", 0.3)])
    assert lm.delay("swishnet") == pytest.approx(0.61 - 0.4)  # received 0.61 s, label ends 0.4
    assert lm.label_time("esresnet") == (0.5, 0.2)
    segs = lm.segments("swishnet", 0.0, 1.0)
    assert [(s.label, s.start, s.end) for s in segs] == [
        ("speech", 0.0, pytest.approx(0.3)),
        ("music", pytest.approx(0.3), pytest.approx(0.4)),
    ]
    assert segs[0].score == pytest.approx(0.7)
    assert lm.segments("swishnet", 0.35, 1.0)[0].label == "music"  # window clips history


def test_labels_history_is_bounded() -> None:
    lm = LabelsModel(history_s=1.0)
    for k in range(100):
        lm.update([result(k * 10, labels=(label("swishnet", k, "noise", noise=1.0),))])
    assert len(lm.history["swishnet"]) <= 12


def test_latency_warnings_appear_and_clear() -> None:
    lm = LatencyModel(chunk_ms=10.0, hold_s=1.0)
    lm.update([result(i) for i in range(50)], summary(2.0))
    assert lm.warnings() == []
    assert lm.text().percentiles.startswith("p50 1.00")
    dropped = {"overflows": 0, "underflows": 0, "dropped": 3}
    lm.update([result(50, counters=dropped, backlog=4)], summary(2.0))
    w = lm.warnings()
    assert any("3 chunks dropped" in x for x in w) and not any("backlog" in x for x in w)
    lm.update([result(51, counters=dropped, backlog=16)], summary(2.0))
    assert any("up to 16 chunks waiting" in x for x in lm.warnings())  # half of 300 ms
    assert "dropped 3" in lm.text().counters and "trimmed 0 ms" in lm.text().counters
    lm.update([result(52, counters=dropped)], summary(2.0, trimmed_ms=37.4))
    assert "trimmed 37 ms" in lm.text().counters  # playback audio removed to cut latency
    lm.update([result(i, counters=dropped) for i in range(53, 200)], summary(2.0))
    assert lm.warnings() == []  # 1.5 s later, nothing new: the warning has cleared
    lm.update([result(200, proc_ms=25.0, counters=dropped)], summary(14.0))
    assert any("p95 processing 14.0 ms > 10 ms" in x for x in lm.warnings())
    times, proc = lm.series()
    assert times.size == proc.size == 201 and proc[-1] == 25.0
    lm.reset(20.0)
    assert lm.chunk_ms == 20.0 and lm.series()[0].size == 0


def test_input_clipping_is_warned_while_it_happens() -> None:
    lm = LatencyModel(chunk_ms=10.0, hold_s=1.0)
    quiet = {"overflows": 0, "underflows": 0, "dropped": 0, "clipped": 0}
    lm.update([result(i, counters=quiet) for i in range(50)], summary(2.0))
    assert lm.warnings() == [] and "clipped 0" in lm.text().counters
    clipped = {**quiet, "clipped": 37}
    lm.update([result(50, counters=clipped)], summary(2.0))
    assert lm.warnings() == [
        "input clipping: 37 samples at full scale so far (turn the input gain down)"
    ]
    assert "clipped 37" in lm.text().counters
    lm.update([result(i, counters=clipped) for i in range(51, 200)], summary(2.0))
    assert lm.warnings() == []  # none for 1.5 s: the warning has cleared, the count stays
    assert "clipped 37" in lm.text().counters
    lm.update([result(200, counters={**clipped, "nonfinite": 441})], summary(2.0))
    assert lm.warnings() == [
        "bad input: 441 NaN / infinite samples from the device so far (replaced with silence)"
    ]


def test_countdown_text() -> None:
    assert countdown_text(None) == ""
    assert "2.5 s left" in countdown_text((0.5, 3.0))


def test_settings_round_trip_and_bad_values(tmp_path: Path) -> None:
    store = open_settings(tmp_path / "s.ini")
    s = GuiSettings(input_device="vmic", chunk_ms=20, separate="tsenet", play=True, monitor="input")
    s.save(store)
    again = GuiSettings.load(open_settings(tmp_path / "s.ini"))
    assert again == s
    bad = QSettings(str(tmp_path / "bad.ini"), QSettings.Format.IniFormat)
    for key, value in {
        "chunk_ms": "lots",
        "separate": "magic",
        "play": "maybe",
        "lookahead_ms": 900,
    }.items():
        bad.setValue(f"engine/{key}", value)
    bad.sync()
    assert GuiSettings.load(bad) == GuiSettings()


def test_settings_make_engine_configs() -> None:
    s = GuiSettings(separate="tsenet", enroll_seconds=2.0, lookahead_ms=100, source="x.wav")
    cfg = s.engine_config()
    assert (cfg.enroll, cfg.enroll_seconds) == (None, 2.0)
    assert cfg.swishnet_lookahead_ms == cfg.esresnet_lookahead_ms == 100.0
    assert cfg.source == "x.wav" and cfg.record_dir is None and cfg.input_device is None
    s.enroll_wav = "target.wav"
    cfg = s.engine_config(record=True)
    assert (cfg.enroll, cfg.enroll_seconds) == ("target.wav", 0.0) and cfg.record_dir
    assert GuiSettings(separate="mitas", enroll_wav="t.wav").engine_config().enroll is None
    assert s.engine_config().level_separator
    assert not GuiSettings(level_separator=False).engine_config().level_separator
    with pytest.raises(ConfigError, match="chunk_ms"):
        GuiSettings(chunk_ms=0).engine_config()


def test_the_input_meter_shows_rms_held_peak_and_clipping() -> None:
    m = LevelModel(window_s=0.3, hold_s=1.5, clip_hold_s=3.0)
    t = np.arange(CHUNK) / 16000
    tone = (0.1 * np.sin(2 * np.pi * 500 * t)).astype(np.float32)  # RMS -23.0, peak -20.0 dBFS
    quiet = np.zeros(CHUNK, np.float32)
    m.update([result(i, audio=tone) for i in range(50)])
    assert m.rms_db == pytest.approx(-23.0, abs=0.05)
    assert m.peak_db == pytest.approx(-20.0, abs=0.05)
    m.update([result(i, audio=quiet) for i in range(50, 100)])  # 0.5 s of silence
    assert m.rms_db == m.FLOOR_DB  # the RMS follows within 0.3 s
    assert m.peak_db == pytest.approx(-20.0, abs=0.05)  # the peak is held
    m.update([result(i, audio=quiet) for i in range(100, 150)])  # 1.0 s after the tone
    assert m.peak_db == pytest.approx(-20.0, abs=0.05)
    m.update([result(i, audio=quiet) for i in range(150, 210)])  # 1.6 s after
    assert m.peak_db == m.FLOOR_DB and not m.clipping
    m.update([result(210, audio=quiet, counters={"clipped": 3})])
    assert m.clipping
    m.update([result(i, audio=quiet, counters={"clipped": 3}) for i in range(211, 520)])
    assert not m.clipping  # 3 s later, no new clipped samples
    m.clear()
    assert m.rms_db == m.peak_db == m.FLOOR_DB
