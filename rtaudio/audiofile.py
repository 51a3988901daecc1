"""Reading sound files with clear errors, streamed in blocks, converted to 16 kHz mono."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from rtaudio.config import SAMPLE_RATE


class AudioFileError(ValueError):
    """A file cannot be used as audio; the message names the file and the problem."""


@dataclass(frozen=True)
class AudioInfo:
    path: Path
    sample_rate: int
    channels: int
    frames: int

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def probe(path: str | Path) -> AudioInfo:
    p = Path(path)
    if not p.exists():
        raise AudioFileError(f"{p}: no such file")
    if p.is_dir():
        raise AudioFileError(f"{p}: is a directory")
    if p.stat().st_size == 0:
        raise AudioFileError(f"{p}: empty file")
    try:
        info = sf.info(str(p))
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise AudioFileError(f"{p}: not a readable audio file ({e})") from None
    if info.frames <= 0:
        raise AudioFileError(f"{p}: contains no audio frames")
    if info.samplerate < 1000 or info.samplerate > 768000:
        raise AudioFileError(f"{p}: unsupported sample rate {info.samplerate} Hz")
    return AudioInfo(p, int(info.samplerate), int(info.channels), int(info.frames))


def mixdown(block: np.ndarray) -> np.ndarray:
    """``[n, channels]`` -> ``[n]`` by averaging the channels (the stated mixdown)."""
    if block.ndim == 1:
        return block.astype(np.float32, copy=False)
    return block.mean(axis=1, dtype=np.float32)


def check_finite(x: np.ndarray, where: str) -> None:
    if not np.isfinite(x).all():
        raise AudioFileError(f"{where}: contains NaN or infinite samples")


def iter_blocks(
    path: str | Path, block_seconds: float = 1.0, target_rate: int = SAMPLE_RATE
) -> Iterator[np.ndarray]:
    """Stream a file as 16 kHz mono float32 blocks (constant memory for any file length)."""
    info = probe(path)
    rs = (
        None
        if info.sample_rate == target_rate
        else soxr.ResampleStream(info.sample_rate, target_rate, 1, dtype="float32", quality="HQ")
    )
    block = max(1, int(block_seconds * info.sample_rate))
    try:
        with sf.SoundFile(str(info.path)) as f:
            while True:
                data = f.read(block, dtype="float32", always_2d=True)
                last = data.shape[0] < block
                x = mixdown(data)
                check_finite(x, str(info.path))
                if rs is not None:
                    x = rs.resample_chunk(x, last=last)
                if x.size:
                    yield x
                if last:
                    return
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioFileError(f"{info.path}: read failed ({e})") from None


def read_audio(path: str | Path, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A whole file as 16 kHz mono float32."""
    blocks = list(iter_blocks(path, target_rate=target_rate))
    return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
