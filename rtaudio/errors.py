"""The exceptions whose message is written for the user (bad device, file, setting, weights).

Front ends (CLI, GUI) show these as one line and carry on or exit cleanly; anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations


def user_errors() -> tuple[type[BaseException], ...]:
    from rtaudio.audiofile import AudioFileError
    from rtaudio.batch import BatchError
    from rtaudio.config import ConfigError
    from rtaudio.devices import DeviceError
    from rtaudio.features import FeatureConfigError
    from rtaudio.models import ConfigError as ModelConfigError
    from rtaudio.models import WeightsError

    return (
        ConfigError,
        DeviceError,
        AudioFileError,
        WeightsError,
        ModelConfigError,
        FeatureConfigError,
        BatchError,
    )


def describe(e: BaseException) -> str:
    """One line for a front end: the message of a user error (or an OS error: files,
    devices), the exception's type too for anything else."""
    if isinstance(e, (*user_errors(), OSError)):
        return str(e)
    return f"{type(e).__name__}: {e}"
