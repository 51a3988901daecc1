"""What each trainable model learns from the corpus: batches, loss, validation, evaluation.

One :class:`Task` per model family:

* :class:`SwishNetTask` -- speech / music / noise per 10 ms MFCC frame; a window's label is the
  mean of its frames' logits (as the engine's :class:`rtaudio.classify.SwishNetTagger`);
* :class:`ImageTask` -- MobileNet / Xception variants on 1 s log-mel images, same 3 classes;
* :class:`ESResNetTask` -- sound-event classes (+ speech, music) on 1 s waveforms;
* :class:`MiTASTask` -- voice from background: speech + noise / music / events at -5..15 dB;
* :class:`TseNetTask` -- target speaker + interfering speaker at -5..5 dB, with a different
  enrollment utterance of the target.

Classifiers use class-balanced cross-entropy; separators the negative SI-SNR. Batches are
drawn from the ``train`` split with a ``numpy`` Generator (so a resumed run draws exactly what
an uninterrupted one would), validation uses a fixed set from ``validation`` and the reported
metrics come from ``test``.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

import rtaudio.models as models
from rtaudio.data.augment import speed
from rtaudio.data.mixtures import speech_noise_example, tse_example
from rtaudio.features import FeatureConfig
from rtaudio.models.registry import family_of_config
from rtaudio.spectrogram_image import IMAGE_FAMILIES, IMAGE_SIZE, logmel_images, resized_images
from rtaudio.train import provenance
from rtaudio.train.corpus import (
    CLASSES3,
    NOISE_KINDS,
    Augmenter,
    Corpus,
    CorpusError,
    Row,
    WindowSampler,
    class3,
    crop,
    group3,
    level_db,
)
from rtaudio.train.featurize import InputNorm, fold_input_norm, logmel_mfcc_batch
from rtaudio.train.metrics import (
    balanced_cross_entropy,
    classification_report,
    confusion,
    neg_si_snr,
    recording_interval,
    si_snr,
    snr_buckets,
)

SR = 16000
WINDOW = SR  # classifier window: 1 s
Log = Callable[[str], None]


def _held_out(corpus: Corpus, split: str, kinds: Sequence[str]) -> tuple[list[Row], str]:
    """Rows of ``split`` of these kinds; if there are none, the other held-out split (noted)."""
    rows = corpus.select(split, kinds)
    if rows:
        return rows, split
    other = "test" if split == "validation" else "validation"
    rows = corpus.select(other, kinds)
    if rows:
        return rows, other
    return corpus.select("train", kinds), "train"


class Task:
    """Base class; subclasses define the model, batches, loss and metrics."""

    family: ClassVar[str] = ""
    kind: ClassVar[str] = "classifier"  # or "separator"
    batch_size: ClassVar[int] = 32
    lr: ClassVar[float] = 1e-3
    val_every: ClassVar[int] = 250
    patience: ClassVar[int] = 12  # validations without improvement before stopping
    plateau: ClassVar[int] = 4  # validations without improvement before halving the LR
    grad_clip: ClassVar[float] = 5.0

    def __init__(
        self,
        name: str,
        corpus: Corpus,
        seed: int = 0,
        log: Log | None = None,
        train: bool = True,
    ) -> None:
        self.name = name
        self.corpus = corpus
        self.seed = seed
        self.log = log or corpus.log
        self.notes: list[str] = []
        self.training = train
        self.augmenter = Augmenter(seed + 7919) if train else None

    @classmethod
    def open_data(cls, root: Path, log: Log | None = None) -> Any:
        """The training data at ``root`` (:class:`Corpus`, or what the task reads instead)."""
        return Corpus(root, log)

    def learnt_sources(self) -> set[str]:
        """What a run on this data records having learnt from (its ``trained_on``)."""
        return provenance.run_sources(self.corpus.rows)

    def export_meta(self) -> dict[str, Any]:
        """Fields the exported weights file records beside the training summary."""
        return {}

    # -- model ----------------------------------------------------------------------------------
    def new_model(self) -> nn.Module:
        """The registry model this task trains (freshly initialised)."""
        raise NotImplementedError

    def train_module(self, model: nn.Module) -> nn.Module:
        """The module the optimiser trains (``model`` itself, or a wrapper around it)."""
        return model

    def export(self, module: nn.Module) -> nn.Module:
        """The registry model to save from a trained :meth:`train_module` (a copy)."""
        return module

    def labels(self) -> list[str]:
        return []

    # -- training -------------------------------------------------------------------------------
    def batch(self, rng: np.random.Generator) -> tuple[Tensor, ...]:
        raise NotImplementedError

    def loss(self, module: nn.Module, batch: tuple[Tensor, ...]) -> Tensor:
        raise NotImplementedError

    def validate(self, module: nn.Module) -> dict[str, Any]:
        """Metrics on the fixed validation set; ``score`` is higher-is-better."""
        raise NotImplementedError

    def evaluate(self, model: nn.Module, split: str = "test", **kw: Any) -> dict[str, Any]:
        """Metrics of a saved (exported) model on a split."""
        raise NotImplementedError

    def data_rows(self) -> list[Row]:
        """Every manifest row this task may read (for the data summary)."""
        raise NotImplementedError

    def set_val_size(self, n: int) -> None:
        """Size of the validation set (windows per class, or mixtures)."""
        raise NotImplementedError

    def data_summary(self) -> dict[str, Any]:
        s = self.corpus.summary(self.data_rows())
        if self.notes:
            s["notes"] = list(self.notes)
        return s


# =============================================================================== classifiers


def _windows_of(
    x: np.ndarray, win: int, max_windows: int, min_db: float = -50.0
) -> list[tuple[int, int]]:
    """Non-overlapping ``(start, length)`` windows of a clip, at most ``max_windows`` spread
    over it, skipping windows below ``min_db`` (the engine labels those ``silence``)."""
    n = x.size
    if n < win:
        starts = [0]
    else:
        count = n // win
        idx = np.linspace(0, count - 1, min(count, max_windows)).round().astype(int)
        starts = sorted({int(i) * win for i in idx})
    out = []
    for a in starts:
        seg = x[a : a + win].astype(np.float32) / (32768.0 if x.dtype == np.int16 else 1.0)
        if level_db(seg) >= min_db:
            out.append((a, min(win, n - a)))
    return out


class EvalWindow:
    """One labelled evaluation window with up to ``context`` samples of preceding audio."""

    __slots__ = ("audio", "cls", "ctx", "row")

    def __init__(self, audio: np.ndarray, ctx: int, cls: int, row: Row) -> None:
        self.audio = audio  # context + window (window zero-padded to 1 s)
        self.ctx = ctx
        self.cls = cls
        self.row = row

    @property
    def window(self) -> np.ndarray:
        return self.audio[self.ctx :]


def eval_windows(
    corpus: Corpus,
    rows: Sequence[Row],
    label_of: Callable[[Row], str | None],
    classes: Sequence[str],
    context: int = 0,
    max_per_clip: int = 4,
    max_per_class: int | None = None,
    seed: int = 1234,
) -> list[EvalWindow]:
    """Deterministic 1 s evaluation windows of held-out clips, at most ``max_per_class`` per
    class (a seeded subsample, spread over sources)."""
    per_class: dict[int, list[EvalWindow]] = {}
    for r in rows:
        lab = label_of(r)
        if lab is None or lab not in classes:
            continue
        c = list(classes).index(lab)
        x = corpus.audio(r)
        xf = x.astype(np.float32) / 32768.0
        for a, n in _windows_of(x, WINDOW, max_per_clip):
            c0 = max(0, a - context)
            audio = np.zeros(a - c0 + WINDOW, np.float32)
            audio[: a - c0 + n] = xf[c0 : a + n]
            per_class.setdefault(c, []).append(EvalWindow(audio, a - c0, c, r))
    out: list[EvalWindow] = []
    rng = np.random.default_rng(seed)
    for c in sorted(per_class):
        ws = per_class[c]
        if max_per_class is not None and len(ws) > max_per_class:
            # round-robin over sources so one long source cannot fill the class
            by_src: dict[str, list[EvalWindow]] = {}
            for w in ws:
                by_src.setdefault(str(w.row["source"]), []).append(w)
            for v in by_src.values():
                rng.shuffle(v)
            keys = sorted(by_src)
            pick: list[EvalWindow] = []
            while len(pick) < max_per_class:
                for k in keys:
                    if by_src[k] and len(pick) < max_per_class:
                        pick.append(by_src[k].pop())
            ws = pick
        out.extend(ws)
    return out


class ClassifierTask(Task):
    """Shared machinery of the window classifiers."""

    context: ClassVar[int] = 0  # samples of audio before each window the model may read
    class_power: ClassVar[float] = 0.25  # class sampling ~ hours ** class_power (loss reweighted)
    group_power: ClassVar[float] = 0.0  # sub-groups of a class (real / synthetic...) equally often
    p_background: ClassVar[float] = 0.2
    val_per_class: ClassVar[int] = 200
    speed: ClassVar[float] = 0.0  # speed perturbation: factors in [1 / (1 + s), 1 + s]
    p_speed: ClassVar[float] = 0.5  # ... applied to this share of the examples
    classes: tuple[str, ...]
    # knowledge distillation: trained classifiers of these families (and this run's labels)
    # may teach; the loss becomes (1 - distill) * its own + distill * T^2 * KL(teacher || student)
    teacher_families: ClassVar[tuple[str, ...]] = ()
    teachers: tuple[nn.Module, ...] = ()
    distill: ClassVar[float] = 0.0
    temperature: ClassVar[float] = 2.0

    def __init__(
        self,
        name: str,
        corpus: Corpus,
        seed: int = 0,
        log: Log | None = None,
        train: bool = True,
        classes: Sequence[str] | None = None,
    ) -> None:
        super().__init__(name, corpus, seed, log, train)
        self.classes = tuple(classes) if classes is not None else self.default_classes()
        self._sampler: WindowSampler | None = None
        self._background: list[Row] | None = None
        self._val: list[EvalWindow] | None = None

    def default_classes(self) -> tuple[str, ...]:
        return CLASSES3

    def set_val_size(self, n: int) -> None:
        self.val_per_class = n  # type: ignore[misc]

    def label_of(self, row: Row) -> str | None:
        return class3(row)

    def group_of(self, row: Row) -> str:
        return group3(row)

    def labels(self) -> list[str]:
        return list(self.classes)

    def data_rows(self) -> list[Row]:
        return [r for r in self.corpus.rows if self.label_of(r) in self.classes]

    @property
    def sampler(self) -> WindowSampler:
        if self._sampler is None:
            rows = self.corpus.select("train", where=lambda r: self.label_of(r) in self.classes)
            self.corpus.preload(rows)
            self._sampler = WindowSampler(
                self.corpus,
                rows,
                self.label_of,
                self.classes,
                class_power=self.class_power,
                group_of=self.group_of,
                group_power=self.group_power,
            )
            missing = [
                self.classes[i] for i in range(len(self.classes)) if i not in self._sampler.present
            ]
            if missing:
                self.notes.append(f"no training clips for: {', '.join(missing)}")
            self._background = self.corpus.select("train", ("noise",)) or self.corpus.select(
                "train", ("music",)
            )
            self.corpus.preload(self._background)
        return self._sampler

    def class_weights(self) -> Tensor:
        return torch.from_numpy(self.sampler.class_weights)

    def draw_examples(
        self, rng: np.random.Generator, n: int, length: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """``[n, length]`` augmented audio and ``[n]`` class indices."""
        assert self.augmenter is not None
        xs = np.zeros((n, length), np.float32)
        ys = np.zeros(n, np.int64)
        for i in range(n):
            if self.speed > 0 and rng.random() < self.p_speed:
                f = math.exp(float(rng.uniform(-1.0, 1.0)) * math.log1p(self.speed))
                x, c, _ = self.sampler.draw(rng, max(1, round(length * f)))
                x = speed(x, x.size / length) if x.size != length else x
            else:
                x, c, _ = self.sampler.draw(rng, length)
            x = self.augmenter.colour(x, rng)
            if self._background and rng.random() < self.p_background:
                b = self._background[int(rng.integers(len(self._background)))]
                v = crop(self.corpus.audio(b), length, rng, loop=True)
                lx, lv = level_db(x), level_db(v)
                if lx > -90 and lv > -90:
                    snr = float(rng.uniform(15.0, 30.0))
                    x = x + v * 10 ** ((lx - lv - snr) / 20.0)
            xs[i] = self.augmenter.level(x, rng)
            ys[i] = c
        return xs, ys

    @classmethod
    def window_logits(cls, module: nn.Module, audio: Tensor, ctx: int) -> Tensor:
        """``[B, K]`` class scores of the 1 s windows starting at sample ``ctx`` of ``audio``
        (``[B, ctx + 1 s]``: the model may read the ``ctx`` samples before its window)."""
        raise NotImplementedError

    @torch.no_grad()
    def soft_labels(self, audio: Tensor, ctx: int = 0) -> Tensor:
        """The teachers' class probabilities at temperature ``T``, averaged over teachers; each
        teacher reads the window its own way (MFCC frames, log-mel image, waveform)."""
        t = self.temperature
        probs = []
        for m in self.teachers:
            teach = TASK_FAMILIES[family_of_config(m.config).name]
            assert issubclass(teach, ClassifierTask)
            probs.append((teach.window_logits(m, audio, ctx) / t).softmax(-1))
        return torch.stack(probs).mean(0)

    def distilled(self, loss: Tensor, logits: Tensor, audio: Tensor, ctx: int = 0) -> Tensor:
        """``loss`` blended with the teachers' term on the window logits (unchanged without)."""
        if not self.teachers or self.distill <= 0:
            return loss
        t = self.temperature
        soft = self.soft_labels(audio, ctx)
        kd = torch.nn.functional.kl_div((logits / t).log_softmax(-1), soft, reduction="batchmean")
        return (1.0 - self.distill) * loss + self.distill * t * t * kd

    def val_windows(self) -> list[EvalWindow]:
        if self._val is None:
            rows, split = _held_out(self.corpus, "validation", self._kinds())
            if split != "validation":
                self.notes.append(f"validation uses the {split} split (no validation clips)")
            self._val = eval_windows(
                self.corpus,
                rows,
                self.label_of,
                self.classes,
                self.context,
                max_per_clip=3,
                max_per_class=self.val_per_class,
                seed=self.seed + 1,
            )
            if not self._val:
                raise CorpusError("no validation windows for this task")
        return self._val

    def _kinds(self) -> tuple[str, ...]:
        return ("speech", "music", "noise", "events")

    def predict(self, module: nn.Module, windows: Sequence[EvalWindow]) -> np.ndarray:
        """Predicted class index per window (``module`` in eval mode)."""
        raise NotImplementedError

    def validate(self, module: nn.Module) -> dict[str, Any]:
        ws = self.val_windows()
        pred = self.predict(module, ws)
        cm = confusion([w.cls for w in ws], pred.tolist(), len(self.classes))
        rep = classification_report(cm, self.classes)
        return {
            "score": rep["balanced_accuracy"],
            "balanced_accuracy": rep["balanced_accuracy"],
            "accuracy": rep["accuracy"],
            "macro_f1": rep["macro_f1"],
            "n": rep["n"],
        }

    def evaluate(self, model: nn.Module, split: str = "test", **kw: Any) -> dict[str, Any]:
        meta = getattr(model, "meta", None) or {}
        labels = getattr(model.config, "labels", None) or meta.get("labels") or self.classes
        self.classes = tuple(labels)
        rows = self.corpus.select(split, self._kinds())
        if not rows:
            raise CorpusError(f"the corpus has no {split} clips for {self.name}")
        ws = eval_windows(
            self.corpus,
            rows,
            self.label_of,
            self.classes,
            self.context,
            max_per_clip=int(kw.get("max_per_clip", 8)),
            max_per_class=kw.get("max_per_class"),
            seed=1234,
        )
        if not ws:
            raise CorpusError(f"no {split} windows for the classes {', '.join(self.classes)}")
        t0 = time.perf_counter()
        pred = self.predict(model, ws)
        cm = confusion([w.cls for w in ws], pred.tolist(), len(self.classes))
        rep = classification_report(cm, self.classes)
        rep["split"] = split
        rep["seconds"] = round(time.perf_counter() - t0, 2)
        # real recordings only (what users' microphones capture)
        real = [i for i, w in enumerate(ws) if int(w.row["real"])]
        if real and len(real) < len(ws):
            cm_r = confusion([ws[i].cls for i in real], pred[real].tolist(), len(self.classes))
            r = classification_report(cm_r, self.classes)
            rep["real_only"] = {k: r[k] for k in ("n", "accuracy", "balanced_accuracy", "macro_f1")}
        rep["sources"] = len({str(w.row["source"]) for w in ws})
        truth, sources = [w.cls for w in ws], [str(w.row["source"]) for w in ws]
        rep["interval_95"] = recording_interval(truth, pred.tolist(), sources)
        if kw.get("baseline") is not None:  # another model on the very same windows
            base = self.predict(kw["baseline"], ws)
            cm_b = confusion(truth, base.tolist(), len(self.classes))
            rb = classification_report(cm_b, self.classes)
            keys = ("accuracy", "balanced_accuracy")
            rep["baseline"] = {
                **{k: rb[k] for k in (*keys, "macro_f1")},
                "difference": {k: round(rep[k] - rb[k], 4) for k in keys},
                "interval_95": recording_interval(
                    truth, pred.tolist(), sources, baseline=base.tolist()
                ),
            }
        return rep


class SwishNetTask(ClassifierTask):
    """SwishNet on MFCC frames of 1 s windows, with up to 1 s of preceding context."""

    family = "swishnet"
    context = SR
    batch_size = 32
    lr = 2e-3
    val_every = 250
    fcfg: ClassVar[FeatureConfig] = FeatureConfig()
    # the image classifiers see the same 1 s windows with the same three labels
    teacher_families = ("swishnet", *IMAGE_FAMILIES)

    def new_model(self) -> nn.Module:
        return models.create(self.name, labels=self.classes, classes=len(self.classes))

    def train_module(self, model: nn.Module) -> nn.Module:
        mean, std = self._stats()
        return InputNorm(model, mean, std)

    def _stats(self) -> tuple[Tensor, Tensor]:
        """Per-coefficient MFCC mean / std over augmented training windows (fixed seed)."""
        rng = np.random.default_rng(self.seed + 17)
        xs, _ = self.draw_examples(rng, 256, WINDOW)
        m = logmel_mfcc_batch(torch.from_numpy(xs), self.fcfg)[1]  # B, C, F
        return m.mean(dim=(0, 2)), m.std(dim=(0, 2))

    def export(self, module: nn.Module) -> nn.Module:
        assert isinstance(module, InputNorm)
        model = models.build(module.model.config)
        model.load_state_dict(module.model.state_dict())
        return fold_input_norm(model, module.mean, module.std).eval()

    @classmethod
    def _target_frames(cls, ctx: int) -> tuple[int, int]:
        """First and last frame (inclusive) whose analysis window lies in the 1 s window."""
        hop, half = cls.fcfg.hop_length, cls.fcfg.n_fft // 2
        lo = math.ceil(ctx / hop)
        hi = (ctx + WINDOW - half) // hop
        return lo, hi

    def batch(self, rng: np.random.Generator) -> tuple[Tensor, ...]:
        ctx = int(rng.integers(0, SR // self.fcfg.hop_length + 1)) * self.fcfg.hop_length
        xs, ys = self.draw_examples(rng, self.batch_size, ctx + WINDOW)
        mfcc = logmel_mfcc_batch(torch.from_numpy(xs), self.fcfg)[1]
        lo, hi = self._target_frames(ctx)
        # the waveforms travel along for teachers (which read them their own way)
        return mfcc, torch.from_numpy(ys), torch.tensor([lo, hi, ctx]), torch.from_numpy(xs)

    def loss(self, module: nn.Module, batch: tuple[Tensor, ...]) -> Tensor:
        mfcc, y, span = batch[:3]
        lo, hi = int(span[0]), int(span[1])
        logits = module(mfcc)[..., lo : hi + 1]  # B, K, F
        w = self.class_weights().to(logits.device)
        clip = logits.mean(-1)
        clip_loss = balanced_cross_entropy(clip, y, w)
        frames = logits.transpose(1, 2).reshape(-1, logits.shape[1])
        frame_y = y[:, None].expand(-1, logits.shape[-1]).reshape(-1)
        loss = clip_loss + 0.5 * balanced_cross_entropy(frames, frame_y, w)
        if len(batch) > 3:
            loss = self.distilled(loss, clip, batch[3].to(logits.device), int(span[2]))
        return loss

    @classmethod
    def window_logits(cls, module: nn.Module, audio: Tensor, ctx: int) -> Tensor:
        """Mean frame scores over the frames inside the window (what the engine averages)."""
        lo, hi = cls._target_frames(ctx)
        return module(logmel_mfcc_batch(audio, cls.fcfg)[1])[..., lo : hi + 1].mean(-1)

    @torch.inference_mode()
    def predict(self, module: nn.Module, windows: Sequence[EvalWindow]) -> np.ndarray:
        out = np.zeros(len(windows), np.int64)
        # group windows by context length so each group runs as one batch
        groups: dict[int, list[int]] = {}
        for i, w in enumerate(windows):
            groups.setdefault(w.ctx, []).append(i)
        dev = next(module.parameters()).device
        for ctx, idx in groups.items():
            for b in range(0, len(idx), 64):
                part = idx[b : b + 64]
                x = torch.from_numpy(np.stack([windows[i].audio for i in part])).to(dev)
                out[part] = self.window_logits(module, x, ctx).argmax(-1).cpu().numpy()
        return out

    def evaluate(self, model: nn.Module, split: str = "test", **kw: Any) -> dict[str, Any]:
        rep = super().evaluate(model, split, **kw)
        if kw.get("live", True):
            rep["live"] = live_swishnet(model, self.corpus, self.corpus.select(split), self.classes)
        return rep


class WindowClassifierTask(ClassifierTask):
    """Classifiers of whole 1 s windows: one label per window from the module's logits.

    With ``mixup`` > 0 each batch is mixed with a shuffled copy of itself (waveforms summed
    with weights ``lam`` / ``1 - lam``, ``lam ~ Beta(mixup, mixup)``, one per batch) and the
    loss is the same blend of the two labels' cross-entropies.

    With ``teachers`` (see :meth:`ClassifierTask.distilled`) the student also learns the
    teachers' averaged soft labels of the same (augmented, mixed) batch.
    """

    mixup: ClassVar[float] = 0.0

    @classmethod
    def inputs(cls, module: nn.Module, wave: Tensor) -> Tensor:
        """What the module takes, from a batch of 1 s waveforms (here: the waveforms)."""
        return wave

    @classmethod
    def window_logits(cls, module: nn.Module, audio: Tensor, ctx: int) -> Tensor:
        return module(cls.inputs(module, audio[:, ctx:]))

    def batch(self, rng: np.random.Generator) -> tuple[Tensor, ...]:
        xs, ys = self.draw_examples(rng, self.batch_size, WINDOW)
        if self.mixup <= 0:
            return torch.from_numpy(xs), torch.from_numpy(ys)
        lam = float(rng.beta(self.mixup, self.mixup))
        perm = rng.permutation(len(ys))
        xs = (lam * xs + (1.0 - lam) * xs[perm]).astype(np.float32)
        return (
            torch.from_numpy(xs),
            torch.from_numpy(ys),
            torch.from_numpy(ys[perm]),
            torch.tensor(lam),
        )

    def loss(self, module: nn.Module, batch: tuple[Tensor, ...]) -> Tensor:
        x, y = batch[:2]
        logits = module(self.inputs(module, x))
        w = self.class_weights().to(logits.device)
        loss = balanced_cross_entropy(logits, y, w)
        if len(batch) == 4:
            lam = batch[3].to(logits.device)
            loss = lam * loss + (1.0 - lam) * balanced_cross_entropy(logits, batch[2], w)
        return self.distilled(loss, logits, x)

    @torch.inference_mode()
    def predict(self, module: nn.Module, windows: Sequence[EvalWindow]) -> np.ndarray:
        dev = next(module.parameters()).device
        out = []
        for b in range(0, len(windows), 64):
            x = torch.from_numpy(np.stack([w.window for w in windows[b : b + 64]])).to(dev)
            out.append(self.window_logits(module, x, 0).argmax(-1).cpu().numpy())
        return np.concatenate(out)


class ImageTask(WindowClassifierTask):
    """MobileNet / Xception / PydMobileNet variants on 1 s log-mel images
    (:mod:`rtaudio.spectrogram_image`), resized to the model's input side (``--config
    resolution=64``) as the image commands resize them."""

    family = "image"
    batch_size = 32
    lr = 1e-3
    val_every = 250
    teacher_families = IMAGE_FAMILIES

    def new_model(self) -> nn.Module:
        overrides: dict[str, Any] = {
            "num_classes": len(self.classes),
            "in_chans": 1,
            "mean": (0.5,),
            "std": (0.5,),
        }
        # the image commands resize / crop by these: identity for 128 x 128 spectrograms
        overrides.update(resolution=IMAGE_SIZE[0], crop_pct=1.0, interpolation="bilinear")
        return models.create(self.name, **overrides)

    @classmethod
    def inputs(cls, module: nn.Module, wave: Tensor) -> Tensor:
        """1 s waveforms -> normalised log-mel images."""
        cfg: Any = module.config
        img = resized_images(logmel_images(wave), int(cfg.resolution))
        return (img - cfg.mean[0]) / cfg.std[0]


class ESResNetTask(WindowClassifierTask):
    """ESResNet on 1 s waveforms: the corpus's sound-event classes plus speech and music."""

    family = "esresnet"
    batch_size = 24
    lr = 1e-3
    val_every = 250
    p_background = 0.15
    class_power = 0.5
    min_train_seconds: ClassVar[float] = 10.0  # a class needs this much training audio
    teacher_families = ("esresnet",)

    def default_classes(self) -> tuple[str, ...]:
        secs: dict[str, float] = defaultdict(float)
        for r in self.corpus.select("train", ("events",)):
            secs[str(r["label"])] += float(r["duration"])
        train = {c for c, t in secs.items() if t >= self.min_train_seconds}
        held = {
            str(r["label"])
            for s in ("validation", "test")
            for r in self.corpus.select(s, ("events",))
        }
        events = sorted(train & held) or sorted(train)
        extra = [k for k in ("speech", "music") if self.corpus.select("train", (k,))]
        return (*events, *extra)

    def group_of(self, row: Row) -> str:
        return "real" if int(row["real"]) else "synthetic"

    def label_of(self, row: Row) -> str | None:
        kind = str(row["kind"])
        if kind == "events":
            return str(row["label"])
        if kind in ("speech", "music"):
            return kind
        return None

    def _kinds(self) -> tuple[str, ...]:
        return ("events", "speech", "music")

    def new_model(self) -> nn.Module:
        return models.create(self.name, classes=len(self.classes), labels=self.classes)


# =============================================================================== separators


class SeparatorTask(Task):
    """Shared machinery of MiTAS and TseNet: fixed held-out mixtures, SI-SNR improvement."""

    kind = "separator"
    batch_size = 8
    lr = 1e-3
    val_every = 200
    patience = 30  # the 48 validation mixtures are noisy: be slow to give up
    plateau = 8
    seconds: ClassVar[float] = 2.0  # training segment
    eval_seconds: ClassVar[float] = 4.0
    val_mixtures: ClassVar[int] = 48
    train_range: ClassVar[tuple[float, float]] = (-5.0, 15.0)
    eval_range: ClassVar[tuple[float, float]] = (-5.0, 10.0)
    eval_edges: ClassVar[tuple[float, ...]] = (-5.0, 0.0, 5.0, 10.0)

    def __init__(self, *a: Any, **k: Any) -> None:
        super().__init__(*a, **k)
        self._val: list[dict[str, Any]] | None = None
        self._train_pools: tuple[list[Row], list[Row]] | None = None

    def new_model(self) -> nn.Module:
        return models.create(self.name)

    def set_val_size(self, n: int) -> None:
        self.val_mixtures = n  # type: ignore[misc]

    def pools(self, split: str) -> tuple[list[Row], list[Row]]:
        """(speech rows, interference rows) of a split."""
        raise NotImplementedError

    def example(
        self,
        rng: np.random.Generator,
        speech: list[Row],
        other: list[Row],
        n: int,
        snr_range: tuple[float, float],
        augment: bool,
    ) -> dict[str, Any]:
        """One mixture; a draw that hits silent audio (SNR undefined) is drawn again."""
        for _ in range(20):
            try:
                ex = self._example(rng, speech, other, n, snr_range, augment)
            except ValueError:
                continue
            if level_db(ex["target"]) > -90:
                return ex
        raise CorpusError(f"{self.name}: could not draw a non-silent mixture in 20 tries")

    def _example(
        self,
        rng: np.random.Generator,
        speech: list[Row],
        other: list[Row],
        n: int,
        snr_range: tuple[float, float],
        augment: bool,
    ) -> dict[str, Any]:
        raise NotImplementedError

    def run(self, module: nn.Module, ex: dict[str, Tensor]) -> Tensor:
        """Estimate ``[B, T]`` of the target from a batch dict."""
        raise NotImplementedError

    def _train(self) -> tuple[list[Row], list[Row]]:
        if self._train_pools is None:
            sp, ot = self.pools("train")
            if not sp or not ot:
                raise CorpusError(f"{self.name}: the train split lacks speech or interference")
            self.corpus.preload(sp + ot)
            self._train_pools = (sp, ot)
        return self._train_pools

    def batch(self, rng: np.random.Generator) -> tuple[Tensor, ...]:
        sp, ot = self._train()
        n = round(self.seconds * SR)
        exs = [self.example(rng, sp, ot, n, self.train_range, True) for _ in range(self.batch_size)]
        return self._collate(exs)

    @staticmethod
    def _collate(exs: Sequence[dict[str, Any]]) -> tuple[Tensor, ...]:
        keys = ("mixture", "target", "enrollment")
        return tuple(torch.from_numpy(np.stack([e[k] for e in exs])) for k in keys if k in exs[0])

    def _as_dict(self, batch: tuple[Tensor, ...]) -> dict[str, Tensor]:
        d = {"mixture": batch[0], "target": batch[1]}
        if len(batch) > 2:
            d["enrollment"] = batch[2]
        return d

    def loss(self, module: nn.Module, batch: tuple[Tensor, ...]) -> Tensor:
        d = self._as_dict(batch)
        return neg_si_snr(self.run(module, d), d["target"])

    def mixtures(self, split: str, count: int, seed: int) -> list[dict[str, Any]]:
        """A fixed set of held-out mixtures (deterministic given the corpus and ``seed``)."""
        sp, ot = self.pools(split)
        if not sp or not ot:
            sp2, ot2 = self.pools("test" if split == "validation" else "validation")
            if sp2 and ot2:
                self.notes.append(f"{split}: no speech or interference; used the other split")
                sp, ot = sp2, ot2
        if not sp or not ot:
            raise CorpusError(f"{self.name}: no {split} speech or interference to mix")
        rng = np.random.default_rng(seed)
        n = round(self.eval_seconds * SR)
        return [self.example(rng, sp, ot, n, self.eval_range, False) for _ in range(count)]

    def _score(self, module: nn.Module, exs: Sequence[dict[str, Any]]) -> np.ndarray:
        """SI-SNR of the estimates ``[N]``."""
        return self._score_and_gain(module, exs)[0]

    def _score_and_gain(
        self, module: nn.Module, exs: Sequence[dict[str, Any]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """SI-SNR of the estimates and the gain of the target in them, ``<y, s> / <s, s>``
        (1: the speech at the level it came in; SI-SNR is blind to it), each ``[N]``."""
        dev = next(module.parameters()).device
        out, gains = [], []
        with torch.inference_mode():
            for b in range(0, len(exs), 8):
                d = {k: v.to(dev) for k, v in self._as_dict(self._collate(exs[b : b + 8])).items()}
                est, ref = self.run(module, d), d["target"]
                out.append(si_snr(est, ref).cpu().numpy())
                g = (est * ref).sum(-1) / (ref * ref).sum(-1).clamp_min(1e-30)
                gains.append(g.cpu().numpy())
        return np.concatenate(out), np.concatenate(gains)

    @staticmethod
    def _input_si_snr(exs: Sequence[dict[str, Any]]) -> np.ndarray:
        m = torch.from_numpy(np.stack([e["mixture"] for e in exs]))
        t = torch.from_numpy(np.stack([e["target"] for e in exs]))
        return si_snr(m, t).numpy()

    def validate(self, module: nn.Module) -> dict[str, Any]:
        if self._val is None:
            self._val = self.mixtures("validation", self.val_mixtures, self.seed + 1)
            self._val_in = self._input_si_snr(self._val)
        imp = self._score(module, self._val) - self._val_in
        return {
            "score": round(float(np.median(imp)), 3),
            "median_si_snri": round(float(np.median(imp)), 3),
            "mean_si_snri": round(float(np.mean(imp)), 3),
            "n": len(self._val),
        }

    def evaluate(self, model: nn.Module, split: str = "test", **kw: Any) -> dict[str, Any]:
        count = int(kw.get("mixtures") or 200)
        t0 = time.perf_counter()
        exs = self.mixtures(split, count, int(kw.get("seed", 1234)))
        inp = self._input_si_snr(exs)
        out, gain = self._score_and_gain(model, exs)
        imp = out - inp
        level = 20 * np.log10(np.maximum(np.abs(gain), 1e-9))
        snr = np.array([e["snr"] for e in exs])
        rep: dict[str, Any] = {
            "split": split,
            "n": len(exs),
            "seconds_per_mixture": self.eval_seconds,
            "input_range_db": list(self.eval_range),
            "median_si_snri": round(float(np.median(imp)), 2),
            "mean_si_snri": round(float(np.mean(imp)), 2),
            "median_input_si_snr": round(float(np.median(inp)), 2),
            "median_output_si_snr": round(float(np.median(out)), 2),
            # the speech in the output against its level in the input (0 dB: as it came in)
            "speech_level_db": {
                "median": round(float(np.median(level)), 2),
                "p10": round(float(np.percentile(level, 10)), 2),
                "p90": round(float(np.percentile(level, 90)), 2),
                "inverted": int(np.count_nonzero(gain < 0)),
            },
            "by_input_snr": snr_buckets(snr.tolist(), imp.tolist(), self.eval_edges),
        }
        groups: dict[str, list[int]] = {}
        for i, e in enumerate(exs):
            for g in e["groups"]:
                groups.setdefault(g, []).append(i)
        rep["by_group"] = {
            g: {"n": len(ix), "median_si_snri": round(float(np.median(imp[ix])), 2)}
            for g, ix in sorted(groups.items())
        }
        rep["seconds"] = round(time.perf_counter() - t0, 2)
        return rep


class MiTASTask(SeparatorTask):
    """Voice from background: speech + noise / music / events, target = the speech."""

    family = "mitas"

    def __init__(self, *a: Any, **k: Any) -> None:
        super().__init__(*a, **k)
        self._by_kind: dict[int, tuple[list[Row], dict[str, dict[str, list[Row]]]]] = {}

    def data_rows(self) -> list[Row]:
        return [r for r in self.corpus.rows if r["kind"] in ("speech", *NOISE_KINDS)]

    def pools(self, split: str) -> tuple[list[Row], list[Row]]:
        return self.corpus.select(split, ("speech",)), self.corpus.select(split, NOISE_KINDS)

    def _interference(self, rng: np.random.Generator, other: list[Row]) -> Row:
        """Noise, music and sound events equally often (music has most clips), then a source
        uniformly, then a clip: no single long recording or kind dominates."""
        key = id(other)
        cached = self._by_kind.get(key)
        if cached is None or cached[0] is not other:
            groups: dict[str, dict[str, list[Row]]] = {}
            for r in other:
                groups.setdefault(str(r["kind"]), {}).setdefault(str(r["source"]), []).append(r)
            cached = self._by_kind[key] = (other, groups)
        groups = cached[1]
        kinds = sorted(groups)
        srcs = groups[kinds[int(rng.integers(len(kinds)))]]
        names = sorted(srcs)
        rows = srcs[names[int(rng.integers(len(names)))]]
        return rows[int(rng.integers(len(rows)))]

    def _example(
        self,
        rng: np.random.Generator,
        speech: list[Row],
        other: list[Row],
        n: int,
        snr_range: tuple[float, float],
        augment: bool,
    ) -> dict[str, Any]:
        srow = speech[int(rng.integers(len(speech)))]
        vrow = self._interference(rng, other)
        s = crop(self.corpus.audio(srow), n, rng, loop=False, min_db=-40.0, tries=6)
        v = crop(self.corpus.audio(vrow), n, rng, loop=True, min_db=-60.0)
        if level_db(v) < -80:  # a silent stretch of an event: use white noise instead
            v = rng.standard_normal(n).astype(np.float32) * 0.01
        if level_db(s) < -80:
            s = crop(self.corpus.audio(srow), n, rng, loop=True, min_db=None)
        if augment and self.augmenter is not None:
            s = self.augmenter.colour(s, rng)
            v = self.augmenter.colour(v, rng)
        mix = speech_noise_example(s, v, rng, snr_range, n)
        gain = 10 ** (float(rng.uniform(-25.0, 0.0)) / 20.0) if augment else 1.0
        peak = float(np.max(np.abs(mix.mixture))) * gain
        if peak > 0.99:
            gain *= 0.99 / peak
        return {
            "mixture": (mix.mixture * gain).astype(np.float32),
            "target": (mix.signal * gain).astype(np.float32),
            "snr": mix.snr_db,
            "groups": [
                f"interference:{vrow['kind']}",
                "speech:real" if int(srow["real"]) else "speech:synthetic",
            ],
        }

    def run(self, module: nn.Module, ex: dict[str, Tensor]) -> Tensor:
        return module(ex["mixture"])[:, 0]


class TseNetTask(SeparatorTask):
    """Target speaker + interfering speaker; the enrollment is another utterance of the target."""

    family = "tsenet"
    enroll_seconds: ClassVar[float] = 3.0
    train_range = (-5.0, 5.0)
    eval_range = (-5.0, 5.0)
    eval_edges = (-5.0, 0.0, 5.0)

    def __init__(self, *a: Any, **k: Any) -> None:
        super().__init__(*a, **k)
        self._by_speaker: dict[int, tuple[list[Row], dict[str, list[Row]]]] = {}

    def data_rows(self) -> list[Row]:
        return [r for r in self.corpus.rows if r["kind"] == "speech"]

    def pools(self, split: str) -> tuple[list[Row], list[Row]]:
        rows = self.corpus.select(split, ("speech",))
        count: dict[str, int] = {}
        for r in rows:
            count[str(r["speaker"])] = count.get(str(r["speaker"]), 0) + 1
        targets = [r for r in rows if count[str(r["speaker"])] >= 2]
        if len(count) < 2:
            return [], []
        return targets, rows

    def _example(
        self,
        rng: np.random.Generator,
        speech: list[Row],
        other: list[Row],
        n: int,
        snr_range: tuple[float, float],
        augment: bool,
    ) -> dict[str, Any]:
        key = id(speech)
        cached = self._by_speaker.get(key)
        if cached is None or cached[0] is not speech:
            groups: dict[str, list[Row]] = {}
            for r in speech:
                groups.setdefault(str(r["speaker"]), []).append(r)
            cached = self._by_speaker[key] = (speech, groups)
        by_spk = cached[1]
        spks = sorted(by_spk)
        spk = spks[int(rng.integers(len(spks)))]
        mine = by_spk[spk]
        i, j = (int(k) for k in rng.choice(len(mine), size=2, replace=False))
        theirs = [r for r in other if str(r["speaker"]) != spk]
        irow = theirs[int(rng.integers(len(theirs)))]
        e_n = round(self.enroll_seconds * SR)
        long = max(n, e_n)
        a = crop(self.corpus.audio(mine[i]), long, rng, loop=False, min_db=-40.0, tries=6)
        b = crop(self.corpus.audio(mine[j]), long, rng, loop=False, min_db=-40.0, tries=6)
        v = crop(self.corpus.audio(irow), n, rng, loop=False, min_db=-40.0, tries=6)
        if level_db(v) < -80:
            v = crop(self.corpus.audio(irow), n, rng, loop=True, min_db=None)
        if augment and self.augmenter is not None:
            a = self.augmenter.colour(a, rng)
            b = self.augmenter.colour(b, rng)
            v = self.augmenter.colour(v, rng)
        # two different utterances of the target speaker: one becomes the target, the other
        # the enrollment (cropped to enroll_seconds)
        ex = tse_example([a, b], v, rng, snr_range, n, e_n)
        gain = 10 ** (float(rng.uniform(-20.0, 0.0)) / 20.0) if augment else 1.0
        peak = float(np.max(np.abs(ex.mixture))) * gain
        if peak > 0.99:
            gain *= 0.99 / peak
        e = ex.enrollment
        if augment:
            e = e * 10 ** (float(rng.uniform(-10.0, 10.0)) / 20.0)
        return {
            "mixture": (ex.mixture * gain).astype(np.float32),
            "target": (ex.target * gain).astype(np.float32),
            "enrollment": np.asarray(e, np.float32),
            "snr": ex.sir_db,
            "groups": [
                "target:real" if int(mine[i]["real"]) else "target:synthetic",
                "interferer:real" if int(irow["real"]) else "interferer:synthetic",
            ],
        }

    def run(self, module: nn.Module, ex: dict[str, Tensor]) -> Tensor:
        return module(ex["mixture"], enrollment=ex["enrollment"])[:, 0]


# =============================================================================== live check


def live_swishnet(
    model: nn.Module,
    corpus: Corpus,
    rows: Sequence[Row],
    classes: Sequence[str],
    max_clips_per_class: int = 40,
    seed: int = 99,
) -> dict[str, Any]:
    """SwishNet as the live engine runs it: held-out clips of every class concatenated into one
    stream, pushed in 10 ms chunks through :class:`rtaudio.features.FeatureExtractor` and
    :class:`rtaudio.classify.SwishNetTagger` with the engine's default hop, window and
    lookahead; each non-silent label whose window lies inside one clip is scored."""
    from rtaudio.classify import AudioHistory, SwishNetTagger
    from rtaudio.config import EngineConfig
    from rtaudio.features import FeatureExtractor

    cfg = EngineConfig()
    rng = np.random.default_rng(seed)
    picked: list[tuple[np.ndarray, int]] = []
    for c, lab in enumerate(classes):
        mine = [r for r in rows if class3(r) == lab]
        rng.shuffle(mine)
        for r in mine[:max_clips_per_class]:
            x = corpus.float_audio(r)
            if x.size >= SR + SR // 2:
                picked.append((x[: 6 * SR], c))
    if not picked:
        return {"n": 0}
    order = rng.permutation(len(picked))
    stream = np.concatenate([picked[i][0] for i in order])
    bounds, pos = [], 0
    for i in order:
        bounds.append((pos, pos + picked[i][0].size, picked[i][1]))
        pos += picked[i][0].size
    fx = FeatureExtractor()
    tagger = SwishNetTagger(
        model,
        fx.cfg,
        cfg.swishnet_hop_ms,
        cfg.swishnet_lookahead_ms,
        cfg.swishnet_window_ms,
        cfg.silence_db,
    )
    hist = AudioHistory(tagger.history_needed + 2 * cfg.chunk_samples)
    n = cfg.chunk_samples
    true, pred = [], []
    starts = np.array([b[0] for b in bounds])
    for a in range(0, stream.size - n + 1, n):
        chunk = stream[a : a + n]
        hist.push(chunk)
        tagger.on_frames(fx.push(chunk))
        for res in tagger.update(hist):
            if res.label == "silence":
                continue
            w0, w1 = round(res.window[0] * SR), round(res.window[1] * SR)
            k = int(np.searchsorted(starts, w0, side="right")) - 1
            if k < 0 or w1 > bounds[k][1] or w1 - w0 < SR:
                continue
            true.append(bounds[k][2])
            pred.append(list(classes).index(res.label))
    cm = confusion(true, pred, len(classes))
    rep = classification_report(cm, classes)
    return {
        "n": rep["n"],
        "accuracy": rep["accuracy"],
        "balanced_accuracy": rep["balanced_accuracy"],
        "macro_f1": rep["macro_f1"],
        "confusion": rep["confusion"],
        "lookahead_ms": cfg.swishnet_lookahead_ms,
        "hop_ms": cfg.swishnet_hop_ms,
        "window_ms": cfg.swishnet_window_ms,
        "clips": len(picked),
    }


# =============================================================================== registry

TASK_FAMILIES: dict[str, type[Task]] = {
    "swishnet": SwishNetTask,
    "esresnet": ESResNetTask,
    "mitas": MiTASTask,
    "tsenet": TseNetTask,
    **dict.fromkeys(IMAGE_FAMILIES, ImageTask),
}


def task_class(name: str) -> type[Task]:
    """The task that trains registry model ``name`` (by its family)."""
    fam = models.get_variant(name).family
    cls = TASK_FAMILIES.get(fam)
    if cls is None:
        raise CorpusError(
            f"no training recipe for {name} (family {fam}); trainable families: "
            + ", ".join(sorted(TASK_FAMILIES))
        )
    return cls


def make_task(
    name: str,
    corpus: Corpus,
    seed: int = 0,
    log: Log | None = None,
    train: bool = True,
    classes: Sequence[str] | None = None,
) -> Task:
    cls = task_class(name)
    if issubclass(cls, ClassifierTask):
        return cls(name, corpus, seed, log, train, classes=classes)
    return cls(name, corpus, seed, log, train)
