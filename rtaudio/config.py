"""The engine's one configuration dataclass: defaults, TOML files, CLI overrides, validation."""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SAMPLE_RATE = 16000
SEPARATORS = ("off", "mitas", "tsenet")
CLASSIFIERS = ("swishnet", "esresnet")
RECORD_WHAT = ("input", "output", "both")
DEFAULT_RECORD_DIR = str(Path.home() / "rtaudio-recordings")  # the window's and the keys' folder


class ConfigError(ValueError):
    """An engine setting is out of range or inconsistent; the message says which and why."""


def whole_samples(ms: float) -> bool:
    """Whether ``ms`` milliseconds are a whole number of 16 kHz samples (a chunk length)."""
    n = ms * SAMPLE_RATE / 1000
    return abs(n - round(n)) <= 1e-9


@dataclass(frozen=True)
class EngineConfig:
    """Settings of the streaming engine (all times in milliseconds unless named otherwise).

    Attributes:
        input_device / output_device: PortAudio device index or (part of a) name; None for
            the system default.
        input_rate / output_rate: device sample rates; None for the device's default.
        input_channels: channels to capture (mixed down to mono by averaging); None: two of
            a stereo device, one of a mono one.
        input_channel: take this one channel (1-based) of the input device or source file
            instead of a mixdown (a microphone on input 2 of an audio interface).
        source: a sound file played through the engine instead of the microphone.
        realtime: pace a file source like a microphone (False: as fast as possible).
        chunk_ms: processing chunk (10 ms = 160 samples at 16 kHz).
        separate: ``off``, ``mitas`` (voice from background) or ``tsenet`` (target speaker).
        level_separator: bring the separator's input to the level it was trained on (a causal
            gain, :mod:`rtaudio.agc`) and give the separated voice the input's level back.
        enroll: WAV of the target speaker for ``tsenet``; or ``enroll_seconds`` of live input.
        enroll_save: keep each enrollment taken from live input as this WAV (16 kHz), to use
            again with ``enroll``; a file already there is never replaced (``NAME-2.wav``...).
        play: play the separated voice (or the input when ``separate`` is off).
        voice_spectrogram: also compute the separated voice's log-mel frames
            (``ChunkResult.voice_spectrogram``, for views; about 0.06 ms per 10 ms chunk).
        playback_buffer_ms: jitter buffer before playback (re)starts: more is safer, less is
            faster.
        trim_playback: remove audio that piles up in the playback buffer beyond
            ``playback_buffer_ms`` (a short crossfade per cut) so the output latency does not
            stay high after a start-up burst or a capture hiccup; off keeps every sample.
        host_latency_ms: PortAudio's suggested latency (the host buffer) of the input and
            output streams; 0: the lowest the device offers (and the output in the host's own
            block size). Raise it (say 40-80) on a loaded machine whose host reports
            underruns: the output then runs in one-chunk blocks; it adds to the end-to-end
            latency.
        classifiers: which classifiers run.
        swishnet_lookahead_ms / esresnet_lookahead_ms: audio past a label's span that the
            classifier may use (0-500); the label is emitted only once that audio has arrived.
        swishnet_window_ms / esresnet_window_ms: classifier window (ending at span end +
            lookahead).
        swishnet_hop_ms / esresnet_hop_ms: label span length (one label per span).
        silence_db: RMS level (dBFS) below which a span is labelled ``silence`` without running
            the classifiers.
        max_backlog_ms: if more than this much audio waits for processing, the oldest chunks
            are dropped (and counted): the engine never falls further behind.
        record_dir: write WAVs of the input and/or output here; ``record`` picks which.
        weights_dir: where trained weights live (default: the shipped ones).
    """

    input_device: str | None = None
    output_device: str | None = None
    input_rate: int | None = None
    output_rate: int | None = None
    input_channels: int | None = None
    input_channel: int | None = None
    source: str | None = None
    realtime: bool = True
    chunk_ms: float = 10.0
    separate: str = "off"
    level_separator: bool = True
    enroll: str | None = None
    enroll_seconds: float = 0.0
    enroll_save: str | None = None
    play: bool = False
    voice_spectrogram: bool = False
    playback_buffer_ms: float = 20.0
    host_latency_ms: float = 0.0
    trim_playback: bool = True
    classifiers: tuple[str, ...] = CLASSIFIERS
    swishnet_lookahead_ms: float = 200.0
    esresnet_lookahead_ms: float = 200.0
    swishnet_window_ms: float = 1000.0
    esresnet_window_ms: float = 1000.0
    swishnet_hop_ms: float = 100.0
    esresnet_hop_ms: float = 500.0
    silence_db: float = -50.0
    max_backlog_ms: float = 300.0
    record_dir: str | None = None
    record: str = "both"
    weights_dir: str | None = None

    def __post_init__(self) -> None:
        def bad(msg: str) -> ConfigError:
            return ConfigError(f"config: {msg}")

        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float) and not math.isfinite(v):
                raise bad(f"{f.name}={v} must be a finite number")

        if not 1 <= self.chunk_ms <= 1000 or not whole_samples(self.chunk_ms):
            raise bad(f"chunk_ms={self.chunk_ms} must be 1..1000 and a whole number of samples")
        if self.separate not in SEPARATORS:
            raise bad(f"separate={self.separate!r}; choose one of {', '.join(SEPARATORS)}")
        if self.separate == "tsenet" and not self.enroll and self.enroll_seconds <= 0:
            raise bad("separate=tsenet needs enroll=WAV or enroll_seconds > 0")
        if self.enroll and self.enroll_seconds > 0:
            raise bad("give enroll or enroll_seconds, not both")
        if not 0 <= self.enroll_seconds <= 60:
            raise bad("enroll_seconds must be 0..60")
        unknown = [c for c in self.classifiers if c not in CLASSIFIERS]
        if unknown:
            raise bad(f"unknown classifier(s) {unknown}; choose from {', '.join(CLASSIFIERS)}")
        if len(set(self.classifiers)) != len(self.classifiers):
            raise bad(f"classifiers {list(self.classifiers)} lists one twice")
        for m in CLASSIFIERS:
            la = getattr(self, f"{m}_lookahead_ms")
            win = getattr(self, f"{m}_window_ms")
            hop = getattr(self, f"{m}_hop_ms")
            if not 0 <= la <= 500:
                raise bad(f"{m}_lookahead_ms={la} must be 0..500")
            if not 10 <= hop <= 5000:
                raise bad(f"{m}_hop_ms={hop} must be 10..5000")
            if not 100 <= win <= 10000:
                raise bad(f"{m}_window_ms={win} must be 100..10000")
        for name in ("input_rate", "output_rate"):
            r = getattr(self, name)
            if r is not None and not 8000 <= r <= 384000:
                raise bad(f"{name}={r} must be 8000..384000 Hz")
        if self.input_channels is not None and not 1 <= self.input_channels <= 64:
            raise bad("input_channels must be 1..64")
        if self.input_channel is not None:
            if not 1 <= self.input_channel <= 64:
                raise bad("input_channel must be 1..64")
            if self.input_channels is not None:
                raise bad(
                    "input_channel (one channel) and input_channels (a mixdown of the first "
                    "N) exclude each other: set one"
                )
        if not -120 <= self.silence_db <= 0:
            raise bad("silence_db must be -120..0 dBFS")
        if not 0 <= self.playback_buffer_ms <= 1000:
            raise bad("playback_buffer_ms must be 0..1000")
        if not 0 <= self.host_latency_ms <= 1000:
            raise bad("host_latency_ms must be 0..1000 (0: the lowest the device offers)")
        if not 2 * self.chunk_ms <= self.max_backlog_ms <= 60_000:
            raise bad("max_backlog_ms must be at least two chunks and at most 60000")
        if self.record not in RECORD_WHAT:
            raise bad(f"record={self.record!r}; choose one of {', '.join(RECORD_WHAT)}")

    @property
    def chunk_samples(self) -> int:
        return round(self.chunk_ms * SAMPLE_RATE / 1000)

    def replace(self, **overrides: Any) -> EngineConfig:
        return from_dict({**dataclasses.asdict(self), **overrides})


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """Accept TOML / CLI values: lists for tuples, ints for floats, strings for devices."""
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union) and type(None) in args:
        if value is None:
            return None
        hint = next(a for a in args if a is not type(None))
        origin = typing.get_origin(hint)
    if origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"config: {name} must be a list")
        return tuple(str(v) for v in value)
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is bool and isinstance(value, bool):
        return value
    if hint is str and isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    raise ConfigError(f"config: {name}={value!r} should be {getattr(hint, '__name__', hint)}")


def from_dict(data: dict[str, Any]) -> EngineConfig:
    hints = typing.get_type_hints(EngineConfig)
    unknown = sorted(set(data) - set(hints))
    if unknown:
        raise ConfigError(
            f"config: unknown setting(s) {', '.join(unknown)}; valid: {', '.join(sorted(hints))}"
        )
    return EngineConfig(**{k: _coerce(k, v, hints[k]) for k, v in data.items()})


def load(path: str | Path | None = None, **overrides: Any) -> EngineConfig:
    """Defaults, then the TOML file (top level or an ``[engine]`` table), then overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            parsed = tomllib.loads(p.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config: no such file {p}") from None
        except OSError as e:  # a folder, no permission...
            raise ConfigError(f"config: cannot read {p} ({e.strerror or e})") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"config: {p} is not valid TOML ({e})") from None
        table = parsed.get("engine", parsed)
        if not isinstance(table, dict):
            raise ConfigError(f"config: {p}: [engine] must be a table of settings")
        data = dict(table)
    data.update({k: v for k, v in overrides.items() if v is not None})
    return from_dict(data)
