"""``rtaudio evaluate``: held-out metrics of a trained model on a corpus split.

Classifiers: accuracy, balanced accuracy, per-class precision / recall / F1, the confusion
matrix (printed and written as a PNG); SwishNet also as the live engine runs it. Separators:
SI-SNR improvement, median per input-SNR bucket, on a fixed, seeded set of mixtures.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import rtaudio.models as models
from rtaudio.data.lexicon import KINDS
from rtaudio.train import provenance
from rtaudio.train.corpus import Corpus, CorpusError
from rtaudio.train.g2p_task import running_text
from rtaudio.train.loop import TrainError
from rtaudio.train.metrics import format_confusion, save_confusion_png
from rtaudio.train.tasks import make_task, task_class
from rtaudio.weights import weights_path


@dataclass
class EvalOptions:
    model: str
    data: Path
    weights: Path | None = None
    split: str = "test"
    png: Path | None = None
    mixtures: int = 200
    seed: int = 1234
    live: bool = True
    threads: int = 1
    compare: Path | None = None  # classifiers: another weights file, scored on the same windows
    unseen_only: bool = False  # leave out the split's sources the weights record learning from


def default_weights(name: str) -> Path:
    """The shipped weights of ``name``: ``models/weights/<name>.safetensors`` (the image
    classifiers ``mobilenet_v1_025`` / ``xception_tiny`` / ``pydmobilenet`` are the ones
    ``rtaudio images`` loads by default)."""
    return weights_path(name)


def load_trained(name: str, weights: Path | None) -> nn.Module:
    path = Path(weights) if weights else default_weights(name)
    fam = models.get_variant(name).family
    return models.load(path, family=fam).eval()


def evaluate(opts: EvalOptions, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Metrics of a trained model on ``opts.split`` of the corpus ``opts.data``."""
    task_class(opts.model)
    torch.set_num_threads(max(1, opts.threads))
    model = load_trained(opts.model, opts.weights)
    corpus = task_class(opts.model).open_data(opts.data, log)
    meta = getattr(model, "meta", {}) or {}
    labels = getattr(model.config, "labels", None) or meta.get("labels")
    baseline = None
    if opts.compare is not None:
        if task_class(opts.model).kind != "classifier":
            raise TrainError(f"--compare applies to classifiers, not {opts.model}")
        baseline = load_trained(opts.model, opts.compare)
        other = (getattr(baseline, "meta", None) or {}).get("labels")
        if list(other or []) != list(labels or []):
            raise models.WeightsError(
                f"{opts.compare} predicts {', '.join(other or ['unnamed classes'])}, not the "
                f"classes of {opts.weights or opts.model}: the two cannot be compared"
            )
    held_out = _held_out_check(opts, corpus, meta, baseline)
    task = make_task(opts.model, corpus, train=False, classes=labels or None)
    report = task.evaluate(
        model,
        opts.split,
        mixtures=opts.mixtures,
        seed=opts.seed,
        live=opts.live,
        baseline=baseline,
    )
    if baseline is not None:
        report["baseline"]["weights"] = str(opts.compare)
    report["held_out"] = held_out
    report["model"] = opts.model
    report["weights"] = str(Path(opts.weights) if opts.weights else default_weights(opts.model))
    report["data"] = str(opts.data)
    if task.kind == "classifier" and opts.png is not None:
        cm = np.array(report["confusion"])
        save_confusion_png(
            cm, report["labels"], opts.png, f"{opts.model} on {opts.split} (n={report['n']})"
        )
        report["png"] = str(opts.png)
    return report


def _held_out_check(
    opts: EvalOptions, corpus: Corpus, meta: dict[str, Any], baseline: nn.Module | None
) -> dict[str, Any]:
    """How many of the split's sources the weights (and ``--compare``'s) learnt from, by their
    ``trained_on`` records; with ``opts.unseen_only`` those sources leave ``corpus``."""
    files = {str(opts.weights or default_weights(opts.model)): meta}
    if baseline is not None:
        files[str(opts.compare)] = getattr(baseline, "meta", None) or {}
    split_sources = {str(r["source"]) for r in corpus.select(opts.split)}
    out: dict[str, Any] = {
        "files": {f: provenance.describe(m, split_sources) for f, m in files.items()},
        "unseen_only": opts.unseen_only,
    }
    if not opts.unseen_only:
        return out
    seen: set[str] = set()
    for f, m in files.items():
        rec = provenance.recorded(m)
        if rec is None:
            raise TrainError(
                f"--unseen-only: {f} does not record the sources it learnt from (written before "
                "rtaudio kept that record), so its unseen sources cannot be told apart"
            )
        seen |= provenance.learnt(rec[0], split_sources)
    if seen == split_sources:
        raise CorpusError(
            f"--unseen-only: every {opts.split} source of {opts.data} was learnt from; nothing "
            "is left to evaluate"
        )
    corpus.rows = [r for r in corpus.rows if r["split"] != opts.split or r["source"] not in seen]
    out["left_out_sources"] = len(seen)
    return out


def _held_out_lines(held: dict[str, Any] | None, unit: str = "sources") -> list[str]:
    """What :func:`_held_out_check` found, one line per weights file (``unit``: what a source
    is for this task, "words" for a lexicon)."""
    lines = []
    for f, d in (held or {}).get("files", {}).items():
        if not d["recorded"]:
            lines.append(f"held out? {f} does not record the sources it learnt from")
            continue
        seen = d["seen"]
        text = f"held out: {seen} of the split's {d['sources']} {unit} are in {f}'s training"
        if seen:
            text += f" (e.g. {', '.join(d['seen_examples'][:3])})"
        if not d["complete"]:
            text += "; its record is incomplete (an ancestor's sources are unknown)"
        lines.append(text)
    if held and held.get("left_out_sources") is not None:
        lines.append(f"--unseen-only: {held['left_out_sources']} learnt-from {unit} left out")
    elif any(d.get("seen") for d in (held or {}).get("files", {}).values()):
        lines.append("(--unseen-only leaves them out)")
    return lines


def interval_text(iv: dict[str, list[float]]) -> str:
    """One line for :func:`rtaudio.train.metrics.recording_interval`'s result."""
    a, b = iv["accuracy"], iv["balanced_accuracy"]
    return (
        f"95 % interval, resampling the held-out recordings: accuracy {a[0]:.3f}-{a[1]:.3f}, "
        f"balanced accuracy {b[0]:.3f}-{b[1]:.3f}"
    )


def format_report(rep: dict[str, Any]) -> str:
    """Human-readable text of an :func:`evaluate` report."""
    lines = [f"{rep['model']} on {rep['data']} [{rep['split']}]  weights {rep['weights']}"]
    lines += _held_out_lines(rep.get("held_out"), "words" if "per" in rep else "sources")
    if "per" in rep:  # grapheme-to-phoneme
        iv = rep["interval"]
        lines.append(
            f"phoneme error rate {rep['per']:.4f} [{iv['per'][0]:.4f}, {iv['per'][1]:.4f}] "
            f"(stress marks left out: {rep['per_no_stress']:.4f}), word error rate "
            f"{rep['wer']:.4f} [{iv['wer'][0]:.4f}, {iv['wer'][1]:.4f}] over {rep['n']} words, "
            f"{rep['tokens']} phoneme tokens (95 % intervals, resampling the words)"
        )
        by_kind = rep.get("by_kind", {})
        for kind, k in sorted(by_kind.items(), key=lambda kv: KINDS.index(kv[0])):
            lines.append(
                f"  {kind + 's':<6} PER {k['per']:.4f} [{k['interval']['per'][0]:.4f}, "
                f"{k['interval']['per'][1]:.4f}], WER {k['wer']:.4f} over {k['n']} words"
            )
        if "text" in rep:
            t = rep["text"]
            lines.append(f"  {running_text(t)}: PER {t['per']:.4f}, WER {t['wer']:.4f}")
        if rep["wrong_examples"]:
            lines.append("words it got wrong (word, reference -> output):")
        for ex in rep["wrong_examples"]:
            name = ex["word"] + (" (name)" if ex.get("kind") == "name" else "")
            lines.append(f"  {name:<18} /{ex['reference']}/ -> /{ex['output']}/")
    elif "confusion" in rep:
        lines.append(
            f"accuracy {rep['accuracy']:.4f}  balanced accuracy {rep['balanced_accuracy']:.4f}  "
            f"macro F1 {rep['macro_f1']:.4f}  (n={rep['n']} windows of 1 s, "
            f"{rep.get('sources', '?')} sources)"
        )
        lines.append(f"{'class':<18}{'precision':>10}{'recall':>10}{'F1':>10}{'support':>10}")
        for lab, m in rep["per_class"].items():
            lines.append(
                f"{lab:<18}{m['precision']:>10.3f}{m['recall']:>10.3f}{m['f1']:>10.3f}"
                f"{m['support']:>10d}"
            )
        lines.append(format_confusion(np.array(rep["confusion"]), rep["labels"]))
        if "interval_95" in rep:
            lines.append(interval_text(rep["interval_95"]))
        if "baseline" in rep:
            b, d = rep["baseline"], rep["baseline"]["difference"]
            a, ba = b["interval_95"]["accuracy"], b["interval_95"]["balanced_accuracy"]
            lines.append(
                f"against {b['weights']} (same windows): accuracy {b['accuracy']:.4f}, balanced "
                f"{b['balanced_accuracy']:.4f}; difference {d['accuracy']:+.4f} "
                f"[{a[0]:+.3f}, {a[1]:+.3f}], balanced {d['balanced_accuracy']:+.4f} "
                f"[{ba[0]:+.3f}, {ba[1]:+.3f}] (95 %, paired over the held-out recordings)"
            )
        if "real_only" in rep:
            r = rep["real_only"]
            lines.append(
                f"real recordings only: accuracy {r['accuracy']:.4f}  balanced "
                f"{r['balanced_accuracy']:.4f}  (n={r['n']})"
            )
        if rep.get("live", {}).get("n"):
            lv = rep["live"]
            lines.append(
                f"live engine (hop {lv['hop_ms']:g} ms, window {lv['window_ms']:g} ms, lookahead "
                f"{lv['lookahead_ms']:g} ms): accuracy {lv['accuracy']:.4f}  balanced "
                f"{lv['balanced_accuracy']:.4f}  (n={lv['n']} labels)"
            )
        if "png" in rep:
            lines.append(f"confusion matrix: {rep['png']}")
    else:
        lines.append(
            f"SI-SNR improvement: median {rep['median_si_snri']:.2f} dB, mean "
            f"{rep['mean_si_snri']:.2f} dB over {rep['n']} mixtures of "
            f"{rep['seconds_per_mixture']:g} s at {rep['input_range_db'][0]:g}.."
            f"{rep['input_range_db'][1]:g} dB"
        )
        lines.append(f"{'input SNR':<14}{'n':>6}{'median SI-SNRi':>16}{'mean':>8}")
        for b, m in rep["by_input_snr"].items():
            lines.append(f"{b:<14}{m['n']:>6}{m['median_si_snri']:>16.2f}{m['mean_si_snri']:>8.2f}")
        for g, m in rep.get("by_group", {}).items():
            lines.append(f"  {g:<28}{m['n']:>6}{m['median_si_snri']:>10.2f} dB median")
        lv = rep.get("speech_level_db")
        if lv:  # what SI-SNR does not see: how loud the speech comes back, and which way up
            lines.append(
                f"speech in the output vs the input: median {lv['median']:+.2f} dB (p10 "
                f"{lv['p10']:+.2f}, p90 {lv['p90']:+.2f}); polarity inverted in {lv['inverted']} "
                f"of {rep['n']}"
            )
    return "\n".join(lines)


def to_json(rep: dict[str, Any]) -> str:
    return json.dumps(rep, indent=2, sort_keys=True)
