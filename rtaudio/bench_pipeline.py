"""``rtaudio bench pipeline``: the whole live pipeline fed at full speed, one CPU thread.

Runs the same :class:`~rtaudio.pipeline.Processor` the engine runs (features + MiTAS +
SwishNet + ESResNet) on a file or a generated speech-like signal and reports per-stage times and
the real-time factor at each chunk size.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from rtaudio.audiofile import read_audio
from rtaudio.config import SAMPLE_RATE, EngineConfig
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
    out: list[dict[str, Any]] = []
    for chunk_ms in chunks_ms:
        cfg = EngineConfig(chunk_ms=chunk_ms, separate=separate, classifiers=classifiers)
        proc = Processor(cfg)
        n = cfg.chunk_samples
        total, stages = [], {"features": []}  # type: ignore[var-annotated]
        for i in range(0, audio.size - n + 1, n):
            t0 = time.perf_counter()
            result, _ = proc.process(audio[i : i + n], adc_time=t0, dequeued=t0)
            total.append((time.perf_counter() - t0) * 1000)
            rec = result.latency
            stages["features"].append(rec.feature_ms)
            for k, v in rec.model_ms.items():
                stages.setdefault(k, []).append(v)
        arr = np.asarray(total)
        out.append(
            {
                "chunk_ms": chunk_ms,
                "chunks": int(arr.size),
                "rtf": round(float(arr.sum() / (arr.size * chunk_ms)), 4),
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
                "trained": proc.trained,
            }
        )
    return {
        "threads": torch.get_num_threads(),
        "audio_seconds": round(audio.size / SAMPLE_RATE, 3),
        "separate": separate,
        "classifiers": list(classifiers),
        "chunks": out,
    }


def format_pipeline(report: dict[str, Any]) -> str:
    lines = [
        f"pipeline: {report['audio_seconds']} s of audio, separate={report['separate']}, "
        f"classifiers={','.join(report['classifiers'])}, {report['threads']} thread",
        f"{'chunk':>6} {'RTF':>7} {'p50':>8} {'p99':>8} {'max':>8}   stages (mean / p99 ms)",
    ]
    for c in report["chunks"]:
        st = "  ".join(f"{k} {v['mean_ms']:.3f}/{v['p99_ms']:.3f}" for k, v in c["stages"].items())
        lines.append(
            f"{c['chunk_ms']:>4.0f}ms {c['rtf']:>7.3f} {c['p50_ms']:>6.3f}ms {c['p99_ms']:>6.3f}ms "
            f"{c['max_ms']:>6.2f}ms   {st}"
        )
    return "\n".join(lines)
