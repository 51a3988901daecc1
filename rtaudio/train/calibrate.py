"""The separators' output scale, measured on held-out mixtures and folded into the weights.

SI-SNR training leaves the scale of a separator's output free: the shipped MiTAS gave speech
back about 9 dB louder than it came in, so the separated voice clipped. ``rtaudio train``
therefore measures, at export, the median level of the speech in the output against its level
in the input on validation mixtures (run as the engine runs them: input levelled, the level
undone on the output) and multiplies the decoder by the inverse
(:meth:`~rtaudio.models.tasnet.MiTAS.scale_output`); the metadata records it as
``output_scale`` and the engine then applies no running gain of its own
(:func:`rtaudio.pipeline.output_calibrated`).

``python -m rtaudio.train.calibrate NAME --weights FILE --data CORPUS --out FILE`` does the same
for weights exported before this existed.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

import rtaudio.models as models
from rtaudio.config import ConfigError
from rtaudio.pipeline import embed_enrollment, output_calibrated, separate
from rtaudio.train.corpus import Corpus, CorpusError
from rtaudio.train.tasks import Log, SeparatorTask, make_task

MIXTURES = 100
SEED = 4321  # not the evaluation's 1234: the calibration's mixtures are not the reported ones
# no separator to calibrate (an untrained network): the speech's median level in the output
# further off than this, or its polarity the same in fewer of the mixtures than this
MAX_LEVEL_DB = 40.0
MIN_AGREEMENT = 0.8


def speech_gains(
    task: SeparatorTask, model: nn.Module, split: str, count: int, seed: int = SEED
) -> np.ndarray:
    """Per mixture, the gain of the target speech in the separated output, ``<y, s> / <s, s>``
    (1: the speech comes back as it came in; negative: with its polarity inverted, which
    SI-SNR, blind to the sign, does not prevent)."""
    out = []
    for ex in task.mixtures(split, count, seed):
        emb = None
        if "enrollment" in ex:
            try:
                emb = embed_enrollment(model, ex["enrollment"])
            except ConfigError:  # a silent enrollment draw: the engine would refuse it too
                continue
        y = separate(model, ex["mixture"], emb).astype(np.float64)
        s = np.asarray(ex["target"], np.float64)
        out.append(float(np.dot(y, s) / max(float(np.dot(s, s)), 1e-30)))
    if not out:
        raise CorpusError(f"{task.name}: no {split} mixture to measure the output scale on")
    return np.array(out)


def _db(gain: float) -> float:
    return 20 * math.log10(max(abs(gain), 1e-9))


def calibrate_output(
    task: SeparatorTask, model: nn.Module, split: str = "validation", count: int = MIXTURES
) -> tuple[nn.Module, dict[str, Any] | None]:
    """A copy of ``model`` whose output gives speech back at its input level and polarity
    (the median gain over ``count`` mixtures of ``split``), and the record for its metadata;
    ``(model, None)`` when the output does not hold the speech consistently (an untrained
    network: the speech's gain in it is far off or changes sign from mixture to mixture)."""
    gains = speech_gains(task, model, split, count)
    median = float(np.median(gains))
    agree = float(np.mean(np.sign(gains) == np.sign(median)))
    if not abs(_db(median)) <= MAX_LEVEL_DB or agree < MIN_AGREEMENT:
        return model, None
    out = copy.deepcopy(model)
    out.scale_output(1.0 / median)  # type: ignore[operator]
    levels = [_db(g) for g in gains]
    record = {
        "gain_db": round(-_db(median), 3),
        "polarity": "inverted" if median < 0 else "kept",
        "speech_level_db": {
            "median": round(_db(median), 3),
            "p10": round(float(np.percentile(levels, 10)), 3),
            "p90": round(float(np.percentile(levels, 90)), 3),
        },
        "split": split,
        "mixtures": int(gains.size),
        "seed": SEED,
        "corpus_manifest_sha256": task.corpus.manifest_sha256,
        "how": "decoder weights multiplied by (-1 if polarity is inverted) 10^(gain_db / 20); "
        "the engine levels the input and applies no running output scale",
    }
    return out, record


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m rtaudio.train.calibrate",
        description="give a separator's weights a calibrated output scale (speech back at its "
        "input level), measured on a corpus's validation mixtures",
    )
    p.add_argument("model", help="mitas or tsenet (or one of their variants)")
    p.add_argument("--weights", type=Path, required=True, help="the weights file to calibrate")
    p.add_argument("--data", type=Path, required=True, help="a corpus built by rtaudio data")
    p.add_argument("--out", type=Path, required=True, help="the calibrated weights file")
    p.add_argument("--split", default="validation", choices=("validation", "test"))
    p.add_argument("--mixtures", type=int, default=MIXTURES)
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    a = p.parse_args(argv)

    def fail(msg: str) -> int:
        print(f"rtaudio calibrate: {msg}", file=sys.stderr)
        return 2

    if a.out.exists() and not a.overwrite:
        return fail(f"{a.out} exists; pass --overwrite to replace it")
    if a.mixtures < 1:
        return fail("--mixtures must be at least 1")
    try:
        family = models.get_variant(a.model).family
        model = models.load(a.weights, family=family)
        if output_calibrated(model):
            return fail(f"{a.weights} already has a calibrated output scale")
        log: Log = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
        task = make_task(a.model, Corpus(a.data, log), train=False)
        if not isinstance(task, SeparatorTask):
            return fail(f"{a.model} is not a separator")
        print(f"measuring {a.mixtures} {a.split} mixtures ...", file=sys.stderr)
        calibrated, record = calibrate_output(task, model, a.split, a.mixtures)
    except (models.WeightsError, models.ConfigError, CorpusError) as e:
        return fail(str(e))
    if record is None:
        return fail(
            f"{a.weights}: the output does not hold the speech consistently (its level more "
            f"than {MAX_LEVEL_DB:g} dB off, or its polarity changing between mixtures): is the "
            "separator trained?"
        )
    meta = {**getattr(model, "meta", {}), "output_scale": record}
    try:
        models.save(calibrated, a.out, meta=meta)
    except OSError as e:
        return fail(f"cannot write {a.out}: {e.strerror or e}")
    print(json.dumps({"out": str(a.out), "output_scale": record}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
