"""What SliceNet learns: English words to eSpeak NG phonemes (``rtaudio train slicenet_g2p``).

Data: a lexicon of :mod:`rtaudio.data.lexicon` (split by word). Batches: words drawn uniformly
from its ``train`` split, teacher-forced (the decoder reads the phonemes shifted right behind
``bos``; the last target is ``eos``), label-smoothed cross-entropy over the phoneme tokens.
Validation and test decode greedily with the streaming ``step`` (as :mod:`rtaudio.g2p` does)
and score:

* ``per``: phoneme error rate, the token edit distance over the reference tokens (stress
  marks count as tokens: a misplaced stress is an error);
* ``per_no_stress``: the same with the stress marks taken out of both;
* ``wer``: the share of words with any token wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch.nn.functional as F
from torch import Tensor, nn

import rtaudio.models as models
from rtaudio import g2p
from rtaudio.data.lexicon import KINDS, Lexicon, LexiconError, split_of
from rtaudio.models.slicenet import shift_right
from rtaudio.train import provenance
from rtaudio.train.corpus import CorpusError
from rtaudio.train.tasks import TASK_FAMILIES, Log, Task

ROW = dict[str, Any]


def edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    """Levenshtein distance between two token sequences (unit costs)."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y))
        prev = cur
    return prev[-1]


def _no_stress(tokens: Sequence[str]) -> list[str]:
    return [t for t in tokens if t not in g2p.STRESS]


def score(refs: Sequence[Sequence[str]], hyps: Sequence[Sequence[str]]) -> dict[str, Any]:
    """``per``, ``per_no_stress``, ``wer`` (rounded) of hypotheses against references, plus the
    per-word errors ``_errors`` / ``_lengths`` for intervals."""
    errs = np.array([edit_distance(r, h) for r, h in zip(refs, hyps, strict=True)])
    lens = np.array([len(r) for r in refs])
    ns = sum(edit_distance(_no_stress(r), _no_stress(h)) for r, h in zip(refs, hyps, strict=True))
    ns_len = sum(len(_no_stress(r)) for r in refs)
    return {
        "per": round(float(errs.sum() / max(1, lens.sum())), 4),
        "per_no_stress": round(ns / max(1, ns_len), 4),
        "wer": round(float((errs > 0).mean()) if len(errs) else 0.0, 4),
        "_errors": errs,
        "_lengths": lens,
    }


def running_text(text: dict[str, Any]) -> str:
    """What a report's ``text`` metrics are, for a line of text (evaluate, model cards)."""
    return (
        "as in running text (each word weighted by how often English uses it; these words are "
        f"{100 * text['share']:.1f} % of its words)"
    )


def bootstrap(errors: np.ndarray, lengths: np.ndarray, reps: int = 1000, seed: int = 0) -> dict:
    """95 % intervals of PER and WER over words (each replicate redraws the words)."""
    rng = np.random.default_rng(seed)
    n = len(errors)
    idx = rng.integers(0, n, size=(reps, n))
    per = errors[idx].sum(1) / np.maximum(1, lengths[idx].sum(1))
    wer = (errors[idx] > 0).mean(1)
    q = [2.5, 97.5]
    return {
        "per": [round(float(v), 4) for v in np.percentile(per, q)],
        "wer": [round(float(v), 4) for v in np.percentile(wer, q)],
    }


class G2PTask(Task):
    """SliceNet grapheme-to-phoneme on a lexicon of :mod:`rtaudio.data.lexicon`."""

    family: ClassVar[str] = "slicenet"
    kind: ClassVar[str] = "sequence"
    batch_size: ClassVar[int] = 64
    lr: ClassVar[float] = 1e-3
    val_every: ClassVar[int] = 500
    patience: ClassVar[int] = 8
    plateau: ClassVar[int] = 3
    grad_clip: ClassVar[float] = 1.0
    label_smoothing: ClassVar[float] = 0.1
    class_power: float = 1.0  # a kind (word / name) is drawn ~ its count ** class_power
    frequency_share: float = 0.0  # this share of a batch drawn ~ how often text uses a word

    def __init__(
        self,
        name: str,
        corpus: Any,
        seed: int = 0,
        log: Log | None = None,
        train: bool = True,
    ) -> None:
        super().__init__(name, corpus, seed, log, train=False)  # no audio augmenter
        self.training = train
        self.val_size = 1000
        self._train_rows: list[ROW] | None = None
        self._by_kind: list[list[ROW]] | None = None
        self._by_use: tuple[list[ROW], np.ndarray] | None = None

    @classmethod
    def open_data(cls, root: Path, log: Log | None = None) -> Lexicon:
        try:
            return Lexicon(root, log)
        except LexiconError as e:
            raise CorpusError(str(e)) from None

    def new_model(self) -> nn.Module:
        model = models.create(self.name)
        g2p.check_model_shape(model, f"registry model {self.name}")
        return model

    def export_meta(self) -> dict[str, Any]:
        return {
            "g2p": g2p.g2p_meta(),
            "input": "lower-case words of the letters a-z; output eSpeak NG en-us IPA phoneme "
            "tokens, stress marks as tokens (rtaudio.g2p)",
        }

    def learnt_sources(self) -> set[str]:
        # the split is a function of the word: one record for all training words (listing
        # 57 k words would put half a megabyte in the file's header), plus the words that are
        # train words only for being frequent (~110), which another lexicon may hold out
        rows = self.rows("train")
        moved = {r["word"] for r in rows if split_of(r["word"]) != "train"}
        n, sha = len(rows), self.corpus.manifest_sha256[:16]
        return {f"{provenance.LEXICON_TRAIN} ({n} words; {sha})"} | moved

    def rows(self, split: str) -> list[ROW]:
        if split == "train" and self._train_rows is not None:
            return self._train_rows
        rows = self.corpus.select(split)
        if not rows:
            raise CorpusError(f"{self.corpus.root}: no words in its {split} split")
        if split == "train":
            self._train_rows = rows
        return rows

    def data_rows(self) -> list[ROW]:
        return list(self.corpus.rows)

    def set_val_size(self, n: int) -> None:
        self.val_size = int(n)

    # -- training ------------------------------------------------------------------------------
    def _draw(self, rng: np.random.Generator) -> list[ROW]:
        """A batch of training rows: ``frequency_share`` of them drawn as running text would
        (a word ~ its uses per million: "the" is 5 % of these), the rest uniform over rows at
        ``class_power`` 1 (names as often as the lexicon has them, 12 %), else a kind ~ its
        count ** ``class_power`` (0: half names), then a row of that kind."""
        rows = self.rows("train")
        by_use = round(self.batch_size * self.frequency_share)
        n = self.batch_size - by_use
        if self.class_power == 1.0:
            out = [rows[i] for i in rng.integers(0, len(rows), n)]
        else:
            if self._by_kind is None:
                self._by_kind = [g for k in KINDS if (g := [r for r in rows if r["kind"] == k])]
            p = np.array([len(g) for g in self._by_kind], float) ** self.class_power
            kinds = rng.choice(len(self._by_kind), n, p=p / p.sum())
            out = [self._by_kind[k][rng.integers(len(self._by_kind[k]))] for k in kinds]
        if by_use:
            if self._by_use is None:
                used = [r for r in rows if r.get("freq")]
                if not used:
                    raise CorpusError(
                        f"{self.corpus.root}: its lexicon records no word frequencies (built "
                        "before they were added: build it again with rtaudio data lexicon)"
                    )
                f = np.array([r["freq"] for r in used])
                self._by_use = (used, f / f.sum())
            used, p = self._by_use
            out += [used[i] for i in rng.choice(len(used), by_use, p=p)]
        return out

    def batch(self, rng: np.random.Generator) -> tuple[Tensor, ...]:
        pick = self._draw(rng)
        src = g2p.pad_batch([g2p.letter_ids(r["word"]) for r in pick])
        tgt = g2p.pad_batch([[*g2p.token_ids(r["tokens"]), g2p.EOS] for r in pick])
        return src, shift_right(tgt, g2p.BOS), tgt

    def loss(self, module: nn.Module, batch: tuple[Tensor, ...]) -> Tensor:
        src, tgt_in, tgt = batch
        logits = module(src, tgt_in)
        return F.cross_entropy(
            logits, tgt, ignore_index=g2p.PAD, label_smoothing=self.label_smoothing
        )

    # -- scoring -------------------------------------------------------------------------------
    def _val_rows(self) -> list[ROW]:
        rows = self.rows("validation")
        if len(rows) <= self.val_size:
            return rows
        keep = np.random.default_rng(self.seed + 1).choice(len(rows), self.val_size, replace=False)
        return [rows[i] for i in sorted(keep)]

    @staticmethod
    def _decode(model: nn.Module, rows: Sequence[ROW]) -> list[list[str]]:
        was = model.training
        model.eval()
        try:
            return g2p.transcribe_ids(model, [r["word"] for r in rows])
        finally:
            model.train(was)

    def validate(self, module: nn.Module) -> dict[str, Any]:
        rows = self._val_rows()
        s = score([r["tokens"] for r in rows], self._decode(module, rows))
        return {
            "score": round(max(0.0, 1.0 - s["per"]), 4),  # PER passes 1 on garbage
            "per": s["per"],
            "per_no_stress": s["per_no_stress"],
            "wer": s["wer"],
            "n": len(rows),
        }

    def evaluate(self, model: nn.Module, split: str = "test", **kw: Any) -> dict[str, Any]:
        rows = self.rows(split)
        refs = [r["tokens"] for r in rows]
        hyps = self._decode(model, rows)
        s = score(refs, hyps)
        errors, lengths = s.pop("_errors"), s.pop("_lengths")
        kinds = sorted({r["kind"] for r in rows}, key=KINDS.index)
        wrong = [  # the first few of each kind
            {"word": r["word"], "kind": k, "reference": "".join(r["tokens"]), "output": "".join(h)}
            for k in kinds
            for r, h, e in [
                x for x in zip(rows, hyps, errors, strict=True) if x[2] and x[0]["kind"] == k
            ][: 12 // len(kinds)]
        ]
        seed = int(kw.get("seed") or 0)
        rep = {
            **s,
            "n": len(rows),
            "tokens": int(lengths.sum()),
            "split": split,
            "interval": bootstrap(errors, lengths, seed=seed),
            "wrong_examples": wrong,
        }
        freq = np.array([r.get("freq") or 0.0 for r in rows])
        if freq.sum() > 0:  # as in running text: each word weighted by how often it is used
            rep["text"] = {
                "per": round(float((freq * errors).sum() / (freq * lengths).sum()), 4),
                "wer": round(float((freq * (errors > 0)).sum() / freq.sum()), 4),
                "share": round(float(freq.sum() / 1e6), 4),  # of all word uses in text
            }
        if len(kinds) > 1:  # words and names apart: names are the harder, rarer part
            rep["by_kind"] = {}
            for k in kinds:
                idx = [i for i, r in enumerate(rows) if r["kind"] == k]
                sk = score([refs[i] for i in idx], [hyps[i] for i in idx])
                e, n = sk.pop("_errors"), sk.pop("_lengths")
                rep["by_kind"][k] = {**sk, "n": len(idx), "interval": bootstrap(e, n, seed=seed)}
        return rep


TASK_FAMILIES[G2PTask.family] = G2PTask  # registered on import (rtaudio.train imports this module)
