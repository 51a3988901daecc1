"""``rtaudio process``: folders of recordings through the same streaming pipeline as live.

Each file is read in blocks (constant memory), converted to 16 kHz mono, and fed chunk by chunk
to the engine's :class:`~rtaudio.pipeline.Processor` (same chunk size, lookahead and models as
``rtaudio monitor``), so batch labels equal what live monitoring would show for that audio. At the
end of a file the stream is flushed with silence so the last spans get their labels and the
separated voice its tail; outputs are then cut back to the file's length.

Outputs mirror the input tree under ``--out`` and are written atomically (temporary file, then
rename): ``NAME.labels.json``, ``NAME.voice.wav`` (with ``--separate``; 16 kHz mono,
sample-aligned with the input, the separator's delay removed), ``NAME.removed.wav`` (with
``--stems removed``: the input minus the voice, aligned the same way) and ``summary.csv``.

Resuming: each ``labels.json`` records the settings that made it (chunk, classifiers and their
windows, mode, separator, leveller, enrollment, and a digest of each weights file). A file whose
``labels.json`` was made with the same settings and the stems asked for is skipped, so an
interrupted batch resumes (stems moved away since stay so); one made without a stem now asked
for (separation added, ``--stems removed`` added) is processed again (the same settings give the
same labels). A folder holding results
made with other settings is refused, naming the first file and what differs, rather than mixing
two configurations or writing over results the user has: ``--overwrite`` redoes everything.
So is a folder holding files rtaudio did not make under names this run would write (the
user's own ``summary.csv``, voice file or label track). Files processed into a folder of
earlier results join them: ``summary.csv`` keeps the other files' rows.

Trust and failure rules: a file that cannot be used (unreadable, NaN / infinite samples...) is
one ``summary.csv`` row with ``status=error`` and a one-line ``error`` naming the file and the
problem, and the batch goes on; nothing is ever written outside ``--out`` (a symlink inside the
output tree that points elsewhere makes that file's row an error instead); memory does not grow
with a file's length (audio is read in blocks, the separated voice is streamed to a temporary
file in ``--out/.rtaudio-spool`` that is renamed into place, or removed on failure or Ctrl-C).
A full output disk stops the batch (:class:`DiskFullError`: every later file would fail the
same way, after being processed): the files finished are kept, the one being written is
removed, and running the same command again resumes.
Exit status of ``rtaudio process``: 0 every file processed, 1 some files failed (see
``summary.csv``) or the disk filled up, 2 bad arguments or settings, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import array
import contextlib
import csv
import functools
import hashlib
import io
import json
import math
import os
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

from rtaudio.audiofile import (
    AUDIO_EXTENSIONS,
    AudioFileError,
    duration_estimate,
    iter_blocks,
    probe,
)
from rtaudio.classify import SILENCE, AudioHistory, SwishNetTagger
from rtaudio.config import SAMPLE_RATE, EngineConfig
from rtaudio.errors import missing
from rtaudio.labeltrack import label_track
from rtaudio.outputs import FILE_MODE, DiskFullError, exclusive, space_checked
from rtaudio.pipeline import Processor
from rtaudio.results import Label
from rtaudio.weights import weights_path

OFFLINE_MAX_SECONDS = 1200  # whole-file separation holds every activation in memory
SPOOL_DIR = ".rtaudio-spool"  # under --out: stems being written (removed after each run)
STEMS = ("voice", "removed")  # separator outputs: the voice, and the input minus the voice
STEM_FORMATS = {"wav": "WAV", "flac": "FLAC"}  # file extension -> libsndfile format (16-bit)
# what is done around the separator (rtaudio.pipeline.SeparatorStream); raised when that
# changes, so that stems made before are not mixed with new ones: 2 = the output scale,
# 3 = a calibrated output scale in the weights replaces the running one
SEPARATION_PROCESSING = 3
PROGRESS_S = 2.0  # how often (in audio) a long file moves the progress bar on

SUMMARY_FIELDS = (
    "path",
    "status",
    "error",
    "duration_s",
    "label",
    "label_score",
    "top_event",
    "top_event_score",
    "rtf",
    *STEMS,
)


class BatchError(ValueError):
    """Bad batch arguments (no inputs, output inside an input...)."""


@dataclass(frozen=True)
class StemSpec:
    """What a separator writes: which stems (among :data:`STEMS`) and in which format
    (:data:`STEM_FORMATS`; 16 kHz mono, 16-bit)."""

    names: tuple[str, ...] = ("voice",)
    format: str = "wav"

    def __post_init__(self) -> None:
        names = self.names
        if not names or len(set(names)) != len(names) or any(n not in STEMS for n in names):
            raise BatchError(
                f"stems {', '.join(names) or 'none'}: give one or both of {', '.join(STEMS)}, "
                "once each"
            )
        if self.format not in STEM_FORMATS:
            raise BatchError(
                f"stem format {self.format!r}: choose one of {', '.join(STEM_FORMATS)}"
            )


@dataclass(frozen=True)
class Job:
    src: Path  # the input file
    rel: Path  # its path relative to the input root (mirrored under --out)
    keep_suffix: bool = False  # another input has the same stem: name outputs NAME.EXT.*

    @property
    def stem(self) -> Path:
        return self.rel if self.keep_suffix else self.rel.with_suffix("")

    @property
    def labels(self) -> Path:
        """``NAME.labels.json`` (relative to ``--out``): its presence marks the file as done."""
        return self.stem.with_name(self.stem.name + ".labels.json")

    def output(self, stem: str, fmt: str = "wav") -> Path:
        """``NAME.STEM.FMT`` (relative to ``--out``): a separator output."""
        return self.stem.with_name(f"{self.stem.name}.{stem}.{fmt}")


def files_in(folder: Path, extensions: Sequence[str]) -> list[Path]:
    """Files under ``folder`` (recursively, sorted) with one of ``extensions``; a broken link
    so named is listed too, to fail with a line that says so rather than vanish from a batch."""
    return sorted(
        f
        for f in folder.rglob("*")
        if f.suffix.lower() in extensions and (f.is_file() or (f.is_symlink() and not f.exists()))
    )


def discover(inputs: Sequence[str | Path]) -> list[Job]:
    """Audio files among ``inputs`` (files, or folders searched recursively), sorted; none at
    all is an error."""
    jobs: list[Job] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            jobs.extend(Job(f, f.relative_to(p)) for f in files_in(p, AUDIO_EXTENSIONS))
        elif p.exists():
            jobs.append(Job(p, Path(p.name)))  # an explicit file is processed whatever its name
        else:
            raise BatchError(missing(p, "file or directory"))
    if not jobs:
        raise BatchError("no audio files found in the inputs")
    # talk.wav and talk.flac side by side: their outputs keep the extension (talk.wav.*)
    stems: dict[Path, set[Path]] = defaultdict(set)
    for j in jobs:
        stems[j.stem].add(j.src)
    jobs = [Job(j.src, j.rel, True) if len(stems[j.stem]) > 1 else j for j in jobs]
    seen: dict[Path, Path] = {}
    for j in jobs:
        if j.stem in seen and seen[j.stem] != j.src:
            raise BatchError(
                f"{j.src} and {seen[j.stem]} would write the same outputs (the output folder "
                "mirrors each input folder's contents): process them into different --out folders"
            )
        seen[j.stem] = j.src
    return jobs


def audio_bar(total_s: float, desc: str, enabled: bool) -> Any:
    """A progress bar on stderr counting seconds of audio (tqdm)."""
    from tqdm import tqdm

    return tqdm(
        total=total_s,
        unit="s",
        desc=desc,
        disable=not enabled,
        bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} s audio [{elapsed}<{remaining}]",
    )


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _atomic_move(src: Path, path: Path) -> None:
    """Move a finished temporary file to ``path`` atomically (a rename on the same file
    system, else a copy next to ``path`` that is then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(src, path)
        return
    except OSError:
        pass
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as f, open(src, "rb") as g:
            shutil.copyfileobj(g, f, 1 << 20)
        os.replace(tmp, path)
        os.unlink(src)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def inside(root: Path, rel: str | Path) -> Path:
    """``root / rel`` with symlinks resolved; :class:`BatchError` if that leaves ``root``
    (``..`` in ``rel``, an absolute ``rel``, or a symlink in the tree pointing elsewhere)."""
    root = root.resolve()
    dest = (root / rel).resolve()
    if root not in dest.parents:
        raise BatchError(f"refusing to write {dest}: outside the output folder {root}")
    return dest


def _chunks(blocks: Iterable[np.ndarray], n: int, tail: int) -> Iterator[np.ndarray]:
    """Fixed chunks of ``n`` samples from a block stream, then ``tail`` samples of silence
    (rounded up to whole chunks; the last real chunk is zero-padded)."""
    buf = np.zeros(0, np.float32)
    for b in blocks:
        buf = np.concatenate((buf, b)) if buf.size else b
        k = buf.size // n
        for i in range(k):
            yield buf[i * n : (i + 1) * n]
        buf = buf[k * n :]
    rest = np.concatenate((buf, np.zeros(tail, np.float32)))
    rest = np.concatenate((rest, np.zeros(-rest.size % n, np.float32)))
    for i in range(rest.size // n):
        yield rest[i * n : (i + 1) * n]


def _segments(labels: Iterable[Label], duration: float) -> list[dict[str, Any]]:
    out = []
    for lab in labels:
        if lab.start >= duration:
            continue
        out.append(
            {
                "start": round(lab.start, 4),
                "end": round(min(lab.end, duration), 4),
                "label": lab.label,
                "scores": {k: round(v, 4) for k, v in lab.scores.items()},
            }
        )
    return out


def _segments_by_model(labels: Iterable[Label], duration: float) -> dict[str, list[dict[str, Any]]]:
    by: dict[str, list[Label]] = defaultdict(list)
    for lab in labels:
        by[lab.model].append(lab)
    return {m: _segments(labs, duration) for m, labs in by.items()}


class _Aligner:
    """Passes on the separator's stream minus its first ``delay`` samples, up to ``length``
    samples: the voice aligned with the input, piece by piece."""

    def __init__(self, delay: int, length: int, sink: Callable[[np.ndarray], object]) -> None:
        self.skip = delay
        self.left = length
        self.sink = sink

    def __call__(self, v: np.ndarray) -> None:
        if self.skip:
            k = min(self.skip, v.size)
            v, self.skip = v[k:], self.skip - k
        v = v[: self.left]
        if v.size:
            self.left -= v.size
            self.sink(v)


def file_labels(segments: dict[str, list[dict[str, Any]]], models: Iterable[str]) -> dict[str, Any]:
    """For each of ``models`` that ran: SwishNet, the label covering most non-silent time;
    ESResNet, events by mean score."""
    out: dict[str, Any] = {}
    for model in models:
        spans = [s for s in segments.get(model, []) if s["label"] != SILENCE]
        if model == "swishnet":
            out[model] = _main_label(spans)
        elif model == "esresnet":
            names = list(spans[0]["scores"]) if spans else []
            mean = {k: float(np.mean([s["scores"][k] for s in spans])) for k in names}
            top = sorted(mean.items(), key=lambda kv: -kv[1])[:5]
            out[model] = {"top_events": [{"label": k, "score": round(v, 4)} for k, v in top]}
    return out


def _main_label(spans: list[dict[str, Any]]) -> dict[str, Any]:
    if not spans:
        return {"label": SILENCE, "score": 1.0, "seconds": {}}
    time_by: dict[str, float] = defaultdict(float)
    score_by: dict[str, list[float]] = defaultdict(list)
    for s in spans:
        time_by[s["label"]] += s["end"] - s["start"]
        score_by[s["label"]].append(s["scores"][s["label"]])
    best = max(time_by, key=lambda k: time_by[k])
    return {
        "label": best,
        "score": round(float(np.mean(score_by[best])), 4),
        "seconds": {k: round(v, 3) for k, v in time_by.items()},
    }


def _ms(x: float) -> float:
    """A duration in ms as the engine uses it (whole 16 kHz samples)."""
    return round(round(x * SAMPLE_RATE / 1000) * 1000 / SAMPLE_RATE, 4)


def _digest(path: Path) -> str:
    """A weights file's identity (the first 16 hex digits of its SHA-256); ``untrained``
    without one."""
    if not path.is_file():
        return "untrained"
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def batch_settings(
    cfg: EngineConfig, enrollment: np.ndarray | None = None, offline: bool = False
) -> dict[str, Any]:
    """What a file's outputs depend on, recorded in its ``labels.json``: the labels' settings,
    and the separator's (its stems do not change the labels)."""
    labels: dict[str, Any] = {
        "chunk_ms": cfg.chunk_ms,
        "mode": "offline" if offline else "streaming",
        "silence_db": cfg.silence_db,
        "classifiers": {
            m: {
                "lookahead_ms": _ms(getattr(cfg, f"{m}_lookahead_ms")),
                "window_ms": _ms(getattr(cfg, f"{m}_window_ms")),
                "hop_ms": _ms(getattr(cfg, f"{m}_hop_ms")),
                "weights": _digest(weights_path(m, cfg.weights_dir)),
            }
            for m in cfg.classifiers
        },
    }
    if cfg.input_channel:  # recorded only when set: results from before it still resume
        labels["channel"] = cfg.input_channel
    separation: dict[str, Any] = {"separate": cfg.separate}
    if cfg.separate != "off":
        separation["processing"] = SEPARATION_PROCESSING
        separation["level_separator"] = cfg.level_separator
        separation["weights"] = _digest(weights_path(cfg.separate, cfg.weights_dir))
    if cfg.separate == "tsenet":
        e = np.ascontiguousarray(enrollment if enrollment is not None else [], np.float32)
        separation["enrollment"] = hashlib.sha256(e.tobytes()).hexdigest()[:16]
    return {"labels": labels, "separation": separation}


def _recorded_settings(doc: dict[str, Any]) -> dict[str, Any]:
    """The settings a ``labels.json`` was made with; one written before they were recorded
    gives what it says (None: not known, matches anything)."""
    s = doc.get("settings")
    if isinstance(s, dict) and isinstance(s.get("labels"), dict):
        return s
    return {
        "labels": {
            "chunk_ms": doc["chunk_ms"],
            "mode": doc["mode"],
            "silence_db": None,
            "classifiers": {
                m: {k: round(float(v[k]), 4) for k in ("lookahead_ms", "window_ms", "hop_ms")}
                | {"weights": None}
                for m, v in doc["models"].items()
            },
        },
        "separation": {
            "separate": doc["separation"],
            "processing": None,
            "level_separator": None,
            "weights": None,
            "enrollment": None,
        },
    }


_ABSENT = "none"


def _differences(old: Any, new: Any, where: str = "") -> list[str]:
    """``where: old -> new`` for each setting that differs (None in ``old``: not known)."""
    if old is None:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for k in [*old, *(k for k in new if k not in old)]:
            o, n = old.get(k, _ABSENT), new.get(k, _ABSENT)
            name = f"{where}.{k}" if where else str(k)
            if isinstance(o, dict) and n == _ABSENT:
                o = "used"  # a classifier no longer asked for
            elif isinstance(n, dict) and o == _ABSENT:
                n = "used"
            out.extend(_differences(o, n, name))
        return out
    return [] if old == new else [f"{where}: {old} -> {new}"]


def resume_state(
    job: Job, out: Path, settings: dict[str, Any], spec: StemSpec
) -> tuple[dict[str, Any] | None, str]:
    """Whether a file is done: ``(its summary row, "")``; to be processed: ``(None, "")`` (no
    or a damaged result, or a stem asked for was never made); made with other settings:
    ``(None, what differs)``."""
    p = out / job.labels
    if not p.is_file():
        return None, ""
    try:
        doc = json.loads(p.read_text())
        row = summary_row(job.rel, doc)
        old = _recorded_settings(doc)
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None, ""  # a damaged result is redone
    diff = _differences(old["labels"], settings["labels"])
    sep = settings["separation"]
    separating = sep["separate"] != "off"
    if separating and old["separation"].get("separate") != "off":
        diff += _differences(old["separation"], sep, "separation")
    if diff:
        return None, "; ".join(diff)
    made = {s: str(doc.get(s, "")) for s in spec.names}
    if separating and not all(p.endswith(f".{spec.format}") for p in made.values()):
        return None, ""  # a stem never made (in this format): the same labels come again
    return row, ""  # stems made and since moved away stay so (a full disk is freed that way)


class FileProcessor:
    """Processes whole files with one set of loaded models (reused from file to file)."""

    def __init__(
        self,
        cfg: EngineConfig,
        enrollment: np.ndarray | None = None,
        stems: StemSpec = StemSpec(),
    ) -> None:
        self.cfg = cfg
        self.enrollment = enrollment
        self.stems = stems  # what compute_one writes when separating
        self.processor = Processor(cfg, enrollment)
        self.offline = False
        self.settings = {m: batch_settings(cfg, enrollment, m) for m in (False, True)}

    def run(
        self,
        src: Path,
        offline: bool = False,
        sinks: Mapping[str, Callable[[np.ndarray], object]] | None = None,
        progress: Callable[[float], object] | None = None,
    ) -> tuple[dict[str, Any], np.ndarray | None]:
        """Process one file: ``(labels document, separated voice)``.

        With ``sinks`` (stem -> callable, stems among :data:`STEMS`) each stem, aligned with
        the input, is handed to its sink piece by piece as it is computed (and None is returned
        in place of the voice), so memory does not grow with the file's length; labels are kept
        as compact segments (a few hundred bytes per label). ``progress`` is told the seconds
        of audio streamed, every :data:`PROGRESS_S` s of it.
        """
        info = probe(src)
        cfg = self.cfg
        proc = self.processor
        proc.reset()  # a new stream per file; the loaded models are kept
        n = cfg.chunk_samples
        delay = proc.separator.latency if proc.separator else 0
        lookahead = max((t.lookahead + t.hop for t in proc.taggers), default=0)
        # at least one sample: a file shorter than one 16 kHz sample still gets its label
        length = max(1, round(info.frames * SAMPLE_RATE / info.sample_rate))
        duration = length / SAMPLE_RATE
        segments: dict[str, list[dict[str, Any]]] = defaultdict(list)
        voice: list[np.ndarray] = []
        aligned = {
            k: _Aligner(delay, length, f) for k, f in (sinks or {"voice": voice.append}).items()
        }
        times = array.array("f")
        pick = cfg.input_channel
        chunks = _chunks(iter_blocks(src, channel=pick), n, max(delay, lookahead))
        if offline:
            if info.duration > OFFLINE_MAX_SECONDS:
                raise ValueError(
                    f"{info.duration:.0f} s is too long for --offline (max "
                    f"{OFFLINE_MAX_SECONDS} s); the streaming mode has no limit"
                )
            t0 = time.perf_counter()
            padded = np.concatenate(list(chunks))
            for m, segs in _segments_by_model(self._offline_labels(padded), duration).items():
                segments[m].extend(segs)
            if proc.separator is not None:
                whole = proc.separator.offline(padded)
                late = np.zeros(delay, np.float32)  # as late as the stream: the aligners cut it
                if "voice" in aligned:
                    aligned["voice"](np.concatenate((late, whole)))
                if "removed" in aligned:
                    aligned["removed"](np.concatenate((late, padded - whole)))
            times.append(time.perf_counter() - t0)
        else:
            every = max(1, round(PROGRESS_S * SAMPLE_RATE / n))
            for i, chunk in enumerate(chunks, 1):
                t0 = time.perf_counter()
                result, v = proc.process(chunk, adc_time=t0, dequeued=t0)
                times.append(time.perf_counter() - t0)
                if progress is not None and i % every == 0:
                    progress(every * n / SAMPLE_RATE)
                for m, segs in _segments_by_model(result.labels, duration).items():
                    segments[m].extend(segs)
                if v is not None and proc.separator is not None:
                    if "voice" in aligned:
                        aligned["voice"](v)
                    if "removed" in aligned:
                        aligned["removed"](proc.separator.removed)
        arr = np.asarray(times, np.float64) * 1000
        doc: dict[str, Any] = {
            "path": str(src),
            "source_bytes": src.stat().st_size,  # with the name: the same file, moved
            "duration": round(duration, 4),
            "sample_rate": SAMPLE_RATE,
            "source_sample_rate": info.sample_rate,
            "source_channels": info.channels,
            "mixdown": (
                f"channel {pick}" if pick else "mean of channels" if info.channels > 1 else "mono"
            ),
            "chunk_ms": cfg.chunk_ms,
            "models": {
                t.name: {
                    "lookahead_ms": t.lookahead / SAMPLE_RATE * 1000,
                    "window_ms": t.window / SAMPLE_RATE * 1000,
                    "hop_ms": t.hop / SAMPLE_RATE * 1000,
                    "trained": proc.trained.get(t.name, False),
                }
                for t in proc.taggers
            },
            "separation": cfg.separate,
            "mode": "offline" if offline else "streaming",
            "settings": self.settings[offline],
            "segments": dict(segments),
            "file_label": file_labels(segments, (t.name for t in proc.taggers)),
            "latency": {
                "chunks": int(arr.size),
                "p50_ms": round(float(np.percentile(arr, 50)), 4) if arr.size else 0.0,
                "p95_ms": round(float(np.percentile(arr, 95)), 4) if arr.size else 0.0,
                "max_ms": round(float(arr.max()), 4) if arr.size else 0.0,
                "rtf": round(float(arr.sum() / 1000 / max(duration, 1e-9)), 5),
                "algorithmic_ms": proc.algorithmic_ms,
            },
        }
        out_voice = np.concatenate(voice) if voice else None
        if out_voice is None and proc.separator is not None and sinks is None:
            out_voice = np.zeros(0, np.float32)
        return doc, out_voice

    def _offline_labels(self, audio: np.ndarray) -> list[Label]:
        """Whole-file inference: all features, then every model's ``forward`` at once; the
        label spans and windows are those of the stream."""
        proc = self.processor
        proc.history = AudioHistory(audio.size)
        proc.history.push(audio)
        frames = proc.features.push(audio)
        out: list[Label] = []
        for tagger in proc.taggers:
            if isinstance(tagger, SwishNetTagger):
                tagger.load_offline(frames.mfcc)
            out.extend(tagger.update(proc.history))
        return out


def label_track_name(stem: Path, model: str) -> Path:
    """``NAME.MODEL.txt`` (relative to ``--out``): a classifier's Audacity label track."""
    return stem.with_name(f"{stem.name}.{model}.txt")


def label_track_files(stem: Path, doc: dict[str, Any]) -> dict[str, bytes]:
    """``NAME.MODEL.txt`` for each classifier in a ``labels.json`` document."""
    return {
        str(label_track_name(stem, model)): label_track(segs).encode()
        for model, segs in doc["segments"].items()
    }


def _ours(path: Path) -> dict[str, Any] | None:
    """The ``labels.json`` document at ``path`` if rtaudio wrote it (it records the settings
    that made it), else None."""
    try:
        doc = json.loads(path.read_text())
        _recorded_settings(doc)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return doc if isinstance(doc, dict) else None


def made_from(path: str, size: Any, src: Path) -> bool:
    """Whether results recorded as made from ``path`` (as it was given), of ``size`` bytes,
    are ``src``'s: the file at that path, or (that path gone: the folder moved, or run from
    elsewhere) a file of the same name and size (``size`` None: results that did not record
    it, the name alone)."""
    recorded = Path(path)
    try:
        if recorded.exists():
            return os.path.samefile(recorded, src)
        return recorded.name == src.name and (size is None or int(size) == src.stat().st_size)
    except (OSError, TypeError, ValueError):
        return False


def earlier_source(job: Job, out: Path) -> str | None:
    """The input whose results are where ``job``'s would go, when it is another file (its
    path as recorded), else None."""
    doc = _ours(out / job.labels)
    if doc is None or made_from(str(doc.get("path", "")), doc.get("source_bytes"), job.src):
        return None
    return str(doc.get("path", "another file"))


def not_ours(job: Job, out: Path, cfg: EngineConfig, spec: StemSpec, tracks: bool) -> Path | None:
    """The first file that processing ``job`` would write which is in ``out`` already but
    no run of rtaudio made (the user's own), or None: those are never replaced without
    ``--overwrite``. rtaudio's are its ``labels.json`` and the stems and label tracks made
    with it."""
    writes = [job.labels]
    if cfg.separate != "off":
        writes += [job.output(stem, spec.format) for stem in spec.names]
    if tracks:
        writes += [label_track_name(job.stem, model) for model in cfg.classifiers]
    doc = _ours(out / job.labels)
    made: set[Path] = set()
    if doc is not None:
        made = {job.labels, *(Path(doc[s]) for s in STEMS if doc.get(s))}
        made |= {label_track_name(job.stem, model) for model in doc.get("segments", {})}
    for rel in writes:
        dest = out / rel
        if rel not in made and (dest.exists() or dest.is_symlink()):
            return dest
    return None


def earlier_rows(out: Path, jobs: Sequence[Job], overwrite: bool) -> list[dict[str, Any]]:
    """The rows of ``out/summary.csv`` (made by an earlier run) for files other than ``jobs``:
    kept, so processing one more file into a folder does not drop the others' rows. A
    ``summary.csv`` that rtaudio did not write is refused (replaced with ``overwrite``)."""
    path = out / "summary.csv"
    if not (path.exists() or path.is_symlink()):
        return []
    try:
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            fields = reader.fieldnames or []
    except (OSError, ValueError, csv.Error):
        rows, fields = [], []
    if list(fields[:3]) != list(SUMMARY_FIELDS[:3]):
        if overwrite:
            return []
        raise BatchError(
            f"{path} is not a summary rtaudio wrote: nothing was changed; move it, use "
            "another --out, or --overwrite to replace it"
        )
    mine = {str(j.rel) for j in jobs}
    return [r for r in rows if r.get("path") not in mine]


def summary_row(rel: Path, doc: dict[str, Any] | None, error: str = "") -> dict[str, Any]:
    if doc is None:
        return {"path": str(rel), "status": "error", "error": error}
    fl = doc["file_label"]  # a classifier that did not run leaves its columns empty
    sw = fl.get("swishnet", {"label": "", "score": ""})
    top = fl.get("esresnet", {"top_events": []})["top_events"][:1]
    return {
        "path": str(rel),
        "status": "ok",
        "error": "",
        "duration_s": doc["duration"],
        "label": sw["label"],
        "label_score": sw["score"],
        "top_event": top[0]["label"] if top else "",
        "top_event_score": top[0]["score"] if top else "",
        "rtf": doc["latency"]["rtf"],
        **{k: doc.get(k, "") for k in STEMS},
    }


# relative path -> file content, or a finished temporary file (in the spool folder) to move
Outputs = dict[str, bytes | Path]


def compute_one(
    fp: FileProcessor,
    job: Job,
    offline: bool = False,
    spool: Path | None = None,
    progress: Callable[[float], object] | None = None,
) -> tuple[dict[str, Any], Outputs]:
    """Process one file: its summary row (errors included) and its output files.

    Nothing is written under the output names here. Each stem (the separated voice, what was
    removed) is streamed to a temporary WAV in ``spool`` (returned as its path, to be moved
    into place), or with no ``spool`` (workers on other machines, e.g. Ray) to a private
    temporary file returned as bytes. Any failure or interruption removes the temporary files.
    """
    temps: dict[str, tuple[Path, sf.SoundFile]] = {}
    try:
        if fp.processor.separator is not None:
            if spool is not None:
                spool.mkdir(parents=True, exist_ok=True)
            fmt = fp.stems.format
            for stem in fp.stems.names:
                fd, name = tempfile.mkstemp(prefix=f"{stem}.", suffix=f".{fmt}.tmp", dir=spool)
                os.fchmod(fd, FILE_MODE)
                os.close(fd)
                tmp = Path(name)
                try:
                    temps[stem] = (tmp, _stem_writer(tmp, fmt))
                except BaseException:
                    tmp.unlink(missing_ok=True)
                    raise
        sinks = {stem: _sink(tmp, w) for stem, (tmp, w) in temps.items()}
        try:
            doc, _ = fp.run(job.src, offline, sinks=sinks or None, progress=progress)
        except AudioFileError as e:
            return summary_row(job.rel, None, _one_line(str(e))), {}
        except DiskFullError:
            raise
        except (RuntimeError, ValueError, MemoryError, OSError) as e:
            return summary_row(job.rel, None, _one_line(f"{job.src}: {type(e).__name__}: {e}")), {}
        files: Outputs = {}
        for stem, (tmp, w) in temps.items():
            with space_checked(tmp.parent):
                w.close()  # writes what libsndfile still buffers
            rel = str(job.output(stem, fp.stems.format))
            files[rel] = tmp if spool is not None else tmp.read_bytes()
            doc[stem] = rel
        if spool is not None:
            temps = {}  # handed over: write_outputs moves them into place
        # the labels file last: its presence marks the file as done
        files[str(job.labels)] = json.dumps(doc, indent=1).encode()
        return summary_row(job.rel, doc), files
    finally:
        for tmp, w in temps.values():
            with contextlib.suppress(Exception):
                w.close()
            tmp.unlink(missing_ok=True)


def _stem_writer(path: Path, fmt: str) -> sf.SoundFile:
    return sf.SoundFile(str(path), "w", SAMPLE_RATE, 1, subtype="PCM_16", format=STEM_FORMATS[fmt])


def _sink(tmp: Path, w: sf.SoundFile) -> Callable[[np.ndarray], None]:
    def write(v: np.ndarray) -> None:
        with space_checked(tmp.parent):
            # quantised here, the same way for every format (libsndfile's own float -> 16-bit
            # conversion differs by one step between WAV and FLAC)
            w.write(np.round(np.clip(v, -1.0, 1.0) * 32767.0).astype(np.int16))

    return write


def _one_line(msg: str) -> str:
    return " ".join(msg.split())


def discard(files: Outputs) -> None:
    """Remove the temporary files among ``files`` (outputs that will not be written)."""
    for data in files.values():
        if isinstance(data, Path):
            data.unlink(missing_ok=True)


def write_outputs(out: Path, files: Outputs) -> None:
    """Write each file atomically, in order (the labels file, which marks completion, last).
    Every destination is checked first: if any would leave ``out`` (``..``, a symlink in the
    tree pointing elsewhere), nothing is written and :class:`BatchError` is raised."""
    try:
        dests = [(inside(out, rel), data) for rel, data in files.items()]
    except BatchError:
        discard(files)
        raise
    for dest, data in dests:
        if isinstance(data, Path):
            _atomic_move(data, dest)
        else:
            _atomic_write(dest, data)


def process_one(fp: FileProcessor, job: Job, out: Path, offline: bool = False) -> dict[str, Any]:
    """Process one file and write its outputs; returns its summary row."""
    spool = _spool_dir(Path(out))
    try:
        row, files = compute_one(fp, job, offline, spool)
        try:
            write_outputs(out, files)
        except BatchError as e:
            return summary_row(job.rel, None, str(e))
        return row
    finally:
        shutil.rmtree(spool, ignore_errors=True)
        with contextlib.suppress(OSError):
            spool.parent.rmdir()


# ------------------------------------------------------------------ parallel execution

_WORKER: FileProcessor | None = None


_SPOOL: Path | None = None


def _init_worker(
    cfg_json: str,
    enrollment: np.ndarray | None,
    offline: bool,
    stems: StemSpec,
    spool: Path | None = None,
) -> None:
    global _WORKER, _SPOOL
    torch.set_num_threads(1)
    _WORKER = FileProcessor(EngineConfig(**_cfg_from_json(cfg_json)), enrollment, stems)
    _WORKER.offline = offline
    _SPOOL = spool


def _cfg_from_json(s: str) -> dict[str, Any]:
    d = json.loads(s)
    d["classifiers"] = tuple(d["classifiers"])
    return dict(d)


def _work(job: Job) -> tuple[dict[str, Any], Outputs]:
    assert _WORKER is not None
    return compute_one(_WORKER, job, _WORKER.offline, _SPOOL)


def _add_label_tracks(job: Job, out: Path) -> None:
    """The label tracks of a file processed by an earlier run, from its ``labels.json``."""
    doc = json.loads((out / job.labels).read_text())
    for rel, data in label_track_files(job.stem, doc).items():
        dest = inside(out, rel)
        if not dest.exists():
            with space_checked(out):
                _atomic_write(dest, data)


def write_summary(out: Path, rows: list[dict[str, Any]]) -> Path:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=SUMMARY_FIELDS, extrasaction="ignore")
    w.writeheader()
    for r in sorted(rows, key=lambda r: r["path"]):
        w.writerow(r)
    path = out / "summary.csv"
    _atomic_write(path, buf.getvalue().encode())
    return path


def run_batch(
    inputs: Sequence[str | Path],
    out: str | Path,
    cfg: EngineConfig,
    workers: int = 1,
    overwrite: bool = False,
    progress: bool = True,
    enrollment: np.ndarray | None = None,
    offline: bool = False,
    executor: str = "local",
    ray_address: str | None = None,
    label_tracks: bool = False,
    stems: Sequence[str] | None = None,
    stem_format: str = "wav",
) -> list[dict[str, Any]]:
    """Process every input; returns the summary rows (also written to ``out/summary.csv``).

    ``label_tracks``: also write each classifier's labels as an Audacity label track
    (``NAME.MODEL.txt``); files already processed get theirs from their ``labels.json``.
    ``stems``: what a separator writes, among :data:`STEMS` (default: the voice), in
    ``stem_format`` (:data:`STEM_FORMATS`)."""
    if cfg.separate == "off" and (stems is not None or stem_format != "wav"):
        raise BatchError("stems are written by a separator: give --separate mitas or tsenet")
    spec = StemSpec(tuple(stems) if stems is not None else ("voice",), stem_format)
    out = Path(out).resolve()
    if out.exists() and not out.is_dir():
        raise BatchError(f"--out {out} exists and is not a folder")
    jobs = discover(inputs)
    for item in inputs:
        root = Path(item).resolve()
        if root.is_dir() and (out == root or root in out.parents):
            raise BatchError(f"--out {out} is inside the input folder {root}")
    out.mkdir(parents=True, exist_ok=True)
    # two runs into one folder would each rewrite summary.csv with only their own rows
    with exclusive(out / "summary.csv", f"the output folder {out}"):
        return _run_batch(
            jobs,
            out,
            cfg,
            workers,
            overwrite,
            progress,
            enrollment,
            offline,
            executor,
            ray_address,
            label_tracks,
            spec,
        )


def _run_batch(
    jobs: list[Job],
    out: Path,
    cfg: EngineConfig,
    workers: int,
    overwrite: bool,
    progress: bool,
    enrollment: np.ndarray | None,
    offline: bool,
    executor: str,
    ray_address: str | None,
    label_tracks: bool,
    stems: StemSpec,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    todo: list[Job] = []
    settings = batch_settings(cfg, enrollment, offline)
    other: list[tuple[Job, str]] = []  # results made with other settings
    finished: list[Job] = []  # done by an earlier run, label tracks wanted
    if not overwrite:  # the same name in another folder, or with another extension
        foreign = [(j, src) for j in jobs if (src := earlier_source(j, out)) is not None]
        if foreign:
            j, src = foreign[0]
            raise BatchError(
                f"{out / j.labels} holds the results of {src}, not of {j.src} ({len(foreign)} "
                f"of {len(jobs)} files): nothing was changed; use another --out, or "
                "--overwrite to replace them"
            )
    for j in jobs:
        row, diff = (None, "") if overwrite else resume_state(j, out, settings, stems)
        if diff:
            other.append((j, diff))
        elif row is not None:
            rows.append(row)
            if label_tracks:
                finished.append(j)
        else:
            todo.append(j)
    if other:
        j, diff = other[0]
        raise BatchError(
            f"{out} holds results made with other settings ({len(other)} of {len(jobs)} files; "
            f"{j.labels}: {diff}): nothing was changed; use another --out, or --overwrite to "
            "redo them"
        )
    earlier = earlier_rows(out, jobs, overwrite)
    theirs = [] if overwrite else [not_ours(j, out, cfg, stems, label_tracks) for j in todo]
    found = [p for p in theirs if p is not None]
    if found:
        raise BatchError(
            f"{found[0]} is not rtaudio's, and this run would write it ({len(found)} of "
            f"{len(todo)} files have such outputs): nothing was changed; move them, use "
            "another --out, or --overwrite to replace them"
        )
    for j in finished:
        _add_label_tracks(j, out)
    spool = _spool_dir(out)
    seconds = {j: duration_estimate(j.src) for j in todo}
    bar = audio_bar(math.fsum(seconds.values()), "processing", progress)

    moved: dict[Job, float] = defaultdict(float)  # seconds shown of a file still running

    def advance(job: Job, secs: float) -> None:
        """The bar moved on within a long file (never past its share)."""
        secs = min(secs, seconds[job] - moved[job], bar.total - bar.n)
        if secs > 0:
            moved[job] += secs
            bar.update(secs)

    def done(job: Job, row: dict[str, Any], files: Outputs) -> None:
        labels = str(job.labels)
        if label_tracks and labels in files:  # written before the labels file (it marks done)
            raw = files.pop(labels)
            assert isinstance(raw, bytes)  # the labels file is always made in memory
            files = {**files, **label_track_files(job.stem, json.loads(raw)), labels: raw}
        try:
            with space_checked(out):
                write_outputs(out, files)
        except DiskFullError:
            discard(files)
            raise
        except BatchError as e:  # this file's outputs would leave --out: its row says so
            row = summary_row(job.rel, None, str(e))
        rows.append(row)
        # never past the total (float sums in another order), which tqdm would warn about
        bar.update(max(0.0, min(seconds[job] - moved.pop(job, 0.0), bar.total - bar.n)))
        with space_checked(out):
            write_summary(out, [*earlier, *rows])

    failing = False
    try:
        if executor == "ray":
            _run_ray(todo, cfg, workers, enrollment, offline, stems, ray_address, done)
        elif executor != "local":
            raise BatchError(f"unknown executor {executor!r}; choose local or ray")
        elif min(workers, len(todo)) <= 1:
            torch.set_num_threads(1)
            fp = FileProcessor(cfg, enrollment, stems)
            for j in todo:
                done(j, *compute_one(fp, j, offline, spool, functools.partial(advance, j)))
        else:
            cfg_json = json.dumps(asdict(cfg))
            with ProcessPoolExecutor(
                min(workers, len(todo)),
                initializer=_init_worker,
                initargs=(cfg_json, enrollment, offline, stems, spool),
            ) as pool:
                futures: dict[Future[tuple[dict[str, Any], Outputs]], Job] = {
                    pool.submit(_work, j): j for j in todo
                }
                try:
                    for f in as_completed(futures):
                        job = futures[f]
                        try:
                            result = f.result()
                        except DiskFullError:
                            raise
                        except Exception as e:  # a worker died (killed, out of memory...)
                            row = summary_row(job.rel, None, f"{job.src}: worker failed: {e}")
                            result = (row, {})
                        done(job, *result)
                except BaseException:
                    pool.shutdown(cancel_futures=True)  # start no more files (spool: below)
                    raise
    except DiskFullError as e:
        failing = True
        n = sum(r["status"] == "ok" for r in rows)
        raise DiskFullError(
            f"{out}: {e}; stopped with {n} of {len(jobs)} files done (kept): free some space "
            "and run the same command again to go on"
        ) from None
    except BaseException:
        failing = True
        raise
    finally:
        bar.close()
        try:
            write_summary(out, [*earlier, *rows])
        except OSError:
            if not failing:  # else the error on its way out says more
                raise
        shutil.rmtree(spool, ignore_errors=True)
        with contextlib.suppress(OSError):
            spool.parent.rmdir()  # only if no other run is using it
    return rows


def _spool_dir(out: Path) -> Path:
    """This run's folder for voice files being written, ``--out/.rtaudio-spool/PID``; the
    folders of runs that were killed (their process is gone) are removed."""
    base = out / SPOOL_DIR
    if base.is_dir():
        for d in base.iterdir():
            if not d.name.isdigit() or not _pid_alive(int(d.name)):
                shutil.rmtree(d, ignore_errors=True)
    return base / str(os.getpid())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _run_ray(
    todo: list[Job],
    cfg: EngineConfig,
    workers: int,
    enrollment: np.ndarray | None,
    offline: bool,
    stems: StemSpec,
    address: str | None,
    done: Any,
) -> None:
    """One Ray task per file on ``workers`` actors, each loading the models once."""
    try:
        import ray
        from ray.util import ActorPool
    except ImportError:
        raise BatchError("--executor ray needs Ray: pip install 'rtaudio[ray]'") from None
    started = False
    if not ray.is_initialized():
        ray.init(
            address=address,
            num_cpus=None if address else workers,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
        started = True
    try:
        cfg_json = json.dumps(asdict(cfg))

        @ray.remote(num_cpus=1)
        class Worker:
            def __init__(self) -> None:
                _init_worker(cfg_json, enrollment, offline, stems)

            def run(self, job: Job) -> tuple[dict[str, Any], Outputs]:
                return _work(job)

        pool = ActorPool([Worker.remote() for _ in range(max(1, workers))])  # type: ignore[attr-defined]
        by_rel = {str(j.rel): j for j in todo}
        for row, files in pool.map_unordered(lambda a, j: a.run.remote(j), todo):
            done(by_rel[row["path"]], row, files)
    finally:
        if started:
            ray.shutdown()
