"""Per-chunk processing: lookahead semantics, silence gate, drop policy, config."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from tiny_weights import save_tiny_weights

from rtaudio import config as engine_config
from rtaudio.classify import AudioHistory, Tagger
from rtaudio.config import ConfigError, EngineConfig
from rtaudio.engine import Engine
from rtaudio.pipeline import Processor
from rtaudio.results import Bus, Channel

SR = 16000


def _signal(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    tone = 0.3 * np.sin(2 * np.pi * (300 + 200 * np.sin(3 * t)) * t)
    return (tone + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def _processor(cfg: EngineConfig) -> Processor:
    """A processor whose (possibly untrained) models are the same every time."""
    torch.manual_seed(0)
    return Processor(cfg)


def _run(proc: Processor, x: np.ndarray) -> list:
    return [lab for r in _run_results(proc, x) for lab in r.labels]


@pytest.mark.parametrize("lookahead_ms", [0.0, 120.0, 500.0])
def test_labels_never_use_audio_past_span_end_plus_lookahead(lookahead_ms: float) -> None:
    cfg = EngineConfig(
        swishnet_lookahead_ms=lookahead_ms,
        esresnet_lookahead_ms=lookahead_ms,
        esresnet_hop_ms=250.0,
    )
    a = _signal(3.0, 0)
    cut = int(1.7 * SR)
    b = a.copy()
    b[cut:] = _signal(3.0, 1)[cut:] * 3  # different audio from the cut on
    la, lb = _run(_processor(cfg), a), _run(_processor(cfg), b)
    assert len(la) == len(lb) > 0
    assert {lab.model for lab in la} == {"swishnet", "esresnet"}
    changed_after_cut = 0
    for x, y in zip(la, lb, strict=True):
        assert (x.model, x.start, x.end) == (y.model, y.start, y.end)
        assert x.window[1] == pytest.approx(x.end + lookahead_ms / 1000)
        assert x.emitted_at >= x.window[1] - 1e-9  # never before its audio arrived
        if x.window[1] * SR <= cut:
            assert x.scores == y.scores, f"{x.model} label for {x.start}-{x.end}s saw the future"
        elif x.scores != y.scores:
            changed_after_cut += 1
    assert changed_after_cut > 0  # the check is not vacuous


def test_label_spans_tile_the_stream_and_lag_by_lookahead() -> None:
    cfg = EngineConfig(
        swishnet_lookahead_ms=200.0, swishnet_hop_ms=100.0, classifiers=("swishnet",)
    )
    proc = Processor(cfg)
    labels = _run(proc, _signal(2.0, 3))
    spans = [(round(lab.start, 3), round(lab.end, 3)) for lab in labels]
    assert spans == [(round(k * 0.1, 3), round((k + 1) * 0.1, 3)) for k in range(len(spans))]
    # after 2 s of audio, spans up to 2.0 - 0.2 s have been labelled
    assert spans[-1][1] == pytest.approx(1.8)


def test_silence_gate_labels_silence_without_running_the_classifier() -> None:
    class Counting(Tagger):
        calls = 0

        def scores(self, window_start: int, window_end: int, audio: AudioHistory) -> np.ndarray:
            Counting.calls += 1
            return np.array([1.0, 0.0])

    tagger = Counting("count", ("a", "b"), 100.0, 0.0, 500.0, silence_db=-50.0)
    hist = AudioHistory(SR)
    hist.push(np.zeros(SR // 2, np.float32))
    labels = tagger.update(hist)
    assert [lab.label for lab in labels] == ["silence"] * 5 and Counting.calls == 0
    hist.push(_signal(0.5, 4))
    labels = tagger.update(hist)
    assert [lab.label for lab in labels] == ["a"] * 5 and Counting.calls == 5


def test_audio_history_addresses_absolute_samples() -> None:
    h = AudioHistory(100)
    h.push(np.arange(60, dtype=np.float32))
    h.push(np.arange(60, 130, dtype=np.float32))
    np.testing.assert_array_equal(h.get(120, 130), np.arange(120, 130))
    fresh = AudioHistory(100)
    fresh.push(np.arange(1, 11, dtype=np.float32))
    np.testing.assert_array_equal(fresh.get(-5, 5), [0, 0, 0, 0, 0, 1, 2, 3, 4, 5])
    with pytest.raises(ValueError):
        h.get(10, 20)  # forgotten
    with pytest.raises(ValueError):
        h.get(125, 135)  # not yet arrived


class SlowTagger(Tagger):
    """A deliberately slow model: 25 ms of work for every 10 ms chunk."""

    def __init__(self) -> None:
        super().__init__("slow", ("x",), 10.0, 0.0, 100.0, silence_db=-120.0)

    def update(self, audio: AudioHistory) -> list:
        time.sleep(0.025)
        return []


def test_drop_policy_under_a_slow_model(tmp_path: Path) -> None:
    wav = tmp_path / "tone.wav"
    sf.write(wav, _signal(3.0, 5), SR)
    cfg = EngineConfig(source=str(wav), classifiers=(), max_backlog_ms=100.0)
    engine = Engine(cfg)
    results = engine.subscribe(100_000)
    engine.prepare()
    assert engine.processor is not None
    engine.processor.taggers.append(SlowTagger())
    engine.start()
    assert engine.wait(20)
    engine.stop()
    chunks = results.drain()
    total = 3.0 * SR / cfg.chunk_samples
    assert engine.dropped > 0.3 * total  # it could not keep up, so it dropped...
    assert len(chunks) + engine.dropped == pytest.approx(total, abs=2)  # ...and counted all
    backlog = max(r.latency.backlog for r in chunks)
    assert backlog <= 10  # never more than max_backlog_ms of audio waiting
    assert chunks[-1].counters["dropped"] == engine.dropped
    # stream time keeps running across dropped chunks
    assert chunks[-1].end == pytest.approx(3.0, abs=0.02)


class StallOnceTagger(Tagger):
    """A model that hangs once, for longer than the audio history holds (a stalled machine)."""

    def __init__(self, at_s: float, stall_s: float) -> None:
        super().__init__("stall", ("x",), 10.0, 0.0, 10.0, silence_db=-120.0)
        self.at, self.stall_s = round(at_s * SR), stall_s

    def update(self, audio: AudioHistory) -> list:
        if self.at is not None and audio.end >= self.at:
            self.at = None
            time.sleep(self.stall_s)
        return []


def test_a_stall_longer_than_the_history_drops_audio_and_labelling_goes_on(
    tmp_path: Path,
) -> None:
    """After a 2.5 s stall the engine drops the backlog at once, more than the classifiers'
    history holds: the spans of the dropped audio get no label, later ones do (the worker used
    to die: 'samples [...] are not in the history')."""
    wav = tmp_path / "tone.wav"
    sf.write(wav, _signal(6.0, 7), SR)
    cfg = EngineConfig(source=str(wav), classifiers=("swishnet", "esresnet"))
    engine = Engine(cfg)
    results = engine.subscribe(100_000)
    engine.prepare()
    assert engine.processor is not None
    engine.processor.taggers.insert(0, StallOnceTagger(at_s=1.0, stall_s=2.5))
    history_s = engine.processor.history.capacity / SR
    engine.start()
    assert engine.wait(30)
    engine.stop()
    assert engine.status.state == "finished", engine.status.message
    chunks = results.drain()
    assert engine.dropped * cfg.chunk_ms / 1000 > history_s  # the drop outran the history
    for model in cfg.classifiers:
        spans = [(lab.start, lab.end) for c in chunks for lab in c.labels if lab.model == model]
        starts = [a for a, _ in spans]
        assert starts == sorted(starts) and len(set(starts)) == len(starts)
        assert any(a < 1.0 for a in starts) and any(a > 4.0 for a in starts)  # before, after
        gap = max(b - a for a, b in itertools.pairwise(starts))
        assert gap > 1.0  # the dropped stretch has no labels


def test_channel_drops_oldest_and_never_blocks() -> None:
    bus: Bus[int] = Bus()
    slow: Channel[int] = bus.subscribe(maxsize=3)
    fast = bus.subscribe(maxsize=100)
    for i in range(10):
        bus.publish(i)
    assert slow.drain() == [7, 8, 9] and slow.dropped == 7
    assert fast.drain() == list(range(10))
    assert slow.get(timeout=0.01) is None


def test_config_from_toml_with_overrides(tmp_path: Path) -> None:
    p = tmp_path / "rtaudio.toml"
    p.write_text('[engine]\nchunk_ms = 20\nseparate = "mitas"\nclassifiers = ["swishnet"]\n')
    cfg = engine_config.load(p, swishnet_lookahead_ms=300)
    assert cfg.chunk_ms == 20.0 and cfg.chunk_samples == 320
    assert cfg.separate == "mitas" and cfg.classifiers == ("swishnet",)
    assert cfg.swishnet_lookahead_ms == 300.0


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"chunk_ms": 0.03}, "chunk_ms"),
        ({"swishnet_lookahead_ms": 900}, "0..500"),
        ({"separate": "demucs"}, "separate"),
        ({"separate": "tsenet"}, "enroll"),
        ({"classifiers": ["yamnet"]}, "unknown classifier"),
        ({"chunk_ms": "fast"}, "should be float"),
        ({"colour": "blue"}, "unknown setting"),
        ({"input_rate": 1000}, "input_rate"),
    ],
)
def test_config_errors_are_clear(overrides: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        engine_config.load(None, **overrides)


def test_bad_toml_file_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "bad.toml"
    p.write_text("chunk_ms = = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        engine_config.load(p)
    with pytest.raises(ConfigError, match="no such file"):
        engine_config.load(tmp_path / "missing.toml")


def test_tsenet_enrolls_from_wav_or_from_live_input(tmp_path: Path) -> None:
    enroll = tmp_path / "me.wav"
    sf.write(enroll, _signal(2.0, 7), SR)
    src = tmp_path / "mix.wav"
    sf.write(src, _signal(3.0, 8), SR)
    # from a WAV: separated from the first chunk
    engine = Engine(
        EngineConfig(
            source=str(src), realtime=False, separate="tsenet", enroll=str(enroll), classifiers=()
        )
    )
    ch = engine.subscribe(100_000)
    engine.start()
    assert engine.wait(30)
    engine.stop()
    results = ch.drain()
    assert results and all(r.separated for r in results)
    # live: the first second of input enrolls the target, separation starts after it
    engine = Engine(
        EngineConfig(
            source=str(src), realtime=False, separate="tsenet", enroll_seconds=1.0, classifiers=()
        )
    )
    ch = engine.subscribe(100_000)
    engine.start()
    assert engine.wait(30)
    engine.stop()
    results = ch.drain()
    first = next(i for i, r in enumerate(results) if r.separated)
    assert results[first].start == pytest.approx(1.0, abs=0.011)
    assert all(r.separated for r in results[first:])


def test_tsenet_refuses_silent_or_short_enrollment(tmp_path: Path) -> None:
    quiet = tmp_path / "quiet.wav"
    sf.write(quiet, np.zeros(SR * 2, np.float32), SR)
    with pytest.raises(ConfigError, match="silent"):
        Engine(EngineConfig(source=str(quiet), separate="tsenet", enroll=str(quiet))).prepare()
    short = tmp_path / "short.wav"
    sf.write(short, _signal(0.2, 9), SR)
    with pytest.raises(ConfigError, match=r"at least 0\.5 s"):
        Engine(EngineConfig(source=str(short), separate="tsenet", enroll=str(short))).prepare()


def test_enrollment_pauses_are_left_out_of_the_embedding() -> None:
    from rtaudio.modelstore import load_model
    from rtaudio.pipeline import embed_enrollment, without_pauses

    rng = np.random.default_rng(11)
    voice = (rng.standard_normal(320 * 100) * 0.1).astype(np.float32)  # 2 s at -20 dBFS
    gap = np.zeros(SR, np.float32)
    hiss = (rng.standard_normal(2 * SR) * 10 ** (-70 / 20)).astype(np.float32)
    clip = np.concatenate((voice[: 320 * 40], gap, voice[320 * 40 :], hiss))
    np.testing.assert_array_equal(without_pauses(clip), voice)
    short = np.concatenate((voice[: 320 * 10], gap))  # 0.2 s of voice: too little, all kept
    np.testing.assert_array_equal(without_pauses(short), short)
    model, trained = load_model("tsenet")
    assert trained
    torch.testing.assert_close(embed_enrollment(model, clip), embed_enrollment(model, voice))


def test_a_live_enrollment_that_runs_on_after_the_speaker_stopped() -> None:
    """2 s of quiet room after each enrollment clip (as when the user stops talking before the
    countdown ends): the shipped TseNet separates better with the pause left out of the
    speaker embedding than averaged into it. Measured on 200 mixtures of the repository set:
    mean SI-SDR improvement 1.29 against 0.52 dB, median 3.27 against 2.26 (the median of 100
    swings with the draw: +0.31, -0.10 on two; the mean held at +0.45..+0.78)."""
    from rtaudio.modelstore import load_model
    from rtaudio.pipeline import embed_enrollment
    from rtaudio.train.corpus import Corpus
    from rtaudio.train.metrics import si_snr
    from rtaudio.train.tasks import make_task

    model, trained = load_model("tsenet")
    assert trained
    task = make_task("tsenet", Corpus(Path(__file__).parent / "data" / "eval"), train=False)
    exs = task.mixtures("test", 200, 1234)
    rng = np.random.default_rng(12)

    def mean_improvement(trim: bool) -> float:
        imp = []
        for e in exs:
            room = (rng.standard_normal(2 * SR) * 10 ** (-70 / 20)).astype(np.float32)
            enrollment = np.concatenate((e["enrollment"], room))
            if trim:
                emb = embed_enrollment(model, enrollment)
            else:
                with torch.inference_mode():
                    emb = model.embed(torch.from_numpy(enrollment)[None])
            with torch.inference_mode():
                y = model(torch.from_numpy(e["mixture"])[None], emb)[:, 0]
            t = torch.from_numpy(e["target"])[None]
            mix = torch.from_numpy(e["mixture"])[None]
            imp.append(float(si_snr(y, t)[0] - si_snr(mix, t)[0]))
        return float(np.mean(imp))

    plain, trimmed = mean_improvement(False), mean_improvement(True)
    assert trimmed > plain + 0.4, (plain, trimmed)


# ------------------------------------------------------------------ hardening (issue 7)


def test_memory_stays_flat_while_dropping(tmp_path: Path) -> None:
    """The slow model of the drop-policy test for longer: whatever the engine cannot process
    is dropped, so memory does not follow the backlog."""
    from rtaudio.bench_pipeline import rss_mb

    wav = tmp_path / "tone.wav"
    sf.write(wav, _signal(6.0, 6), SR)
    engine = Engine(EngineConfig(source=str(wav), classifiers=(), max_backlog_ms=100.0))
    results = engine.subscribe(64)  # a subscriber that only looks now and then
    engine.prepare()
    assert engine.processor is not None
    engine.processor.taggers.append(SlowTagger())
    engine.start()
    rss: list[float] = []
    while not engine.wait(0.1):
        rss.append(rss_mb())
    engine.stop()
    assert engine.dropped > 180 and results.dropped > 0  # it fell behind the whole time
    third = len(rss) // 3
    early, late = np.median(rss[third : 2 * third]), np.median(rss[2 * third :])
    assert late - early < 3.0, f"RSS {early:.1f} -> {late:.1f} MB while dropping"


def test_short_soak_memory_and_latency_are_stable(tmp_path: Path) -> None:
    """CI version of scripts/soak.py: 40 s of audio through the whole live engine at full
    speed (small models); no growth after warm-up, latency of the last part like the first."""
    from rtaudio.bench_pipeline import soak, write_soak_source

    src = write_soak_source(tmp_path / "soak.wav", 40 / 60)
    cfg = EngineConfig(separate="mitas", weights_dir=str(save_tiny_weights(tmp_path / "w")))
    report = soak(src, cfg, segment_s=10.0, warmup_s=8.0)
    print({k: v for k, v in report.items() if k != "rss_by_minute"})
    assert report["audio_s"] == pytest.approx(40.0, abs=0.5)
    assert report["dropped"] == 0 and report["overflows"] == 0
    assert report["rss_growth_mb"] < 8.0, report
    first, last = report["first"], report["last"]
    assert first["chunks"] == last["chunks"] == 1000
    assert last["p50_ms"] <= 2 * first["p50_ms"] + 1.0, (first, last)  # median: robust to load


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"max_backlog_ms": float("nan")}, "finite"),
        ({"max_backlog_ms": float("inf")}, "finite"),
        ({"max_backlog_ms": 1e9}, "at most 60000"),
        ({"silence_db": float("-inf")}, "finite"),
        ({"classifiers": ["swishnet", "swishnet"]}, "twice"),
        ({"input_channels": 0}, "input_channels"),
        ({"input_channel": 65}, "input_channel must be 1..64"),
        ({"input_channel": 2, "input_channels": 2}, "exclude each other"),
        ({"chunk_ms": True}, "should be float"),
        ({"input_rate": 44100.5}, "should be int"),
        ({"realtime": "yes"}, "should be bool"),
        ({"record": "everything"}, "record="),
        ({"host_latency_ms": -5.0}, "host_latency_ms"),
    ],
)
def test_out_of_range_settings_are_refused(overrides: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        engine_config.load(None, **overrides)


@pytest.mark.parametrize(
    "text",
    [
        "[[engine]]\nchunk_ms = 10\n",  # an array of tables
        "engine = 5\n",  # not a table
        "chunk_ms = nan\n",
        "[engine]\nplayback_buffer_ms = inf\n",
        "[engine]\nchunk_ms = {a = 1}\n",
        "\x00\xff",
    ],
)
def test_odd_config_files_are_refused(tmp_path: Path, text: str) -> None:
    p = tmp_path / "odd.toml"
    p.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(ConfigError, match=r"^config: "):
        engine_config.load(p)
    with pytest.raises(ConfigError, match="cannot read"):
        engine_config.load(tmp_path)  # a folder


@pytest.mark.parametrize(("chunk_ms", "expected"), [(8.0, 9.9375), (10.0, 11.9375)])
def test_separation_path_algorithmic_latency(chunk_ms: float, expected: float) -> None:
    """Chunk + MiTAS's encoder window (L - 1 = 31 samples): within the 10 ms target at 8 ms
    chunks, 11.9 ms at the default 10 ms."""
    proc = _processor(EngineConfig(chunk_ms=chunk_ms, separate="mitas", classifiers=()))
    assert proc.algorithmic_ms == pytest.approx(expected)
    result, voice = proc.process(np.zeros(proc.cfg.chunk_samples, np.float32), adc_time=0.0)
    assert result.latency.algorithmic_ms == pytest.approx(expected)
    assert voice is not None and voice.size == proc.cfg.chunk_samples  # zero lookahead


def _esresnet_labels(proc: Processor, x: np.ndarray) -> list:
    labels = [lab for lab in _run(proc, x) if lab.model == "esresnet"]
    return labels + proc.flush()


def test_background_esresnet_gives_the_inline_labels_later_and_off_the_chunk_path() -> None:
    """The live engine runs ESResNet in a thread of its own: the same labels (spans, scores,
    silence gate, order) as inline, none lost at the end, none emitted before its window."""
    cfg = EngineConfig(
        classifiers=("esresnet",), esresnet_hop_ms=250.0, esresnet_lookahead_ms=120.0
    )
    x = _signal(4.0, 5)
    x[int(1.0 * SR) : int(1.6 * SR)] = 0.0  # a silent stretch: gated, no network run
    inline = _esresnet_labels(_processor(cfg), x)
    torch.manual_seed(0)
    proc = Processor(cfg, background=True)
    n = cfg.chunk_samples
    bg, spent = [], 0.0
    for i in range(0, x.size - n + 1, n):
        result, _ = proc.process(x[i : i + n], adc_time=0.0)
        bg.extend(result.labels)
        spent += result.latency.background_ms.get("esresnet", 0.0)
        # the network's time is not the chunk's
        assert result.latency.model_ms["esresnet"] < result.latency.processing_ms + 1e-6
    bg += proc.flush()
    proc.close()
    assert len(bg) == len(inline) == int(4.0 / 0.25) - 1  # the last span waits for lookahead
    assert "silence" in {lab.label for lab in inline}
    for a, b in zip(inline, bg, strict=True):
        assert (a.start, a.end, a.window, a.label) == (b.start, b.end, b.window, b.label)
        assert a.scores == pytest.approx(b.scores, abs=1e-6)
        assert b.emitted_at >= a.emitted_at  # later or at once, never earlier
    assert [lab.start for lab in bg] == sorted(lab.start for lab in bg)
    assert spent > 0.0  # the background time is reported


def test_background_esresnet_bounds_the_windows_in_flight() -> None:
    # a window every 20 ms of audio, fed as fast as the chunk path goes: far more windows
    # than the network can score, so without the bound they would pile up
    cfg = EngineConfig(classifiers=("esresnet",), esresnet_hop_ms=20.0)
    proc = Processor(cfg, background=True)
    tagger = proc.taggers[0]
    tagger.max_pending = 2  # type: ignore[attr-defined]
    x = _signal(2.0, 6)
    n = cfg.chunk_samples
    most = 0
    for i in range(0, x.size - n + 1, n):
        proc.process(x[i : i + n], adc_time=0.0)
        pending = tagger._pending  # type: ignore[attr-defined]
        most = max(most, sum(1 for _, f in pending if f is not None and not f.done()))
    assert most == 2
    proc.reset()  # waits for the window in flight, forgets the old stream's labels
    assert proc.flush() == []
    proc.close()


def test_the_separated_voice_spectrogram_is_the_offline_one_of_the_voice() -> None:
    """``voice_spectrogram`` (for the window's spectrogram of the separated voice): chunk by
    chunk, the log-mel frames of the voice the separator put out, as librosa-style offline
    features of that voice give them; in step with the input's frames; off by default."""
    from rtaudio.features import offline_features

    x = _signal(1.5, 3)
    plain = _run_results(_processor(EngineConfig(separate="mitas", classifiers=())), x)
    assert all(r.voice_spectrogram is None for r in plain)
    cfg = EngineConfig(separate="mitas", classifiers=(), voice_spectrogram=True)
    results = _run_results(_processor(cfg), x)
    voice = np.concatenate([r.voice for r in results])
    streamed = np.concatenate([r.voice_spectrogram for r in results])
    assert all(r.voice_spectrogram.shape == r.spectrogram.shape for r in results)
    offline = offline_features(voice).logmel[: len(streamed)]
    assert len(streamed) == len(np.concatenate([r.spectrogram for r in results]))
    np.testing.assert_allclose(streamed, offline, atol=1e-3)
    inp = np.concatenate([r.spectrogram for r in results])
    assert np.abs(streamed - inp).max() > 1.0  # the voice's, not the input's


def _run_results(proc: Processor, x: np.ndarray) -> list:
    n = proc.cfg.chunk_samples
    return [proc.process(x[i : i + n], adc_time=0.0)[0] for i in range(0, x.size - n + 1, n)]


def test_what_the_separator_removed_is_the_late_input_minus_the_voice() -> None:
    """``SeparatorStream.removed`` (played by Hear: Removed): chunk by chunk, the input delayed
    by the separator's window minus the separated voice, so voice + removed gives the input
    back, late by exactly that window."""
    proc = _processor(EngineConfig(separate="mitas", classifiers=()))
    sep = proc.separator
    assert sep is not None
    x = _signal(1.0, 5)
    voice, removed = [], []
    for i in range(0, x.size, 160):
        voice.append(sep(x[i : i + 160]))
        removed.append(sep.removed.copy())
    v, r = np.concatenate(voice), np.concatenate(removed)
    late = np.concatenate((np.zeros(sep.latency, np.float32), x))[: x.size]
    np.testing.assert_allclose(v + r, late, atol=1e-6)
    assert np.abs(r).max() > 0.01 and sep.latency == 31  # not the input, not zero
