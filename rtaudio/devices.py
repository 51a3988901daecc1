"""Audio devices through PortAudio (sounddevice): listing and resolving with clear errors."""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from rtaudio.resample import StreamResampler


class DeviceError(RuntimeError):
    """No usable audio device, or the requested one does not exist / refuses the settings."""


def _sd() -> Any:
    try:
        import sounddevice as sd
    except OSError as e:  # libportaudio missing
        raise DeviceError(f"PortAudio is not available ({e}); install libportaudio2") from None
    return sd


@dataclass(frozen=True)
class Device:
    index: int
    name: str
    hostapi: str
    max_input_channels: int
    max_output_channels: int
    default_samplerate: float
    default_input: bool
    default_output: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def list_devices() -> list[Device]:
    sd = _sd()
    try:
        devs = sd.query_devices()
        apis = sd.query_hostapis()
        d_in, d_out = sd.default.device
    except sd.PortAudioError as e:
        raise DeviceError(f"cannot query audio devices ({e})") from None
    return [
        Device(
            index=i,
            name=d["name"],
            hostapi=apis[d["hostapi"]]["name"],
            max_input_channels=int(d["max_input_channels"]),
            max_output_channels=int(d["max_output_channels"]),
            default_samplerate=float(d["default_samplerate"]),
            default_input=i == d_in,
            default_output=i == d_out,
        )
        for i, d in enumerate(devs)
    ]


def resolve(spec: str | int | None, kind: str) -> Device:
    """The input or output device named by ``spec`` (index, exact or partial name, or None)."""
    if kind not in ("input", "output"):
        raise ValueError(kind)
    devs = list_devices()
    usable = [d for d in devs if getattr(d, f"max_{kind}_channels") > 0]
    if not usable:
        raise DeviceError(f"no audio {kind} devices found (is a sound server running?)")
    if spec is None or spec == "":
        default = [d for d in usable if getattr(d, f"default_{kind}")]
        return default[0] if default else usable[0]
    if isinstance(spec, int) or str(spec).isdigit():
        idx = int(spec)
        for d in usable:
            if d.index == idx:
                return d
        raise DeviceError(f"no {kind} device with index {idx}; see `rtaudio devices`")
    exact = [d for d in usable if d.name == spec]
    if exact:
        return exact[0]
    partial = [d for d in usable if str(spec).lower() in d.name.lower()]
    if len(partial) == 1:
        return partial[0]
    if len(partial) > 1:
        names = ", ".join(f"{d.index}: {d.name}" for d in partial)
        raise DeviceError(f"{kind} device {spec!r} is ambiguous ({names}); use the index")
    raise DeviceError(f"no {kind} device matches {spec!r}; see `rtaudio devices`")


def refresh() -> None:
    """Re-scan devices (PortAudio only enumerates them when it starts)."""
    sd = _sd()
    try:
        sd._terminate()
        sd._initialize()
    except sd.PortAudioError as e:
        raise DeviceError(f"cannot re-scan audio devices ({e})") from None


def play_clip(audio: np.ndarray, rate: int, spec: str | int | None = None) -> float:
    """Play a mono clip on an output device (``spec`` as :func:`resolve`; None: the default)
    without waiting, at the device's own rate and on up to two channels; a clip still playing
    is stopped first. Returns the clip's length in seconds."""
    sd = _sd()
    dev = resolve(spec, "output")
    out_rate = round(dev.default_samplerate) or rate
    x = np.ascontiguousarray(audio, np.float32).reshape(-1)
    if out_rate != rate:
        x = StreamResampler(rate, out_rate).process(x, last=True)
    channels = max(1, min(2, dev.max_output_channels))
    try:
        sd.stop()
        sd.play(np.repeat(x[:, None], channels, axis=1), out_rate, device=dev.index)
    except (sd.PortAudioError, ValueError) as e:
        raise DeviceError(f"cannot play on {dev.name!r} ({e})") from None
    return x.size / out_rate


def stop_clip() -> None:
    """Stop a clip :func:`play_clip` started (nothing if none plays)."""
    sd = _sd()
    with contextlib.suppress(sd.PortAudioError):
        sd.stop()
