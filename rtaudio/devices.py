"""Audio devices through PortAudio (sounddevice), and the sound server's sources and sinks
(:mod:`rtaudio.pulse`): listing and resolving with clear errors."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np

from rtaudio import pulse
from rtaudio.resample import StreamResampler

log = logging.getLogger(__name__)
T = TypeVar("T")

# A sound server that stops answering (frozen, or gone in a way ALSA's pulse plugin does not
# notice) makes PortAudio calls wait for it: closing a stream for as long as the server is
# frozen, and sometimes for ever (the plugin's lock held by a dead connection). Closing and
# opening streams and re-scanning devices therefore run in threads of their own, waited for
# this long; what outlives it is left to finish on its own.
CLOSE_LIMIT_S = 2.0
OPEN_LIMIT_S = 6.0

_lock = threading.Lock()
_closing: set[Any] = set()  # streams whose abort/close has not returned (kept referenced:
# PortAudio may still call their callbacks)
_late: threading.Thread | None = None  # a limited call that timed out and still runs
_clip: Any = None  # the stream of play_clip's clip
_portaudio: Any = None  # the sounddevice module, once PortAudio has started


class DeviceError(RuntimeError):
    """No usable audio device, or the requested one does not exist / refuses the settings."""


def portaudio() -> Any:
    """The ``sounddevice`` module (PortAudio), or a clear DeviceError if it cannot load or the
    sound server does not answer while PortAudio starts (it asks every ALSA device)."""
    global _portaudio
    if _portaudio is None:
        # sounddevice points stderr at /dev/null while PortAudio starts; if that never ends,
        # stderr is given back here so the error can be read
        try:
            saved = os.dup(2)
        except OSError:
            saved = -1
        try:
            _portaudio = call_limited(_start_portaudio, "starting PortAudio")
        except DeviceError:
            if saved >= 0:
                os.dup2(saved, 2)
            raise
        finally:
            if saved >= 0:
                os.close(saved)
    return _portaudio


def _start_portaudio() -> Any:
    try:
        import sounddevice as sd
    except OSError as e:  # libportaudio missing
        raise DeviceError(f"PortAudio is not available ({e}); install libportaudio2") from None
    # sounddevice terminates PortAudio at exit, which waits for every open stream: with a
    # stream stuck in closing the process would never end
    atexit.unregister(sd._exit_handler)
    atexit.register(_at_exit, sd)
    return sd


def _at_exit(sd: Any) -> None:
    if not stuck():
        sd._exit_handler()


def stuck() -> bool:
    """Whether a stream is still closing or a device call still runs past its time limit."""
    with _lock:
        return bool(_closing) or (_late is not None and _late.is_alive())


def call_limited(
    fn: Callable[[], T],
    what: str,
    limit: float = OPEN_LIMIT_S,
    cancel: threading.Event | None = None,
    discard: Callable[[T], object] | None = None,
) -> T:
    """``fn()`` (a PortAudio call that may wait for the sound server) in a thread of its own:
    its result, or DeviceError after ``limit`` s or once ``cancel`` is set. One such call at a
    time: while one that timed out still runs, the next fails at once. A result that comes
    too late is passed to ``discard`` (a stream nobody will use is closed)."""
    global _late
    with _lock:
        if _late is not None and _late.is_alive():
            raise DeviceError(
                f"{what}: the sound server is not answering (an earlier call still waits for it)"
            )
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # handed to the caller's thread
            box["error"] = e
        with _lock:
            done.set()
            late = "late" in box
        if late and "value" in box and discard is not None:
            discard(box["value"])

    thread = threading.Thread(target=run, name="rtaudio-device-call", daemon=True)
    thread.start()
    deadline = time.monotonic() + limit
    while not done.wait(min(0.05, max(0.0, deadline - time.monotonic()))):
        if time.monotonic() >= deadline or (cancel is not None and cancel.is_set()):
            break
    with _lock:
        if not done.is_set():
            box["late"] = True
            _late = thread
            raise DeviceError(
                f"{what}: no answer within {limit:g} s (the sound server is not answering)"
                if time.monotonic() >= deadline
                else f"{what}: cancelled"
            )
    if "error" in box:
        raise box["error"]
    return box["value"]


def start_stream(make: Callable[[], Any], what: str, cancel: threading.Event | None = None) -> Any:
    """Open a stream with ``make()`` and start it, as :func:`call_limited` (a stream that
    opens too late, or fails to start, is closed)."""

    def started() -> Any:
        stream = make()
        try:
            stream.start()
        except BaseException:
            close_stream(stream)
            raise
        return stream

    return call_limited(started, what, cancel=cancel, discard=close_stream)


def close_stream(stream: Any, limit: float = CLOSE_LIMIT_S) -> bool:
    """Abort and close a PortAudio stream, waiting at most ``limit`` s. A stream the host does
    not let go of in time is left to close in its own thread (and PortAudio is not restarted
    meanwhile: that would wait for it too). Returns whether it closed in time."""
    if stream is None:
        return True
    sd = portaudio()
    done = threading.Event()

    def run() -> None:
        try:
            with contextlib.suppress(sd.PortAudioError):
                stream.abort()
                stream.close()
        finally:
            with _lock:
                _closing.discard(stream)
            done.set()

    with _lock:
        _closing.add(stream)
    threading.Thread(target=run, name="rtaudio-device-close", daemon=True).start()
    if done.wait(limit):
        return True
    log.warning("an audio stream did not close within %g s; left to close on its own", limit)
    return False


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
    pulse: str = ""  # a sound server's source / sink, opened through its "pulse" device
    description: str = ""  # the server's words for it: "Scarlett 2i2 Analog Stereo"

    def to_json(self) -> dict[str, Any]:
        """Its fields; a sound server's source / sink has no index of its own (it is opened
        through the pulse device's, and named, not numbered, on the command line)."""
        return {**asdict(self), "index": None if self.pulse else self.index}

    def reaching(self, target: str | None) -> str:
        """The name to show for this device, with the source / sink of the sound server it
        reaches when it stands for the server's default (:attr:`follows_default`, asked with
        :func:`pulse.default_name` once a stream is open): "default (vmic)"."""
        return f"{self.name} ({target})" if target else self.name

    @property
    def follows_default(self) -> bool:
        """Whether this is an ALSA device that stands for the sound server's default source /
        sink (and so reaches another one when the desktop's default changes)."""
        return not self.pulse and self.hostapi == "ALSA" and self.name in ("default", "pulse")

    @property
    def mono_out_channels(self) -> int:
        """The channels to open to play a mono signal here: up to two, the same signal in
        each. Not one, though both servers would copy it to each of the sink's: one channel
        through ALSA's pulse plugin ran dry more often (a second-long file: 3-25 underflows in
        8 of 20 runs, two channels 1 in 1 of 18). (Two equal channels into a mono sink:
        PulseAudio averages them, PipeWire adds them up at -3 dB, 3 dB louder in all.)"""
        return max(1, min(2, self.max_output_channels))

    def aimed(self, kind: str) -> contextlib.AbstractContextManager[None]:
        """Around opening a ``kind`` stream on this device: to its source / sink if it is
        one of the sound server's (:mod:`rtaudio.pulse`), else to what the user's
        environment names."""
        return pulse.aimed(kind, self.pulse)


def list_devices(server: bool = True) -> list[Device]:
    """PortAudio's devices and, with ``server``, the sound server's sources and sinks (when
    PortAudio has ALSA's "pulse" device to open them with)."""
    devs = _portaudio_devices()
    bridge = next((d for d in devs if d.name == "pulse" and d.hostapi == "ALSA"), None)
    if not server or bridge is None:
        return devs
    return devs + [
        Device(
            index=bridge.index,
            name=e.name,
            hostapi="PulseAudio",
            max_input_channels=e.channels if e.kind == "input" else 0,
            max_output_channels=e.channels if e.kind == "output" else 0,
            default_samplerate=float(e.rate),
            default_input=False,
            default_output=False,
            pulse=e.name,
            description=e.description,
        )
        for e in pulse.endpoints()
    ]


def _portaudio_devices() -> list[Device]:
    sd = portaudio()
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
    """The input or output device named by ``spec`` (index, exact or partial name, or None).
    Names are looked up among PortAudio's devices first, then among the sound server's
    sources / sinks (asked only then: a default or numbered device never waits for it)."""
    if kind not in ("input", "output"):
        raise ValueError(kind)

    def usable(devs: list[Device]) -> list[Device]:
        return [d for d in devs if getattr(d, f"max_{kind}_channels") > 0]

    own = usable(list_devices(server=False))
    if not own:
        raise DeviceError(f"no audio {kind} devices found (is a sound server running?)")
    if spec is None or spec == "":
        default = [d for d in own if getattr(d, f"default_{kind}")]
        return default[0] if default else own[0]
    if isinstance(spec, int) or str(spec).isdigit():
        idx = int(spec)
        for d in own:
            if d.index == idx:
                return d
        raise DeviceError(f"no {kind} device with index {idx}; see `rtaudio devices`")
    text = str(spec)
    exact = [d for d in own if d.name == text]
    if exact:
        return exact[0]
    server = [d for d in usable(list_devices()) if d.pulse]
    for exact in (
        [d for d in server if d.name == text],
        [d for d in server if d.description == text],
    ):
        if len(exact) == 1:
            return exact[0]
    for devs in (own, server):  # a partial name: PortAudio's devices keep the first say
        partial = [d for d in devs if text.lower() in f"{d.name}\n{d.description}".lower()]
        if len(partial) == 1:
            return partial[0]
        if len(partial) > 1:
            names = ", ".join(d.name if d.pulse else f"{d.index}: {d.name}" for d in partial)
            how = "the whole name" if devs is server else "the index"
            raise DeviceError(f"{kind} device {text!r} is ambiguous ({names}); use {how}")
    raise DeviceError(f"no {kind} device matches {text!r}; see `rtaudio devices`")


def refresh(cancel: threading.Event | None = None) -> None:
    """Re-scan devices (PortAudio only enumerates them when it starts)."""
    sd = portaudio()
    if stuck():
        raise DeviceError(
            "cannot re-scan audio devices: the sound server is not answering (a stream or "
            "call still waits for it)"
        )

    def rescan() -> None:
        sd._terminate()
        sd._initialize()

    try:
        call_limited(rescan, "re-scanning audio devices", cancel=cancel)
    except sd.PortAudioError as e:
        raise DeviceError(f"cannot re-scan audio devices ({e})") from None


def play_clip(audio: np.ndarray, rate: int, spec: str | int | None = None) -> float:
    """Play a mono clip on an output device (``spec`` as :func:`resolve`; None: the default)
    without waiting, at the device's own rate, on :attr:`Device.mono_out_channels`; a clip
    still playing is stopped first. Returns the clip's length in seconds."""
    global _clip
    sd = portaudio()
    dev = resolve(spec, "output")
    out_rate = round(dev.default_samplerate) or rate
    x = np.ascontiguousarray(audio, np.float32).reshape(-1)
    if out_rate != rate:
        x = StreamResampler(rate, out_rate).process(x, last=True)
    channels = dev.mono_out_channels
    stop_clip()
    played = 0

    def callback(outdata: np.ndarray, frames: int, t: Any, status: Any) -> None:
        nonlocal played
        n = min(frames, x.size - played)
        outdata[:n] = x[played : played + n, None]
        outdata[n:] = 0
        played += n
        if n < frames:
            raise sd.CallbackStop

    def opened() -> Any:
        with dev.aimed("output"):
            return sd.OutputStream(
                device=dev.index,
                samplerate=out_rate,
                channels=channels,
                dtype="float32",
                callback=callback,
            )

    try:
        _clip = start_stream(opened, f"cannot play on {dev.name!r}")
    except (sd.PortAudioError, ValueError) as e:
        raise DeviceError(f"cannot play on {dev.name!r} ({e})") from None
    return x.size / out_rate


def stop_clip() -> None:
    """Stop a clip :func:`play_clip` started (nothing if none plays)."""
    global _clip
    clip, _clip = _clip, None
    close_stream(clip)
