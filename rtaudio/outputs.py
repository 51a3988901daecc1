"""Output folders, checked before long work starts.

A training run writes its first checkpoint minutes in, an evaluation its picture at the end: a
folder that cannot take files should stop them in the first second, with one line, not after
the work with a traceback.
"""

from __future__ import annotations

import tempfile
from pathlib import Path


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
