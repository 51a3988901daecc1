"""Output paths the system refuses: one line naming the path, exit status 2, before any work."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from disks import mounted_tmpfs

from rtaudio.cli import main
from rtaudio.errors import describe
from rtaudio.outputs import OutputError, exclusive, writable_folder


@pytest.fixture
def blocker(tmp_path: Path) -> Path:
    """A plain file where outputs would need a folder (refused even for root)."""
    f = tmp_path / "taken"
    f.write_text("the user's file\n")
    return f


def test_writable_folder(tmp_path: Path, blocker: Path) -> None:
    made = writable_folder(tmp_path / "a" / "b", "--out")
    assert made.is_dir() and not list(made.iterdir())  # the probe file is gone
    with pytest.raises(OutputError, match=r"--png: .*taken is a file, not a folder"):
        writable_folder(blocker, "--png")
    with pytest.raises(OutputError, match=r"--out: cannot write in .*sub \(Not a directory\)"):
        writable_folder(blocker / "sub", "--out")
    assert blocker.read_text() == "the user's file\n"
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        with pytest.raises(OutputError, match="Permission denied"):
            writable_folder(ro, "--out")


def test_os_errors_read_as_one_line() -> None:
    e = FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), "/x/y.wav")
    assert describe(e) == "/x/y.wav: No such file or directory"
    e = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert describe(e) == "No space left on device"
    e2 = OSError(errno.EXDEV, os.strerror(errno.EXDEV), "a", None, "b")
    assert describe(e2) == "a -> b: Invalid cross-device link"
    assert describe(OSError("device gone")) == "device gone"
    assert describe(KeyError("k")) == "KeyError: 'k'"


def _wav(path: Path) -> Path:
    t = np.arange(8000) / 16000
    sf.write(path, (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), 16000)
    return path


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    rc = main(argv)
    return rc, capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["data", "build", "--out", "{b}/c", "--hours", "0.01"], "{b}/c: Not a directory"),
        (["spectrogram", "{wav}", "--out", "{b}/spec", "--no-progress"], "Not a directory"),
        (["parity", "{wav}", "--out", "{b}/parity"], "{b}/parity: Not a directory"),
        (["monitor", "--source", "{wav}", "--jsonl", "{b}/log.jsonl"], "--jsonl: {b} is a file"),
        (["images", "{tmp}", "--model", "mobilenet", "--out", "{b}/x.csv"], "--out: {b} is a file"),
        (
            ["images", "{tmp}", "--model", "mobilenet", "--out", "{tmp}"],
            "is a folder; give the CSV",
        ),
        (["monitor", "--source", "{wav}", "--record", "{b}"], "--record: {b} is a file"),
        # the checks come before the corpus is read (it does not even exist here)
        (["evaluate", "swishnet", "--data", "{tmp}/none", "--png", "{b}/cm.png"], "--png: {b} is"),
        (
            ["train", "swishnet", "--data", "{tmp}/none", "--out", "{b}/w/s.safetensors"],
            "--out: cannot write in {b}/w (Not a directory)",
        ),
        (
            [
                *("train", "swishnet", "--data", "{tmp}/none", "--out", "{tmp}/s.safetensors"),
                *("--checkpoint", "{b}/s.ckpt"),
            ],
            "--checkpoint: {b} is a file, not a folder",
        ),
    ],
    ids=lambda v: v[0] if isinstance(v, list) else None,
)
def test_unwritable_outputs_end_in_one_line(
    tmp_path: Path,
    blocker: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    expected: str,
) -> None:
    wav = _wav(tmp_path / "a.wav")
    fill = {"b": str(blocker), "wav": str(wav), "tmp": str(tmp_path)}
    rc, err = _run([a.format(**fill) for a in argv], capsys)
    assert rc == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"rtaudio {argv[0]}: ") and expected.format(**fill) in err, err
    assert blocker.read_text() == "the user's file\n"


def test_parity_reports_failed_and_missing_inputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for cmd in ("parity", "spectrogram", "process"):
        rc, err = _run([cmd, str(empty), "--out", str(tmp_path / cmd)], capsys)
        assert rc == 2 and "no audio files found in the inputs" in err, (cmd, err)
        assert not (tmp_path / cmd).exists()  # no empty report or folder left behind
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    rc, err = _run(
        ["parity", str(bad), "--out", str(tmp_path / "rep"), "--separate", "off"], capsys
    )
    assert rc == 1, err
    assert f"failed: {bad}: not a readable audio file" in err
    assert "notes.wav: error:" in (tmp_path / "rep" / "parity.md").read_text()


def _hold(path: Path) -> subprocess.Popen[str]:
    """Another process holding ``path`` (as a running training or build does)."""
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from rtaudio.outputs import exclusive\n"
        "with exclusive(Path(sys.argv[1]), 'x'):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_one_run_per_checkpoint_and_per_corpus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two trainings on one checkpoint (or two builds into one corpus) would interleave their
    writes; the second is refused, naming the first; a killed holder frees it."""
    target = tmp_path / "x.ckpt"
    mine = rf"checkpoint x is in use .*\(pid {os.getpid()}\)"
    with exclusive(target, "checkpoint x"), pytest.raises(OutputError, match=mine):  # noqa: SIM117
        with exclusive(target, "checkpoint x"):
            pass
    assert not (tmp_path / ".x.ckpt.lock").exists()  # removed on exit
    ckpt = tmp_path / "w.ckpt"
    holder = _hold(ckpt)
    try:
        argv = ["train", "swishnet", "--data", str(tmp_path / "none"), "--out"]
        rc, err = _run([*argv, str(tmp_path / "w.safetensors"), "--resume"], capsys)
        assert rc == 2 and f"checkpoint {ckpt} is in use by another rtaudio run" in err
        assert f"(pid {holder.pid})" in err
    finally:
        holder.kill()
        holder.wait()
    with exclusive(ckpt, "checkpoint"):  # the operating system released it
        pass
    corpus = tmp_path / "corpus"
    (corpus / ".build").mkdir(parents=True)
    holder = _hold(corpus / ".build" / "run")
    try:
        rc, err = _run(["data", "build", "--out", str(corpus), "--hours", "0.01"], capsys)
        assert rc == 2 and f"corpus {corpus} is in use by another rtaudio run" in err, err
    finally:
        holder.kill()
        holder.wait()
    # two batches into one folder: each would rewrite summary.csv with its own rows only
    out = tmp_path / "results"
    out.mkdir()
    (out / "summary.csv").write_text("path,status\nfirst.wav,ok\n")
    sf.write(tmp_path / "a.wav", np.zeros(1600, dtype=np.float32), 16000)
    holder = _hold(out / "summary.csv")
    try:
        rc, err = _run(["process", str(tmp_path / "a.wav"), "--out", str(out)], capsys)
        assert rc == 2 and f"the output folder {out} is in use by another rtaudio run" in err
        assert (out / "summary.csv").read_text() == "path,status\nfirst.wav,ok\n"
        assert not (out / "a.labels.json").exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_full_disk_stops_the_spectrograms(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every file after the disk filled failed on its own ('[Errno 28] No space left on
    device', no file named); now the run stops at the first, keeps what it wrote, and a
    rerun with space goes on where it stopped."""
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        sf.write(src / f"f{i}.wav", (0.1 * rng.standard_normal(3 * 16000)).astype("float32"), 16000)
    with mounted_tmpfs(tmp_path / "disk", "48k") as disk:
        out = disk / "spec"
        rc, err = _run(["spectrogram", str(src), "--out", str(out), "--no-progress"], capsys)
        assert rc == 1, err
        assert f"{out}: no space left on the disk" in err and "stopped at" in err, err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        made = sorted(p.name for p in out.rglob("*.png"))
        assert made and len(made) < 18 and not list(out.rglob("*.part"))
        for p in out.rglob("*.png"):  # the user makes room
            p.unlink()
        rc, err = _run(["spectrogram", str(src / "f5.wav"), "--out", str(out)], capsys)
        assert rc == 0, err


def test_new_files_get_the_permissions_any_new_file_gets(tmp_path: Path) -> None:
    """Files written aside and renamed into place were created by mkstemp, 0600: weights,
    checkpoints, corpus clips and manifests that no one else on the machine could read."""
    import rtaudio.models as models
    from rtaudio.audiofile import save_wav_new
    from rtaudio.data.audio import write_text_atomic, write_wav
    from rtaudio.train.loop import save_checkpoint

    models.save(models.create("swishnet_slim"), tmp_path / "w.safetensors")
    save_checkpoint(tmp_path / "run.ckpt", {"step": 1})
    write_wav(tmp_path / "clip.wav", np.zeros(160, np.float32))
    write_text_atomic(tmp_path / "manifest.csv", "path\n")
    first = save_wav_new(tmp_path / "me.wav", np.zeros(160, np.float32))
    second = save_wav_new(tmp_path / "me.wav", np.ones(160, np.float32))
    mask = os.umask(0)
    os.umask(mask)
    assert mask & 0o044 == 0, "a umask that hides files from others: nothing to check"
    assert (first.name, second.name) == ("me.wav", "me-2.wav")  # never written over
    assert sf.read(first)[0].max() == 0 and sf.read(second)[0].min() > 0.99
    files = sorted(tmp_path.iterdir())
    assert [p.name for p in files] == sorted(
        ["w.safetensors", "run.ckpt", "clip.wav", "manifest.csv", "me.wav", "me-2.wav"]
    )  # no temporary files left
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in files} == {
        p.name: oct(0o666 & ~mask) for p in files
    }
