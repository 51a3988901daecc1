"""Sound files read block by block come out as they decode in one piece; formats libsndfile
cannot read (AAC / M4A, Opus in WebM, WMA, AMR, ALAC) are decoded by FFmpeg (PyAV)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
from engine_runs import run_to_end
from odd_inputs import ffmpeg_encode

from rtaudio.audiofile import (
    AudioFileError,
    SequentialSoundFile,
    duration_estimate,
    mixdown,
    probe,
    read_audio,
)
from rtaudio.cli import main
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


# ------------------------------------------------------- formats libsndfile cannot read (FFmpeg)


def _decoded(path: Path) -> tuple[np.ndarray, int]:
    """Every sample FFmpeg decodes from ``path``, ``[n, channels]``, and the rate."""
    import av

    with av.open(str(path)) as c:
        frames = [f.to_ndarray() for f in c.decode(c.streams.audio[0])]
        rate = c.streams.audio[0].rate
    x = np.concatenate(frames, axis=1).T  # planar formats: [channels, n] per frame
    if x.dtype.kind == "i":  # ALAC: 16 / 32-bit integers
        x = x / float(2 ** (8 * x.dtype.itemsize - 1))
    return x.astype(np.float32), rate


def _envelope_match(ref: np.ndarray, got: np.ndarray) -> float:
    """Correlation of the two signals' 20 ms level envelopes (in dB), at the best shift within
    a quarter second: lossy codecs keep the envelope, not the waveform."""

    def env(x: np.ndarray) -> np.ndarray:
        frames = x[: x.size // 320 * 320].reshape(-1, 320)
        return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-8)

    a, b = env(ref), env(got)
    best = -1.0
    for k in range(-12, 13):
        u, v = (a[k:], b) if k >= 0 else (a, b[-k:])
        n = min(u.size, v.size)
        best = max(best, float(np.corrcoef(u[:n], v[:n])[0, 1]))
    return best


@pytest.mark.parametrize(
    "name, codec, rate, channels",
    [
        ("memo.m4a", "aac", 44100, 2),  # a phone's voice memo
        ("talk.webm", "libopus", 48000, 1),  # a browser's recording
        ("old.wma", "wmav2", 22050, 2),
        ("call.amr", "libopencore_amrnb", 8000, 1),
        ("alac.m4a", "alac", 44100, 2),
    ],
)
def test_formats_ffmpeg_reads_are_read(
    speech: np.ndarray, tmp_path: Path, name: str, codec: str, rate: int, channels: int
) -> None:
    path = ffmpeg_encode(tmp_path / name, speech, rate, codec, channels)
    with pytest.raises(sf.LibsndfileError):
        sf.info(str(path))  # not a file libsndfile reads
    info = probe(path)
    decoded, decoded_rate = _decoded(path)
    assert (info.decoder, info.sample_rate, info.channels) == ("av", decoded_rate, channels)
    assert info.frames == decoded.shape[0]  # counted, not guessed from the header
    got = read_audio(path)
    expected = soxr.resample(mixdown(decoded), decoded_rate, 16000, quality="HQ")
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert _envelope_match(speech, got) > 0.85  # the speech that went in (other speech: 0.51)


def test_an_m4a_played_as_the_microphone_and_processed_in_a_batch(
    speech: np.ndarray, tmp_path: Path
) -> None:
    memos = tmp_path / "memos"
    memos.mkdir()
    path = ffmpeg_encode(memos / "memo.m4a", speech, 16000, "aac", 1)
    ffmpeg_encode(memos / "talk.webm", speech, 48000, "libopus", 1)
    expected = read_audio(path)
    _, results = run_to_end(EngineConfig(source=str(path), realtime=False, classifiers=()))
    got = np.concatenate([r.audio for r in results if r.audio is not None])[: expected.size]
    np.testing.assert_array_equal(got, expected)  # 10 ms reads = the file decoded in one go
    out = tmp_path / "out"
    assert main(["process", str(memos), "--out", str(out), "--separate", "mitas"]) == 0
    for name in ("memo.m4a", "talk.webm"):
        stem = Path(name).stem
        seconds = probe(memos / name).duration
        doc = json.loads((out / f"{stem}.labels.json").read_text())
        assert doc["duration"] == pytest.approx(seconds, abs=1e-3)
        assert doc["segments"]["swishnet"][-1]["end"] == pytest.approx(seconds, abs=1e-3)
        voice, sr = sf.read(out / f"{stem}.voice.wav")
        assert sr == 16000 and voice.shape == (round(seconds * 16000),)


def test_a_progress_total_does_not_decode_the_file(speech: np.ndarray, tmp_path: Path) -> None:
    """`rtaudio process` sums the inputs' durations before it starts; for an M4A that meant
    decoding every file once more (probe counts the samples), so the stated one is used."""
    memo = ffmpeg_encode(tmp_path / "memo.m4a", speech, 44100, "aac")
    assert duration_estimate(memo) == pytest.approx(probe(memo).duration, abs=0.05)
    flac = tmp_path / "a.flac"
    sf.write(flac, speech, 16000)
    assert duration_estimate(flac) == probe(flac).duration
    (tmp_path / "notes.wav").write_text("not audio")
    (tmp_path / "raw.raw").write_bytes(bytes(3200))  # libsndfile would "play" it
    assert duration_estimate(tmp_path / "notes.wav") == duration_estimate(tmp_path / "raw.raw") == 0


def test_sound_ffmpeg_cannot_give_is_one_clear_line(speech: np.ndarray, tmp_path: Path) -> None:
    """A video without sound, a memo cut short, and damaged packets: refused, naming why."""
    import av

    video = tmp_path / "silent.mp4"
    with av.open(str(video), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height = 64, 48
        for _ in range(5):
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(AudioFileError, match="no sound in it: video only"):
        probe(video)
    memo = ffmpeg_encode(tmp_path / "memo.m4a", speech, 44100, "aac")
    data = memo.read_bytes()
    cut = tmp_path / "cut.m4a"
    cut.write_bytes(data[: len(data) // 2])  # the index (moov) is written last
    with pytest.raises(AudioFileError, match=r"cut\.m4a: not a readable audio file"):
        read_audio(cut)
    assert main(["monitor", "--source", str(cut)]) == 2
    # a zeroed byte in a WebM's header left its stream without a decoder: PyAV raised
    # AttributeError (found by the fuzz test); each such file is now read or refused in a line
    talk = ffmpeg_encode(tmp_path / "talk.webm", speech, 48000, "libopus", 1).read_bytes()
    refused = 0
    for pos in range(200, 420):
        damaged = tmp_path / f"talk{pos}.webm"
        damaged.write_bytes(talk[:pos] + b"\0" + talk[pos + 1 :])
        try:
            read_audio(damaged)
        except AudioFileError as e:
            assert str(e).startswith(str(damaged)) and "\n" not in str(e)
            refused += 1
    assert refused > 0


def test_a_file_no_reader_recognises_is_said_one_way(tmp_path: Path) -> None:
    """Notes saved as .wav, random bytes as .flac / .ogg / .mp3: the same reason whichever
    reader gave up (libsndfile said 'Format not recognised.', FFmpeg's reader 'format not
    recognised or data corrupt')."""
    rng = np.random.default_rng(0)
    (tmp_path / "notes.wav").write_text("meeting notes, not audio\n" * 20)
    for ext in ("flac", "ogg", "mp3"):
        (tmp_path / f"noise.{ext}").write_bytes(rng.bytes(3000))
    for p in sorted(tmp_path.iterdir()):
        with pytest.raises(AudioFileError) as e:
            probe(p)
        assert str(e.value) == (
            f"{p}: not a readable audio file (format not recognised or data corrupt)"
        )
