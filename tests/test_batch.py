"""``rtaudio process``: folders in, labels / voice / summary out, same results as live."""

from __future__ import annotations

import csv
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from odd_inputs import write_malformed_audio, write_unusual_audio
from signals import interruptible
from tiny_weights import save_tiny_weights

from rtaudio import batch, models
from rtaudio.agc import Leveller, OutputScale
from rtaudio.audiofile import read_audio
from rtaudio.batch import (
    SEPARATION_PROCESSING,
    BatchError,
    FileProcessor,
    _differences,
    batch_settings,
    run_batch,
)
from rtaudio.config import EngineConfig
from rtaudio.engine import Engine
from rtaudio.modelstore import load_model
from rtaudio.pipeline import output_calibrated

SR = 16000
EXE = str(Path(sys.executable).with_name("rtaudio"))


def _tone(seconds: float, f: float, seed: int, sr: int = SR) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * f * t) + 0.03 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    sf.write(root / "a.wav", _tone(1.3, 440, 0), SR)
    x = _tone(1.1, 300, 1)
    sf.write(root / "sub" / "b.flac", np.stack([x, 0.5 * x], 1), SR)  # stereo FLAC
    sf.write(root / "sub" / "c.wav", _tone(0.9, 600, 2, 44100), 44100, subtype="PCM_24")
    (root / "sub" / "broken.wav").write_bytes(b"RIFF\x00\x00")
    (root / "notes.txt").write_text("not audio, not an audio extension: ignored")
    return root


def _rows(out: Path) -> dict[str, dict[str, str]]:
    with (out / "summary.csv").open() as f:
        return {r["path"]: r for r in csv.DictReader(f)}


def test_process_tree_writes_mirrored_outputs_and_summary(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = subprocess.run(
        [EXE, "process", str(tree), "--out", str(out), "--separate", "mitas", "--no-progress"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1, r.stderr  # one file failed, the batch went on
    rows = _rows(out)
    assert set(rows) == {"a.wav", "sub/b.flac", "sub/c.wav", "sub/broken.wav"}
    assert rows["sub/broken.wav"]["status"] == "error"
    assert "broken.wav" in rows["sub/broken.wav"]["error"]
    header = (out / "summary.csv").read_text().splitlines()[0]
    assert header.startswith(
        "path,status,error,duration_s,label,label_score,top_event,top_event_score"
    )
    for rel, seconds in (("a.wav", 1.3), ("sub/b.flac", 1.1), ("sub/c.wav", 0.9)):
        assert rows[rel]["status"] == "ok"
        stem = Path(rel).with_suffix("")
        doc = json.loads((out / f"{stem}.labels.json").read_text())
        assert doc["duration"] == pytest.approx(seconds, abs=1e-3)
        assert set(doc["segments"]) == {"swishnet", "esresnet"}
        spans = doc["segments"]["swishnet"]
        assert spans[0]["start"] == 0.0 and spans[-1]["end"] == pytest.approx(seconds, abs=1e-3)
        assert doc["file_label"]["swishnet"]["label"] == rows[rel]["label"]
        voice, sr = sf.read(out / f"{stem}.voice.wav")
        assert sr == SR and voice.shape == (round(seconds * SR),)  # same length as the input
    assert not list(out.rglob("*.part")) and not (out / "notes.labels.json").exists()


@pytest.mark.parametrize("level", [True, False])
def test_voice_is_sample_aligned_with_the_input(tree: Path, tmp_path: Path, level: bool) -> None:
    """Batch voice == the separator's offline (aligned) output: the stream delay is removed;
    with the leveller, the network saw the levelled input and its output was scaled back; then
    the output scale brought it to the level of what it kept of the input."""
    torch.manual_seed(0)
    net = models.create("mitas")
    wdir = tmp_path / "weights"
    models.save(net, wdir / "mitas.safetensors")
    cfg = EngineConfig(
        separate="mitas", classifiers=(), weights_dir=str(wdir), level_separator=level
    )
    run_batch([tree / "a.wav"], tmp_path / "out", cfg, progress=False)
    voice, _ = sf.read(tmp_path / "out" / "a.voice.wav", dtype="float32")
    audio = read_audio(tree / "a.wav")
    lev = Leveller()
    x = torch.from_numpy(lev.apply(audio) if level else audio)[None]
    with torch.no_grad():
        expected = net.eval()(x)[0, 0].numpy()
    if level:
        expected = lev.restore(expected)
    expected = OutputScale().apply(audio, expected)
    np.testing.assert_allclose(voice, np.clip(expected, -1, 1), atol=2e-4)  # 16-bit WAV


def test_no_level_flag_feeds_the_separator_the_input_as_it_is(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cmd = [EXE, "process", str(tree / "a.wav"), "--separate", "mitas", "--no-progress"]
    subprocess.run([*cmd, "--out", str(out), "--no-level"], check=True, capture_output=True)
    subprocess.run([*cmd, "--out", str(tmp_path / "lev")], check=True, capture_output=True)
    plain, _ = sf.read(out / "a.voice.wav", dtype="float32")
    levelled, _ = sf.read(tmp_path / "lev" / "a.voice.wav", dtype="float32")
    net, trained = load_model("mitas")
    assert trained and output_calibrated(net)  # its output needs no running scale
    with torch.no_grad():
        expected = net(torch.from_numpy(read_audio(tree / "a.wav"))[None])[0, 0].numpy()
    np.testing.assert_allclose(plain, np.clip(expected, -1, 1), atol=2e-4)
    assert np.abs(levelled - plain).max() > 1e-2  # the default levels the input


def test_batch_labels_equal_live_engine_labels(tree: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    wdir = tmp_path / "weights"
    for name in ("swishnet", "esresnet"):
        models.save(models.create(name), wdir / f"{name}.safetensors")
    cfg = EngineConfig(weights_dir=str(wdir), esresnet_hop_ms=250.0)
    run_batch([tree / "a.wav"], tmp_path / "out", cfg, progress=False)
    batch = json.loads((tmp_path / "out" / "a.labels.json").read_text())["segments"]
    engine = Engine(cfg.replace(source=str(tree / "a.wav"), realtime=False))
    ch = engine.subscribe(100_000)
    engine.start()
    assert engine.wait(30)
    engine.stop()
    live = [lab for r in ch.drain() for lab in r.labels]
    assert live
    for lab in live:  # every label live monitoring showed, batch shows identically
        seg = next(s for s in batch[lab.model] if s["start"] == round(lab.start, 4))
        assert seg["label"] == lab.label
        for k, v in lab.scores.items():
            assert seg["scores"][k] == pytest.approx(v, abs=1e-4)


def test_resume_skips_done_files_and_overwrite_redoes_them(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cfg = EngineConfig(classifiers=("swishnet",))
    run_batch([tree], out, cfg, progress=False)
    a, b = out / "a.labels.json", out / "sub" / "b.labels.json"
    a_time = a.stat().st_mtime_ns
    b.unlink()  # as if the batch had been interrupted before b
    rows = run_batch([tree], out, cfg, progress=False)
    assert a.stat().st_mtime_ns == a_time and b.exists()
    assert sum(r["status"] == "ok" for r in rows) == 3
    run_batch([tree], out, cfg, progress=False, overwrite=True)
    assert a.stat().st_mtime_ns != a_time


def test_one_more_file_keeps_the_other_files_rows(tree: Path, tmp_path: Path) -> None:
    """A file processed into a folder of earlier results: summary.csv still lists them."""
    out = tmp_path / "out"
    cfg = EngineConfig(classifiers=("swishnet",))
    run_batch([tree / "sub"], out, cfg, progress=False)
    before = _rows(out)
    assert set(before) == {"b.flac", "c.wav", "broken.wav"}
    rows = run_batch([tree / "a.wav"], out, cfg, progress=False)
    assert [r["path"] for r in rows] == ["a.wav"]  # what this run did
    after = _rows(out)
    assert set(after) == {"a.wav", *before} and all(after[k] == before[k] for k in before)
    run_batch([tree / "sub" / "c.wav"], out, cfg, progress=False, overwrite=True)
    assert _rows(out).keys() == after.keys()  # redone: its row replaced, not added


def test_another_file_of_the_same_name_is_not_taken_for_done(tree: Path, tmp_path: Path) -> None:
    """s1/a.wav processed, then s2/a.flac or another s2/a.wav into the same --out: their
    outputs would go where a.wav's are. They used to be skipped as done, with a.wav's results
    in their summary row; now refused, nothing changed. The same file, moved, still resumes."""
    wdir = save_tiny_weights(tmp_path / "weights", ["swishnet"])
    cfg = EngineConfig(classifiers=("swishnet",), weights_dir=str(wdir))
    s1, s2, out = tmp_path / "s1", tmp_path / "s2", tmp_path / "out"
    s1.mkdir()
    s2.mkdir()
    sf.write(s1 / "a.wav", _tone(1.0, 440, 0), SR)
    run_batch([s1 / "a.wav"], out, cfg, progress=False)
    before = _snapshot(out)
    sf.write(s2 / "a.flac", _tone(2.0, 300, 1), SR)
    sf.write(s2 / "a.wav", _tone(1.0, 300, 2), SR)  # the same size as s1/a.wav
    for other in (s2 / "a.flac", s2 / "a.wav"):
        with pytest.raises(BatchError) as e:
            run_batch([other], out, cfg, progress=False)
        assert str(e.value) == (
            f"{out / 'a.labels.json'} holds the results of {s1 / 'a.wav'}, not of {other} "
            "(1 of 1 files): nothing was changed; use another --out, or --overwrite to "
            "replace them"
        )
        assert _snapshot(out) == before
    # the same file, its folder moved: done already
    (s1 / "a.wav").rename(tmp_path / "a.wav")
    rows = run_batch([tmp_path / "a.wav"], out, cfg, progress=False)
    assert [r["status"] for r in rows] == ["ok"]
    assert (out / "a.labels.json").read_bytes() == before["a.labels.json"][1]
    rows = run_batch([s2 / "a.flac"], out, cfg, progress=False, overwrite=True)
    assert json.loads((out / "a.labels.json").read_text())["path"] == str(s2 / "a.flac")


def test_files_the_user_has_in_out_are_never_replaced(tree: Path, tmp_path: Path) -> None:
    """Outputs rtaudio did not make (a summary, a voice, labels of the user's own under the
    names this run would write) are refused before anything runs; --overwrite replaces them."""
    wdir = save_tiny_weights(tmp_path / "weights", ["mitas", "swishnet"])
    cfg = EngineConfig(separate="mitas", classifiers=(), weights_dir=str(wdir))
    theirs = {
        "summary.csv": b"my,own,csv\n",
        "a.voice.wav": (tree / "a.wav").read_bytes(),
        "a.labels.json": b"my notes",
    }
    for name, data in theirs.items():
        out = tmp_path / name
        out.mkdir()
        (out / name).write_bytes(data)
        with pytest.raises(BatchError, match=rf"{name} is not.* nothing was changed"):
            run_batch([tree / "a.wav"], out, cfg, progress=False)
        assert [p.name for p in out.iterdir()] == [name] and (out / name).read_bytes() == data
        run_batch([tree / "a.wav"], out, cfg, progress=False, overwrite=True)
        assert (out / name).read_bytes() != data
    # the user's own label track where --label-tracks would write one
    out = tmp_path / "tracks"
    out.mkdir()
    mine = out / "a.swishnet.txt"
    mine.write_text("0\t1\tmy label\n")
    with_tracks = cfg.replace(classifiers=("swishnet",))
    with pytest.raises(BatchError, match=r"a\.swishnet\.txt is not rtaudio's"):
        run_batch([tree / "a.wav"], out, with_tracks, progress=False, label_tracks=True)
    assert mine.read_text() == "0\t1\tmy label\n"


def test_a_classifier_that_did_not_run_has_no_file_label(tree: Path, tmp_path: Path) -> None:
    """Without SwishNet a file is not "silence 1.0": its summary columns stay empty."""
    for classifiers, labelled in (((), set()), (("esresnet",), {"esresnet"})):
        out = tmp_path / f"out{len(classifiers)}"
        run_batch([tree / "a.wav"], out, EngineConfig(classifiers=classifiers), progress=False)
        doc = json.loads((out / "a.labels.json").read_text())
        assert set(doc["file_label"]) == labelled
        row = _rows(out)["a.wav"]
        assert row["status"] == "ok" and row["label"] == row["label_score"] == ""
        assert bool(row["top_event"]) == ("esresnet" in labelled)


def _snapshot(out: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(out)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("offline", [False, True])
def test_removed_stem_is_the_input_minus_the_voice(
    tree: Path, tmp_path: Path, offline: bool
) -> None:
    wdir = save_tiny_weights(tmp_path / "weights", ["mitas"])
    cfg = EngineConfig(separate="mitas", classifiers=(), weights_dir=str(wdir))
    out = tmp_path / "out"
    rows = run_batch(
        [tree / "a.wav", tree / "sub" / "c.wav"],
        out,
        cfg,
        progress=False,
        offline=offline,
        stems=("voice", "removed"),
    )
    assert [r["removed"] for r in rows] == ["a.removed.wav", "c.removed.wav"]
    for name in ("a", "c"):
        audio = read_audio(tree / (name + ".wav" if name == "a" else "sub/c.wav"))
        voice, _ = sf.read(out / f"{name}.voice.wav", dtype="float32")
        removed, sr = sf.read(out / f"{name}.removed.wav", dtype="float32")
        assert sr == SR and removed.shape == voice.shape == audio.shape
        assert np.abs(removed).max() > 0.05  # an untrained net leaves much of the tone
        np.testing.assert_allclose(voice + removed, audio, atol=2e-4)  # two 16-bit WAVs
    only = run_batch([tree / "a.wav"], tmp_path / "only", cfg, progress=False, stems=["removed"])
    assert (only[0]["voice"], only[0]["removed"]) == ("", "a.removed.wav")
    assert not (tmp_path / "only" / "a.voice.wav").exists()
    with pytest.raises(BatchError, match="separator"):
        run_batch([tree], tmp_path / "o", EngineConfig(), progress=False, stems=["removed"])
    with pytest.raises(BatchError, match="voice, removed"):
        run_batch([tree], tmp_path / "o", cfg, progress=False, stems=["noise"])


def test_resume_follows_the_settings_and_never_mixes_two(tree: Path, tmp_path: Path) -> None:
    """Labels only, then --separate: the voices are written (they used to be skipped as
    done); a stem asked for later is made, one moved away stays so; other settings are refused,
    nothing touched."""
    wdir = save_tiny_weights(tmp_path / "weights", ["swishnet", "mitas"])
    out = tmp_path / "out"
    labels = EngineConfig(classifiers=("swishnet",), weights_dir=str(wdir))
    run_batch([tree], out, labels, progress=False)
    first = json.loads((out / "a.labels.json").read_text())
    sep = labels.replace(separate="mitas")
    rows = run_batch([tree], out, sep, progress=False)
    assert {r["voice"] for r in rows if r["status"] == "ok"} == {
        "a.voice.wav",
        "sub/b.voice.wav",
        "sub/c.voice.wav",
    }
    assert json.loads((out / "a.labels.json").read_text())["segments"] == first["segments"]
    before = _snapshot(out)
    run_batch([tree], out, labels, progress=False)  # labels only: done, whatever separated
    run_batch([tree], out, sep, progress=False)
    assert _snapshot(out) == {**before, "summary.csv": _snapshot(out)["summary.csv"]}
    (out / "sub" / "b.voice.wav").unlink()  # moved away by its user
    run_batch([tree], out, sep, progress=False)
    assert not (out / "sub" / "b.voice.wav").exists()
    run_batch([tree], out, sep, progress=False, stems=("voice", "removed"))
    after = _snapshot(out)
    assert after["sub/b.voice.wav"][1] == before["sub/b.voice.wav"][1]  # the same voice again
    assert after["a.voice.wav"][1] == before["a.voice.wav"][1]
    assert {"a.removed.wav", "sub/b.removed.wav", "sub/c.removed.wav"} <= set(after)
    settled = _snapshot(out)
    for other, what in (
        (sep.replace(swishnet_lookahead_ms=100.0), "swishnet.lookahead_ms: 200.0 -> 100.0"),
        (sep.replace(chunk_ms=20.0), "chunk_ms: 10.0 -> 20.0"),
        (sep.replace(level_separator=False), "separation.level_separator: True -> False"),
        (sep.replace(weights_dir=None), "separation.weights: "),  # the shipped file
        (sep.replace(classifiers=("swishnet", "esresnet")), "esresnet: none -> used"),
    ):
        with pytest.raises(BatchError, match="other settings") as e:
            run_batch([tree], out, other, progress=False)
        assert what in str(e.value) and "a.labels.json" in str(e.value)
        assert _snapshot(out) == settled  # nothing written, nothing removed
    with pytest.raises(BatchError, match="mode: streaming -> offline"):
        run_batch([tree], out, sep, progress=False, offline=True)
    run_batch([tree], out, sep.replace(chunk_ms=20.0), progress=False, overwrite=True)
    assert json.loads((out / "a.labels.json").read_text())["chunk_ms"] == 20.0
    ts = EngineConfig(separate="tsenet", enroll="me.wav", classifiers=())
    one, two = (batch_settings(ts, _tone(1.0, f, 0)) for f in (200, 300))
    assert _differences(one, two)[0].startswith("separation.enrollment: ")


def test_stems_in_flac_are_the_same_samples(tree: Path, tmp_path: Path) -> None:
    wdir = save_tiny_weights(tmp_path / "weights", ["mitas"])
    cfg = EngineConfig(separate="mitas", classifiers=(), weights_dir=str(wdir))
    out = tmp_path / "out"
    both = ("voice", "removed")
    run_batch([tree / "a.wav"], out, cfg, progress=False, stems=both)
    rows = run_batch([tree / "a.wav"], out, cfg, progress=False, stems=both, stem_format="flac")
    assert (rows[0]["voice"], rows[0]["removed"]) == ("a.voice.flac", "a.removed.flac")
    for stem in both:  # lossless: the same samples; the WAVs made before are kept
        wav, _ = sf.read(out / f"a.{stem}.wav", dtype="int16")
        flac, sr = sf.read(out / f"a.{stem}.flac", dtype="int16")
        assert sr == SR and np.array_equal(wav, flac)
        assert sf.info(str(out / f"a.{stem}.flac")).format == "FLAC"
    doc = json.loads((out / "a.labels.json").read_text())
    assert doc["voice"] == "a.voice.flac"
    before = _snapshot(out)
    run_batch([tree / "a.wav"], out, cfg, progress=False, stems=both, stem_format="flac")
    assert {k: v for k, v in _snapshot(out).items() if k != "summary.csv"} == {
        k: v for k, v in before.items() if k != "summary.csv"
    }
    with pytest.raises(BatchError, match="stem format 'mp3'"):
        run_batch([tree], tmp_path / "o", cfg, progress=False, stem_format="mp3")
    with pytest.raises(BatchError, match="separator"):
        run_batch([tree], tmp_path / "o", EngineConfig(), progress=False, stem_format="flac")


def test_stems_made_by_an_older_separation_are_not_mixed_with_new_ones(
    tree: Path, tmp_path: Path
) -> None:
    wdir = save_tiny_weights(tmp_path / "weights", ["mitas"])
    cfg = EngineConfig(separate="mitas", classifiers=(), weights_dir=str(wdir))
    out = tmp_path / "out"
    run_batch([tree / "a.wav"], out, cfg, progress=False)
    doc = json.loads((out / "a.labels.json").read_text())
    assert doc["settings"]["separation"]["processing"] == SEPARATION_PROCESSING
    doc["settings"]["separation"]["processing"] = SEPARATION_PROCESSING - 1  # as before
    (out / "a.labels.json").write_text(json.dumps(doc))
    old, new = SEPARATION_PROCESSING - 1, SEPARATION_PROCESSING
    with pytest.raises(BatchError, match=rf"separation\.processing: {old} -> {new}"):
        run_batch([tree / "a.wav"], out, cfg, progress=False)


def test_results_from_before_settings_were_recorded_resume(tree: Path, tmp_path: Path) -> None:
    """A labels.json without its settings is compared on what it says."""
    wdir = save_tiny_weights(tmp_path / "weights", ["swishnet"])
    out = tmp_path / "out"
    cfg = EngineConfig(classifiers=("swishnet",), weights_dir=str(wdir))
    run_batch([tree], out, cfg, progress=False)
    for p in out.rglob("*.labels.json"):
        doc = json.loads(p.read_text())
        del doc["settings"]
        p.write_text(json.dumps(doc))
    before = _snapshot(out)
    run_batch([tree], out, cfg.replace(weights_dir=None), progress=False)  # weights not known
    assert {k: v for k, v in _snapshot(out).items() if k != "summary.csv"} == {
        k: v for k, v in before.items() if k != "summary.csv"
    }
    with pytest.raises(BatchError, match=r"hop_ms: 100\.0 -> 50\.0"):
        run_batch([tree], out, cfg.replace(swishnet_hop_ms=50.0), progress=False)


def test_two_workers_give_the_same_results(tree: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    wdir = tmp_path / "weights"
    models.save(models.create("swishnet"), wdir / "swishnet.safetensors")
    cfg = EngineConfig(classifiers=("swishnet",), weights_dir=str(wdir))
    run_batch([tree], tmp_path / "one", cfg, progress=False)
    run_batch([tree], tmp_path / "two", cfg, workers=2, progress=False)
    for f in ("a.labels.json", "sub/b.labels.json", "sub/c.labels.json"):
        one = json.loads((tmp_path / "one" / f).read_text())["segments"]
        two = json.loads((tmp_path / "two" / f).read_text())["segments"]
        assert one == two


def test_bad_batch_arguments(tree: Path, tmp_path: Path) -> None:
    with pytest.raises(BatchError, match="inside the input"):
        run_batch([tree], tree / "out", EngineConfig(), progress=False)
    with pytest.raises(BatchError, match="no such file"):
        run_batch([tmp_path / "nope"], tmp_path / "o", EngineConfig(), progress=False)
    (tmp_path / "link.wav").symlink_to(tmp_path / "nope.wav")
    with pytest.raises(BatchError, match="broken link"):
        run_batch([tmp_path / "link.wav"], tmp_path / "o", EngineConfig(), progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BatchError, match="no audio files"):
        run_batch([empty], tmp_path / "o", EngineConfig(), progress=False)


def test_target_speaker_options_are_checked(
    tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--enroll without TseNet would be ignored, TseNet without it cannot run: one line each,
    in the command's own words."""
    from rtaudio.cli import main

    clip, out = str(tree / "a.wav"), str(tmp_path / "out")
    for args, said in (
        (["--enroll", clip], "--enroll: the target speaker is for --separate tsenet"),
        (["--separate", "tsenet"], "--separate tsenet needs --enroll FILE"),
    ):
        assert main(["process", clip, "--out", out, *args]) == 2
        err = capsys.readouterr().err
        assert said in err and "config:" not in err, err
    assert not (tmp_path / "out").exists()


def test_offline_mode_equals_streaming(tree: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    wdir = tmp_path / "weights"
    for name in ("swishnet", "esresnet", "mitas"):
        models.save(models.create(name), wdir / f"{name}.safetensors")
    cfg = EngineConfig(weights_dir=str(wdir), separate="mitas")
    run_batch([tree / "a.wav"], tmp_path / "stream", cfg, progress=False)
    run_batch([tree / "a.wav"], tmp_path / "offline", cfg, progress=False, offline=True)
    s = json.loads((tmp_path / "stream" / "a.labels.json").read_text())
    o = json.loads((tmp_path / "offline" / "a.labels.json").read_text())
    assert (s["mode"], o["mode"]) == ("streaming", "offline")
    for model in ("swishnet", "esresnet"):
        assert len(s["segments"][model]) == len(o["segments"][model]) > 0
        for a, b in zip(s["segments"][model], o["segments"][model], strict=True):
            assert (a["start"], a["end"], a["label"]) == (b["start"], b["end"], b["label"])
            for k in a["scores"]:
                assert a["scores"][k] == pytest.approx(b["scores"][k], abs=1e-4)
    vs, _ = sf.read(tmp_path / "stream" / "a.voice.wav", dtype="float32")
    vo, _ = sf.read(tmp_path / "offline" / "a.voice.wav", dtype="float32")
    np.testing.assert_allclose(vs, vo, atol=2e-4)


def test_ray_executor_gives_the_same_outputs_as_local(tree: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    torch.manual_seed(0)
    wdir = tmp_path / "weights"
    for name in ("swishnet", "mitas"):
        models.save(models.create(name), wdir / f"{name}.safetensors")
    cfg = EngineConfig(classifiers=("swishnet",), separate="mitas", weights_dir=str(wdir))
    local = run_batch([tree], tmp_path / "local", cfg, progress=False)
    remote = run_batch([tree], tmp_path / "ray", cfg, workers=2, executor="ray", progress=False)
    strip = lambda rows: sorted((r["path"], r["status"], r.get("label")) for r in rows)  # noqa: E731
    assert strip(local) == strip(remote)
    for f in ("a.labels.json", "sub/b.labels.json", "sub/c.labels.json"):
        a = json.loads((tmp_path / "local" / f).read_text())
        b = json.loads((tmp_path / "ray" / f).read_text())
        assert a["segments"] == b["segments"]
    for f in ("a.voice.wav", "sub/b.voice.wav"):
        assert (tmp_path / "local" / f).read_bytes() == (tmp_path / "ray" / f).read_bytes()


def test_ctrl_c_mid_batch_leaves_no_partial_files_and_resumes(tmp_path: Path) -> None:
    import signal
    import time

    src = tmp_path / "many"
    src.mkdir()
    for i in range(20):
        sf.write(src / f"f{i:02d}.wav", _tone(1.0, 200 + 10 * i, i), SR)
    out = tmp_path / "out"
    cmd = [
        EXE,
        "process",
        str(src),
        "--out",
        str(out),
        "--separate",
        "mitas",
        "--no-progress",
        "--classifiers",
        "swishnet",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=interruptible
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(out.glob("*.labels.json"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    done = {p.name: p.stat().st_mtime_ns for p in out.glob("*.labels.json")}
    assert 2 <= len(done) < 20
    assert not list(out.rglob("*.part"))  # nothing half-written
    assert not (out / ".rtaudio-spool").exists()  # nor a voice file being streamed
    for p in out.glob("*.voice.wav"):  # every voice file present is complete
        assert sf.info(str(p)).frames == SR
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert len(list(out.glob("*.labels.json"))) == 20
    assert all((out / n).stat().st_mtime_ns == t for n, t in done.items())  # not redone
    assert len(_rows(out)) == 20


# ------------------------------------------------------------------ hardening (issue 7)


@pytest.fixture
def odd_corpus(tmp_path: Path) -> tuple[Path, dict[str, str], dict[str, float]]:
    """The generated corpus: ``bad/`` files to refuse, ``odd/`` files to process."""
    root = tmp_path / "corpus"
    bad = write_malformed_audio(root / "bad")
    odd = write_unusual_audio(root / "odd")
    return root, bad, odd


def test_bad_and_odd_inputs_one_row_each_and_the_batch_goes_on(
    odd_corpus: tuple[Path, dict[str, str], dict[str, float]], tmp_path: Path
) -> None:
    root, bad, odd = odd_corpus
    out = tmp_path / "out"
    wdir = save_tiny_weights(tmp_path / "weights", ("mitas",))
    (tmp_path / "cfg.toml").write_text(f'weights_dir = "{wdir}"\nesresnet_hop_ms = 250\n')
    r = subprocess.run(
        [
            EXE,
            "process",
            str(root),
            "--out",
            str(out),
            "--no-progress",
            "--separate",
            "mitas",
            "--config",
            str(tmp_path / "cfg.toml"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1, r.stderr  # documented: 1 = some files failed, the rest is done
    assert "Traceback" not in r.stderr
    rows = _rows(out)
    assert set(rows) == {f"bad/{n}" for n in bad} | {f"odd/{n}" for n in odd}
    for name, expected in bad.items():
        row = rows[f"bad/{name}"]
        assert row["status"] == "error", name
        assert expected in row["error"] and name in row["error"], row
        assert "\n" not in row["error"]
        assert f"failed: {root / 'bad' / name}" in r.stderr
    for name, seconds in odd.items():
        row = rows[f"odd/{name}"]
        assert row["status"] == "ok" and row["error"] == "", row
        assert float(row["duration_s"]) == pytest.approx(max(seconds, 1 / SR), abs=1e-3)
        stem = Path(name).with_suffix("")
        doc = json.loads((out / "odd" / f"{stem.name}.labels.json").read_text())
        for model in ("swishnet", "esresnet"):  # even a file shorter than a window is labelled
            spans = doc["segments"][model]
            assert spans and spans[0]["start"] == 0.0, (name, model)
            assert spans[-1]["end"] == pytest.approx(doc["duration"], abs=1e-4)
        voice, sr = sf.read(out / "odd" / f"{stem.name}.voice.wav")
        assert sr == SR and voice.shape == (max(1, round(seconds * SR)),)
    assert rows["odd/silence.wav"]["label"] == "silence"
    assert not (out / "bad").exists()  # a refused file leaves nothing behind
    assert not list(out.rglob("*.part")) and not (out / ".rtaudio-spool").exists()


def test_a_named_pipe_is_refused_not_waited_on(tmp_path: Path) -> None:
    """A FIFO named on the command line (folders skip them) is one failed row: reading it
    for the progress bar's total used to wait for a writer, for ever."""
    good, pipe = tmp_path / "good.wav", tmp_path / "pipe.wav"
    sf.write(good, _tone(1.0, 440.0, 0), SR)
    os.mkfifo(pipe)
    out = tmp_path / "out"
    r = subprocess.run(
        [EXE, "process", str(pipe), str(good), "--out", str(out), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1, r.stderr
    rows = _rows(out)
    assert rows["pipe.wav"]["status"] == "error" and rows["good.wav"]["status"] == "ok"
    assert "not a regular file (a pipe; save it to a file first)" in rows["pipe.wav"]["error"]


def test_one_channel_of_each_file_is_processed(tmp_path: Path) -> None:
    """``--channel 1`` of a stereo file (speech left, a tone right) gives what the left
    channel alone gives; a mono file has no channel 2; results of another channel are not
    mixed with them."""
    subprocess.run(["espeak-ng", "-w", str(tmp_path / "left.wav"), "one channel of it"], check=True)
    speech = read_audio(tmp_path / "left.wav")
    tone = (0.3 * np.sin(2 * np.pi * 1000 * np.arange(speech.size) / SR)).astype(np.float32)
    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "stereo.wav", np.stack((speech, tone), 1), SR)
    sf.write(tmp_path / "left16.wav", speech, SR)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [EXE, "process", *args, "--no-progress", "--separate", "mitas"],
            capture_output=True,
            text=True,
        )

    r = run(str(tmp_path / "in"), "--out", str(tmp_path / "a"), "--channel", "1")
    assert r.returncode == 0, r.stderr
    r = run(str(tmp_path / "left16.wav"), "--out", str(tmp_path / "b"))
    assert r.returncode == 0, r.stderr
    a = json.loads((tmp_path / "a" / "stereo.labels.json").read_text())
    b = json.loads((tmp_path / "b" / "left16.labels.json").read_text())
    assert a["mixdown"] == "channel 1" and a["segments"] == b["segments"]
    voice_a, _ = sf.read(tmp_path / "a" / "stereo.voice.wav")
    voice_b, _ = sf.read(tmp_path / "b" / "left16.voice.wav")
    np.testing.assert_array_equal(voice_a, voice_b)
    r = run(str(tmp_path / "in"), "--out", str(tmp_path / "a"), "--channel", "2")
    assert r.returncode == 2 and "other settings" in r.stderr  # never mixed with channel 1's
    r = run(str(tmp_path / "left16.wav"), "--out", str(tmp_path / "c"), "--channel", "2")
    assert r.returncode == 1
    assert (
        "left16.wav: 1 channel, channel 2 requested" in _rows(tmp_path / "c")["left16.wav"]["error"]
    )


def test_same_stem_inputs_keep_their_extension(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    sf.write(src / "talk.wav", _tone(0.3, 300, 0), SR)
    sf.write(src / "talk.flac", _tone(0.3, 500, 1), SR)
    rows = run_batch([src], tmp_path / "out", EngineConfig(classifiers=()), progress=False)
    assert sorted(r["status"] for r in rows) == ["ok", "ok"]
    names = sorted(p.name for p in (tmp_path / "out").glob("*.labels.json"))
    assert names == ["talk.flac.labels.json", "talk.wav.labels.json"]


def test_progress_ends_at_the_total_for_short_files(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], recwarn: pytest.WarningsRecorder
) -> None:
    # a third of a second at 48 kHz, 8 channels: the bar's total used to be rounded to 0.3 s
    # while the file counted 0.333 s, so it ended at 111 % with a TqdmWarning on the terminal
    src = tmp_path / "in"
    src.mkdir()
    sf.write(src / "short.wav", np.tile(_tone(1 / 3, 440, 0, 48_000)[:, None], (1, 8)), 48_000)
    sf.write(src / "odd.wav", _tone(0.37, 300, 1), SR)
    rows = run_batch([src], tmp_path / "out", EngineConfig(classifiers=()), progress=True)
    assert [r["status"] for r in rows] == ["ok", "ok"]
    err = capfd.readouterr().err
    assert "TqdmWarning" not in err and not [w for w in recwarn if "frac" in str(w.message)]
    assert "100%" in err and "0.7/0.7 s audio" in err, err


def test_progress_moves_within_a_long_file(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One long recording: the bar moves on as it is processed, not from 0 to 100 % at its
    end, and ends at its length."""
    src = tmp_path / "long.wav"
    sf.write(src, _tone(30.0, 440, 0), SR)
    shown: list[float] = []
    fp = FileProcessor(EngineConfig(classifiers=()))
    fp.run(src, progress=shown.append)
    assert len(shown) == 15 and all(s == batch.PROGRESS_S for s in shown)  # every 2 s of audio
    monkeypatch.setenv("TQDM_MININTERVAL", "0")  # every step drawn, however fast
    run_batch([src], tmp_path / "out", EngineConfig(classifiers=()), progress=True)
    err = capfd.readouterr().err
    done = [float(x) for x in re.findall(r"\| ([0-9.]+)/30\.0 s audio", err)]
    assert done[-1] == 30.0 and any(0 < x < 30 for x in done), err


def test_outputs_never_leave_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rtaudio.cli import main

    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    sf.write(src / "a.wav", _tone(0.3, 300, 0), SR)
    sf.write(src / "sub" / "b.wav", _tone(0.3, 400, 1), SR)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").symlink_to(outside, target_is_directory=True)  # planted in the output tree
    rc = main(["process", str(src), "--out", str(out), "--no-progress", "--classifiers", ""])
    assert rc == 1, capsys.readouterr().err
    rows = _rows(out)
    assert rows["a.wav"]["status"] == "ok"
    assert rows["sub/b.wav"]["status"] == "error"
    assert "outside the output folder" in rows["sub/b.wav"]["error"]
    assert not list(outside.iterdir())  # nothing was written through the link
    assert not list(out.rglob("*.part")) and not (out / ".rtaudio-spool").exists()
    # a file given as --out: refused up front, one line
    capsys.readouterr()
    rc = main(["process", str(src), "--out", str(src / "a.wav"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "is not a folder" in err and "Traceback" not in err


@pytest.mark.parametrize("damage", ["truncated", "tampered", "mismatched", "not_safetensors"])
def test_bad_weights_fail_clearly_through_the_cli(
    tmp_path: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from rtaudio.cli import main

    wdir = tmp_path / "weights"
    path = wdir / "swishnet.safetensors"
    torch.manual_seed(0)
    models.save(models.create("swishnet"), path)
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
        expected = "not a readable safetensors file"
    elif damage == "tampered":
        path.write_bytes(data[:-8] + bytes(8))  # the last tensor's bytes changed
        expected = "checksum mismatch"
    elif damage == "mismatched":
        models.save(models.create("esresnet"), path)  # another family under this name
        expected = "expected 'swishnet'"
    else:
        path.write_bytes(b"\x80\x04K\x01.")  # a pickle: never unpickled
        expected = "not a readable safetensors file"
    (tmp_path / "cfg.toml").write_text(f'weights_dir = "{wdir}"\n')
    sf.write(tmp_path / "a.wav", _tone(0.3, 300, 0), SR)
    rc = main(
        [
            "process",
            str(tmp_path / "a.wav"),
            "--out",
            str(tmp_path / "out"),
            "--config",
            str(tmp_path / "cfg.toml"),
            "--classifiers",
            "swishnet",
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2, err
    assert expected in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.json"))


@pytest.mark.slow
def test_a_long_file_is_processed_in_constant_memory(tmp_path: Path) -> None:
    """20 minutes of 48 kHz stereo (460 MB as float32) with the separated voice written:
    the process grows by well under a megabyte per minute of audio."""
    import threading

    from rtaudio.batch import FileProcessor, Job, compute_one, write_outputs
    from rtaudio.bench_pipeline import rss_mb

    rate = 48000
    block = (0.1 * np.random.default_rng(0).standard_normal((rate * 10, 2))).astype(np.float32)
    with sf.SoundFile(str(tmp_path / "long.wav"), "w", rate, 2, subtype="PCM_16") as f:
        for _ in range(120):
            f.write(block)
    sf.write(tmp_path / "short.wav", block, rate, subtype="PCM_16")
    cfg = EngineConfig(
        classifiers=(),
        separate="mitas",
        chunk_ms=1000.0,
        max_backlog_ms=2000.0,
        weights_dir=str(save_tiny_weights(tmp_path / "w", ("mitas",))),
    )
    fp = FileProcessor(cfg)
    out = tmp_path / "out"

    def peak_while(name: str) -> tuple[float, dict[str, object]]:
        peak, stop = [rss_mb()], threading.Event()

        def watch() -> None:
            while not stop.wait(0.02):
                peak[0] = max(peak[0], rss_mb())

        th = threading.Thread(target=watch)
        th.start()
        try:
            row, files = compute_one(fp, Job(tmp_path / name, Path(name)), False, out / ".spool")
            write_outputs(out, files)
        finally:
            stop.set()
            th.join()
        return peak[0], row

    peak_while("short.wav")  # warm up: models, allocator, soxr
    base = rss_mb()
    peak, row = peak_while("long.wav")
    assert row["status"] == "ok" and row["duration_s"] == 1200.0
    assert sf.info(str(out / "long.voice.wav")).frames == 1200 * SR
    growth = peak - base
    print(f"RSS growth over a 20-minute file: {growth:.2f} MB")
    assert growth < 20, f"RSS grew by {growth:.1f} MB"


def test_output_names_with_dots_or_absolute_paths_are_refused(tmp_path: Path) -> None:
    from rtaudio.batch import inside, write_outputs

    out = tmp_path / "out"
    out.mkdir()
    assert inside(out, "sub/a.labels.json") == (out / "sub" / "a.labels.json").resolve()
    for rel in ("../escape.json", "sub/../../escape.json", "/etc/escape.json", ""):
        with pytest.raises(BatchError, match="outside the output folder"):
            inside(out, rel)
    with pytest.raises(BatchError):  # all-or-nothing: the good file is not written either
        write_outputs(out, {"good.json": b"{}", "../bad.json": b"{}"})
    assert not (out / "good.json").exists() and not (tmp_path / "bad.json").exists()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_full_disk_stops_the_batch_and_a_rerun_goes_on(
    tmp_path: Path, small_disk: Path, workers: int
) -> None:
    """Each 3 s voice is 96 KB: a few fit. The batch stops at the first file the disk cannot
    take (the rest would fail the same way after being processed), keeps the finished files,
    says how many and what to do; with space freed the same command finishes the rest."""
    src = tmp_path / "in"
    src.mkdir()
    for i in range(8):
        sf.write(src / f"f{i}.wav", _tone(3.0, 300 + 50 * i, i), SR)
    wdir = save_tiny_weights(tmp_path / "weights", ("mitas",))
    (tmp_path / "cfg.toml").write_text(f'weights_dir = "{wdir}"\n')
    out = small_disk / "out"
    cmd = [EXE, "process", str(src), "--out", str(out), "--config", str(tmp_path / "cfg.toml")]
    cmd += ["--separate", "mitas", "--classifiers", "", "--no-progress"]
    cmd += ["--workers", str(workers)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert f"{out}: no space left on the disk" in r.stderr
    kept = sorted(p.name for p in out.glob("*.labels.json"))
    assert 1 <= len(kept) < 8 and f"stopped with {len(kept)} of 8 files done" in r.stderr
    for name in kept:  # every file reported done is whole
        voice = read_audio(out / name.replace(".labels.json", ".voice.wav"))
        assert voice.size == 3 * SR
    assert not (out / ".rtaudio-spool").exists() and not list(out.rglob("*.part"))
    # free space (the user moves the finished voices away) and run the same command again
    moved = tmp_path / "moved"
    moved.mkdir()
    for v in out.glob("*.voice.wav"):
        shutil.move(v, moved / v.name)
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode in (0, 1), r.stderr
    assert len(list(out.glob("*.labels.json"))) > len(kept)  # went on where it stopped
    rows = _rows(out)
    assert all(rows[n.replace(".labels.json", ".wav")]["status"] == "ok" for n in kept)


def test_label_tracks_for_audacity(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--label-tracks writes NAME.MODEL.txt (start, end, label; tab-separated; runs merged),
    the same spans as labels.json; a batch already processed without it gets its tracks from
    its labels.json, without processing the audio again."""
    from rtaudio.cli import main

    src = tmp_path / "in"
    src.mkdir()
    x = np.concatenate(
        [_tone(1.2, 300, 0), np.zeros(int(0.6 * SR), np.float32), _tone(1.0, 500, 1)]
    )
    sf.write(src / "a.wav", x, SR)
    sf.write(src / "b.wav", _tone(0.8, 700, 2), SR)
    wdir = save_tiny_weights(tmp_path / "weights")
    (tmp_path / "cfg.toml").write_text(f'weights_dir = "{wdir}"\n')
    out = tmp_path / "out"
    base = ["process", str(src), "--out", str(out), "--config", str(tmp_path / "cfg.toml")]
    assert main([*base, "--no-progress"]) == 0
    assert not list(out.glob("*.txt"))
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.labels.json")}
    capsys.readouterr()
    assert main([*base, "--no-progress", "--label-tracks"]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.labels.json")} == stamps
    for name in ("a", "b"):
        doc = json.loads((out / f"{name}.labels.json").read_text())
        for model, segs in doc["segments"].items():
            rows = [
                line.split("\t") for line in (out / f"{name}.{model}.txt").read_text().splitlines()
            ]
            spans = [(float(a), float(b), lab) for a, b, lab in rows]
            assert spans[0][0] == segs[0]["start"] and spans[-1][1] == pytest.approx(
                segs[-1]["end"]
            )
            assert all(s[2] != t[2] for s, t in itertools.pairwise(spans))  # runs merged
            for seg in segs:  # every labelled span lies in a track span of its label
                assert any(
                    a - 1e-6 <= seg["start"] and seg["end"] <= b + 1e-6 and lab == seg["label"]
                    for a, b, lab in spans
                )
    assert "silence" in (out / "a.swishnet.txt").read_text()  # the gap between the tones
    # a new file processed with the flag gets its tracks with its other outputs
    sf.write(src / "c.wav", _tone(0.7, 900, 3), SR)
    assert main([*base, "--no-progress", "--label-tracks"]) == 0
    assert (out / "c.swishnet.txt").is_file() and (out / "c.esresnet.txt").is_file()
