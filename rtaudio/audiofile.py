"""Reading sound files with clear errors, streamed in blocks, converted to 16 kHz mono; and
crash-safe WAV writing (with a repair for WAVs left behind by a crash).

What is refused, always with one line naming the file and the problem
(:class:`AudioFileError`): missing, empty or unreadable files, files libsndfile only recognises
by extension (header-less data), files without audio frames, sample rates outside
1 kHz-768 kHz, and samples that are NaN, infinite or beyond ±``MAX_SAMPLE`` (a float file
more than 60 dB over full scale is corrupt, not loud). Such files are **refused, not
repaired**: labels computed from patched audio would look valid while describing something
else, and a NaN would poison the separator's state for the rest of a live stream. The message
says where the first bad sample is, so the file can be fixed.

Valid but unusual files are read: 8 / 16 / 24 / 32-bit integer and 32 / 64-bit float PCM, any
channel count (averaged to mono), any rate (resampled with soxr), DC offset, clipping, silence,
files shorter than one analysis window, and files of any length (streamed in blocks: memory
does not grow with the file; MP3s read block by block as exactly as in one piece:
:class:`SequentialSoundFile`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from rtaudio import avfile
from rtaudio.config import SAMPLE_RATE, ConfigError
from rtaudio.errors import missing, not_a_file
from rtaudio.outputs import FILE_MODE, write_all

MAX_SAMPLE = 1000.0  # |x| above this (60 dB over full scale) means a corrupt float file
# sound files a folder search picks up: what libsndfile reads, then what FFmpeg does
# (rtaudio.avfile); a file named on its own is read whatever its name (a video's sound, say)
AUDIO_EXTENSIONS = (
    *(".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au", ".w64", ".caf"),
    *avfile.EXTENSIONS,
)
# what a reader from open_reader raises when the file breaks mid-read (avfile.AvError is a
# RuntimeError too; AudioFileError, from the sample checks, is not one of these)
READ_ERRORS: tuple[type[BaseException], ...] = (sf.LibsndfileError, RuntimeError)


class AudioFileError(ValueError):
    """A file cannot be used as audio; the message names the file and the problem."""


@dataclass(frozen=True)
class AudioInfo:
    path: Path
    sample_rate: int
    channels: int
    frames: int
    decoder: str = "sndfile"  # or "av": FFmpeg through PyAV (rtaudio.avfile)

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


class SequentialSoundFile(sf.SoundFile):
    """A sound file read front to back, block by block, with libsndfile's own reads.

    After every read python-soundfile seeks to where the read ended. For MP3, libsndfile hands
    that seek to mpg123, which then decodes the next frame without the bytes of the previous
    ones that it shares (the bit reservoir): 10 ms reads of an MP3 came back 12-13 dB from
    the decoded file (libmpg123 printing "part2_3_length ... too large" on stderr), 1 s reads
    46-64 dB. Declared unseekable, the file is read without those seeks, exactly as decoded
    in one piece, whatever the format and block size (tested).
    """

    def seekable(self) -> bool:
        return False


def _libsndfile_reason(e: BaseException, path: Path) -> str:
    """libsndfile's message, minus the path (already named) and its misleading parts (an
    existing file it cannot parse as MP3 is reported as 'does not exist or is not a regular
    file'); a format it does not recognise is said in the words FFmpeg's reader uses."""
    msg = str(e)
    if "does not exist or is not a regular file" in msg or "Format not recognised" in msg:
        return "format not recognised or data corrupt"
    for prefix in ("Error opening ", f"{str(path)!r}: ", f"{path!s}: "):
        msg = msg.replace(prefix, "")
    return msg.strip()


def probe(path: str | Path) -> AudioInfo:
    p = Path(path)
    if not p.exists():
        raise AudioFileError(missing(p))
    if p.is_dir():
        raise AudioFileError(f"{p}: is a directory")
    if not p.is_file():
        raise AudioFileError(not_a_file(p))
    if p.stat().st_size == 0:
        raise AudioFileError(f"{p}: empty file")
    try:
        info = sf.info(str(p))
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        why = _libsndfile_reason(e, p)
        st = p.stat()
        found = _av_info(str(p), st.st_mtime_ns, st.st_size)
        if found is None:
            raise AudioFileError(f"{p}: not a readable audio file ({why})") from None
        if isinstance(found, str):
            raise AudioFileError(f"{p}: not a readable audio file ({found})") from None
        return _checked(AudioInfo(p, *found, decoder="av"))
    if info.format == "RAW":  # libsndfile guessed from the extension: any bytes would "play"
        raise AudioFileError(f"{p}: not a readable audio file (no audio header)")
    return _checked(AudioInfo(p, int(info.samplerate), int(info.channels), int(info.frames)))


def duration_estimate(path: str | Path) -> float:
    """A file's duration in seconds, cheaply (a progress bar's total): what libsndfile says,
    or what an FFmpeg-read container states (:func:`probe` counts those by decoding); 0 for a
    file that cannot be read."""
    p = Path(path)
    if not p.is_file():  # opening a FIFO would wait for a writer; probe refuses them
        return 0.0
    try:
        info = sf.info(str(p))
        return 0.0 if info.format == "RAW" else float(info.duration)  # RAW: see probe
    except (sf.LibsndfileError, RuntimeError, TypeError, OSError):
        pass
    stated = avfile.stated_seconds(p)
    if stated is not None:
        return stated
    try:
        return probe(p).duration
    except AudioFileError:
        return 0.0


@functools.lru_cache(maxsize=64)
def _av_info(path: str, mtime_ns: int, size: int) -> tuple[int, int, int] | str | None:
    """FFmpeg's ``(rate, channels, frames)`` (counting them decodes the file: cached while
    the file is unchanged), its complaint, or None when it is not a file FFmpeg is asked
    about (:mod:`rtaudio.avfile`)."""
    try:
        return avfile.info(Path(path))
    except avfile.AvError as e:
        return str(e)


def _checked(info: AudioInfo) -> AudioInfo:
    p = info.path
    if info.frames <= 0:
        raise AudioFileError(f"{p}: contains no audio frames")
    if info.sample_rate < 1000 or info.sample_rate > 768000:
        raise AudioFileError(f"{p}: unsupported sample rate {info.sample_rate} Hz")
    if info.channels < 1:
        raise AudioFileError(f"{p}: no audio channels")
    return info


def open_reader(info: AudioInfo) -> Any:
    """A reader of the file front to back: ``read(n, dtype="float32", always_2d=True)`` gives
    the next ``[<= n, channels]`` samples (fewer only at the end); a context manager. Its
    errors: :data:`READ_ERRORS`."""
    if info.decoder == "av":
        return avfile.AvReader(info.path, info.channels)
    return SequentialSoundFile(str(info.path))


def read_failure(info: AudioInfo, e: BaseException) -> AudioFileError:
    """The one-line error for a file that broke while being read."""
    why = str(e) if info.decoder == "av" else _libsndfile_reason(e, info.path)
    return AudioFileError(f"{info.path}: read failed ({why})")


def mixdown(block: np.ndarray) -> np.ndarray:
    """``[n, channels]`` -> ``[n]`` by averaging the channels (the stated mixdown)."""
    if block.ndim == 1:
        return block.astype(np.float32, copy=False)
    return block.mean(axis=1, dtype=np.float32)


def level_db(x: np.ndarray) -> float:
    """RMS level in dBFS (-120 for digital silence)."""
    if x.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return max(-120.0, 20.0 * np.log10(max(rms, 1e-6)))


def check_enrollment(audio: np.ndarray) -> None:
    """Raise :class:`ConfigError` unless ``audio`` (16 kHz) can enroll a speaker: at least
    0.5 s, not silent. Needs no model, so front ends can check a clip before using it."""
    if audio.size < SAMPLE_RATE // 2:
        raise ConfigError(f"enrollment is {audio.size / SAMPLE_RATE:.2f} s; need at least 0.5 s")
    if level_db(audio) < -60:
        raise ConfigError("enrollment is silent (below -60 dBFS)")


def check_samples(x: np.ndarray, where: str, start: int = 0, rate: int | None = None) -> None:
    """Refuse NaN, infinite or absurdly large samples (see the module docstring).

    Args:
        x: samples ``[n]`` or ``[n, channels]``.
        where: the file (or stream) named in the message.
        start: index of ``x[0]`` in the file, and ``rate`` its sample rate, to say where the
            first bad sample is.
    """
    finite = np.isfinite(x)
    bad = ~(finite & (np.abs(np.where(finite, x, 0)) <= MAX_SAMPLE))
    if not bad.any():
        return
    rows = bad.reshape(bad.shape[0], -1)
    i = int(np.argmax(rows.any(axis=1)))
    v = float(x.reshape(rows.shape)[i][rows[i]][0])
    at = f" at {(start + i) / rate:.3f} s" if rate else ""
    what = "NaN or infinite" if not np.isfinite(v) else f"out-of-range (|x| > {MAX_SAMPLE:g})"
    raise AudioFileError(f"{where}: contains {what} samples (first{at}: {v:g}); file refused")


def check_finite(x: np.ndarray, where: str) -> None:
    """Kept for callers of the old name: same as :func:`check_samples`."""
    check_samples(x, where)


def iter_blocks(
    path: str | Path,
    block_seconds: float = 1.0,
    target_rate: int = SAMPLE_RATE,
    channel: int | None = None,
) -> Iterator[np.ndarray]:
    """Stream a file as 16 kHz mono float32 blocks (constant memory for any file length):
    the mean of its channels, or only ``channel`` (1-based)."""
    info = probe(path)
    if channel is not None and not 1 <= channel <= info.channels:
        raise AudioFileError(channel_missing(info.path, info.channels, channel))
    rs = (
        None
        if info.sample_rate == target_rate
        else soxr.ResampleStream(info.sample_rate, target_rate, 1, dtype="float32", quality="HQ")
    )
    # at most 4 M samples (16 MB) per block, however many channels and however high the rate
    block = max(1, min(int(block_seconds * info.sample_rate), (1 << 22) // info.channels))
    pos = 0
    try:
        with open_reader(info) as f:
            while True:
                data = f.read(block, dtype="float32", always_2d=True)
                last = data.shape[0] < block
                check_samples(data, str(info.path), pos, info.sample_rate)
                pos += data.shape[0]
                x = mixdown(data if channel is None else data[:, channel - 1 : channel])
                if rs is not None:
                    x = rs.resample_chunk(x, last=last)
                if x.size:
                    yield x
                if last:
                    return
    except READ_ERRORS as e:
        raise read_failure(info, e) from None


def channel_missing(path: str | Path, channels: int, channel: int) -> str:
    """The error for a channel a file does not have."""
    return f"{path}: {channels} channel{'s' if channels > 1 else ''}, channel {channel} requested"


def read_audio(path: str | Path, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A whole file as 16 kHz mono float32."""
    blocks = list(iter_blocks(path, target_rate=target_rate))
    return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)


# ------------------------------------------------------------------ crash-safe WAV writing

WAV_HEADER_BYTES = 44
WAV_MAX_BYTES = 0xFFFFFFFF - WAV_HEADER_BYTES  # RIFF sizes are 32-bit


def _wav_header(data_bytes: int, rate: int, channels: int = 1, bits: int = 16) -> bytes:
    align = channels * bits // 8
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * align, align, bits)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def _pcm16(x: np.ndarray) -> bytes:
    """Float samples in [-1, 1] (clipped) as little-endian 16-bit PCM."""
    pcm = np.clip(np.round(np.asarray(x, np.float32).reshape(-1) * 32768), -32768, 32767)
    return pcm.astype("<i2").tobytes()


def save_wav_new(path: str | Path, x: np.ndarray, rate: int = SAMPLE_RATE) -> Path:
    """Write a 16-bit PCM mono WAV under a name no file has: ``path``, or ``NAME-2.wav``,
    ``NAME-3.wav``... if taken. The file appears whole or not at all (written aside, then
    linked into place, which fails rather than replace a file). Returns the path written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = _pcm16(x)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        try:
            os.fchmod(fd, FILE_MODE)
            write_all(fd, _wav_header(len(data), rate) + data)
            os.fsync(fd)
        finally:
            os.close(fd)
        for k in range(1, 10_000):
            target = path if k == 1 else path.with_name(f"{path.stem}-{k}{path.suffix}")
            try:
                os.link(tmp, target)
            except FileExistsError:
                continue
            return target
        raise FileExistsError(f"{path}: every numbered name is taken")
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


class CrashSafeWav:
    """A 16-bit PCM mono WAV whose header is correct after every :meth:`write`.

    Each write appends the samples (one ``write`` system call), then rewrites the two size
    fields in place, so if the process dies (``kill -9``, a crash, power kept) the file on disk
    is a valid WAV holding everything written before the last call: at most the chunk being
    written is lost. ``flush_seconds`` of audio between ``fsync`` calls bound what a power
    loss can take. Files stop at ``max_bytes`` of data (RIFF's 4 GB limit by default); the
    caller rolls over to a new file when :attr:`full` is set.
    """

    def __init__(
        self,
        path: str | Path,
        rate: int = SAMPLE_RATE,
        flush_seconds: float = 1.0,
        max_bytes: int = WAV_MAX_BYTES,
    ) -> None:
        self.path = Path(path)
        self.rate = rate
        self.max_bytes = max_bytes - max_bytes % 2
        self.data_bytes = 0
        self._flush_bytes = max(2, int(flush_seconds * rate) * 2)
        self._since_sync = 0
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(self._fd, _wav_header(0, rate))

    @property
    def frames(self) -> int:
        return self.data_bytes // 2

    @property
    def full(self) -> bool:
        return self.data_bytes >= self.max_bytes

    def write(self, x: np.ndarray) -> int:
        """Append float samples in [-1, 1] (clipped); returns the frames written (fewer than
        given only when the file is full)."""
        if self._fd is None:
            raise ValueError(f"{self.path}: closed")
        data = _pcm16(x)[: self.max_bytes - self.data_bytes]
        if not data:
            return 0
        os.write(self._fd, data)
        self.data_bytes += len(data)
        os.pwrite(self._fd, struct.pack("<I", 36 + self.data_bytes), 4)
        os.pwrite(self._fd, struct.pack("<I", self.data_bytes), 40)
        self._since_sync += len(data)
        if self._since_sync >= self._flush_bytes:
            os.fsync(self._fd)
            self._since_sync = 0
        return len(data) // 2

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def __enter__(self) -> CrashSafeWav:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def repair_wav(path: str | Path) -> int | None:
    """Fix the size fields of a RIFF/WAVE file cut short by a crash (a writer that never
    updated its header, or died between appending data and updating it).

    The ``data`` chunk must be the last one (true for recordings made by rtaudio, libsndfile
    and most recorders). Returns the number of frames the repaired file holds, or None if
    the header was already right. Raises :class:`AudioFileError` for anything that is not a
    WAV with a ``fmt `` and ``data`` chunk.
    """
    p = Path(path)
    try:
        with p.open("r+b") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                raise AudioFileError(f"{p}: not a RIFF/WAVE file")
            pos, align = 12, 0
            while pos + 8 <= size:
                f.seek(pos)
                cid, clen = struct.unpack("<4sI", f.read(8))
                if cid == b"fmt ":
                    fmt = f.read(16)
                    if len(fmt) < 16:
                        raise AudioFileError(f"{p}: truncated 'fmt ' chunk")
                    align = struct.unpack("<HHIIHH", fmt)[4]
                elif cid == b"data":
                    if not align:
                        raise AudioFileError(f"{p}: no 'fmt ' chunk before the data")
                    avail = size - (pos + 8)
                    data = avail - avail % align
                    if clen == data and struct.unpack("<I", head[4:8])[0] == pos + data:
                        return None
                    nxt = pos + 8 + clen + (clen & 1)
                    if 0 < clen < data and nxt + 8 <= size:  # does another chunk follow?
                        f.seek(nxt)
                        cid2, clen2 = struct.unpack("<4sI", f.read(8))
                        if all(48 <= c < 123 or c == 32 for c in cid2) and nxt + 8 + clen2 <= size:
                            return None
                    data = min(data, WAV_MAX_BYTES)
                    f.seek(pos + 4)
                    f.write(struct.pack("<I", data))
                    f.seek(4)
                    f.write(struct.pack("<I", pos + data))
                    return data // align
                pos += 8 + clen + (clen & 1)
    except OSError as e:
        raise AudioFileError(f"{p}: cannot repair ({e.strerror or e})") from None
    raise AudioFileError(f"{p}: no 'data' chunk")
