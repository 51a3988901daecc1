"""The small fixed evaluation set kept in the repository (``tests/data/eval``).

``python -m rtaudio.train.evalset --data CORPUS --out tests/data/eval`` copies a few held-out
(``test`` split) clips of a built corpus, real recordings wherever the corpus has them, as
16-bit FLAC with a manifest in the corpus layout, so ``rtaudio evaluate MODEL --data
tests/data/eval`` and the shipped-weights tests read it like any corpus:

* speech: clips of every *real* test speaker (several per speaker, so TseNet has a different
  enrollment utterance);
* music: real tracks first, then synthesised ones;
* noise: one clip per generated noise type (the corpus has no real noise-only recordings);
* events: clips of up to ``events_per_class`` different test recordings per sound-event class.

The selection is deterministic given the corpus and ``--seed``. ``--kinds events`` replaces
only the event clips of an existing set (the other rows and files stay as they are). After the
corpus grew (``rtaudio data build --keep-splits``), ``--kinds events --grow`` keeps every event
clip already in the set and only fills the gaps - a class with fewer than
``events_per_class`` recordings, a speaker or noise type not yet there - so the numbers
measured on the clips already there stay comparable.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf

from rtaudio.data.manifest import FIELDS
from rtaudio.train.corpus import Corpus, Row, level_db

SR = 16000


def _take(corpus: Corpus, row: Row, seconds: float) -> np.ndarray:
    """The loudest ``seconds`` stretch of a clip (whole clip if shorter), on 0.5 s steps."""
    x = corpus.float_audio(row)
    n = round(seconds * SR)
    if x.size <= n:
        return x
    best, best_db = 0, -1e9
    for a in range(0, x.size - n + 1, SR // 2):
        db = level_db(x[a : a + n])
        if db > best_db:
            best, best_db = a, db
    return x[best : best + n]


KINDS = ("speech", "music", "noise", "events")


def _by_source(rows: list[Row], count: int, rng: np.random.Generator) -> list[list[Row]]:
    """The rows of up to ``count`` different sources (recordings), chosen with ``rng``."""
    by_src: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        by_src[str(r["source"])].append(r)
    srcs = sorted(by_src)
    return [by_src[srcs[int(j)]] for j in rng.permutation(len(srcs))[:count]]


def _new_sources(
    rows: list[Row], count: int, rng: np.random.Generator, present: set[str] | None
) -> list[list[Row]]:
    """:func:`_by_source`; growing a set (``present``: its sources), the sources already there
    count towards ``count`` and are not drawn again."""
    if present is None:
        return _by_source(rows, count, rng)
    srcs = {str(r["source"]) for r in rows}
    order = _by_source(rows, len(srcs), rng)  # every source, in the same order as above
    fresh = [g for g in order if str(g[0]["source"]) not in present]
    return fresh[: max(0, count - len(srcs & present))]


def _read_rows(out: Path) -> list[dict[str, str]]:
    try:
        with open(out / "manifest.csv", newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    except OSError:
        return []


def build_eval_set(
    data: str | Path,
    out: str | Path,
    seed: int = 0,
    speech_per_speaker: int = 3,
    music_real: int = 6,
    music_synth: int = 4,
    seconds: float = 4.0,
    events_per_class: int = 3,
    kinds: tuple[str, ...] = KINDS,
    grow: bool = False,
) -> list[dict[str, str]]:
    """Write the evaluation set (see the module's docstring); ``grow``: keep the clips of
    ``kinds`` already in ``out`` and add only what they lack."""
    corpus = Corpus(data)
    out = Path(out)
    old = _read_rows(out) if grow or set(kinds) != set(KINDS) else []
    present = {r["source"] for r in old if r["kind"] in kinds} if grow else None
    rng = np.random.default_rng(seed)
    test = corpus.select("test")
    picked: list[tuple[Row, float]] = []
    by_spk: dict[str, list[Row]] = defaultdict(list)
    for r in test:
        if r["kind"] == "speech" and int(r["real"]) and float(r["duration"]) >= 2.0:
            by_spk[str(r["speaker"])].append(r)
    for spk in sorted(by_spk):
        rows = sorted(by_spk[spk], key=lambda r: str(r["path"]))
        for i in rng.permutation(len(rows))[:speech_per_speaker]:
            if present is None or str(rows[int(i)]["source"]) not in present:
                picked.append((rows[int(i)], seconds))
    for real, count in ((1, music_real), (0, music_synth)):
        rows = sorted(
            (r for r in test if r["kind"] == "music" and int(r["real"]) == real),
            key=lambda r: str(r["path"]),
        )
        for group in _new_sources(rows, count, rng, present):
            picked.append((group[int(rng.integers(len(group)))], seconds))
    for kind in ("noise", "events"):
        by_label: dict[str, list[Row]] = defaultdict(list)
        for r in test:
            if r["kind"] == kind:
                by_label[str(r["label"])].append(r)
        for lab in sorted(by_label):
            rows = sorted(by_label[lab], key=lambda r: str(r["path"]))
            if kind == "noise":  # one clip per noise type
                if present is None or not {str(r["source"]) for r in rows} & present:
                    picked.append((rows[int(rng.integers(len(rows)))], 3.0))
                continue
            for group in _new_sources(rows, events_per_class, rng, present):
                picked.append((group[int(rng.integers(len(group)))], 3.0))
    picked = [(row, secs) for row, secs in picked if row["kind"] in kinds]
    kept: list[dict[str, str]] = []
    for r in old:  # replace (or, growing, keep) only these kinds of an existing set
        if r["kind"] in kinds and not grow:
            (out / r["path"]).unlink(missing_ok=True)
        else:
            kept.append(r)
    rows_out: list[dict[str, str]] = list(kept)
    used = {r["path"] for r in kept}
    for row, secs in picked:
        x = _take(corpus, row, secs)
        rel = _clip_name(row, used)
        used.add(rel)
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        sf.write(out / rel, np.clip(x, -1, 1), SR, subtype="PCM_16", format="FLAC")
        details = {"from": str(row["path"]), "corpus_manifest_sha256": corpus.manifest_sha256}
        rows_out.append(
            {
                **{k: str(row[k]) for k in FIELDS},
                "path": rel,
                "duration": f"{x.size / SR:.4f}",
                "details": json.dumps(details, sort_keys=True),
            }
        )
    with open(out / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(FIELDS), lineterminator="\n")
        w.writeheader()
        w.writerows(rows_out)
    return rows_out


def _clip_name(row: Row, used: set[str]) -> str:
    """``KIND/NAME.flac`` for a corpus clip: its name, shortened past 60 characters with a
    hash of the whole (two clips cut to the same 60 once shared a file: one overwrote the
    other, which was then scored twice), never one of ``used``."""
    stem = Path(str(row["path"])).stem
    digest = hashlib.sha1(str(row["path"]).encode()).hexdigest()
    name = stem if len(stem) <= 60 else f"{stem[:51]}-{digest[:8]}"
    rel = f"{row['kind']}/{name}.flac"
    if rel in used:
        rel = f"{row['kind']}/{name}-{digest[:8]}.flac"
    return rel


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="built corpus")
    p.add_argument("--out", required=True, help="where to write the evaluation set")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--kinds",
        default=",".join(KINDS),
        help="comma list of kinds to (re)write; the rows of the others are kept",
    )
    p.add_argument(
        "--grow",
        action="store_true",
        help="keep the clips of --kinds already in the set; add only what they lack (a class "
        "short of recordings, a new speaker or noise type) from a grown corpus",
    )
    a = p.parse_args()
    kinds = tuple(k for k in a.kinds.split(",") if k)
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        p.error(f"unknown kind(s) {', '.join(bad)} (choose from {', '.join(KINDS)})")
    before = len(_read_rows(Path(a.out))) if a.grow else 0
    rows = build_eval_set(a.data, a.out, a.seed, kinds=kinds, grow=a.grow)
    secs = sum(float(r["duration"]) for r in rows)
    added = f" ({len(rows) - before} added)" if a.grow else ""
    print(f"{len(rows)} clips, {secs:.1f} s{added} -> {a.out}/manifest.csv")


if __name__ == "__main__":
    main()
