"""``rtaudio images`` and ``rtaudio spectrogram``: odd images, weight formats, spectrograms."""

from __future__ import annotations

import csv
import io
import json
import pickle
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image
from safetensors.torch import save_file

from rtaudio import models
from rtaudio.images import MAX_PIXELS, load_classifier, load_image, preprocess
from rtaudio.models.convert_timm import to_timm

EXE = str(Path(sys.executable).with_name("rtaudio"))
CLASSES = ["speech", "music", "noise"]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.fixture
def images(tmp_path: Path) -> Path:
    d = tmp_path / "imgs"
    (d / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rgb = (rng.random((90, 120, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(d / "rgb.jpg")
    Image.fromarray((rng.random((40, 40)) * 65535).astype(np.uint16)).save(d / "gray16.png")
    Image.fromarray(rgb).convert("CMYK").save(d / "sub" / "cmyk.jpg")
    Image.fromarray(rgb).convert("P").save(d / "sub" / "palette.png")
    Image.fromarray(np.dstack([rgb, rgb[..., :1]])).save(d / "rgba.png")
    frames = [Image.fromarray(np.roll(rgb, k, 0)) for k in range(3)]
    frames[0].save(d / "anim.gif", save_all=True, append_images=frames[1:])
    (d / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    (d / "text.jpg").write_text("not an image")
    return d


def _spectrogram_mobilenet(path: Path) -> Path:
    torch.manual_seed(0)
    net = models.create(
        "mobilenet_v1_025", num_classes=3, in_chans=1, resolution=64, mean=(0.5,), std=(0.5,)
    )
    return models.save(net, path, meta={"classes": CLASSES})


def test_images_cli_handles_odd_and_broken_files(images: Path, tmp_path: Path) -> None:
    w = _spectrogram_mobilenet(tmp_path / "m.safetensors")
    out = tmp_path / "out.csv"
    r = subprocess.run(
        [
            EXE,
            "images",
            str(images),
            "--model",
            "mobilenet",
            "--weights",
            str(w),
            "--topk",
            "2",
            "--out",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1, r.stderr  # two images refused, the rest classified
    rows = _rows(out)
    good = {Path(x["path"]).name for x in rows if x["rank"] == "1"}
    assert good == {"rgb.jpg", "gray16.png", "cmyk.jpg", "palette.png", "rgba.png", "anim.gif"}
    bad = {Path(x["path"]).name: x["error"] for x in rows if x["rank"] == "0"}
    assert set(bad) == {"corrupt.png", "text.jpg"} and all(
        "not a readable" in e for e in bad.values()
    )
    for name in good:
        ranked = [x for x in rows if Path(x["path"]).name == name]
        assert [x["rank"] for x in ranked] == ["1", "2"]
        assert {x["label"] for x in ranked} <= set(CLASSES)
        assert float(ranked[0]["score"]) >= float(ranked[1]["score"])


def test_an_input_image_is_never_the_csv(images: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--out naming one of the images it reads (with --overwrite too) would replace that
    picture with the CSV: refused, the image as it was."""
    from rtaudio.cli import main

    target = images / "rgb.jpg"
    before = target.read_bytes()
    for extra in ([], ["--overwrite"]):
        args = ["images", str(images), "--model", "mobilenet", "--out", str(target), *extra]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert f"--out {target} is one of the input images; give another file" in err
        assert target.read_bytes() == before


def test_decompression_bomb_is_refused(tmp_path: Path) -> None:
    side = int(MAX_PIXELS**0.5) + 64
    Image.new("L", (side, side)).save(tmp_path / "huge.png", optimize=True)
    with pytest.raises(ValueError) as e:
        load_image(tmp_path / "huge.png", 3)
    # one wording, the reason once (it read "not a readable image (PATH: ... over the limit)")
    assert str(e.value) == (
        f"{tmp_path / 'huge.png'}: image too large ({side}x{side} pixels; the limit is "
        f"{MAX_PIXELS:,})"
    )


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path: Path) -> None:
    Image.fromarray(np.full((8, 8), 32768, np.uint16)).save(tmp_path / "mid.png")
    img = load_image(tmp_path / "mid.png", 1)
    assert img.mode == "L" and abs(np.asarray(img).mean() - 127.5) < 1


def test_preprocess_resizes_crops_and_normalises() -> None:
    cfg = models.get_config("mobilenet_v1")
    x = preprocess(Image.new("RGB", (400, 300), (255, 0, 0)), cfg)
    assert x.shape == (3, 224, 224)
    expected = (1.0 - cfg.mean[0]) / cfg.std[0]
    assert x[0].mean().item() == pytest.approx(expected, abs=1e-3)


def test_timm_checkpoints_convert_on_load_and_pickles_are_refused(
    tmp_path: Path, recwarn: pytest.WarningsRecorder
) -> None:
    torch.manual_seed(0)
    ours = models.create("mobilenet_v1").eval()
    sd = to_timm(ours)
    save_file({k: v.contiguous() for k, v in sd.items()}, tmp_path / "timm.safetensors")
    torch.save(sd, tmp_path / "timm.pth")
    img = Image.fromarray((np.random.default_rng(1).random((64, 64, 3)) * 255).astype(np.uint8))
    for f in ("timm.safetensors", "timm.pth"):
        clf = load_classifier("mobilenet", tmp_path / f)
        assert len(clf.classes) == 1000 and clf.classes[0] == "tench"
        x = preprocess(img, clf.config)[None]
        with torch.no_grad():
            torch.testing.assert_close(clf.model(x), ours(x), rtol=1e-5, atol=1e-5)

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("pwned",))

    (tmp_path / "evil.pth").write_bytes(pickle.dumps({"x": Evil()}))
    with pytest.raises(models.WeightsError) as e:
        load_classifier("mobilenet", tmp_path / "evil.pth")
    assert str(e.value) == (  # not torch's advice to load it with weights_only=False
        f"{tmp_path / 'evil.pth'}: not a plain tensor checkpoint (it holds Python objects "
        "besides tensors, and a pickle could run code)"
    )
    assert not [w for w in recwarn if "pickle" in str(w.message)]  # our error, no torch noise
    sf.write(tmp_path / "talk.wav", np.zeros(1600, np.float32), 16000)  # the wrong file given
    with pytest.raises(models.WeightsError, match=r"talk\.wav: not a weights file \(neither"):
        load_classifier("mobilenet", tmp_path / "talk.wav")
    with pytest.raises(models.WeightsError, match=r"not a mobilenet|holds a"):
        load_classifier(
            "mobilenet", models.save(models.create("xception_tiny"), tmp_path / "x.safetensors")
        )


def test_spectrogram_images_feed_the_image_models(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    audio = tmp_path / "audio"
    audio.mkdir()
    sf.write(
        audio / "long.wav", (0.1 * rng.standard_normal(int(2.5 * 16000))).astype(np.float32), 16000
    )
    sf.write(audio / "short.wav", (0.1 * rng.standard_normal(4000)).astype(np.float32), 22050)
    out = tmp_path / "spec"
    r = subprocess.run(
        [EXE, "spectrogram", str(audio), "--out", str(out)], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["long.t0000000ms.png", "long.t0001000ms.png", "short.t0000000ms.png"]
    im = Image.open(out / pngs[0])
    assert im.mode == "L" and im.size == (128, 128) and np.asarray(im).std() > 5
    w = _spectrogram_mobilenet(tmp_path / "m.safetensors")
    r = subprocess.run(
        [
            EXE,
            "images",
            str(out),
            "--model",
            "mobilenet",
            "--weights",
            str(w),
            "--topk",
            "1",
            "--out",
            str(tmp_path / "spec.csv"),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert len(_rows(tmp_path / "spec.csv")) == 3


# ------------------------------------------------------------------ hardening (issue 7)


@pytest.fixture
def more_images(tmp_path: Path) -> tuple[Path, set[str], set[str]]:
    """Odd images beyond the ``images`` fixture: ``(folder, readable, refused)``."""
    d = tmp_path / "more"
    d.mkdir()
    rng = np.random.default_rng(1)
    rgb = Image.fromarray((rng.random((48, 64, 3)) * 255).astype(np.uint8))
    rgb.convert("LAB").save(d / "lab.tif")
    Image.fromarray((rng.random((20, 30)) * 1e6).astype(np.int32)).save(d / "int32.tif")
    f = rng.random((20, 30)).astype(np.float32)
    f[3, 3] = np.nan
    Image.fromarray(f).save(d / "float_nan.tif")
    rgb.convert("1").save(d / "bilevel.png")
    rgb.convert("LA").save(d / "gray_alpha.png")
    rgb.convert("YCbCr").save(d / "ycbcr.jpg")
    frames = [rgb.rotate(k * 10) for k in range(3)]
    frames[0].save(d / "anim.png", save_all=True, append_images=frames[1:])  # APNG
    frames[0].save(d / "anim.webp", save_all=True, append_images=frames[1:])
    rgb.convert("P").save(d / "gif_named.png", format="GIF")  # wrong extension
    Image.new("RGB", (1, 1), (200, 10, 10)).save(d / "one_pixel.png")
    Image.new("L", (20000, 1), 128).save(d / "strip.png")  # would be 5M x 256 after resizing
    readable = {p.name for p in d.iterdir()}
    buf = io.BytesIO()
    rgb.save(buf, "JPEG")
    (d / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])
    (d / "empty.png").write_bytes(b"")
    (d / "random.webp").write_bytes(rng.bytes(3000))

    # a PNG header claiming 100000 x 100000 pixels (10^10): refused before decoding
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">II", 100000, 100000) + b"\x08\x02\x00\x00\x00"
    (d / "bomb.png").write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )
    (d / "moved.png").symlink_to(tmp_path / "elsewhere.png")  # its file was moved away
    refused = {"truncated.jpg", "empty.png", "random.webp", "bomb.png", "moved.png"}
    return d, readable, refused


def test_more_odd_images_through_the_cli(
    more_images: tuple[Path, set[str], set[str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from rtaudio.bench_pipeline import rss_mb
    from rtaudio.cli import main

    d, readable, refused = more_images
    for name in readable:  # both kinds of model input, with shapes the models take
        for chans in (1, 3):
            img = load_image(d / name, chans)
            assert img.mode == ("L" if chans == 1 else "RGB"), name
            x = preprocess(img, models.get_config("mobilenet_v1"))
            assert x.shape == (3, 224, 224) or chans == 1
    before = rss_mb()
    w = _spectrogram_mobilenet(tmp_path / "m.safetensors")
    out = tmp_path / "out.csv"
    args = ["images", str(d), "--model", "mobilenet", "--weights", str(w), "--topk", "1"]
    assert main([*args, "--out", str(out), "--no-progress"]) == 1  # some refused
    err = capsys.readouterr().err
    assert "Traceback" not in err and "5 image(s) refused" in err
    rows = _rows(out)
    assert {Path(x["path"]).name for x in rows if x["rank"] == "1"} == readable
    bad = {Path(x["path"]).name: x["error"] for x in rows if x["rank"] == "0"}
    assert set(bad) == refused
    assert "image too large (" in bad["bomb.png"] and "readable" not in bad["bomb.png"]
    assert "broken link" in bad["moved.png"]
    assert all(name in e and "\n" not in e for name, e in bad.items())
    assert rss_mb() - before < 200  # the 20000 x 1 strip was cropped, not blown up
    # never overwrite without --overwrite
    assert main([*args, "--out", str(out), "--no-progress"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main([*args, "--out", str(out), "--no-progress", "--overwrite"]) == 1


@pytest.mark.parametrize("damage", ["truncated", "tampered", "mismatched"])
def test_bad_image_weights_fail_clearly(
    tmp_path: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from rtaudio.cli import main

    w = _spectrogram_mobilenet(tmp_path / "m.safetensors")
    data = w.read_bytes()
    if damage == "truncated":
        w.write_bytes(data[: len(data) - 100])
    elif damage == "tampered":
        w.write_bytes(data[:-4] + b"\x7f\x7f\x7f\x7f")
    else:
        models.save(models.create("swishnet"), w)
    Image.new("L", (64, 64)).save(tmp_path / "x.png")
    args = ["images", str(tmp_path / "x.png"), "--model", "mobilenet", "--weights", str(w)]
    assert main([*args, "--out", str(tmp_path / "o.csv"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert str(w) in err
    assert not (tmp_path / "o.csv").exists()


def test_spectrograms_stay_inside_out_and_stream_long_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rtaudio.cli import main

    audio = tmp_path / "audio"
    (audio / "sub").mkdir(parents=True)
    x = (0.1 * np.random.default_rng(0).standard_normal(16000 * 3)).astype(np.float32)
    sf.write(audio / "a.wav", x, 16000)
    sf.write(audio / "sub" / "b.wav", x, 16000)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    out = tmp_path / "spec"
    out.mkdir()
    (out / "sub").symlink_to(outside, target_is_directory=True)
    assert main(["spectrogram", str(audio), "--out", str(out), "--hop-s", "0.5"]) == 1
    err = capsys.readouterr().err
    assert "outside the output folder" in err and "Traceback" not in err
    assert "5 images from 1 of 2 files" in err  # the refused file is counted, not hidden
    assert not list(outside.iterdir())
    assert len(list(out.glob("a.t*.png"))) == 5  # 3 s, 1 s windows every 0.5 s
    assert main(["spectrogram", str(audio), "--out", str(out), "--window-s", "0.001"]) == 2
    assert "--window-s must be" in capsys.readouterr().err


def test_spectrograms_of_other_settings_are_not_mixed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second run with another window would have kept the first run's pictures under the
    same names: refused; runs with the same settings add their files to the index."""
    from rtaudio.cli import main

    audio = tmp_path / "audio"
    audio.mkdir()
    x = (0.1 * np.random.default_rng(0).standard_normal(16000 * 2)).astype(np.float32)
    for name in ("a", "b"):
        sf.write(audio / f"{name}.wav", x, 16000)
    out = tmp_path / "spec"
    index = out / "spectrograms.json"
    assert main(["spectrogram", str(audio / "a.wav"), "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(["spectrogram", str(audio / "a.wav"), "--out", str(out), "--window-s", "0.5"]) == 2
    assert "made with other settings" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert main(["spectrogram", str(audio / "b.wav"), "--out", str(out)]) == 0
    listed = json.loads(index.read_text())
    assert [(r["path"], r["window_s"], len(r["images"])) for r in listed] == [
        ("a.wav", 1.0, 2),
        ("b.wav", 1.0, 2),
    ]
    args = ["spectrogram", str(audio / "a.wav"), "--out", str(out), "--window-s", "0.5"]
    assert main([*args, "--overwrite"]) == 0
    a = Image.open(out / "a.t0000000ms.png")
    assert a.size == (128, 128)  # redrawn from 0.5 s (the same size, other content)
    assert (out / "a.t0000000ms.png").read_bytes() != before["a.t0000000ms.png"]
    index.write_text("my notes")
    assert main(["spectrogram", str(audio / "b.wav"), "--out", str(out)]) == 2
    assert "is not an index rtaudio wrote" in capsys.readouterr().err
    assert index.read_text() == "my notes"


def test_spectrograms_of_another_file_or_the_users_are_not_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """a.flac drawn, then a.wav into the same --out: a.wav's images would have the names of
    a.flac's, which were kept and listed as a.wav's. Refused now, as are pictures of the
    user's own under those names; the same file drawn again keeps its images."""
    from rtaudio.cli import main

    rng = np.random.default_rng(0)
    audio = tmp_path / "audio"
    audio.mkdir()
    sf.write(audio / "a.flac", (0.1 * rng.standard_normal(16000 * 2)).astype(np.float32), 16000)
    sf.write(audio / "a.wav", (0.3 * rng.standard_normal(16000 * 2)).astype(np.float32), 16000)
    out = tmp_path / "spec"
    assert main(["spectrogram", str(audio / "a.flac"), "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(["spectrogram", str(audio / "a.wav"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    first = out / "a.t0000000ms.png"
    assert f"{first} is an image of {audio / 'a.flac'}, not of {audio / 'a.wav'}" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert main(["spectrogram", str(audio / "a.flac"), "--out", str(out)]) == 0  # its own
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "a.t0001000ms.png").write_bytes(b"my photo")
    assert main(["spectrogram", str(audio / "a.wav"), "--out", str(mine)]) == 2
    assert "a.t0001000ms.png is not rtaudio's" in capsys.readouterr().err
    assert [p.name for p in mine.iterdir()] == ["a.t0001000ms.png"]
    assert main(["spectrogram", str(audio / "a.wav"), "--out", str(out), "--overwrite"]) == 0
    assert first.read_bytes() != before[first.name]
    listed = json.loads((out / "spectrograms.json").read_text())  # a.flac's row is gone
    assert [(r["path"], r["source"]) for r in listed] == [("a.wav", str(audio / "a.wav"))]


def test_spectrogram_shows_progress_and_refuses_a_file_as_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A user waits while hours of audio are drawn: a bar in seconds of audio (there was
    none), --no-progress without; a file as --out is a line, not 'File exists'."""
    from rtaudio.cli import main

    src = tmp_path / "a.wav"
    sf.write(
        src, (0.1 * np.random.default_rng(0).standard_normal(16000 * 3)).astype(np.float32), 16000
    )
    assert main(["spectrogram", str(src), "--out", str(tmp_path / "s1")]) == 0
    err = capsys.readouterr().err
    assert "drawing: 100%" in err and "3.0/3.0 s audio" in err
    assert main(["spectrogram", str(src), "--out", str(tmp_path / "s2"), "--no-progress"]) == 0
    assert "drawing" not in capsys.readouterr().err
    assert main(["spectrogram", str(src), "--out", str(src)]) == 2
    err = capsys.readouterr().err
    assert f"--out {src} is a file; give the folder to write the images in" in err
