"""Benchmarks: per-chunk cost of every causal model's streaming ``step`` on one CPU thread.

``rtaudio bench models`` prints, for each causal audio model and each chunk length, the median
and 95th-percentile time of one ``step`` call and the real-time factor (median time / chunk
duration). Speed lives here, never in timed unit tests.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

import rtaudio.models as models

SAMPLE_RATE = 16000
FRAME_HOP_MS = 10  # MFCC hop of the classifiers

# causal models benchmarked by default, and what one chunk of audio is for each of them
CAUSAL_AUDIO_MODELS = ("mitas", "tsenet", "swishnet", "swishnet_slim", "conv_tasnet", "mitas_ss")


@dataclass(frozen=True)
class StepTiming:
    model: str
    params: int
    macs_per_second: int
    chunk_ms: float
    median_ms: float
    p95_ms: float
    rtf: float


def _stream_inputs(
    name: str, net: Any, chunk_ms: float
) -> tuple[Tensor, Callable[[], models.State], Tensor]:
    """(chunk, state factory, one second of input for MAC counting) for a causal model."""
    family = models.get_variant(name).family
    if family in ("mitas", "tsenet"):
        n = round(SAMPLE_RATE * chunk_ms / 1000)
        second = torch.randn(1, SAMPLE_RATE)
        if family == "tsenet":
            emb = net.embed(torch.randn(1, 2 * SAMPLE_RATE))
            return torch.randn(1, n), lambda: net.init_state(1, emb), second
        return torch.randn(1, n), lambda: net.init_state(1), second
    if family == "swishnet":
        frames = max(1, round(chunk_ms / FRAME_HOP_MS))
        n_mfcc = net.config.n_mfcc
        second = torch.randn(1, n_mfcc, 1000 // FRAME_HOP_MS)
        return torch.randn(1, n_mfcc, frames), lambda: net.init_state(1), second
    raise ValueError(f"{name} is not a causal audio model")


def time_step(
    name: str, chunk_ms: float, calls: int = 400, warmup: int = 50, net: Any = None
) -> StepTiming:
    """Time ``calls`` consecutive ``step`` calls of model ``name`` (the registry's config, or
    ``net``, e.g. loaded weights) at ``chunk_ms`` chunks."""
    net = (models.create(name) if net is None else net).eval()
    with torch.inference_mode():
        return _time_step(name, net, chunk_ms, calls, warmup)


def _time_step(name: str, net: Any, chunk_ms: float, calls: int, warmup: int) -> StepTiming:
    chunk, new_state, second = _stream_inputs(name, net, chunk_ms)
    if models.get_variant(name).family == "tsenet":
        macs = models.count_macs(net, second, embedding=torch.zeros(1, net.config.emb_dim))
    else:
        macs = models.count_macs(net, second)
    state = new_state()
    times = []
    for i in range(warmup + calls):
        t0 = time.perf_counter()
        _, state = net.step(chunk, state)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    times.sort()
    med = statistics.median(times) * 1000
    p95 = times[int(0.95 * (len(times) - 1))] * 1000
    return StepTiming(
        model=name,
        params=models.count_params(net),
        macs_per_second=int(macs),
        chunk_ms=chunk_ms,
        median_ms=round(med, 4),
        p95_ms=round(p95, 4),
        rtf=round(med / chunk_ms, 4),
    )


def cpu_name() -> str:
    """The processor's model name (Linux ``/proc/cpuinfo``; elsewhere what ``platform`` says)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Hardware", "Processor") and value.strip():
                    return " ".join(value.split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine() -> dict[str, Any]:
    """What the timings were measured on: speeds mean little without it."""
    return {
        "cpu": cpu_name(),
        "logical_cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def machine_line(m: dict[str, Any]) -> str:
    return (
        f"machine: {m['cpu']} ({m['logical_cores']} logical cores), {m['threads']} torch "
        f"thread(s), torch {m['torch']}, Python {m['python']}"
    )


def bench_models(
    names: Sequence[str] = CAUSAL_AUDIO_MODELS,
    chunks_ms: Sequence[float] = (10.0, 20.0),
    calls: int = 400,
    threads: int = 1,
) -> list[StepTiming]:
    torch.set_num_threads(threads)
    return [time_step(n, c, calls) for n in names for c in chunks_ms]


def g2p_speed(model: Any, letters: int = 8, batch: int = 256) -> dict[str, float]:
    """Grapheme-to-phoneme on one thread: ms to transcribe one word of ``letters`` letters
    alone (median of 25), and per word in a batch of ``batch`` (best of 3); greedy decoding with
    the decoder's streaming ``step``. ``model``: trained weights (an untrained one never emits
    its end token and always decodes to the longest length)."""
    from rtaudio.g2p import transcribe_ids

    torch.set_num_threads(1)
    word = ("abcdefghijklmnopqrstuvwxyz" * 2)[:letters]
    one, many = [], []
    for i in range(30):
        t0 = time.perf_counter()
        transcribe_ids(model, [word])
        if i >= 5:
            one.append(time.perf_counter() - t0)
    for _ in range(3):
        t0 = time.perf_counter()
        transcribe_ids(model, [word] * batch)
        many.append((time.perf_counter() - t0) / batch)
    return {
        "letters": letters,
        "word_ms": round(statistics.median(one) * 1000, 3),
        "batch": batch,
        "batched_word_ms": round(min(many) * 1000, 3),
    }


def format_g2p(r: dict[str, Any]) -> str:
    return (
        f"{machine_line(machine())}\n"
        f"slicenet_g2p: {r['word_ms']:.2f} ms to transcribe one word of {r['letters']} letters, "
        f"{r['batched_word_ms']:.3f} ms per word in batches of {r['batch']}"
    )


def format_table(rows: Sequence[StepTiming]) -> str:
    head = (
        f"{'model':<15} {'params':>10} {'GMAC/s':>8} {'chunk':>7} "
        f"{'median':>9} {'p95':>9} {'RTF':>7}"
    )
    lines = [machine_line(machine()), head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.model:<15} {r.params:>10,} {r.macs_per_second / 1e9:>8.3f} {r.chunk_ms:>5g}ms "
            f"{r.median_ms:>7.3f}ms {r.p95_ms:>7.3f}ms {r.rtf:>7.3f}"
        )
    return "\n".join(lines)


def to_json(rows: Sequence[StepTiming]) -> str:
    return json.dumps(
        {
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "machine": machine(),
            "models": [asdict(r) for r in rows],
        },
        indent=2,
    )


def example_input(name: str) -> tuple[tuple[Tensor, ...], dict[str, Any]]:
    """A representative input for MAC counting: 1 s of audio, the config's image size, or
    32 tokens."""
    family = models.get_variant(name).family
    cfg: Any = models.get_config(name)
    if family == "mitas":
        return (torch.randn(1, SAMPLE_RATE),), {}
    if family == "tsenet":
        return (torch.randn(1, SAMPLE_RATE),), {"embedding": torch.zeros(1, cfg.emb_dim)}
    if family == "swishnet":
        return (torch.randn(1, cfg.n_mfcc, 1000 // FRAME_HOP_MS),), {}
    if family == "esresnet":
        return (torch.randn(1, cfg.sample_rate),), {}
    if family == "slicenet":
        return (
            torch.randint(3, cfg.src_vocab, (1, 32)),
            torch.randint(3, cfg.tgt_vocab, (1, 32)),
        ), {}
    return (torch.randn(1, *cfg.input_size),), {}


def model_stats(name: str) -> tuple[int, int]:
    """(parameters, MACs on :func:`example_input`)."""
    net = models.create(name)
    args, kwargs = example_input(name)
    return models.count_params(net), models.count_macs(net, *args, **kwargs)
