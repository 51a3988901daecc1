"""``rtaudio bench loopback``: the real round trip through the live engine, against its estimate.

The engine's end-to-end latency is an estimate from PortAudio's timestamps (when a chunk's
first sample reached the ADC, when its output will reach the DAC). Hosts and drivers do not
always tell the truth about their buffers, so this benchmark measures instead: with the output
connected back to the input (a cable, or on PulseAudio / PipeWire the output's monitor chosen
as the input), the engine plays a short chirp in place of a chunk's output and finds it again
in the input. The time from that chunk's input to the chirp's return is exactly what a sound
would take from the microphone through the engine to the speaker, plus the loop itself (zero
for a cable). The engine's pass-through is muted meanwhile, so nothing feeds back.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Any

import numpy as np

from rtaudio.config import SAMPLE_RATE, EngineConfig
from rtaudio.engine import Engine
from rtaudio.results import ChunkResult

SEARCH_S = 1.0  # how long after it went out a chirp may come back
SETTLE_S = 1.5  # before the first chirp: the start-up surplus of the playback buffer is gone


class LoopbackError(RuntimeError):
    """No chirp came back, or the stream broke: the measurement means nothing."""


def chirp(ms: float = 6.0, f0: float = 800.0, f1: float = 6000.0, peak: float = 0.5) -> np.ndarray:
    """A Hann-windowed linear chirp at 16 kHz: short, and sharp under cross-correlation."""
    n = round(ms * SAMPLE_RATE / 1000)
    t = np.arange(n) / SAMPLE_RATE
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * t[-1]))
    return (peak * np.hanning(n) * np.sin(phase)).astype(np.float32)


def find_returns(
    audio: np.ndarray, template: np.ndarray, starts: list[int], search: int
) -> list[int | None]:
    """For each start (a sample of ``audio``), the lag in samples at which ``template`` comes
    back within ``search`` samples after it, or None when nothing stands out (the peak of the
    normalised cross-correlation must be 0.5 or more and 4 times the window's median)."""
    found: list[int | None] = []
    energy = float(np.dot(template, template))
    for s in starts:
        seg = audio[s : s + search + template.size]
        if seg.size < template.size:
            found.append(None)
            continue
        corr = np.correlate(seg, template, "valid")
        power = np.convolve(seg**2, np.ones(template.size), "valid")
        norm = np.abs(corr) / np.sqrt(np.maximum(power * energy, 1e-20))
        lag = int(np.argmax(norm))
        ok = norm[lag] >= 0.5 and norm[lag] >= 4 * float(np.median(norm))
        found.append(lag if ok else None)
    return found


def measure(
    cfg: EngineConfig, chirps: int = 8, spacing_s: float = 0.35, settle_s: float = SETTLE_S
) -> dict[str, Any]:
    """Play ``chirps`` chirps through the engine and time their return. Returns a report
    (per chirp: measured round trip and the engine's estimate for the chunk that played it)."""
    cfg = dataclasses.replace(
        cfg, play=True, separate="off", classifiers=(), record_dir=None, source=None
    )
    template = chirp()
    engine = Engine(cfg)
    channel = engine.subscribe(100_000)
    engine.start()
    results: list[ChunkResult] = []
    try:
        engine.muted = True  # only the chirps are played: nothing feeds back
        time.sleep(settle_s)
        for _ in range(chirps):
            engine.inject(template)
            time.sleep(spacing_s)
            results.extend(channel.drain())
        time.sleep(SEARCH_S)
    finally:
        engine.stop()
    results.extend(channel.drain())
    if engine.status.state == "error":
        raise LoopbackError(f"the stream broke: {engine.status.message}")
    if not results:
        raise LoopbackError("no audio came in")
    by_index = {r.index: r for r in results}
    first = results[0]
    n = cfg.chunk_samples
    audio = np.zeros((results[-1].index - first.index + 1) * n, np.float32)
    for r in results:
        if r.audio is not None:
            audio[(r.index - first.index) * n : (r.index - first.index + 1) * n] = r.audio
    sent = [(i, off) for i, off in engine.injected if i in by_index]
    starts = [(i - first.index) * n + off for i, off in sent]
    lags = find_returns(audio, template, starts, round(SEARCH_S * SAMPLE_RATE))
    rows: list[dict[str, Any]] = []
    for (i, _), lag in zip(sent, lags, strict=True):
        estimate = by_index[i].latency.end_to_end_ms
        rows.append(
            {
                "chunk": i,
                "measured_ms": None if lag is None else lag / SAMPLE_RATE * 1000,
                "estimate_ms": estimate,
            }
        )
    summary = engine.summary()
    got = [r for r in rows if r["measured_ms"] is not None]
    if not got:
        raise LoopbackError(
            f"none of the {len(rows)} chirps came back within {SEARCH_S:g} s: connect the output "
            "to the input (a cable; on PulseAudio / PipeWire choose the output's monitor as the "
            "input) and check that neither is muted"
        )
    measured = [float(r["measured_ms"]) for r in got]
    estimates = [float(r["estimate_ms"]) for r in got if r["estimate_ms"] is not None]
    return {
        "input": engine.status.input_name,
        "output": engine.status.output_name,
        "input_rate": engine.status.input_rate,
        "chunk_ms": cfg.chunk_ms,
        "playback_buffer_ms": cfg.playback_buffer_ms,
        "host_latency_ms": cfg.host_latency_ms,
        "chirps": rows,
        "returned": len(got),
        "measured_ms": {
            "median": statistics.median(measured),
            "min": min(measured),
            "max": max(measured),
        },
        "estimate_ms": statistics.median(estimates) if estimates else None,
        "algorithmic_ms": summary.algorithmic_ms,
        "underflows": summary.underflows,
        "overflows": summary.overflows,
        "dropped": summary.dropped,
    }


def format_report(r: dict[str, Any]) -> str:
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
