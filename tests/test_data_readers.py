"""Dataset readers on tiny generated fixtures in the public layouts."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from rtaudio.data.audio import load_audio, write_wav
from rtaudio.data.readers import (
    DatasetLayoutError,
    read_esc50,
    read_librimix,
    read_musan,
    read_urbansound8k,
    read_wsj0mix,
    separation_examples,
    split_counts,
)


def _wav(path: Path, seed: int, sr: int = 16000) -> None:
    x = 0.1 * np.random.default_rng(seed).standard_normal(sr // 10)
    write_wav(path, x.astype(np.float32), sr)


def _csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def test_esc50(tmp_path: Path) -> None:
    rows = []
    cats = ["dog", "rain", "dog", "crow", "rain", "dog"]
    for i, cat in enumerate(cats):
        fold = i % 5 + 1
        name = f"{fold}-{1000 + i // 2}-A-{i}.wav"
        _wav(tmp_path / "audio" / name, i, 44100)
        rows.append([name, fold, i, cat, "True", 1000 + i // 2, "A"])
    _csv(
        tmp_path / "meta" / "esc50.csv",
        ["filename", "fold", "target", "category", "esc10", "src_file", "take"],
        rows,
    )
    es = list(read_esc50(tmp_path))
    assert len(es) == 6
    assert [e.label for e in es] == cats
    assert split_counts(es) == {"train": 4, "validation": 1, "test": 1}
    assert {e.split for e in es if e.extra["fold"] == "5"} == {"test"}
    assert es[0].source == "esc50:1000" and es[0].kind == "events"
    assert load_audio(es[0].path).size == 1600  # 0.1 s at 44.1 kHz -> 16 kHz
    with pytest.raises(DatasetLayoutError):
        list(read_esc50(tmp_path / "nope"))


def test_urbansound8k(tmp_path: Path) -> None:
    rows = []
    for i in range(10):
        fold = i + 1
        name = f"{100 + i}-{i}-0-0.wav"
        _wav(tmp_path / "audio" / f"fold{fold}" / name, i)
        rows.append(
            [name, 100 + i, 0.0, 1.0, 1, fold, i % 3, ["siren", "drilling", "car_horn"][i % 3]]
        )
    _csv(
        tmp_path / "metadata" / "UrbanSound8K.csv",
        ["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"],
        rows,
    )
    es = list(read_urbansound8k(tmp_path))
    assert split_counts(es) == {"train": 8, "validation": 1, "test": 1}
    assert es[9].split == "test" and es[8].split == "validation"
    assert es[0].label == "siren" and es[0].source == "us8k:100"


def test_musan(tmp_path: Path) -> None:
    for i in range(6):
        _wav(tmp_path / "music" / "fma" / f"music-fma-{i:04d}.wav", i)
    (tmp_path / "music" / "fma" / "ANNOTATIONS").write_text(
        "".join(
            f"music-fma-{i:04d} Pop,Rock {'Y' if i % 2 else 'N'} Artist {i // 2}\n"
            for i in range(6)
        )
    )
    (tmp_path / "music" / "fma" / "LICENSE").write_text("Creative Commons\n")
    for i in range(3):
        _wav(tmp_path / "speech" / "librivox" / f"speech-librivox-{i:04d}.wav", 10 + i)
        _wav(tmp_path / "noise" / "free-sound" / f"noise-free-sound-{i:04d}.wav", 20 + i)
    es = list(read_musan(tmp_path, seed=1))
    assert len(es) == 12
    music = [e for e in es if e.kind == "music"]
    assert len(music) == 6 and music[1].extra["vocals"] == "Y"
    by_artist: dict[str, set[str]] = {}
    for e in music:
        by_artist.setdefault(e.source, set()).add(e.split)
    assert len(by_artist) == 3 and all(len(v) == 1 for v in by_artist.values())
    assert {e.kind for e in es} == {"music", "speech", "noise"}
    assert [e.split for e in read_musan(tmp_path, seed=1)] == [e.split for e in es]
    with pytest.raises(DatasetLayoutError):
        list(read_musan(tmp_path / "music" / "fma"))


def test_librimix(tmp_path: Path) -> None:
    base = tmp_path / "Libri2Mix" / "wav8k" / "min"
    mixes = {
        "train-100": "19-198-0001_26-495-0002",
        "dev": "84-121-0003_174-50-0004",
        "test": "61-70968-0000_2830-3980-0001",
    }
    for k, (sub, mid) in enumerate(mixes.items()):
        for role in ("mix_clean", "mix_both", "s1", "s2", "noise"):
            _wav(base / sub / role / f"{mid}.wav", k, 8000)
    es = list(read_librimix(tmp_path))
    assert len(es) == 15
    assert split_counts(es) == {"train": 5, "validation": 5, "test": 5}
    s1 = next(e for e in es if e.label == "s1" and e.split == "train")
    assert s1.source == "librispeech:19" and s1.kind == "source"
    mix = next(e for e in es if e.label == "mix_both" and e.split == "test")
    assert mix.source == "librispeech:2830+61" and mix.extra["sample_rate"] == "wav8k"
    sets = separation_examples(es)
    assert len(sets) == 3
    assert all({"mixture", "s1", "s2", "noise"} <= set(s) for s in sets)
    with pytest.raises(DatasetLayoutError):
        list(read_librimix(tmp_path / "Libri2Mix" / "wav8k" / "min" / "dev" / "s1"))


def test_wsj0mix(tmp_path: Path) -> None:
    base = tmp_path / "2speakers" / "wav8k" / "min"
    names = {
        "tr": "011a0101_0.061_401o0301_-0.061",
        "cv": "012c0201_1.2_022o0302_-1.2",
        "tt": "050a050a_0.5_051a050b_-0.5",
    }
    for k, (sub, name) in enumerate(names.items()):
        for role in ("mix", "s1", "s2"):
            _wav(base / sub / role / f"{name}.wav", k, 8000)
    es = list(read_wsj0mix(tmp_path))
    assert split_counts(es) == {"train": 3, "validation": 3, "test": 3}
    tr_s2 = next(e for e in es if e.split == "train" and e.label == "s2")
    assert tr_s2.source == "wsj0:401"
    tr_mix = next(e for e in es if e.split == "train" and e.label == "mix")
    assert tr_mix.source == "wsj0:011+401" and tr_mix.extra["snrs"] == "0.061,-0.061"
    sets = separation_examples(es)
    assert [s["split"] for s in sets] == ["test", "train", "validation"]
    assert all(Path(s["mixture"]).parent.name == "mix" for s in sets)
