"""Log-mel spectrogram images: the input of the image classifiers (MobileNet, Xception,
PydMobileNet).

One function defines the image, so training (``rtaudio train mobilenet_v1_025``), evaluation
and the image commands all see exactly the same pixels:

``logmel_image(audio16k) -> [1, H, W]`` float32 in ``[0, 1]``:

1. log-mel power in dB with the engine's analysis (:class:`rtaudio.features.FeatureConfig`:
   25 ms Hann window, 10 ms hop, ``n_fft`` 512, Slaney mels) but ``n_mels = H`` bands;
2. the dynamic range is fixed relative to the image's own peak: ``top_db`` (80 dB) below the
   loudest bin maps to 0, the peak to 1, so the image does not depend on the input level;
3. low frequencies at the bottom (row ``H - 1``), time left to right, resized bilinearly to
   ``W`` columns (1 s at a 10 ms hop has 101 frames).

:func:`logmel_images` does the same for a batch ``[B, T]`` with torch (training), and
:func:`resized_images` brings such a batch to a model's input side as the image commands do
(PIL's bilinear resize of the PNG, which averages over the pixels it shrinks).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from rtaudio.features import FeatureConfig, offline_features

IMAGE_SIZE = (128, 128)  # H (mel bands), W (time columns)
IMAGE_FAMILIES = ("mobilenet", "xception", "pydmobilenet")  # the models that classify them
TOP_DB = 80.0


@lru_cache(maxsize=8)
def image_feature_config(n_mels: int = IMAGE_SIZE[0]) -> FeatureConfig:
    """The analysis behind the images: the engine's STFT with ``n_mels`` bands."""
    return FeatureConfig(n_mels=n_mels, n_mfcc=min(20, n_mels))


def _to_image(logmel: torch.Tensor, size: tuple[int, int], top_db: float) -> torch.Tensor:
    """``[B, F, n_mels]`` dB -> ``[B, 1, H, W]`` in [0, 1], low frequencies at the bottom."""
    peak = logmel.amax(dim=(1, 2), keepdim=True)
    img = (torch.clamp(logmel - peak, min=-top_db) + top_db) / top_db  # B, F, M
    img = img.transpose(1, 2).flip(1)[:, None]  # B, 1, M, F (row 0 = highest band)
    if tuple(img.shape[-2:]) != size:
        img = F.interpolate(img, size=size, mode="bilinear", align_corners=False)
    return img.clamp(0.0, 1.0)


def logmel_image(
    audio16k: NDArray[np.float32] | np.ndarray,
    size: tuple[int, int] = IMAGE_SIZE,
    top_db: float = TOP_DB,
) -> NDArray[np.float32]:
    """The log-mel image of a 16 kHz mono clip (typically 1 s).

    Args:
        audio16k: ``(T,)`` samples at 16 kHz.
        size: ``(H, W)``: ``H`` mel bands, ``W`` time columns after resizing.
        top_db: dynamic range kept below the image's peak.

    Returns:
        ``[1, H, W]`` float32 in ``[0, 1]``.
    """
    x = np.asarray(audio16k, np.float32).reshape(-1)
    frames = offline_features(x, image_feature_config(size[0]))
    logmel = torch.from_numpy(np.ascontiguousarray(frames.logmel))[None]  # 1, F, M
    return _to_image(logmel, size, top_db)[0].numpy().astype(np.float32)


@lru_cache(maxsize=8)
def _torch_mats(n_mels: int) -> tuple[torch.Tensor, torch.Tensor]:
    cfg = image_feature_config(n_mels)
    return torch.from_numpy(cfg.window.copy()), torch.from_numpy(cfg.mel_basis.copy())


def logmel_images(
    audio16k: torch.Tensor, size: tuple[int, int] = IMAGE_SIZE, top_db: float = TOP_DB
) -> torch.Tensor:
    """Batched :func:`logmel_image` in torch: ``[B, T] -> [B, 1, H, W]`` (same pixels up to
    float rounding)."""
    cfg = image_feature_config(size[0])
    window, mel = _torch_mats(size[0])
    window, mel = window.to(audio16k.device), mel.to(audio16k.device)
    half = cfg.n_fft // 2
    frames = F.pad(audio16k.float(), (half, half)).unfold(-1, cfg.n_fft, cfg.hop_length)
    spec = torch.fft.rfft(frames * window, dim=-1)
    power = spec.real.square() + spec.imag.square()  # B, F, n_fft/2+1
    logmel = 10.0 * torch.log10(torch.clamp(power @ mel.T, min=cfg.amin))  # B, F, M
    return _to_image(logmel, size, top_db)


def resized_images(images: torch.Tensor, side: int) -> torch.Tensor:
    """``[B, 1, H, W]`` images -> ``[B, 1, side, side]`` as :func:`rtaudio.images.preprocess`
    resizes a square PNG (bilinear with antialiasing: within one 8-bit step of PIL)."""
    if tuple(images.shape[-2:]) == (side, side):
        return images
    return F.interpolate(
        images, size=(side, side), mode="bilinear", antialias=True, align_corners=False
    )
