"""The exceptions whose message is written for the user (bad device, file, setting, weights).

Front ends (CLI, GUI) show these as one line and carry on or exit cleanly; anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

# (module, class) of every user error
_USER_ERRORS = (
    ("rtaudio.config", "ConfigError"),
    ("rtaudio.devices", "DeviceError"),
    ("rtaudio.audiofile", "AudioFileError"),
    ("rtaudio.models", "WeightsError"),
    ("rtaudio.models", "ConfigError"),
    ("rtaudio.features", "FeatureConfigError"),
    ("rtaudio.batch", "BatchError"),
    ("rtaudio.outputs", "OutputError"),
    ("rtaudio.g2p", "G2PError"),
)


def user_errors() -> tuple[type[BaseException], ...]:
    """The user-error classes of the modules already imported: an exception can only be an
    instance of a class that exists, and importing the others, torch among them, just to say
    no would stall a window or a command for a second."""
    return tuple(
        getattr(sys.modules[module], name) for module, name in _USER_ERRORS if module in sys.modules
    )


def is_user_error(e: BaseException) -> bool:
    """A user error or an OS error (files, devices): its message is for the user."""
    return isinstance(e, (*user_errors(), OSError))


def os_message(e: OSError) -> str:
    """``PATH: reason`` for an OS error about a file (``[Errno 2] No such file or directory:
    'x'`` becomes ``x: No such file or directory``), the reason alone when it names no file."""
    if not e.strerror:
        return str(e)
    if e.filename is None:
        return e.strerror
    where = f"{e.filename} -> {e.filename2}" if e.filename2 is not None else f"{e.filename}"
    return f"{where}: {e.strerror}"


def describe(e: BaseException) -> str:
    """One line for a front end: the message of a user error, the exception's type too for
    anything else."""
    if isinstance(e, OSError):
        return os_message(e)
    return str(e) if is_user_error(e) else f"{type(e).__name__}: {e}"


def missing(path: Path, what: str = "file") -> str:
    """``PATH: no such WHAT``, or ``PATH: broken link (to TARGET, which does not exist)`` for a
    link whose file was moved or deleted."""
    if path.is_symlink():
        return f"{path}: broken link (to {os.readlink(path)}, which does not exist)"
    return f"{path}: no such {what}"


def not_a_file(path: Path) -> str:
    """``PATH: not a regular file``, saying what it is when it is a pipe or a device (read
    only once, and not seekable: the sound or image must be saved to a file first)."""
    mode = path.stat().st_mode
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        kind = "a pipe"
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        kind = "a device"
    else:
        return f"{path}: not a regular file"
    return f"{path}: not a regular file ({kind}; save it to a file first)"


def torch_load_reason(e: BaseException) -> str:
    """Why ``torch.load(..., weights_only=True)`` refused a file, in a line: not torch's
    paragraph (which advises loading it unsafely) nor its C++ internals."""
    text = str(e).strip()
    if "Weights only load failed" in text:
        return "it holds Python objects besides tensors, and a pickle could run code"
    if "inline_container" in text or "PytorchStreamReader" in text:
        return "a zip archive, but not one torch.save wrote"
    return text.splitlines()[0] if text else type(e).__name__
