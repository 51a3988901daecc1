"""Audio I/O for the corpus builder: decode anything to 16 kHz mono float32, write atomically.

Paths may name a member of a container with ``::``: ``/x/public.zip::audio/a.ogg`` (a zip
member), ``/x/opensfx.cat::12`` (the 13th sound of an OpenTTD ``.cat`` bank) or
``/x/core.rcc::gcompris/a.wav`` (a file in a binary Qt resource bundle, parsed here: the
engine never imports Qt) or ``/x/Sound.ocg::Fire.ocg/Fire.ogg`` (a file in an OpenClonk group).
Formats that libsndfile cannot read (GSM, MP3 on old libsndfile, Opus) go through ``sox``.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import io
import os
import shutil
import struct
import subprocess
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from rtaudio.outputs import FILE_MODE

SR = 16000
MEMBER_SEP = "::"
ZIP_SUFFIXES = (".zip", ".pk3", ".wz")  # zip archives (Quake-style .pk3, Warzone 2100 .wz)
RCC_SUFFIX = ".rcc"  # binary Qt resource bundles (GCompris)
OCG_SUFFIX = ".ocg"  # OpenClonk groups

# extensions sox understands only when told the raw format
_RAW_TYPES = {".ulaw": ("ul", 8000), ".alaw": ("al", 8000), ".sln": ("s16", 8000)}


class AudioError(RuntimeError):
    """A file could not be decoded."""


def split_member(path: str) -> tuple[str, str | None]:
    """``"a.zip::m.ogg"`` -> ``("a.zip", "m.ogg")``; plain paths -> ``(path, None)``."""
    if MEMBER_SEP in path:
        outer, member = path.split(MEMBER_SEP, 1)
        return outer, member
    return path, None


@functools.lru_cache(maxsize=4)
def _zip(path: str) -> zipfile.ZipFile:
    return zipfile.ZipFile(path)


def cat_entries(path: str) -> list[tuple[int, int, str]]:
    """Entries of an OpenTTD sound bank (``opensfx.cat``): ``(offset, size, description)``.

    The bank starts with ``count`` pairs of little-endian u32 ``(offset | 0x80000000, size)``;
    each entry is a length-prefixed description followed by a RIFF WAVE file.
    """
    with open(path, "rb") as f:
        data = f.read()
    first = struct.unpack_from("<I", data, 0)[0] & 0x7FFFFFFF
    out = []
    for i in range(first // 8):
        off, size = struct.unpack_from("<II", data, 8 * i)
        off &= 0x7FFFFFFF
        n = data[off]
        name = data[off + 1 : off + 1 + n].rstrip(b"\0").decode("utf-8", "replace")
        out.append((off + 1 + n, size - 1 - n, name))
    return out


@functools.lru_cache(maxsize=64)
def _rcc_tree(path: str, stamp: float) -> tuple[dict[str, tuple[int, int]], int]:
    """``({member: (data offset, flags)}, data section start)`` of a binary Qt resource
    bundle (format versions 1-3: a ``qres`` header, then a tree of 14- or 22-byte entries whose
    names are length-prefixed UTF-16; directories list their children, files point into the
    data section)."""
    with open(path, "rb") as f:
        b = f.read()
    try:
        if b[:4] != b"qres":
            raise ValueError("no qres header")
        version, tree, data, names = struct.unpack_from(">IIII", b, 4)
        if version not in (1, 2, 3):
            raise ValueError(f"format version {version}")
        size = 22 if version >= 2 else 14
        out: dict[str, tuple[int, int]] = {}

        def name(off: int) -> str:
            (n,) = struct.unpack_from(">H", b, names + off)
            start = names + off + 6  # length, hash, then UTF-16BE text
            return b[start : start + 2 * n].decode("utf-16-be")

        todo = [(0, "")]
        while todo:
            i, prefix = todo.pop()
            e = tree + i * size
            noff, flags = struct.unpack_from(">IH", b, e)
            here = prefix + (name(noff) if i else "")
            if flags & 0x02:  # directory
                count, first = struct.unpack_from(">II", b, e + 6)
                todo += [(first + j, here + "/" if here else "") for j in range(count)]
            else:
                (offset,) = struct.unpack_from(">I", b, e + 10)
                out[here] = (offset, flags)
    except (ValueError, struct.error, UnicodeDecodeError) as err:
        raise AudioError(f"{path} is not a readable Qt resource bundle ({err})") from None
    return out, data


def _rcc(path: str) -> tuple[dict[str, tuple[int, int]], int]:
    st = os.stat(path)
    return _rcc_tree(path, st.st_mtime + st.st_size)


def rcc_names(path: str) -> list[str]:
    """Every file in a binary Qt resource bundle (paths inside it, sorted)."""
    return sorted(_rcc(path)[0])


def _rcc_read(path: str, member: str) -> bytes:
    entries, data = _rcc(path)
    if member not in entries:
        raise AudioError(f"{member} is not in {path}")
    offset, flags = entries[member]
    with open(path, "rb") as f:
        f.seek(data + offset)
        (n,) = struct.unpack(">I", f.read(4))
        payload = f.read(n)
    if flags & 0x04:
        raise AudioError(f"{member} in {path} is zstd-compressed (not supported)")
    if flags & 0x01:  # qCompress: expected size (4 bytes, big-endian), then a zlib stream
        try:
            return zlib.decompress(payload[4:])
        except zlib.error as err:
            raise AudioError(f"{member} in {path} is damaged ({err})") from None
    return payload


_OCG_ID = b"RedWolf Design GrpFolder"
_OCG_HEADER = 204  # id (28 bytes), two version numbers, entry count, reserved
_OCG_ENTRY = 316  # name (257 bytes, padded to 260), packed, child group, size, -, offset, ...


def _ocg_unscramble(header: bytes) -> bytes:
    """A group header in the clear: it is stored with every byte XOR 237 and bytes i and i + 2
    swapped for i = 0, 3, 6..."""
    h = bytearray(b ^ 237 for b in header)
    for i in range(0, len(h) - 2, 3):
        h[i], h[i + 2] = h[i + 2], h[i]
    return bytes(h)


@functools.lru_cache(maxsize=2)
def _ocg_tree(path: str, stamp: float) -> tuple[bytes, dict[str, tuple[int, int]]]:
    """``(contents, {member: (offset, size)})`` of an OpenClonk group (``.ocg``): a gzip
    stream whose two magic bytes are changed (1E 8C); inside, a scrambled header, a table of
    entries and their data; child groups nest the same layout (without the gzip layer)."""
    try:
        with open(path, "rb") as f:
            packed = f.read()
        if packed[:2] != b"\x1e\x8c":
            raise ValueError("no group signature")
        raw = gzip.decompress(b"\x1f\x8b" + packed[2:])
        out: dict[str, tuple[int, int]] = {}
        todo = [(0, "")]
        while todo:
            base, prefix = todo.pop()
            header = _ocg_unscramble(raw[base : base + _OCG_HEADER])
            if not header.startswith(_OCG_ID):
                raise ValueError(f"no group header at byte {base}")
            (count,) = struct.unpack_from("<i", header, 36)
            table = base + _OCG_HEADER
            data = table + count * _OCG_ENTRY
            if count < 0 or data > len(raw):
                raise ValueError(f"{count} entries do not fit")
            for k in range(count):
                e = table + k * _OCG_ENTRY
                name = raw[e : e + 257].split(b"\0")[0].decode("latin-1")
                _, child, size, _, offset = struct.unpack_from("<iiiii", raw, e + 260)
                if offset < 0:  # entries lie after the table (a child never loops back)
                    raise ValueError(f"{prefix}{name} lies outside the group")
                if child:
                    todo.append((data + offset, f"{prefix}{name}/"))
                elif data + offset + size > len(raw) or size < 0:
                    raise ValueError(f"{prefix}{name} lies outside the group")
                else:
                    out[prefix + name] = (data + offset, size)
    except (OSError, EOFError, ValueError, struct.error, zlib.error) as err:
        raise AudioError(f"{path} is not a readable OpenClonk group ({err})") from None
    return raw, out


def _ocg(path: str) -> tuple[bytes, dict[str, tuple[int, int]]]:
    st = os.stat(path)
    return _ocg_tree(path, st.st_mtime + st.st_size)


def ocg_names(path: str) -> list[str]:
    """Every file in an OpenClonk group, child groups included (``Fire.ocg/Fire.ogg``)."""
    return sorted(_ocg(path)[1])


def read_bytes(path: str) -> bytes:
    """Raw bytes of a file or of a container member."""
    outer, member = split_member(path)
    if member is None:
        return Path(outer).read_bytes()
    if outer.endswith(ZIP_SUFFIXES):
        return _zip(outer).read(member)
    if outer.endswith(RCC_SUFFIX):
        return _rcc_read(outer, member)
    if outer.endswith(OCG_SUFFIX):
        raw, entries = _ocg(outer)
        if member not in entries:
            raise AudioError(f"{member} is not in {outer}")
        offset, size = entries[member]
        return raw[offset : offset + size]
    if outer.endswith(".cat"):
        off, size, _ = cat_entries(outer)[int(member)]
        with open(outer, "rb") as f:
            f.seek(off)
            return f.read(size)
    raise AudioError(f"unknown container {outer}")


def _mono(x: np.ndarray) -> np.ndarray:
    if x.ndim == 2:
        x = x.mean(axis=1)
    return np.ascontiguousarray(x, dtype=np.float32)


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Band-limited resampling (soxr HQ); deterministic."""
    if sr_in == sr_out or x.size == 0:
        return x.astype(np.float32, copy=False)
    return np.asarray(
        soxr.resample(x.astype(np.float32), sr_in, sr_out, quality="HQ"), dtype=np.float32
    )


def _sox_decode(src: str, sr: int, data: bytes | None = None) -> np.ndarray:
    if shutil.which("sox") is None:
        raise AudioError(f"cannot decode {src}: sox is not installed")
    ext = Path(split_member(src)[1] or src).suffix.lower()
    with tempfile.TemporaryDirectory(prefix="rtaudio-sox-") as tmp:
        infile = src
        if data is not None:
            infile = os.path.join(tmp, "in" + ext)
            Path(infile).write_bytes(data)
        pre: list[str] = []
        if ext in _RAW_TYPES:
            t, r = _RAW_TYPES[ext]
            pre = [
                "-t",
                "raw",
                "-e",
                "signed" if t == "s16" else ("u-law" if t == "ul" else "a-law"),
                "-b",
                "16" if t == "s16" else "8",
                "-r",
                str(r),
                "-c",
                "1",
            ]
        cmd = ["sox", "-q", "-V1", *pre, infile, "-t", "f32", "-r", str(sr), "-c", "1", "-"]
        p = subprocess.run(cmd, capture_output=True, check=False)
    if p.returncode != 0:
        raise AudioError(f"sox cannot decode {src}: {p.stderr.decode(errors='replace').strip()}")
    return np.frombuffer(p.stdout, dtype="<f4").astype(np.float32)


def load_audio(
    path: str | os.PathLike[str],
    sr: int = SR,
    *,
    offset: float = 0.0,
    duration: float | None = None,
) -> np.ndarray:
    """Decode ``path`` to mono float32 at ``sr`` Hz, optionally a segment of it.

    Args:
        path: a file, or ``container::member`` (zip member or OpenTTD bank index).
        sr: output sample rate.
        offset: start of the segment in seconds.
        duration: length of the segment in seconds (``None``: to the end).

    Returns:
        ``(T,)`` float32 samples in [-1, 1].
    """
    src = os.fspath(path)
    outer, member = split_member(src)
    data = read_bytes(src) if member is not None else None
    try:
        # only the segment is decoded (libsndfile seeks), then resampled
        with sf.SoundFile(io.BytesIO(data) if data is not None else outer) as f:
            file_sr = int(f.samplerate)
            start = max(0, round(offset * file_sr))
            frames = -1 if duration is None else max(0, round(duration * file_sr))
            if not f.seekable():  # raw GSM, some Ogg: read block by block, then cut
                parts = []
                while True:
                    b = f.read(65536, dtype="float32", always_2d=True)
                    if not len(b):
                        break
                    parts.append(b)
                whole = np.concatenate(parts) if parts else np.zeros((0, f.channels), np.float32)
                x = whole[start : None if frames < 0 else start + frames]
            else:
                if start:
                    f.seek(min(start, f.frames))
                x = f.read(frames, dtype="float32", always_2d=False)
        x = resample(_mono(np.asarray(x)), file_sr, sr)
        if duration is not None:
            x = x[: round(duration * sr)]
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        x = _sox_decode(src, sr, data)
        if offset or duration is not None:
            a = max(0, round(offset * sr))
            b = x.size if duration is None else min(x.size, a + round(duration * sr))
            x = x[a:b]
    return np.ascontiguousarray(x, dtype=np.float32)


def audio_duration(path: str) -> float:
    """Duration in seconds, from the header where possible (decodes otherwise)."""
    outer, member = split_member(path)
    try:
        info = sf.info(outer) if member is None else sf.info(io.BytesIO(read_bytes(path)))
        if info.frames > 0:
            return float(info.frames) / float(info.samplerate)
    except (sf.LibsndfileError, RuntimeError, TypeError):
        pass
    return load_audio(path, 8000).size / 8000.0


def to_pcm16(x: np.ndarray) -> np.ndarray:
    """Float [-1, 1] -> int16 with rounding and clipping (deterministic)."""
    y = np.clip(np.rint(np.asarray(x, dtype=np.float64) * 32767.0), -32768, 32767)
    return y.astype(np.int16)


def write_wav(path: str | os.PathLike[str], x: np.ndarray, sr: int = SR) -> None:
    """Write a 16-bit PCM mono WAV atomically: a temporary file renamed into place.

    A crash leaves either the old file or no file, never a truncated one.
    """
    dst = Path(path)
    dst.parent.mkdir(parents=True, exist_ok=True)
    # encoded in memory (clips are seconds long), so that a failed write is the OS's error
    # (e.g. a full disk) and not libsndfile's, reported from inside its write callback
    buf = io.BytesIO()
    sf.write(buf, to_pcm16(x), sr, subtype="PCM_16", format="WAV")
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".part", dir=dst.parent)
    try:
        os.fchmod(fd, FILE_MODE)  # mkstemp's 0600: others could not read it
        with os.fdopen(fd, "wb") as f:
            f.write(buf.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write a text file atomically (temporary file + rename)."""
    dst = Path(path)
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".part", dir=dst.parent)
    try:
        os.fchmod(fd, FILE_MODE)  # mkstemp's 0600: others could not read it
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# ---- level helpers --------------------------------------------------------------------------


def rms_db(x: np.ndarray) -> float:
    """RMS level in dBFS (-inf-safe: silence gives -200)."""
    p = float(np.mean(np.square(x, dtype=np.float64))) if x.size else 0.0
    return 10.0 * np.log10(max(p, 1e-20))


def frame_rms_db(x: np.ndarray, frame: int = 320) -> np.ndarray:
    """Per-frame RMS in dBFS of ``(T,)`` -> ``(T // frame,)``."""
    n = x.size // frame
    if n == 0:
        return np.array([rms_db(x)])
    f = x[: n * frame].astype(np.float64).reshape(n, frame)
    return 10.0 * np.log10(np.maximum(np.mean(f * f, axis=1), 1e-20))


def trim_silence(
    x: np.ndarray,
    sr: int = SR,
    threshold_db: float = -50.0,
    rel_db: float = 40.0,
    pad: float = 0.05,
) -> np.ndarray:
    """Cut leading / trailing frames quieter than ``max(threshold, peak frame - rel_db)``."""
    frame = max(1, sr // 100)
    db = frame_rms_db(x, frame)
    thr = max(threshold_db, float(db.max()) - rel_db)
    on = np.flatnonzero(db > thr)
    if on.size == 0:
        return x[:0]
    p = round(pad * sr)
    a = max(0, on[0] * frame - p)
    b = min(x.size, (on[-1] + 1) * frame + p)
    return x[a:b]


def active_fraction(x: np.ndarray, sr: int = SR, threshold_db: float = -55.0) -> float:
    """Fraction of 10 ms frames louder than ``threshold_db``."""
    db = frame_rms_db(x, max(1, sr // 100))
    return float(np.mean(db > threshold_db)) if db.size else 0.0


def normalize(x: np.ndarray, target_db: float = -20.0, peak: float = 0.95) -> np.ndarray:
    """Scale to ``target_db`` dBFS RMS, lowered where needed so the peak stays <= ``peak``."""
    if x.size == 0:
        return x.astype(np.float32)
    level = rms_db(x)
    if level < -90:
        return np.zeros_like(x, dtype=np.float32)
    g = 10.0 ** ((target_db - level) / 20.0)
    m = float(np.max(np.abs(x)))
    if m * g > peak:
        g = peak / m
    return (x * g).astype(np.float32)


def fade(x: np.ndarray, sr: int = SR, ms: float = 10.0) -> np.ndarray:
    """Short raised-cosine fade in / out so cut clips do not click."""
    n = min(x.size // 2, round(sr * ms / 1000))
    if n <= 1:
        return x
    y = x.astype(np.float32, copy=True)
    w = (0.5 - 0.5 * np.cos(np.linspace(0, np.pi, n))).astype(np.float32)
    y[:n] *= w
    y[-n:] *= w[::-1]
    return y
