"""Which recordings a weights file has learnt from, so held-out claims can be checked later.

A corpus is split by source (speaker, voice, soundfont, recording), but a rebuilt or grown
corpus may split its sources differently, and a fine-tune or a distilled student inherits what
its starting weights and teachers saw. So every run records, in its checkpoint and in the
exported file's metadata (``trained_on``), the sources of its corpus's training split (all of
them, whether or not this model's classes read them: a conservative record) plus those
recorded by the weights it started from (``--init``) and by its teachers (``--teacher``):

    {"sources": [...sorted source ids...], "complete": true}

``complete`` is false when one of those ancestors predates the record (its sources are
unknown). ``rtaudio evaluate`` counts the evaluated split's sources found there, and with
``--unseen-only`` leaves them out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

KEY = "trained_on"


# a grapheme-to-phoneme run records its training words as one entry starting so (their split
# is a function of the word), plus, by name, the frequent words the word's hash holds out
LEXICON_TRAIN = "lexicon words of the train split"


def learnt(sources: set[str], split_sources: set[str]) -> set[str]:
    """The sources of ``split_sources`` that a record of ``sources`` says were learnt from."""
    seen = split_sources & sources
    if any(s.startswith(LEXICON_TRAIN) for s in sources):
        from rtaudio.data.lexicon import split_of

        seen |= {w for w in split_sources if split_of(w) == "train"}
    return seen


def run_sources(rows: Iterable[dict[str, Any]]) -> set[str]:
    """Sources of the training-split rows among ``rows``."""
    return {str(r["source"]) for r in rows if r["split"] == "train"}


def recorded(meta: dict[str, Any] | None) -> tuple[set[str], bool] | None:
    """``(sources, complete)`` of a metadata / checkpoint-state dict, ``None`` if it has none."""
    rec = (meta or {}).get(KEY)
    if not isinstance(rec, dict) or not isinstance(rec.get("sources"), list):
        return None
    return {str(s) for s in rec["sources"]}, bool(rec.get("complete", False))


def merge(own: set[str], ancestors: Sequence[tuple[set[str], bool] | None]) -> dict[str, Any]:
    """This run's record: its own sources plus its ancestors' (the records of its ``--init``
    weights and teachers, ``None`` where one has none: then the record is incomplete)."""
    sources, complete = set(own), True
    for rec in ancestors:
        if rec is None:
            complete = False
        else:
            sources |= rec[0]
            complete = complete and rec[1]
    return {"sources": sorted(sources), "complete": complete}


def describe(meta: dict[str, Any] | None, split_sources: set[str]) -> dict[str, Any]:
    """How many of ``split_sources`` a file's record names (``recorded`` false: no record)."""
    rec = recorded(meta)
    if rec is None:
        return {"recorded": False, "sources": len(split_sources)}
    seen = sorted(learnt(rec[0], split_sources))
    return {
        "recorded": True,
        "complete": rec[1],
        "sources": len(split_sources),
        "seen": len(seen),
        "seen_examples": seen[:5],
    }
