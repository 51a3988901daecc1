"""Training and evaluation of the shipped models (``rtaudio train`` / ``rtaudio evaluate``).

* :mod:`rtaudio.train.corpus` -- manifest rows, in-memory audio, window sampling, augmentation;
* :mod:`rtaudio.train.featurize` -- batched MFCCs equal to the engine's, SwishNet input norm;
* :mod:`rtaudio.train.tasks` -- per-family batches, losses, validation and test metrics;
* :mod:`rtaudio.train.g2p_task` -- SliceNet grapheme-to-phoneme on a pronunciation lexicon;
* :mod:`rtaudio.train.loop` -- the resumable training loop and the export;
* :mod:`rtaudio.train.evaluate` -- held-out metrics of saved weights;
* :mod:`rtaudio.train.provenance` -- the sources a weights file learnt from (held-out checks);
* :mod:`rtaudio.train.metrics` -- SI-SNR, class-balanced cross-entropy, confusion matrices.
"""

from rtaudio.train import g2p_task  # noqa: F401  (registers slicenet's task in TASK_FAMILIES)
from rtaudio.train.corpus import Corpus, CorpusError
from rtaudio.train.evaluate import EvalOptions, evaluate, format_report
from rtaudio.train.loop import TrainError, TrainOptions, TrainResult, train
from rtaudio.train.tasks import TASK_FAMILIES, make_task

__all__ = [
    "TASK_FAMILIES",
    "Corpus",
    "CorpusError",
    "EvalOptions",
    "TrainError",
    "TrainOptions",
    "TrainResult",
    "evaluate",
    "format_report",
    "make_task",
    "train",
]
