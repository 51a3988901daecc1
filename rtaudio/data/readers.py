"""Readers for public dataset layouts a user may already have on disk (nothing is downloaded).

Each reader walks a dataset directory and yields :class:`Entry` rows with the file's path, its
label or role, a train / validation / test split and a source identity (the recording, speaker
or mixture the file comes from), so that corpora from different places can be mixed with the
same split-by-source rule as the built corpus.

* :func:`read_esc50` — ESC-50: ``audio/*.wav`` + ``meta/esc50.csv``; folds 1-3 train, 4
  validation, 5 test (configurable); source = the freesound clip (``src_file``).
* :func:`read_urbansound8k` — UrbanSound8K: ``audio/foldN/*.wav`` +
  ``metadata/UrbanSound8K.csv``; folds 1-8 train, 9 validation, 10 test; source = ``fsID``.
* :func:`read_musan` — MUSAN: ``music/``, ``speech/``, ``noise/`` (sub-collections with
  ``ANNOTATIONS`` and ``LICENSE`` files); no official split, so one is drawn per source
  (artist for music, file otherwise) from a seed.
* :func:`read_librimix` — LibriMix: ``Libri{2,3}Mix/wav{8k,16k}/{min,max}/{train-100,
  train-360,dev,test}/{mix_clean,mix_both,mix_single,s1,s2,s3,noise}/*.wav``; source = the
  LibriSpeech speakers of the mixture.
* :func:`read_wsj0mix` — wsj0-2mix / 3mix: ``[2speakers/]wav{8k,16k}/{min,max}/{tr,cv,tt}/
  {mix,s1,s2,s3}/*.wav``; source = the WSJ0 speakers (first three characters of an utterance
  id).

:func:`separation_examples` groups LibriMix / wsj0-mix entries into (mixture, sources) sets.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .manifest import DEFAULT_FRACTIONS, SPLITS, stable_int


@dataclass(frozen=True)
class Entry:
    """One file of a public dataset.

    Attributes:
        path: absolute path of the audio file.
        label: class name (ESC-50, UrbanSound8K), ``speech`` / ``music`` / ``noise`` (MUSAN) or
            the file's role in a mixture set (``mix_clean``, ``s1``, ``noise``...).
        kind: ``events``, ``speech``, ``music``, ``noise`` or ``mixture`` / ``source``.
        split: ``train``, ``validation`` or ``test``.
        source: the unit splits must not share (recording, speaker(s), artist).
        dataset: dataset name.
        extra: dataset-specific fields (fold, class id, mixture id, genres...).
    """

    path: str
    label: str
    kind: str
    split: str
    source: str
    dataset: str
    extra: Mapping[str, str] = field(default_factory=dict)


class DatasetLayoutError(ValueError):
    """The directory does not have the expected layout."""


def _need(path: Path, what: str) -> None:
    if not path.exists():
        raise DatasetLayoutError(f"{what}: {path} not found")


def _fold_split(fold: int, test_folds: tuple[int, ...], val_folds: tuple[int, ...]) -> str:
    if fold in test_folds:
        return "test"
    if fold in val_folds:
        return "validation"
    return "train"


def read_esc50(
    root: str | Path, test_folds: tuple[int, ...] = (5,), val_folds: tuple[int, ...] = (4,)
) -> Iterator[Entry]:
    """ESC-50 (``audio/`` + ``meta/esc50.csv``); splits by the official folds."""
    root = Path(root)
    meta = root / "meta" / "esc50.csv"
    _need(meta, "ESC-50 metadata")
    with open(meta, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            p = root / "audio" / row["filename"]  # listed but not there: the importer says so
            yield Entry(
                str(p),
                row["category"],
                "events",
                _fold_split(int(row["fold"]), test_folds, val_folds),
                f"esc50:{row.get('src_file', row['filename'])}",
                "esc50",
                {"fold": row["fold"], "target": row["target"], "esc10": row.get("esc10", "")},
            )


def read_urbansound8k(
    root: str | Path, test_folds: tuple[int, ...] = (10,), val_folds: tuple[int, ...] = (9,)
) -> Iterator[Entry]:
    """UrbanSound8K (``audio/foldN/`` + ``metadata/UrbanSound8K.csv``); splits by fold."""
    root = Path(root)
    meta = root / "metadata" / "UrbanSound8K.csv"
    _need(meta, "UrbanSound8K metadata")
    with open(meta, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            fold = int(row["fold"])
            p = root / "audio" / f"fold{fold}" / row["slice_file_name"]
            yield Entry(
                str(p),
                row["class"],
                "events",
                _fold_split(fold, test_folds, val_folds),
                f"us8k:{row['fsID']}",
                "urbansound8k",
                {
                    "fold": row["fold"],
                    "class_id": row["classID"],
                    "salience": row.get("salience", ""),
                },
            )


def _seeded_split(source: str, seed: int, fractions: tuple[float, float, float]) -> str:
    u = (stable_int(seed, "split", source) % 1_000_000) / 1_000_000
    if u < fractions[0]:
        return "train"
    return "validation" if u < fractions[0] + fractions[1] else "test"


def _annotations(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split()
            if parts:
                out[parts[0]] = parts[1:]
    return out


def read_musan(
    root: str | Path, seed: int = 0, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
) -> Iterator[Entry]:
    """MUSAN (``music/``, ``speech/``, ``noise/``); a seeded split per source.

    Music ANNOTATIONS lines are ``file genres vocals(Y/N) artist...``: the artist is the source,
    so one artist's songs stay in one split. Speech and noise files are their own sources.
    """
    root = Path(root)
    parts = [p for p in ("music", "speech", "noise") if (root / p).is_dir()]
    if not parts:
        raise DatasetLayoutError(f"MUSAN: no music/, speech/ or noise/ under {root}")
    found = False
    for part in parts:
        for coll in sorted(d for d in (root / part).iterdir() if d.is_dir()):
            ann = _annotations(coll / "ANNOTATIONS")
            lic = (
                (coll / "LICENSE").read_text(errors="replace").strip().splitlines()[:1]
                if (coll / "LICENSE").is_file()
                else []
            )
            for p in sorted(coll.rglob("*.wav")):
                a = ann.get(p.stem, [])
                extra = {"collection": coll.name, "license": lic[0] if lic else ""}
                source = f"musan:{part}:{p.stem}"
                if part == "music" and len(a) >= 3:
                    extra.update(genres=a[0], vocals=a[1])
                    source = f"musan:music:artist:{' '.join(a[2:]).lower()}"
                elif part == "speech" and a:
                    extra.update(annotation=" ".join(a))
                found = True
                yield Entry(
                    str(p),
                    part,
                    part,
                    _seeded_split(source, seed, fractions),
                    source,
                    "musan",
                    extra,
                )
    if not found:
        raise DatasetLayoutError(
            f"MUSAN: no {'/, '.join(parts)}/ <collection>/*.wav under {root} (MUSAN keeps its "
            "files in collections: music/fma/, noise/free-sound/...)"
        )


_LIBRIMIX_SPLITS = {
    "train-100": "train",
    "train-360": "train",
    "train": "train",
    "dev": "validation",
    "test": "test",
}
_ROLES = ("mix_clean", "mix_both", "mix_single", "mix", "s1", "s2", "s3", "noise")


def _librispeech_speaker(utt: str) -> str:
    return utt.split("-")[0]


def read_librimix(root: str | Path) -> Iterator[Entry]:
    """LibriMix (``[Libri2Mix/]wav16k|wav8k/min|max/<split>/<role>/*.wav``).

    File names are ``<utt1>_<utt2>[_<utt3>].wav`` with LibriSpeech utterance ids
    (``speaker-chapter-index``). ``s1``/``s2``/``s3`` entries have the matching speaker as
    source, mixtures and noise all the mixture's speakers.
    """
    root = Path(root)
    found = False
    for p in sorted(root.rglob("*.wav")):
        rel = p.relative_to(root).parts
        if len(rel) < 3 or rel[-2] not in _ROLES or rel[-3] not in _LIBRIMIX_SPLITS:
            continue
        found = True
        role, split_dir = rel[-2], rel[-3]
        utts = p.stem.split("_")
        speakers = [_librispeech_speaker(u) for u in utts]
        if role in ("s1", "s2", "s3") and int(role[1]) <= len(speakers):
            source = f"librispeech:{speakers[int(role[1]) - 1]}"
            kind = "source"
        else:
            source = "librispeech:" + "+".join(sorted(speakers))
            kind = "noise" if role == "noise" else "mixture"
        sr_dir = next((x for x in rel if re.fullmatch(r"wav\d+k", x)), "")
        mode = next((x for x in rel if x in ("min", "max")), "")
        yield Entry(
            str(p),
            role,
            kind,
            _LIBRIMIX_SPLITS[split_dir],
            source,
            "librimix",
            {
                "mixture_id": p.stem,
                "speakers": "+".join(speakers),
                "sample_rate": sr_dir,
                "mode": mode,
                "subset": split_dir,
            },
        )
    if not found:
        raise DatasetLayoutError(f"LibriMix: no <split>/<role>/*.wav under {root}")


_WSJ_SPLITS = {"tr": "train", "cv": "validation", "tt": "test"}


def read_wsj0mix(root: str | Path) -> Iterator[Entry]:
    """wsj0-2mix / 3mix (``[2speakers/]wav8k|wav16k/min|max/{tr,cv,tt}/{mix,s1,s2,s3}/``).

    File names are ``<utt1>_<snr1>_<utt2>_<snr2>[...].wav``; a WSJ0 speaker is the first three
    characters of an utterance id.
    """
    root = Path(root)
    found = False
    for p in sorted(root.rglob("*.wav")):
        rel = p.relative_to(root).parts
        if len(rel) < 3 or rel[-2] not in ("mix", "s1", "s2", "s3") or rel[-3] not in _WSJ_SPLITS:
            continue
        found = True
        role, split_dir = rel[-2], rel[-3]
        fields = p.stem.split("_")
        utts = fields[0::2]
        speakers = [u[:3] for u in utts]
        if role != "mix" and int(role[1]) <= len(speakers):
            source, kind = f"wsj0:{speakers[int(role[1]) - 1]}", "source"
        else:
            source, kind = "wsj0:" + "+".join(sorted(speakers)), "mixture"
        sr_dir = next((x for x in rel if re.fullmatch(r"wav\d+k", x)), "")
        mode = next((x for x in rel if x in ("min", "max")), "")
        yield Entry(
            str(p),
            role,
            kind,
            _WSJ_SPLITS[split_dir],
            source,
            "wsj0mix",
            {
                "mixture_id": p.stem,
                "speakers": "+".join(speakers),
                "snrs": ",".join(fields[1::2]),
                "sample_rate": sr_dir,
                "mode": mode,
            },
        )
    if not found:
        raise DatasetLayoutError(f"wsj0-mix: no {{tr,cv,tt}}/<role>/*.wav under {root}")


def separation_examples(entries: Iterator[Entry] | list[Entry]) -> list[dict[str, str]]:
    """Group mixture-set entries by mixture: ``{"mixture": path, "s1": path, ...,
    "split": ..., "mixture_id": ...}``, sorted; sets without a mixture are dropped."""
    sets: dict[tuple[str, str, str, str], dict[str, str]] = defaultdict(dict)
    for e in entries:
        key = (
            e.dataset,
            e.split,
            e.extra.get("subset", "") + e.extra.get("mode", "") + e.extra.get("sample_rate", ""),
            e.extra.get("mixture_id", ""),
        )
        sets[key][e.label] = e.path
        sets[key]["split"] = e.split
        sets[key]["mixture_id"] = e.extra.get("mixture_id", "")
    out = []
    for key in sorted(sets):
        d = sets[key]
        mix = d.get("mix") or d.get("mix_clean") or d.get("mix_both") or d.get("mix_single")
        if mix:
            out.append(dict(d, mixture=mix))
    return out


def split_counts(entries: list[Entry]) -> dict[str, int]:
    """Number of entries per split (all three keys present)."""
    c = dict.fromkeys(SPLITS, 0)
    for e in entries:
        c[e.split] += 1
    return c


READERS = {
    "esc50": read_esc50,
    "urbansound8k": read_urbansound8k,
    "musan": read_musan,
    "librimix": read_librimix,
    "wsj0mix": read_wsj0mix,
}
