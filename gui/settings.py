"""The window's settings: a plain dataclass, stored with QSettings, turned into an EngineConfig.

QSettings uses the organisation / application names below (on Linux
``~/.config/rtaudio/rtaudio-gui.conf``); tests and ``rtaudio gui --settings FILE`` pass an INI
file instead. Values read back are checked: a bad or outdated stored value falls back to its
default instead of breaking the window.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings

from rtaudio.config import DEFAULT_RECORD_DIR, SEPARATORS, EngineConfig

ORGANIZATION = "rtaudio"
APPLICATION = "rtaudio-gui"
INPUT_RATES = (0, 16000, 22050, 32000, 44100, 48000)  # 0: the device's default


def open_settings(path: str | Path | None = None) -> QSettings:
    """The user's settings, or an INI file at ``path``."""
    if path is not None:
        return QSettings(str(path), QSettings.Format.IniFormat)
    return QSettings(ORGANIZATION, APPLICATION)


@dataclass
class GuiSettings:
    """Everything the window remembers between runs ("" means the system default / none)."""

    input_device: str = ""
    output_device: str = ""
    input_rate: int = 0
    input_channel: int = 0  # one channel of the input (1-based); 0: the mono mix
    source: str = ""  # a sound file instead of the microphone
    chunk_ms: int = 10
    lookahead_ms: int = 200
    separate: str = "off"
    level_separator: bool = True  # the separators' input levelled (rtaudio.agc)
    enroll_wav: str = ""
    enroll_seconds: float = 3.0
    play: bool = False
    monitor: str = "separated"  # what is played: input | separated | removed
    spectrogram: str = "input"  # what the spectrogram shows: input | voice (when separating)
    record_dir: str = DEFAULT_RECORD_DIR

    def engine_config(self, record: bool = False, enroll_save: str | None = None) -> EngineConfig:
        """The engine settings; raises :class:`~rtaudio.config.ConfigError` if inconsistent.
        ``enroll_save``: where an enrollment taken from the input is kept (TseNet only)."""
        tsenet = self.separate == "tsenet"
        return EngineConfig(
            input_device=self.input_device or None,
            output_device=self.output_device or None,
            input_rate=self.input_rate or None,
            input_channel=self.input_channel or None,
            source=self.source or None,
            chunk_ms=float(self.chunk_ms),
            separate=self.separate,
            level_separator=self.level_separator,
            enroll=self.enroll_wav if tsenet and self.enroll_wav else None,
            enroll_seconds=self.enroll_seconds if tsenet and not self.enroll_wav else 0.0,
            enroll_save=enroll_save if tsenet else None,
            play=self.play,
            voice_spectrogram=True,  # the window can show it; 0.06 ms per 10 ms chunk
            swishnet_lookahead_ms=float(self.lookahead_ms),
            esresnet_lookahead_ms=float(self.lookahead_ms),
            record_dir=self.record_dir if record else None,
            record="both",
        )

    # ------------------------------------------------------------------ storage
    def save(self, store: QSettings) -> None:
        for f in dataclasses.fields(self):
            store.setValue(f"engine/{f.name}", getattr(self, f.name))
        store.sync()

    @classmethod
    def load(cls, store: QSettings) -> GuiSettings:
        default = cls()
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = store.value(f"engine/{f.name}")
            if raw is None:
                continue
            value = _convert(raw, type(getattr(default, f.name)))
            if value is not None:
                values[f.name] = value
        s = dataclasses.replace(default, **values)
        # out-of-range values from an older version or a hand-edited file: back to defaults
        if s.separate not in SEPARATORS:
            s.separate = default.separate
        if s.monitor not in ("input", "separated", "removed"):
            s.monitor = default.monitor
        if s.spectrogram not in ("input", "voice"):
            s.spectrogram = default.spectrogram
        if s.input_rate not in INPUT_RATES:
            s.input_rate = default.input_rate
        if not 1 <= s.chunk_ms <= 1000:
            s.chunk_ms = default.chunk_ms
        if not 0 <= s.input_channel <= 64:
            s.input_channel = default.input_channel
        if not 0 <= s.lookahead_ms <= 500:
            s.lookahead_ms = default.lookahead_ms
        if not 0.5 <= s.enroll_seconds <= 60:
            s.enroll_seconds = default.enroll_seconds
        return s


def _convert(raw: object, kind: type) -> Any:
    """INI files give strings back; convert, or None if the stored value is unusable."""
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("true", "1", "yes"):
                return True
            if text in ("false", "0", "no"):
                return False
            return None
        if kind is int:
            return int(float(str(raw)))
        if kind is float:
            return float(str(raw))
        return str(raw)
    except (TypeError, ValueError):
        return None
