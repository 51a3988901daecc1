"""``rtaudio bench pipeline``: the whole live pipeline fed at full speed, one CPU thread.

Runs the same :class:`~rtaudio.pipeline.Processor` the engine runs (features + MiTAS +
SwishNet + ESResNet) on a file or a generated speech-like signal and reports per-stage times and
the real-time factor at each chunk size.

:func:`soak` is the long-run test: a long file through the whole live engine (threads,
channels, recorders) at full speed, reporting memory growth and latency drift
(``scripts/soak.py`` runs it for an hour).
"""

from __future__ import annotations

import array
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

from rtaudio.audiofile import read_audio
from rtaudio.bench import machine, machine_line
from rtaudio.config import SAMPLE_RATE, ConfigError, EngineConfig
from rtaudio.pipeline import Processor


def _test_signal(seconds: float) -> np.ndarray:
    """Harmonic 'voice' with a wandering pitch in pink-ish noise, gaps of silence."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = (np.sin(2 * np.pi * 0.5 * t) > -0.3).astype(float)
    noise = np.cumsum(rng.standard_normal(t.size)) * 0.002
    noise -= np.convolve(noise, np.ones(400) / 400, mode="same")
    return (0.1 * voice * envelope + noise).astype(np.float32)


def bench_pipeline(
    chunks_ms: Sequence[float] = (10.0, 20.0),
    seconds: float = 20.0,
    source: str | None = None,
    separate: str = "mitas",
    classifiers: tuple[str, ...] = ("swishnet", "esresnet"),
) -> dict[str, Any]:
    torch.set_num_threads(1)
    audio = read_audio(source) if source else _test_signal(seconds)
    longest = max(chunks_ms, default=0.0)
    if audio.size < round(longest * SAMPLE_RATE / 1000):
        raise ConfigError(
            f"{source}: {audio.size / SAMPLE_RATE * 1000:.1f} ms of audio, shorter than a "
            f"{longest:g} ms chunk: nothing to time; give a longer --source"
        )
    out: list[dict[str, Any]] = []
    for chunk_ms in chunks_ms:
        cfg = EngineConfig(chunk_ms=chunk_ms, separate=separate, classifiers=classifiers)
        proc = Processor(cfg, background=True)  # as the live engine runs it
        n = cfg.chunk_samples
        total, stages = [], {"features": []}  # type: ignore[var-annotated]
        background: dict[str, list[float]] = {}
        for i in range(0, audio.size - n + 1, n):
            t0 = time.perf_counter()
            result, _ = proc.process(audio[i : i + n], adc_time=t0, dequeued=t0)
            total.append((time.perf_counter() - t0) * 1000)
            rec = result.latency
            stages["features"].append(rec.feature_ms)
            for k, v in rec.model_ms.items():
                stages.setdefault(k, []).append(v)
            for k, v in rec.background_ms.items():
                background.setdefault(k, []).append(v)
        proc.flush()
        proc.close()
        arr = np.asarray(total)
        spent = arr.sum() + sum(sum(v) for v in background.values())
        out.append(
            {
                "chunk_ms": chunk_ms,
                "chunks": int(arr.size),
                "rtf": round(float(arr.sum() / (arr.size * chunk_ms)), 4),
                # chunk path plus the tagger's thread: the CPU share of the whole pipeline
                "rtf_cpu": round(float(spent / (arr.size * chunk_ms)), 4),
                "p50_ms": round(float(np.percentile(arr, 50)), 4),
                "p99_ms": round(float(np.percentile(arr, 99)), 4),
                "max_ms": round(float(arr.max()), 4),
                "stages": {
                    k: {
                        "mean_ms": round(float(np.mean(v)), 4),
                        "p99_ms": round(float(np.percentile(v, 99)), 4),
                    }
                    for k, v in stages.items()
                },
                "background": {
                    k: {
                        "windows": len(v),
                        "mean_ms": round(float(np.mean(v)), 4),
                        "p99_ms": round(float(np.percentile(v, 99)), 4),
                    }
                    for k, v in background.items()
                },
                "trained": proc.trained,
            }
        )
    return {
        "threads": torch.get_num_threads(),
        "machine": machine(),
        "audio_seconds": round(audio.size / SAMPLE_RATE, 3),
        "separate": separate,
        "classifiers": list(classifiers),
        "chunks": out,
    }


def format_pipeline(report: dict[str, Any]) -> str:
    lines = [
        machine_line(report["machine"]),
        f"pipeline: {report['audio_seconds']} s of audio, separate={report['separate']}, "
        f"classifiers={','.join(report['classifiers'])}, {report['threads']} thread",
        f"{'chunk':>6} {'RTF':>7} {'CPU':>7} {'p50':>8} {'p99':>8} {'max':>8}   "
        "stages (mean / p99 ms)",
    ]
    for c in report["chunks"]:
        st = "  ".join(f"{k} {v['mean_ms']:.3f}/{v['p99_ms']:.3f}" for k, v in c["stages"].items())
        lines.append(
            f"{c['chunk_ms']:>4.0f}ms {c['rtf']:>7.3f} {c['rtf_cpu']:>7.3f} {c['p50_ms']:>6.3f}ms "
            f"{c['p99_ms']:>6.3f}ms {c['max_ms']:>6.2f}ms   {st}"
        )
        for k, v in c["background"].items():
            lines.append(
                f"{'':>6} {k} in its own thread: {v['windows']} windows, "
                f"{v['mean_ms']:.3f} / {v['p99_ms']:.3f} ms (mean / p99), off the chunk path"
            )
    lines.append("RTF: the chunk path; CPU: the chunk path plus the tagger thread")
    return "\n".join(lines)


# ------------------------------------------------------------------------------- soak test


def rss_mb() -> float:
    """Resident set size of this process in MB (Linux ``/proc``; ``ru_maxrss`` elsewhere,
    which is the peak, not the current size)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_soak_source(path: str | Path, minutes: float) -> Path:
    """``minutes`` of the speech-like test signal (16 kHz mono 16-bit), written minute by
    minute with a different gain and noise each time (constant memory)."""
    path = Path(path)
    base = _test_signal(60.0)
    rng = np.random.default_rng(1)
    left = round(minutes * 60 * SAMPLE_RATE)
    with sf.SoundFile(str(path), "w", SAMPLE_RATE, 1, subtype="PCM_16") as f:
        while left > 0:
            x = base[: min(left, base.size)] * rng.uniform(0.3, 2.0)
            x = x + 0.003 * rng.standard_normal(x.size).astype(np.float32)
            f.write(np.clip(x, -1, 1))
            left -= x.size
    return path


def _percentiles(values: Sequence[float]) -> dict[str, float]:
    arr = np.asarray(values, np.float64)
    if not arr.size:
        return {"chunks": 0}
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return {
        "chunks": int(arr.size),
        "p50_ms": round(float(p50), 3),
        "p95_ms": round(float(p95), 3),
        "p99_ms": round(float(p99), 3),
        "max_ms": round(float(arr.max()), 3),
    }


def soak(
    source: str | Path,
    cfg: EngineConfig,
    segment_s: float = 600.0,
    warmup_s: float = 60.0,
    log: Callable[[str], object] | None = None,
) -> dict[str, Any]:
    """Run a file through the live engine at full speed (``realtime=False``: file feeder,
    worker, channels, all threads as in ``rtaudio monitor``) and watch for leaks and drift.

    A subscriber drains the results every 0.2 s like the terminal view does. Reports the
    resident memory (RSS) after ``warmup_s`` of stream time and at the end, its growth, and
    the per-chunk processing time percentiles of the first and the last ``segment_s`` of
    audio (kept in bounded buffers, so the measurement itself does not grow).
    """
    from rtaudio.engine import Engine

    engine = Engine(cfg.replace(source=str(source), realtime=False))
    channel = engine.subscribe(maxsize=8192)
    per_seg = max(1, round(segment_s * 1000 / cfg.chunk_ms))
    first: array.array[float] = array.array("f")
    last: deque[float] = deque(maxlen=per_seg)
    rss_start = rss_mb()
    rss_warm: float | None = None
    rss_max = rss_start
    samples: list[tuple[float, float]] = []  # (stream s, RSS MB), one per minute of audio
    t0 = time.perf_counter()
    stream = 0.0
    next_sample = 0.0
    engine.start()
    try:
        while True:
            done = engine.wait(0.2)
            for r in channel.drain():
                ms = r.latency.processing_ms
                if len(first) < per_seg:
                    first.append(ms)
                last.append(ms)
                stream = r.end
            rss = rss_mb()
            rss_max = max(rss_max, rss)
            if rss_warm is None and stream >= warmup_s:
                rss_warm = rss
            if stream >= next_sample:
                samples.append((round(stream, 1), round(rss, 2)))
                next_sample += 60.0
                if log is not None:
                    log(
                        f"{stream / 60:6.1f} min audio  {time.perf_counter() - t0:7.1f} s wall  "
                        f"RSS {rss:7.1f} MB  dropped {engine.dropped}"
                    )
            if done:
                break
    finally:
        engine.stop()
    for r in channel.drain():
        last.append(r.latency.processing_ms)
    if engine.status.state == "error":
        raise RuntimeError(f"engine failed: {engine.status.message}")
    rss_end = rss_mb()
    base = rss_warm if rss_warm is not None else rss_start
    s = engine.summary()
    return {
        "audio_s": round(stream, 2),
        "wall_s": round(time.perf_counter() - t0, 2),
        "chunk_ms": cfg.chunk_ms,
        "separate": cfg.separate,
        "classifiers": list(cfg.classifiers),
        "trained": engine.status.trained,
        "rss_start_mb": round(rss_start, 2),
        "rss_after_warmup_mb": round(base, 2),
        "rss_end_mb": round(rss_end, 2),
        "rss_max_mb": round(rss_max, 2),
        "rss_growth_mb": round(rss_end - base, 2),
        "rss_by_minute": samples,
        "first": _percentiles(first),
        "last": _percentiles(last),
        "segment_s": segment_s,
        "dropped": s.dropped,
        "overflows": s.overflows,
        "chunks": s.chunks,
    }
