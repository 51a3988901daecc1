"""``rtaudio data import`` on tiny generated ESC-50, UrbanSound8K, MUSAN and LibriMix layouts:
manifest rows, label mapping, resume, interruption, bad input and merging into a corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf
from test_data_readers import _csv, _wav
from tiny_corpus import make_tiny_corpus

from rtaudio.cli import main
from rtaudio.data import importer
from rtaudio.data.manifest import FIELDS, read_manifest
from rtaudio.data.sources import EVENT_CLASSES
from rtaudio.train import Corpus

ESC50_CATS = ["dog", "rooster", "cat", "rain", "crow", "airplane", "dog", "sea_waves"]
ESC50_CATS += ["frog", "wind"]
US8K_CLASSES = ["dog_bark", "siren", "car_horn", "gun_shot", "street_music"]
MIXES = {
    "train-100": "19-198-0001_26-495-0002",
    "dev": "84-121-0003_174-50-0004",
    "test": "61-70968-0000_2830-3980-0001",
}


def _quiet(_: str) -> None:
    pass


def _esc50(root: Path) -> Path:
    rows = []
    for i, cat in enumerate(ESC50_CATS):
        fold = i % 5 + 1
        name = f"{fold}-{1000 + i}-A-{i}.wav"
        _wav(root / "audio" / name, i, 44100)
        rows.append([name, fold, i, cat, "False", 1000 + i, "A"])
    _csv(
        root / "meta" / "esc50.csv",
        ["filename", "fold", "target", "category", "esc10", "src_file", "take"],
        rows,
    )
    return root


def _us8k(root: Path) -> Path:
    rows = []
    for i in range(10):
        name = f"{100 + i}-{i}-0-0.wav"
        _wav(root / "audio" / f"fold{i + 1}" / name, i)
        rows.append([name, 100 + i, 0.0, 1.0, 1, i + 1, i % 5, US8K_CLASSES[i % 5]])
    _csv(
        root / "metadata" / "UrbanSound8K.csv",
        ["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"],
        rows,
    )
    return root


def _musan(root: Path) -> Path:
    for i in range(4):
        _wav(root / "music" / "fma" / f"music-fma-{i:04d}.wav", i)
    (root / "music" / "fma" / "ANNOTATIONS").write_text(
        "".join(f"music-fma-{i:04d} Pop N Artist {i // 2}\n" for i in range(4))
    )
    for i in range(3):
        _wav(root / "speech" / "librivox" / f"speech-librivox-{i:04d}.wav", 10 + i)
        _wav(root / "noise" / "free-sound" / f"noise-free-sound-{i:04d}.wav", 20 + i)
    return root


def _librimix(root: Path) -> Path:
    """Each mixture in two variants (8 kHz min, 16 kHz max): only one copy is imported."""
    for variant, sr in (("wav8k/min", 8000), ("wav16k/max", 16000)):
        for k, (sub, mid) in enumerate(MIXES.items()):
            for role in ("mix_clean", "mix_both", "s1", "s2", "noise"):
                _wav(root / "Libri2Mix" / variant / sub / role / f"{mid}.wav", k, sr)
    return root


def _import(dataset: str, root: Path, out: Path, *extra: str) -> int:
    return main(["data", "import", dataset, str(root), "--out", str(out), "--no-progress", *extra])


def _rows(out: Path) -> list[dict[str, object]]:
    return read_manifest(out)


def test_esc50_mapped_and_resumed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, out = _esc50(tmp_path / "ESC-50"), tmp_path / "corpus"
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert _import("esc50", root, out) == 0
    line = capsys.readouterr().out
    assert "8 imported, 0 already present, 2 skipped unmapped, 0 unreadable" in line
    assert "events/train" in line
    rows = _rows(out)
    assert len(rows) == 8
    by_origin = {Path(str(r["origin"])).name: r for r in rows}
    assert "3-1002-A-2.wav" not in by_origin and "4-1008-A-8.wav" not in by_origin  # cat, frog
    assert by_origin["2-1001-A-1.wav"]["label"] == "farm_animal"
    assert by_origin["5-1004-A-4.wav"]["label"] == "bird"
    assert by_origin["5-1004-A-4.wav"]["split"] == "test"  # fold 5
    assert by_origin["4-1003-A-3.wav"]["split"] == "validation"  # fold 4
    assert by_origin["1-1005-A-5.wav"]["label"] == "aircraft"
    for r in rows:
        assert r["kind"] == "events" and r["label"] in EVENT_CLASSES
        assert r["real"] == 1 and r["package"] == "esc50"
        assert r["license"] == importer.LICENSES["esc50"]
        assert str(r["source"]).startswith("import:esc50:") and r["speaker"] == r["source"]
        assert json.loads(str(r["details"]))["fold"] in {"1", "2", "3", "4", "5"}
        info = sf.info(str(out / str(r["path"])))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert info.frames == 1600 and r["duration"] == pytest.approx(0.1)
    assert list(json.loads((out / "manifest.json").read_text())["clips"][0]) == list(FIELDS)
    corpus = Corpus(out, _quiet)
    train = corpus.select("train", ("events",))
    labels = sorted(str(r["label"]) for r in train)
    assert labels == ["aircraft", "dog", "dog", "farm_animal", "water"]
    assert corpus.audio(train[0]).size == 1600

    manifest = (out / "manifest.csv").read_bytes()
    assert _import("esc50", root, out) == 0
    assert "0 imported, 8 already present" in capsys.readouterr().out
    assert (out / "manifest.csv").read_bytes() == manifest
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before


def test_native_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _us8k(tmp_path / "UrbanSound8K")
    assert _import("urbansound8k", root, tmp_path / "mapped") == 0
    mapped = _rows(tmp_path / "mapped")
    assert sorted({str(r["label"]) for r in mapped}) == ["alarm_bell", "dog", "gunshot"]
    assert "4 skipped unmapped" in capsys.readouterr().out
    assert _import("urbansound8k", root, tmp_path / "native", "--labels", "native") == 0
    native = _rows(tmp_path / "native")
    assert sorted({str(r["label"]) for r in native}) == sorted(US8K_CLASSES)
    assert {r["split"] for r in native if r["origin"].endswith("109-9-0-0.wav")} == {"test"}


def test_musan_and_librimix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "corpus"
    assert _import("musan", _musan(tmp_path / "musan"), out) == 0
    assert _import("librimix", _librimix(tmp_path / "LibriMix"), out) == 0
    line = capsys.readouterr().out.splitlines()[-1]
    assert "12 mixtures skipped, 9 duplicate variants skipped" in line
    rows = _rows(out)
    musan = [r for r in rows if r["package"] == "musan"]
    assert sorted({str(r["kind"]) for r in musan}) == ["music", "noise", "speech"]
    assert len({r["source"] for r in musan if r["kind"] == "music"}) == 2  # by artist
    libri = [r for r in rows if r["package"] == "librimix"]
    assert len(libri) == 9  # s1, s2 and noise of 3 mixtures; no mixtures, one variant each
    assert all("/wav16k/max/" in str(r["origin"]) for r in libri)
    assert all(sf.info(str(out / str(r["path"]))).frames == 1600 for r in libri)
    speech = {str(r["speaker"]): r for r in libri if r["kind"] == "speech"}
    assert set(speech) == {
        f"import:librispeech:{s}" for s in ("19", "26", "84", "174", "61", "2830")
    }
    assert speech["import:librispeech:84"]["split"] == "validation"
    assert sorted(str(r["split"]) for r in libri if r["kind"] == "noise") == [
        "test",
        "train",
        "validation",
    ]
    assert len(Corpus(out, _quiet).select("test", ("speech",))) == 2 + sum(
        1 for r in musan if r["kind"] == "speech" and r["split"] == "test"
    )


def test_bad_layout_and_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    out = tmp_path / "corpus"
    assert _import("esc50", tmp_path / "empty", out) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ESC-50 metadata" in err and "Traceback" not in err
    assert _import("timit", tmp_path / "empty", out) == 2
    assert "unknown dataset 'timit'" in capsys.readouterr().err
    assert _import("esc50", tmp_path / "nope", out) == 2
    assert "not a directory" in capsys.readouterr().err
    assert _import("esc50", tmp_path / "empty", out, "--labels", "mine") == 2
    assert "--labels" in capsys.readouterr().err
    root = _esc50(tmp_path / "esc")
    assert _import("esc50", root, root / "corpus") == 2
    assert "must not overlap" in capsys.readouterr().err
    assert not out.exists() and not (root / "corpus").exists()


def test_unreadable_file_is_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, out = _esc50(tmp_path / "ESC-50"), tmp_path / "corpus"
    (root / "audio" / "1-1000-A-0.wav").write_text("not audio\n")
    assert _import("esc50", root, out) == 1
    text = capsys.readouterr().out
    assert "7 imported" in text and "1 unreadable" in text
    assert "unreadable: " in text and "1-1000-A-0.wav" in text
    assert len(_rows(out)) == 7


def test_files_listed_but_missing_are_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One file of the metadata deleted: said and listed, exit 1 (it was silently dropped);
    every file gone, or a layout with no audio: exit 2 and no corpus written (exit 0, '0
    imported', and an empty corpus before)."""
    root, out = _esc50(tmp_path / "ESC-50"), tmp_path / "corpus"
    (root / "audio" / "1-1000-A-0.wav").unlink()
    assert _import("esc50", root, out) == 1
    text = capsys.readouterr().out
    assert "7 imported" in text and "1 listed but missing" in text
    assert f"missing: {root / 'audio' / '1-1000-A-0.wav'}" in text
    for f in (root / "audio").iterdir():
        f.unlink()
    out2 = tmp_path / "corpus2"
    assert _import("esc50", root, out2) == 2
    err = capsys.readouterr().err
    assert f"esc50: none of the 10 files its metadata lists is under {root}" in err
    musan = tmp_path / "musan"
    _wav(musan / "music" / "song.wav", 0)  # no collection folder
    assert _import("musan", musan, out2) == 2
    assert "MUSAN: no music/ <collection>/*.wav under" in capsys.readouterr().err
    assert not out2.exists()


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("manifest.json", '{"mine": true}'),
        ("summary.json", "my summary, not JSON"),
        ("manifest.csv", "a,b\n"),
        ("manifest.csv", "a,b\n1,2\n"),
    ],
)
def test_the_users_own_files_in_out_are_never_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str
) -> None:
    root, out = _esc50(tmp_path / "ESC-50"), tmp_path / "corpus"
    out.mkdir()
    (out / name).write_text(text)
    assert _import("esc50", root, out) == 2
    err = capsys.readouterr().err
    assert f"{out / name} is not a corpus's, and an import writes it: nothing was changed" in err
    assert [p.name for p in out.iterdir()] == [name] and (out / name).read_text() == text


def test_interrupted_import_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root, out = _esc50(tmp_path / "ESC-50"), tmp_path / "corpus"
    real_write = importer.write_wav
    calls = []

    def write_then_stop(*args: object, **kw: object) -> None:
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(args)
        real_write(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(importer, "write_wav", write_then_stop)
    assert _import("esc50", root, out) == 130
    assert len(_rows(out)) == 3  # the manifest lists exactly the clips written
    monkeypatch.setattr(importer, "write_wav", real_write)
    assert _import("esc50", root, out) == 0
    assert "5 imported, 3 already present" in capsys.readouterr().out
    assert len(_rows(out)) == 8


def test_import_into_built_corpus(tmp_path: Path) -> None:
    out = make_tiny_corpus(tmp_path / "corpus", clips_per_source=1)
    old = _rows(out)
    assert _import("esc50", _esc50(tmp_path / "ESC-50"), out) == 0
    rows = _rows(out)
    assert rows[: len(old)] == old and len(rows) == len(old) + 8
    corpus = Corpus(out, _quiet)
    assert len(corpus.select("train", ("speech",))) == 4
    assert len(corpus.select("train", ("events",))) == 5
    assert json.loads((out / "summary.json").read_text())["clips"] == len(rows)


def test_rebuilding_keeps_imported_clips(tmp_path: Path) -> None:
    """`rtaudio data build` over a corpus with imports keeps the imported rows and clips."""
    from rtaudio.data.build import BuildConfig, build

    out = tmp_path / "corpus"
    cfg = BuildConfig(
        out=out, hours=0.003, seed=3, jobs=1, progress=False, kinds=("noise",), log=_quiet
    )
    assert build(cfg).complete
    built = len(_rows(out))
    assert _import("esc50", _esc50(tmp_path / "ESC-50"), out) == 0
    assert len(_rows(out)) == built + 8
    assert build(cfg).complete  # the same build again (a resume) rewrites the manifest
    rows = _rows(out)
    imported = [r for r in rows if str(r["path"]).startswith("imported/")]
    assert len(rows) == built + 8 and len(imported) == 8
    assert all((out / str(r["path"])).is_file() for r in imported)
