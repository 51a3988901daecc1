"""The streaming engine: microphone (or file) in, labels, separated voice and latency out.

Threads, and which of them may block:

* **audio input callback** (PortAudio's thread): copies the block into a preallocated
  :class:`~rtaudio.ring.RingBuffer`, notes its ADC time in a bounded queue, counts overflows.
  No torch, no logging, no allocation beyond the copy, never blocks.
* **file feeder** (``rtaudio-file``, file sources only): does what the callback does, paced by
  the clock (``realtime``) or as fast as the worker consumes (batch).
* **worker** (``rtaudio-worker``): the only thread that computes. Pulls audio, converts it to
  16 kHz mono (libsamplerate, :mod:`rtaudio.resample`), cuts fixed chunks, runs
  :class:`~rtaudio.pipeline.Processor`, writes the voice to the playback ring and the WAV
  recorders, publishes a :class:`~rtaudio.results.ChunkResult` per chunk. Blocks only on the
  input queue.
* **audio output callback** (PortAudio's thread): copies from the playback ring, zero-fills and
  counts underflows, notes the DAC time. Never blocks.
* **subscribers** (terminal view, GUI timer, JSONL writer): read their own bounded
  :class:`~rtaudio.results.Channel`; a slow subscriber loses its oldest results, the engine
  never waits for it.

Live controls (safe from any thread, e.g. a GUI; the worker picks them up at the next chunk):
:attr:`Engine.monitor` (play the input or the separated voice), :attr:`Engine.muted`,
:meth:`Engine.start_recording` / :meth:`Engine.stop_recording`, and
:meth:`Engine.request_enrollment` (new TseNet target from a clip or from the next N seconds of
input; progress in :attr:`Engine.enrollment`). They are plain attributes the worker reads, a
lock around the WAV writers, and a queue of enrollment requests: nothing the worker waits on.

Drop policy: when more than ``max_backlog_ms`` of audio waits for the worker (live sources
only), the oldest whole chunks are discarded and counted in ``dropped``; the backlog, and so
memory and latency, stay bounded.

Device faults: when the input stream dies (device unplugged, sound server gone) or stalls
(active but silent for ``STALL_S``), or the output stream dies, the worker keeps everything
received so far (recordings stay valid: their headers are rewritten after every chunk),
sets ``status.state = "reconnecting"`` with the reason in ``status.message``, and reopens the
streams with exponential backoff (0.25 s doubling to 5 s; a try that fails re-scans
PortAudio's devices and tries again, which a replugged USB device or a restarted sound server
needs). When they open again it resumes (state back to ``running``, message saying how long the
gap was; stream time does not count the gap, the separator restarts).
:meth:`Engine.switch_input` / :meth:`Engine.switch_output` pick another input / output device
while running (also while reconnecting).

File sources: at the end of the file the worker feeds silence through the classifiers for
their lookahead (as ``rtaudio process`` does), so the last spans, and a file shorter than one
analysis window, are labelled too; that silence is neither played nor recorded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rtaudio import devices, pulse
from rtaudio.audiofile import (
    READ_ERRORS,
    WAV_MAX_BYTES,
    AudioFileError,
    CrashSafeWav,
    channel_missing,
    check_enrollment,
    check_samples,
    mixdown,
    open_reader,
    probe,
    read_audio,
    read_failure,
    repair_wav,
    save_wav_new,
)
from rtaudio.bench_loopback import SPACING_S, RoundTrip, summary_line
from rtaudio.config import SAMPLE_RATE, ConfigError, EngineConfig
from rtaudio.devices import Device, DeviceError, resolve
from rtaudio.errors import os_message
from rtaudio.labeltrack import LabelTrackWriter
from rtaudio.latency import LatencyStats, LatencySummary
from rtaudio.pipeline import Processor
from rtaudio.resample import StreamResampler
from rtaudio.results import Bus, Channel, ChunkResult, EngineStatus, Label, LatencyRecord
from rtaudio.ring import RingBuffer

log = logging.getLogger(__name__)

_NOTIFY_SLOTS = 256
MONITOR_SOURCES = ("input", "separated", "removed")  # removed: input minus the voice
CLIP_LEVEL = 0.999  # |sample| at or above this is counted as clipped (-0.009 dBFS)
STALL_S = 3.0  # an input stream that is active but delivers nothing this long is lost
RETRY_MIN_S, RETRY_MAX_S = 0.25, 5.0  # reconnection backoff
SAME: Any = object()  # reopen the device in use


def _open_stream(
    sd: Any,
    kind: str,
    dev: Device,
    channels: int,
    rate: int,
    blocksize: int,
    callback: Any,
    latency_ms: float = 0.0,
    cancel: threading.Event | None = None,
) -> Any:
    """Open and start a PortAudio input or output stream, or raise a clear DeviceError
    (``latency_ms``: suggested host latency; 0 for the lowest the device offers). A sound
    server that does not answer within ``devices.OPEN_LIMIT_S`` (or ``cancel`` set) is a
    DeviceError too; the stream, if it opens later, is closed."""
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    cls = sd.InputStream if kind == "input" else sd.OutputStream

    def opened() -> Any:
        with dev.aimed(kind):
            check(device=dev.index, channels=channels, samplerate=rate, dtype="float32")
            return cls(
                device=dev.index,
                channels=channels,
                samplerate=rate,
                blocksize=blocksize,
                dtype="float32",
                latency=latency_ms / 1000 if latency_ms > 0 else "low",
                callback=callback,
            )

    name = dev.name
    try:
        return devices.start_stream(opened, f"cannot open {kind} {name!r}", cancel)
    except (sd.PortAudioError, ValueError) as e:
        raise DeviceError(f"cannot open {kind} {name!r} at {rate} Hz x {channels}: {e}") from None


class _DeviceStream:
    """A PortAudio stream on a device, opened, watched and closed; its owner sets the fields
    below and passes its callback (called with the stream's token first: calls from an older
    stream given up on are refused by comparing it with :attr:`_token`)."""

    kind: str  # "input" or "output"
    device: Device
    channels: int
    rate: int
    host_latency_ms: float
    cancel: threading.Event | None
    _sd: Any
    _stream: Any = None
    _token: object | None = None  # the open stream's
    _presence: pulse.Presence | None = None  # a sound server's source / sink, while open
    _default: pulse.DefaultFollower | None = None  # the server's default one, while open
    shown = ""  # the device's name as shown, once open: "default (vmic)"

    def _start(self, blocksize: int, callback: Callable[..., None]) -> None:
        self._token = token = object()
        self._stream = _open_stream(
            self._sd,
            self.kind,
            self.device,
            self.channels,
            self.rate,
            blocksize,
            functools.partial(callback, token),
            self.host_latency_ms,
            self.cancel,
        )
        if self.device.pulse:  # the server moves a stream whose source goes away, silently
            self._presence = pulse.Presence(self.kind, self.device.pulse)
        target = pulse.default_name(self.kind) if self.device.follows_default else None
        self.shown = self.device.reaching(target)
        if target:
            self._default = pulse.DefaultFollower(self.kind, target)

    def renamed(self) -> bool:
        """The server moved this stream to its new default source / sink (the desktop's
        default changed): :attr:`shown` names that one now."""
        new = self._default.take() if self._default is not None else None
        if new:
            self.shown = self.device.reaching(new)
        return bool(new)

    def moved(self) -> bool:
        """The sound server's source / sink this stream was opened on went away: the server
        has moved the stream to its default one."""
        return self._presence is not None and self._presence.gone

    def alive(self) -> bool:
        return self._stream is not None and bool(self._stream.active) and not self.moved()

    def close(self) -> None:
        self._token = None
        for watch in (self._presence, self._default):
            if watch is not None:
                watch.close()
        self._presence = self._default = None
        devices.close_stream(self._stream)
        self._stream = None


# ----------------------------------------------------------------------------------- inputs


class _Input:
    """An audio producer writing ``[n, channels]`` float32 blocks into a ring."""

    rate: int
    channels: int
    realtime = True

    def __init__(self) -> None:
        self.ring: RingBuffer | None = None
        self.notify: queue.Queue[tuple[int, float]] = queue.Queue(_NOTIFY_SLOTS)
        self.finished = threading.Event()
        self.error: str | None = None
        self.status_flags = 0
        self.cancel: threading.Event | None = None  # set: stop waiting for a device to open

    def open(self) -> None: ...

    def close(self) -> None: ...

    def alive(self) -> bool:
        return True


class _MicInput(_DeviceStream, _Input):
    kind = "input"

    def __init__(self, cfg: EngineConfig) -> None:
        super().__init__()
        self._sd = devices.portaudio()
        self.spec = cfg.input_device
        dev = resolve(self.spec, "input")
        self.device = dev
        self.rate = int(cfg.input_rate or dev.default_samplerate)
        self.pick = cfg.input_channel  # one channel, kept as it comes in (the ring is mono)
        # without a pick: the configured channels, else a stereo device's two, averaged by the
        # worker; a sound server asked for one channel of a stereo source mixes them itself,
        # PipeWire 3 dB louder than PulseAudio
        self.wanted = cfg.input_channels
        self.channels = self._capture(dev)
        self.blocksize = max(1, round(self.rate * cfg.chunk_ms / 1000))
        self.host_latency_ms = cfg.host_latency_ms
        self.ring = RingBuffer(self.rate * 4, 1 if self.pick else self.wanted or 2)

    def _capture(self, dev: Device) -> int:
        """How many channels to capture from ``dev``, or a DeviceError if it has too few. A
        picked channel N: the first N, two at least (a sound server asked for one channel of a
        stereo source gives their mix). Otherwise the configured count, or two where the
        device has them (a mono device's one fills both of the ring's)."""
        pick, most = self.pick, dev.max_input_channels
        n = max(pick, min(2, most)) if pick else self.wanted or max(1, min(2, most))
        if n > most:
            raise DeviceError(
                f"input device {dev.name!r} has {dev.max_input_channels} channels, "
                + (f"channel {pick} requested" if pick else f"{n} requested")
            )
        return n

    def _callback(
        self, token: object, indata: np.ndarray, frames: int, t: Any, status: Any
    ) -> None:
        # PortAudio thread: copy, timestamp, return. Nothing else.
        if token is not self._token:  # a stream given up on (closing) still delivering
            raise self._sd.CallbackAbort
        if self.moved():
            return  # another source's audio, under this one's name
        ring = self.ring
        assert ring is not None
        if self.pick:
            indata = indata[:, self.pick - 1 : self.pick]
        elif indata.shape[1] < ring.channels:  # a mono device where two are averaged
            indata = np.broadcast_to(indata, (frames, ring.channels))
        if status:
            self.status_flags += 1
        now = time.perf_counter()
        adc = t.inputBufferAdcTime
        adc_perf = now - (t.currentTime - adc) if adc > 0 else now - frames / self.rate
        start = ring.written
        if ring.write(indata):
            with contextlib.suppress(queue.Full):
                self.notify.put_nowait((start, adc_perf))

    def open(self) -> None:
        self._start(0, self._callback)  # blocksize 0: whatever the host delivers, lowest latency

    def reopen(self, spec: str | None) -> None:
        """Close the stream and open ``spec`` (None: the system default) at the same rate
        (the worker's resampler and ring stay as they are) and the same channel count, or as
        many as it needs for the picked channel."""
        self.close()
        dev = resolve(spec, "input")
        self.channels = self._capture(dev)
        self.device = dev
        self.spec = spec
        self.open()


class _FileInput(_Input):
    """A sound file as the microphone, at real-time pace or as fast as it is consumed."""

    def __init__(self, cfg: EngineConfig) -> None:
        super().__init__()
        assert cfg.source is not None
        self.info = probe(cfg.source)
        self.rate = self.info.sample_rate
        self.channels = self.info.channels  # mixed down by the worker, as a device's are
        self.pick = cfg.input_channel  # or one, kept as it is read (the ring is mono)
        if self.pick and self.pick > self.channels:
            raise AudioFileError(channel_missing(cfg.source, self.channels, self.pick))
        self.realtime = cfg.realtime
        self.block = max(1, round(self.rate * cfg.chunk_ms / 1000))
        self.ring = RingBuffer(self.rate * 4, 1 if self.pick else self.channels)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def open(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rtaudio-file", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        ring = self.ring
        assert ring is not None
        t0 = time.perf_counter()
        written = 0
        pos = 0  # frames read from the file
        try:
            with open_reader(self.info) as f:
                while not self._stop.is_set():
                    data = f.read(self.block, dtype="float32", always_2d=True)
                    if data.shape[0] == 0:
                        break
                    x = data[:, self.pick - 1 : self.pick] if self.pick else data
                    check_samples(x, str(self.info.path), pos, self.rate)
                    pos += x.shape[0]
                    due = t0 + written / self.rate
                    if self.realtime:
                        delay = due + x.shape[0] / self.rate - time.perf_counter()
                        if delay > 0:
                            self._stop.wait(delay)
                    else:
                        while ring.capacity - ring.available() < x.shape[0]:
                            if self._stop.wait(0.001):
                                return
                        due = time.perf_counter()
                    start = ring.written
                    if ring.write(x):
                        with contextlib.suppress(queue.Full):
                            self.notify.put(
                                (start, due), timeout=None if not self.realtime else 0.0
                            )
                    written += x.shape[0]
        except AudioFileError as e:
            self.error = str(e)
        except READ_ERRORS as e:
            self.error = str(read_failure(self.info, e))
        finally:
            self.finished.set()
            # wake the worker now (it waits up to 50 ms for a block otherwise, and the
            # playback would run dry and count an underflow before it knew the file ended):
            # the end of the file, as a block of no samples, due when the last one ended
            end = t0 + written / self.rate if self.realtime else time.perf_counter()
            with contextlib.suppress(queue.Full):
                self.notify.put_nowait((ring.written, end))

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)


# ---------------------------------------------------------------------------------- outputs


def cut_crossfaded(x: np.ndarray, k: int, fade: int) -> np.ndarray:
    """``x`` (1-D) with ``k`` samples removed near its start: the first ``fade`` samples blend
    from ``x[:fade]`` into ``x[k:k + fade]``, so the result starts exactly where ``x`` does and
    has no jump where the cut is."""
    if k <= 0:
        return x
    fade = max(0, min(fade, x.size - k))
    w = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    head = x[:fade] * (1.0 - w) + x[k : k + fade] * w
    return np.concatenate((head.astype(x.dtype), x[k + fade :]))


class _Playback(_DeviceStream):
    """Mono playback through a PortAudio output stream fed from a ring.

    Latency trimming: the host swallows a burst at start and capture can arrive in bursts, so
    the ring may settle well above its jitter buffer and hold that latency for good. The worker
    keeps the lowest ring level of the last ``TRIM_WINDOW_S``; when even that minimum exceeds
    the jitter buffer by more than ``TRIM_MIN_MS``, it removes the excess from the audio it
    queues (at most half a chunk per chunk, with a 2 ms crossfade) and counts it.
    """

    kind = "output"
    TRIM_WINDOW_S = 1.0
    TRIM_MIN_MS = 2.0
    TRIM_FADE_MS = 2.0

    def __init__(self, cfg: EngineConfig) -> None:
        self._sd = devices.portaudio()
        self.device = resolve(cfg.output_device, "output")
        self.rate = int(cfg.output_rate or self.device.default_samplerate)
        self.channels = self.device.mono_out_channels
        self.blocksize = max(1, round(self.rate * cfg.chunk_ms / 1000))
        self.host_latency_ms = cfg.host_latency_ms
        self.ring = RingBuffer(self.rate * 2, 1)
        # the host picks the block size (blocksize 0: lowest latency); up to 1 s without allocating
        self._mono = np.zeros((max(self.rate, self.blocksize * 4), 1), np.float32)
        self.underflows = 0  # the ring ran dry while playing, or the host said it underran
        # jitter buffer: (re)start reading only once this much audio is queued
        self.prefill = max(1, round(self.rate * cfg.playback_buffer_ms / 1000))
        self.primed = False
        self.first_fill = self.prefill  # raised to cover the host buffer once it is known
        self.draining = False  # the source has ended: running dry is not an underflow
        self.latency_s = 0.0  # the host's output latency, known once the stream is open
        self.trim = cfg.trim_playback
        self.trimmed = 0  # output samples removed by latency trimming
        self._levels: deque[int] = deque(
            maxlen=max(2, round(self.TRIM_WINDOW_S * 1000 / cfg.chunk_ms))
        )
        self.dac_ref: tuple[int, float] | None = None  # (ring read position, DAC perf time)
        self.cancel: threading.Event | None = None
        self.resampler = (
            None if self.rate == SAMPLE_RATE else StreamResampler(SAMPLE_RATE, self.rate)
        )

    def _callback(
        self, token: object, outdata: np.ndarray, frames: int, t: Any, status: Any
    ) -> None:
        # PortAudio thread: copy out, zero-fill, count, timestamp. Nothing else.
        if token is not self._token:
            outdata.fill(0)
            raise self._sd.CallbackAbort
        if self.moved():
            outdata.fill(0)  # not out of another sink (the speakers for a headset)
            return
        now = time.perf_counter()
        pos = self.ring.read_pos
        mono = (
            self._mono[:frames]
            if frames <= self._mono.shape[0]
            else np.zeros((frames, 1), np.float32)
        )
        if not self.primed and self.ring.available() >= self.first_fill:
            self.primed = True
            self.first_fill = self.prefill
        if self.primed:
            # an underflow: the host's own buffer ran dry since the last call (this callback
            # came too late: the GIL held, the machine busy), or the ring runs dry now; one per
            # call at most. Silence before the first audio is not counted
            late = bool(status.output_underflow)
            got = self.ring.read_into(mono)
            dry = got < frames
            if dry:
                self.primed = False
            if late or (dry and not self.draining):
                self.underflows += 1
        else:
            mono[:] = 0
        outdata[:] = mono
        dac = t.outputBufferDacTime
        self.dac_ref = (pos, now + (dac - t.currentTime) if dac > 0 else now)

    def open(self) -> None:
        # lowest latency: the host's preferred block size (8.6 ms instead of 20 ms through
        # ALSA's pulse plugin); with a host latency asked for, steadier one-chunk blocks
        self._start(0 if self.host_latency_ms == 0 else self.blocksize, self._callback)
        self.latency_s = float(self._stream.latency)
        # the host fills its own buffer in a burst at start: queue that much before starting
        self.first_fill = self.prefill + round(2 * self.latency_s * self.rate)

    def reopen(self, spec: str | None = SAME) -> None:
        """Open the output again with an empty buffer: the same device (by name), or ``spec``
        (None: the system default) at the same rate."""
        self.close()
        dev = resolve(self.device.name if spec is SAME else spec, "output")
        self.device = dev
        self.channels = dev.mono_out_channels
        self.ring.skip(self.ring.available())
        self.primed = False
        self.dac_ref = None
        self.open()

    def write(self, voice16k: np.ndarray) -> float:
        """Queue 16 kHz audio; returns the predicted DAC time of its first sample."""
        x = voice16k if self.resampler is None else self.resampler.process(voice16k)
        if self.trim and x.size:
            x = self._trimmed(x)
        w = self.ring.written
        ref = self.dac_ref
        if ref is not None:
            dac = ref[1] + (w - ref[0]) / self.rate
        else:
            dac = time.perf_counter() + self.ring.available() / self.rate + self.latency_s
        if x.size:
            self.ring.write(x[:, None])
        return dac

    def _trimmed(self, x: np.ndarray) -> np.ndarray:
        if not self.primed:
            self._levels.clear()
            return x
        levels = self._levels
        levels.append(self.ring.available())
        if len(levels) < (levels.maxlen or 0):
            return x
        excess = min(levels) - self.prefill
        if excess <= self.TRIM_MIN_MS * self.rate / 1000:
            return x
        k = min(excess, x.size // 2)
        self.trimmed += k
        for i in range(len(levels)):  # every later level is k lower than it would have been
            levels[i] -= k
        return cut_crossfaded(x, k, round(self.TRIM_FADE_MS * self.rate / 1000))


class WavRecorder:
    """16 kHz mono 16-bit WAV whose header is correct after every chunk
    (:class:`~rtaudio.audiofile.CrashSafeWav`): a crash or ``kill -9`` loses at most the chunk
    being written; data is fsynced every second. Past RIFF's 4 GB (37 hours at 16 kHz) the
    recording continues in ``NAME.2.wav``, ``NAME.3.wav``... (all listed in :attr:`paths`)."""

    def __init__(self, path: Path, max_bytes: int = WAV_MAX_BYTES) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.paths = [path]
        self._max_bytes = max_bytes
        self._f = CrashSafeWav(path, SAMPLE_RATE, max_bytes=max_bytes)

    def write(self, x: np.ndarray) -> None:
        done = self._f.write(x)
        while done < x.size:  # this file is full: continue in the next one
            self._f.close()
            k = len(self.paths) + 1
            nxt = self.path.with_name(f"{self.path.stem}.{k}{self.path.suffix}")
            while nxt.exists():
                k += 1
                nxt = self.path.with_name(f"{self.path.stem}.{k}{self.path.suffix}")
            self.paths.append(nxt)
            self._f = CrashSafeWav(nxt, SAMPLE_RATE, max_bytes=self._max_bytes)
            done += self._f.write(x[done:])

    def close(self) -> None:
        self._f.close()


# ----------------------------------------------------------------------------------- engine


class Engine:
    """Runs the live pipeline on its own threads; see the module docstring."""

    def __init__(self, cfg: EngineConfig, threads: int = 1) -> None:
        self.cfg = cfg
        self.threads = threads
        self.results: Bus[ChunkResult] = Bus()
        self.status = EngineStatus()
        self.stats = LatencyStats()
        self.dropped = 0
        self.clipped = 0  # input samples at full scale (any channel used), as the device gave them
        self.nonfinite = 0  # NaN / infinite input samples, replaced with silence
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._input: _Input | None = None
        self._playback: _Playback | None = None
        self._recorders: dict[str, WavRecorder] = {}
        # label tracks beside the recording: paths until the first recorded chunk, then writers
        self._track_paths: dict[str, Path] = {}
        self._tracks: dict[str, LabelTrackWriter] = {}
        self.label_tracks: dict[str, Path] = {}  # classifier -> track of the recording
        self.processor: Processor | None = None
        self.error: BaseException | None = None
        self.recordings: dict[str, Path] = {}
        # live controls: written by any thread, read by the worker once per chunk
        self.monitor = "separated"  # what is played: input | separated | removed (separating)
        self.muted = False  # play silence (the stream keeps running, timing is kept)
        # a round-trip measurement (:meth:`measure_round_trip`): in progress, and the last result
        self._round_trip: RoundTrip | None = None
        self.round_trip: dict[str, Any] | None = None
        self.round_trips = 0  # measurements finished (a front end sees a new one come in)
        self.enrollment: tuple[float, float] | None = None  # (seconds collected, needed)
        self.enrollment_cut: tuple[float, float] | None = None  # as it was when the run ended
        self.enrollment_saved: Path | None = None  # the last enrollment kept (enroll_save)
        self._rec_lock = threading.Lock()
        self._requests: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        # device faults (worker only): when the streams were lost, next retry, retries so far
        self._lost_since: float | None = None
        self._arrivals: pulse.Changes | None = None  # while a sound server's device is lost
        self._retry_at = 0.0
        self._retries = 0
        self.reconnects = 0  # times the streams came back after a loss

    # ------------------------------------------------------------------ control
    def subscribe(self, maxsize: int = 512) -> Channel[ChunkResult]:
        return self.results.subscribe(maxsize)

    def start(self) -> None:
        """Open devices and files, load models, start the threads. Raises on bad setup."""
        if self.processor is None:
            self.prepare()
        assert self._input is not None and self.processor is not None
        try:
            if self._playback is not None:
                self._playback.open()
                self.status.output_name = self._playback.shown
            self._input.open()
            if isinstance(self._input, _MicInput):
                self.status.input_name = self._input.shown
        except BaseException:
            self._close_io()
            raise
        self.status.state = "enrolling" if not self.processor.enrolled else "running"
        self._worker = threading.Thread(target=self._run, name="rtaudio-worker", daemon=True)
        self._worker.start()

    def prepare(self) -> None:
        """Everything before the threads: read enrollment, resolve devices, load models."""
        cfg = self.cfg
        enrollment = read_audio(cfg.enroll) if cfg.enroll else None
        self._input = _FileInput(cfg) if cfg.source else _MicInput(cfg)
        self._input.cancel = self._stop  # the worker stops waiting for a device when stopped
        if isinstance(self._input, _FileInput) and cfg.separate == "tsenet":
            lasts = self._input.info.duration
            if cfg.enroll_seconds > lasts + 1e-6:
                raise ConfigError(
                    f"{cfg.source} lasts {lasts:.2f} s, less than the {cfg.enroll_seconds:g} s "
                    "enrollment taken from its start: nothing would be separated"
                )
        in_rate = self._input.rate
        if cfg.play:
            self._playback = _Playback(cfg)
            self._playback.cancel = self._stop
        # algorithmic latency (Processor.algorithmic_ms): chunk + the separator's encoder
        # window, what is played waits for (the separators look ahead 0; a label's delay is its
        # lookahead, carried with it); the resamplers' 2.9 ms each way (at 44.1 / 48 kHz
        # devices) shows in the end-to-end time
        # ESResNet in a thread of its own keeps the chunk path short in real time; a file read
        # as fast as it is consumed has no such need, and inline its labels come out with
        # the same chunks every run (as in `rtaudio process`)
        realtime = cfg.realtime or not cfg.source
        # load the models on the engine's threads too: an op on more OpenMP threads (ESResNet's
        # weights are large enough to be copied in parallel) leaves the pool spinning after it,
        # and an output stream started then missed its first host deadline (ALSA: "underrun")
        torch.set_num_threads(self.threads)
        self.processor = Processor(cfg, enrollment, background=realtime)
        self.status.trained = dict(self.processor.trained)
        self.status.input_rate = in_rate
        inp = self._input
        self.status.input_name = inp.device.name if isinstance(inp, _MicInput) else str(cfg.source)
        if cfg.record_dir:
            self.start_recording(cfg.record_dir, cfg.record)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the threads, close the streams and flush the recordings. Idempotent.
        The worker owns the streams while it runs and closes them as it ends; one that
        outlives ``timeout`` (a sound server that does not answer) is left to end on its own."""
        self._stop.set()
        worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout)
        if worker is None or not worker.is_alive():
            self._close_io()
        elif worker is not threading.current_thread():
            log.warning("the audio thread did not end within %g s; left to end on its own", timeout)
        self.stop_recording()
        if self.status.state not in ("finished", "error"):
            self.status.state = "stopped"
        self.results.close()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the worker to end (file source finished, error or stop)."""
        if self._worker is None:
            return True
        self._worker.join(timeout)
        return not self._worker.is_alive()

    # ------------------------------------------------------------ live controls
    def set_monitor(self, what: str) -> None:
        """Play the ``input``, the ``separated`` voice or what the separator ``removed`` (the
        input, as late as the voice, minus the voice); the input while nothing is separated."""
        if what not in MONITOR_SOURCES:
            raise ConfigError(f"monitor={what!r}; choose one of {', '.join(MONITOR_SOURCES)}")
        self.monitor = what

    def measure_round_trip(self, chirps: int = 8, spacing_s: float = SPACING_S) -> None:
        """Measure the real round trip (output connected back to the input): for the next
        ``chirps`` x ``spacing_s`` the pass-through is muted and chirps are played instead, and
        found again in the input (:mod:`rtaudio.bench_loopback`; round trips up to
        ``spacing_s``); the separator's window is added, as the separated voice waits for it.
        The result goes to :attr:`round_trip` (and a line to the status message)."""
        if not self.cfg.play:
            raise ConfigError("measuring the round trip needs playback (play)")
        if self.cfg.source:
            raise ConfigError(
                "measuring the round trip needs a live input (a file source never hears the output)"
            )
        sep = self.processor.separator if self.processor is not None else None
        self.round_trip = None
        self._round_trip = RoundTrip(
            chirps,
            spacing_s,
            extra_ms=sep.latency / SAMPLE_RATE * 1000 if sep is not None else 0.0,
        )

    @property
    def measuring(self) -> bool:
        return self._round_trip is not None

    @property
    def recording(self) -> bool:
        return bool(self._recorders)

    def start_recording(self, directory: str | Path, what: str = "both") -> dict[str, Path]:
        """Write new WAVs (16 kHz) of the input and/or the separated voice into ``directory``,
        from the next chunk on; a recording in progress is closed first. Returns the paths."""
        if what not in ("input", "output", "both"):
            raise ConfigError(f"record={what!r}; choose one of input, output, both")
        out = Path(directory)
        repaired = self.repair_recordings(out)
        if repaired:
            self.status.message = (
                f"repaired {len(repaired)} recording(s) left by a crash: "
                + ", ".join(p.name for p in repaired)
            )
        stamp = time.strftime("%Y%m%d-%H%M%S")
        names = {"input": "input", "output": "voice"}
        kinds = [
            kind
            for kind in names
            if what in (kind, "both") and not (kind == "output" and self.cfg.separate == "off")
        ]
        ends = [f"-{names[kind]}.wav" for kind in kinds] + [
            f"-{m}.txt" for m in self.cfg.classifiers
        ]
        prefix, k = f"rtaudio-{stamp}", 1
        while any((out / f"{prefix}{end}").exists() for end in ends):
            k += 1  # two recordings in the same second
            prefix = f"rtaudio-{stamp}-{k}"
        paths = {kind: out / f"{prefix}-{names[kind]}.wav" for kind in kinds}
        tracks = {m: out / f"{prefix}-{m}.txt" for m in self.cfg.classifiers}
        recorders = {kind: WavRecorder(path) for kind, path in paths.items()}
        with self._rec_lock:
            old, self._recorders = self._recorders, recorders
            old_tracks, self._tracks = self._tracks, {}
            self._track_paths = tracks if recorders else {}
            self.recordings = dict(paths)
            self.label_tracks = dict(self._track_paths)
        for rec in old.values():
            rec.close()
        for track in old_tracks.values():
            with contextlib.suppress(OSError):  # its last span may not fit on a full disk
                track.close()
        return dict(paths)

    @staticmethod
    def repair_recordings(directory: str | Path) -> list[Path]:
        """Fix the headers of ``rtaudio-*.wav`` files in ``directory`` that a crash left
        with stale sizes (from versions that did not rewrite them per chunk, or a kill between
        a chunk and its header update). Returns the repaired files."""
        fixed: list[Path] = []
        d = Path(directory)
        if not d.is_dir():
            return fixed
        for p in sorted(d.glob("rtaudio-*.wav")):
            with contextlib.suppress(AudioFileError):
                if repair_wav(p) is not None:
                    fixed.append(p)
        return fixed

    def switch_input(self, device: str | None) -> None:
        """Capture from another input device (index or name; None: the system default) from
        now on, e.g. after the current one was lost. The worker reopens the stream at the
        same rate; if the new device refuses, ``status.message`` says why and the engine keeps
        (or keeps trying to recover) the current one."""
        if self.cfg.source:
            raise ConfigError("switch_input needs a microphone input, not a file source")
        self._requests.put(("input", device))

    def switch_output(self, device: str | None) -> None:
        """Play through another output device (index or name; None: the system default) from
        now on, at the same rate and channel count. If the new device refuses, ``status.message``
        says why and playback goes on through the current one."""
        if not self.cfg.play:
            raise ConfigError("switch_output needs playback (play = true)")
        self._requests.put(("output", device))

    def stop_recording(self) -> dict[str, Path]:
        """Close the WAVs being written (idempotent); returns their paths."""
        with self._rec_lock:
            old, self._recorders = self._recorders, {}
            tracks, self._tracks, self._track_paths = self._tracks, {}, {}
        for rec in old.values():
            rec.close()
        for track in tracks.values():
            with contextlib.suppress(OSError):  # its last span may not fit on a full disk
                track.close()
        return {kind: rec.path for kind, rec in old.items()}

    def request_enrollment(self, audio: np.ndarray | None = None, seconds: float = 0.0) -> None:
        """New TseNet target speaker while running: from 16 kHz ``audio``, or from the next
        ``seconds`` of input (progress in :attr:`enrollment`; the old target keeps working
        meanwhile). The worker applies it; if it fails, ``status.message`` says why and the
        previous target stays."""
        if self.cfg.separate != "tsenet":
            raise ConfigError("enrollment needs separate=tsenet")
        if audio is not None:
            check_enrollment(audio)
            self._requests.put(("audio", np.ascontiguousarray(audio, np.float32)))
        elif 0 < seconds <= 60:
            self._requests.put(("live", float(seconds)))
        else:
            raise ConfigError("enrollment needs audio or 0 < seconds <= 60")

    def __enter__(self) -> Engine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def enrollment_note(self) -> str | None:
        """After a run stopped while taking the target speaker from the input: what happened
        (how much was collected, and that the previous target stays or nothing was separated)."""
        if self.enrollment_cut is None:
            return None
        got, need = self.enrollment_cut
        first = self.processor is None or not self.processor.enrolled
        return f"the enrollment was not complete ({got:.1f} of {need:g} s of input): " + (
            "nothing was separated" if first else "the previous target was kept"
        )

    def summary(self) -> LatencySummary:
        inp, pb = self._input, self._playback
        overflows = (inp.ring.overflows if inp and inp.ring else 0) + (
            inp.status_flags if inp else 0
        )
        return self.stats.summary(
            overflows=overflows,
            underflows=pb.underflows if pb else 0,
            dropped=self.dropped,
            trimmed_ms=pb.trimmed / pb.rate * 1000 if pb else 0.0,
        )

    def _close_io(self) -> None:
        if self._input is not None:
            self._input.close()
        if self._playback is not None:
            self._playback.close()

    # ------------------------------------------------------------------- worker
    def _run(self) -> None:
        torch.set_num_threads(self.threads)
        try:
            self._loop()
        except Exception as e:  # reported to the user through status; never a silent death
            if isinstance(e, AudioFileError | DeviceError | ConfigError):
                log.warning("engine stopped: %s", e)  # a message for the user, not a bug
            else:
                log.exception("engine worker failed")
            self.error = e
            self.status.state = "error"
            self.status.message = f"{type(e).__name__}: {e}"
        finally:
            self._forget_arrivals()
            self._close_io()
            self.stop_recording()
            self.enrollment_cut, self.enrollment = self.enrollment, None
            if self.processor is not None:
                self.processor.close()
            self.results.close()

    def _loop(self) -> None:
        cfg, inp, proc = self.cfg, self._input, self.processor
        assert inp is not None and inp.ring is not None and proc is not None
        n = cfg.chunk_samples
        rate = inp.rate
        rs = None if rate == SAMPLE_RATE else StreamResampler(rate, SAMPLE_RATE)
        pending = np.zeros(0, np.float32)
        pending_start = 0  # 16 kHz index of pending[0]
        ref: tuple[int, float] | None = None  # (native index, ADC time)
        native_read = 0
        enroll_buf: list[np.ndarray] = []
        enroll_need = 0.0 if proc.enrolled else cfg.enroll_seconds  # seconds still to collect
        if enroll_need:
            self.enrollment = (0.0, enroll_need)
        max_backlog = max(2, round(cfg.max_backlog_ms / cfg.chunk_ms))
        idle_since = time.perf_counter()
        while not self._stop.is_set():
            while not self._requests.empty():
                kind, value = self._requests.get_nowait()
                if kind in ("input", "output"):
                    self._switch(kind, value)
                    continue
                enroll_buf.clear()
                if kind == "audio":
                    enroll_need = 0.0
                    self.enrollment = None
                    self._enroll(value, "the enrollment clip")
                else:
                    enroll_need = value
                    self.enrollment = (0.0, value)
                    self.status.state = "enrolling"
            try:
                item = inp.notify.get(timeout=0.05)
            except queue.Empty:
                item = None
            while item is not None:
                ref = item  # newest block's (start index, ADC time)
                try:
                    item = inp.notify.get_nowait()
                except queue.Empty:
                    item = None
            # a file source that has finished before its ring is read has put all it had in
            # the ring: this read is the last (waiting for another block would let the
            # playback run dry before it knew the file had ended)
            eof = inp.finished.is_set() and not inp.error
            avail = inp.ring.available()
            if avail == 0 and inp.error:  # the file broke: an error, not a normal end
                raise AudioFileError(inp.error)
            stalled = avail == 0 and time.perf_counter() - idle_since > STALL_S
            if self._check_devices(stalled, "enrolling" if enroll_need > 0 else "running"):
                idle_since = time.perf_counter()
            if avail == 0 and not eof:
                continue
            idle_since = time.perf_counter()
            # the channels the device gave (a mono device's one, not the ring's copy of it)
            block = self._sanitised(inp.ring.read(avail)[:, : inp.channels])
            self.clipped += int(np.count_nonzero(np.abs(block) >= CLIP_LEVEL))
            x = mixdown(block)
            native_read += block.shape[0]
            if rs is not None:
                x = rs.process(x, last=eof)
            pending = np.concatenate((pending, x)) if pending.size else x
            audio_end = pending_start + pending.size  # 16 kHz samples received so far
            if eof and pending.size % n:  # pad the last partial chunk with silence
                pending = np.concatenate((pending, np.zeros(n - pending.size % n, np.float32)))
            chunks = pending.size // n
            if inp.realtime and chunks > max_backlog:  # drop policy: oldest chunks go
                drop = chunks - max_backlog
                self.dropped += drop
                pending = pending[drop * n :]
                pending_start += drop * n
                chunks -= drop
                proc.skip(drop * n)
            for i in range(chunks):
                chunk = pending[i * n : (i + 1) * n]
                s16 = pending_start + i * n
                native = s16 * rate / SAMPLE_RATE
                adc = ref[1] + (native - ref[0]) / rate if ref else time.perf_counter()
                if enroll_need > 0:
                    enroll_buf.append(chunk)
                    got = len(enroll_buf) * n / SAMPLE_RATE
                    self.enrollment = (got, enroll_need)
                    if got >= enroll_need - 1e-9:
                        audio = np.concatenate(enroll_buf)
                        enroll_buf.clear()
                        enroll_need = 0.0
                        self.enrollment = None
                        if proc.enrolled:
                            self._enroll(audio, f"{got:.1f} s of input", from_input=True)
                        else:  # the first target: without it there is nothing to separate
                            proc.enroll(audio)
                            self.status.message = (
                                f"target speaker enrolled from {got:.1f} s of input"
                                + self._save_enrollment(audio)
                            )
                        self.status.state = "running"
                self._process(chunk, adc, chunks - i - 1)
            pending = pending[chunks * n :]
            pending_start += chunks * n
            if eof:
                if self._playback is not None:  # from here on, running dry is the end
                    self._playback.draining = True
                    # played out first: the tail's labels are a burst of computing that
                    # would starve the output's callbacks while the end of the file plays
                    self._drain_playback()
                self._label_tail(audio_end)
                self.status.state = "finished"
                return

    def _enroll(self, audio: np.ndarray, what: str, from_input: bool = False) -> None:
        """Replace the target speaker; a failure is reported and the old target kept."""
        assert self.processor is not None
        try:
            self.processor.enroll(audio)
        except ConfigError as e:
            self.status.message = f"enrollment failed ({e}); the previous target is kept"
        else:
            kept = self._save_enrollment(audio) if from_input else ""
            self.status.message = f"target speaker enrolled from {what}{kept}"
        self.status.state = "running"

    def _save_enrollment(self, audio: np.ndarray) -> str:
        """Keep an enrollment taken from the input as ``cfg.enroll_save`` (a new file);
        returns what to add to the status message."""
        if not self.cfg.enroll_save:
            return ""
        try:
            path = save_wav_new(self.cfg.enroll_save, audio)
        except OSError as e:
            return f"; not saved ({os_message(e)})"
        self.enrollment_saved = path
        return f"; saved as {path}"

    def _label_tail(self, audio_end: int) -> None:
        """A file source ended at 16 kHz sample ``audio_end``: feed silence for the
        classifiers' lookahead so the last spans get labels (as ``rtaudio process`` does).
        Only labels of spans starting before the end are published; nothing is played or
        recorded. Each step waits for the labels computing in the background, so which step
        carries which label does not depend on timing."""
        proc = self.processor
        assert proc is not None
        n = self.cfg.chunk_samples
        tail = max((t.lookahead + t.hop for t in proc.taggers), default=0)
        end_s = max(audio_end, 1) / SAMPLE_RATE  # a file of one sample still gets its label
        zeros = np.zeros(n, np.float32)
        steps = -(-tail // n)
        for _ in range(steps):
            if self._stop.is_set():
                return
            result, _ = proc.process(zeros, time.perf_counter())
            found = list(result.labels) + proc.flush()  # with those computing in the background
            labels = tuple(
                dataclasses.replace(lab, end=min(lab.end, end_s))
                for lab in found
                if lab.start < end_s - 1e-9
            )
            if labels:
                with self._rec_lock:  # the recording's tracks end where the file did
                    try:
                        self._track(labels)
                    except OSError as e:
                        self._recording_failed(e)
                self.results.publish(
                    dataclasses.replace(
                        result,
                        labels=labels,
                        spectrogram=result.spectrogram[:0],
                        audio=None,
                        voice=None,
                        counters=self._counters(),
                    )
                )

    def _track(self, labels: Iterable[Label]) -> None:
        """Labels into the recording's label tracks (with ``_rec_lock`` held)."""
        for lab in labels:
            track = self._tracks.get(lab.model)
            if track is not None:
                track.add(lab.start, lab.end, lab.label)

    def _recording_failed(self, e: OSError) -> None:
        """Disk full, folder removed...: stop recording, keep running (``_rec_lock`` held)."""
        failed: list[WavRecorder | LabelTrackWriter] = [
            *self._recorders.values(),
            *self._tracks.values(),
        ]
        self._recorders, self._tracks, self._track_paths = {}, {}, {}
        for r in failed:
            with contextlib.suppress(OSError):
                r.close()
        self.status.message = f"recording stopped ({e.strerror or e}); what was written is kept"

    def _counters(self) -> dict[str, int]:
        s = self.summary()
        return {
            "overflows": s.overflows,
            "underflows": s.underflows,
            "dropped": s.dropped,
            "clipped": self.clipped,
            "nonfinite": self.nonfinite,
        }

    def _sanitised(self, block: np.ndarray) -> np.ndarray:
        """``block`` with NaN / infinite samples (a faulty driver or virtual device) replaced
        by silence and counted: passed on, one bad 10 ms block made the separated voice NaN for
        0.26 s (played, recorded) and the labels NaN for 1.8 s. (A file with such samples is
        refused as it is read.)"""
        bad = ~np.isfinite(block)
        n = int(np.count_nonzero(bad))
        if n == 0:
            return block
        if self.nonfinite == 0:
            log.warning("the input gave NaN / infinite samples: replaced with silence")
        self.nonfinite += n
        return np.where(bad, np.float32(0.0), block)

    # ------------------------------------------------------------ device faults
    def _check_devices(self, stalled: bool, running_state: str) -> bool:
        """Detect lost streams and reopen them with backoff (worker thread). Returns True
        when the streams came back during this call."""
        inp, pb = self._input, self._playback
        streams = [st for st in (inp, pb) if isinstance(st, _DeviceStream)]
        for st in streams:
            if st.renamed():  # the desktop's default changed
                setattr(self.status, f"{st.kind}_name", st.shown)
                log.info("%s: now %s (the system default changed)", st.kind, st.shown)
        lost = []
        if isinstance(inp, _MicInput) and (stalled or not inp.alive()):
            lost.append("input")
        if pb is not None and not pb.alive():
            lost.append("output")
        if not lost:
            if self._lost_since is None:
                return False
            self._resumed("input", running_state)  # the user switched to a working device
            return True
        now = time.perf_counter()
        if self._lost_since is None:
            self._lost_since = now
            self._retries = 0
            self._retry_at = now + RETRY_MIN_S
            self.status.state = "reconnecting"
            if any(st.device.pulse for st in streams):
                self._arrivals = pulse.Changes()  # plugged back: try at once
            why = f" (no audio for {STALL_S:.0f} s)" if stalled and inp and inp.alive() else ""
            self.status.message = (
                f"{' and '.join(lost)} device lost{why}; "
                "what was captured and recorded is kept; reconnecting"
            )
            log.warning("%s", self.status.message)
            return False
        back = self._arrivals is not None and self._arrivals.take()
        if (now < self._retry_at and not back) or self._stop.is_set():
            return False
        try:
            self._reopen(lost)
        except DeviceError as e:
            self._retries += 1
            delay = min(RETRY_MAX_S, RETRY_MIN_S * 2**self._retries)
            self._retry_at = time.perf_counter() + delay
            self.status.message = (
                f"{' and '.join(lost)} device lost {now - self._lost_since:.0f} s ago; "
                f"retry {self._retries} failed ({e}); next in {delay:.1f} s"
            )
            return False
        self._resumed(" and ".join(lost), running_state)
        return True

    def _forget_arrivals(self) -> None:
        if self._arrivals is not None:
            self._arrivals.close()
            self._arrivals = None

    def _resumed(self, what: str, running_state: str) -> None:
        assert self._lost_since is not None
        gap = time.perf_counter() - self._lost_since
        self._lost_since = None
        self._forget_arrivals()
        self.reconnects += 1
        if self.processor is not None and self.processor.separator is not None:
            # the audio has a gap: restart its history (the same device: keep its level)
            self.processor.separator.reset(keep_level=True)
        self.status.state = running_state
        self.status.message = f"{what} device back after {gap:.1f} s; resumed"
        log.warning("%s", self.status.message)

    def _reopen(self, lost: list[str]) -> None:
        """Reopen the lost streams. If that fails, restart PortAudio (it only enumerates
        devices when it starts, so a replugged device or a restarted sound server is invisible
        until then) and try once more; that closes every stream, so it is done only when the
        input is among the lost ones (a working input is never interrupted for the output).
        """
        inp, pb = self._input, self._playback
        mic = isinstance(inp, _MicInput)
        try:
            self._open_lost(lost)
        except DeviceError:
            if mic and "input" not in lost:
                raise
            if isinstance(inp, _MicInput):
                inp.close()
            if pb is not None:
                pb.close()
            devices.refresh(self._stop)
            self._open_lost(["input", "output"])

    def _open_lost(self, lost: list[str]) -> None:
        inp, pb = self._input, self._playback
        if pb is not None and "output" in lost:
            pb.reopen()
            self.status.output_name = pb.shown
        if isinstance(inp, _MicInput) and "input" in lost:
            inp.reopen(inp.spec)
            self.status.input_name = inp.shown

    def _switch(self, kind: str, spec: str | None) -> None:
        """Reopen the input or output on another device; on failure, back to the old one."""
        stream = self._input if kind == "input" else self._playback
        assert isinstance(stream, _MicInput | _Playback)
        old = stream.spec if isinstance(stream, _MicInput) else stream.device.name
        try:
            stream.reopen(spec)
        except DeviceError as e:
            self.status.message = f"cannot switch {kind}: {e}"
            with contextlib.suppress(DeviceError):
                stream.reopen(old)  # back to the previous one (if it is still there)
            return
        name = stream.shown
        if kind == "input":
            self.status.input_name = name
            if self.processor is not None and self.processor.separator is not None:
                self.processor.separator.reset()
        else:
            self.status.output_name = name
        self.status.message = f"{kind} switched to {name!r}"

    def _drain_playback(self, timeout: float = 5.0) -> None:
        """Let queued output play out before the engine reports it has finished."""
        pb = self._playback
        assert pb is not None
        end = time.perf_counter() + timeout
        while pb.ring.available() and pb.primed and time.perf_counter() < end:
            if self._stop.wait(0.01):
                return
        self._stop.wait(pb.latency_s)

    def _process(self, chunk: np.ndarray, adc: float, backlog: int) -> None:
        proc = self.processor
        assert proc is not None
        dequeued = time.perf_counter()
        result, voice = proc.process(chunk, adc, dequeued, backlog)
        out, played = chunk, "input"
        if voice is not None and self.monitor == "separated":
            out, played = voice, "separated"
        elif voice is not None and self.monitor == "removed" and proc.separator is not None:
            out, played = proc.separator.removed, "removed"
        if self.muted:
            out, played = np.zeros_like(chunk), "muted"
        rt = self._round_trip
        if rt is not None:  # only the chirps are played: nothing feeds back
            start = round(result.start * SAMPLE_RATE)
            out, played = rt.output(start, chunk.size), "chirps"
        dac = None
        if self._playback is not None:
            dac = self._playback.write(out)
        else:
            played = "none"
        with self._rec_lock:
            try:
                if "input" in self._recorders:
                    self._recorders["input"].write(chunk)
                if voice is not None and "output" in self._recorders:
                    self._recorders["output"].write(voice)
                if self._track_paths:  # the first recorded chunk: its start is the tracks' 0
                    paths, self._track_paths = self._track_paths, {}
                    self._tracks = {m: LabelTrackWriter(p, result.start) for m, p in paths.items()}
                self._track(result.labels)
            except OSError as e:
                self._recording_failed(e)
        rec = result.latency
        delay = (proc.separator.latency / SAMPLE_RATE) if proc.separator else 0.0
        e2e = None if dac is None else (dac - rec.adc_time + delay) * 1000
        latency = LatencyRecord(
            **{
                **rec.__dict__,
                "processing_ms": (time.perf_counter() - dequeued) * 1000,
                "dac_time": dac,
                "end_to_end_ms": e2e,
            },
        )
        self.stats.add(latency)
        if rt is not None:
            rt.input(start, chunk, e2e)
            if rt.done:
                self.round_trip = rt.report()
                self.round_trips += 1
                self._round_trip = None
                self.status.message = summary_line(self.round_trip)
        counters = self._counters()
        self.results.publish(
            ChunkResult(
                **{**result.__dict__, "latency": latency, "counters": counters, "played": played}
            )
        )
