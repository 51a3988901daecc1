"""A generated corpus of bad and odd inputs (audio, images, configs) for the hardening tests.

Everything is written with numpy / soundfile / Pillow in well under a second; nothing is
downloaded. Each writer returns ``{file name: expectation}`` so the tests can check one row /
one message per file:

* :func:`write_malformed_audio`: files that must be refused, with a substring of the one-line
  error (empty, zero frames, truncated headers, a text file named ``.wav``, random bytes under
  every audio extension, NaN / inf / absurd samples);
* :func:`write_unusual_audio`: valid but unusual files that must be processed, with their
  duration (8 / 16 / 24 / 32-bit integer and 32 / 64-bit float PCM, 1-8 channels, 8-192 kHz,
  DC offset and clipping, silence, shorter than one analysis window).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

# random bytes under every extension `rtaudio process` picks up
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".aiff", ".au", ".w64", ".caf")
AUDIO_EXTENSIONS += (".m4a", ".aac", ".wma", ".amr", ".webm", ".mka")  # read by FFmpeg


def tone(seconds: float, rate: int, freq: float = 440.0, channels: int = 1) -> np.ndarray:
    """A tone (with a little noise) ``[n, channels]``, each channel a different phase."""
    n = max(1, round(seconds * rate))
    t = np.arange(n) / rate
    rng = np.random.default_rng(round(freq) + channels)
    cols = [
        0.3 * np.sin(2 * np.pi * freq * t + c) + 0.02 * rng.standard_normal(n)
        for c in range(channels)
    ]
    return np.stack(cols, axis=1).astype(np.float32)


def write_malformed_audio(d: Path) -> dict[str, str]:
    """Files every reader must refuse: ``{name: substring of the error}``."""
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    out: dict[str, str] = {}
    (d / "empty.wav").write_bytes(b"")
    out["empty.wav"] = "empty file"
    sf.write(d / "zero_frames.wav", np.zeros((0, 1), np.float32), 16000)
    out["zero_frames.wav"] = "no audio frames"
    good = d / ".good.tmp"
    sf.write(good, tone(0.2, 16000), 16000, format="WAV", subtype="PCM_16")
    data = good.read_bytes()
    good.unlink()
    (d / "header_only.wav").write_bytes(data[:44])
    out["header_only.wav"] = "no audio frames"
    (d / "truncated_header.wav").write_bytes(data[:20])
    out["truncated_header.wav"] = "not a readable audio file"
    (d / "riff_only.wav").write_bytes(b"RIFF\x00\x00")
    out["riff_only.wav"] = "not a readable audio file"
    (d / "moved.wav").symlink_to(d / "gone" / "moved.wav")  # a link left by a moved file
    out["moved.wav"] = "broken link"
    (d / "notes.wav").write_text("meeting notes, not audio\n" * 20)
    out["notes.wav"] = "not a readable audio file"
    for ext in AUDIO_EXTENSIONS:
        name = f"random{ext}"
        (d / name).write_bytes(rng.bytes(4096))
        out[name] = "not a readable audio file"
    x = tone(0.5, 16000)
    for name, bad in (("nan.wav", np.nan), ("inf.wav", np.inf), ("neg_inf.flac", -np.inf)):
        y = x.copy()
        y[4000:4010] = bad
        if name.endswith(".flac"):  # FLAC is integer-only: NaN goes in a float WAV instead
            name = "neg_inf.wav"
        sf.write(d / name, y, 16000, subtype="FLOAT")
        out[name] = "NaN or infinite"
    y = x.copy()
    y[6000] = 1e30
    sf.write(d / "absurd.wav", y, 16000, subtype="FLOAT")
    out["absurd.wav"] = "out-of-range"
    return out


# (name, rate, channels, subtype, seconds, format)
UNUSUAL = (
    ("u8_8k.wav", 8000, 1, "PCM_U8", 0.4, "WAV"),
    ("s8_11k.aiff", 11025, 1, "PCM_S8", 0.4, "AIFF"),
    ("pcm16_22k_stereo.wav", 22050, 2, "PCM_16", 0.4, "WAV"),
    ("pcm24_44k_3ch.wav", 44100, 3, "PCM_24", 0.4, "WAV"),
    ("pcm32_48k_6ch.wav", 48000, 6, "PCM_32", 0.4, "WAV"),
    ("float_96k_8ch.wav", 96000, 8, "FLOAT", 0.3, "WAV"),
    ("double_192k.wav", 192000, 1, "DOUBLE", 0.3, "WAV"),
    ("pcm16_32k.flac", 32000, 2, "PCM_16", 0.4, "FLAC"),
    ("vorbis_44k.ogg", 44100, 1, "VORBIS", 0.4, "OGG"),
    ("pcm16_16k.w64", 16000, 1, "PCM_16", 0.4, "W64"),
)


def write_unusual_audio(d: Path) -> dict[str, float]:
    """Valid but unusual files: ``{name: duration in seconds}``."""
    d.mkdir(parents=True, exist_ok=True)
    out: dict[str, float] = {}
    for name, rate, ch, subtype, seconds, fmt in UNUSUAL:
        x = tone(seconds, rate, 300 + 20 * ch, ch)
        sf.write(d / name, x, rate, subtype=subtype, format=fmt)
        out[name] = round(seconds * rate) / rate
    x = tone(0.4, 16000)
    sf.write(d / "dc_offset.wav", np.clip(x + 0.6, -1, 1), 16000, subtype="PCM_16")
    out["dc_offset.wav"] = 0.4
    sf.write(d / "clipped.wav", np.clip(x * 20, -1, 1), 16000, subtype="PCM_16")
    out["clipped.wav"] = 0.4
    hot = x * 4  # a float file over full scale (legal for float, clipped nowhere on input)
    sf.write(d / "over_full_scale.wav", hot, 16000, subtype="FLOAT")
    out["over_full_scale.wav"] = 0.4
    sf.write(d / "silence.wav", np.zeros((6400, 1), np.float32), 16000, subtype="PCM_16")
    out["silence.wav"] = 0.4
    sf.write(d / "short_50ms.wav", tone(0.05, 16000), 16000, subtype="PCM_16")
    out["short_50ms.wav"] = 0.05
    sf.write(d / "one_sample.wav", tone(1 / 44100, 44100), 44100, subtype="PCM_16")
    out["one_sample.wav"] = 1 / 44100
    return out


def stale_header_wav(path: Path, seconds: float = 1.0, rate: int = 16000) -> np.ndarray:
    """A 16-bit WAV as a writer killed before closing leaves it: sizes in the header are 0.
    Returns the samples it holds (int16)."""
    pcm = (tone(seconds, rate)[:, 0] * 32767).astype("<i2")
    header = (
        b"RIFF"
        + struct.pack("<I", 36)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", 0)
    )
    path.write_bytes(header + pcm.tobytes())
    return pcm


def ffmpeg_encode(path: Path, x: np.ndarray, rate: int, codec: str, channels: int = 2) -> Path:
    """``x`` (16 kHz mono) encoded with FFmpeg's ``codec`` at ``rate``, ``channels`` (the
    second channel at 0.7x), in the container ``path``'s extension names."""
    import av

    y = soxr.resample(x, 16000, rate).astype(np.float32) if rate != 16000 else x
    planes = np.stack([y, 0.7 * y][:channels])
    layout = "stereo" if channels == 2 else "mono"
    with av.open(str(path), "w", options={"fflags": "+bitexact"}) as out:  # the same bytes
        stream = out.add_stream(codec, rate=rate, layout=layout)
        stream.bit_rate = 64000
        size = stream.codec_context.frame_size or 1024
        convert = av.AudioResampler(format=stream.codec_context.format, layout=layout, rate=rate)
        for i in range(0, planes.shape[1], size):
            block = np.ascontiguousarray(planes[:, i : i + size])
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
            frame.sample_rate = rate
            for piece in convert.resample(frame):
                out.mux(stream.encode(piece))
        out.mux(stream.encode(None))
    return path
