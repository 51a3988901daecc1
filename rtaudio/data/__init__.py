"""Offline training data: the corpus builder, augmentation, mixtures and dataset readers.

``rtaudio data build --out DIR`` (see :mod:`rtaudio.data.build`) writes 16 kHz mono clips of
speech, music, noise and sound events drawn only from Debian / PyPI packages, with a manifest
and source-disjoint splits. Training code imports :mod:`rtaudio.data.augment`,
:mod:`rtaudio.data.mixtures` and :mod:`rtaudio.data.readers`.
"""

from .augment import AugmentConfig
from .manifest import SPLITS, ClipRecord, read_manifest
from .mixtures import MixtureSampler, mix_at_snr, speech_noise_example, tse_example

__all__ = [
    "SPLITS",
    "AugmentConfig",
    "ClipRecord",
    "MixtureSampler",
    "augment",
    "mix_at_snr",
    "read_manifest",
    "speech_noise_example",
    "tse_example",
]
