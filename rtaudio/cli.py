"""The ``rtaudio`` command line."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


MAX_WORKERS = 256  # --workers beyond this is a typo, not a machine


SEED_MAX = 2**32 - 1  # numpy's seeds
PROGRESS_WORDS = 5000  # rtaudio g2p shows a bar from this many words (about 2 s)


def _ranged(
    kind: type[int] | type[float], lo: float, hi: float, lo_open: bool = False
) -> Callable[[str], Any]:
    """An argparse ``type``: a number of ``kind`` in ``[lo, hi]`` (``(lo, hi]`` if
    ``lo_open``); anything else, NaN included, is refused with the range in the message."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not ((lo < value) if lo_open else (lo <= value)) or not value <= hi:
            low = f"more than {_num(lo)}" if lo_open else f"at least {_num(lo)}"
            raise argparse.ArgumentTypeError(f"must be {low} and at most {_num(hi)}, got {text}")
        return value

    return parse


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _positive(name: str, value: float | None, maximum: float = float("inf")) -> None:
    """Refuse ``value`` unless ``0 < value <= maximum`` (NaN included)."""
    if value is not None and not 0 < value <= maximum:
        raise CliError(
            f"{name} must be positive"
            + (f" and at most {maximum:g}" if maximum < float("inf") else "")
        )


def _cmd_bench(args: argparse.Namespace) -> int:
    from rtaudio import bench
    from rtaudio import models as models
    from rtaudio.config import whole_samples

    _positive("--seconds", args.seconds, 3600)
    if not 1 <= args.calls <= 1_000_000:
        raise CliError("--calls must be 1..1000000")
    for c in args.chunk_ms:
        _positive("--chunk-ms", c, 1000)
        if not whole_samples(c):
            raise CliError(f"--chunk-ms {c:g} is not a whole number of 16 kHz samples")
    if args.what == "loopback":
        from rtaudio import config
        from rtaudio.bench_loopback import LoopbackError, format_report, measure

        overrides: dict[str, object] = {"chunk_ms": args.chunk_ms[0]}
        for key, value in (
            ("input_device", args.input),
            ("output_device", args.output),
            ("host_latency_ms", args.host_latency_ms),
        ):
            if value is not None:
                overrides[key] = value
        try:
            report = measure(
                config.load(None, **overrides),
                chirps=args.chirps,
                spacing_s=args.longest_ms / 1000,
            )
        except LoopbackError as e:
            hint = " (or the loop is longer: --longest-ms)" if "came back within" in str(e) else ""
            print(f"rtaudio bench loopback: {e}{hint}", file=sys.stderr)
            return 1
        print(json.dumps(report, indent=2) if args.json else format_report(report))
        return 0
    if args.what == "g2p":
        from rtaudio.g2p import G2P

        r = bench.g2p_speed(G2P().model)
        print(json.dumps(r, indent=2) if args.json else bench.format_g2p(r))
        return 0
    if args.what == "pipeline":
        from rtaudio.bench_pipeline import bench_pipeline, format_pipeline

        report = bench_pipeline(args.chunk_ms, seconds=args.seconds, source=args.source)
        print(json.dumps(report, indent=2) if args.json else format_pipeline(report))
        return 0
    names = args.model or list(bench.CAUSAL_AUDIO_MODELS)
    unknown = [n for n in names if n not in models.list_models()]
    if unknown:
        raise CliError(f"unknown model(s) {', '.join(unknown)}")
    other = [n for n in names if n not in bench.CAUSAL_AUDIO_MODELS]
    if other:
        raise CliError(
            f"{', '.join(other)}: not a causal audio model (`bench models` times the step of "
            f"{', '.join(bench.CAUSAL_AUDIO_MODELS)}; ESResNet is timed in `bench pipeline`, "
            "SliceNet in `bench g2p`)"
        )
    rows = bench.bench_models(names, args.chunk_ms, calls=args.calls)
    print(bench.to_json(rows) if args.json else bench.format_table(rows))
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    if args.shipped:
        return _shipped_models(args.model)
    import rtaudio.models as models

    names = args.model or models.list_models()
    for name in names:  # every name checked before the first line is printed
        models.get_variant(name)
    if args.markdown:
        print("| name | family | what it is | params | MACs |\n|---|---|---|---:|---:|")
    for name in names:
        v = models.get_variant(name)
        if args.markdown or args.stats:
            from rtaudio.bench import model_stats

            params, macs = model_stats(name)
            if args.markdown:
                print(
                    f"| `{name}` | {v.family} | {v.description} | {params:,} | {macs / 1e6:,.1f}M |"
                )
            else:
                print(
                    f"{name:<22} {v.family:<13} {params:>12,} {macs / 1e6:>12,.1f}M  "
                    f"{v.description}"
                )
        else:
            print(f"{name:<22} {v.family:<13} {v.description}")
    return 0


def _shipped_models(only: list[str] | None = None) -> int:
    """The weights that ship with rtaudio (``only``: those of these names): size, held-out
    result, whether it meets its target (from the model card beside it)."""
    from rtaudio.weights import quality, shipped_weights_dir

    folder = shipped_weights_dir()
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        print(f"rtaudio models: no weights in {folder}", file=sys.stderr)
        return 1
    if only:
        unknown = sorted(set(only) - {f.stem for f in files})
        if unknown:
            raise CliError(
                f"no shipped weights for {', '.join(unknown)} (shipped: "
                f"{', '.join(f.stem for f in files)})"
            )
        files = [f for f in files if f.stem in only]
    print(f"trained weights in {folder} (each with its model card, NAME.md):")
    for f in files:
        card = f.with_suffix(".md")
        text = card.read_text() if card.exists() else ""
        verdict = re.search(r"\| held-out test split \|[^|]*target \*\*(met|not met)\*\*", text)
        note = f"target {verdict.group(1)}" if verdict else "no model card"
        print(f"  {f.stem:<18} {f.stat().st_size / 1024:>7,.0f} KiB  {quality(f.stem):<48} {note}")
    return 0


def _cmd_devices(args: argparse.Namespace) -> int:
    from rtaudio.devices import list_devices

    devs = list_devices()
    if not devs:
        print(
            "rtaudio devices: no audio devices found (is a sound server running? is "
            "PortAudio built with ALSA / PulseAudio / JACK support?)",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps([d.to_json() for d in devs], indent=2))
        return 0 if devs else 1
    width = max([32, *(len(d.name) for d in devs if d.pulse)])  # a server's names are whole
    print(f"{'#':>3}  {'name':<{width}} {'host API':<12} {'in':>3} {'out':>3} {'rate':>7}")
    for d in devs:
        mark = ("<" if d.default_input else " ") + (">" if d.default_output else " ")
        print(
            f"{'-' if d.pulse else d.index:>3}{mark} {d.name[:width]:<{width}} "
            f"{d.hostapi[:12]:<12} {d.max_input_channels:>3} {d.max_output_channels:>3} "
            f"{d.default_samplerate:>7.0f}" + (f"  {d.description}" if d.description else "")
        )
    print("(< default input, > default output)")
    if any(d.pulse for d in devs):
        print(
            "(-: a source or sink of the sound server (PulseAudio / PipeWire), opened through "
            "the pulse device; name it, or a part of its name or description: --input NAME, "
            "--output NAME)"
        )
    return 0 if devs else 1


def _cmd_data(args: argparse.Namespace) -> int:
    from pathlib import Path

    if args.data_command == "summary":
        summary = Path(args.dir) / "summary.json"
        if not summary.is_file():
            raise CliError(f"{summary} not found (build the corpus first)")
        s = json.loads(summary.read_text())
        if args.json:
            print(json.dumps(s, indent=2))
            return 0
        made = "" if s.get("seed") is None else f" (builder seed {s['seed']})"
        print(f"{s['clips']} clips, {s['hours']:.2f} h{made}")
        for key, h in s["hours_by_kind_split"].items():
            print(f"  {key:<24} {h:7.2f} h")
        for n in s["notices"]:
            print(f"  note: {n}")
        return 0
    if args.data_command == "import":
        return _cmd_data_import(args)
    if args.data_command == "lexicon":
        return _cmd_data_lexicon(args)
    from rtaudio.data.build import KINDS, BuildConfig, build
    from rtaudio.outputs import DiskFullError, space_checked

    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise CliError(
            f"--kinds: unknown {', '.join(bad) or '(none)'} (choose from {', '.join(KINDS)})"
        )
    _positive("--hours", args.hours, 10_000)
    if not 0.0 <= args.augment <= 1.0:
        raise CliError("--augment must be between 0 and 1")
    pinned: dict[str, str] = {}
    if args.keep_splits:
        from rtaudio.data.manifest import manifest_splits

        try:
            pinned = manifest_splits(args.keep_splits)
        except ValueError as e:
            raise CliError(f"--keep-splits: {e}") from None
    try:
        with space_checked(Path(args.out)):
            result = build(
                BuildConfig(
                    out=Path(args.out),
                    hours=args.hours,
                    seed=args.seed,
                    kinds=kinds,
                    jobs=max(1, args.jobs),
                    augment=args.augment,
                    progress=not args.no_progress,
                    stop_after=args.max_jobs,
                    exclude=tuple(x.strip() for x in args.exclude.split(",") if x.strip()),
                    pinned=pinned,
                )
            )
    except DiskFullError as e:  # not a bad argument: the build ran and stopped
        print(
            f"rtaudio data: {args.out}: {e}; the clips already built are kept: free some space "
            "and run the same command again to go on",
            file=sys.stderr,
        )
        return 1
    return 0 if result.complete and not result.failed else 1


def _cmd_data_lexicon(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rtaudio.data.lexicon import DEFAULT_WORDS, LexiconError, build_lexicon
    from rtaudio.outputs import writable_folder

    writable_folder(Path(args.out), "--out")
    try:
        r = build_lexicon(
            Path(args.out),
            Path(args.words) if args.words else DEFAULT_WORDS,
            overwrite=args.overwrite,
            progress=not args.no_progress,
            names=not args.no_names,
        )
    except LexiconError as e:
        raise CliError(str(e)) from None
    split = ", ".join(f"{k} {v}" for k, v in r.per_split.items())
    kinds = f"{r.per_kind['word']} words, {r.per_kind['name']} names"
    left = "; ".join(f"{v} {k}" for k, v in r.left_out.items())
    print(
        f"{r.out}: {r.words} entries ({kinds}; {split}; {r.frequent} frequent, always train)"
        + (f"; left out: {left}" if left else "")
    )
    return 0


def _cmd_g2p(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rtaudio.g2p import G2P, G2PError, parse, words_of

    words: list[tuple[str, str]] = []  # (where, word)
    for w in args.words:
        words += [("argument", x) for x in words_of(w)]
    if args.file:
        path = Path(args.file)
        name = "stdin" if args.file == "-" else str(path)
        try:
            if args.file == "-":
                text = sys.stdin.buffer.read().decode("utf-8")
            elif not path.is_file():
                from rtaudio.errors import missing

                raise CliError(missing(path) if not path.exists() else f"{path}: not a file")
            else:
                text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise CliError(f"{name}: not UTF-8 text") from None
        for n, line in enumerate(text.splitlines(), 1):
            words += [(f"{name} line {n}", x) for x in words_of(line)]
    if not words:
        raise CliError("no words: give WORD arguments or --file FILE")
    good: list[str] = []
    bad: list[str] = []
    folded: list[str] = []  # read with their accents folded away: approximate
    approximate: list[bool] = []  # per good word
    for where, w in words:
        try:
            approximate.append(parse(w).folded)
            if approximate[-1]:
                folded.append(f"{where}: {w!r}")
            good.append(w)
        except G2PError as e:
            bad.append(f"{where}: {e}")
    if bad and not good:
        raise CliError(bad[0] + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""))
    model = G2P(args.weights)
    sep = " " if args.tokens else ""
    from tqdm import tqdm

    # a bar where the wait is noticeable: about 0.4 ms a word on one thread
    quiet = args.no_progress or len(good) < PROGRESS_WORDS
    with tqdm(total=len(good), unit="word", desc="g2p", disable=quiet) as bar:
        out = model.transcribe(good, progress=bar.update)
    if args.json:
        print(
            json.dumps(
                [
                    {"word": w, "phonemes": t, "approximate": a}
                    for w, t, a in zip(good, out, approximate, strict=True)
                ],
                ensure_ascii=False,
                indent=1,
            )
        )
    else:
        for w, t in zip(good, out, strict=True):
            print(f"{w}\t{sep.join(t)}")
    if folded:
        print(
            f"rtaudio g2p: read without their accents (approximate): {', '.join(folded[:10])}"
            + (f" and {len(folded) - 10} more" if len(folded) > 10 else ""),
            file=sys.stderr,
        )
    for b in bad:
        print(f"rtaudio g2p: {b}", file=sys.stderr)
    return 1 if bad else 0


def _cmd_data_import(args: argparse.Namespace) -> int:
    from rtaudio.data.importer import SHOW_UNREADABLE, CorpusImportError, import_dataset
    from rtaudio.data.readers import DatasetLayoutError

    try:
        result = import_dataset(
            args.dataset, args.root, args.out, labels=args.labels, progress=not args.no_progress
        )
    except (CorpusImportError, DatasetLayoutError) as e:
        raise CliError(str(e)) from None
    print(f"rtaudio data import: {result.line()}")
    for what, found in (("unreadable", result.unreadable), ("missing", result.missing)):
        for msg in found[:SHOW_UNREADABLE]:
            print(f"  {what}: {msg}")
        if len(found) > SHOW_UNREADABLE:
            print(f"  ... and {len(found) - SHOW_UNREADABLE} more {what} file(s)")
    return 1 if result.unreadable or result.missing else 0


def _cmd_process(args: argparse.Namespace) -> int:
    from rtaudio import config
    from rtaudio.audiofile import read_audio
    from rtaudio.batch import run_batch
    from rtaudio.outputs import DiskFullError

    overrides: dict[str, object] = {
        "input_channel": args.channel,
        "separate": args.separate,
        "enroll": args.enroll,
        "chunk_ms": args.chunk_ms,
        "classifiers": args.classifiers,
    }
    if args.lookahead_ms is not None:
        overrides["swishnet_lookahead_ms"] = overrides["esresnet_lookahead_ms"] = args.lookahead_ms
    if args.no_level:
        overrides["level_separator"] = False
    if args.separate == "tsenet" and not (args.enroll or args.config):
        raise CliError("--separate tsenet needs --enroll FILE: a clip of the target speaker")
    cfg = config.load(args.config, **{k: v for k, v in overrides.items() if v is not None})
    _target_needs_tsenet(cfg, {"--enroll": args.enroll})
    if not 1 <= args.workers <= MAX_WORKERS:
        raise CliError(f"--workers must be 1..{MAX_WORKERS}")
    enrollment = read_audio(cfg.enroll) if cfg.enroll else None
    try:
        rows = run_batch(
            args.inputs,
            args.out,
            cfg,
            workers=args.workers,
            overwrite=args.overwrite,
            progress=not args.no_progress,
            enrollment=enrollment,
            offline=args.offline,
            executor=args.executor,
            ray_address=args.ray_address,
            label_tracks=args.label_tracks,
            stems=_stems(args.stems),
            stem_format=args.stem_format,
        )
    except DiskFullError as e:  # not a bad argument: the batch ran and stopped
        print(f"rtaudio process: {e}", file=sys.stderr)
        return 1
    failed = [r for r in rows if r["status"] != "ok"]
    print(
        f"{len(rows) - len(failed)} of {len(rows)} files processed; summary: "
        f"{args.out}/summary.csv",
        file=sys.stderr,
    )
    for r in failed:
        print(f"  failed: {r['error']}", file=sys.stderr)
    return 1 if failed else 0


def _stems(arg: str | None) -> tuple[str, ...] | None:
    return None if arg is None else tuple(s.strip() for s in arg.split(",") if s.strip())


def _cmd_images(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rtaudio.images import classify_images, image_files, load_classifier, write_csv
    from rtaudio.outputs import writable_folder

    if not (1 <= args.topk <= 1000 and 1 <= args.batch <= 4096):
        raise CliError("--topk must be 1..1000 and --batch 1..4096")
    if Path(args.out).is_dir():
        raise CliError(f"--out {args.out} is a folder; give the CSV file to write")
    if Path(args.out).exists() and any(
        p.exists() and os.path.samefile(p, args.out) for p in image_files(args.inputs)
    ):  # --overwrite or not: the CSV would replace the picture it describes
        raise CliError(f"--out {args.out} is one of the input images; give another file")
    if Path(args.out).exists() and not args.overwrite:
        raise CliError(f"{args.out} exists; pass --overwrite to replace it")
    writable_folder(Path(args.out).parent, "--out")  # before the images, not after
    clf = load_classifier(args.model, args.weights)
    print(f"model: {args.model} from {clf.source}", file=sys.stderr)
    rows = classify_images(
        args.inputs, clf, topk=args.topk, batch=args.batch, progress=not args.no_progress
    )
    n, bad = write_csv(rows, Path(args.out))
    print(f"{n} rows written to {args.out}; {bad} image(s) refused", file=sys.stderr)
    return 1 if bad else 0


def _cmd_spectrogram(args: argparse.Namespace) -> int:
    from rtaudio.images import write_spectrograms
    from rtaudio.outputs import DiskFullError

    try:
        rows = write_spectrograms(
            args.inputs,
            args.out,
            args.window_s,
            args.hop_s,
            overwrite=args.overwrite,
            progress=not args.no_progress,
        )
    except DiskFullError as e:  # not a bad argument: the run went and stopped
        print(f"rtaudio spectrogram: {e}", file=sys.stderr)
        return 1
    images = sum(len(r.get("images", [])) for r in rows)
    failed = [r for r in rows if r["status"] != "ok"]
    print(
        f"{images} images from {len(rows) - len(failed)} of {len(rows)} files in {args.out}",
        file=sys.stderr,
    )
    for r in failed:
        print(f"  failed: {r['error']}", file=sys.stderr)
    return 1 if failed else 0


def _cmd_parity(args: argparse.Namespace) -> int:
    from rtaudio import config
    from rtaudio.parity import run_parity

    cfg = config.load(args.config, separate=args.separate or "mitas")
    report = run_parity(
        args.inputs,
        args.out,
        cfg,
        image_weights={
            "mobilenet": args.mobilenet_weights,
            "xception": args.xception_weights,
            "pydmobilenet": args.pydmobilenet_weights,
        },
    )
    print(f"parity report: {args.out}/parity.md", file=sys.stderr)
    for model, v in report["streaming_vs_offline"].items():
        diff = v.get("max_abs_score_diff", v.get("max_abs_voice_diff"))
        print(f"  {model:<9} streaming vs offline: max abs diff {diff:.2e}", file=sys.stderr)
    for kind, v in report["image_agreement"].items():
        msg = v.get("skipped") or f"{v['agreement']:.1%} agreement with swishnet"
        print(f"  {kind:<9} {msg}", file=sys.stderr)
    failed = [f for f in report["files"] if "error" in f]
    for f in failed:
        print(f"  failed: {f['error']}", file=sys.stderr)
    return 1 if failed else 0


def _cmd_gui(args: argparse.Namespace) -> int:
    # The CLI is the composition root, so it may start the GUI: lazily and by name. Nothing in
    # the engine (rtaudio.*) imports the GUI layer or Qt; a test checks it.
    try:
        app = importlib.import_module("rtaudio.gui.app")
    except ImportError as e:
        raise CliError(f"the GUI needs PySide6 and pyqtgraph ({e}); run: bash install.sh") from None
    _positive("--quit-after", args.quit_after)
    return int(
        app.run_from_cli(
            args.source, args.screenshot, args.quit_after, args.settings, args.separate
        )
    )


def _config_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; a value that is not JSON is taken as a string."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--config expects KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = json.loads(text)
        except ValueError:
            out[key.strip()] = text
    return out


def _cmd_train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rtaudio.outputs import DiskFullError
    from rtaudio.train import CorpusError, TrainError, TrainOptions, train

    if args.class_power is not None and not 0.0 <= args.class_power <= 1.0:
        raise CliError("--class-power must be between 0 and 1")
    if args.frequency_share is not None and not 0.0 <= args.frequency_share <= 1.0:
        raise CliError("--frequency-share must be between 0 and 1")
    if args.ema is not None and not 0.0 < args.ema < 1.0:
        raise CliError("--ema must be between 0 and 1 (e.g. 0.999)")
    if args.speed is not None and not 0.0 <= args.speed <= 0.5:
        raise CliError("--speed must be between 0 and 0.5 (e.g. 0.15)")
    if args.mixup is not None and args.mixup < 0.0:
        raise CliError("--mixup must be >= 0 (e.g. 0.3; 0 turns it off)")
    if args.distill is not None and not 0.0 < args.distill <= 1.0:
        raise CliError("--distill must be in (0, 1] (e.g. 0.5)")
    if args.steps == 0 and not (args.resume or args.export_only or args.init):
        raise CliError(
            "--steps 0 on a new run would write untrained weights: give the steps to train "
            "(or --init / --resume / --export-only to export weights as they are)"
        )
    opts = TrainOptions(
        model=args.model,
        data=Path(args.data),
        out=Path(args.out),
        steps=args.steps,
        seed=args.seed,
        resume=args.resume,
        overwrite=args.overwrite,
        checkpoint=Path(args.checkpoint) if args.checkpoint else None,
        init=Path(args.init) if args.init else None,
        config=_config_overrides(args.config),
        batch_size=args.batch_size,
        segment_seconds=args.segment_seconds,
        lr=args.lr,
        val_every=args.val_every,
        patience=args.patience,
        class_power=args.class_power,
        frequency_share=args.frequency_share,
        ema=args.ema,
        speed=args.speed,
        mixup=args.mixup,
        teachers=tuple(Path(p) for p in args.teacher or ()),
        distill=args.distill,
        warmup_steps=args.warmup,
        val_size=args.val_size,
        checkpoint_minutes=args.checkpoint_minutes,
        log_every=args.log_every,
        threads=args.threads,
        data_workers=args.data_workers,
        device=args.device,
        export_only=args.export_only,
        test=not args.no_test,
        test_data=Path(args.test_data) if args.test_data else None,
        max_minutes=args.max_minutes,
    )
    try:
        result = train(opts)
    except (TrainError, CorpusError) as e:
        raise CliError(str(e)) from None
    except DiskFullError as e:  # not a bad argument: the run went and stopped
        print(f"rtaudio train: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(
            json.dumps(
                {
                    "out": str(result.out) if result.out else None,
                    "checkpoint": str(result.checkpoint),
                    "step": result.step,
                    "stopped": result.stopped,
                    "best_validation": result.best_score,
                    "metrics": result.metrics,
                },
                indent=2,
            )
        )
    return 130 if result.stopped == "interrupted" else 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rtaudio.outputs import writable_folder
    from rtaudio.train import CorpusError, EvalOptions, TrainError, evaluate, format_report

    png = None
    if args.png:
        png = Path(args.png)
        if png.exists() and not args.overwrite:
            raise CliError(f"{png} exists; pass --overwrite to replace it")
    elif args.png is None:  # the default name, numbered so an earlier picture is kept
        stem = f"rtaudio-eval-{args.model}-{args.split}"
        png = Path(f"{stem}.png")
        k = 2
        while png.exists():
            png, k = Path(f"{stem}-{k}.png"), k + 1
    if png is not None:  # before the evaluation, which may take minutes
        writable_folder(png.parent, "--png")
    opts = EvalOptions(
        model=args.model,
        data=Path(args.data),
        weights=Path(args.weights) if args.weights else None,
        split=args.split,
        png=png,
        mixtures=args.mixtures,
        seed=args.seed,
        live=not args.no_live,
        compare=Path(args.compare) if args.compare else None,
        unseen_only=args.unseen_only,
    )
    try:
        report = evaluate(opts)
    except (CorpusError, TrainError) as e:
        raise CliError(str(e)) from None
    print(json.dumps(report, indent=2, sort_keys=True) if args.json else format_report(report))
    return 0


def _cmd_repair_wav(args: argparse.Namespace) -> int:
    from rtaudio.audiofile import AudioFileError, repair_wav

    failed = 0
    for f in args.files:
        try:
            frames = repair_wav(f)
        except AudioFileError as e:
            print(f"rtaudio repair-wav: {e}", file=sys.stderr)
            failed += 1
            continue
        print(f"{f}: " + ("header was correct" if frames is None else f"repaired, {frames} frames"))
    return 1 if failed else 0


def _channel_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--channel", type=_ranged(int, 1, 64), metavar="N", help=f"take channel N {what}"
    )


def _engine_overrides(args: argparse.Namespace) -> dict[str, object]:
    o: dict[str, object] = {
        "input_device": args.input,
        "output_device": args.output,
        "input_channel": args.channel,
        "input_rate": args.rate,
        "separate": args.separate,
        "enroll": args.enroll,
        "enroll_seconds": args.enroll_seconds,
        "enroll_save": getattr(args, "save_enrollment", None),
        "chunk_ms": args.chunk_ms,
        "record_dir": args.record,
        "source": args.source,
        "classifiers": args.classifiers,
    }
    if args.play:
        o["play"] = True
    if args.no_level:
        o["level_separator"] = False
    if args.lookahead_ms is not None:
        o["swishnet_lookahead_ms"] = o["esresnet_lookahead_ms"] = args.lookahead_ms
    if getattr(args, "host_latency_ms", None) is not None:
        o["host_latency_ms"] = args.host_latency_ms
    return {k: v for k, v in o.items() if v is not None}


def _cmd_monitor(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rtaudio import config
    from rtaudio.monitor import run_monitor
    from rtaudio.outputs import writable_folder

    if args.rate and args.source:
        raise CliError("--rate sets the input device's rate; a --source file is read at its own")
    if args.separate == "tsenet" and not (args.enroll or args.enroll_seconds or args.config):
        raise CliError(
            "--separate tsenet needs the target speaker: --enroll FILE (a clip of their voice) "
            "or --enroll-seconds N (the first N s of the input)"
        )
    cfg = config.load(args.config, **_engine_overrides(args))
    _target_needs_tsenet(
        cfg,
        {
            "--enroll": args.enroll,
            "--enroll-seconds": args.enroll_seconds,
            "--save-enrollment": args.save_enrollment,
        },
    )
    if args.hear is not None and not cfg.play:
        raise CliError("--hear chooses what --play plays: give --play too")
    for flag, value in (("--input", args.input), ("--output", args.output)):
        if value is not None and not value.strip():  # '' took the default without a word
            raise CliError(
                f"{flag} '': give a device's name or index, or leave {flag} out for "
                "the system default"
            )
    if args.output is not None and not cfg.play:  # it was ignored: nothing played, exit 0
        raise CliError(f"--output {args.output} is where --play plays: give --play too")
    if args.hear not in (None, "input") and cfg.separate == "off":
        raise CliError(f"--hear {args.hear}: give --separate mitas or tsenet")
    _positive("--duration", args.duration, 1e9)
    if args.jsonl and Path(args.jsonl).exists() and not args.overwrite:
        raise CliError(f"{args.jsonl} exists; pass --overwrite to replace it")
    if args.jsonl:
        writable_folder(Path(args.jsonl).parent, "--jsonl")
    if cfg.record_dir:
        writable_folder(cfg.record_dir, "--record")
    if cfg.enroll_save:
        if cfg.enroll_seconds <= 0:
            raise CliError(
                "--save-enrollment keeps an enrollment taken from the input: "
                "give --enroll-seconds N too"
            )
        if Path(cfg.enroll_save).exists():
            raise CliError(f"{cfg.enroll_save} exists; choose another name for --save-enrollment")
        writable_folder(Path(cfg.enroll_save).parent, "--save-enrollment")
    hear = args.hear or "separated"
    return run_monitor(
        cfg, duration=args.duration, jsonl=args.jsonl, hear=hear, keys_from=sys.stdin
    )


def _target_needs_tsenet(cfg: Any, flags: dict[str, object]) -> None:
    """Refuse a target speaker's options where no TseNet would use them."""
    given = [flag for flag, value in flags.items() if value]
    if given and cfg.separate != "tsenet":
        raise CliError(f"{', '.join(given)}: the target speaker is for --separate tsenet")


def build_parser() -> argparse.ArgumentParser:
    from rtaudio import __version__

    p = argparse.ArgumentParser(
        prog="rtaudio",
        description="Hear, see and measure what small causal networks do to a live "
        "microphone: speech / music / noise and sound-event labels, voice separation and "
        "per-chunk latency. Start with 'rtaudio gui' (a window) or 'rtaudio monitor' (the "
        "terminal); 'rtaudio COMMAND --help' describes each command.",
    )
    p.add_argument("--version", action="version", version=f"rtaudio {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    m = sub.add_parser(
        "monitor",
        help="live labels, separation and latency in the terminal",
        description="A lost device (unplugged, sound server restarted) is reported and "
        "reopened with backoff while the monitor keeps running; recordings stay valid WAVs "
        "even after a crash (at most the last chunk is lost). Exit status: 0 stopped "
        "(--duration, end of --source, q, Ctrl-C), 1 the stream broke while running (e.g. NaN "
        "samples in --source), 2 bad setup (device, file, setting), 141 the reader of its "
        "output left (`| head`). Keys in a terminal: i / s "
        "/ r play the input / separated voice / what was removed (with --play while "
        "separating), space stops or starts a recording, d takes the next input device, "
        "q quits.",
    )
    m.add_argument("--config", help="TOML file of engine settings (CLI flags override it)")
    m.add_argument("--input", help="input device (index or name; default: system default)")
    m.add_argument("--output", help="output device for --play")
    _channel_option(m, "of the input device or --source file (default: the mono mix)")
    m.add_argument(
        "--rate",
        type=_ranged(int, 8000, 384000),
        metavar="HZ",
        help="input device sample rate (default: the device's own; resampled to 16 kHz)",
    )
    m.add_argument("--separate", choices=["off", "mitas", "tsenet"], help="separation mode")
    m.add_argument(
        "--enroll", metavar="FILE", help="target speaker clip (a sound file) for --separate tsenet"
    )
    m.add_argument(
        "--no-level",
        action="store_true",
        help="feed the separator the input as it is (default: brought to the level it was "
        "trained on, and back)",
    )
    m.add_argument(
        "--enroll-seconds",
        type=float,
        metavar="N",
        help="enroll the target from the first N seconds of live input",
    )
    m.add_argument(
        "--save-enrollment",
        metavar="WAV",
        help="keep that enrollment as a new WAV, to use again with --enroll",
    )
    m.add_argument("--play", action="store_true", help="play the separated voice (or the input)")
    m.add_argument(
        "--hear",
        choices=["input", "separated", "removed"],
        help="what --play plays while separating: the input, the separated voice (default) or "
        "what the separator removed (the input minus the voice)",
    )
    m.add_argument("--lookahead-ms", type=float, help="classifier lookahead, 0-500 ms")
    m.add_argument("--chunk-ms", type=float, help="processing chunk (default 10 ms)")
    m.add_argument(
        "--host-latency-ms",
        type=float,
        metavar="MS",
        help="PortAudio host buffer (default 0: the lowest); 40-80 if playback glitches",
    )
    m.add_argument("--classifiers", help="comma list: swishnet,esresnet (empty for none)")
    m.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    m.add_argument("--record", metavar="DIR", help="write input / separated WAVs here")
    m.add_argument("--jsonl", metavar="FILE", help="write labels and latency as JSON lines")
    m.add_argument("--source", metavar="FILE", help="play a sound file as the microphone")
    m.add_argument("--overwrite", action="store_true", help="replace an existing --jsonl file")
    m.set_defaults(func=_cmd_monitor)

    pr = sub.add_parser(
        "process",
        help="label (and separate) sound files and folders with the live pipeline",
        description="Every audio file (in folders: those with a sound file's extension; "
        "any file named) gets a row in summary.csv; a file that cannot be used "
        "(unreadable, NaN / infinite samples...) is refused with a one-line error there and the "
        "batch goes on. A file already processed with the same settings is skipped (rerun to "
        "resume); an --out holding results made with other settings is refused, naming what "
        "differs. Exit status: 0 all files processed, 1 some files failed (see summary.csv), "
        "2 bad arguments or settings, 130 interrupted (Ctrl-C; rerun to resume).",
    )
    pr.add_argument("inputs", nargs="+", metavar="INPUT", help="files and folders (recursive)")
    pr.add_argument("--out", required=True, metavar="DIR", help="output folder (mirrors inputs)")
    pr.add_argument("--config", help="TOML file of engine settings")
    pr.add_argument(
        "--separate",
        choices=["off", "mitas", "tsenet"],
        help="separate the voice (NAME.voice.wav; see --stems)",
    )
    pr.add_argument(
        "--enroll", metavar="FILE", help="target speaker clip (a sound file) for --separate tsenet"
    )
    pr.add_argument(
        "--stems",
        metavar="LIST",
        help="what the separator writes, comma list: voice (NAME.voice.wav, the default), "
        "removed (NAME.removed.wav: the input minus the voice, e.g. the background)",
    )
    pr.add_argument(
        "--stem-format",
        choices=["wav", "flac"],
        default="wav",
        help="file format of the separator's outputs (16 kHz mono, 16-bit; flac: about half "
        "the size)",
    )
    pr.add_argument(
        "--no-level",
        action="store_true",
        help="feed the separator the input as it is (default: brought to the level it was "
        "trained on, and back)",
    )
    pr.add_argument("--lookahead-ms", type=float, help="classifier lookahead, 0-500 ms")
    pr.add_argument("--chunk-ms", type=float, help="processing chunk (default 10 ms)")
    pr.add_argument("--classifiers", help="comma list: swishnet,esresnet")
    pr.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    pr.add_argument("--overwrite", action="store_true", help="redo files already processed")
    pr.add_argument(
        "--label-tracks",
        action="store_true",
        help="also write NAME.MODEL.txt label tracks (Audacity: File > Import > Labels); files "
        "already processed get theirs from their labels.json",
    )
    _channel_option(pr, "of each file (default: the mean of its channels); a file without it fails")
    pr.add_argument(
        "--offline",
        action="store_true",
        help="whole-file inference (forward) instead of the chunked stream",
    )
    pr.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local processes, or Ray tasks (pip install 'rtaudio[ray]')",
    )
    pr.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="an existing Ray cluster (default: start a local one); inputs must be readable "
        "by the workers at the same paths, outputs come back to this machine",
    )
    pr.add_argument("--no-progress", action="store_true", help="no progress bar")
    pr.set_defaults(func=_cmd_process)

    im = sub.add_parser(
        "images",
        help="classify image files with MobileNet / Xception / PydMobileNet",
        description="Exit status: 0 all images classified, 1 some refused, 2 bad arguments.",
    )
    im.add_argument("inputs", nargs="+", metavar="INPUT", help="image files and folders")
    im.add_argument("--model", required=True, choices=["mobilenet", "xception", "pydmobilenet"])
    im.add_argument(
        "--weights",
        metavar="FILE",
        help="rtaudio .safetensors, or a timm mobilenetv1_100 / legacy_xception checkpoint "
        "(default: the shipped spectrogram classifier)",
    )
    im.add_argument("--topk", type=int, default=5, help="labels per image (default 5)")
    im.add_argument("--batch", type=int, default=32, help="images per forward pass")
    im.add_argument("--out", required=True, metavar="FILE.csv", help="path,rank,label,score CSV")
    im.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    im.add_argument("--no-progress", action="store_true")
    im.set_defaults(func=_cmd_images)

    sp = sub.add_parser(
        "spectrogram",
        help="write the log-mel images the image models take",
        description="One 128x128 8-bit log-mel PNG (NAME.t<ms>.png) per whole window of each "
        "file (a file shorter than a window: one, zero-padded), and an index, "
        "spectrograms.json. A file's images already there are kept (rerun to complete an "
        "interrupted run); a folder of images made with another window or hop, or images "
        "under its names that are another file's or not rtaudio's, is refused.",
    )
    sp.add_argument("inputs", nargs="+", metavar="INPUT", help="sound files and folders")
    sp.add_argument("--out", required=True, metavar="DIR", help="output folder (mirrors inputs)")
    sp.add_argument("--window-s", type=float, default=1.0, help="seconds per image (default 1)")
    sp.add_argument("--hop-s", type=float, default=1.0, help="seconds between images (default 1)")
    sp.add_argument("--overwrite", action="store_true", help="redraw images already there")
    sp.add_argument("--no-progress", action="store_true", help="no progress bar")
    sp.set_defaults(func=_cmd_spectrogram)

    pa = sub.add_parser(
        "parity", help="streaming vs offline, and SwishNet vs the image classifiers: a report"
    )
    pa.add_argument("inputs", nargs="+", metavar="INPUT", help="sound files and folders")
    pa.add_argument("--out", default="parity", metavar="DIR", help="report folder")
    pa.add_argument("--config", help="TOML file of engine settings")
    pa.add_argument("--separate", choices=["mitas", "off"], help="separator to compare")
    pa.add_argument("--mobilenet-weights", metavar="FILE", help="spectrogram MobileNet")
    pa.add_argument("--xception-weights", metavar="FILE", help="spectrogram Xception")
    pa.add_argument("--pydmobilenet-weights", metavar="FILE", help="spectrogram PydMobileNet")
    pa.set_defaults(func=_cmd_parity)

    d = sub.add_parser(
        "devices",
        help="list audio input and output devices",
        description="PortAudio's devices and the sound server's sources and sinks (PulseAudio "
        "or PipeWire, listed with pactl when PortAudio has ALSA's pulse device): a USB "
        "microphone beside the built-in one, or the monitor of what the speakers play, to "
        "label what another program plays.",
    )
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=_cmd_devices)

    b = sub.add_parser(
        "bench",
        help="benchmarks (one CPU thread) and the real round trip through the engine",
        description="models: each causal model's step time per chunk; pipeline: the "
        "engine's per-chunk code at full speed; loopback: with the output connected back to "
        "the input (a cable, or on PulseAudio / PipeWire the output's monitor as the input: "
        "--input SINK.monitor, named in `rtaudio devices`), "
        "the measured time from input through the engine to the output, against the engine's "
        "end-to-end estimate (exit status 1 if nothing came back).",
    )
    b.add_argument(
        "what",
        choices=["models", "pipeline", "loopback", "g2p"],
        help="what to benchmark (g2p: the shipped grapheme-to-phoneme weights, per word)",
    )
    b.add_argument("--json", action="store_true", help="print JSON instead of a table")
    b.add_argument("--model", action="append", help="model name (repeatable; default: all causal)")
    b.add_argument(
        "--chunk-ms", type=float, nargs="+", default=[10.0, 20.0], help="chunk lengths in ms"
    )
    b.add_argument("--calls", type=int, default=400, help="timed step calls per row (models)")
    b.add_argument("--seconds", type=float, default=20.0, help="audio to process (pipeline)")
    b.add_argument("--source", help="sound file to feed the pipeline (default: generated)")
    b.add_argument("--input", help="input device (loopback; default: system default)")
    b.add_argument("--output", help="output device (loopback)")
    b.add_argument(
        "--host-latency-ms",
        type=_ranged(float, 0, 1000),
        metavar="MS",
        help="PortAudio host buffer (loopback; default 0: the lowest)",
    )
    b.add_argument(
        "--chirps", type=_ranged(int, 1, 100), default=8, help="chirps to time (loopback)"
    )
    b.add_argument(
        "--longest-ms",
        type=_ranged(float, 100, 5000),
        default=600.0,
        metavar="MS",
        help="the longest round trip to look for (loopback; the chirps go out this far "
        "apart; default 600 ms)",
    )
    b.set_defaults(func=_cmd_bench)

    dt = sub.add_parser(
        "data", help="build the offline training data (audio corpus, pronunciation lexicon)"
    )
    dsub = dt.add_subparsers(dest="data_command", required=True)
    db = dsub.add_parser(
        "build",
        help="write 16 kHz clips + manifest; deterministic and resumable",
        description="Build a speech / music / noise / sound-event corpus from installed "
        "Debian packages and synthesisers (nothing is downloaded). Splits are by source. "
        "Re-running the same command resumes an interrupted build.",
    )
    db.add_argument("--out", required=True, metavar="DIR", help="corpus directory")
    db.add_argument("--hours", type=float, default=6.0, help="total audio budget (default 6)")
    db.add_argument(
        "--seed", type=_ranged(int, 0, SEED_MAX), default=0, help="random seed (default 0)"
    )
    db.add_argument(
        "--kinds", default="speech,music,noise,events", help="comma list of kinds to build"
    )
    db.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    db.add_argument(
        "--augment",
        type=float,
        default=0.0,
        metavar="P",
        help="store this fraction of real / speech clips augmented (default 0: train-time)",
    )
    db.add_argument(
        "--exclude",
        default="",
        metavar="NAMES",
        help="comma list of Debian packages, synthesisers (espeak-ng, flite, festival, "
        "fluidsynth) or soundfont families (fluidr3, musescore, timgm6mb) to leave out",
    )
    db.add_argument(
        "--keep-splits",
        metavar="CORPUS",
        help="sources of this earlier corpus keep their split there (new sources are split "
        "among themselves), so held-out sources stay held out when the corpus grows",
    )
    db.add_argument("--no-progress", action="store_true", help="no progress bar")
    db.add_argument("--max-jobs", type=int, help=argparse.SUPPRESS)  # stop early (tests)
    ds = dsub.add_parser("summary", help="print hours per kind and split of a built corpus")
    ds.add_argument("dir", help="corpus directory")
    ds.add_argument("--json", action="store_true")
    di = dsub.add_parser(
        "import",
        help="add a public dataset you have on disk (ESC-50, UrbanSound8K, MUSAN, LibriMix, "
        "wsj0-mix) to a corpus",
        description="Decode the dataset's files to 16 kHz mono clips under "
        "CORPUS/imported/DATASET/ and add them to CORPUS's manifest (created if needed), keeping "
        "the dataset's own splits. Re-running skips files already imported. LibriMix / "
        "wsj0-mix mixtures are skipped: their single-speaker sources (and LibriMix noise) are "
        "imported. Exit status: 0 done, 1 some files were unreadable (skipped), 2 bad layout "
        "or argument.",
    )
    di.add_argument(
        "dataset", metavar="DATASET", help="esc50, urbansound8k, musan, librimix or wsj0mix"
    )
    di.add_argument("root", metavar="ROOT", help="the dataset's directory (only read)")
    di.add_argument("--out", required=True, metavar="CORPUS", help="corpus directory")
    di.add_argument(
        "--labels",
        default="rtaudio",
        metavar="MODE",
        help="event labels: rtaudio (map onto rtaudio's event classes, skip the rest; "
        "default) or native (keep the dataset's class names)",
    )
    di.add_argument("--no-progress", action="store_true", help="no progress bar")
    dl = dsub.add_parser(
        "lexicon",
        help="English words and their eSpeak NG phonemes, for rtaudio train slicenet_g2p",
        description="Write DIR/lexicon.tsv (word, phonemes, split, kind, uses per million) and "
        "DIR/lexicon.json from a word list (default /usr/share/dict/american-english, Debian's "
        "wamerican: its lower-case words, and its capitalised names lower-cased), espeak-ng -v "
        "en-us --ipa and the wordfreq package's English frequencies. Splits are by the word's "
        "sha256, the same in every lexicon, except that words used 100 times per million or "
        "more (the, was: about 1,050) are always train. About 35 s for 73,000 words.",
    )
    dl.add_argument("--out", required=True, metavar="DIR", help="lexicon directory")
    dl.add_argument("--words", metavar="FILE", help="word list, one word per line")
    dl.add_argument(
        "--no-names",
        action="store_true",
        help="lower-case words only (leave out capitalised names such as Aaron)",
    )
    dl.add_argument("--overwrite", action="store_true", help="replace an existing lexicon.tsv")
    dl.add_argument("--no-progress", action="store_true", help="no progress bar")
    dt.set_defaults(func=_cmd_data)

    gp = sub.add_parser(
        "g2p",
        help="English words to IPA phonemes with the trained SliceNet (no eSpeak NG needed)",
        description="Print each word and its phonemes (eSpeak NG en-us IPA, stress marks "
        "before the stressed vowel) as the SliceNet of slicenet_g2p reads them. Text is split "
        "into words at spaces, hyphens, dashes and slashes, and punctuation around a word is "
        "taken off. Words are letters a-z (any case) with apostrophes: contractions ('s, n't, "
        "'ll, 'd, 've, 're, 'm) and O' (O'Brien) are read by rule, other apostrophes dropped; "
        "capitals without a vowel letter (HTML, PDFs) are spelled out. "
        "Numbers are spelled out (21st -> twenty first, 3.5 -> three point five, -5 -> minus "
        "five), letters and digits read run by run (mp3 -> MP three); accents are folded away "
        "(café -> /kˌæfˈeɪ/, approximate: named on stderr). Words with other signs are named "
        "on stderr and the exit status is 1 (2 when no word could be read).",
    )
    gp.add_argument("words", nargs="*", metavar="WORD", help="words or text")
    gp.add_argument(
        "--file", metavar="FILE", help="read words from a text file (UTF-8; - reads stdin)"
    )
    gp.add_argument("--weights", metavar="FILE", help="weights (default: the shipped ones)")
    gp.add_argument("--tokens", action="store_true", help="phoneme tokens separated by spaces")
    gp.add_argument("--json", action="store_true", help="print JSON")
    gp.add_argument(
        "--no-progress",
        action="store_true",
        help=f"no progress bar (shown on stderr from {PROGRESS_WORDS:,} words)",
    )
    gp.set_defaults(func=_cmd_g2p)

    g = sub.add_parser("gui", help="the desktop window (PySide6): labels, separation, latency")
    g.add_argument("--source", metavar="FILE", help="start right away on this sound file")
    g.add_argument("--separate", choices=["off", "mitas", "tsenet"], help="separation mode")
    g.add_argument("--screenshot", metavar="PNG", help="save a PNG of the window, then quit")
    g.add_argument("--quit-after", type=float, metavar="S", help="quit after S seconds")
    g.add_argument("--settings", metavar="INI", help="settings file (default: the user's)")
    g.set_defaults(func=_cmd_gui)

    tr = sub.add_parser(
        "train",
        help="train a model on a corpus (resumable, checkpointed)",
        description="Train MODEL (swishnet, esresnet, mitas, tsenet, or a mobilenet / xception / "
        "pydmobilenet variant as a log-mel image classifier) on the train split of a corpus "
        "built by `rtaudio data build`, or slicenet_g2p on a lexicon built by `rtaudio data "
        "lexicon`; validation picks the best weights and stops early, the test split gives the "
        "metrics stored with the weights.",
    )
    tr.add_argument("model", help="registry name, e.g. swishnet, mitas, mobilenet_v1_025")
    tr.add_argument(
        "--data", required=True, metavar="DIR", help="corpus directory (slicenet_g2p: lexicon)"
    )
    tr.add_argument("--out", required=True, metavar="FILE", help="weights to write (.safetensors)")
    tr.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    tr.add_argument(
        "--steps",
        type=_ranged(int, 0, 10**9),
        default=20000,
        help="total optimiser steps (default 20000)",
    )
    tr.add_argument(
        "--seed", type=_ranged(int, 0, SEED_MAX), default=0, help="random seed (default 0)"
    )
    tr.add_argument(
        "--overwrite", action="store_true", help="replace an existing --out / checkpoint"
    )
    tr.add_argument("--checkpoint", metavar="FILE", help="checkpoint path (default: OUT.ckpt)")
    tr.add_argument(
        "--init", metavar="CKPT", help="start from another run's checkpoint weights (fine-tune)"
    )
    tr.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a new run: replace a field of the model's config (JSON value), e.g. width=4",
    )
    tr.add_argument(
        "--batch-size", type=_ranged(int, 1, 65536), help="examples per step (default: per model)"
    )
    tr.add_argument(
        "--segment-seconds",
        type=_ranged(float, 0.1, 60),
        help="separators: training mixture length (default 2)",
    )
    tr.add_argument(
        "--lr",
        type=_ranged(float, 0, 10, lo_open=True),
        help="Adam learning rate (default: per model)",
    )
    tr.add_argument(
        "--val-every",
        type=_ranged(int, 1, 10**9),
        help="steps between validations (default: per model)",
    )
    tr.add_argument(
        "--patience",
        type=_ranged(int, 1, 10**6),
        help="validations without gain before stopping",
    )
    tr.add_argument(
        "--class-power",
        type=float,
        metavar="P",
        help="classifiers: draw classes ~ training hours ** P (0 uniform, 1 as in the data; "
        "the loss is reweighted to match); slicenet_g2p: draw words / names ~ their count ** P "
        "(default 1: as in the lexicon, 12 %% names); default per model",
    )
    tr.add_argument(
        "--frequency-share",
        type=float,
        metavar="S",
        help="slicenet_g2p: draw this share of each batch as running text would, a word ~ how "
        "often English uses it (so 'the' and 'of' are learnt by heart; default 0)",
    )
    tr.add_argument(
        "--ema",
        type=float,
        metavar="DECAY",
        help="validate and export a moving average of the weights (e.g. 0.999)",
    )
    tr.add_argument(
        "--speed",
        type=float,
        metavar="S",
        help="classifiers: play half the examples at a random speed in 1/(1+S)..1+S "
        "(pitch moves with it; default 0: off)",
    )
    tr.add_argument(
        "--mixup",
        type=float,
        metavar="ALPHA",
        help="whole-window classifiers (esresnet, image models): blend each batch with a "
        "shuffled copy, weights ~ Beta(ALPHA, ALPHA) (default 0: off)",
    )
    tr.add_argument(
        "--teacher",
        action="append",
        metavar="FILE",
        help="classifiers: learn also from this trained model's soft labels on the same "
        "windows (same classes; esresnet from esresnet, image models from image models, "
        "swishnet from swishnet or image models; repeat to distil an ensemble, averaged)",
    )
    tr.add_argument(
        "--distill",
        type=float,
        metavar="W",
        help="weight of the teachers' term in the loss, the rest is cross-entropy (default 0.5)",
    )
    tr.add_argument(
        "--warmup",
        type=_ranged(int, 0, 10**9),
        default=100,
        help="linear LR warm-up steps (100)",
    )
    tr.add_argument(
        "--val-size",
        type=_ranged(int, 1, 10**6),
        help="validation windows per class / mixtures (default per model)",
    )
    tr.add_argument(
        "--checkpoint-minutes",
        type=_ranged(float, 0, 10**6, lo_open=True),
        default=5.0,
        help="checkpoint period",
    )
    tr.add_argument(
        "--log-every",
        type=_ranged(int, 1, 10**9),
        default=25,
        help="steps between progress lines",
    )
    tr.add_argument(
        "--threads", type=_ranged(int, 1, 1024), default=1, help="torch CPU threads (default 1)"
    )
    tr.add_argument(
        "--data-workers",
        type=_ranged(int, 0, 64),
        default=0,
        help="processes drawing batches ahead (default 0: draw in the training process); "
        "the batches are the same either way",
    )
    tr.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda...")
    tr.add_argument(
        "--max-minutes",
        type=_ranged(float, 0, 10**7, lo_open=True),
        help="stop (and export) after this long",
    )
    tr.add_argument(
        "--export-only",
        action="store_true",
        help="write --out from the checkpoint's best weights, train nothing",
    )
    tr.add_argument("--no-test", action="store_true", help="skip the test-split metrics")
    tr.add_argument(
        "--test-data",
        metavar="DIR",
        help="corpus whose test split scores the exported weights (default: --data), "
        "e.g. the full corpus when --data is a packed subset",
    )
    tr.add_argument("--json", action="store_true", help="print the result as JSON")
    tr.set_defaults(func=_cmd_train)

    ev = sub.add_parser("evaluate", help="held-out metrics of trained weights on a corpus")
    ev.add_argument("model", help="registry name, e.g. swishnet, mitas")
    ev.add_argument(
        "--data",
        required=True,
        metavar="DIR",
        help="corpus directory (slicenet_g2p: a lexicon, e.g. tests/data/g2p)",
    )
    ev.add_argument("--weights", metavar="FILE", help="weights (default: the shipped ones)")
    ev.add_argument(
        "--compare",
        metavar="FILE",
        help="classifiers: score these weights too, on the same windows, and print the "
        "difference with a 95 %% interval paired over the held-out recordings",
    )
    ev.add_argument("--split", default="test", choices=["train", "validation", "test"])
    ev.add_argument(
        "--png",
        metavar="FILE",
        help="confusion-matrix PNG (default rtaudio-eval-MODEL-SPLIT.png, numbered when "
        "taken; '' for none)",
    )
    ev.add_argument("--overwrite", action="store_true", help="replace an existing --png file")
    ev.add_argument(
        "--mixtures",
        type=_ranged(int, 1, 100_000),
        default=200,
        help="separator mixtures (default 200)",
    )
    ev.add_argument(
        "--seed",
        type=_ranged(int, 0, SEED_MAX),
        default=1234,
        help="seed of the separator mixtures",
    )
    ev.add_argument("--no-live", action="store_true", help="skip SwishNet's live-engine check")
    ev.add_argument(
        "--unseen-only",
        action="store_true",
        help="leave out the split's sources that the weights (and --compare's) record having "
        "learnt from, e.g. when the corpus was rebuilt and its splits moved",
    )
    ev.add_argument("--json", action="store_true", help="print JSON")
    ev.set_defaults(func=_cmd_evaluate)

    rw = sub.add_parser(
        "repair-wav",
        help="fix the header of WAVs cut short by a crash (recordings of old versions)",
        description="Rewrite the RIFF and data sizes of WAV files from their length, so that "
        "every player reads all the audio. rtaudio's own recordings keep a correct header "
        "after every chunk and are repaired automatically when recording into the same "
        "folder again. Exit status: 0 all files fine or repaired, 1 some are not WAVs.",
    )
    rw.add_argument("files", nargs="+", metavar="WAV")
    rw.set_defaults(func=_cmd_repair_wav)

    ms = sub.add_parser("models", help="list the model zoo")
    ms.add_argument("--stats", action="store_true", help="count parameters and MACs")
    ms.add_argument("--markdown", action="store_true", help="a Markdown table with counts")
    ms.add_argument("--model", action="append", help="only these models (repeatable)")
    ms.add_argument(
        "--shipped",
        action="store_true",
        help="the trained weights that ship with rtaudio: held-out result, size, model card",
    )
    ms.set_defaults(func=_cmd_models)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader left (`| head`): end quietly, as `cat` does
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE
    except Exception as e:
        # a user error, or a file or folder the system refused: one line naming it, no
        # traceback (only what the command imported is checked: a bare `rtaudio devices`
        # loads no torch)
        from rtaudio.errors import describe, is_user_error

        if not (isinstance(e, CliError) or is_user_error(e)):
            raise
        print(
            f"rtaudio {args.command}: {e if isinstance(e, CliError) else describe(e)}",
            file=sys.stderr,
        )
        return 2


def run() -> int:
    """The ``rtaudio`` script: :func:`main` with the sound libraries' own stderr lines filtered
    (:mod:`rtaudio.native_stderr`; not in :func:`main`, which tests call in their process)."""
    from rtaudio import native_stderr

    native_stderr.install()
    return main()


if __name__ == "__main__":
    sys.exit(run())
