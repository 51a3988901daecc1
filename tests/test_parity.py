"""``rtaudio parity``: the report's numbers and files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from rtaudio import models

EXE = str(Path(sys.executable).with_name("rtaudio"))


def test_parity_report(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    audio = tmp_path / "audio"
    audio.mkdir()
    t = np.arange(int(2.2 * 16000)) / 16000
    sf.write(audio / "a.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    sf.write(audio / "b.wav", (0.1 * rng.standard_normal(t.size)).astype(np.float32), 16000)
    # first: a file shorter than a label window (its whole-file pass once left the next
    # file's stream a history of its own size: half the labels, and the report failed)
    sf.write(audio / "0.wav", (0.1 * rng.standard_normal(800)).astype(np.float32), 16000)
    torch.manual_seed(0)
    w = tmp_path / "w"
    for name in ("swishnet", "esresnet", "mitas"):
        models.save(models.create(name), w / f"{name}.safetensors")
    image = dict(num_classes=3, in_chans=1, resolution=64, mean=(0.5,), std=(0.5,))
    meta = {"classes": ["speech", "music", "noise"]}
    mn = models.save(models.create("mobilenet_v1_025", **image), w / "mn.safetensors", meta=meta)
    xc = models.save(models.create("xception_tiny", **image), w / "xc.safetensors", meta=meta)
    pm = models.save(models.create("pydmobilenet", **image), w / "pm.safetensors", meta=meta)
    (tmp_path / "cfg.toml").write_text(f'weights_dir = "{w}"\n')
    out = tmp_path / "report"
    r = subprocess.run(
        [
            EXE,
            "parity",
            str(audio),
            "--out",
            str(out),
            "--config",
            str(tmp_path / "cfg.toml"),
            "--mobilenet-weights",
            str(mn),
            "--xception-weights",
            str(xc),
            "--pydmobilenet-weights",
            str(pm),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    rep = json.loads((out / "parity.json").read_text())
    assert [f["path"] for f in rep["files"] if "error" not in f] == ["0.wav", "a.wav", "b.wav"]
    so = rep["streaming_vs_offline"]
    assert set(so) == {"swishnet", "esresnet", "mitas"}
    assert so["swishnet"]["max_abs_score_diff"] < 1e-4 and so["swishnet"]["label_agreement"] == 1.0
    assert so["esresnet"]["max_abs_score_diff"] < 1e-4
    assert so["mitas"]["max_abs_voice_diff"] < 1e-4 and so["mitas"]["samples"] > 60000
    assert so["mitas"]["max_rel_voice_diff"] < 1e-4
    for kind in ("mobilenet", "xception", "pydmobilenet"):
        v = rep["image_agreement"][kind]
        assert 0.0 <= v["agreement"] <= 1.0
        assert sum(map(sum, v["confusion"]["matrix"])) == v["windows"] > 0
        # the classes in the same order both ways: the diagonal is where they agree
        assert v["confusion"]["cols"] == v["confusion"]["rows"] == ["speech", "music", "noise"]
        assert (out / v["png"]).stat().st_size > 1000
    md = (out / "parity.md").read_text()
    assert "Streaming vs offline" in md and "confusion_mobilenet.png" in md
