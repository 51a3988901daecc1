"""``rtaudio data import``: put a public dataset the user owns into a corpus.

The files a reader of :mod:`rtaudio.data.readers` finds are decoded (16 kHz mono), stripped of
digital-silence padding, levelled like built clips (-20 dBFS) and written as WAVs under
``CORPUS/imported/<dataset>/<split>/``, with one manifest row each; the dataset's own split
(by fold, speaker or artist) is kept. Rows already in the manifest are kept, so imports can be
added to a built corpus, and the run is resumable: files whose origin is already listed are
skipped. The manifest is rewritten atomically after every minute of work and at the end (an
interrupt included), so it never lists a clip that is not on disk. Nothing under the
dataset's directory is written.

* Sound events (ESC-50, UrbanSound8K) are mapped onto :data:`rtaudio.data.sources.EVENT_CLASSES`
  where the meaning is clear (``labels="rtaudio"``; other classes are skipped and counted) or
  keep the dataset's class names (``labels="native"``).
* MUSAN files keep their kind (``speech`` / ``music`` / ``noise``).
* LibriMix / wsj0-mix: the single-speaker sources (``s1``-``s3``) become ``speech`` with the
  speaker as source, LibriMix ``noise`` files ``noise``; mixtures are skipped (training mixes on
  the fly). A source utterance stored in several variants (8 / 16 kHz, ``min`` / ``max``, or
  reused by several mixtures) is imported once, preferring 16 kHz and ``max``.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
from tqdm import tqdm

from rtaudio.audiofile import AudioFileError, read_audio

from .audio import SR, normalize, write_text_atomic, write_wav
from .manifest import (
    FIELDS,
    IMPORT_DIR,
    ClipRecord,
    hours_by,
    read_manifest,
    slug,
    stable_int,
    write_manifest,
)
from .readers import READERS, DatasetLayoutError, Entry

LABEL_MODES = ("rtaudio", "native")
SOURCE_PREFIX = "import:"  # built sources never start with it
SEPARATION_SETS = ("librimix", "wsj0mix")
SAVE_EVERY_S = 60.0
PAD_EPS = 1e-4  # |x| below this at the ends is padding (-80 dBFS)
SHOW_UNREADABLE = 5

LICENSES = {
    "esc50": "CC BY-NC 3.0 (ESC-50 clips: see the dataset's LICENSE)",
    "urbansound8k": "CC BY-NC 3.0",
    "musan": "see MUSAN's per-collection LICENSE files",
    "librimix": "CC BY 4.0 (LibriSpeech) / see the WHAM! licence for noise",
    "wsj0mix": "LDC licence (WSJ0)",
}

# dataset class -> rtaudio event class; classes without a clear counterpart are left out
# (ESC-50: cat, frog, insects, crickets, human sounds, most domestic sounds, car_horn...;
# UrbanSound8K: air_conditioner, car_horn, street_music)
ESC50_TO_RTAUDIO = {
    "dog": "dog",
    "rooster": "farm_animal",
    "hen": "farm_animal",
    "pig": "farm_animal",
    "cow": "farm_animal",
    "sheep": "farm_animal",
    "chirping_birds": "bird",
    "crow": "bird",
    "rain": "rain",
    "sea_waves": "water",
    "water_drops": "water",
    "pouring_water": "water",
    "toilet_flush": "water",
    "thunderstorm": "thunder",
    "wind": "wind",
    "crackling_fire": "fire",
    "footsteps": "footsteps",
    "door_wood_knock": "door_knock",
    "church_bells": "alarm_bell",
    "clock_alarm": "alarm_bell",
    "siren": "alarm_bell",
    "airplane": "aircraft",
    "helicopter": "aircraft",
    "train": "train",
    "engine": "vehicle_engine",
    "chainsaw": "machinery_tools",
    "hand_saw": "machinery_tools",
    "fireworks": "explosion",
}
US8K_TO_RTAUDIO = {
    "dog_bark": "dog",
    "engine_idling": "vehicle_engine",
    "drilling": "machinery_tools",
    "jackhammer": "machinery_tools",
    "siren": "alarm_bell",
    "gun_shot": "gunshot",
    "children_playing": "crowd",
}
LABEL_MAPS: dict[str, Mapping[str, str]] = {
    "esc50": ESC50_TO_RTAUDIO,
    "urbansound8k": US8K_TO_RTAUDIO,
}


class CorpusImportError(ValueError):
    """The import cannot start (unknown dataset, bad directories, unreadable manifest)."""


@dataclass
class ImportResult:
    """What one import did; ``hours`` are the dataset's clips in the corpus by kind/split."""

    dataset: str
    imported: int = 0
    present: int = 0
    unmapped: Counter[str] = field(default_factory=Counter)
    mixtures: int = 0
    variants: int = 0  # other copies of an imported utterance / noise
    silent: int = 0
    unreadable: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # listed by the metadata, not on disk
    hours: dict[str, float] = field(default_factory=dict)

    def line(self) -> str:
        """The one-line summary."""
        parts = [
            f"{self.imported} imported",
            f"{self.present} already present",
            f"{sum(self.unmapped.values())} skipped unmapped",
            f"{len(self.unreadable)} unreadable",
        ]
        if self.missing:
            parts.append(f"{len(self.missing)} listed but missing")
        if self.mixtures:
            parts.append(f"{self.mixtures} mixtures skipped")
        if self.variants:
            parts.append(f"{self.variants} duplicate variants skipped")
        if self.silent:
            parts.append(f"{self.silent} silent skipped")
        hours = ", ".join(f"{k} {v:.3f} h" for k, v in self.hours.items()) or "none"
        return f"{self.dataset}: {', '.join(parts)}; hours: {hours}"


def _inside(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


def _entries(dataset: str, root: Path) -> list[Entry]:
    """All of the reader's entries; malformed metadata is reported as a layout error."""
    try:
        reader = cast(Callable[[Path], Iterable[Entry]], READERS[dataset])  # mixed signatures
        return list(reader(root))
    except DatasetLayoutError:
        raise
    except (KeyError, ValueError) as e:
        raise DatasetLayoutError(f"{dataset}: malformed metadata under {root} ({e!r})") from None


def _kind_label(e: Entry, labels: str) -> tuple[str, str] | None:
    """Corpus kind and label of an entry, ``None`` for an unmapped event class."""
    if e.kind == "events":
        if labels == "native":
            return "events", e.label
        mapped = LABEL_MAPS.get(e.dataset, {}).get(e.label)
        return ("events", mapped) if mapped else None
    if e.kind == "source":
        return "speech", "speech"
    return e.kind, e.label


def _item(e: Entry) -> str:
    """The recording a mixture-set file is a variant of (``""`` for other datasets)."""
    if e.dataset not in SEPARATION_SETS:
        return ""
    mid = e.extra.get("mixture_id", "")
    if e.kind == "source":
        utts = mid.split("_") if e.dataset == "librimix" else mid.split("_")[0::2]
        return f"{e.dataset}:utterance:{utts[int(e.label[1]) - 1]}"
    return f"{e.dataset}:{e.label}:{e.extra.get('subset', '')}:{mid}"


def _variant_rank(e: Entry) -> tuple[bool, bool, str]:
    """Higher is preferred: 16 kHz, then ``max`` (untruncated); the path breaks ties."""
    return (e.extra.get("sample_rate") == "wav16k", e.extra.get("mode") == "max", e.path)


def _clip_path(e: Entry, root: Path) -> str:
    rel = Path(e.path).resolve().relative_to(root).with_suffix("")
    name = "/".join(slug(p) for p in rel.parts)
    return f"{IMPORT_DIR}/{e.dataset}/{e.split}/{name}.wav"


def _strip_padding(x: np.ndarray) -> np.ndarray:
    on = np.flatnonzero(np.abs(x) > PAD_EPS)
    return x[on[0] : on[-1] + 1] if on.size else x[:0]


def _theirs(out: Path) -> Path | None:
    """The first of the files an import writes in ``out`` that is there already but is not
    a corpus's (the user's own: never replaced), or None."""
    manifest = out / "manifest.csv"
    if manifest.exists() or manifest.is_symlink():
        try:
            with manifest.open(newline="", encoding="utf-8") as f:
                header = next(csv.reader(f), [])
        except (OSError, UnicodeDecodeError, csv.Error):
            header = []
        if tuple(header) != FIELDS:
            return manifest
    for name, keys in (("manifest.json", {"summary", "clips"}), ("summary.json", {"clips"})):
        path = out / name
        if not (path.exists() or path.is_symlink()):
            continue
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            doc = None
        if not (isinstance(doc, dict) and keys <= set(doc)):
            return path
    return None


def _load_records(out: Path) -> list[ClipRecord]:
    if not (out / "manifest.csv").is_file():
        return []
    try:
        return [ClipRecord(**r) for r in read_manifest(out)]
    except (TypeError, KeyError, ValueError) as e:
        why = str(e) if isinstance(e, ValueError) else f"{out / 'manifest.csv'}: {e}"
        raise CorpusImportError(why) from None


def _load_summary(out: Path) -> dict[str, Any]:
    for path, key in ((out / "summary.json", None), (out / "manifest.json", "summary")):
        if path.is_file():
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            s = doc.get(key) if key else doc
            if isinstance(s, dict):
                return s
    return {}


def _save(out: Path, records: dict[str, ClipRecord], summary: dict[str, Any]) -> None:
    """Write the manifest and ``summary.json`` (totals recomputed) atomically."""
    rows = list(records.values())
    summary.update(
        sample_rate=SR,
        clips=len(rows),
        hours=round(sum(r.duration for r in rows) / 3600.0, 4),
        hours_by_kind_split=hours_by(rows, "kind", "split"),
        hours_by_kind_real=hours_by(rows, "kind", "real"),
        hours_by_label=hours_by(rows, "kind", "label"),
    )
    summary.setdefault("seed", None)
    summary.setdefault("notices", [])
    write_manifest(out, rows, summary)
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=1) + "\n")


def _plan(
    entries: list[Entry],
    labels: str,
    out: Path,
    records: Mapping[str, ClipRecord],
    result: ImportResult,
) -> list[tuple[Entry, str, str]]:
    """The entries to import, as ``(entry, kind, label)``; the rest are counted in ``result``.

    An entry is present when a row with its origin (or, for mixture sets, its recording) has
    its clip on disk.
    """
    kept = [r for r in records.values() if (out / r.path).is_file()]
    origins = {r.origin for r in kept}
    items = {json.loads(r.details).get("item", "") for r in kept if r.package in SEPARATION_SETS}
    items.discard("")
    todo: list[tuple[Entry, str, str]] = []
    variants: dict[str, list[tuple[Entry, str, str]]] = defaultdict(list)
    for e in entries:
        if e.kind == "mixture":
            result.mixtures += 1
            continue
        kl = _kind_label(e, labels)
        if kl is None:
            result.unmapped[e.label] += 1
        elif str(Path(e.path).resolve()) in origins or _item(e) in items:
            result.present += 1
        elif not Path(e.path).is_file():
            result.missing.append(e.path)
        elif _item(e):
            variants[_item(e)].append((e, *kl))
        else:
            todo.append((e, *kl))
    for group in variants.values():
        todo.append(max(group, key=lambda t: _variant_rank(t[0])))
        result.variants += len(group) - 1
    return todo


def import_dataset(
    dataset: str,
    root: str | Path,
    out: str | Path,
    labels: str = "rtaudio",
    progress: bool = True,
    log: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
) -> ImportResult:
    """Import ``dataset`` found at ``root`` into the corpus ``out`` (created if needed).

    Raises:
        CorpusImportError: unknown dataset or label mode, bad directories or manifest.
        DatasetLayoutError: ``root`` is not laid out like the dataset.
    """
    if dataset not in READERS:
        raise CorpusImportError(f"unknown dataset {dataset!r} (choose from {', '.join(READERS)})")
    if labels not in LABEL_MODES:
        raise CorpusImportError(f"--labels must be one of {', '.join(LABEL_MODES)}")
    root_p, out_p = Path(root).resolve(), Path(out).resolve()
    if not root_p.is_dir():
        raise CorpusImportError(f"{root}: not a directory")
    if _inside(out_p, root_p) or _inside(root_p, out_p / IMPORT_DIR):
        raise CorpusImportError(f"the corpus {out} and the dataset {root} must not overlap")
    theirs = _theirs(out_p)
    if theirs is not None:
        raise CorpusImportError(
            f"{theirs} is not a corpus's, and an import writes it: nothing was changed; move "
            "it, or import into another --out"
        )
    records = {r.path: r for r in _load_records(out_p)}
    summary = _load_summary(out_p)
    result = ImportResult(dataset)
    entries = _entries(dataset, root_p)
    if not entries:
        raise DatasetLayoutError(f"{dataset}: no audio files found under {root}")
    if not any(Path(e.path).is_file() for e in entries):
        raise DatasetLayoutError(
            f"{dataset}: none of the {len(entries)} files its metadata lists is under {root} "
            f"({entries[0].path}, ...)"
        )
    todo = _plan(entries, labels, out_p, records, result)
    imports = summary.setdefault("imported", {})
    imports[dataset] = {"root": str(root_p), "labels": labels}
    log(f"rtaudio data: {dataset}: {len(todo)} file(s) to import into {out_p}")
    if todo:
        out_p.mkdir(parents=True, exist_ok=True)
    bar = tqdm(
        todo,
        unit="file",
        desc=f"import {dataset}",
        disable=not progress,
        dynamic_ncols=True,
        mininterval=0.5 if sys.stderr.isatty() else 30.0,
    )
    saved = time.monotonic()
    dirty = False
    try:
        for e, kind, label in bar:
            origin = str(Path(e.path).resolve())
            try:
                x = _strip_padding(read_audio(origin, SR))
            except AudioFileError as err:
                result.unreadable.append(str(err))
                continue
            if x.size == 0:
                result.silent += 1
                continue
            rel = _clip_path(e, root_p)
            if rel in records and records[rel].origin != origin:
                rel = rel[: -len(".wav")] + f"_{stable_int(origin) & 0xFFFFFFFF:08x}.wav"
            write_wav(out_p / rel, normalize(x, -20.0), SR)
            source = SOURCE_PREFIX + e.source
            item = _item(e)
            details = dict(e.extra, item=item) if item else dict(e.extra)
            records[rel] = ClipRecord(
                rel,
                kind,
                label,
                source,
                source,
                dataset,
                LICENSES[dataset],
                e.split,
                round(x.size / SR, 4),
                1,
                origin,
                json.dumps(details, sort_keys=True),
            )
            result.imported += 1
            dirty = True
            if time.monotonic() - saved > SAVE_EVERY_S:
                _save(out_p, records, summary)
                saved, dirty = time.monotonic(), False
    finally:
        bar.close()
        if dirty:
            imports[dataset]["clips"] = sum(r.package == dataset for r in records.values())
            _save(out_p, records, summary)
    result.hours = hours_by([r for r in records.values() if r.package == dataset], "kind", "split")
    return result
