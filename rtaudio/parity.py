"""``rtaudio parity``: do the streaming and offline paths agree, and do the models agree?

1. For every audio model, streaming (chunked ``step``, as live) against offline (whole-file
   ``forward``) on the same files: largest score difference, label agreement, and for the
   separator the largest sample difference of the voice.
2. SwishNet's labels against the spectrogram image classifiers (MobileNet, Xception) on the
   log-mel images of the very windows SwishNet looked at: agreement and confusion matrices.

Writes ``parity.md``, ``parity.json`` and ``confusion_<model>.png`` into ``--out``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rtaudio.audiofile import read_audio
from rtaudio.batch import FileProcessor, _atomic_write, discover
from rtaudio.classify import SILENCE
from rtaudio.config import SAMPLE_RATE, EngineConfig
from rtaudio.spectrogram_image import IMAGE_FAMILIES


def _compare_paths(fp: FileProcessor, src: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    stream, v_stream = fp.run(src, offline=False)
    offline, v_off = fp.run(src, offline=True)
    out: dict[str, Any] = {}
    for model, segs in stream["segments"].items():
        other = offline["segments"][model]
        diffs = [
            max((abs(a["scores"][k] - b["scores"][k]) for k in a["scores"]), default=0.0)
            for a, b in zip(segs, other, strict=True)
        ]
        agree = [a["label"] == b["label"] for a, b in zip(segs, other, strict=True)]
        out[model] = {
            "labels": len(segs),
            "max_abs_score_diff": float(max(diffs, default=0.0)),
            "label_agreement": float(np.mean(agree)) if agree else 1.0,
        }
    if v_stream is not None and v_off is not None:
        out[stream["separation"]] = {
            "samples": int(v_stream.size),
            "max_abs_diff": float(np.abs(v_stream - v_off).max()) if v_stream.size else 0.0,
            "peak": float(np.abs(v_off).max()) if v_off.size else 0.0,
        }
    return out, stream


def _confusion_png(
    matrix: np.ndarray, rows: list[str], cols: list[str], title: str, path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(cols), 1.0 + 0.8 * len(rows)), dpi=120)
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel(title.split(" vs ")[-1])
    ax.set_ylabel("swishnet")
    for i in range(len(rows)):
        for j in range(len(cols)):
            ax.text(
                j,
                i,
                str(int(matrix[i, j])),
                ha="center",
                va="center",
                color="white" if matrix[i, j] > matrix.max() / 2 else "black",
            )
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def run_parity(
    inputs: Sequence[str | Path],
    out: str | Path,
    cfg: EngineConfig,
    image_weights: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    from rtaudio.images import load_classifier
    from rtaudio.spectrogram_image import logmel_image

    out = Path(out)
    jobs = discover(inputs)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    fp = FileProcessor(cfg)
    report: dict[str, Any] = {"files": [], "streaming_vs_offline": {}, "image_agreement": {}}
    per_model: dict[str, list[dict[str, Any]]] = {}
    windows: list[tuple[str, np.ndarray]] = []  # (swishnet label, its window's audio)
    for job in jobs:
        try:
            cmp, stream = _compare_paths(fp, job.src)
        except ValueError as e:
            report["files"].append({"path": str(job.rel), "error": str(e)})
            continue
        report["files"].append({"path": str(job.rel), **cmp})
        for model, r in cmp.items():
            per_model.setdefault(model, []).append(r)
        audio = read_audio(job.src)
        for seg in stream["segments"].get("swishnet", []):
            if seg["label"] == SILENCE:
                continue
            end = seg["end"] + cfg.swishnet_lookahead_ms / 1000
            a = round(max(0.0, end - 1.0) * SAMPLE_RATE)
            w = audio[a : a + SAMPLE_RATE]
            windows.append((seg["label"], np.pad(w, (0, SAMPLE_RATE - w.size))))
    for model, rs in per_model.items():
        if "max_abs_score_diff" in rs[0]:
            report["streaming_vs_offline"][model] = {
                "max_abs_score_diff": max(r["max_abs_score_diff"] for r in rs),
                "label_agreement": float(np.mean([r["label_agreement"] for r in rs])),
                "labels": sum(r["labels"] for r in rs),
            }
        else:
            report["streaming_vs_offline"][model] = {
                "max_abs_voice_diff": max(r["max_abs_diff"] for r in rs),
                # the voice keeps the input's level (rtaudio.agc): relative to each file's peak
                "max_rel_voice_diff": max(r["max_abs_diff"] / max(r["peak"], 1e-9) for r in rs),
                "samples": sum(r["samples"] for r in rs),
            }
    sw_classes = ["speech", "music", "noise"]
    for kind in IMAGE_FAMILIES:
        try:
            clf = load_classifier(kind, (image_weights or {}).get(kind))
        except ValueError as e:  # no shipped / given weights: say so in the report
            report["image_agreement"][kind] = {"skipped": str(e)}
            continue
        if not windows:
            report["image_agreement"][kind] = {"skipped": "no non-silent SwishNet windows"}
            continue
        from PIL import Image

        from rtaudio.images import preprocess

        preds: list[str] = []
        for b in range(0, len(windows), 64):
            xs = []
            for _, w in windows[b : b + 64]:
                img = Image.fromarray(np.round(logmel_image(w)[0] * 255).astype(np.uint8), "L")
                xs.append(preprocess(img, clf.config))
            with torch.inference_mode():
                idx = clf.model(torch.stack(xs)).argmax(-1).tolist()
            preds.extend(clf.classes[i] for i in idx)
        # SwishNet's classes in its order (the diagonal: agreement), then any others
        rank = {c: i for i, c in enumerate(sw_classes)}
        cols = sorted(set(clf.classes) | set(preds), key=lambda c: (rank.get(c, len(rank)), c))
        m = np.zeros((len(sw_classes), len(cols)), int)
        for (sw, _), p in zip(windows, preds, strict=True):
            if sw in sw_classes:
                m[sw_classes.index(sw), cols.index(p)] += 1
        png = out / f"confusion_{kind}.png"
        _confusion_png(m, sw_classes, cols, f"swishnet vs {kind}", png)
        report["image_agreement"][kind] = {
            "weights": clf.source,
            "windows": len(windows),
            "agreement": float(
                np.mean([sw == p for (sw, _), p in zip(windows, preds, strict=True)])
            ),
            "confusion": {"rows": sw_classes, "cols": cols, "matrix": m.tolist()},
            "png": png.name,
        }
    _atomic_write(out / "parity.json", json.dumps(report, indent=1).encode())
    _atomic_write(out / "parity.md", _markdown(report).encode())
    return report


def _markdown(r: dict[str, Any]) -> str:
    lines = [
        "# rtaudio parity report",
        "",
        "## Streaming vs offline",
        "",
        "| model | compared | max abs difference | label agreement |",
        "|---|---:|---:|---:|",
    ]
    for model, v in r["streaming_vs_offline"].items():
        if "label_agreement" in v:
            lines.append(
                f"| {model} | {v['labels']} labels | {v['max_abs_score_diff']:.2e} (scores) | "
                f"{v['label_agreement']:.1%} |"
            )
        else:
            lines.append(
                f"| {model} | {v['samples']} samples | {v['max_abs_voice_diff']:.2e} (voice; "
                f"{v['max_rel_voice_diff']:.1e} of its peak) | - |"
            )
    lines += ["", "## SwishNet vs the spectrogram image classifiers", ""]
    for kind, v in r["image_agreement"].items():
        if "skipped" in v:
            lines.append(f"- **{kind}**: skipped ({v['skipped']})")
            continue
        lines.append(
            f"- **{kind}** ({v['weights']}): {v['agreement']:.1%} agreement on {v['windows']} "
            f"windows; confusion matrix: ![{kind}]({v['png']})"
        )
        c = v["confusion"]
        lines += [
            "",
            "| swishnet \\ " + kind + " | " + " | ".join(c["cols"]) + " |",
            "|---|" + "---:|" * len(c["cols"]),
        ]
        for name, row in zip(c["rows"], c["matrix"], strict=True):
            lines.append(f"| {name} | " + " | ".join(str(x) for x in row) + " |")
        lines.append("")
    lines += ["", "## Files", ""]
    for f in r["files"]:
        lines.append(f"- {f['path']}" + (f": error: {f['error']}" if "error" in f else ""))
    return "\n".join(lines) + "\n"
