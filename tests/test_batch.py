"""``rtaudio process``: folders in, labels / voice / summary out, same results as live."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from rtaudio import models
from rtaudio.audiofile import read_audio
from rtaudio.batch import BatchError, run_batch
from rtaudio.config import EngineConfig
from rtaudio.engine import Engine

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


def test_voice_is_sample_aligned_with_the_input(tree: Path, tmp_path: Path) -> None:
    """Batch voice == the separator's offline (aligned) output: the stream delay is removed."""
    torch.manual_seed(0)
    net = models.create("mitas")
    wdir = tmp_path / "weights"
    models.save(net, wdir / "mitas.safetensors")
    cfg = EngineConfig(separate="mitas", classifiers=(), weights_dir=str(wdir))
    run_batch([tree / "a.wav"], tmp_path / "out", cfg, progress=False)
    voice, _ = sf.read(tmp_path / "out" / "a.voice.wav", dtype="float32")
    x = torch.from_numpy(read_audio(tree / "a.wav"))[None]
    with torch.no_grad():
        expected = net.eval()(x)[0, 0].numpy()
    np.testing.assert_allclose(voice, np.clip(expected, -1, 1), atol=2e-4)  # 16-bit WAV


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
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BatchError, match="no audio files"):
        run_batch([empty], tmp_path / "o", EngineConfig(), progress=False)


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
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(out.glob("*.labels.json"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    done = {p.name: p.stat().st_mtime_ns for p in out.glob("*.labels.json")}
    assert 2 <= len(done) < 20
    assert not list(out.rglob("*.part"))  # nothing half-written
    for p in out.glob("*.voice.wav"):  # every voice file present is complete
        assert sf.info(str(p)).frames == SR
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert len(list(out.glob("*.labels.json"))) == 20
    assert all((out / n).stat().st_mtime_ns == t for n, t in done.items())  # not redone
    assert len(_rows(out)) == 20
