"""Losses and metrics: SI-SNR, class-balanced cross-entropy, confusion matrices, F1."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def si_snr(estimate: Tensor, target: Tensor, eps: float = 1e-8) -> Tensor:
    """Scale-invariant signal-to-noise ratio in dB, per example: ``[B, T], [B, T] -> [B]``.

    Both signals are made zero-mean; ``s_t = <s', s> s / |s|^2`` and
    ``SI-SNR = 10 log10(|s_t|^2 / |s' - s_t|^2)`` (Le Roux et al., "SDR - half-baked or well
    done?", ICASSP 2019; the Conv-TasNet training objective).
    """
    est = estimate - estimate.mean(dim=-1, keepdim=True)
    tgt = target - target.mean(dim=-1, keepdim=True)
    dot = (est * tgt).sum(-1, keepdim=True)
    proj = dot * tgt / (tgt.square().sum(-1, keepdim=True) + eps)
    noise = est - proj
    ratio = proj.square().sum(-1) / (noise.square().sum(-1) + eps)
    return 10.0 * torch.log10(ratio + eps)


def neg_si_snr(estimate: Tensor, target: Tensor) -> Tensor:
    """The separators' loss: mean negative SI-SNR over the batch."""
    return -si_snr(estimate, target).mean()


def balanced_cross_entropy(logits: Tensor, target: Tensor, weights: Tensor | None) -> Tensor:
    """Cross-entropy with per-class weights (the weighted mean, as ``F.cross_entropy``)."""
    return F.cross_entropy(logits, target, weight=weights)


def confusion(true: Sequence[int], pred: Sequence[int], n: int) -> np.ndarray:
    """``[n, n]`` counts, rows = true class, columns = predicted class."""
    m = np.zeros((n, n), np.int64)
    for t, p in zip(true, pred, strict=True):
        m[int(t), int(p)] += 1
    return m


def classification_report(cm: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, balanced accuracy (mean recall over classes present), per-class precision /
    recall / F1 and macro F1 from a confusion matrix."""
    total = int(cm.sum())
    diag = np.diag(cm).astype(np.float64)
    support = cm.sum(1).astype(np.float64)
    predicted = cm.sum(0).astype(np.float64)
    per: dict[str, dict[str, float]] = {}
    f1s, recalls = [], []
    for i, lab in enumerate(labels):
        if support[i] == 0 and predicted[i] == 0:
            continue
        prec = diag[i] / predicted[i] if predicted[i] else 0.0
        rec = diag[i] / support[i] if support[i] else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per[lab] = {
            "precision": round(float(prec), 4),
            "recall": round(float(rec), 4),
            "f1": round(float(f1), 4),
            "support": int(support[i]),
        }
        if support[i]:
            f1s.append(f1)
            recalls.append(rec)
    return {
        "n": total,
        "accuracy": round(float(diag.sum() / total), 4) if total else 0.0,
        "balanced_accuracy": round(float(np.mean(recalls)), 4) if recalls else 0.0,
        "macro_f1": round(float(np.mean(f1s)), 4) if f1s else 0.0,
        "per_class": per,
        "labels": list(labels),
        "confusion": cm.tolist(),
    }


def recording_interval(
    true: Sequence[int],
    pred: Sequence[int],
    sources: Sequence[str],
    reps: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    baseline: Sequence[int] | None = None,
) -> dict[str, list[float]]:
    """Bootstrap intervals of accuracy and balanced accuracy over *recordings*, not windows.

    Windows of one recording are not independent: with a handful of held-out recordings per
    class, the recordings are the sample. Each replicate redraws, within every class, as many
    of that class's recordings as it has (with replacement) and pools their windows; the
    interval is the central ``level`` share of the replicates. With ``baseline`` (another
    model's predictions on the same windows) the intervals are of the difference ``pred`` -
    ``baseline``, both scored on the same redrawn recordings (a paired bootstrap).
    """
    t, p = np.asarray(true, np.int64), np.asarray(pred, np.int64)
    b = np.asarray(baseline, np.int64) if baseline is not None else None
    src = np.asarray([str(s) for s in sources])
    rng = np.random.default_rng(seed)
    per_class: list[tuple[np.ndarray, np.ndarray]] = []  # (windows, gain of correct) per rec.
    for c in np.unique(t):
        m = t == c
        names, inv = np.unique(src[m], return_inverse=True)
        gain = (p[m] == c).astype(np.float64) - (0.0 if b is None else (b[m] == c))
        per_class.append(
            (
                np.bincount(inv, minlength=names.size).astype(np.float64),
                np.bincount(inv, weights=gain, minlength=names.size),
            )
        )
    acc = np.zeros(reps)
    bal = np.zeros(reps)
    for r in range(reps):
        n_all = ok_all = 0.0
        recalls = []
        for n, ok in per_class:
            k = rng.integers(0, n.size, n.size)
            nk, okk = float(n[k].sum()), float(ok[k].sum())
            recalls.append(okk / nk)
            n_all += nk
            ok_all += okk
        acc[r] = ok_all / n_all
        bal[r] = float(np.mean(recalls))
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    return {
        "accuracy": [round(float(v), 4) for v in np.percentile(acc, q)],
        "balanced_accuracy": [round(float(v), 4) for v in np.percentile(bal, q)],
    }


def format_confusion(cm: np.ndarray, labels: Sequence[str]) -> str:
    """A text table: rows are the true classes, columns the predictions."""
    w = max(8, *(len(s) for s in labels)) + 1
    lines = ["true \\ predicted".ljust(w) + "".join(s[: w - 1].rjust(w) for s in labels)]
    for i, lab in enumerate(labels):
        if cm[i].sum() == 0:
            continue
        lines.append(lab.ljust(w) + "".join(str(int(v)).rjust(w) for v in cm[i]))
    return "\n".join(lines)


def save_confusion_png(
    cm: np.ndarray, labels: Sequence[str], path: str | Path, title: str = ""
) -> Path:
    """Row-normalised confusion matrix as a PNG (matplotlib, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = cm.sum(1, keepdims=True).astype(np.float64)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape, np.float64), where=rows > 0)
    n = len(labels)
    size = max(4.0, 0.55 * n + 2.0)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(
                    j,
                    i,
                    str(int(cm[i, j])),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black",
                )
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def snr_buckets(
    input_snr: Sequence[float],
    improvement: Sequence[float],
    edges: Sequence[float] = (-5.0, 0.0, 5.0, 10.0, 15.0),
) -> dict[str, dict[str, float]]:
    """Median / mean SI-SNR improvement per input-SNR bucket ``[a, b)`` (last one closed)."""
    snr = np.asarray(input_snr, np.float64)
    imp = np.asarray(improvement, np.float64)
    out: dict[str, dict[str, float]] = {}
    for k, (a, b) in enumerate(itertools.pairwise(edges)):
        last = k == len(edges) - 2
        sel = (snr >= a) & ((snr <= b) if last else (snr < b))
        if not sel.any():
            continue
        out[f"{a:g}..{b:g} dB"] = {
            "n": int(sel.sum()),
            "median_si_snri": round(float(np.median(imp[sel])), 2),
            "mean_si_snri": round(float(np.mean(imp[sel])), 2),
        }
    return out
