"""Fuzzing the three parsers of untrusted input: the audio loader, the image loader and the
engine config (TOML files and key / value overrides).

Each property is: the parser either refuses the input with its own one-line error type
(:class:`AudioFileError`, :class:`ImageFileError`, :class:`ConfigError`) or returns something
the rest of the program can use (finite bounded samples, an RGB / L image of the right
shape, a config whose every number is finite and in range); never another exception, a hang
or a crash. Inputs are random bytes / text and valid files with random bytes flipped,
inserted or cut off.

CI runs a fixed small number of examples (a few seconds, derandomised so it cannot flake);
for a long run by hand raise it, e.g. ``RTAUDIO_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest
tests/test_fuzz.py -q`` (randomised; a failure is printed with the input that caused it).
"""

from __future__ import annotations

import io
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from odd_inputs import AUDIO_EXTENSIONS, ffmpeg_encode, tone
from PIL import Image

from rtaudio import config as engine_config
from rtaudio.audiofile import MAX_SAMPLE, AudioFileError, iter_blocks
from rtaudio.config import ConfigError, EngineConfig
from rtaudio.images import ImageFileError, load_image, preprocess

EXAMPLES = int(os.environ.get("RTAUDIO_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=EXAMPLES or 60,
    derandomize=not EXAMPLES,  # CI: the same examples every run
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_SCRATCH: list[Path] = []


def scratch() -> Path:
    """A private folder for the generated files, made on first use, removed after the module."""
    if not _SCRATCH:
        _SCRATCH.append(Path(tempfile.mkdtemp(prefix="rtaudio-fuzz-")))
    return _SCRATCH[0]


def _mutate(data: bytes, edits: list[tuple[int, int]], cut: int, insert: bytes) -> bytes:
    b = bytearray(data)
    for pos, val in edits:
        b[pos % len(b)] = val
    b = b[: max(0, len(b) - cut)]
    if insert:
        at = edits[0][0] % (len(b) + 1) if edits else len(b) // 2
        b[at:at] = insert
    return bytes(b)


mutations = st.tuples(
    st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=12),
    st.integers(0, 600),
    st.binary(max_size=64),
)

# ------------------------------------------------------------------------------- audio


def _audio_seeds() -> dict[str, bytes]:
    out = {}
    x = tone(0.05, 8000, channels=2)
    for fmt, subtype, ext in (
        ("WAV", "PCM_16", ".wav"),
        ("WAV", "FLOAT", ".wav"),
        ("FLAC", "PCM_16", ".flac"),
        ("AIFF", "PCM_24", ".aiff"),
        ("OGG", "VORBIS", ".ogg"),
        ("AU", "PCM_16", ".au"),
        ("W64", "PCM_U8", ".w64"),
    ):
        buf = io.BytesIO()
        sf.write(buf, x, 8000, format=fmt, subtype=subtype)
        out[f"{fmt}-{subtype}{ext}"] = buf.getvalue()
    # and what FFmpeg decodes (rtaudio.avfile)
    speech = tone(0.2, 16000)[:, 0]
    with tempfile.TemporaryDirectory() as d:
        for name, codec, rate in (
            ("aac.m4a", "aac", 16000),
            ("opus.webm", "libopus", 48000),
            ("wma.wma", "wmav2", 16000),
            ("amr.amr", "libopencore_amrnb", 8000),
        ):
            out[name] = ffmpeg_encode(Path(d) / name, speech, rate, codec, 1).read_bytes()
    return out


AUDIO_SEEDS = _audio_seeds()


def _check_audio(data: bytes, ext: str) -> None:
    path = scratch() / f"fuzz{ext}"
    path.write_bytes(data)
    try:
        blocks = list(iter_blocks(path, block_seconds=0.5))
    except AudioFileError as e:
        msg = str(e)
        assert msg.startswith(str(path)) and "\n" not in msg
        return
    for b in blocks:
        assert b.dtype == np.float32 and b.ndim == 1
        assert np.isfinite(b).all()
        assert np.abs(b).max(initial=0) <= 2 * MAX_SAMPLE  # resampling may overshoot a little


@FUZZ
@given(data=st.binary(max_size=3000), ext=st.sampled_from(AUDIO_EXTENSIONS))
def test_audio_loader_on_random_bytes(data: bytes, ext: str) -> None:
    _check_audio(data, ext)


@FUZZ
@given(seed=st.sampled_from(sorted(AUDIO_SEEDS)), m=mutations)
def test_audio_loader_on_damaged_files(
    seed: str, m: tuple[list[tuple[int, int]], int, bytes]
) -> None:
    _check_audio(_mutate(AUDIO_SEEDS[seed], *m), Path(seed).suffix)


# ------------------------------------------------------------------------------- images


def _image_seeds() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray((rng.random((12, 16, 3)) * 255).astype(np.uint8))
    out = {}
    for name, img, fmt in (
        ("rgb.png", rgb, "PNG"),
        ("rgb.jpg", rgb, "JPEG"),
        ("p.gif", rgb.convert("P"), "GIF"),
        ("cmyk.tif", rgb.convert("CMYK"), "TIFF"),
        ("l.bmp", rgb.convert("L"), "BMP"),
        ("rgba.webp", rgb.convert("RGBA"), "WEBP"),
        ("i16.png", Image.fromarray((rng.random((8, 8)) * 65535).astype(np.uint16)), "PNG"),
    ):
        buf = io.BytesIO()
        img.save(buf, fmt)
        out[name] = buf.getvalue()
    return out


IMAGE_SEEDS = _image_seeds()


class _Cfg:
    resolution = 32
    crop_pct = 0.875
    interpolation = "bicubic"

    def __init__(self, chans: int) -> None:
        self.in_chans = chans
        self.mean = (0.5,) * chans
        self.std = (0.25,) * chans


def _check_image(data: bytes, name: str, chans: int) -> None:
    path = scratch() / f"fuzz-{name}"
    path.write_bytes(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL's own warnings about odd files
            img = load_image(path, chans)
    except ImageFileError as e:
        assert str(e).startswith(str(path)) and "\n" not in str(e)
        return
    assert img.mode == ("L" if chans == 1 else "RGB")
    x = preprocess(img, _Cfg(chans))
    assert tuple(x.shape) == (chans, 32, 32) and bool(x.isfinite().all())


@FUZZ
@given(data=st.binary(max_size=2000), name=st.sampled_from(sorted(IMAGE_SEEDS)))
def test_image_loader_on_random_bytes(data: bytes, name: str) -> None:
    _check_image(data, name, 3)


@FUZZ
@given(name=st.sampled_from(sorted(IMAGE_SEEDS)), m=mutations, chans=st.sampled_from([1, 3]))
def test_image_loader_on_damaged_files(
    name: str, m: tuple[list[tuple[int, int]], int, bytes], chans: int
) -> None:
    _check_image(_mutate(IMAGE_SEEDS[name], *m), name, chans)


# ------------------------------------------------------------------------------- config

FIELDS = sorted(EngineConfig.__dataclass_fields__)
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 10, 16000, 0.5, 10.0, 200.0, -50.0, "mitas", "tsenet", "off"]),
    st.text(max_size=12),
    st.lists(st.sampled_from(["swishnet", "esresnet", "x", ""]), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _check_config(cfg: EngineConfig) -> None:
    """A config that was accepted can run: every number finite and in its range."""
    for name in FIELDS:
        v = getattr(cfg, name)
        if isinstance(v, float):
            assert math.isfinite(v), (name, v)
    assert 16 <= cfg.chunk_samples <= 16000
    assert 2 * cfg.chunk_ms <= cfg.max_backlog_ms <= 60_000
    assert len(set(cfg.classifiers)) == len(cfg.classifiers)
    assert round(cfg.max_backlog_ms / cfg.chunk_ms) >= 2


@FUZZ
@given(st.dictionaries(st.sampled_from([*FIELDS, "bogus"]), values, max_size=6))
def test_config_overrides(data: dict[str, object]) -> None:
    try:
        cfg = engine_config.load(None, **data)
    except ConfigError as e:
        assert str(e).startswith("config: ") and "\n" not in str(e)
        return
    _check_config(cfg)


toml_lines = st.lists(
    st.one_of(
        st.builds(
            lambda k, v: f"{k} = {v}",
            st.sampled_from([*FIELDS, "engine.chunk_ms", '"quoted"']),
            st.sampled_from(
                [
                    "10",
                    "nan",
                    "inf",
                    "-inf",
                    "1e400",
                    '"x"',
                    "[1, 2]",
                    "true",
                    "{a = 1}",
                    '["swishnet"]',
                    "0x10",
                    "2024-01-01",
                    "'''",
                    "-0.0",
                    "9" * 30,
                ]
            ),
        ),
        st.sampled_from(["[engine]", "[[engine]]", "[other]", "# c", "=", "[engine", '"\\x"']),
        st.text(max_size=20),
    ),
    max_size=6,
)


@FUZZ
@given(toml_lines)
def test_config_files(lines: list[str]) -> None:
    path = scratch() / "fuzz.toml"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    try:
        cfg = engine_config.load(path)
    except ConfigError as e:
        assert str(e).startswith("config: ") and "\n" not in str(e).strip()
        return
    _check_config(cfg)


@pytest.fixture(scope="module", autouse=True)
def _cleanup() -> Iterator[None]:
    yield
    if _SCRATCH:
        shutil.rmtree(_SCRATCH.pop(), ignore_errors=True)
