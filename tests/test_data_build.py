"""``rtaudio data build`` on a tiny budget: manifest, audio, source-disjoint splits,
determinism, resume after an interruption, missing sources and the command line."""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rtaudio.cli import main
from rtaudio.data import sources as src
from rtaudio.data.build import BuildConfig, build, read_journal
from rtaudio.data.manifest import (
    FIELDS,
    SPLITS,
    assign_splits,
    manifest_splits,
    read_manifest,
)
from rtaudio.data.text import TextSource

HOURS = 0.006  # ~22 s of budget; the per-split minimums make it about two minutes of audio
# the slow sources (an 86 MB .sf3 soundfont, a 2.4 GB zip) are left out to keep this fast
EXCLUDE = ("musescore", "0ad-data")


def _cfg(out: Path, **kw: object) -> BuildConfig:
    base: dict[str, object] = dict(
        out=out, hours=HOURS, seed=7, jobs=1, progress=False, exclude=EXCLUDE, log=lambda s: None
    )
    base.update(kw)
    return BuildConfig(**base)  # type: ignore[arg-type]


def _wav_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.wav"))}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    result = build(_cfg(out))
    assert result.complete and not result.failed
    return out


def test_manifest_and_audio_are_valid(corpus: Path) -> None:
    rows = read_manifest(corpus)
    assert rows, "the build produced no clips"
    with open(corpus / "manifest.csv", newline="") as f:
        assert tuple(csv.DictReader(f).fieldnames or ()) == FIELDS
    doc = json.loads((corpus / "manifest.json").read_text())
    assert [c["path"] for c in doc["clips"]] == [r["path"] for r in rows]
    assert doc["summary"]["clips"] == len(rows)
    kinds = {r["kind"] for r in rows}
    assert "noise" in kinds  # numpy-only: always available
    for r in rows:
        info = sf.info(str(corpus / r["path"]))
        assert info.samplerate == 16000 and info.channels == 1 and info.subtype == "PCM_16"
        assert abs(info.frames / 16000 - r["duration"]) < 1e-3
        assert r["split"] in SPLITS and r["license"] and r["package"] and r["source"]
        assert 0.2 < r["duration"] < 12.0
    x, _ = sf.read(str(corpus / rows[0]["path"]), dtype="float32")
    assert np.max(np.abs(x)) > 0.01  # not silent
    # no temporary files are left behind
    assert not list(corpus.rglob("*.part"))


def test_splits_never_share_a_source_or_speaker(corpus: Path) -> None:
    rows = read_manifest(corpus)
    by_source: dict[str, set[str]] = defaultdict(set)
    by_speaker: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        by_source[r["source"]].add(r["split"])
        if r["kind"] == "speech":
            by_speaker[r["speaker"]].add(r["split"])
    assert all(len(v) == 1 for v in by_source.values()), {
        k: v for k, v in by_source.items() if len(v) > 1
    }
    assert all(len(v) == 1 for v in by_speaker.values())
    real = [r for r in rows if r["kind"] == "speech" and r["real"]]
    if len({r["source"] for r in real}) >= 3:  # real speakers are held out
        assert {r["split"] for r in real} == set(SPLITS)
    summary = json.loads((corpus / "summary.json").read_text())
    assert set(summary["hours_by_kind_split"]) >= {f"noise/{s}" for s in ("train",)}


def test_same_seed_gives_identical_manifest_and_audio(corpus: Path, tmp_path: Path) -> None:
    other = tmp_path / "again"
    assert build(_cfg(other)).complete
    assert (other / "manifest.csv").read_bytes() == (corpus / "manifest.csv").read_bytes()
    assert (other / "manifest.json").read_bytes() == (corpus / "manifest.json").read_bytes()
    assert _wav_bytes(other) == _wav_bytes(corpus)


def test_other_seed_and_parallel_workers(tmp_path: Path) -> None:
    a = build(
        _cfg(
            tmp_path / "a",
            kinds=("noise", "speech"),
            seed=1,
            exclude=(*EXCLUDE, "festival"),
            hours=0.003,
        )
    )
    b = build(
        _cfg(
            tmp_path / "b",
            kinds=("noise", "speech"),
            seed=1,
            exclude=(*EXCLUDE, "festival"),
            hours=0.003,
            jobs=2,
        )
    )
    c = build(
        _cfg(
            tmp_path / "c",
            kinds=("noise", "speech"),
            seed=2,
            exclude=(*EXCLUDE, "festival"),
            hours=0.003,
        )
    )
    assert a.complete and b.complete and c.complete
    assert (tmp_path / "a" / "manifest.csv").read_bytes() == (
        tmp_path / "b" / "manifest.csv"
    ).read_bytes()
    assert _wav_bytes(tmp_path / "a") == _wav_bytes(tmp_path / "b")
    assert (tmp_path / "a" / "manifest.csv").read_bytes() != (
        tmp_path / "c" / "manifest.csv"
    ).read_bytes()


def test_resume_after_interruption(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "resumed"
    first = build(_cfg(out, stop_after=4))
    assert not first.complete and first.ran == 4
    assert not (out / "manifest.csv").exists()  # no manifest for a partial corpus
    journal = read_journal(out / ".build" / "journal.jsonl")
    assert len(journal) == 4
    done = [r["path"] for e in journal.values() for r in e["records"]]
    assert done
    stamps = {p: os.stat(out / p).st_mtime_ns for p in done}
    # a crash mid-write: a torn journal line, a half-written WAV, a lost clip
    with open(out / ".build" / "journal.jsonl", "a") as f:
        f.write('{"job": "speech-torn", "spec": "0", "rec')
    stray = out / "noise" / ".half.wav.x.part"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"RIFF")
    lost = done[-1]
    (out / lost).unlink()
    second = build(_cfg(out))
    assert second.complete and not second.failed
    assert second.skipped == 3  # the job that lost a clip runs again, the others do not
    for p in done[:-1]:
        if p.split("/")[-1].rsplit("_", 1)[0] != lost.split("/")[-1].rsplit("_", 1)[0]:
            assert os.stat(out / p).st_mtime_ns == stamps[p], f"{p} was redone"
    assert (out / lost).exists()
    assert not stray.exists()
    assert (out / "manifest.csv").read_bytes() == (corpus / "manifest.csv").read_bytes()
    assert _wav_bytes(out) == _wav_bytes(corpus)
    third = build(_cfg(out))  # nothing left to do
    assert third.complete and third.ran == 0


def test_assign_splits_rules() -> None:
    groups = {f"g{i}": ("s", float(i == 3)) for i in range(10)}
    groups.update({"solo": ("one", 0.0), "p1": ("two", 0.0), "p2": ("two", 5.0)})
    a = assign_splits(groups, seed=1)
    assert a == assign_splits(groups, seed=1)
    assert a["g3"] == "train"  # the heaviest source is never held out
    assert {a[f"g{i}"] for i in range(10)} == set(SPLITS)
    assert a["solo"] == "train"
    assert a["p2"] == "train" and a["p1"] == "test"
    assert any(assign_splits(groups, seed=s) != a for s in range(2, 6))


def test_assign_splits_keeps_pinned_groups() -> None:
    groups = {f"old{i}": ("s", float(i)) for i in range(6)}
    groups.update({f"new{i}": ("s", 0.0) for i in range(5)})
    pinned = {f"old{i}": SPLITS[i % 3] for i in range(6)}  # the heaviest one held out too
    a = assign_splits(groups, seed=1, pinned=pinned)
    assert all(a[g] == sp for g, sp in pinned.items())
    # the new groups are split among themselves by the usual rules
    assert a == assign_splits(groups, seed=1, pinned=pinned)
    new = {g: sp for g, sp in a.items() if g.startswith("new")}
    assert new == assign_splits({g: groups[g] for g in new}, seed=1)
    assert set(new.values()) == set(SPLITS)


def test_keep_splits_from_an_earlier_corpus(corpus: Path, tmp_path: Path) -> None:
    """A rebuild with --keep-splits puts every source of the earlier corpus in its old split,
    even against what this seed would choose (here: every split rotated by one)."""
    old = manifest_splits(corpus)
    events = {r["source"] for r in read_manifest(corpus) if r["kind"] == "events"}
    assert len(events) >= 3
    rotated = {g: SPLITS[(SPLITS.index(sp) + 1) % 3] for g, sp in old.items()}
    out = tmp_path / "kept"
    result = build(_cfg(out, kinds=("events",), pinned=rotated))
    assert result.complete and not result.failed
    got = manifest_splits(out)
    assert {g: got[g] for g in events if g in got} == {g: rotated[g] for g in events if g in got}
    assert len(set(got) & events) >= 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sources_with_kept_split"] == len(set(got) & set(rotated))


def test_manifest_splits_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        manifest_splits(tmp_path / "nothing")
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a corpus manifest"):
        manifest_splits(tmp_path / "x.csv")
    (tmp_path / "y.csv").write_text("source,split\ns1,train\ns1,test\n")
    with pytest.raises(ValueError, match="two splits"):
        manifest_splits(tmp_path / "y.csv")
    rc = main(["data", "build", "--out", str(tmp_path / "o"), "--keep-splits", str(tmp_path)])
    assert rc == 2 and "--keep-splits: cannot read" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_event_rules_of_game_and_stamp_packages() -> None:
    stamps = "/usr/share/tuxpaint/stamps/animals"
    assert src.event_class("tuxpaint-stamps-default", f"{stamps}/mammals/bovines/cow.ogg") == (
        "farm_animal"
    )
    # a stamp's spoken description is speech, not the animal
    assert (
        src.event_class("tuxpaint-stamps-default", f"{stamps}/mammals/bovines/cow_desc_fr.ogg")
        is None
    )
    assert src.event_class("tuxpaint-stamps-default", f"{stamps}/birds/lark.ogg") == "bird"
    assert src.event_class("megaglest-data", "/x/tilesets/meadow/sounds/rain.ogg") == "rain"
    assert src.event_class("megaglest-data", "/x/commondata/sounds/chicken_ack2.wav") == (
        "farm_animal"
    )
    assert src.event_class("ufoai-sound", "sound/weapons/bullet-rifle-3x.ogg") == "gunshot"
    assert src.event_class("ufoai-sound", "sound/weapons/reload-rifle.ogg") is None
    assert src.event_class("openarena-data", "sound/player/footsteps/boot3.wav") == "footsteps"
    assert src.event_class("warzone2100-data", "audio/sfx/vehicle/vtolland.ogg") == "aircraft"
    # takes and variants of one recording share it (one split unit)
    rec = src.event_recording_id
    assert rec("ufoai-sound", "bullet-rifle-3x.ogg") == rec("ufoai-sound", "bullet-rifle.ogg")
    assert rec("ufoai-sound", "door1-open.ogg") == rec("ufoai-sound", "door1-close.ogg")
    assert rec("ufoai-sound", "bullet-smg.ogg") != rec("ufoai-sound", "bullet-rifle.ogg")
    assert rec("openarena-data", "machgf1b.wav") == rec("openarena-data", "machgf4b.wav")
    assert rec("warzone2100-data", "vtol-move.ogg") == rec("warzone2100-data", "vtoloff.ogg")
    assert rec("megaglest-data", "chicken_ack2.wav") == rec("megaglest-data", "chicken_die.wav")
    assert rec("tuxpaint-stamps-default", "cow_white.ogg") == "cow"
    assert rec("0ad-data", "lumber_tree_07.ogg") == "lumber_tree"


def test_event_rules_of_flight_racing_and_shooter_packages() -> None:
    fg = "/usr/share/games/flightgear"
    cls = src.event_class
    assert cls("flightgear-data-base", f"{fg}/Sounds/turboprop1.wav") == "aircraft"
    assert cls("flightgear-data-base", f"{fg}/Aircraft/c172p/Sounds/engine-idle.wav") == (
        "aircraft"
    )
    # the c172p's cockpit clicks and the ground proximity voice are not events
    assert cls("flightgear-data-base", f"{fg}/Aircraft/c172p/Sounds/click2.wav") is None
    assert cls("flightgear-data-base", f"{fg}/Sounds/mk-viii/pull-up.wav") is None
    assert cls("flightgear-data-base", f"{fg}/Sounds/thunder3.wav") == "thunder"
    assert cls("flightgear-data-base", f"{fg}/Sounds/gear-hrn.wav") == "alarm_bell"
    s3d = "/usr/share/games/scorched3d/data/globalmods"
    assert cls("scorched3d-data", f"{s3d}/apoc/data/wav/misc/rooster.wav") == "farm_animal"
    assert cls("scorched3d-data", f"{s3d}/none/data/wav/misc/f16_2.wav") == "aircraft"
    assert cls("scorched3d-data", f"{s3d}/apoc/data/wav/misc/carhorn3.wav") is None
    torcs = "/usr/share/games/torcs/data/sound"
    assert cls("torcs-data", f"{torcs}/lamborghinidiablo.wav") == "vehicle_engine"
    assert cls("torcs-data", f"{torcs}/skid_tyres.wav") is None
    re_ = "/usr/share/games/redeclipse/data/sounds"
    assert cls("redeclipse-data", f"{re_}/ambience/morph/stormbolts.ogg") == "thunder"
    assert cls("redeclipse-data", f"{re_}/ambience/hollowwind.ogg") == "wind"
    assert cls("redeclipse-data", f"{re_}/weapons/pistol/reload.ogg") is None
    assert cls("supertux-data", "/usr/share/games/supertux2/sounds/savebell_low.wav") == (
        "alarm_bell"
    )
    rec = src.event_recording_id
    # one aircraft's start, idle and cut-off; one car's loops; one wind under several names
    fgr = "flightgear-data-base"
    assert rec(fgr, "engine-idle.wav") == rec(fgr, "engine-cut.wav") == rec(fgr, "engine.wav")
    assert rec(fgr, "p51d_rpm1.wav") == rec(fgr, "p51d_startup.wav")
    assert rec(fgr, "turbine_loop.wav") == rec(fgr, "turbine_shutdown.wav")
    assert rec(fgr, "turbine_loop.wav") != rec(fgr, "exhaust_loop.wav")
    assert rec("torcs-data", "viper_long.wav") == rec("torcs-data", "cleanviper.wav")
    assert rec("torcs-data", "evo7_engine_f.wav") == rec("torcs-data", "evo7_engine.wav")
    assert rec("torcs-data", "ford1b.wav") != rec("torcs-data", "ford2c.wav")
    assert rec("redeclipse-data", "hollowwind.ogg") == rec("redeclipse-data", "wind2.ogg")
    assert rec("redeclipse-data", "waterfall_deep.ogg") == rec("redeclipse-data", "waterfall3.ogg")
    assert rec("supertux-data", "savebell2.wav") == rec("supertux-data", "savebell_low.wav")
    assert all(rec(p, n) for p, n in [(fgr, "engine-idle.wav"), ("torcs-data", "clean.wav")])


def test_tux_paint_descriptions_are_speech_by_language() -> None:
    lang = src.tuxpaint_voice_lang
    assert lang("cow_desc_fr.ogg") == "fr" and lang("cow_desc.ogg") == "en"
    assert lang("x_desc_pt_BR.ogg") == "pt"
    assert lang("cow.ogg") is None and lang("cow_fr.ogg") is None  # the moo, the name


@pytest.mark.parametrize("suffix", [".zip", ".pk3", ".wz"])
def test_sounds_inside_zip_archives(tmp_path: Path, suffix: str) -> None:
    """Game archives (.pk3, .wz) are zip files: their members decode like loose files."""
    import zipfile

    from rtaudio.data.audio import audio_duration, load_audio

    x = (0.3 * np.sin(np.arange(8000) * 0.05)).astype(np.float32)
    sf.write(tmp_path / "a.wav", x, 16000, subtype="PCM_16")
    arch = tmp_path / f"bank{suffix}"
    with zipfile.ZipFile(arch, "w") as z:
        z.write(tmp_path / "a.wav", "sound/a.wav")
    y = load_audio(f"{arch}::sound/a.wav")
    assert y.shape == x.shape and np.abs(y - x).max() < 1e-3
    assert audio_duration(f"{arch}::sound/a.wav") == pytest.approx(0.5)


def _rcc_compiler() -> Path:
    import PySide6

    exe = Path(PySide6.__file__).parent / "Qt" / "libexec" / "rcc"
    assert exe.is_file(), "PySide6 ships Qt's resource compiler"
    return exe


def test_sounds_inside_qt_resource_bundles(tmp_path: Path) -> None:
    """GCompris keeps its sounds in binary Qt resource bundles (.rcc), read here without Qt:
    members list and decode like zip members (stored or zlib-compressed, byte for byte); a
    wrong member, a zstd member or a file that is no bundle is a clear error."""
    import subprocess

    from rtaudio.data import audio as audio_mod
    from rtaudio.data.audio import AudioError, audio_duration, load_audio, rcc_names, read_bytes

    x = (0.3 * np.sin(np.arange(12000) * 0.05)).astype(np.float32)
    (tmp_path / "gcompris" / "sounds").mkdir(parents=True)
    for name in ("cow", "pig", "hen"):
        sf.write(tmp_path / "gcompris" / "sounds" / f"{name}.wav", x, 16000, subtype="PCM_16")
    (tmp_path / "gcompris" / "note.txt").write_text("not audio")
    (tmp_path / "b.qrc").write_text(
        '<RCC><qresource prefix="/">'
        '<file compression-algorithm="zlib" threshold="0">gcompris/sounds/cow.wav</file>'
        '<file compression-algorithm="none">gcompris/sounds/pig.wav</file>'
        '<file compression-algorithm="zstd" threshold="0">gcompris/sounds/hen.wav</file>'
        "<file>gcompris/note.txt</file></qresource></RCC>"
    )
    bundle = tmp_path / "animals.rcc"
    subprocess.run(
        [str(_rcc_compiler()), "--binary", "b.qrc", "-o", str(bundle)], cwd=tmp_path, check=True
    )
    assert rcc_names(str(bundle)) == [
        "gcompris/note.txt",
        "gcompris/sounds/cow.wav",
        "gcompris/sounds/hen.wav",
        "gcompris/sounds/pig.wav",
    ]
    assert src._archive_names("gcompris/sounds/c", bundle) == ["gcompris/sounds/cow.wav"]
    for name in ("cow", "pig"):
        member = f"{bundle}::gcompris/sounds/{name}.wav"
        assert read_bytes(member) == (tmp_path / "gcompris" / "sounds" / f"{name}.wav").read_bytes()
        y = load_audio(member)
        assert y.shape == x.shape and np.abs(y - x).max() < 1e-3
        assert audio_duration(member) == pytest.approx(0.75)
    flags = {m: f for m, (_, f) in audio_mod._rcc(str(bundle))[0].items()}
    assert flags["gcompris/sounds/cow.wav"] == 1 and flags["gcompris/sounds/pig.wav"] == 0
    with pytest.raises(AudioError, match="zstd"):
        read_bytes(f"{bundle}::gcompris/sounds/hen.wav")
    with pytest.raises(AudioError, match="is not in"):
        load_audio(f"{bundle}::gcompris/sounds/goat.wav")
    (tmp_path / "fake.rcc").write_bytes(b"not a bundle")
    with pytest.raises(AudioError, match="not a readable Qt resource bundle"):
        rcc_names(str(tmp_path / "fake.rcc"))


def _write_ocg(path: Path, tree: dict[str, object]) -> None:
    """An OpenClonk group as the game writes one (scrambled header, entry table, data, child
    groups nested; the whole gzip stream with its magic bytes changed to 1E 8C)."""
    import gzip
    import struct

    def scramble(h: bytes) -> bytes:
        b = bytearray(h)
        for i in range(0, len(b) - 2, 3):
            b[i], b[i + 2] = b[i + 2], b[i]
        return bytes(x ^ 237 for x in b)

    def group(items: dict[str, object]) -> bytes:
        header = b"RedWolf Design GrpFolder".ljust(28, b"\0")
        header += struct.pack("<iii", 1, 2, len(items)).ljust(204 - 28, b"\0")
        table, data = b"", b""
        for name, item in items.items():
            child = isinstance(item, dict)
            payload = group(item) if isinstance(item, dict) else bytes(item)  # type: ignore[arg-type]
            entry = name.encode().ljust(260, b"\0")
            entry += struct.pack("<iiiii", 0, int(child), len(payload), 0, len(data))
            table += entry.ljust(316, b"\0")
            data += payload
        return scramble(header) + table + data

    packed = gzip.compress(group(tree))
    path.write_bytes(b"\x1e\x8c" + packed[2:])


def test_sounds_inside_openclonk_groups(tmp_path: Path) -> None:
    """OpenClonk keeps its sounds in .ocg groups (scrambled, gzip-like, nested): members of
    child groups list with their folders and decode byte for byte; a wrong member, a damaged
    group or a file that is no group is a clear error."""
    from rtaudio.data.audio import AudioError, audio_duration, load_audio, ocg_names, read_bytes

    x = (0.3 * np.sin(np.arange(8000) * 0.05)).astype(np.float32)
    sf.write(tmp_path / "t.wav", x, 16000, subtype="PCM_16")
    sf.write(tmp_path / "r.ogg", x[:4000], 16000)
    wav, ogg = (tmp_path / "t.wav").read_bytes(), (tmp_path / "r.ogg").read_bytes()
    bundle = tmp_path / "Sound.ocg"
    _write_ocg(
        bundle,
        {
            "authors.txt": b"credits",
            "Environment.ocg": {"Lightning.ocg": {"Thunder1.wav": wav}, "Rain.ogg": ogg},
            "Fire.ocg": {"Fire.wav": wav},
        },
    )
    assert ocg_names(str(bundle)) == [
        "Environment.ocg/Lightning.ocg/Thunder1.wav",
        "Environment.ocg/Rain.ogg",
        "Fire.ocg/Fire.wav",
        "authors.txt",
    ]
    assert src._archive_names("Environment.ocg/", bundle) == [
        "Environment.ocg/Lightning.ocg/Thunder1.wav",
        "Environment.ocg/Rain.ogg",
    ]
    member = f"{bundle}::Environment.ocg/Lightning.ocg/Thunder1.wav"
    assert read_bytes(member) == wav
    assert read_bytes(f"{bundle}::Environment.ocg/Rain.ogg") == ogg
    y = load_audio(member)
    assert y.shape == x.shape and np.abs(y - x).max() < 1e-3
    assert audio_duration(f"{bundle}::Environment.ocg/Rain.ogg") == pytest.approx(0.25)
    with pytest.raises(AudioError, match="is not in"):
        load_audio(f"{bundle}::Fire.ocg/Smoke.wav")
    (tmp_path / "fake.ocg").write_bytes(b"not a group")
    with pytest.raises(AudioError, match="not a readable OpenClonk group"):
        ocg_names(str(tmp_path / "fake.ocg"))
    (tmp_path / "unpacked.ocg").mkdir()  # the game also ships groups as plain folders
    with pytest.raises(AudioError, match="not a readable OpenClonk group"):
        ocg_names(str(tmp_path / "unpacked.ocg"))
    # a child group pointing back at its parent: an error, not an endless walk
    import gzip
    import struct

    raw = bytearray(gzip.decompress(b"\x1f\x8b" + bundle.read_bytes()[2:]))
    struct.pack_into("<i", raw, 204 + 316 + 260 + 16, -(204 + 3 * 316))  # 2nd entry's offset
    (tmp_path / "loop.ocg").write_bytes(b"\x1e\x8c" + gzip.compress(bytes(raw))[2:])
    with pytest.raises(AudioError, match=r"Environment\.ocg lies outside the group"):
        ocg_names(str(tmp_path / "loop.ocg"))
    (tmp_path / "cut.ocg").write_bytes(bundle.read_bytes()[:200])
    with pytest.raises(AudioError, match="not a readable OpenClonk group"):
        ocg_names(str(tmp_path / "cut.ocg"))


def test_event_rules_of_openclonk_and_small_games() -> None:
    cls, rec = src.event_class, src.event_recording_id
    oc = "openclonk-data"
    assert cls(oc, "Environment.ocg/Lightning.ocg/Thunder3.ogg") == "thunder"
    assert cls(oc, "Liquids.ocg/Splash2.wav") == "water"
    assert cls(oc, "Liquids.ocg/Swim2.ogg") is None  # Splash reworked: left out
    assert cls(oc, "Structures.ocg/SteamEngine.ogg") == "machinery_tools"
    assert cls(oc, "Fire.ocg/Blast3alt.wav") == cls(oc, "Fire.ocg/Blast1.wav") == "explosion"
    assert cls(oc, "Fire.ocg/BlastFirework.ogg") is None
    assert cls(oc, "Clonk.ocg/Skin.ocg/Farmer.ocg/Hurt1.wav") is None  # a voice, not an event
    # one freesound recording each, by OpenClonk's credits
    assert rec(oc, "StepHard1.ogg") == rec(oc, "StepSoft6.ogg") == "step"
    assert rec(oc, "DoorOpen1.wav") == rec(oc, "DoorClose2.wav") == "door"
    assert rec(oc, "Blast3alt.wav") == rec(oc, "Blast1.wav") == "blast"
    assert rec(oc, "BlastMetal.wav") != rec(oc, "Blast1.wav")
    assert cls("trigger-rally-data", "sounds/engine.wav") == "vehicle_engine"
    assert cls("trigger-rally-data", "sounds/gravel.wav") is None
    assert cls("gl-117-data", "/usr/share/games/gl-117/sounds/plane1.wav") == "aircraft"
    assert cls("freedink-data", "/usr/share/games/dink/dink/Sound/bird1.wav") == "bird"
    # the copyright file names the engine's ISC / MIT first; the recordings are CC-BY-3.0
    from rtaudio.data.licenses import file_license

    assert file_license(oc, "/usr/share/games/openclonk/Sound.ocg").startswith("CC-BY-3.0 ")


def test_event_rules_of_simutrans_and_gcompris() -> None:
    cls = src.event_class
    st = "/usr/share/games/simutrans/pak/sound"
    assert cls("simutrans-pak64", f"{st}/diesel.wav") == cls("simutrans-pak64", f"{st}/steam.wav")
    assert cls("simutrans-pak64", f"{st}/steam.wav") == "train"
    assert cls("simutrans-pak64", f"{st}/Water.wav") == "water"
    assert cls("simutrans-pak64", f"{st}/cash.wav") is None
    act = "gcompris/src/activities"
    gc = "gcompris-qt-data"
    assert cls(gc, f"{act}/explore_farm_animals/resource/animals/pig.ogg") == "farm_animal"
    assert cls(gc, f"{act}/explore_farm_animals/resource/animals/owl.ogg") == "bird"
    assert cls(gc, f"{act}/memory-sound/resource/LRTrain_slowing_down_01_LA_cut.ogg") == "train"
    assert cls(gc, f"{act}/memory-sound/resource/LRWeird_3_LA.ogg") is None
    assert cls(gc, f"{act}/memory-sound/resource/guitar_son1.ogg") is None
    rec = src.event_recording_id
    # six takes of one factory, one lock's door opening and closing, two barks of one dog
    assert rec(gc, "LRFactory_noise_01_LA.ogg") == rec(gc, "LRFactory_noise_06_LA.ogg")
    assert rec(gc, "door_open.wav") == rec(gc, "door_close.wav") == "door"
    assert rec(gc, "LRBark_1_LA_cut.ogg") == rec(gc, "LRBark_3_LA_cut.ogg")
    assert rec(gc, "LRBark_1_LA_cut.ogg") != rec(gc, "LRDoor_Open_2_LA.ogg")


def test_missing_sources_are_notices_not_errors(tmp_path: Path) -> None:
    files, notes = src._music_dir(tmp_path / "no-such-package", "imaginary-music-data")
    assert files == [] and len(notes) == 1
    assert "imaginary-music-data not installed" in notes[0].message
    assert src.event_class("openttd-opensfx", '"Cow". Original "x.wav"') == "farm_animal"
    assert src.event_class("0ad-data", "audio/actor/singlesteps/fs_grass1.ogg") == "footsteps"
    assert src.event_class("0ad-data", "audio/interface/ui/x.ogg") is None
    assert src.event_class("openttd-opensfx", '"Train/ship breakdown". Original "x"') is None
    assert src.recording_id("lumber_tree_07.ogg") == "lumber_tree"
    assert src.recording_id("sound059.wav") == "sound059"
    assert src.track_id("celtic_fast.ogg") == "celtic"


def test_text_source_is_deterministic() -> None:
    a = [TextSource().sentence(np.random.default_rng(3)) for _ in range(3)]
    b = [TextSource().sentence(np.random.default_rng(3)) for _ in range(3)]
    assert a == b and all(s.isascii() and len(s) > 3 for s in a)


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "build", "--out", str(tmp_path / "x"), "--kinds", "bogus"]) == 2
    assert "unknown bogus" in capsys.readouterr().err
    out = tmp_path / "cli"
    rc = main(
        [
            "data",
            "build",
            "--out",
            str(out),
            "--hours",
            "0.002",
            "--kinds",
            "noise",
            "--no-progress",
            "--jobs",
            "1",
        ]
    )
    assert rc == 0 and (out / "manifest.csv").exists()
    assert main(["data", "summary", str(out)]) == 0
    assert "noise/train" in capsys.readouterr().out
    shutil.rmtree(out)
    assert main(["data", "summary", str(out)]) == 2


def test_festival_skips_a_sentence_its_voice_cannot_say() -> None:
    """The Italian diphone voice stops with a SIOD error on some English sentences; the other
    sentences of the same festival run still come out (the whole run used to be lost)."""
    from rtaudio.data import synth

    voices = {v.name: v for v in synth.festival_personas()}
    if "pc_diphone" not in voices:
        pytest.skip("festvox-itapc16k (install.sh --data) is not installed")
    bad = "Why is the river so cold tonight?"  # 'SIOD ERROR: wrong type of argument'
    good = ["Buongiorno a tutti.", "Il treno parte alle otto."]
    rng = np.random.default_rng(0)
    got = synth.synthesize(voices["pc_diphone"], [good[0], bad, good[1]], rng)
    assert [d["text"] for _, d in got] == good
    assert all(x.size > 8000 for x, _ in got)
    with pytest.raises(synth.SynthError, match="wrote no audio"):
        synth.synthesize(voices["pc_diphone"], [bad], rng)


def test_a_synthesiser_that_fails_fails_its_job_and_the_next_run_retries_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A voice the synthesiser refuses (here: an espeak-ng voice that does not exist) is a
    failed job - listed, not journaled as done - and the next run makes exactly that job."""
    import dataclasses

    from rtaudio.data import build as build_mod

    real_plan = build_mod.make_plan
    broken: list[str] = []

    def plan_with_a_bad_voice(cfg: BuildConfig) -> build_mod.Plan:
        plan = real_plan(cfg)
        for i, j in enumerate(plan.jobs):
            if j.spec.get("type") == "tts" and j.spec["voice"]["engine"] == "espeak-ng":
                voice = dict(j.spec["voice"], name="zz-no-such-voice")
                plan.jobs[i] = dataclasses.replace(j, spec=dict(j.spec, voice=voice))
                broken.append(j.id)
                break
        return plan

    out = tmp_path / "c"
    cfg = _cfg(out, kinds=("speech",))
    monkeypatch.setattr(build_mod, "make_plan", plan_with_a_bad_voice)
    first = build(cfg)
    assert broken and [f.split(":")[0] for f in first.failed] == broken
    assert "voice does not exist" in first.failed[0]
    assert first.complete  # every job attempted: the manifest lists what was made
    assert broken[0] not in read_journal(out / ".build" / "journal.jsonl")
    summary = json.loads((out / "summary.json").read_text())
    assert [f.split(":")[0] for f in summary["failed_jobs"]] == broken
    monkeypatch.setattr(build_mod, "make_plan", real_plan)
    second = build(cfg)
    assert second.complete and not second.failed and second.ran == 1
    assert broken[0] in read_journal(out / ".build" / "journal.jsonl")


def test_a_full_disk_stops_the_build_with_a_clear_error(
    small_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Generated noise (no packages needed) into a 384 KiB file system: the build stops at
    once with one line that says the disk is full and that a rerun goes on (in one process it
    failed every job with 'AssertionError: ', with workers it said 'No space left on
    device')."""
    out = small_disk / "corpus"
    argv = ["data", "build", "--out", str(out), "--hours", "0.02", "--kinds", "noise"]
    rc = main([*argv, "--no-progress", "--jobs", "1"])
    err = capsys.readouterr().err
    assert rc == 1, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"rtaudio data: {out}: no space left on the disk"), err
    assert "run the same command again" in last and "Traceback" not in err
    assert "failed" not in err  # stopped at the first job the disk refused


def test_packages_not_installed_are_told_in_one_line() -> None:
    """57 lines of 'X not installed (... missing)' came before the progress bar: one line,
    each package once; other notices stay as they are."""
    from rtaudio.data.build import shown_notices

    notices = [
        "0ad-data not installed (/usr/share/games/0ad missing)",
        "speech: espeak-ng excluded (--exclude)",
        "0ad-data not installed (/usr/share/games/0ad/mods missing)",
        "xmoto-data not installed (/usr/share/xmoto missing)",
    ]
    assert shown_notices(notices) == [
        "2 source packages not installed, skipped: 0ad-data, xmoto-data (`bash install.sh "
        "--data` installs them)",
        "speech: espeak-ng excluded (--exclude)",
    ]
    assert shown_notices(notices[1:2]) == notices[1:2]
