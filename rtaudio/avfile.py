"""Sound files libsndfile cannot read, decoded with FFmpeg's libraries (PyAV): AAC and ALAC
in M4A / MP4 / MOV / 3GP (phone voice memos), WMA, AMR, raw AAC (ADTS), and the audio of WebM
and Matroska files (browser recordings).

Only these containers are tried: FFmpeg guesses generously (a few random bytes named ``.mp3``
can pass for MPEG audio), so the formats libsndfile reads keep libsndfile's verdict. Samples
come out as FFmpeg decodes them, as float32 ``[n, channels]`` at the decoder's rate: an
encoder's priming is left out where the container records it (WebM's Opus pre-skip, tested;
an MP4 written without an edit list keeps AAC's 1,024 samples of it, as FFmpeg plays it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

# FFmpeg demuxer names (one demuxer may list several, comma-separated)
CONTAINERS = frozenset({"mov", "mp4", "m4a", "3gp", "3g2", "aac", "asf", "amr", "matroska", "webm"})
EXTENSIONS = (".m4a", ".m4b", ".aac", ".wma", ".amr", ".webm", ".mka")  # picked up in folders
VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".3gp")  # their sound, when named explicitly


class AvError(RuntimeError):
    """FFmpeg opened the file as one of :data:`CONTAINERS` but could not decode it (a
    RuntimeError, as libsndfile's read errors are)."""


def _open(path: Path) -> tuple[Any, Any] | None:
    """``(container, first audio stream)``, or None when FFmpeg does not see one of
    :data:`CONTAINERS` in the file; :class:`AvError` when it holds no sound."""
    import av

    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError, ValueError):
        return None
    if not set(container.format.name.split(",")) & CONTAINERS:
        container.close()
        return None
    if not container.streams.audio:
        what = "video only" if container.streams.video else "no streams"
        container.close()
        raise AvError(f"no sound in it: {what}")
    stream = container.streams.audio[0]
    if stream.codec_context is None:  # a damaged header: FFmpeg has no decoder to open
        container.close()
        raise AvError("its sound has no decoder FFmpeg can open (damaged header?)")
    return container, stream


def _frames(container: Any, stream: Any) -> Iterator[tuple[np.ndarray, int]]:
    """The stream's samples as float32 ``[n, channels]`` blocks, one per decoded frame, with
    their rate (a decoder's, which may differ from what the container says: HE-AAC)."""
    import av

    resampler: Any = None
    try:
        for frame in container.decode(stream):
            if resampler is None:  # the first frame's layout and rate throughout
                resampler = av.AudioResampler(format="flt", layout=frame.layout, rate=frame.rate)
            for out in resampler.resample(frame):
                yield out.to_ndarray().reshape(-1, out.layout.nb_channels), int(out.rate)
    except av.FFmpegError as e:
        raise AvError(f"decoding failed ({e.strerror or e})") from None


def info(path: Path) -> tuple[int, int, int] | None:
    """``(sample rate, channels, frames)`` of the file's sound, counted by decoding it (an
    MP4's stated duration includes the encoder's priming); None when it is not a file for
    this module."""
    opened = _open(path)
    if opened is None:
        return None
    container, stream = opened
    with container:
        frames, rate, channels = 0, int(stream.rate or 0), int(stream.channels or 0)
        for block, block_rate in _frames(container, stream):
            frames += block.shape[0]
            rate, channels = block_rate, block.shape[1]
    return rate, channels, frames


def stated_seconds(path: Path) -> float | None:
    """The duration the container states (no decoding: for progress totals), or None."""
    try:
        opened = _open(path)
    except AvError:
        return None
    if opened is None:
        return None
    container, stream = opened
    with container:
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        return container.duration / 1e6 if container.duration else None


class AvReader:
    """Reads a file's sound front to back: ``read(n)`` returns the next ``[<= n, channels]``
    float32 samples (fewer only at the end), as :class:`soundfile.SoundFile` does."""

    def __init__(self, path: Path, channels: int) -> None:
        opened = _open(path)
        if opened is None:
            raise AvError("FFmpeg finds no sound in it")
        self._container, stream = opened
        self._blocks = (block for block, _ in _frames(self._container, stream))
        self._held = np.zeros((0, channels), np.float32)

    def read(self, frames: int, dtype: str = "float32", always_2d: bool = True) -> np.ndarray:
        assert dtype == "float32" and always_2d, "AvReader gives float32 [n, channels]"
        parts, have = [self._held], self._held.shape[0]
        while have < frames:
            block = next(self._blocks, None)
            if block is None:
                break
            parts.append(block)
            have += block.shape[0]
        data = np.concatenate(parts) if len(parts) > 1 else parts[0]
        self._held = data[frames:]
        return np.ascontiguousarray(data[:frames])

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> AvReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
