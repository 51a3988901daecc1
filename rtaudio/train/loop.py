"""The training loop: seeds, progress with ETA, atomic resumable checkpoints, validation with
learning-rate halving and early stopping, and the final export with test metrics.

A checkpoint (``--checkpoint``, default ``OUT`` with the suffix ``.ckpt``) holds everything a
run needs to continue exactly where it stopped: the trained module, the optimiser, the step,
the learning-rate scale, the torch random state, the best validation score with its weights,
and the history (each step's batch is drawn from the seed and the step number alone:
:mod:`rtaudio.train.batches`). It is written to a temporary file and renamed, so a run killed at
any moment leaves the previous checkpoint intact. ``--resume`` continues from it; a resumed run
draws exactly the batches the uninterrupted run would have drawn.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import json
import math
import os
import signal
import sys
import tempfile
import time
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

import rtaudio.models as models
from rtaudio import __version__
from rtaudio.errors import torch_load_reason
from rtaudio.models.registry import config_from_dict, config_to_json, family_of_config
from rtaudio.outputs import FILE_MODE, DiskFullError, exclusive, space_checked, writable_folder
from rtaudio.train import provenance
from rtaudio.train.batches import BatchSource
from rtaudio.train.corpus import CorpusError
from rtaudio.train.featurize import InputNorm, unfold_input_norm
from rtaudio.train.tasks import SeparatorTask, Task, make_task, task_class

CHECKPOINT_VERSION = 1
WARMUP_STEPS = 100


class TrainError(RuntimeError):
    """A user-facing training error (bad options, existing output, missing checkpoint)."""


@dataclass
class TrainOptions:
    """Options of ``rtaudio train`` (see its ``--help``)."""

    model: str
    data: Path
    out: Path
    steps: int = 20000
    seed: int = 0
    resume: bool = False
    overwrite: bool = False
    checkpoint: Path | None = None
    init: Path | None = None
    config: dict[str, Any] = field(default_factory=dict)
    batch_size: int | None = None
    segment_seconds: float | None = None
    lr: float | None = None
    val_every: int | None = None
    patience: int | None = None
    class_power: float | None = None  # classifiers: class sampling ~ hours ** class_power
    frequency_share: float | None = None  # slicenet_g2p: share of a batch drawn ~ word use
    ema: float | None = None  # validate / export an exponential moving average of the weights
    speed: float | None = None  # classifiers: speed perturbation range (0.1: factors 0.91..1.1)
    mixup: float | None = None  # window classifiers: mixup Beta(alpha, alpha)
    teachers: tuple[Path, ...] = ()  # window classifiers: distil these trained models' labels
    distill: float | None = None  # weight of the teachers' term in the loss (default 0.5)
    warmup_steps: int = WARMUP_STEPS
    val_size: int | None = None
    checkpoint_minutes: float = 5.0
    log_every: int = 25
    threads: int = 1
    data_workers: int = 0
    device: str = "auto"
    export_only: bool = False
    test: bool = True
    test_data: Path | None = None
    max_minutes: float | None = None
    log: Callable[[str], None] = field(default=lambda s: print(s, file=sys.stderr, flush=True))

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.checkpoint) if self.checkpoint else Path(self.out).with_suffix(".ckpt")


@dataclass
class TrainResult:
    out: Path | None
    checkpoint: Path
    step: int
    stopped: str  # "steps", "early_stop", "interrupted", "time_limit", "export_only"
    best_score: float
    metrics: dict[str, Any]


def pick_device(name: str) -> torch.device:
    """``--device``: auto (CUDA if present), cpu, cuda or cuda:N; TrainError for one that
    does not exist here."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise TrainError(f"--device {name!r}: choose auto, cpu, cuda or cuda:N")
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if not count:
            raise TrainError(
                f"--device {name}: no CUDA GPU here (or this torch is built without CUDA); "
                "use --device cpu"
            )
        if device.index is not None and device.index >= count:
            raise TrainError(f"--device {name}: there are {count} CUDA GPU(s), cuda:0..")
    return device


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """``torch.save`` to a temporary file in the same directory, fsync, rename. A full disk
    is a :class:`~rtaudio.outputs.DiskFullError` that says so and what to do (the previous
    checkpoint is kept)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)  # mkstemp's 0600: others could not read it
        with space_checked(path.parent), os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except DiskFullError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        then = (
            "the previous one is kept: free some space and run the same command with --resume"
            if path.exists()
            else "free some space and run the same command again"
        )
        raise DiskFullError(f"cannot write the checkpoint {path}: {e}; {then}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by :func:`save_checkpoint`, checked whole before use: torch.save
    writes a zip archive whose members carry CRC-32 checksums, which ``torch.load`` does not
    verify (a damaged tensor would load as other numbers)."""
    if not path.is_file():
        raise TrainError(f"no checkpoint at {path} (run without --resume to start)")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            if f.read(4) == b"PK\x03\x04":  # a zip's start without its end
                raise TrainError(f"{path}: damaged training checkpoint (cut short)")
        raise TrainError(
            f"{path}: not a training checkpoint (rtaudio's are zip archives; weights files, "
            ".safetensors, go to --init)"
        )
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise TrainError(f"{path}: damaged training checkpoint ({e})") from None
    if bad is not None:
        raise TrainError(
            f"{path}: damaged training checkpoint (checksum mismatch in {bad}): the file was "
            "changed after it was written"
        )
    try:
        with warnings.catch_warnings():  # a foreign pickle: our error says it, not torch's warning
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a foreign or corrupt file
        why = torch_load_reason(e)
        raise TrainError(f"{path}: not a readable training checkpoint ({why})") from None
    if not isinstance(ck, dict) or ck.get("version") != CHECKPOINT_VERSION:
        raise TrainError(f"{path}: not an rtaudio training checkpoint (version mismatch)")
    return ck


def _fmt_time(s: float) -> str:
    if not math.isfinite(s):
        return "?"
    s = round(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _state_copy(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


class WeightAverage:
    """An exponential moving average of a module's weights and float buffers (``--ema``).

    After each optimiser step ``avg += (1 - d) (w - avg)`` with ``d = min(decay, (1 + step) /
    (10 + step))`` (a short memory at the start); integer buffers are copied. Validation and
    the exported weights then use the average, which moves less between validations than the
    raw weights do on a small, noisy training set.
    """

    def __init__(self, module: nn.Module, decay: float) -> None:
        self.decay = decay
        self.module = copy.deepcopy(module).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, module: nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        live = module.state_dict()
        for k, v in self.module.state_dict().items():
            if v.is_floating_point():
                v.lerp_(live[k], 1.0 - d)
            else:
                v.copy_(live[k])


class _Stop:
    """SIGTERM / SIGINT -> finish the current step, checkpoint, exit."""

    def __init__(self) -> None:
        self.requested = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _Stop:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError):  # not the main thread
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:  # second signal: give up now
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _default_distill(opts: TrainOptions, hp: dict[str, Any]) -> float | None:
    """0.5 for a run that starts with teachers; a resumed one keeps its recorded weight."""
    return 0.5 if opts.teachers and not hp.get("teachers") else None


def _load_teachers(
    opts: TrainOptions, task: Task, recorded: list[dict[str, str]], device: torch.device
) -> tuple[tuple[nn.Module, ...], list[dict[str, str]]]:
    """``--teacher`` files (or, on resume, the ones the checkpoint recorded), checked: a family
    this task learns from (``teacher_families``), this run's labels, and on resume the very
    tensors the run started with."""
    paths = [Path(p) for p in opts.teachers] or [Path(r["file"]) for r in recorded]
    allowed = getattr(task, "teacher_families", ())
    loaded: list[nn.Module] = []
    info: list[dict[str, str]] = []
    for p in paths:
        try:
            m = models.load(p)
            digest = models.read_metadata(p)["rtaudio.sha256"]
        except models.WeightsError as e:
            raise TrainError(f"--teacher: {e}") from None
        fam = family_of_config(m.config).name
        if fam not in allowed:
            raise TrainError(
                f"--teacher {p} is a {fam} model; {opts.model} learns from "
                f"{', '.join(allowed)} models"
            )
        labels = list((getattr(m, "meta", None) or {}).get("labels") or [])
        if labels != task.labels():
            raise TrainError(
                f"--teacher {p} predicts {', '.join(labels) or 'unnamed classes'}; "
                f"this run trains {', '.join(task.labels())}"
            )
        loaded.append(m.to(device).eval().requires_grad_(False))
        info.append({"file": str(p.resolve()), "sha256": digest})
    if recorded and [r["sha256"] for r in recorded] != [r["sha256"] for r in info]:
        raise TrainError(
            "--teacher: these files are not the teachers this run started with "
            f"({', '.join(r['file'] for r in recorded)}); give those, unchanged"
        )
    return tuple(loaded), info


def _read_init(path: Path) -> nn.Module | dict[str, Any]:
    """``--init`` read and checked once: a weights file's model, or a training checkpoint."""
    return models.load(path) if path.suffix == ".safetensors" else load_checkpoint(path)


def _init_weights(
    opts: TrainOptions,
    init: nn.Module | dict[str, Any],
    module: nn.Module,
    model: nn.Module,
    log: Callable[[str], None],
) -> tuple[dict[str, Any], tuple[set[str], bool] | None]:
    """``--init``: a checkpoint of the same model and config (its best weights, exactly), or
    any rtaudio weights file / checkpoint of another model, whose tensors are copied wherever
    name and shape match (a warm start, e.g. TseNet's separator from trained MiTAS).

    Returns what to record of the start, and the sources it learnt from (if it says)."""
    path = Path(opts.init)  # type: ignore[arg-type]
    info: dict[str, Any] = {"from": str(path)}
    if isinstance(init, nn.Module):
        src = init.state_dict()
        same = False
        meta = getattr(init, "meta", {}) or {}
        learnt = provenance.recorded(meta)
        info.update(
            model=meta.get("model"),
            steps=meta.get("best_step", meta.get("steps")),  # the step of the exported weights
            wall_time_s=meta.get("wall_time_s"),
            device=meta.get("device"),
            before=meta.get("initialised_from") or None,
        )
    else:
        learnt = provenance.recorded(init["state"])
        best = init["state"].get("best_state")
        src = best or init["module"]
        same = init["model_name"] == opts.model and init["config"] == config_to_json(model.config)
        prior = init["state"].get("init") or {}
        info.update(
            model=init["model_name"],
            steps=init["state"]["best_step"] if best else init["state"]["step"],
            wall_time_s=round(init["state"]["elapsed"], 1),
            before=prior or None,
        )
        if init["model_name"] == opts.model and not same:
            raise TrainError(f"--init {path} holds a different {opts.model} config")
        if same:
            module.load_state_dict(src)
            step0 = init["state"]["best_step"] if best else init["state"]["step"]
            log(f"[{opts.model}] initialised from {path} (weights of step {step0})")
            return info, learnt
        if init["model_name"] != opts.model:
            # a wrapper's state (InputNorm) prefixes the model's names with "model."
            src = {k.removeprefix("model."): v for k, v in src.items()}
    target = model.state_dict()
    copied = [k for k, v in src.items() if k in target and tuple(target[k].shape) == tuple(v.shape)]
    if not copied:
        raise TrainError(f"--init {path}: no tensor fits {opts.model}")
    with torch.no_grad():
        for k in copied:
            target[k].copy_(src[k])
    if (
        path.suffix == ".safetensors"
        and isinstance(module, InputNorm)
        and any(k.startswith("block1.") for k in copied)
    ):
        # weights files read raw MFCCs (the normalisation is folded in); training feeds the
        # model normalised ones
        unfold_input_norm(model, module.mean, module.std)
    log(
        f"[{opts.model}] warm start from {path}: {len(copied)} of {len(target)} tensors copied "
        f"({len(target) - len(copied)} keep their fresh initialisation)"
    )
    info["tensors_copied"] = f"{len(copied)} of {len(target)}"
    return info, learnt


CLASS_FIELDS = ("classes", "labels", "num_classes")  # the corpus decides these, not --init


def _init_config(name: str, init: nn.Module | dict[str, Any] | None) -> dict[str, Any] | None:
    """The config of ``--init`` when it holds this very model, so that a fine-tune keeps its
    shape (a file trained with ``--config resolution=64`` goes on at 64, instead of
    copying the few tensors that fit the registry's config); None otherwise."""
    if isinstance(init, nn.Module):
        same = (getattr(init, "meta", None) or {}).get("model") == name
        return dict(json.loads(config_to_json(init.config))) if same else None
    if init is not None and init["model_name"] == name:
        return dict(json.loads(init["config"]))
    return None


def _new_model(
    task: Task, overrides: dict[str, Any], base: dict[str, Any] | None = None
) -> nn.Module:
    """The task's model, with ``base``'s fields (the config of ``--init``; classes excepted)
    and then ``--config KEY=VALUE`` fields replacing the registry's."""
    model = task.new_model()
    if not overrides and base is None:
        return model
    fam = models.get_variant(task.name).family
    fields = json.loads(config_to_json(model.config))
    fields.update({k: v for k, v in (base or {}).items() if k not in CLASS_FIELDS})
    fields.update(overrides)
    try:
        return models.build(config_from_dict(fam, fields))
    except models.ConfigError as e:
        raise TrainError(f"--config: {e}") from None


def _stop_label(state: dict[str, Any], stopped: str) -> str:
    """How the exported weights' run stopped, for their metadata and card."""
    how, step = state["stopped"], state["step"]
    if stopped == "export_only" and not how:
        return f"still training: exported from the checkpoint at step {step}"
    if how in ("interrupted", "time_limit"):
        return f"{how} at step {step}"
    return how or stopped or "steps"


def train(opts: TrainOptions) -> TrainResult:
    """Train (or resume, or export from a checkpoint) one model; see :class:`TrainOptions`.

    The output folders are checked first (the first checkpoint comes minutes in, the weights at
    the end), and a run holds its checkpoint: a second run on it is refused."""
    writable_folder(Path(opts.out).parent, "--out")
    if opts.export_only:
        return _train(opts)
    ckpt_path = opts.checkpoint_path
    writable_folder(ckpt_path.parent, "--checkpoint")
    with exclusive(ckpt_path, f"checkpoint {ckpt_path}"):
        return _train(opts)


def _train(opts: TrainOptions) -> TrainResult:
    log = opts.log
    task_class(opts.model)  # unknown / untrainable names fail before anything is loaded
    out = Path(opts.out)
    if out.suffix != ".safetensors":
        raise TrainError(f"--out must end with .safetensors, got {out}")
    if out.exists() and not opts.overwrite:
        raise TrainError(f"{out} exists; pass --overwrite to replace it")
    ckpt_path = opts.checkpoint_path
    if not opts.resume and not opts.export_only and ckpt_path.exists() and not opts.overwrite:
        raise TrainError(
            f"checkpoint {ckpt_path} exists: pass --resume to continue it "
            "(or --overwrite to start again)"
        )
    if not 0 <= opts.data_workers <= 64:
        raise TrainError(f"--data-workers must be 0..64, got {opts.data_workers}")
    torch.set_num_threads(max(1, opts.threads))
    device = pick_device(opts.device)
    if device.type == "cuda":  # TF32 matmuls and tuned conv kernels: same results within 1e-3
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")
    if opts.export_only and not ckpt_path.is_file():
        raise TrainError(f"--export-only: no checkpoint at {ckpt_path} to export")
    ck = load_checkpoint(ckpt_path) if (opts.resume or opts.export_only) else None
    if ck is not None and opts.config:
        raise TrainError("--config applies to a new run: the checkpoint holds its own config")
    if ck is not None and ck["model_name"] != opts.model:
        raise TrainError(f"{ckpt_path} trains {ck['model_name']}, not {opts.model}")
    seed = int(ck["options"]["seed"]) if ck else opts.seed

    corpus = task_class(opts.model).open_data(opts.data, log)
    task: Task = make_task(
        opts.model, corpus, seed, log, train=True, classes=ck["classes"] if ck else None
    )
    tested: tuple[Task, Any] | None = None  # --test-data: opened now, not after the training
    if opts.test and opts.test_data is not None:
        test_corpus = task_class(opts.model).open_data(opts.test_data, log)
        test_task = make_task(
            opts.model, test_corpus, seed, log, train=False, classes=task.labels() or None
        )
        tested = (test_task, test_corpus)
    hp = dict(ck["hparams"]) if ck else {}
    if ck is None and opts.config:  # the run's --config KEY=VALUE fields (the card repeats them)
        hp["config"] = dict(opts.config)
    if opts.class_power is not None and not hasattr(task, "class_power"):
        raise TrainError(f"--class-power applies to classifiers and slicenet_g2p, not {opts.model}")
    if opts.frequency_share is not None and not hasattr(task, "frequency_share"):
        raise TrainError(f"--frequency-share applies to slicenet_g2p, not {opts.model}")
    if opts.speed is not None and task.kind != "classifier":
        raise TrainError(f"--speed applies to classifiers, not {opts.model}")
    if opts.mixup is not None and not hasattr(task, "mixup"):
        raise TrainError(f"--mixup applies to whole-window classifiers, not {opts.model}")
    if opts.teachers and not getattr(task, "teacher_families", ()):
        raise TrainError(f"--teacher applies to classifiers, not {opts.model}")
    if opts.distill is not None and not (opts.teachers or hp.get("teachers")):
        raise TrainError("--distill weighs the teachers' term: give --teacher FILE")
    for key, value in (
        ("batch_size", opts.batch_size),
        ("segment_seconds", opts.segment_seconds),
        ("lr", opts.lr),
        ("val_every", opts.val_every),
        ("patience", opts.patience),
        ("class_power", opts.class_power),
        ("frequency_share", opts.frequency_share),
        ("ema", opts.ema),
        ("speed", opts.speed),
        ("mixup", opts.mixup),
        ("distill", opts.distill if opts.distill is not None else _default_distill(opts, hp)),
    ):
        if value is not None:
            hp[key] = value
        hp.setdefault(key, getattr(task, "seconds" if key == "segment_seconds" else key, None))
    task.batch_size = int(hp["batch_size"])  # type: ignore[misc]
    for key in ("class_power", "frequency_share", "speed", "mixup", "distill"):
        if hp[key] is not None:
            setattr(task, key, float(hp[key]))
    if opts.val_size is not None:
        task.set_val_size(opts.val_size)
    if hp["segment_seconds"] is not None:
        task.seconds = float(hp["segment_seconds"])  # type: ignore[attr-defined]

    torch.manual_seed(seed)
    init = _read_init(Path(opts.init)) if opts.init and ck is None else None
    if ck is not None:
        fam = models.get_variant(opts.model).family
        model = models.build(config_from_dict(fam, json.loads(ck["config"])))
    else:
        model = _new_model(task, opts.config, _init_config(opts.model, init))
    module = task.train_module(model)
    init_info, init_learnt = (
        _init_weights(opts, init, module, model, log) if init is not None else (None, None)
    )
    module = module.to(device)
    if opts.teachers or hp.get("teachers"):
        teachers, hp["teachers"] = _load_teachers(opts, task, hp.get("teachers") or [], device)
        task.teachers = teachers  # type: ignore[attr-defined]
        task.temperature = hp.setdefault("temperature", task.temperature)  # type: ignore[attr-defined]
    ema = WeightAverage(module, float(hp["ema"])) if hp.get("ema") else None
    optimizer = torch.optim.Adam(module.parameters(), lr=float(hp["lr"]))
    state: dict[str, Any] = {
        "step": 0,
        "lr_scale": 1.0,
        "best_score": -math.inf,
        "best_step": 0,
        "best_metrics": {},
        "best_state": None,
        "bad_rounds": 0,
        "elapsed": 0.0,
        "history": [],
        "stopped": "",
        "device": "",
        "init": init_info,
        provenance.KEY: None,
    }
    if ck is not None:
        module.load_state_dict(ck["module"])
        if ema is not None and ck.get("ema") is not None:
            ema.module.load_state_dict(ck["ema"])
        elif ema is not None:
            ema.module.load_state_dict(ck["module"])
            log(f"[{opts.model}] --ema: the average starts from the checkpoint's weights")
        optimizer.load_state_dict(ck["optimizer"])
        torch.set_rng_state(ck["torch_rng"])
        for k in state:
            if k in ck["state"]:
                state[k] = ck["state"][k]
        log(
            f"[{opts.model}] resumed {ckpt_path} at step {state['step']} "
            f"(best {state['best_score']:.4f} at step {state['best_step']})"
        )
    if state[provenance.KEY] is None:
        # what this run learns from: its corpus's training sources, and its ancestors' (a
        # checkpoint written before the record was kept: its --init's are unknown)
        teachers = getattr(task, "teachers", ())
        ancestors = [provenance.recorded(getattr(t, "meta", None)) for t in teachers]
        if init_info is not None or (ck is not None and state["init"]):
            ancestors.append(init_learnt)
        state[provenance.KEY] = provenance.merge(task.learnt_sources(), ancestors)

    def payload() -> dict[str, Any]:
        return {
            "version": CHECKPOINT_VERSION,
            "model_name": opts.model,
            "config": config_to_json(model.config),
            "classes": task.labels(),
            "hparams": hp,
            "options": {"seed": seed, "data": str(opts.data), "out": str(out)},
            "module": _state_copy(module),
            "ema": _state_copy(ema.module) if ema is not None else None,
            "optimizer": optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "state": state,
            "saved_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }

    stopped = "export_only" if opts.export_only else ""
    if not opts.export_only:
        stopped = _run(
            opts, task, module, ema, optimizer, seed, state, hp, device, payload, ckpt_path
        )

    best_state = state["best_state"] or _state_copy(ema.module if ema else module)
    if state["best_state"] is None:
        log(f"[{opts.model}] no validation yet: exporting the current weights")
    if stopped == "interrupted":
        log(f"[{opts.model}] interrupted at step {state['step']}; resume with --resume")
        return TrainResult(None, ckpt_path, state["step"], stopped, state["best_score"], {})
    module.load_state_dict(best_state)
    module.eval()
    exported = task.export(module).cpu().eval()
    output_scale: dict[str, Any] | None = None
    if isinstance(task, SeparatorTask):  # SI-SNR leaves the output's scale free: fix it
        from rtaudio.train.calibrate import calibrate_output  # (also run as a script)

        log(f"[{opts.model}] measuring the output scale on validation mixtures")
        try:
            exported, output_scale = calibrate_output(task, exported)
        except CorpusError as e:  # the run's weights are never lost to their calibration
            log(f"[{opts.model}] output scale not measured ({e})")
        else:
            if output_scale is None:
                log(f"[{opts.model}] the output does not hold the speech consistently: no scale")
            else:
                log(
                    f"[{opts.model}] output scale {output_scale['gain_db']:+.2f} dB (speech "
                    "back at its input level)"
                )
    metrics: dict[str, Any] = {"validation": state["best_metrics"]}
    if opts.test:
        log(f"[{opts.model}] evaluating the best weights (step {state['best_step']}) on test")
        test_task = task
        if tested is not None:
            test_task, test_corpus = tested
            metrics["test_data"] = {
                "corpus": str(opts.test_data),
                "manifest_sha256": test_corpus.manifest_sha256,
            }
        metrics["test"] = test_task.evaluate(exported, "test")
    meta = {
        "model": opts.model,
        "family": models.get_variant(opts.model).family,
        "labels": task.labels(),
        "trained_with": f"rtaudio {__version__} train",
        "seed": seed,
        "steps": state["step"],
        "best_step": state["best_step"],
        "stopped": _stop_label(state, stopped),
        "initialised_from": state.get("init"),
        provenance.KEY: state[provenance.KEY],
        "hparams": hp,
        "wall_time_s": round(state["elapsed"], 1),
        "device": state.get("device") or str(device),
        "threads": opts.threads,
        "params": models.count_params(exported),
        "data": task.data_summary(),
        "metrics": metrics,
        "history": state["history"][-200:],
    }
    meta.update(task.export_meta())
    if output_scale is not None:
        meta["output_scale"] = output_scale
    if task.family == "swishnet":
        meta["input"] = (
            "raw MFCC frames of rtaudio.features (FeatureConfig defaults); the training-time "
            "input normalisation is folded into block1's depthwise convs"
        )
    elif task.family == "image":
        meta["input"] = (
            "rtaudio.spectrogram_image.logmel_image, resized to the config's resolution, "
            "then (x - mean) / std"
        )
    if out.exists() and not opts.overwrite:
        raise TrainError(f"{out} appeared during training; pass --overwrite to replace it")
    models.save(exported, out, meta=meta)  # temporary file + rename
    log(f"[{opts.model}] wrote {out} (best validation {state['best_score']:.4f})")
    return TrainResult(
        out, ckpt_path, state["step"], stopped or "steps", state["best_score"], metrics
    )


def _run(
    opts: TrainOptions,
    task: Task,
    module: nn.Module,
    ema: WeightAverage | None,
    optimizer: torch.optim.Optimizer,
    seed: int,
    state: dict[str, Any],
    hp: dict[str, Any],
    device: torch.device,
    payload: Callable[[], dict[str, Any]],
    ckpt_path: Path,
) -> str:
    log = opts.log
    name = opts.model
    base_lr = float(hp["lr"])
    val_every = int(hp["val_every"])
    patience = int(hp["patience"])
    plateau = max(1, min(task.plateau, patience // 2))
    if state["stopped"] == "early_stop":
        log(f"[{name}] this run already stopped early at step {state['step']}")
        return "early_stop"
    state["stopped"] = ""  # training again: no longer interrupted / out of time
    state["device"] = str(device)
    if device.type == "cpu":
        state["device"] = f"cpu ({torch.get_num_threads()} of {os.cpu_count()} threads)"
    elif device.type == "cuda":
        state["device"] = f"cuda ({torch.cuda.get_device_name(device)})"
    if state["step"] >= opts.steps:
        log(f"[{name}] already at step {state['step']} >= --steps {opts.steps}")
        return "steps"
    log(
        f"[{name}] training on {device} ({opts.threads} thread(s), "
        f"{opts.data_workers or 'no'} data workers), batch {task.batch_size}, "
        f"lr {base_lr:g}, validation every {val_every} steps, steps {state['step']}->{opts.steps}"
    )
    t_start = time.time()
    last_ckpt = time.time()
    elapsed0 = state["elapsed"]
    step_time = math.nan
    loss_avg = math.nan
    stopped = "steps"
    tty = sys.stderr.isatty()
    module.train()
    with _Stop() as stop, BatchSource(task, seed, opts.data_workers) as batches:
        while state["step"] < opts.steps:
            t0 = time.perf_counter()
            batch = tuple(t.to(device, non_blocking=True) for t in batches.get(state["step"]))
            warm = min(1.0, (state["step"] + 1) / max(1, opts.warmup_steps))
            for g in optimizer.param_groups:
                g["lr"] = base_lr * state["lr_scale"] * warm
            loss = task.loss(module, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), task.grad_clip)
            optimizer.step()
            state["step"] += 1
            step = state["step"]
            if ema is not None:
                ema.update(module, step)
            lv = float(loss.detach())
            loss_avg = lv if math.isnan(loss_avg) else 0.95 * loss_avg + 0.05 * lv
            dt = time.perf_counter() - t0
            step_time = dt if math.isnan(step_time) else 0.95 * step_time + 0.05 * dt
            state["elapsed"] = elapsed0 + (time.time() - t_start)
            if step % opts.log_every == 0 or step == opts.steps:
                eta = (opts.steps - step) * step_time
                best = (
                    f" | best val {state['best_score']:.4f} @{state['best_step']}"
                    if state["best_state"] is not None
                    else ""
                )
                line = (
                    f"[{name}] step {step}/{opts.steps} loss {loss_avg:.4f} "
                    f"lr {base_lr * state['lr_scale'] * warm:.2e} {step_time:.2f} s/step "
                    f"elapsed {_fmt_time(state['elapsed'])} ETA {_fmt_time(eta)}{best}"
                )
                if tty:
                    print("\r" + line, end="", file=sys.stderr, flush=True)
                else:
                    log(line)
            if step % val_every == 0:
                if tty:
                    print(file=sys.stderr)
                scored = ema.module if ema is not None else module
                module.eval()
                tv = time.perf_counter()
                metrics = task.validate(scored)
                module.train()
                score = float(metrics["score"])
                improved = score > state["best_score"] + 1e-6
                if improved:
                    state["best_score"] = score
                    state["best_step"] = step
                    state["best_metrics"] = metrics
                    state["best_state"] = _state_copy(scored)
                    state["bad_rounds"] = 0
                else:
                    state["bad_rounds"] += 1
                    if state["bad_rounds"] % plateau == 0:
                        state["lr_scale"] *= 0.5
                state["history"].append({"step": step, "loss": round(loss_avg, 5), **metrics})
                log(
                    f"[{name}] validation @{step}: "
                    + " ".join(f"{k} {v}" for k, v in metrics.items() if k != "score")
                    + (" (best)" if improved else f" (no gain x{state['bad_rounds']})")
                    + f" [{time.perf_counter() - tv:.1f} s]"
                )
                if state["bad_rounds"] >= patience:
                    stopped = "early_stop"
                    state["stopped"] = stopped
                    log(f"[{name}] early stop: no gain in {patience} validations")
                save_checkpoint(ckpt_path, payload())
                last_ckpt = time.time()
                if stopped == "early_stop":
                    break
            elif time.time() - last_ckpt > 60 * opts.checkpoint_minutes:
                save_checkpoint(ckpt_path, payload())
                last_ckpt = time.time()
            if stop.requested:
                stopped = "interrupted"
                break
            if opts.max_minutes is not None and time.time() - t_start > 60 * opts.max_minutes:
                stopped = "time_limit"
                break
    if tty:
        print(file=sys.stderr)
    if stopped in ("steps", "time_limit") and state["best_state"] is None:
        scored = ema.module if ema is not None else module
        module.eval()
        metrics = task.validate(scored)
        module.train()
        state["best_score"] = float(metrics["score"])
        state["best_step"] = state["step"]
        state["best_metrics"] = metrics
        state["best_state"] = _state_copy(scored)
        log(f"[{name}] validation @{state['step']}: {metrics}")
    if stopped in ("interrupted", "time_limit", "steps"):
        state["stopped"] = stopped  # for --export-only; a --resume clears it
    save_checkpoint(ckpt_path, payload())
    log(f"[{name}] checkpoint {ckpt_path} (step {state['step']}, {stopped})")
    return stopped
