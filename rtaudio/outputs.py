"""Output folders: checked before long work starts, and a full disk said as such.

A training run writes its first checkpoint minutes in, an evaluation its picture at the end: a
folder that cannot take files should stop them in the first second, with one line, not after
the work with a traceback. A disk that fills up during the work gives errors that do not say
so (libsndfile: "System error.", torch.save: "unexpected pos"); :func:`space_checked` turns
them into :class:`DiskFullError`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _file_mode() -> int:
    """What ``open()`` would give a new file (temporary files are created 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


FILE_MODE = _file_mode()


class OutputError(ValueError):
    """An output path that cannot be written; the message names it and why."""


def writable_folder(folder: str | Path, what: str) -> Path:
    """Create ``folder`` (and its parents) if needed and check that a file can be made in it.

    ``what`` names the option for the message (e.g. ``--out``). Raises :class:`OutputError`.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{what}: {folder} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix=".rtaudio-probe."):
            pass
    except OSError as e:
        why = e.strerror or str(e)
        raise OutputError(f"{what}: cannot write in {folder} ({why})") from None
    return folder


class DiskFullError(OutputError):
    """A write failed because the disk is full; what was finished before is kept."""


# a failed write with less free space than this is taken for a full disk (libsndfile and
# torch.save report ENOSPC without its errno)
LOW_SPACE_BYTES = 4 << 20


def disk_full(folder: Path, e: BaseException) -> DiskFullError | None:
    """A :class:`DiskFullError` if the write that raised ``e`` in ``folder`` failed for want
    of space (its errno says so, or the disk has almost nothing left), else None."""
    try:
        free: int | None = shutil.disk_usage(folder).free
    except OSError:
        free = None
    if getattr(e, "errno", None) != errno.ENOSPC and (free is None or free >= LOW_SPACE_BYTES):
        return None
    left = f" ({free / 1e6:.1f} MB free)" if free is not None else ""
    return DiskFullError(f"no space left on the disk{left}")


@contextlib.contextmanager
def space_checked(folder: Path) -> Iterator[None]:
    """Writes in ``folder`` that fail for want of space raise :class:`DiskFullError`."""
    try:
        yield
    except (RuntimeError, OSError) as e:
        full = disk_full(folder, e)
        if full is not None:
            raise full from None
        raise


@contextlib.contextmanager
def exclusive(path: Path, what: str) -> Iterator[None]:
    """Hold ``path`` for this process: a second run on the same checkpoint or corpus would
    interleave its writes with ours. The lock is ``.NAME.lock`` beside ``path`` (removed on
    exit; the operating system releases it if the process dies). Raises :class:`OutputError`
    naming the process that holds it."""
    lock = path.with_name(f".{path.name}.lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise OutputError(
                f"{what} is in use by another rtaudio run (pid {pid}): wait for it to end or "
                "stop it first"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                lock.unlink()
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to the file descriptor (``os.write`` may write part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
