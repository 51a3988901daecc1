"""Packaging and layering: wheel contents, import boundaries, the CLI entry point."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio_server import pa_env

ROOT = Path(__file__).resolve().parents[1]
STDLIB = set(sys.stdlib_module_names)


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


def test_models_import_only_torch_and_numpy() -> None:
    for path in (ROOT / "models").glob("*.py"):
        foreign = _imports(path) - STDLIB - {"torch", "numpy", "safetensors", "__future__"}
        assert not foreign, f"{path.name} imports {foreign}"


def test_engine_never_imports_the_gui() -> None:
    code = "import sys, rtaudio, rtaudio.models, rtaudio.cli; print('PySide6' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    for path in (ROOT / "rtaudio").rglob("*.py"):
        assert not {"PySide6", "pyqtgraph"} & _imports(path), path


def _loaded_by(args: list[str], heavy: tuple[str, ...]) -> list[str]:
    """Which of ``heavy`` ``rtaudio ARGS`` has imported by its end (it must succeed)."""
    code = (
        "import sys; from rtaudio.cli import main; status = main(sys.argv[1:]); "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules)); sys.exit(status)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=pa_env(),
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1].replace("'", '"'))


@pytest.mark.usefixtures("sound_card")
def test_commands_import_only_what_they_use(tmp_path: Path) -> None:
    """Each start pays for its imports: a device list needs no torch (1.2 s), and the live
    engine - features, classifiers, separator, level control - neither librosa nor scipy
    (1.4 s together), which only tests and training use."""
    assert _loaded_by(["devices", "--json"], ("torch", "scipy", "librosa")) == []
    talk = tmp_path / "talk.wav"
    noise = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
    sf.write(talk, noise, 16000)
    args = ["monitor", "--source", str(talk), "--separate", "mitas", "--duration", "0.5"]
    assert _loaded_by(args, ("torch", "scipy", "librosa")) == ["torch"]


@pytest.mark.slow
def test_wheel_contains_and_imports_all_packages(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("rtaudio-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for f in (
        "rtaudio/__init__.py",
        "rtaudio/models/__init__.py",
        "rtaudio/gui/__init__.py",
        "rtaudio/py.typed",
        "rtaudio/models/py.typed",
        "rtaudio/models/tasnet.py",
        "rtaudio/data/build.py",
        "rtaudio/train/loop.py",
        "rtaudio/resources/imagenet_classes.txt",
    ):
        assert f in names, f
    code = "import rtaudio.models as m, rtaudio.gui; print(m.__file__); print(len(m.list_models()))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(wheel), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    file, count = out.stdout.split()
    assert str(wheel) in file and int(count) >= 8


def test_cli_lists_models_and_benchmarks_json() -> None:
    exe = Path(sys.executable).with_name("rtaudio")
    out = subprocess.run([str(exe), "models"], capture_output=True, text=True, check=True)
    assert "mitas" in out.stdout and "xception" in out.stdout
    out = subprocess.run(
        [str(exe), "bench", "models", "--model", "mitas", "--calls", "5", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(out.stdout)
    rows = report["models"]
    # what the timings were measured on
    assert report["machine"]["cpu"] and report["machine"]["logical_cores"] >= 1
    assert [r["chunk_ms"] for r in rows] == [10.0, 20.0]
    assert all(r["rtf"] > 0 and r["median_ms"] <= r["p95_ms"] for r in rows)
    bad = subprocess.run(
        [str(exe), "bench", "models", "--model", "nope"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "unknown model" in bad.stderr
    window = subprocess.run(
        [str(exe), "bench", "models", "--model", "esresnet"], capture_output=True, text=True
    )
    assert window.returncode == 2 and "Traceback" not in window.stderr
    assert "esresnet: not a causal audio model" in window.stderr
    odd = subprocess.run(
        [str(exe), "bench", "models", "--chunk-ms", "7.3"], capture_output=True, text=True
    )
    assert odd.returncode == 2 and "not a whole number of 16 kHz samples" in odd.stderr


def test_bench_pipeline_on_a_source_shorter_than_a_chunk_is_one_line(tmp_path: Path) -> None:
    """19 ms of audio, 20 ms chunks: nothing to time (numpy's IndexError before)."""
    import numpy as np
    import soundfile as sf

    short = tmp_path / "short.wav"
    sf.write(short, np.full(304, 0.1, np.float32), 16000)
    exe = Path(sys.executable).with_name("rtaudio")
    out = subprocess.run(
        [str(exe), "bench", "pipeline", "--source", str(short)], capture_output=True, text=True
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.strip() == (
        f"rtaudio bench: {short}: 19.0 ms of audio, shorter than a 20 ms chunk: nothing to "
        "time; give a longer --source"
    )
