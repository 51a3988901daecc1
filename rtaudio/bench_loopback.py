"""The real round trip through the live engine, against its estimate (``rtaudio bench
loopback`` and the window's **Measure round trip**).

The engine's end-to-end latency is an estimate from PortAudio's timestamps (when a chunk's
first sample reached the ADC, when its output will reach the DAC). Hosts and drivers do not
always report all their buffers, so this measures instead: with the output connected back to
the input (a cable, or on PulseAudio / PipeWire the output's monitor chosen as the input), the
engine plays short chirps in place of its output and finds them again in its input. A chirp
played at stream sample ``p`` of the output stands where input sample ``p`` would have been
played, so the time until it comes back in is exactly what a sound takes from the microphone
through the engine to the speaker, plus the loop itself (zero for a cable). The pass-through is
muted meanwhile, so nothing feeds back.

:class:`RoundTrip` is fed by the engine's worker, chunk by chunk; this module imports neither
torch nor the engine (the window's process uses it too).
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Any

import numpy as np

from rtaudio.config import SAMPLE_RATE, EngineConfig

SPACING_S = 0.6  # between chirps: the longest round trip that can be measured (by default)
MAX_SPACING_S = 5.0
NO_RETURN = (
    "connect the output to the input (a cable; on PulseAudio / PipeWire choose the output's "
    "monitor as the input) and check that neither is muted"
)


def chirp(ms: float = 6.0, f0: float = 800.0, f1: float = 6000.0, peak: float = 0.5) -> np.ndarray:
    """A Hann-windowed linear chirp at 16 kHz: short, and sharp under cross-correlation."""
    n = round(ms * SAMPLE_RATE / 1000)
    t = np.arange(n) / SAMPLE_RATE
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * t[-1]))
    return (peak * np.hanning(n) * np.sin(phase)).astype(np.float32)


def find_return(audio: np.ndarray, template: np.ndarray) -> int | None:
    """The lag in samples at which ``template`` starts in ``audio``, or None when nothing
    stands out (the peak of the normalised cross-correlation must be 0.5 or more and 4 times
    the median)."""
    if audio.size < template.size:
        return None
    corr = np.correlate(audio, template, "valid")
    power = np.convolve(audio.astype(np.float64) ** 2, np.ones(template.size), "valid")
    energy = float(np.dot(template, template))
    norm = np.abs(corr) / np.sqrt(np.maximum(power * energy, 1e-20))
    lag = int(np.argmax(norm))
    ok = norm[lag] >= 0.5 and norm[lag] >= 4 * float(np.median(norm))
    return lag if ok else None


class LoopbackError(RuntimeError):
    """No chirp came back, or the stream broke: there is nothing to report."""


class RoundTrip:
    """One measurement: ``chirps`` chirps ``spacing_s`` apart in the output, each looked for in
    the input until the next one goes out (so a round trip longer than ``spacing_s`` cannot be
    measured: it would be taken for a shorter one, or nothing found). Positions are stream
    samples (16 kHz), shared by input and output: the engine plays chunk ``[a, a + n)``'s
    output while it processes that chunk's input.

    The worker calls :meth:`output` for each chunk's output (what to play instead of the
    pass-through) and then :meth:`input` with the chunk's input and the engine's end-to-end
    estimate for it; :attr:`done` says when every chirp has been looked for."""

    def __init__(
        self, chirps: int = 8, spacing_s: float = SPACING_S, extra_ms: float = 0.0
    ) -> None:
        if not 1 <= chirps <= 100:
            raise ValueError("chirps must be 1..100")
        if not 0.1 <= spacing_s <= MAX_SPACING_S:
            raise ValueError(f"the spacing of the chirps must be 0.1..{MAX_SPACING_S:g} s")
        self.template = chirp()
        self.chirps = chirps
        # added to each measured time: the separator's window, which the separated voice
        # waits for but the chirps (played in place of it) do not
        self.extra_ms = extra_ms
        self.spacing = round(spacing_s * SAMPLE_RATE)
        self.search = self.spacing - self.template.size  # the window ends as the next starts
        self.first: int | None = None  # stream sample of the first chirp (the first chunk seen)
        self.starts: list[int] = []  # stream sample of each chirp
        self._audio: np.ndarray | None = None  # input from the first chirp on
        self._estimates: dict[int, float | None] = {}  # chirp -> estimate of its chunk
        self.measured: list[float | None] = []  # ms per chirp, in order, as found
        self.estimates: list[float | None] = []

    @property
    def done(self) -> bool:
        return len(self.measured) == self.chirps

    def output(self, start: int, n: int) -> np.ndarray:
        """What to play for the output chunk of stream samples ``[start, start + n)``."""
        if self.first is None:
            self.first = start
            self.starts = [start + k * self.spacing for k in range(self.chirps)]
            length = (self.chirps - 1) * self.spacing + self.search + self.template.size
            self._audio = np.zeros(length, np.float32)
        out = np.zeros(n, np.float32)
        for p in self.starts:
            a, b = max(start, p), min(start + n, p + self.template.size)
            if a < b:
                out[a - start : b - start] = self.template[a - p : b - p]
        return out

    def input(self, start: int, chunk: np.ndarray, estimate_ms: float | None) -> None:
        """The input chunk at stream samples ``[start, start + len(chunk))`` and the engine's
        end-to-end estimate for it; looks for every chirp whose search window is complete."""
        if self.first is None or self._audio is None:
            return
        for k, p in enumerate(self.starts):  # the chunk that played the chirp's first sample
            if start <= p < start + chunk.size:
                self._estimates[k] = estimate_ms
        a, b = max(start, self.first), min(start + chunk.size, self.first + self._audio.size)
        if a < b:
            self._audio[a - self.first : b - self.first] = chunk[a - start : b - start]
        end = start + chunk.size
        while not self.done:
            k = len(self.measured)
            p = self.starts[k]
            stop = p + self.search + self.template.size
            if end < stop:
                break
            lag = find_return(self._audio[p - self.first : stop - self.first], self.template)
            self.measured.append(None if lag is None else lag / SAMPLE_RATE * 1000 + self.extra_ms)
            self.estimates.append(self._estimates.get(k))

    def report(self) -> dict[str, Any]:
        """Per chirp and summarised; ``measured_ms`` is None when no chirp came back."""
        got = [(m, e) for m, e in zip(self.measured, self.estimates, strict=True) if m is not None]
        measured = [m for m, _ in got]
        estimates = [e for _, e in got if e is not None]
        return {
            "window_s": self.spacing / SAMPLE_RATE,  # the longest round trip looked for
            "chirps": [
                {"measured_ms": m, "estimate_ms": e}
                for m, e in zip(self.measured, self.estimates, strict=True)
            ],
            "returned": len(got),
            "measured_ms": None
            if not measured
            else {
                "median": statistics.median(measured),
                "min": min(measured),
                "max": max(measured),
            },
            "estimate_ms": statistics.median(estimates) if estimates else None,
        }


def measure(
    cfg: EngineConfig, chirps: int = 8, settle_s: float = 1.5, spacing_s: float = SPACING_S
) -> dict[str, Any]:
    """Start an engine on ``cfg``'s devices (pass-through, nothing separated or labelled), let
    it settle (the start-up surplus of the playback buffer is trimmed), measure, stop; round
    trips up to ``spacing_s`` are found. Raises :class:`LoopbackError` if the stream broke or
    no chirp came back."""
    from rtaudio.engine import Engine  # torch: not for the window's process

    cfg = dataclasses.replace(
        cfg, play=True, separate="off", classifiers=(), record_dir=None, source=None
    )
    engine = Engine(cfg)
    engine.start()
    try:
        time.sleep(settle_s)
        engine.measure_round_trip(chirps, spacing_s)
        deadline = time.monotonic() + chirps * spacing_s + 10
        while engine.measuring and engine.status.state not in ("error", "stopped"):
            if time.monotonic() > deadline:
                raise LoopbackError("the stream stopped moving (no input for seconds)")
            time.sleep(0.05)
    finally:
        engine.stop()
    if engine.round_trip is None:
        raise LoopbackError(f"the stream broke: {engine.status.message}")
    report = engine.round_trip
    if report["measured_ms"] is None:
        raise LoopbackError(summary_line(report))
    s = engine.summary()
    return {
        "input": engine.status.input_name,
        "output": engine.status.output_name,
        "input_rate": engine.status.input_rate,
        "chunk_ms": cfg.chunk_ms,
        "playback_buffer_ms": cfg.playback_buffer_ms,
        "host_latency_ms": cfg.host_latency_ms,
        **report,
        "algorithmic_ms": s.algorithmic_ms,
        "overflows": s.overflows,
        "underflows": s.underflows,
        "dropped": s.dropped,
    }


def summary_line(r: dict[str, Any]) -> str:
    """One line for a front end: measured against estimated, or why nothing was measured."""
    m = r["measured_ms"]
    if m is None:
        window = r.get("window_s", SPACING_S)
        return f"none of the {len(r['chirps'])} chirps came back within {window:g} s: {NO_RETURN}"
    line = f"round trip {m['median']:.1f} ms measured"
    if r["returned"] < len(r["chirps"]):
        line += f" ({r['returned']} of {len(r['chirps'])} chirps came back)"
    est = r["estimate_ms"]
    if est is None:
        return line + "; no estimate (the output gave no timestamps)"
    diff = m["median"] - est
    return line + f", {est:.1f} ms estimated ({diff:+.1f} ms)"


def format_report(r: dict[str, Any]) -> str:
    """The report of ``rtaudio bench loopback``."""
    m = r["measured_ms"]
    host = "lowest" if not r["host_latency_ms"] else f"{r['host_latency_ms']:g} ms"
    lines = [
        f"loopback: input {r['input']!r} ({r['input_rate']} Hz) -> engine -> output "
        f"{r['output']!r}; chunk {r['chunk_ms']:g} ms, jitter buffer "
        f"{r['playback_buffer_ms']:g} ms, host latency {host}",
        f"measured round trip: median {m['median']:.1f} ms (min {m['min']:.1f}, max "
        f"{m['max']:.1f}; {r['returned']} of {len(r['chirps'])} chirps came back)",
    ]
    est = r["estimate_ms"]
    if est is None:
        lines.append("the engine's end-to-end estimate: none (the output gave no timestamps)")
    else:
        diff = m["median"] - est
        lines.append(
            f"the engine's end-to-end estimate (PortAudio's timestamps): {est:.1f} ms; the "
            f"measurement is {abs(diff):.1f} ms {'longer' if diff >= 0 else 'shorter'}"
            + (" (the loop itself, or buffers the host does not report)" if diff > 2 else "")
        )
    lines.append(
        f"stream: {r['overflows']} overflows, {r['underflows']} underflows, {r['dropped']} "
        "dropped chunks"
    )
    return "\n".join(lines)
