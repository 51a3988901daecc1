"""Model cards for shipped weights: ``models/weights/<name>.md`` next to ``<name>.safetensors``.

``python -m rtaudio.train.card NAME [--weights FILE] [--eval tests/data/eval] [--notes TEXT]``
writes a card from what the weights file records (training steps, wall time, data summary,
held-out test metrics) plus what it measures now: parameters, MACs, the per-chunk real-time
factor at 10 ms chunks on one CPU thread (``rtaudio bench models``' timing), and the metrics on
the fixed evaluation set kept in the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import torch

import rtaudio.models as models
from rtaudio.bench import cpu_name, g2p_speed, time_step
from rtaudio.data.lexicon import KINDS
from rtaudio.spectrogram_image import IMAGE_FAMILIES
from rtaudio.train import provenance
from rtaudio.train.evaluate import EvalOptions, evaluate, interval_text
from rtaudio.train.g2p_task import running_text
from rtaudio.weights import shipped_weights_dir

TARGETS = {
    "swishnet": ("accuracy", 0.95, ">= 95 % 3-class accuracy on 1 s windows of held-out sources"),
    "mitas": (
        "median_si_snri",
        10.0,
        "median SI-SNR improvement >= 10 dB on -5..10 dB speech + noise / music mixtures",
    ),
    "tsenet": (
        "median_si_snri",
        8.0,
        "median SI-SDR improvement >= 8 dB, two speakers, unseen enrollment utterance",
    ),
    "esresnet": (
        "balanced_accuracy",
        0.80,
        ">= 80 % accuracy on its classes (checked as the mean per-class recall)",
    ),
    "image": ("accuracy", 0.90, ">= 90 % 3-class accuracy (speech / music / noise)"),
    "slicenet": (
        "per",
        0.08,
        "phoneme error rate <= 8 % on held-out words, eSpeak NG en-us as the reference "
        "(G2P models of CMUdict's size reach 5-6 %)",
    ),
}
LOWER_IS_BETTER = frozenset({"per"})
G2P_EVAL = Path("tests/data/g2p")  # the repository's fixed held-out words (slicenet_g2p)
G2P_WORD = 8  # letters of the word the speed and MACs are measured on (the lexicon's mean)


def meets(key: str, value: float, goal: float) -> bool:
    return value <= goal if key in LOWER_IS_BETTER else value >= goal


def target_of(name: str) -> tuple[str, float, str]:
    fam = models.get_variant(name).family
    return TARGETS["image" if fam in IMAGE_FAMILIES else fam]


def speed(name: str, model: torch.nn.Module) -> dict[str, Any]:
    """Per-chunk cost on one thread: streaming models at 10 ms chunks; window classifiers per
    1 s window (and amortised over the engine's label hop)."""
    torch.set_num_threads(1)
    fam = models.get_variant(name).family
    cpu = f"{cpu_name()}, {os.cpu_count()} logical cores"
    if fam == "slicenet":
        return {**g2p_speed(model, G2P_WORD), "cpu": cpu}
    if fam in ("mitas", "tsenet", "swishnet"):
        t = time_step(name, 10.0, calls=400, net=model)
        return {
            "chunk_ms": 10.0,
            "median_ms": t.median_ms,
            "p95_ms": t.p95_ms,
            "rtf": t.rtf,
            "cpu": cpu,
        }
    cfg: Any = model.config
    if fam == "esresnet":
        x = torch.randn(1, 16000)
        hop_ms = 500.0
    else:
        x = torch.randn(1, cfg.in_chans, cfg.resolution, cfg.resolution)
        hop_ms = 500.0
    times = []
    with torch.inference_mode():
        for i in range(60):
            t0 = time.perf_counter()
            model(x)
            if i >= 10:
                times.append(time.perf_counter() - t0)
    times.sort()
    med = times[len(times) // 2] * 1000
    return {
        "window_ms": 1000.0,
        "median_ms": round(med, 3),
        "hop_ms": hop_ms,
        "rtf": round(med / hop_ms, 4),
        "cpu": cpu,
    }


def macs_per_second(name: str, model: torch.nn.Module) -> int:
    """MACs per second of audio, per image, or (SliceNet) per word of 8 letters and 9 tokens."""
    from rtaudio.bench import example_input

    fam = models.get_variant(name).family
    if fam == "slicenet":
        src = torch.ones(1, G2P_WORD, dtype=torch.int64)
        return models.count_macs(model, src, torch.ones(1, G2P_WORD + 1, dtype=torch.int64))
    if fam in IMAGE_FAMILIES:
        cfg: Any = model.config
        return models.count_macs(
            model, torch.randn(1, cfg.in_chans, cfg.resolution, cfg.resolution)
        )
    args, kwargs = example_input(name)
    if fam == "esresnet":
        args = (torch.randn(1, 16000),)
    return models.count_macs(model, *args, **kwargs)


def _spread(examples: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """``n`` of the examples, as many of each kind as there is room for (words, then names)."""
    kinds = list(dict.fromkeys(e.get("kind", "word") for e in examples)) or ["word"]
    each = max(1, n // len(kinds))
    return [e for k in kinds for e in [x for x in examples if x.get("kind", "word") == k][:each]]


def _fmt_metrics(rep: dict[str, Any]) -> list[str]:
    if "per" in rep:  # grapheme-to-phoneme
        iv = rep["interval"]
        lines = [
            f"- phoneme error rate **{rep['per']:.4f}** (95 % interval {iv['per'][0]:.4f}-"
            f"{iv['per'][1]:.4f}, resampling the words), {rep['per_no_stress']:.4f} with the "
            f"stress marks left out; word error rate {rep['wer']:.4f} ({iv['wer'][0]:.4f}-"
            f"{iv['wer'][1]:.4f}); n = {rep['n']} words, {rep['tokens']} phoneme tokens",
        ]
        by_kind = rep.get("by_kind", {})
        for kind, k in sorted(by_kind.items(), key=lambda kv: KINDS.index(kv[0])):
            lines.append(
                f"- {kind}s: phoneme error rate **{k['per']:.4f}** ({k['interval']['per'][0]:.4f}-"
                f"{k['interval']['per'][1]:.4f}), word error rate {k['wer']:.4f}; n = {k['n']}"
            )
        if "text" in rep:
            t = rep["text"]
            lines.append(
                f"- {running_text(t)}: phoneme error rate {t['per']:.4f}, word error rate "
                f"{t['wer']:.4f}"
            )
        if rep.get("wrong_examples"):
            lines.append(
                "- words it got wrong (reference -> output): "
                + "; ".join(
                    f"{e['word']}{' (name)' if e.get('kind') == 'name' else ''} "
                    f"/{e['reference']}/ -> /{e['output']}/"
                    for e in _spread(rep["wrong_examples"], 6)
                )
            )
        return lines
    if "confusion" in rep:
        lines = [
            f"- accuracy **{rep['accuracy']:.3f}**, "
            f"balanced accuracy {rep['balanced_accuracy']:.3f}, "
            f"macro F1 {rep['macro_f1']:.3f} (n = {rep['n']} windows of 1 s, "
            f"{rep.get('sources', '?')} sources)",
            "- per class (precision / recall / F1 / support): "
            + "; ".join(
                f"{k} {v['precision']:.2f} / {v['recall']:.2f} / {v['f1']:.2f} / {v['support']}"
                for k, v in rep["per_class"].items()
            ),
        ]
        if "interval_95" in rep:
            lines.append(f"- {interval_text(rep['interval_95'])}")
        if "real_only" in rep:
            r = rep["real_only"]
            lines.append(
                f"- real recordings only: accuracy {r['accuracy']:.3f}, balanced "
                f"{r['balanced_accuracy']:.3f} (n = {r['n']})"
            )
        lv = rep.get("live")
        if lv and lv.get("n"):
            lines.append(
                f"- as live in the engine (10 ms chunks, hop {lv['hop_ms']:g} ms, window "
                f"{lv['window_ms']:g} ms, lookahead {lv['lookahead_ms']:g} ms): accuracy "
                f"**{lv['accuracy']:.3f}**, balanced {lv['balanced_accuracy']:.3f} "
                f"(n = {lv['n']} labels)"
            )
        return lines
    lines = [
        f"- median SI-SNR improvement **{rep['median_si_snri']:.2f} dB** (mean "
        f"{rep['mean_si_snri']:.2f} dB) over {rep['n']} mixtures of "
        f"{rep['seconds_per_mixture']:g} s "
        f"at {rep['input_range_db'][0]:g}..{rep['input_range_db'][1]:g} dB",
        "- by input SNR: "
        + "; ".join(
            f"{b}: {m['median_si_snri']:.2f} dB (n={m['n']})"
            for b, m in rep["by_input_snr"].items()
        ),
    ]
    if rep.get("by_group"):
        lines.append(
            "- by group: "
            + "; ".join(
                f"{g}: {m['median_si_snri']:.2f} dB (n={m['n']})"
                for g, m in rep["by_group"].items()
            )
        )
    return lines


def _value(rep: dict[str, Any], key: str) -> float:
    return float(rep[key])


def _shown(path: Path) -> str:
    """``path`` relative to the working directory where it lies below it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _short_path(path: Any) -> str:
    """A warm start's path with no trace of this machine's folders: relative to the repository
    when it lies inside it, else its last two parts (run folder and file); relative paths and
    descriptions stay as given."""
    p = Path(str(path))
    if not p.is_absolute():
        return str(path)
    try:
        return str(p.relative_to(Path(__file__).resolve().parents[2]))
    except ValueError:
        return "/".join(p.parts[-2:])


# hyper-parameter -> `rtaudio train` flag, for the card's reproduce line
_FLAGS = {
    "batch_size": "--batch-size",
    "lr": "--lr",
    "segment_seconds": "--segment-seconds",
    "val_every": "--val-every",
    "patience": "--patience",
    "class_power": "--class-power",
    "frequency_share": "--frequency-share",
    "speed": "--speed",
    "mixup": "--mixup",
    "ema": "--ema",
}


def _train_flags(meta: dict[str, Any]) -> str:
    """The `rtaudio train` flags that give a run its recorded hyper-parameters (and warm start)."""
    hp = meta.get("hparams") or {}
    out = [f" {flag} {hp[k]:g}" for k, flag in _FLAGS.items() if hp.get(k) is not None]
    for key, value in (hp.get("config") or {}).items():
        out.append(f" --config {key}={json.dumps(value, separators=(',', ':'))}")
    for t in hp.get("teachers") or []:
        out.append(f" --teacher {_short_path(t['file'])}")
    if hp.get("teachers"):
        out.append(f" --distill {hp['distill']:g}")
    init = meta.get("initialised_from") or {}
    src = str(init.get("from", ""))
    if src.endswith((".safetensors", ".ckpt")) and " " not in src:  # a path, not a description
        out.append(f" --init {_short_path(src)}")
    return "".join(out)


def card_notes(card: str) -> str:
    """The text of a card's Notes section ("" when it has none)."""
    m = re.search(r"^## Notes\n(.*?)(?=^## |\Z)", card, flags=re.M | re.S)
    return m.group(1).strip() if m else ""


def _where(device: str | None) -> str:
    if not device or device == "cpu":  # recorded before threads were
        return "one CPU thread of a 2-core machine shared with other jobs"
    m = re.fullmatch(r"cpu \((\d+) of (\d+) threads\)", device)
    if m:
        used, cores = int(m.group(1)), int(m.group(2))
        threads = "one CPU thread" if used == 1 else f"{used} CPU threads"
        return f"{threads} of a machine with {cores} logical cores"
    return str(device)


def write_card(
    name: str,
    weights: Path | None = None,
    eval_dir: Path | None = Path("tests/data/eval"),
    notes: str | None = None,
    out: Path | None = None,
) -> Path:
    """Write the card of ``weights`` to ``out`` (default: next to the weights).

    ``notes`` is the text of the Notes section; ``None`` keeps the Notes of the card being
    replaced (regenerating a card after a re-measurement must not lose what was written by
    hand), ``""`` writes none.
    """
    weights = Path(weights) if weights else shipped_weights_dir() / f"{name}.safetensors"
    out = out or weights.with_suffix(".md")
    if notes is None:
        notes = card_notes(out.read_text()) if out.is_file() else ""
    fam = models.get_variant(name).family
    model = models.load(weights, family=fam)
    meta: dict[str, Any] = getattr(model, "meta", {})
    if fam == "slicenet" and eval_dir == Path("tests/data/eval"):
        eval_dir = G2P_EVAL
    params = models.count_params(model)
    macs = macs_per_second(name, model)
    sp = speed(name, model)
    key, goal, goal_text = target_of(name)
    test = meta.get("metrics", {}).get("test", {})
    repo: dict[str, Any] | None = None
    if eval_dir is not None and any(
        (Path(eval_dir) / f).is_file() for f in ("manifest.csv", "lexicon.tsv")
    ):
        repo = evaluate(
            EvalOptions(model=name, data=Path(eval_dir), weights=weights, mixtures=100),
            log=lambda s: None,
        )
    data = meta.get("data", {})
    hp = meta.get("hparams", {})
    per = "image" if fam in IMAGE_FAMILIES else "second of audio"
    if fam == "slicenet":
        per = f"word ({G2P_WORD} letters in, {G2P_WORD + 1} tokens out, teacher-forced)"
    size_kib = weights.stat().st_size / 1024
    title = models.get_variant(name).description
    if fam in IMAGE_FAMILIES:
        # the registry describes the ImageNet / 10-class head; this file's counts are below
        cfg: Any = model.config
        if fam == "pydmobilenet":  # the registry describes the CIFAR network at 32 x 32
            arch = f"PydMobileNet-{cfg.depth}-{cfg.width:g}, {cfg.block} blocks"
        else:
            arch = re.sub(r" \(\d+ classes\)$", "", title.split(", ImageNet")[0])
        if f"{cfg.resolution}x{cfg.resolution}" not in arch:
            arch += f", {cfg.resolution} x {cfg.resolution} input"
        title = f"speech / music / noise classifier of log-mel images (architecture: {arch})"
    lines = [
        f"# `{weights.name}`: {title}",
        "",
        f"Trained with `rtaudio train {name}`; the numbers below are measured, not claimed. "
        + (
            "Target set before training (issue 4 names none for SliceNet)."
            if fam == "slicenet"
            else "Targets from issue 4."
        ),
        "",
        "| | |",
        "|---|---|",
        f"| model | `{name}` (family `{fam}`), {params:,} parameters, "
        f"{macs / 1e6:,.1f} M MACs per {per} |",
        f"| file | `{weights.name}`, {size_kib:,.0f} KiB (safetensors, config in the metadata) |",
    ]
    if "word_ms" in sp:
        lines.append(
            f"| speed (1 thread of {sp['cpu']}) | {sp['word_ms']:.2f} ms to transcribe a word "
            f"of {G2P_WORD} letters alone, {sp['batched_word_ms']:.3f} ms per word in batches "
            "of 256 (greedy decoding with the streaming `step`) |"
        )
    elif "chunk_ms" in sp:
        lines.append(
            f"| speed (1 thread of {sp['cpu']}) | {sp['median_ms']:.3f} ms per 10 ms "
            f"chunk (p95 {sp['p95_ms']:.3f} ms): RTF **{sp['rtf']:.3f}** at 10 ms chunks |"
        )
    else:
        lines.append(
            f"| speed (1 thread of {sp['cpu']}) | {sp['median_ms']:.2f} ms per 1 s "
            f"window; at one label per {sp['hop_ms']:g} ms: RTF **{sp['rtf']:.3f}** |"
        )
    if meta.get("labels"):
        lines.append(f"| classes | {', '.join(meta['labels'])} |")
    lines += [
        f"| training | {meta.get('steps', '?')} steps (best validation at step "
        f"{meta.get('best_step', '?')}; stopped: {meta.get('stopped', '?')}), batch "
        f"{hp.get('batch_size', '?')}, Adam lr {hp.get('lr', '?')}, seed {meta.get('seed', '?')}, "
        f"{meta.get('wall_time_s', 0) / 3600:.2f} h wall time on {_where(meta.get('device'))} |",
    ]
    init, depth = meta.get("initialised_from"), 0
    while init:
        # a chain of fine-tunes: the first row is this run's start, the next that file's own
        what = ("warm start", "which had started from")[depth] if depth < 2 else "before that"
        depth += 1
        lines.append(
            f"| {what} | `{_short_path(init.get('from'))}` ({init.get('model')}, weights of step "
            f"{init.get('steps')}, {float(init.get('wall_time_s') or 0) / 3600:.2f} h"
            + (f" on {_where(init['device'])}" if init.get("device") else "")
            + ") |"
        )
        init = init.get("before")
    scale = meta.get("output_scale")
    if isinstance(scale, dict):
        lv = scale.get("speech_level_db", {})
        lines.append(
            f"| output scale | {scale['gain_db']:+.2f} dB"
            + (" and the polarity inverted" if scale.get("polarity") == "inverted" else "")
            + " folded into the decoder, so speech "
            f"comes back at its input level (SI-SNR training leaves the scale free: before, it "
            f"came back {lv.get('median', 0):+.1f} dB, {lv.get('p10', 0):+.1f}..."
            f"{lv.get('p90', 0):+.1f} dB p10...p90, over {scale.get('mixtures')} "
            f"{scale.get('split')} mixtures) |"
        )
    lines += [
        f"| target | {goal_text} |",
    ]
    test_ok = key in test and meets(key, _value(test, key), goal)
    repo_ok = repo is not None and meets(key, _value(repo, key), goal)
    if test:
        lines.append(
            f"| held-out test split | {key} {_value(test, key):.3f}: target "
            f"{'**met**' if test_ok else '**not met**'} |"
        )
    if repo is not None:
        lines.append(
            f"| repo evaluation set (`{eval_dir}`) | {key} {_value(repo, key):.3f}: target "
            f"{'**met**' if repo_ok else '**not met**'} |"
        )
    held = "words" if fam == "slicenet" else "sources"
    lines += ["", f"## Held-out metrics (`test` split: {held} never seen in training)", ""]
    test_data = meta.get("metrics", {}).get("test_data")
    if test and test_data:
        lines.append(
            f"- test split of corpus `{test_data['corpus']}` (manifest sha256 "
            f"`{str(test_data['manifest_sha256'])[:16]}...`)"
        )
    lines += _fmt_metrics(test) if test else ["- (not recorded)"]
    if meta.get("metrics", {}).get("validation"):
        v = meta["metrics"]["validation"]
        lines.append(
            "- best validation: " + ", ".join(f"{k} {x}" for k, x in v.items() if k != "score")
        )
    if repo is not None:
        lines += ["", f"## Fixed evaluation set in the repository (`{eval_dir}`)", ""]
        lines += _fmt_metrics(repo)
        mixtures = repo.get("n") if "median_si_snri" in repo else None  # a separator's
        lines.append(
            f"- reproduce: `rtaudio evaluate {name} --data {eval_dir}"
            + (f" --weights {_shown(weights)}" if fam in IMAGE_FAMILIES else "")
            + (f" --mixtures {mixtures}" if mixtures else "")
            + "`"
        )
    lines += ["", "## Data", ""]
    if fam == "slicenet":
        lines += _lexicon_lines(data, provenance.recorded(meta))
    else:
        lines += _corpus_lines(data, hp, meta)
    if notes:
        lines += ["", "## Notes", "", notes.strip()]
    corpus = data.get("corpus", "CORPUS")
    lines += ["", "## Reproduce / continue", "", "```"]
    if fam == "slicenet":
        lines.append(f"rtaudio data lexicon --out {corpus}")
    lines += [
        f"rtaudio train {name} --data {corpus} --out {name}.safetensors "
        f"--steps {meta.get('steps', 'N')} --seed {meta.get('seed', 0)}{_train_flags(meta)}",
        f"rtaudio evaluate {name} --data {corpus} --weights {name}.safetensors",
        "```",
        "",
    ]
    out.write_text("\n".join(lines))
    return out


def _learnt_words(learnt: tuple[set[str], bool] | None) -> str:
    """The lexicon train splits a file learnt from, and how many words it learnt that the
    word's hash holds out (frequent words), with a few of them."""
    if learnt is None:
        return "not recorded"
    splits = sorted(x for x in learnt[0] if x.startswith("lexicon words"))
    moved = sorted(learnt[0] - set(splits))
    text = ", ".join(splits)
    if moved:
        text += (
            f"; and {len(moved)} frequent words that the hash holds out ({', '.join(moved[:8])}...)"
        )
    return text + ("" if learnt[1] else " (and an unrecorded ancestor)")


def _lexicon_lines(data: dict[str, Any], learnt: tuple[set[str], bool] | None) -> list[str]:
    lx = data.get("lexicon", {})
    words = lx.get("words", {})
    left = lx.get("left_out") or {}
    kinds = lx.get("kinds") or {}
    which = "lower-case words"
    if kinds.get("name"):
        which += (
            f" ({kinds.get('word', 0):,}) and capitalised names, lower-cased ({kinds['name']:,})"
        )
    return [
        f"- lexicon `{data.get('corpus', '?')}` built by `rtaudio data lexicon` from "
        f"`{lx.get('words_file')}` (sha256 `{str(lx.get('words_file_sha256'))[:16]}...`, its "
        f"{which}) with {lx.get('espeak_ng')}, voice {lx.get('voice')}; lexicon.tsv "
        f"sha256 `{str(data.get('manifest_sha256', '?'))[:16]}...`",
        "- entries per split: "
        + ", ".join(f"{k} {words[k]:,}" for k in ("train", "validation", "test") if k in words)
        + f"; split by the word alone ({lx.get('split_rule')}), so a test word is never a "
        "training word of any lexicon rtaudio builds"
        + (
            f"; except that {lx['frequent_rule']} (frequencies: {lx.get('frequencies')})"
            if lx.get("frequent_rule")
            else ""
        ),
        "- left out: "
        + ("; ".join(f"{v} {k}" for k, v in left.items()) if left else "none")
        + " (roman numerals: eSpeak NG reads 'xiv' as 'roman fourteen')",
        "- learnt from: " + _learnt_words(learnt),
        "- the reference is eSpeak NG's rules and exception lists, not a human-checked "
        "dictionary: the metrics say how closely the network reproduces eSpeak NG",
    ]


def _corpus_lines(data: dict[str, Any], hp: dict[str, Any], meta: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    made = "built by `rtaudio data build`"
    packed = data.get("packed_from")
    if packed:  # scripts/pack_corpus.py: a subset for a remote (GPU) machine
        made = (
            f"(a {packed.get('mb')} MB subset of `{packed.get('corpus')}`, manifest sha256 "
            f"`{str(packed.get('manifest_sha256'))[:16]}...`, packed by "
            f"`scripts/pack_corpus.py`: every source kept, Ogg Vorbis), {made}"
        )
    lines.append(
        f"- corpus `{data.get('corpus', '?')}` {made} "
        f"(builder seed {data.get('builder_seed', '?')}), manifest sha256 "
        f"`{str(data.get('manifest_sha256', '?'))[:16]}...`; splits are by source "
        "(speaker, voice, soundfont, recording), never by clip"
    )
    hours = data.get("hours", {})
    if hours:
        lines.append(
            "- hours per kind / split: " + ", ".join(f"{k} {v:.2f}" for k, v in hours.items())
        )
    real = data.get("real_hours", {})
    if real:
        lines.append(
            "- of which real recordings: " + ", ".join(f"{k} {v:.2f}" for k, v in real.items())
        )
    srcs = data.get("sources", {})
    if srcs:
        lines.append(
            "- sources per kind / split: " + ", ".join(f"{k} {v}" for k, v in srcs.items())
        )
    learnt = provenance.recorded(meta)
    lines.append(
        "- sources learnt from, with those of its start weights and teachers: "
        + (
            f"{len(learnt[0]):,}, listed in the file's `trained_on` metadata"
            + ("" if learnt[1] else " (incomplete: an ancestor's sources are not recorded)")
            + "; `rtaudio evaluate --unseen-only` leaves them out of any corpus"
            if learnt is not None
            else "not recorded (trained before rtaudio kept that record)"
        )
    )
    for kind, pk in data.get("packages", {}).items():
        lines.append(f"- {kind} from: {', '.join(pk)}")
    if data.get("licenses"):
        lines.append("- licences of the audio: " + "; ".join(data["licenses"]))
    for n in data.get("notes", []):
        lines.append(f"- note: {n}")
    lines += [
        "- training augmentation: random EQ, simulated-room reverberation, resampling through "
        "8 / 11 / 22 kHz, codec band limits, clipping, level -30..0 dB around -20 dBFS, a faint "
        "noise floor (`rtaudio.train.corpus.Augmenter`, built on `rtaudio.data.augment`)"
        + (
            f"; half the examples played at a random speed in 1/{1 + hp['speed']:g}.."
            f"{1 + hp['speed']:g} (`--speed {hp['speed']:g}`)"
            if hp.get("speed")
            else ""
        )
        + (
            f"; batches blended with a shuffled copy, weights ~ Beta({hp['mixup']:g}, "
            f"{hp['mixup']:g}) (`--mixup {hp['mixup']:g}`)"
            if hp.get("mixup")
            else ""
        ),
    ]
    if hp.get("teachers"):
        lines.append(
            f"- distilled from {len(hp['teachers'])} trained model(s), their soft labels "
            f"averaged (temperature {hp.get('temperature', 2):g}, weight {hp['distill']:g} "
            "against the labels): "
            + ", ".join(f"`{_short_path(t['file'])}`" for t in hp["teachers"])
        )
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description="write a model card next to shipped weights")
    p.add_argument("name")
    p.add_argument("--weights")
    p.add_argument("--eval", default="tests/data/eval")
    p.add_argument(
        "--notes",
        default=None,
        help="text (or @FILE) for the Notes section; default: keep the Notes of the card "
        "being replaced; '' for none",
    )
    p.add_argument("--out")
    a = p.parse_args()
    notes = a.notes
    if notes is not None and notes.startswith("@"):
        notes = Path(notes[1:]).read_text()
    path = write_card(
        a.name,
        Path(a.weights) if a.weights else None,
        Path(a.eval) if a.eval else None,
        notes,
        Path(a.out) if a.out else None,
    )
    print(json.dumps({"card": str(path)}))


if __name__ == "__main__":
    main()
