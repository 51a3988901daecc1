"""Corpus manifest (CSV + JSON) and source-disjoint train / validation / test splits."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from .audio import write_text_atomic

SPLITS = ("train", "validation", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
IMPORT_DIR = "imported"  # clips added by `rtaudio data import`; `data build` keeps them


@dataclass(frozen=True)
class ClipRecord:
    """One clip of the corpus (one manifest row).

    Attributes:
        path: WAV path relative to the corpus directory (16 kHz mono 16-bit).
        kind: ``speech``, ``music``, ``noise`` or ``events``.
        label: ``speech`` / ``music`` / noise type / event class.
        speaker: speaker identity (speech) or recording / generator identity (others).
        source: split unit; all clips sharing it are in one split.
        package: Debian package the audio (or the synthesiser / soundfont) comes from.
        license: licence of the source audio.
        split: ``train``, ``validation`` or ``test``.
        duration: seconds.
        real: 1 for recordings of the real world, 0 for synthetic audio.
        origin: the source file, voice or soundfont.
        details: JSON text with generation details (text, prosody, offsets, augmentation...).
    """

    path: str
    kind: str
    label: str
    speaker: str
    source: str
    package: str
    license: str
    split: str
    duration: float
    real: int
    origin: str
    details: str = "{}"


FIELDS = tuple(f.name for f in fields(ClipRecord))


def slug(s: str) -> str:
    """A file-name-safe form of a speaker, package or path part (at most 80 characters)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("_")[:80] or "x"


def stable_int(*parts: object) -> int:
    """A 63-bit integer hash of ``parts`` that does not change between Python runs."""
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:8], "little") >> 1


def assign_splits(
    groups: Mapping[str, tuple[str, float]],
    seed: int,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    pinned: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Assign each split unit to a split, per stratum, deterministically from ``seed``.

    Args:
        groups: ``group -> (stratum, weight)``. Within each stratum the groups are shuffled
            with a seed derived from ``seed`` and the stratum name; the heaviest group always
            stays in ``train`` (the richest source is never held out).
        fractions: target fractions of groups in train / validation / test.
        pinned: ``group -> split`` kept as given (an earlier corpus's splits, so adding sources
            never moves a held-out source into training); the other groups of a stratum are
            assigned among themselves by the rules below.

    A stratum of one group goes to train; of two, one train and one test; of three or more,
    at least one group to each split.
    """
    pinned = pinned or {}
    strata: dict[str, list[tuple[str, float]]] = defaultdict(list)
    out: dict[str, str] = {}
    for g, (stratum, w) in groups.items():
        if g in pinned:
            out[g] = pinned[g]
        else:
            strata[stratum].append((g, w))
    for stratum in sorted(strata):
        items = sorted(strata[stratum])
        rng = np.random.default_rng(stable_int(seed, "split", stratum))
        order = [items[i] for i in rng.permutation(len(items))]
        heaviest = max(items, key=lambda t: (t[1], t[0]))
        order.remove(heaviest)
        order.insert(0, heaviest)
        n = len(order)
        if n == 1:
            n_val, n_test = 0, 0
        elif n == 2:
            n_val, n_test = 0, 1
        else:
            n_val = max(1, round(n * fractions[1]))
            n_test = max(1, round(n * fractions[2]))
            while n - n_val - n_test < 1:
                if n_val >= n_test:
                    n_val -= 1
                else:
                    n_test -= 1
        for i, (g, _) in enumerate(order):
            if i < n - n_val - n_test:
                out[g] = "train"
            elif i < n - n_test:
                out[g] = "validation"
            else:
                out[g] = "test"
    return out


def to_csv(records: Iterable[ClipRecord]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(FIELDS), lineterminator="\n")
    w.writeheader()
    for r in records:
        row = asdict(r)
        row["duration"] = f"{r.duration:.4f}"
        w.writerow(row)
    return buf.getvalue()


def write_manifest(
    root: str | Path, records: Sequence[ClipRecord], summary: Mapping[str, Any]
) -> None:
    """Write ``manifest.csv`` and ``manifest.json`` (summary + clips) atomically."""
    root = Path(root)
    write_text_atomic(root / "manifest.csv", to_csv(records))
    doc = {
        "summary": summary,
        "clips": [dict(asdict(r), duration=round(r.duration, 4)) for r in records],
    }
    write_text_atomic(
        root / "manifest.json",
        json.dumps(doc, indent=1, ensure_ascii=False, sort_keys=False) + "\n",
    )


def manifest_splits(path: str | Path) -> dict[str, str]:
    """``source -> split`` of a corpus manifest (a corpus directory or its ``manifest.csv``).

    Raises:
        ValueError: the file is missing, unreadable or not a corpus manifest.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "manifest.csv"
    try:
        with open(p, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ValueError(f"cannot read the manifest {p}: {e}") from None
    if not rows or not {"source", "split"} <= set(rows[0]):
        raise ValueError(f"{p} is not a corpus manifest (no source / split columns)")
    out: dict[str, str] = {}
    for r in rows:
        src, split = r["source"], r["split"]
        if split not in SPLITS:
            raise ValueError(f"{p}: unknown split {split!r} for {src!r}")
        if out.setdefault(src, split) != split:
            raise ValueError(f"{p}: source {src!r} is in two splits")
    return out


def read_manifest(root: str | Path) -> list[dict[str, Any]]:
    """Rows of ``root/manifest.csv`` as dicts (``duration`` float, ``real`` int); ValueError
    naming the line for one that is not a manifest's."""
    p = Path(root) / "manifest.csv"
    with open(p, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for line, r in enumerate(rows, 2):
        try:
            r["duration"] = float(r["duration"])
            r["real"] = int(r["real"])
            if not (r["path"] and r["split"] and r["kind"]):
                raise ValueError("no path, split or kind")
        except (KeyError, TypeError, ValueError) as e:
            why = f"no {e} column" if isinstance(e, KeyError) else str(e)
            raise ValueError(f"{p}, line {line}: not a corpus manifest's row ({why})") from None
    return rows


def hours_by(records: Iterable[ClipRecord | Mapping[str, Any]], *keys: str) -> dict[str, float]:
    """Total hours grouped by the given fields (joined with ``/``)."""
    out: dict[str, float] = defaultdict(float)
    for r in records:
        d = asdict(r) if isinstance(r, ClipRecord) else r
        out["/".join(str(d[k]) for k in keys)] += float(d["duration"]) / 3600.0
    return {k: round(v, 4) for k, v in sorted(out.items())}
