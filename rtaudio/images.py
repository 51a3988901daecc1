"""Offline image mode: MobileNet / Xception / PydMobileNet over batches of image files.

``rtaudio images`` classifies images with each model's own preprocessing (resize the shorter
side to ``resolution / crop_pct``, centre crop, scale to [0, 1], normalise with the config's
mean / std). Weights are, in order of preference:

* an rtaudio safetensors file (class names in its metadata);
* a timm ImageNet checkpoint of ``mobilenetv1_100`` or ``legacy_xception`` (``.safetensors``,
  or ``.pth`` / ``.bin`` read with ``torch.load(weights_only=True)``: never unpickled), converted
  on load, with the ImageNet class names shipped in ``rtaudio/resources``;
* by default, the shipped spectrogram classifiers (speech / music / noise on the log-mel images
  that ``rtaudio spectrogram`` writes).

``rtaudio spectrogram`` writes those log-mel images (:mod:`rtaudio.spectrogram_image`), so audio
can be batched through the image models.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import warnings
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import nn

import rtaudio.models as models
from rtaudio.audiofile import duration_estimate, iter_blocks
from rtaudio.batch import (
    BatchError,
    Job,
    _atomic_write,
    audio_bar,
    discover,
    files_in,
    inside,
    made_from,
)
from rtaudio.config import SAMPLE_RATE
from rtaudio.errors import missing, not_a_file, os_message, torch_load_reason
from rtaudio.outputs import DiskFullError, space_checked
from rtaudio.spectrogram_image import IMAGE_FAMILIES
from rtaudio.weights import shipped_weights_dir

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
MAX_PIXELS = 64_000_000  # decompression-bomb guard: larger images are refused
KINDS = IMAGE_FAMILIES
# the shipped spectrogram classifiers (speech / music / noise) behind --model
DEFAULT_WEIGHTS = {
    "mobilenet": "mobilenet_v1_025",
    "xception": "xception_tiny",
    "pydmobilenet": "pydmobilenet",
}
TIMM_ARCH = {"mobilenet": "mobilenetv1_100", "xception": "legacy_xception"}


class ImageFileError(ValueError):
    """An image cannot be used; the message names the file and the problem."""


@dataclass
class Classifier:
    model: nn.Module
    classes: list[str]
    source: str

    @property
    def config(self) -> Any:
        return self.model.config


def imagenet_classes() -> list[str]:
    text = (resources.files("rtaudio") / "resources" / "imagenet_classes.txt").read_text()
    return [line.split("\t", 1)[1] for line in text.splitlines() if line.strip()]


def _state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as e:
            raise models.WeightsError(f"{path}: not a readable safetensors file ({e})") from None
    try:
        with path.open("rb") as f:
            head = f.read(2)
    except OSError as e:
        raise models.WeightsError(os_message(e)) from None
    if head != b"PK" and head[:1] != b"\x80":  # a zip archive or a pickle, as torch.save writes
        raise models.WeightsError(
            f"{path}: not a weights file (neither safetensors nor a PyTorch checkpoint)"
        )
    try:
        with warnings.catch_warnings():  # our error says it; torch's warning would only add noise
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for foreign / malicious files
        why = torch_load_reason(e)
        raise models.WeightsError(f"{path}: not a plain tensor checkpoint ({why})") from None
    for key in ("state_dict", "model", "state_dict_ema"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise models.WeightsError(f"{path}: no state dict of tensors inside")
    return obj


def load_classifier(kind: str, weights: str | Path | None = None) -> Classifier:
    """The model for ``--model kind`` with ``--weights`` (or the shipped default)."""
    if kind not in KINDS:
        raise BatchError(f"--model {kind!r}; choose one of {', '.join(KINDS)}")
    if weights is None:
        name = DEFAULT_WEIGHTS.get(kind)
        path = shipped_weights_dir() / f"{name}.safetensors" if name else None
        if path is None or not path.exists():
            raise BatchError(f"no shipped weights for --model {kind}; pass --weights FILE")
        weights = path
    path = Path(weights)
    if not path.is_file():
        raise models.WeightsError(f"{path}: no such weights file")
    if path.suffix == ".safetensors" and "rtaudio.config" in models.read_metadata(path):
        model: Any = models.load(path)
        family = models.registry.family_of_config(model.config).name
        if family != kind:
            raise models.WeightsError(f"{path}: holds a {family} model, not a {kind}")
        meta: Any = getattr(model, "meta", {})
        classes = list(meta.get("classes") or meta.get("labels") or [])
        if len(classes) != model.config.num_classes:
            classes = [f"class_{i}" for i in range(model.config.num_classes)]
        return Classifier(model.eval(), classes, str(path))
    if kind not in TIMM_ARCH:
        raise models.WeightsError(f"{path}: only rtaudio weights files exist for {kind}")
    from rtaudio.models.convert_timm import from_timm

    converted: Any = from_timm(TIMM_ARCH[kind], _state_dict(path))
    n = converted.config.num_classes
    classes = imagenet_classes() if n == 1000 else [f"class_{i}" for i in range(n)]
    return Classifier(converted.eval(), classes, f"{path} (timm {TIMM_ARCH[kind]})")


def load_image(path: Path, in_chans: int) -> Image.Image:
    """Open ``path`` as an RGB (or L for 1-channel models) image, with clear errors."""
    if not path.exists():
        raise ImageFileError(missing(path))
    if not path.is_file():
        raise ImageFileError(not_a_file(path))
    if path.stat().st_size == 0:
        raise ImageFileError(f"{path}: empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise ImageFileError(
                    f"{path}: image too large ({w}x{h} pixels; the limit is {MAX_PIXELS:,})"
                )
            if w < 1 or h < 1:
                raise ImageFileError(f"{path}: {w}x{h} image has no pixels")
            img.seek(0)  # animated: the first frame
            img.load()
    except ImageFileError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageFileError(
            f"{path}: image too large (over {MAX_PIXELS:,} pixels: the limit)"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageFileError(f"{path}: not a readable image ({e})") from None
    except MemoryError:
        raise ImageFileError(f"{path}: image too large to decode") from None
    try:
        return _to_mode(img, "L" if in_chans == 1 else "RGB")
    except (OSError, ValueError) as e:
        raise ImageFileError(f"{path}: cannot convert {img.mode} pixels ({e})") from None


def _to_mode(img: Image.Image, mode: str) -> Image.Image:
    """Any PIL mode -> ``mode`` (``RGB`` or ``L``): 16 / 32-bit and float pixels scaled,
    transparency composited on white, other colour spaces (CMYK, YCbCr, LAB, HSV...)
    converted."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit: scale, not clip
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / peak * 255, 0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        arr = np.nan_to_num(np.asarray(img, dtype=np.float64), nan=0.0, posinf=1.0, neginf=0.0)
        img = Image.fromarray((np.clip(arr, 0, 1) * 255).astype(np.uint8), "L")
    if img.mode in ("P", "PA", "LA", "RGBA", "CMYK", "YCbCr", "1", "L", "RGB") and img.mode != mode:
        if img.mode in ("P", "PA"):
            img = img.convert("RGBA")
        if img.mode in ("RGBA", "LA"):  # composite transparency on white
            bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
            img = Image.alpha_composite(bg, img.convert("RGBA"))
        img = img.convert(mode)
    if img.mode != mode:  # LAB, HSV, RGBX...: through RGB, which PIL converts them to
        img = img.convert("RGB") if img.mode not in ("RGB", "L") else img
        img = img.convert(mode)
    return img


def preprocess(img: Image.Image, cfg: Any) -> torch.Tensor:
    """``[C, H, W]`` normalised input for a model config (resize, centre crop, mean / std)."""
    res = int(cfg.resolution)
    interp = {
        "bicubic": Image.Resampling.BICUBIC,
        "bilinear": Image.Resampling.BILINEAR,
        "nearest": Image.Resampling.NEAREST,
    }.get(getattr(cfg, "interpolation", "bilinear"), Image.Resampling.BILINEAR)
    if img.size != (res, res):
        scale = res / float(getattr(cfg, "crop_pct", 1.0))
        w, h = img.size
        if w < h:
            nw, nh = round(scale), round(scale * h / w)
        else:
            nw, nh = round(scale * w / h), round(scale)
        limit = 4 * res  # a long strip (say 10^6 x 1): only the centre survives the crop,
        if max(nw, nh) > limit:  # so cut it first instead of resizing all of it
            if w >= h:
                keep = min(w, math.ceil(limit * h / scale))
                left = (w - keep) // 2
                img, nw = img.crop((left, 0, left + keep, h)), round(scale * keep / h)
            else:
                keep = min(h, math.ceil(limit * w / scale))
                top = (h - keep) // 2
                img, nh = img.crop((0, top, w, top + keep)), round(scale * keep / w)
        img = img.resize((max(nw, res), max(nh, res)), interp)
        left, top = (img.size[0] - res) // 2, (img.size[1] - res) // 2
        img = img.crop((left, top, left + res, top + res))
    arr = np.asarray(img, dtype=np.float32) / 255.0
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)  # C, H, W
    mean = np.asarray(cfg.mean, np.float32).reshape(-1, 1, 1)
    std = np.asarray(cfg.std, np.float32).reshape(-1, 1, 1)
    return torch.from_numpy((arr - mean) / std)


def image_files(inputs: Sequence[str | Path]) -> list[Path]:
    """The image files among ``inputs`` (files, or folders searched recursively)."""
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out.extend(files_in(p, IMAGE_EXTENSIONS))
        elif p.exists():
            out.append(p)
        else:
            raise BatchError(missing(p, "file or directory"))
    if not out:
        raise BatchError("no image files found in the inputs")
    return out


def classify_images(
    inputs: Sequence[str | Path],
    clf: Classifier,
    topk: int = 5,
    batch: int = 32,
    progress: bool = True,
) -> Iterator[dict[str, Any]]:
    """Rows ``{path, rank, label, score, error}``: ``topk`` per image, one error row per bad
    image."""
    from tqdm import tqdm

    paths = image_files(inputs)
    cfg = clf.config
    k = max(1, min(topk, len(clf.classes)))
    with tqdm(total=len(paths), unit="img", desc="images", disable=not progress) as bar:
        for i in range(0, len(paths), batch):
            xs, ok = [], []
            for p in paths[i : i + batch]:
                try:
                    xs.append(preprocess(load_image(p, cfg.in_chans), cfg))
                    ok.append(p)
                except ImageFileError as e:
                    yield {"path": str(p), "rank": 0, "label": "", "score": "", "error": str(e)}
                except (OSError, ValueError, MemoryError) as e:  # never one image ends the run
                    err = f"{p}: cannot use this image ({type(e).__name__}: {e})"
                    yield {"path": str(p), "rank": 0, "label": "", "score": "", "error": err}
            if xs:
                with torch.inference_mode():
                    prob = torch.softmax(clf.model(torch.stack(xs)), dim=-1)
                top = prob.topk(k, dim=-1)
                for p, vals, idx in zip(ok, top.values, top.indices, strict=True):
                    for r in range(k):
                        yield {
                            "path": str(p),
                            "rank": r + 1,
                            "label": clf.classes[int(idx[r])],
                            "score": round(float(vals[r]), 6),
                            "error": "",
                        }
            bar.update(len(paths[i : i + batch]))


def write_csv(rows: Iterator[dict[str, Any]], out: Path) -> tuple[int, int]:
    """Write the CSV atomically; returns (rows written, images refused)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=("path", "rank", "label", "score", "error"))
    w.writeheader()
    n = bad = 0
    for r in rows:
        w.writerow(r)
        n += 1
        bad += r["rank"] == 0
    _atomic_write(out, buf.getvalue().encode())
    return n, bad


# ------------------------------------------------------------------------- spectrograms


def write_spectrograms(
    inputs: Sequence[str | Path],
    out: str | Path,
    window_s: float = 1.0,
    hop_s: float = 1.0,
    overwrite: bool = False,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Log-mel PNGs (``NAME.t<ms>.png``, 8-bit grayscale) of every whole window of every file
    (``progress``: a bar on stderr, in seconds of audio).

    Files are streamed (memory does not grow with their length); a file shorter than one
    window gives one zero-padded image; existing images are kept unless ``overwrite``; every
    PNG is written atomically, so an interrupted run leaves no partial image and the next run
    completes it; nothing is written outside ``out``. The index ``spectrograms.json`` lists
    each file's images and the window and hop that made them, files of earlier runs too; an
    ``out`` holding images made with another window or hop is refused (their names would
    stay, their pictures not match) unless ``overwrite``.
    """
    from rtaudio.spectrogram_image import logmel_image

    if not (0.1 <= window_s <= 60 and 0.01 <= hop_s <= 3600):
        raise BatchError("--window-s must be 0.1..60 and --hop-s 0.01..3600 seconds")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BatchError(f"--out {out} is a file; give the folder to write the images in")
    index = out / "spectrograms.json"
    settings = {"window_s": window_s, "hop_s": hop_s}
    earlier = _index_rows(index, overwrite)
    other = [r for r in earlier if any(r.get(k, v) != v for k, v in settings.items())]
    if other and not overwrite:
        r = other[0]
        raise BatchError(
            f"{out} holds images made with other settings ({len(other)} files; {r['path']}: "
            f"--window-s {r.get('window_s')} --hop-s {r.get('hop_s')}): nothing was changed; "
            "use another --out, or --overwrite to redo them"
        )
    jobs = discover(inputs)
    if not overwrite:
        owners = {img: r for r in earlier for img in r.get("images", [])}
        there = _images_in(out, {j.stem.parent for j in jobs})
        clash = next((c for j in jobs if (c := _images_not_of(j, out, owners, there))), None)
        if clash is not None:
            raise BatchError(
                f"{clash}: nothing was changed; use another --out, or --overwrite to replace them"
            )
    rows: list[dict[str, Any]] = []
    win, hop = max(1, round(window_s * SAMPLE_RATE)), max(1, round(hop_s * SAMPLE_RATE))
    seconds = {job: duration_estimate(job.src) for job in jobs}
    bar = audio_bar(math.fsum(seconds.values()), "drawing", progress)
    for job in jobs:
        images: list[str] = []
        shown = 0.0  # seconds of this file the bar has been moved by
        try:
            for start, audio in _windows(iter_blocks(job.src), win, hop):
                now = min(seconds[job], (start + hop) / SAMPLE_RATE)
                bar.update(max(0.0, now - shown))
                shown = max(shown, now)
                name = f"{job.stem.name}.t{round(start / SAMPLE_RATE * 1000):07d}ms.png"
                rel = job.stem.parent / name
                dest = inside(out, rel)
                images.append(str(rel))
                if dest.exists() and not overwrite:
                    continue
                img = logmel_image(audio)[0]
                buf = io.BytesIO()
                Image.fromarray(np.round(img * 255).astype(np.uint8), "L").save(buf, "PNG")
                with space_checked(out):
                    _atomic_write(dest, buf.getvalue())
        except DiskFullError as e:  # every later file would fail too: stop, keep what is done
            bar.close()
            done = sum(r["status"] == "ok" for r in rows)
            raise DiskFullError(
                f"{out}: {e}; stopped at {job.src} with {done} files done (kept): free some "
                "space and run the same command again to go on"
            ) from None
        except (ValueError, OSError) as e:  # AudioFileError, BatchError (outside --out)...
            why = os_message(e) if isinstance(e, OSError) else str(e)
            if str(job.src) not in why:
                why = f"{job.src}: {why}"
            rows.append({"path": str(job.rel), "status": "error", "error": " ".join(why.split())})
            continue
        finally:
            bar.update(max(0.0, seconds[job] - shown))
        rows.append(
            {
                "path": str(job.rel),
                "source": str(job.src),
                "source_bytes": job.src.stat().st_size,  # with the name: the same file, moved
                "status": "ok",
                **settings,
                "images": images,
            }
        )
    bar.close()
    done = {r["path"] for r in rows}
    drawn = {img for r in rows for img in r.get("images", [])}  # another file's, replaced
    kept = [
        r for r in earlier if r.get("path") not in done and drawn.isdisjoint(r.get("images", []))
    ]
    listed = sorted([*kept, *rows], key=_path_of)
    _atomic_write(inside(out, index.name), json.dumps(listed, indent=1).encode())
    return rows


_IMAGE_NAME = re.compile(r"(.+)\.t\d{7,}ms\.png")  # NAME.t<ms>.png


def _images_in(out: Path, folders: set[Path]) -> dict[Path, list[str]]:
    """The images named as this command names them in ``folders`` (relative to ``out``), by
    the stem they were drawn for (``sub/a`` -> its files' names): each folder listed once,
    however many files a batch has."""
    found: dict[Path, list[str]] = defaultdict(list)
    for rel in folders:
        if (out / rel).is_dir():
            for p in (out / rel).iterdir():
                if m := _IMAGE_NAME.fullmatch(p.name):
                    found[rel / m.group(1)].append(p.name)
    return found


def _images_not_of(
    job: Job, out: Path, owners: dict[str, dict[str, Any]], there: dict[Path, list[str]]
) -> str | None:
    """Why images already in ``out`` under ``job``'s names (``NAME.t<ms>.png``; ``there``:
    :func:`_images_in`) must not be kept as its own: the user's (no index lists them), or
    another input's (``a.flac``'s where ``a.wav``'s would go; the same name in another
    folder), else None."""
    for name in sorted(there.get(job.stem, [])):
        p = out / job.stem.parent / name
        row = owners.get(str(job.stem.parent / name))
        if row is None:
            return f"{p} is not rtaudio's, and {job.src} would have an image of that name"
        if "source" in row:
            same = made_from(str(row["source"]), row.get("source_bytes"), job.src)
        else:  # an index that did not record its sources: the path below the input
            same = row.get("path") == str(job.rel)
        if not same:
            return f"{p} is an image of {row.get('source', row.get('path'))}, not of {job.src}"
    return None


def _path_of(row: dict[str, Any]) -> str:
    return str(row.get("path", ""))


def _index_rows(index: Path, overwrite: bool) -> list[dict[str, Any]]:
    """The rows of an earlier run's ``spectrograms.json``; one that rtaudio did not write is
    refused (replaced with ``overwrite``)."""
    if not (index.exists() or index.is_symlink()):
        return []
    try:
        rows = json.loads(index.read_text())
    except (OSError, ValueError):
        rows = None
    if isinstance(rows, list) and all(isinstance(r, dict) and "path" in r for r in rows):
        return rows
    if overwrite:
        return []
    raise BatchError(
        f"{index} is not an index rtaudio wrote: nothing was changed; move it, use another "
        "--out, or --overwrite to replace it"
    )


def _windows(blocks: Iterator[np.ndarray], win: int, hop: int) -> Iterator[tuple[int, np.ndarray]]:
    """``(start sample, window)`` every ``hop`` samples from a block stream, holding at most
    one window plus one block; a stream shorter than a window gives one zero-padded window."""
    buf = np.zeros(0, np.float32)
    buf_start = 0  # stream index of buf[0]
    start = 0  # next window start
    total = 0
    for b in blocks:
        total += b.size
        buf = np.concatenate((buf, b)) if buf.size else b
        while start + win <= buf_start + buf.size:
            yield start, buf[start - buf_start : start - buf_start + win]
            start += hop
        drop = min(max(0, start - buf_start), buf.size)
        buf, buf_start = buf[drop:], buf_start + drop
    if total < win:
        yield 0, np.pad(buf, (0, win - buf.size))
