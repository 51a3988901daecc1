"""Sound files read block by block come out as they decode in one piece."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
from engine_runs import run_to_end

from rtaudio.audiofile import SequentialSoundFile, mixdown, read_audio
from rtaudio.config import EngineConfig

EVAL = Path(__file__).parent / "data" / "eval"


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """4 s of a real voice, 16 kHz: as MP3, some of its frames lean on the bit reservoir."""
    return read_audio(
        EVAL / "speech" / "speech-real-asterisk_armelle-asterisk-prompt-fr-armelle-0000.flac"
    )


def _write(path: Path, x: np.ndarray, rate: int, **kw: str) -> Path:
    y = soxr.resample(x, 16000, rate).astype(np.float32) if rate != 16000 else x
    sf.write(path, np.stack([y, 0.7 * y], axis=1), rate, **kw)
    return path


def _whole(path: Path) -> np.ndarray:
    x, _ = sf.read(path, dtype="float32", always_2d=True)  # one read: the decoder's own output
    return x


@pytest.mark.parametrize(
    "name, fmt, subtype",
    [
        ("a.mp3", "MP3", "MPEG_LAYER_III"),
        ("a.ogg", "OGG", "VORBIS"),
        ("a.flac", "FLAC", "PCM_16"),
        ("a.wav", "WAV", "FLOAT"),
    ],
)
def test_blocks_of_any_size_equal_the_file_read_in_one_piece(
    speech: np.ndarray, tmp_path: Path, name: str, fmt: str, subtype: str
) -> None:
    """python-soundfile's own block reads of an MP3 came back 12-13 dB from the decoded file
    at 10 ms blocks (it seeks after every read, and mpg123 then decodes a frame without the
    bit reservoir of the ones before)."""
    path = _write(tmp_path / name, speech, 44100, format=fmt, subtype=subtype)
    whole = _whole(path)
    for block in (441, 1152, 44100):
        with SequentialSoundFile(str(path)) as f:
            parts = []
            while len(part := f.read(block, dtype="float32", always_2d=True)):
                parts.append(part)
        np.testing.assert_array_equal(np.concatenate(parts), whole, err_msg=f"{block} frames")


def test_read_audio_of_an_mp3_is_its_decoded_samples_resampled(
    speech: np.ndarray, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """1 s blocks of a 44.1 kHz MP3 were 64 dB from the decoded file, and libmpg123 printed
    "part2_3_length ... too large" into `rtaudio process`'s progress bar."""
    path = _write(tmp_path / "a.mp3", speech, 44100)
    expected = soxr.resample(mixdown(_whole(path)), 44100, 16000, quality="HQ")
    got = read_audio(path)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert "part2_3_length" not in capfd.readouterr().err


def test_an_mp3_played_as_the_microphone_is_the_file(speech: np.ndarray, tmp_path: Path) -> None:
    """The engine reads a source 10 ms at a time: a 16 kHz MP3 reached the models 12 dB
    from what the file holds."""
    path = _write(tmp_path / "a.mp3", speech, 16000)
    expected = mixdown(_whole(path))
    _, results = run_to_end(EngineConfig(source=str(path), realtime=False, classifiers=()))
    got = np.concatenate([r.audio for r in results if r.audio is not None])[: expected.size]
    assert got.size == expected.size
    np.testing.assert_allclose(got, expected, atol=1e-6)
