"""Training and evaluation: features equal the engine's, metrics, and short real training runs
on a tiny generated corpus (loss goes down, resume is exact, evaluate writes its report)."""

from __future__ import annotations

import copy
import csv
import json
import os
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from tiny_corpus import make_tiny_corpus

import rtaudio.models as models
from rtaudio.bench import cpu_name
from rtaudio.cli import main
from rtaudio.features import FeatureConfig, offline_features
from rtaudio.outputs import DiskFullError
from rtaudio.spectrogram_image import logmel_image, logmel_images
from rtaudio.train import Corpus, TrainError, TrainOptions, make_task, train
from rtaudio.train.batches import BatchSource
from rtaudio.train.calibrate import MIXTURES, calibrate_output, speech_gains
from rtaudio.train.calibrate import main as calibrate_main
from rtaudio.train.card import write_card
from rtaudio.train.corpus import WindowSampler, class3
from rtaudio.train.evalset import build_eval_set
from rtaudio.train.featurize import InputNorm, fold_input_norm, mfcc_batch
from rtaudio.train.loop import load_checkpoint
from rtaudio.train.metrics import (
    classification_report,
    confusion,
    recording_interval,
    si_snr,
    snr_buckets,
)
from rtaudio.train.tasks import ImageTask


def _quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_corpus(tmp_path_factory.mktemp("tiny"))


def _opts(tiny: Path, out: Path, model: str, **kw: Any) -> TrainOptions:
    base: dict[str, Any] = dict(
        model=model,
        data=tiny,
        out=out,
        steps=40,
        batch_size=8,
        val_every=20,
        log_every=1000,
        warmup_steps=1,
        test=False,
        log=_quiet,
    )
    base.update(kw)
    return TrainOptions(**base)


# ---------------------------------------------------------------------------- features / metrics


def test_mfcc_batch_equals_the_engine_features() -> None:
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((2, 8000)) * 0.1).astype(np.float32)
    x[1, :4000] *= 0.01  # a quiet half: the dB scale must agree at low levels too
    got = mfcc_batch(torch.from_numpy(x)).numpy()
    for i in range(2):
        ref = offline_features(x[i], FeatureConfig()).mfcc.T  # n_mfcc, F
        assert got[i].shape == ref.shape
        np.testing.assert_allclose(got[i], ref, rtol=1e-4, atol=2e-3)


def test_logmel_image_is_level_invariant_and_batched_equal() -> None:
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(16000) * 0.1).astype(np.float32)
    x[8000:] += np.sin(2 * np.pi * 440 * np.arange(8000) / 16000).astype(np.float32)
    img = logmel_image(x)
    assert img.shape == (1, 128, 128) and img.dtype == np.float32
    assert img.min() >= 0.0 and img.max() == pytest.approx(1.0, abs=1e-3)
    np.testing.assert_allclose(logmel_image(0.05 * x), img, atol=1e-3)
    batch = logmel_images(torch.from_numpy(np.stack([x, 0.3 * x]))).numpy()
    np.testing.assert_allclose(batch[0], img, atol=1e-3)
    np.testing.assert_allclose(batch[1], img, atol=1e-3)
    # the tone (second half, 440 Hz) is brighter in a low band than in the first half
    band = int(np.argmax(img[0, :, 100]))
    assert img[0, band, 100] > img[0, band, 20] + 0.1


@pytest.mark.parametrize("side", [128, 64, 48])
def test_image_training_inputs_are_the_image_commands_pixels(side: int) -> None:
    """A model trained at another input side sees in training what `rtaudio images` gives it
    from the PNG that `rtaudio spectrogram` writes (resized by PIL there, by torch here)."""
    from PIL import Image

    from rtaudio.images import preprocess

    rng = np.random.default_rng(3)
    t = np.arange(16000) / 16000
    x = (0.05 * rng.standard_normal(16000) + 0.3 * np.sin(2 * np.pi * 300 * t * (1 + t))).astype(
        np.float32
    )
    model = models.create(
        "pydmobilenet", num_classes=3, in_chans=1, resolution=side, mean=(0.5,), std=(0.5,)
    )
    got = ImageTask.inputs(model, torch.from_numpy(x)[None])[0]
    png = Image.fromarray(np.round(logmel_image(x)[0] * 255).astype(np.uint8), "L")
    want = preprocess(png, model.config)
    assert got.shape == want.shape == (1, side, side)
    # 8-bit PNG and PIL's rounding: within two 8-bit steps of the normalised range (2 / 127.5)
    assert float((got - want).abs().max()) < 2.5 / 127.5
    assert float((got - want).abs().mean()) < 0.5 / 127.5


def test_folded_input_norm_equals_the_wrapper_and_streams() -> None:
    net = models.create("swishnet_slim").eval()
    g = torch.Generator().manual_seed(0)
    mean = torch.randn(20, generator=g) * 50
    std = torch.rand(20, generator=g) * 20 + 1
    x = torch.randn(1, 20, 160, generator=g) * std[:, None] + mean[:, None]
    with torch.no_grad():
        ref = InputNorm(net, mean, std)(x)
        folded = fold_input_norm(copy.deepcopy(net), mean, std).eval()
        out = folded(x)
        rf = net.config.receptive_field
        torch.testing.assert_close(out[..., rf:], ref[..., rf:], atol=1e-4, rtol=1e-4)
        # the engine streams the folded net frame by frame: same logits
        state = folded.init_state(1)
        chunks = []
        for t in range(0, 160, 7):
            y, state = folded.step(x[..., t : t + 7], state)
            chunks.append(y)
        torch.testing.assert_close(torch.cat(chunks, -1), out, atol=1e-4, rtol=1e-4)


def test_si_snr_known_values() -> None:
    g = torch.Generator().manual_seed(0)
    t = torch.randn(3, 8000, generator=g)
    n = torch.randn(3, 8000, generator=g)
    t0, n0 = t - t.mean(-1, keepdim=True), n - n.mean(-1, keepdim=True)
    n0 = n0 - (n0 * t0).sum(-1, keepdim=True) / t0.square().sum(-1, keepdim=True) * t0
    n0 = n0 * (t0.norm(dim=-1, keepdim=True) / n0.norm(dim=-1, keepdim=True))
    torch.testing.assert_close(si_snr(t0 + n0, t0), torch.zeros(3), atol=1e-3, rtol=0)
    torch.testing.assert_close(si_snr(t0 + 0.1 * n0, t0), torch.full((3,), 20.0), atol=1e-3, rtol=0)
    # scale invariance, and a scaled copy is near perfect
    torch.testing.assert_close(si_snr(7.0 * (t0 + n0), t0), si_snr(t0 + n0, t0))
    assert bool((si_snr(0.3 * t, t) > 60).all())


def test_classification_report_and_buckets() -> None:
    cm = confusion([0] * 10 + [1] * 10, [0] * 8 + [1] * 2 + [0] + [1] * 9, 3)
    assert cm.tolist() == [[8, 2, 0], [1, 9, 0], [0, 0, 0]]
    rep = classification_report(cm, ("a", "b", "c"))
    assert rep["accuracy"] == pytest.approx(0.85)
    assert rep["balanced_accuracy"] == pytest.approx(0.85)
    assert rep["per_class"]["a"]["precision"] == pytest.approx(8 / 9, abs=1e-4)
    assert rep["per_class"]["a"]["recall"] == pytest.approx(0.8)
    assert "c" not in rep["per_class"]  # never seen, never predicted
    b = snr_buckets([-4, -1, 2, 10], [10, 20, 30, 40], (-5, 0, 5, 10))
    assert b["-5..0 dB"] == {"n": 2, "median_si_snri": 15.0, "mean_si_snri": 15.0}
    assert b["5..10 dB"]["n"] == 1  # the last bucket is closed


def test_interval_resamples_recordings_not_windows() -> None:
    # class 0: one recording all right, one all wrong (100 windows each); class 1: all right
    true = [0] * 200 + [1] * 50
    pred = [0] * 100 + [1] * 100 + [1] * 50
    src = ["a"] * 100 + ["b"] * 100 + ["c"] * 50
    iv = recording_interval(true, pred, src, reps=400)
    # class 0's recall is 0, 1/2 or 1 in a replicate: the interval spans what 2 recordings allow
    assert iv["balanced_accuracy"] == [0.5, 1.0]
    lo, hi = iv["accuracy"]
    assert lo == pytest.approx(50 / 250) and hi == pytest.approx(1.0)
    # the same windows as 200 independent recordings: a narrow interval around 0.75
    narrow = recording_interval(true, pred, [str(i) for i in range(250)], reps=400)
    assert 0.70 < narrow["balanced_accuracy"][0] < 0.75 < narrow["balanced_accuracy"][1] < 0.80
    assert recording_interval(true, pred, src, reps=400) == iv  # seeded
    perfect = recording_interval([0, 0, 1], [0, 0, 1], ["a", "b", "c"], reps=50)
    assert perfect == {"accuracy": [1.0, 1.0], "balanced_accuracy": [1.0, 1.0]}


def test_paired_interval_is_of_the_difference_on_the_same_recordings() -> None:
    # class 0: recordings a, b (100 windows each), class 1: recording c. The model gets all
    # right; the baseline misses recording b only. Every replicate draws the same recordings
    # for both, so the difference is never negative and is 0, 1/2 or 1 of class 0's recall.
    true = [0] * 200 + [1] * 50
    src = ["a"] * 100 + ["b"] * 100 + ["c"] * 50
    base = [0] * 100 + [1] * 100 + [1] * 50
    iv = recording_interval(true, true, src, reps=400, baseline=base)
    assert iv["balanced_accuracy"] == [0.0, 0.5]  # (0 .. 1 of class 0) / 2 classes
    assert iv["accuracy"][0] == 0.0 and iv["accuracy"][1] == pytest.approx(200 / 250)
    # unpaired, the two models' own intervals overlap on [0.5, 1.0]: pairing is what resolves
    assert recording_interval(true, base, src, reps=400)["balanced_accuracy"] == [0.5, 1.0]
    same = recording_interval(true, base, src, reps=50, baseline=base)
    assert same == {"accuracy": [0.0, 0.0], "balanced_accuracy": [0.0, 0.0]}


def test_sampler_balances_classes_and_keeps_splits(tiny: Path) -> None:
    corpus = Corpus(tiny, _quiet)
    rows = corpus.select("train")
    s = WindowSampler(corpus, rows, class3, ("speech", "music", "noise"), class_power=0.0)
    rng = np.random.default_rng(0)
    drawn = [s.draw_row(rng) for _ in range(600)]
    counts = np.bincount([c for _, c in drawn], minlength=3)
    assert counts.min() > 150  # uniform over classes at class_power 0
    assert {r["split"] for r, _ in drawn} == {"train"}
    # weights undo the sampling bias (natural frequencies at class_power 1)
    s1 = WindowSampler(corpus, rows, class3, ("speech", "music", "noise"), class_power=1.0)
    np.testing.assert_allclose((s1.p * s1.class_weights[s1.present]).sum(), 1.0, rtol=1e-5)


def test_esresnet_classes_need_held_out_clips_and_enough_training_audio(tmp_path: Path) -> None:
    root = make_tiny_corpus(tmp_path / "c", clips_per_source=2)
    with open(root / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    noise = [r for r in rows if r["kind"] == "noise"]
    add = []
    # (label, split, clips): 2 s clips; "dog" has 8 s of training audio (under 10 s),
    # "knock" 12 s, "horn" has no held-out clip
    for label, split, n in [
        ("knock", "train", 6),
        ("knock", "test", 1),
        ("dog", "train", 4),
        ("dog", "validation", 1),
        ("horn", "train", 3),
    ]:
        for i in range(n):
            r = dict(noise[i], kind="events", label=label, split=split)
            r["source"] = r["speaker"] = f"rec:{label}:{split}"
            add.append(r)
    with open(root / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows + add)
    task = make_task("esresnet", Corpus(root, _quiet), seed=0, log=_quiet)
    assert task.classes == ("knock", "speech", "music")


@pytest.mark.parametrize(
    "name", ["swishnet_slim", "esresnet", "mobilenet_v1_025", "pydmobilenet", "mitas", "tsenet"]
)
def test_every_task_makes_a_batch_with_a_finite_gradient(tiny: Path, name: str) -> None:
    corpus = Corpus(tiny, _quiet)
    task = make_task(name, corpus, seed=0, log=_quiet)
    task.batch_size = 2  # type: ignore[misc]
    if hasattr(task, "seconds"):
        task.seconds = 0.5  # type: ignore[attr-defined]
    module = task.train_module(task.new_model())
    loss = task.loss(module, task.batch(np.random.default_rng(0)))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(
        p.grad is not None and torch.isfinite(p.grad).all()
        for p in module.parameters()
        if p.requires_grad and p.grad is not None
    )


# ---------------------------------------------------------------------------- training runs


@pytest.fixture(scope="module")
def swish_run(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainOptions]:
    out = tmp_path_factory.mktemp("sw") / "sw.safetensors"
    opts = _opts(tiny, out, "swishnet_slim", lr=5e-3, steps=60, val_every=30)
    train(opts)
    return out, opts


def _fixed_loss(name: str, tiny: Path, state: dict[str, torch.Tensor] | None, **kw: Any) -> float:
    task = make_task(name, Corpus(tiny, _quiet), seed=0, log=_quiet)
    for k, v in kw.items():
        setattr(task, k, v)
    torch.manual_seed(0)
    module = task.train_module(task.new_model())
    if state is not None:
        module.load_state_dict(state)
    module.eval()
    batch = task.batch(np.random.default_rng(12345))
    with torch.no_grad():
        return float(task.loss(module, batch))


def test_classifier_training_lowers_the_loss(
    tiny: Path, swish_run: tuple[Path, TrainOptions]
) -> None:
    out, opts = swish_run
    ck = load_checkpoint(opts.checkpoint_path)
    assert ck["state"]["step"] == 60
    before = _fixed_loss("swishnet_slim", tiny, None, batch_size=16)
    after = _fixed_loss("swishnet_slim", tiny, ck["module"], batch_size=16)
    assert after < 0.6 * before, (before, after)
    # the exported file is a plain SwishNet reading raw MFCCs, with its training record
    net = models.load(out, family="swishnet")
    assert net.meta["labels"] == ["speech", "music", "noise"]
    assert net.meta["steps"] == 60 and net.meta["wall_time_s"] > 0
    assert net.meta["data"]["manifest_sha256"] == Corpus(tiny, _quiet).manifest_sha256


@pytest.fixture(scope="module")
def trained_mitas(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainOptions:
    """A 30-step MiTAS run on the tiny corpus (its options: the weights are at ``.out``)."""
    opts = _opts(
        tiny,
        tmp_path_factory.mktemp("mitas") / "m.safetensors",
        "mitas",
        steps=30,
        batch_size=4,
        segment_seconds=0.5,
        lr=3e-3,
        val_every=1000,
        val_size=4,
    )
    train(opts)
    return opts


def test_separator_training_lowers_the_loss(tiny: Path, trained_mitas: TrainOptions) -> None:
    opts = trained_mitas
    ck = load_checkpoint(opts.checkpoint_path)
    before = _fixed_loss("mitas", tiny, None, batch_size=4, seconds=0.5)
    after = _fixed_loss("mitas", tiny, ck["module"], batch_size=4, seconds=0.5)
    assert after < before - 3.0, (before, after)  # negative SI-SNR: at least 3 dB better
    # the export gives speech back at its input level (SI-SNR left the scale free)
    exported = models.load(opts.out)
    record = exported.meta["output_scale"]
    assert record["split"] == "validation" and record["mixtures"] == MIXTURES
    task = make_task("mitas", Corpus(tiny), 0, _quiet, train=False)
    gains = speech_gains(task, exported, "validation", MIXTURES)  # the calibration's mixtures
    assert abs(float(np.median(gains)) - 1.0) < 1e-3, gains  # level and polarity as they came in


def _applied(record: dict[str, Any]) -> float:
    """The factor an ``output_scale`` record says was folded into the decoder."""
    sign = -1.0 if record["polarity"] == "inverted" else 1.0
    return sign * 10 ** (record["gain_db"] / 20)


def test_calibration_refuses_an_output_whose_polarity_changes(
    tiny: Path, trained_mitas: TrainOptions
) -> None:
    """A network whose output flips sign from one mixture to the next has no scale to fold
    in: the export records none (the engine then applies its running scale)."""

    class Flipping(torch.nn.Module):
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net, self.calls = net, 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            return (-1) ** self.calls * self.net(x)  # one mixture in two comes back inverted

    task = make_task("mitas", Corpus(tiny), 0, _quiet, train=False)
    net = models.load(trained_mitas.out)
    gains = speech_gains(task, Flipping(net), "validation", 12)
    assert (gains > 0).any() and (gains < 0).any()  # the test's premise
    same, record = calibrate_output(task, Flipping(net), "validation", 12)
    assert record is None and isinstance(same, Flipping)
    _, record = calibrate_output(task, net, "validation", 12)
    assert record is not None  # the network itself is consistent


def test_calibrate_gives_older_weights_a_calibrated_output(
    tiny: Path,
    trained_mitas: TrainOptions,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    opts = trained_mitas
    old = models.load(opts.out)  # as exported before the output was calibrated:
    old.scale_output(1 / _applied(old.meta.pop("output_scale")))
    src, out = tmp_path / "old.safetensors", tmp_path / "new.safetensors"
    models.save(old, src, meta=old.meta)
    args = ["mitas", "--weights", str(src), "--data", str(tiny), "--out", str(out)]
    assert calibrate_main([*args, "--mixtures", "6"]) == 0
    new = models.load(out)
    assert new.meta["steps"] == old.meta["steps"]  # the rest of the record is kept
    x = torch.randn(1, 4000)
    g = _applied(new.meta["output_scale"])
    with torch.no_grad():
        torch.testing.assert_close(new(x), g * old(x), rtol=1e-4, atol=1e-6)
    task = make_task("mitas", Corpus(tiny), 0, _quiet, train=False)
    assert abs(float(np.median(speech_gains(task, new, "validation", 6))) - 1.0) < 1e-3
    capsys.readouterr()
    # refusals: one line each, nothing overwritten
    before = out.read_bytes()
    assert calibrate_main([*args, "--mixtures", "6"]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_bytes() == before
    again = ["mitas", "--weights", str(out), "--data", str(tiny), "--out", str(tmp_path / "x")]
    assert calibrate_main(again) == 2
    assert "already has a calibrated output scale" in capsys.readouterr().err
    silent = models.create("mitas")
    with torch.no_grad():
        silent.decoder.weight.zero_()  # an output without the speech: nothing to calibrate
    models.save(silent, src, meta={})
    assert calibrate_main([*args[:-1], str(tmp_path / "y"), "--mixtures", "6"]) == 2
    assert "is the separator trained?" in capsys.readouterr().err
    assert calibrate_main(["swishnet", *args[1:-1], str(tmp_path / "z")]) == 2
    assert "expected 'swishnet'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_resume_equals_an_uninterrupted_run(tiny: Path, tmp_path: Path) -> None:
    kw: dict[str, Any] = dict(batch_size=4, val_every=5, lr=3e-3)
    whole = _opts(tiny, tmp_path / "a.safetensors", "swishnet_slim", steps=10, **kw)
    train(whole)
    part = _opts(tiny, tmp_path / "b.safetensors", "swishnet_slim", steps=5, **kw)
    train(part)
    assert load_checkpoint(part.checkpoint_path)["state"]["step"] == 5
    with pytest.raises(TrainError, match="exists"):  # never overwrite --out silently
        train(_opts(tiny, tmp_path / "b.safetensors", "swishnet_slim", steps=10, resume=True, **kw))
    train(
        _opts(
            tiny,
            tmp_path / "b.safetensors",
            "swishnet_slim",
            steps=10,
            resume=True,
            overwrite=True,
            **kw,
        )
    )
    a = load_checkpoint(whole.checkpoint_path)
    b = load_checkpoint(part.checkpoint_path)
    assert a["state"]["step"] == b["state"]["step"] == 10
    for k in a["module"]:
        torch.testing.assert_close(a["module"][k], b["module"][k], atol=0, rtol=0)
    assert a["optimizer"]["state"][0]["step"] == b["optimizer"]["state"][0]["step"]
    torch.testing.assert_close(
        a["optimizer"]["state"][0]["exp_avg"], b["optimizer"]["state"][0]["exp_avg"]
    )


def test_data_workers_draw_the_batches_of_the_training_process(tiny: Path) -> None:
    corpus = Corpus(tiny, _quiet)
    task = make_task("mitas", corpus, 3, _quiet, train=True)
    task.batch_size = 2  # type: ignore[misc]
    task.seconds = 0.25  # type: ignore[attr-defined]
    with BatchSource(task, 3, 0) as here, BatchSource(task, 3, 2) as pool:
        for step in (0, 1, 2, 3, 4, 7, 8):  # 7 jumps ahead of the prefetched steps
            a, b = here.get(step), pool.get(step)
            assert len(a) == len(b) == 2
            for x, y in zip(a, b, strict=True):
                torch.testing.assert_close(x, y, atol=0, rtol=0)
        assert pool.get(9)[0].shape == (2, 4000)
    other = BatchSource(task, 3, 0).get(1)[0]
    assert not torch.equal(other, BatchSource(task, 3, 0).get(2)[0])  # steps differ


def test_training_with_data_workers_equals_training_without(tiny: Path, tmp_path: Path) -> None:
    kw: dict[str, Any] = dict(batch_size=4, val_every=3, lr=3e-3, steps=6)
    a = _opts(tiny, tmp_path / "a.safetensors", "swishnet_slim", **kw)
    b = _opts(tiny, tmp_path / "b.safetensors", "swishnet_slim", data_workers=2, **kw)
    train(a)
    train(b)
    ca, cb = load_checkpoint(a.checkpoint_path), load_checkpoint(b.checkpoint_path)
    for k in ca["module"]:
        torch.testing.assert_close(ca["module"][k], cb["module"][k], atol=0, rtol=0)


def test_train_refuses_to_restart_over_a_checkpoint(tiny: Path, tmp_path: Path) -> None:
    opts = _opts(tiny, tmp_path / "c.safetensors", "swishnet_slim", steps=2, val_every=1)
    train(opts)
    (tmp_path / "c.safetensors").unlink()
    with pytest.raises(TrainError, match="--resume"):
        train(opts)
    with pytest.raises(TrainError, match="no checkpoint"):
        train(_opts(tiny, tmp_path / "d.safetensors", "swishnet_slim", resume=True))


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        ("flipped", "damaged training checkpoint (checksum mismatch in"),
        ("cut", "damaged training checkpoint (cut short)"),
        ("weights", "not a training checkpoint (rtaudio's are zip archives; weights files"),
        ("pickle", "not a training checkpoint"),
    ],
)
def test_damaged_checkpoints_are_refused(
    tiny: Path, tmp_path: Path, damage: str, said: str
) -> None:
    """torch.load does not check the zip's CRCs: 64 zeroed bytes inside a tensor resumed (and
    exported) as other weights without a word."""
    opts = _opts(tiny, tmp_path / "c.safetensors", "swishnet", steps=2, val_every=1)
    train(opts)
    ckpt = opts.checkpoint_path
    data = bytearray(ckpt.read_bytes())
    if damage == "flipped":
        with zipfile.ZipFile(ckpt) as z:  # the largest tensor's bytes
            info = max(z.infolist(), key=lambda i: i.file_size)
        at = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
        data[at + 64 : at + 128] = bytes(64)
    elif damage == "cut":
        data = data[: len(data) // 2]
    elif damage == "weights":
        data = bytearray((tmp_path / "c.safetensors").read_bytes())
    else:
        data = bytearray(b"\x80\x04K\x01.")
    ckpt.write_bytes(bytes(data))
    for how in (dict(resume=True), dict(export_only=True)):
        with pytest.raises(TrainError) as e:
            train(_opts(tiny, tmp_path / "d.safetensors", "swishnet", checkpoint=ckpt, **how))
        assert said in str(e.value) and len(str(e.value).splitlines()) == 1
    with pytest.raises(TrainError, match=r"damaged|not a training checkpoint"):  # and as --init
        train(_opts(tiny, tmp_path / "e.safetensors", "swishnet", init=ckpt, steps=1))


def test_evaluate_prints_metrics_and_writes_the_png(
    tiny: Path,
    swish_run: tuple[Path, TrainOptions],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out, _ = swish_run
    png = tmp_path / "cm.png"
    rc = main(
        ["evaluate", "swishnet_slim", "--data", str(tiny), "--weights", str(out), "--png", str(png)]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "accuracy" in text and "true \\ predicted" in text and "live engine" in text
    assert "95 % interval, resampling the held-out recordings" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 2000
    # an existing picture is not replaced: refused by name, kept beside the default name
    before = png.read_bytes()
    args = ["evaluate", "swishnet_slim", "--data", str(tiny), "--weights", str(out), "--no-live"]
    assert main([*args, "--png", str(png)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err and png.read_bytes() == before
    assert main([*args, "--png", str(png), "--overwrite"]) == 0
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rtaudio-eval-swishnet_slim-test.png").write_bytes(b"mine")
    assert main(args) == 0
    assert (tmp_path / "rtaudio-eval-swishnet_slim-test.png").read_bytes() == b"mine"
    assert (tmp_path / "rtaudio-eval-swishnet_slim-test-2.png").read_bytes()[:4] == b"\x89PNG"
    assert "rtaudio-eval-swishnet_slim-test-2.png" in capsys.readouterr().out
    rc = main(
        [
            "evaluate",
            "swishnet_slim",
            "--data",
            str(tiny),
            "--weights",
            str(out),
            "--png",
            "",
            "--json",
            "--no-live",
        ]
    )
    rep = json.loads(capsys.readouterr().out)
    assert rc == 0 and rep["n"] > 10 and set(rep["per_class"]) == {"speech", "music", "noise"}
    lo, hi = rep["interval_95"]["accuracy"]
    assert lo <= rep["accuracy"] <= hi
    assert np.array(rep["confusion"]).sum() == rep["n"]
    assert rep["accuracy"] > 0.6  # 60 steps on easy classes: well above chance (1/3)


def test_evaluate_compares_two_weights_on_the_same_windows(
    tiny: Path,
    swish_run: tuple[Path, TrainOptions],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out, _ = swish_run
    other = tmp_path / "untrained.safetensors"
    train(_opts(tiny, other, "swishnet_slim", steps=0))
    base = ["evaluate", "swishnet_slim", "--data", str(tiny), "--png", "", "--no-live", "--json"]
    assert main([*base, "--weights", str(other)]) == 0
    alone = json.loads(capsys.readouterr().out)
    assert main([*base, "--weights", str(out), "--compare", str(other)]) == 0
    rep = json.loads(capsys.readouterr().out)
    b = rep["baseline"]
    for k in ("accuracy", "balanced_accuracy"):  # the baseline scored as on its own
        assert b[k] == alone[k]
        assert b["difference"][k] == round(rep[k] - alone[k], 4)
        lo, hi = b["interval_95"][k]
        assert lo - 1e-3 <= b["difference"][k] <= hi + 1e-3  # both rounded to 4 places
    assert main([*base, "--weights", str(out), "--compare", str(out)]) == 0
    same = json.loads(capsys.readouterr().out)["baseline"]
    assert same["difference"]["accuracy"] == 0.0
    assert same["interval_95"] == {"accuracy": [0.0, 0.0], "balanced_accuracy": [0.0, 0.0]}
    text_args = ["evaluate", "swishnet_slim", "--data", str(tiny), "--png", "", "--no-live"]
    assert main([*text_args, "--weights", str(out), "--compare", str(other)]) == 0
    assert "paired over the held-out recordings" in capsys.readouterr().out
    three = tmp_path / "three.safetensors"
    models.save(models.create("swishnet_slim", classes=2, labels=("a", "b")), three)
    assert main([*base, "--weights", str(out), "--compare", str(three)]) == 2
    assert "the two cannot be compared" in capsys.readouterr().err
    assert main(["evaluate", "mitas", "--data", str(tiny), "--compare", str(out)]) == 2
    assert "--compare applies to classifiers" in capsys.readouterr().err


def test_evaluate_separator_reports_snr_buckets(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mitas.safetensors"
    models.save(models.create("mitas"), out)
    args = ["evaluate", "mitas", "--data", str(tiny), "--weights", str(out), "--mixtures", "12"]
    rc = main([*args, "--json"])
    rep = json.loads(capsys.readouterr().out)
    assert rc == 0 and rep["n"] == 12
    assert sum(b["n"] for b in rep["by_input_snr"].values()) == 12
    assert set(rep["by_input_snr"]) <= {"-5..0 dB", "0..5 dB", "5..10 dB"}
    # what SI-SNR cannot see: the speech's level in the output, and its polarity
    net = models.load(out)
    net.scale_output(-2.0)
    models.save(net, out)
    assert main([*args, "--json"]) == 0
    louder = json.loads(capsys.readouterr().out)
    assert louder["median_si_snri"] == rep["median_si_snri"]
    lv, lv2 = rep["speech_level_db"], louder["speech_level_db"]
    assert lv2["median"] == pytest.approx(lv["median"] + 6.02, abs=0.02)
    assert lv2["inverted"] == 12 - lv["inverted"]
    assert main(args) == 0
    assert f"polarity inverted in {lv2['inverted']} of 12" in capsys.readouterr().out


def test_cli_train_errors_are_one_line(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.safetensors"
    out.write_bytes(b"")
    rc = main(["train", "swishnet", "--data", str(tiny), "--out", str(out), "--steps", "1"])
    assert rc == 2 and "--overwrite" in capsys.readouterr().err
    base = ["train", "--data", str(tiny), "--out", str(tmp_path / "z.safetensors"), "--steps", "1"]
    assert main([*base[:1], "swishnet_slim", *base[1:], "--class-power", "2"]) == 2
    assert "--class-power must be between 0 and 1" in capsys.readouterr().err
    assert main([*base[:1], "mitas", *base[1:], "--class-power", "0"]) == 2
    assert "applies to classifiers" in capsys.readouterr().err
    assert main([*base[:1], "swishnet_slim", *base[1:], "--ema", "1.5"]) == 2
    assert "--ema must be between 0 and 1" in capsys.readouterr().err
    assert main([*base[:1], "esresnet", *base[1:], "--speed", "0.9"]) == 2
    assert "--speed must be between 0 and 0.5" in capsys.readouterr().err
    assert main([*base[:1], "swishnet_slim", *base[1:], "--mixup", "0.3"]) == 2
    assert "applies to whole-window classifiers" in capsys.readouterr().err
    assert main([*base[:1], "mitas", *base[1:], "--speed", "0.1"]) == 2
    assert "applies to classifiers" in capsys.readouterr().err
    assert main([*base[:1], "esresnet", *base[1:], "--distill", "1.5"]) == 2
    assert "--distill must be in (0, 1]" in capsys.readouterr().err
    assert main([*base[:1], "mitas", *base[1:], "--teacher", str(out)]) == 2
    assert "--teacher applies to classifiers, not mitas" in capsys.readouterr().err
    rc = main(
        [
            "train",
            "swishnet",
            "--data",
            str(tmp_path / "nowhere"),
            "--out",
            str(tmp_path / "y.safetensors"),
        ]
    )
    assert rc == 2 and f"{tmp_path / 'nowhere'}: no such folder" in capsys.readouterr().err


def test_train_refusals_come_before_the_training_and_say_what_is_wrong(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--test-data that is not there was found only after the training; --steps 0 wrote
    untrained weights; --export-only without a checkpoint spoke of --resume; a corpus with
    no train split said 'no clips for any of the classes'; a file as --data was
    'FILE/manifest.csv not found'."""
    out = tmp_path / "m.safetensors"
    base = ["train", "swishnet", "--data", str(tiny), "--out", str(out)]
    cases = [
        (
            [*base, "--steps", "2", "--test-data", str(tmp_path / "gone")],
            f"{tmp_path / 'gone'}: no such folder",
        ),
        (
            [*base, "--steps", "0"],
            "--steps 0 on a new run would write untrained weights",
        ),
        ([*base, "--export-only"], "--export-only: no checkpoint at "),
        (
            ["train", "swishnet", "--data", str(tiny / "manifest.csv"), "--out", str(out)],
            f"{tiny / 'manifest.csv'}: not a folder",
        ),
    ]
    only_test = tmp_path / "only_test"
    shutil.copytree(tiny, only_test)
    with (only_test / "manifest.csv").open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "test"]
        fields = list(rows[0])
    with (only_test / "manifest.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    cases.append(
        (
            ["train", "swishnet", "--data", str(only_test), "--out", str(out), "--steps", "2"],
            f"{only_test}: no clips of the classes speech, music, noise to draw from here (0 "
            f"clips of the split; the corpus has {len(rows)} test)",
        )
    )
    for argv, said in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert said in err and "Traceback" not in err, err
        assert "step 1/" not in err, err  # refused before any training
        assert not out.exists()


def test_a_damaged_corpus_is_one_line(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A clip deleted or overwritten since the corpus was built, a manifest row that is not
    one: a line naming it, exit 2 (tracebacks from sox and float() before)."""

    def damaged(name: str) -> tuple[Path, list[dict[str, str]]]:
        d = tmp_path / name
        shutil.copytree(tiny, d)
        with (d / "manifest.csv").open(newline="") as f:
            return d, list(csv.DictReader(f))

    gone, rows = damaged("gone")
    (gone / rows[0]["path"]).unlink()
    junk, rows = damaged("junk")
    clip = next(r["path"] for r in rows if r["split"] == "test" and r["kind"] == "speech")
    (junk / clip).write_bytes(b"not audio any more")
    bad_row, _ = damaged("bad_row")
    text = (bad_row / "manifest.csv").read_text().splitlines()
    fields = text[1].split(",")
    fields[text[0].split(",").index("duration")] = "abc"
    text[1] = ",".join(fields)
    (bad_row / "manifest.csv").write_text("\n".join(text) + "\n")
    evaluate = ["evaluate", "swishnet", "--png", "", "--no-live", "--data"]
    out = ["--out", str(tmp_path / "m.safetensors"), "--steps", "1"]
    for argv, said in (
        (
            [*evaluate, str(gone)],
            f"{gone}: 1 of the {len(rows)} clips its manifest lists are "
            f"missing ({rows[0]['path']}): restore them, or build the corpus again",
        ),
        (["train", "swishnet", "--data", str(gone), *out], "clips its manifest lists are missing"),
        ([*evaluate, str(junk)], f"{junk}: clip {clip} cannot be read ("),
        (
            [*evaluate, str(bad_row)],
            f"{bad_row / 'manifest.csv'}, line 2: not a corpus "
            "manifest's row (could not convert string to float: 'abc')",
        ),
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert said in err and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1 or argv[0] == "train", err


@pytest.mark.parametrize(
    ("device", "said"),
    [
        ("tpu", "--device 'tpu': choose auto, cpu, cuda or cuda:N"),
        ("nonsense", "--device 'nonsense': choose auto, cpu, cuda or cuda:N"),
        ("cuda", "--device cuda: no CUDA GPU here"),
    ],
)
def test_train_on_a_device_that_is_not_here_is_one_line(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], device: str, said: str
) -> None:
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("a CUDA GPU is here")
    out = str(tmp_path / "m.safetensors")
    argv = ["train", "swishnet", "--data", str(tiny), "--out", out, "--device", device]
    assert main([*argv, "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["train", "swishnet", "--seed", "-3"],
            "--seed: must be at least 0 and at most 4294967295",
        ),
        (["train", "swishnet", "--batch-size", "0"], "--batch-size: must be at least 1"),
        (["train", "swishnet", "--batch-size", "2.5"], "--batch-size: '2.5' is not a whole number"),
        (["train", "swishnet", "--lr", "-1"], "--lr: must be more than 0 and at most 10"),
        (["train", "swishnet", "--lr", "nan"], "--lr: must be more than 0"),
        (["train", "swishnet", "--val-every", "0"], "--val-every: must be at least 1"),
        (["train", "swishnet", "--log-every", "0"], "--log-every: must be at least 1"),
        (["train", "swishnet", "--patience", "0"], "--patience: must be at least 1"),
        (["train", "swishnet", "--warmup", "-1"], "--warmup: must be at least 0"),
        (["train", "swishnet", "--threads", "0"], "--threads: must be at least 1"),
        (["train", "swishnet", "--max-minutes", "0"], "--max-minutes: must be more than 0"),
        (["train", "swishnet", "--checkpoint-minutes", "-1"], "--checkpoint-minutes: must be"),
        (["train", "mitas", "--segment-seconds", "0"], "--segment-seconds: must be at least 0.1"),
        (["train", "swishnet", "--steps", "-1"], "--steps: must be at least 0"),
        (["evaluate", "mitas", "--mixtures", "0"], "--mixtures: must be at least 1"),
        (["evaluate", "mitas", "--seed", "-1"], "--seed: must be at least 0"),
        (["data", "build", "--seed", "-5"], "--seed: must be at least 0"),
    ],
)
def test_cli_numbers_out_of_range_are_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    """Each of these was a traceback (numpy seeds, division by zero, MKL, Adam) or silently
    something else (--mixtures 0 drew 200)."""
    argv = [*argv, "--data" if argv[0] != "data" else "--out", str(tmp_path / "d")]
    if argv[0] == "train":
        argv += ["--out", str(tmp_path / "w.safetensors")]
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err and "Traceback" not in err, err
    assert not list(tmp_path.iterdir())  # nothing made


def test_ema_resumes_exactly_and_exports_the_average(tiny: Path, tmp_path: Path) -> None:
    kw: dict[str, Any] = dict(batch_size=4, val_every=5, lr=3e-3, ema=0.9)
    whole = _opts(tiny, tmp_path / "a.safetensors", "swishnet_slim", steps=10, **kw)
    train(whole)
    part = _opts(tiny, tmp_path / "b.safetensors", "swishnet_slim", steps=5, **kw)
    train(part)
    again = _opts(tiny, part.out, "swishnet_slim", steps=10, resume=True, overwrite=True, **kw)
    train(again)
    a, b = load_checkpoint(whole.checkpoint_path), load_checkpoint(part.checkpoint_path)
    for k in a["ema"]:
        torch.testing.assert_close(a["ema"][k], b["ema"][k], atol=0, rtol=0)
    # the average is what was validated and exported, and it is not the raw weights
    assert a["state"]["best_step"] in (5, 10)
    for k, v in a["state"]["best_state"].items():
        if a["state"]["best_step"] == 10:
            torch.testing.assert_close(v, a["ema"][k], atol=0, rtol=0)
    assert any(
        not torch.equal(a["ema"][k], a["module"][k])
        for k in a["module"]
        if a["module"][k].is_floating_point()
    )


def test_class_power_reaches_the_sampler_and_the_checkpoint(tiny: Path, tmp_path: Path) -> None:
    opts = _opts(tiny, tmp_path / "cp.safetensors", "swishnet_slim", steps=2, class_power=0.0)
    train(opts)
    assert load_checkpoint(opts.checkpoint_path)["hparams"]["class_power"] == 0.0
    task = make_task("swishnet_slim", Corpus(tiny, _quiet), seed=0, log=_quiet)
    assert task.class_power != 0.0  # the default differs: the option did something


def test_mixup_blends_the_batch_and_its_labels(tiny: Path) -> None:
    task = make_task("esresnet", Corpus(tiny, _quiet), seed=0, log=_quiet)
    task.batch_size = 6  # type: ignore[misc]
    x0, y0 = task.batch(np.random.default_rng(5))
    task.mixup = 0.4  # type: ignore[attr-defined]
    x, y, y2, lam = task.batch(np.random.default_rng(5))
    w = float(lam)
    assert 0.0 < w < 1.0 and torch.equal(y, y0)
    for i in range(6):  # each row: lam * its own example + (1 - lam) * another with label y2
        rest = (x[i] - w * x0[i]) / (1.0 - w)
        j = int(torch.argmin(((x0 - rest) ** 2).sum(-1)))
        torch.testing.assert_close(rest, x0[j], atol=1e-4, rtol=0)
        assert int(y2[i]) == int(y0[j])
    module = task.train_module(task.new_model()).eval()
    with torch.no_grad():  # the loss is the same blend of the two labels' losses
        plain = task.loss(module, (x, y))
        other = task.loss(module, (x, y2))
        mixed = task.loss(module, (x, y, y2, lam))
    torch.testing.assert_close(mixed, w * plain + (1 - w) * other)


def test_speed_and_mixup_reach_the_task_and_the_checkpoint(tiny: Path, tmp_path: Path) -> None:
    opts = _opts(tiny, tmp_path / "e.safetensors", "esresnet", steps=2, speed=0.15, mixup=0.3)
    train(opts)
    hp = load_checkpoint(opts.checkpoint_path)["hparams"]
    assert hp["speed"] == 0.15 and hp["mixup"] == 0.3
    task = make_task("esresnet", Corpus(tiny, _quiet), seed=0, log=_quiet)
    task.speed = 0.15  # type: ignore[misc]
    sampler, asked = task.sampler, []
    draw = sampler.draw

    def recording_draw(rng: np.random.Generator, n: int) -> Any:
        asked.append(n)
        return draw(rng, n)

    sampler.draw = recording_draw  # type: ignore[method-assign]
    xs, _ = task.draw_examples(np.random.default_rng(1), 40, 16000)
    assert xs.shape == (40, 16000)
    retimed = [n for n in asked if n != 16000]  # about half, at 1/1.15 .. 1.15 the length
    assert 8 <= len(retimed) <= 32 and all(13900 <= n <= 18400 for n in retimed), asked


def test_distillation_loss_blends_labels_and_the_teachers_soft_labels(tiny: Path) -> None:
    task = make_task("esresnet", Corpus(tiny, _quiet), seed=0, log=_quiet)
    task.batch_size = 6  # type: ignore[misc]
    x, y = task.batch(np.random.default_rng(2))
    torch.manual_seed(0)
    student = task.train_module(task.new_model()).eval()
    teachers = [task.new_model().eval() for _ in range(2)]
    with torch.no_grad():
        for m in teachers:  # opinionated teachers: random biases on the class scores
            head = [c for c in m.modules() if isinstance(c, torch.nn.Linear)][-1]
            head.bias.copy_(3.0 * torch.randn_like(head.bias))
        ce = task.loss(student, (x, y))
        task.teachers, task.distill = (student,), 0.3  # type: ignore[misc]
        # a teacher that is the student itself adds nothing: KL(p || p) = 0
        torch.testing.assert_close(task.loss(student, (x, y)), 0.7 * ce)
        task.teachers = tuple(teachers)  # type: ignore[misc]
        got = task.loss(student, (x, y))
        t = task.temperature
        soft = torch.stack([(m(x) / t).softmax(-1) for m in teachers]).mean(0)
        logq = (student(x) / t).log_softmax(-1)
        kl = (soft * (soft.log() - logq)).sum(-1).mean()
    torch.testing.assert_close(got, 0.7 * ce + 0.3 * t * t * kl)
    assert float(kl) > 0.05  # the teachers disagree with the student


def test_swishnet_learns_from_image_teachers_on_the_window_they_see(
    tiny: Path, swish_run: tuple[Path, TrainOptions], tmp_path: Path
) -> None:
    task = make_task("swishnet_slim", Corpus(tiny, _quiet), seed=0, log=_quiet)
    task.batch_size = 6  # type: ignore[misc]
    batch = task.batch(np.random.default_rng(4))
    mfcc, _, span, wave = batch
    ctx = int(span[2])
    assert ctx > 0 and wave.shape == (6, ctx + 16000)
    torch.manual_seed(0)
    student = task.train_module(task.new_model()).eval()
    image = models.create("mobilenet_v1_025", num_classes=3, in_chans=1, mean=(0.5,), std=(0.5,))
    with torch.no_grad():
        head = [c for c in image.modules() if isinstance(c, torch.nn.Linear)][-1]
        head.bias.copy_(torch.tensor([2.0, -1.0, 0.5]))
        own = task.loss(student, batch)
        task.teachers, task.distill = (image.eval(),), 0.4  # type: ignore[misc]
        got = task.loss(student, batch)
        # the image model reads the 1 s window only (its log-mel image), never the context
        t = task.temperature
        img = ImageTask.inputs(image, wave[:, ctx:])
        soft = (image(img) / t).softmax(-1)
        noisy = wave.clone()
        noisy[:, :ctx] = torch.randn(6, ctx)
        torch.testing.assert_close(task.soft_labels(noisy, ctx), soft)
        lo, hi = int(span[0]), int(span[1])
        clip = student(mfcc)[..., lo : hi + 1].mean(-1)
        kl = (soft * (soft.log() - (clip / t).log_softmax(-1))).sum(-1).mean()
    torch.testing.assert_close(got, 0.6 * own + 0.4 * t * t * kl)
    assert float(kl) > 0.05
    # a SwishNet teacher reads its context as the student does: its soft labels are its own
    # window scores, the ones it predicts with
    task.teachers = (models.load(swish_run[0]),)  # type: ignore[misc]
    with torch.no_grad():
        want = (task.window_logits(task.teachers[0], wave, ctx) / t).softmax(-1)
    torch.testing.assert_close(task.soft_labels(wave, ctx), want)
    # and a run with an image teacher records it like any other
    teacher = tmp_path / "img.safetensors"
    models.save(image, teacher, meta={"labels": ["speech", "music", "noise"]})
    out = tmp_path / "kd.safetensors"
    opts = _opts(tiny, out, "swishnet_slim", steps=2, teachers=(teacher,), distill=0.3)
    train(opts)
    hp = load_checkpoint(opts.checkpoint_path)["hparams"]
    assert hp["distill"] == 0.3 and hp["teachers"][0]["file"] == str(teacher.resolve())


def test_teachers_reach_the_checkpoint_and_a_resume_refuses_other_teachers(
    tiny: Path, tmp_path: Path
) -> None:
    teacher = tmp_path / "teacher.safetensors"
    train(_opts(tiny, teacher, "esresnet", steps=2, class_power=0.0))
    out = tmp_path / "s.safetensors"
    opts = _opts(tiny, out, "esresnet", steps=2, class_power=0.0, teachers=(teacher,))
    train(opts)
    hp = load_checkpoint(opts.checkpoint_path)["hparams"]
    assert hp["distill"] == 0.5 and hp["temperature"] == 2.0
    w = tmp_path / "w.safetensors"  # a weight of one's own survives a resume without --distill
    train(_opts(tiny, w, "esresnet", steps=1, class_power=0.0, teachers=(teacher,), distill=0.8))
    again = dict(steps=2, resume=True, overwrite=True, teachers=(teacher,))
    train(_opts(tiny, w, "esresnet", **again))
    assert load_checkpoint(w.with_suffix(".ckpt"))["hparams"]["distill"] == 0.8
    assert [t["file"] for t in hp["teachers"]] == [str(teacher.resolve())]
    assert hp["teachers"][0]["sha256"] == models.read_metadata(teacher)["rtaudio.sha256"]
    card = write_card("esresnet", out, None, out=tmp_path / "s.md").read_text()
    assert "distilled from 1 trained model(s)" in card and "--distill 0.5" in card
    assert f"--teacher {tmp_path.name}/teacher.safetensors" in card
    # resuming finds the recorded teacher by itself, and refuses a changed one
    more = dict(steps=3, class_power=0.0, resume=True, overwrite=True)
    train(_opts(tiny, out, "esresnet", **more))
    assert load_checkpoint(opts.checkpoint_path)["state"]["step"] == 3
    train(_opts(tiny, teacher, "esresnet", steps=3, class_power=0.0, overwrite=True, seed=5))
    with pytest.raises(TrainError, match="not the teachers this run started with"):
        train(_opts(tiny, out, "esresnet", **{**more, "steps": 4}))


def test_teacher_errors_are_clear(
    tiny: Path, swish_run: tuple[Path, TrainOptions], tmp_path: Path
) -> None:
    out = tmp_path / "k.safetensors"
    with pytest.raises(TrainError, match="no such weights file"):
        train(_opts(tiny, out, "esresnet", steps=1, teachers=(tmp_path / "none.safetensors",)))
    with pytest.raises(TrainError, match="is a swishnet model; esresnet learns from esresnet"):
        train(_opts(tiny, out, "esresnet", steps=1, teachers=(swish_run[0],)))
    ev = tmp_path / "ev.safetensors"  # an ESResNet cannot teach SwishNet (other inputs, classes)
    models.save(models.create("esresnet", classes=3, labels=("a", "b", "c")), ev)
    learns = "learns from swishnet, mobilenet, xception, pydmobilenet models"
    with pytest.raises(TrainError, match=learns):
        train(_opts(tiny, out, "swishnet_slim", steps=1, teachers=(ev,)))
    with pytest.raises(TrainError, match="give --teacher FILE"):
        train(_opts(tiny, out, "esresnet", steps=1, distill=0.5))
    three = tmp_path / "three.safetensors"  # an ESResNet of other classes
    m = models.create("esresnet", classes=3, labels=("a", "b", "c"))
    models.save(m, three, meta={"labels": ["a", "b", "c"]})
    with pytest.raises(TrainError, match="predicts a, b, c; this run trains"):
        train(_opts(tiny, out, "esresnet", steps=1, teachers=(three,)))
    assert not out.exists()


def test_init_starts_from_another_runs_best_weights(
    tiny: Path, swish_run: tuple[Path, TrainOptions], tmp_path: Path
) -> None:
    out_a, opts_a = swish_run
    out_b = tmp_path / "b.safetensors"
    train(_opts(tiny, out_b, "swishnet_slim", steps=0, init=opts_a.checkpoint_path))
    a, b = models.load(out_a).state_dict(), models.load(out_b).state_dict()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=0, rtol=0)
    # from the exported weights file (normalisation folded in): the same network again, not
    # one that normalises its input twice
    out_c = tmp_path / "c.safetensors"
    train(_opts(tiny, out_c, "swishnet_slim", steps=0, init=out_a))
    c = models.load(out_c).state_dict()
    for k in a:
        torch.testing.assert_close(a[k], c[k], atol=1e-4, rtol=1e-4)
    # the start is recorded at the step of the weights it took (the file's best), not the
    # step its run ended at
    early = models.load(out_a)
    early.meta.update(steps=60, best_step=30)
    models.save(early, tmp_path / "early.safetensors", meta=early.meta)
    train(
        _opts(
            tiny,
            out_c,
            "swishnet_slim",
            steps=0,
            init=tmp_path / "early.safetensors",
            overwrite=True,
        )
    )
    assert models.load(out_c).meta["initialised_from"]["steps"] == 30
    # weights trained with --config go on with their config, whole (the registry's width 1
    # would take only the tensors whose shape does not depend on it), and --config still
    # changes a field on top of the file's
    out_w = tmp_path / "w.safetensors"
    opts_w = _opts(tiny, out_w, "swishnet_slim", steps=1, init=out_a, config={"width": 2})
    train(opts_w)
    w = models.load(out_w)
    for init in (out_w, opts_w.checkpoint_path):
        out_d = tmp_path / "d.safetensors"
        train(_opts(tiny, out_d, "swishnet_slim", steps=0, init=init, overwrite=True))
        d = models.load(out_d)
        assert d.config == w.config and d.config.width == 2, init
        for k, v in w.state_dict().items():
            torch.testing.assert_close(d.state_dict()[k], v, atol=1e-4, rtol=1e-4)
    train(
        _opts(
            tiny, out_d, "swishnet_slim", steps=0, init=out_w, config={"width": 3}, overwrite=True
        )
    )
    assert models.load(out_d).config.width == 3
    # another model: a warm start of every tensor whose name and shape fit
    mitas = tmp_path / "mitas.safetensors"
    models.save(models.create("mitas"), mitas)
    out_t = tmp_path / "t.safetensors"
    train(_opts(tiny, out_t, "tsenet", steps=0, init=mitas, val_size=2))
    exported = models.load(out_t)
    src, tse = models.load(mitas).state_dict(), exported.state_dict()
    shared = [k for k in src if k in tse]
    assert len(shared) > 50 and "encoder.weight" in shared
    # the export's output scale is folded into the decoder (recorded to 0.001 dB)
    tse["decoder.weight"] /= _applied(exported.meta["output_scale"])
    for k in shared:
        tol = 2e-4 if k == "decoder.weight" else 0
        torch.testing.assert_close(src[k], tse[k], atol=0, rtol=tol)


def test_eval_set_builder_copies_held_out_real_clips(tmp_path: Path) -> None:
    src = make_tiny_corpus(tmp_path / "c", real=True, clips_per_source=2)
    rows = build_eval_set(src, tmp_path / "eval", speech_per_speaker=2, seconds=1.5)
    corpus = Corpus(tmp_path / "eval", _quiet)
    assert {r["split"] for r in corpus.rows} == {"test"}
    test_sources = {str(r["source"]) for r in Corpus(src, _quiet).select("test")}
    assert {str(r["source"]) for r in corpus.rows} <= test_sources
    speech = corpus.select("test", ("speech",))
    assert len(speech) == 4 and all(int(r["real"]) for r in speech)  # 2 speakers x 2 clips
    assert {r["kind"] for r in rows} == {"speech", "music", "noise"}
    for r in corpus.rows:
        limit = 1.5 if r["kind"] in ("speech", "music") else 3.0  # noise / events: 3 s clips
        assert r["path"].endswith(".flac") and corpus.audio(r).size <= limit * 16000 + 1


def test_eval_set_refreshes_one_kind_and_keeps_the_rest(tmp_path: Path) -> None:
    src = make_tiny_corpus(tmp_path / "c", real=True, clips_per_source=2)
    out = tmp_path / "eval"
    build_eval_set(src, out, speech_per_speaker=2, seconds=1.5)
    before = {r["path"]: r for r in Corpus(out, _quiet).rows}
    speech_bytes = {p: (out / p).read_bytes() for p, r in before.items() if r["kind"] != "noise"}
    rows = build_eval_set(src, out, seed=5, kinds=("noise",))
    after = {r["path"]: r for r in Corpus(out, _quiet).rows}
    assert {p: (out / p).read_bytes() for p in speech_bytes} == speech_bytes
    assert {p for p, r in after.items() if r["kind"] != "noise"} == set(speech_bytes)
    assert {r["kind"] for r in rows} >= {"speech", "noise"}
    assert any(r["kind"] == "noise" for r in after.values())
    files = {p.relative_to(out).as_posix() for p in out.rglob("*.flac")}
    assert files == set(after)  # replaced clips are deleted, nothing is orphaned


def _grow_tiny_corpus(src: Path, sources: list[tuple[str, str, str, str]]) -> None:
    """Append test-split rows ``(kind, label, source, copied from)`` to a tiny corpus, each a
    copy of one of its clips (the builder's ``--keep-splits`` adds sources this way)."""
    with open(src / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    by_path = {r["path"]: r for r in rows}
    for kind, label, source, copy_of in sources:
        rel = f"{kind}/test/{source.replace(':', '_')}.wav"
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src / copy_of, src / rel)
        real = "1" if kind == "speech" else "0"
        row = {**by_path[copy_of], "path": rel, "kind": kind, "label": label}
        rows.append({**row, "speaker": source, "source": source, "split": "test", "real": real})
    with open(src / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def test_eval_set_grows_with_the_corpus_and_keeps_its_clips(tmp_path: Path) -> None:
    src = make_tiny_corpus(tmp_path / "c", real=True, clips_per_source=2)
    noise = "noise/test/tiny_test_brown_0.wav"
    _grow_tiny_corpus(src, [("events", "rain", f"rec:rain{i}", noise) for i in range(2)])
    out = tmp_path / "eval"
    build_eval_set(src, out, speech_per_speaker=2, seconds=1.5)
    before = {r["path"]: (out / r["path"]).read_bytes() for r in Corpus(out, _quiet).rows}
    # the corpus grows: a third rain recording, a new class, a new real speaker
    speech = "speech/test/tiny_test_spk0_0.wav"
    _grow_tiny_corpus(
        src,
        [
            ("events", "rain", "rec:rain2", noise),
            *[("events", "dog", f"rec:dog{i}", noise) for i in range(4)],
            ("speech", "speech", "tiny:test:spk9", speech),
        ],
    )
    build_eval_set(src, out, kinds=("speech", "events"), grow=True)
    rows = Corpus(out, _quiet).rows
    assert {p: (out / p).read_bytes() for p in before} == before  # every clip kept as it was
    new = [r for r in rows if r["path"] not in before]
    got = sorted((r["label"], r["source"]) for r in new)
    assert got[-1] == ("speech", "tiny:test:spk9") and len(got) == 5
    assert [lab for lab, _ in got[:-1]] == ["dog", "dog", "dog", "rain"]  # 3 per class at most
    assert ("rain", "rec:rain2") in got
    assert len({src for _, src in got}) == 5  # no recording drawn twice
    again = build_eval_set(src, out, kinds=("speech", "events"), grow=True)
    assert len(again) == len(rows)  # nothing left to add
    files = {p.relative_to(out).as_posix() for p in out.rglob("*.flac")}
    assert files == {r["path"] for r in again}


def test_model_card_states_target_data_and_speed(
    tiny: Path, swish_run: tuple[Path, TrainOptions], tmp_path: Path
) -> None:
    out, _ = swish_run
    card = write_card("swishnet_slim", out, tiny, "a note", tmp_path / "card.md").read_text()
    for text in ("parameters", "MACs", "RTF", "target", "held-out", "manifest sha256", "a note"):
        assert text in card
    assert "target **met**" in card or "target **not met**" in card
    n = len(_train_sources(tiny))
    assert f"- sources learnt from, with those of its start weights and teachers: {n}," in card
    # speeds name the processor they were measured on
    assert f"| speed (1 thread of {cpu_name()}, {os.cpu_count()} logical cores) |" in card
    # the reproduce line carries the run's own hyper-parameters (swish_run: lr 5e-3)
    assert "--steps 60 --seed 0 --batch-size 8 --lr 0.005 --val-every 30" in card


def test_regenerating_a_card_keeps_its_notes_unless_told(
    swish_run: tuple[Path, TrainOptions], tmp_path: Path
) -> None:
    """Re-measuring a card (no --notes) must not lose the notes written by hand."""
    from rtaudio.train.card import card_notes

    out, _ = swish_run
    card = tmp_path / "card.md"
    notes = "- **Why:** first line\n  continued.\n\n- second bullet"
    write_card("swishnet_slim", out, None, notes, card)
    assert card_notes(card.read_text()) == notes
    write_card("swishnet_slim", out, None, out=card)  # regenerated: notes kept
    text = card.read_text()
    assert card_notes(text) == notes and text.count("## Notes") == 1
    assert "## Reproduce / continue" in text  # the section after the notes is not swallowed
    write_card("swishnet_slim", out, None, "", card)  # cleared on request
    assert "## Notes" not in card.read_text()
    for shipped in (Path(__file__).resolve().parents[1] / "models" / "weights").glob("*.md"):
        assert card_notes(shipped.read_text()), shipped.name  # every shipped card has notes


def test_model_card_states_speed_and_mixup_when_used(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "e.safetensors"
    train(_opts(tiny, out, "esresnet", steps=1, speed=0.15, mixup=0.4, class_power=0.0))
    card = write_card("esresnet", out, None, out=tmp_path / "e.md").read_text()
    assert "random speed in 1/1.15..1.15 (`--speed 0.15`)" in card
    assert "Beta(0.4, 0.4) (`--mixup 0.4`)" in card
    assert "--class-power 0 --speed 0.15 --mixup 0.4" in card


def test_model_card_paths_and_flags_carry_no_machine_folders() -> None:
    from rtaudio.train.card import _short_path, _train_flags

    root = Path(__file__).resolve().parents[1]
    assert (
        _short_path(root / "models" / "weights" / "m.safetensors") == "models/weights/m.safetensors"
    )
    assert _short_path("/srv/runs/run1/m.safetensors") == "run1/m.safetensors"
    assert _short_path("models/weights/m.safetensors") == "models/weights/m.safetensors"
    meta: dict[str, Any] = {"hparams": {"lr": 0.0005, "ema": None}}
    assert _train_flags(meta) == " --lr 0.0005"
    meta["initialised_from"] = {"from": "GPU run 1 (m.safetensors)"}  # a description
    assert _train_flags(meta) == " --lr 0.0005"
    meta["initialised_from"] = {"from": "/srv/runs/run1/m.ckpt"}
    assert _train_flags(meta) == " --lr 0.0005 --init run1/m.ckpt"


def test_model_card_shows_a_chain_of_fine_tunes(
    tiny: Path, swish_run: tuple[Path, TrainOptions], tmp_path: Path
) -> None:
    out_a, _ = swish_run
    out_b, out_c = tmp_path / "b.safetensors", tmp_path / "c.safetensors"
    train(_opts(tiny, out_b, "swishnet_slim", steps=0, init=out_a))
    train(_opts(tiny, out_c, "swishnet_slim", steps=0, init=out_b))
    card = write_card("swishnet_slim", out_c, None, out=tmp_path / "c.md").read_text()
    # run folder and file name only: no trace of this machine's folders
    assert f"| warm start | `{tmp_path.name}/b.safetensors`" in card
    assert f"| which had started from | `{out_a.parent.name}/{out_a.name}`" in card
    assert str(tmp_path) not in card


def test_exported_weights_say_how_the_run_stopped(tiny: Path, tmp_path: Path) -> None:
    """A run stopped by its time limit says so in the weights' metadata (and the card), a
    checkpoint exported while training goes on says that, and --resume clears the stop."""
    kw: dict[str, Any] = dict(batch_size=4, val_every=2, lr=3e-3)
    out = tmp_path / "s.safetensors"
    train(_opts(tiny, out, "swishnet_slim", steps=50, max_minutes=1e-9, **kw))
    step = load_checkpoint(out.with_suffix(".ckpt"))["state"]["step"]
    assert step < 50
    assert models.load(out).meta["stopped"] == f"time_limit at step {step}"
    export = tmp_path / "e.safetensors"
    ckpt = out.with_suffix(".ckpt")
    train(_opts(tiny, export, "swishnet_slim", checkpoint=ckpt, export_only=True, **kw))
    assert models.load(export).meta["stopped"] == f"time_limit at step {step}"
    train(_opts(tiny, out, "swishnet_slim", steps=step + 2, resume=True, overwrite=True, **kw))
    assert load_checkpoint(ckpt)["state"]["stopped"] == "steps"  # no longer time_limit
    train(_opts(tiny, export, "swishnet_slim", checkpoint=ckpt, export_only=True, overwrite=True))
    assert models.load(export).meta["stopped"] == "steps"


def test_test_data_scores_the_export_on_another_corpus(tiny: Path, tmp_path: Path) -> None:
    """--data a packed subset, --test-data the full corpus: the test metrics come from the
    latter and say so; the training device is recorded for the card."""
    full = tmp_path / "full"
    shutil.copytree(tiny, full)
    out = tmp_path / "t.safetensors"
    kw: dict[str, Any] = dict(batch_size=4, val_every=2, lr=3e-3, steps=2, test=True)
    train(_opts(tiny, out, "swishnet_slim", test_data=full, **kw))
    meta = models.load(out).meta
    assert meta["metrics"]["test_data"]["corpus"] == str(full)
    assert meta["metrics"]["test_data"]["manifest_sha256"] == Corpus(full).manifest_sha256
    assert 0.0 <= meta["metrics"]["test"]["accuracy"] <= 1.0
    # the threads it ran on are recorded, and the card says them
    threads = f"{torch.get_num_threads()} of {os.cpu_count()} threads"
    assert meta["data"]["corpus"] == str(tiny) and meta["device"] == f"cpu ({threads})"
    card = write_card("swishnet_slim", out, None, out=tmp_path / "t.md")
    assert f"test split of corpus `{full}`" in card.read_text()
    cores = f"of a machine with {os.cpu_count()} logical cores"
    assert re.search(
        rf"h wall time on (one CPU thread|\d+ CPU threads) {cores} \|", card.read_text()
    )


def test_config_overrides_make_a_variant(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "w.safetensors"
    kw: dict[str, Any] = dict(batch_size=4, val_every=2, steps=2)
    train(_opts(tiny, out, "swishnet_slim", config={"width": 3, "dilations": [1, 2]}, **kw))
    net = models.load(out)
    assert net.config.width == 3 and net.config.dilations == (1, 2)
    # recorded, and repeated by the card's reproduce line (as a shell word each)
    from rtaudio.train.card import _train_flags

    assert net.meta["hparams"]["config"] == {"width": 3, "dilations": [1, 2]}
    assert " --config dilations=[1,2] --config width=3" in _train_flags(net.meta)
    assert models.count_params(net) != models.count_params(models.create("swishnet_slim"))
    with pytest.raises(TrainError, match="new run"):  # the checkpoint holds its own config
        train(
            _opts(
                tiny, out, "swishnet_slim", config={"width": 2}, resume=True, overwrite=True, **kw
            )
        )
    base = ["train", "swishnet_slim", "--data", str(tiny), "--out", str(tmp_path / "v.safetensors")]
    for bad, said in (("width", "KEY=VALUE"), ("width=0", "width"), ("nope=1", "no field")):
        assert main([*base, "--config", bad, "--steps", "1"]) == 2
        err = capsys.readouterr().err
        assert said in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    for workers in ("-1", "65"):  # refused by the parser
        with pytest.raises(SystemExit) as e:
            main([*base, "--data-workers", workers, "--steps", "1"])
        err = capsys.readouterr().err
        assert e.value.code == 2 and "--data-workers: must be at least 0 and at most 64" in err
    with pytest.raises(TrainError, match=r"--data-workers must be 0\.\.64"):  # and by train()
        train(_opts(tiny, tmp_path / "u.safetensors", "swishnet_slim", data_workers=65, **kw))


def _corpus_copy(src: Path, dest: Path, change: Any) -> Path:
    """A copy of a corpus whose manifest rows pass through ``change`` (a rebuilt corpus)."""
    shutil.copytree(src, dest)
    with open(src / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    with open(dest / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(change(dict(r)) for r in rows)
    return dest


def _without_record(weights: Path, dest: Path) -> Path:
    """``weights`` as written before files recorded their training sources."""
    m = models.load(weights)
    models.save(m, dest, meta={k: v for k, v in m.meta.items() if k != "trained_on"})
    return dest


def _train_sources(corpus: Path) -> set[str]:
    with open(corpus / "manifest.csv", newline="") as f:
        return {r["source"] for r in csv.DictReader(f) if r["split"] == "train"}


def test_weights_record_the_sources_they_learnt_from_and_inherit_their_ancestors(
    tiny: Path, swish_run: tuple[Path, TrainOptions], tmp_path: Path
) -> None:
    out, _ = swish_run
    assert models.load(out).meta["trained_on"] == {
        "sources": sorted(_train_sources(tiny)),
        "complete": True,
    }

    def rename(r: dict[str, str]) -> dict[str, str]:
        r["source"] = r["speaker"] = "other:" + r["source"]
        return r

    other = _corpus_copy(tiny, tmp_path / "other", rename)
    # a fine-tune on another corpus learnt from both
    ft = tmp_path / "ft.safetensors"
    train(_opts(other, ft, "swishnet_slim", init=out, steps=2, val_every=1))
    rec = models.load(ft).meta["trained_on"]
    assert rec["sources"] == sorted(_train_sources(tiny) | _train_sources(other))
    assert rec["complete"] is True
    # an ancestor written before the record: what it learnt from is unknown
    bare = _without_record(out, tmp_path / "bare.safetensors")
    ft2 = tmp_path / "ft2.safetensors"
    train(_opts(other, ft2, "swishnet_slim", init=bare, steps=2, val_every=1))
    rec = models.load(ft2).meta["trained_on"]
    assert rec == {"sources": sorted(_train_sources(other)), "complete": False}
    # a distilled student learns from its teacher's sources too
    st = tmp_path / "st.safetensors"
    train(_opts(other, st, "swishnet_slim", teachers=(out,), steps=2, val_every=1))
    assert set(models.load(st).meta["trained_on"]["sources"]) >= _train_sources(tiny)


def test_evaluate_tells_and_leaves_out_sources_the_weights_learnt_from(
    tiny: Path,
    swish_run: tuple[Path, TrainOptions],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A rebuilt corpus moved a training speaker into test: evaluate says so, --unseen-only
    scores the test split without it (exactly the original test windows)."""
    from rtaudio.train import EvalOptions, evaluate

    out, _ = swish_run
    moved_src = "tiny:train:spk0"

    def move(r: dict[str, str]) -> dict[str, str]:
        if r["source"] == moved_src:
            r["split"] = "test"
        return r

    moved = _corpus_copy(tiny, tmp_path / "moved", move)
    opts = EvalOptions(model="swishnet_slim", data=moved, weights=out, live=False)
    rep = evaluate(opts)
    held = rep["held_out"]["files"][str(out)]
    assert held == {
        "recorded": True,
        "complete": True,
        "sources": 6,
        "seen": 1,
        "seen_examples": [moved_src],
    }
    clean = evaluate(
        EvalOptions(model="swishnet_slim", data=moved, weights=out, live=False, unseen_only=True)
    )
    original = evaluate(EvalOptions(model="swishnet_slim", data=tiny, weights=out, live=False))
    assert clean["held_out"]["left_out_sources"] == 1
    assert clean["n"] == original["n"] < rep["n"]
    assert clean["confusion"] == original["confusion"]
    # through the CLI: the count is printed; a file without a record cannot be filtered
    assert (
        main(
            [
                "evaluate",
                "swishnet_slim",
                "--data",
                str(moved),
                "--weights",
                str(out),
                "--png",
                "",
                "--no-live",
            ]
        )
        == 0
    )
    assert f"1 of the split's 6 sources are in {out}'s training" in capsys.readouterr().out
    bare = _without_record(out, tmp_path / "bare.safetensors")
    rc = main(
        [
            "evaluate",
            "swishnet_slim",
            "--data",
            str(moved),
            "--weights",
            str(bare),
            "--png",
            "",
            "--unseen-only",
        ]
    )
    assert rc == 2 and "does not record the sources it learnt from" in capsys.readouterr().err


def test_a_full_disk_stops_training_with_a_clear_error(tiny: Path, small_disk: Path) -> None:
    """A checkpoint the disk cannot take: torch.save said 'unexpected pos 608512 vs 608400'
    with a traceback. Now one message says the disk is full and what to do; no temporary file
    is left to fill it further."""
    out = small_disk / "sw.safetensors"
    with pytest.raises(DiskFullError) as e:
        train(_opts(tiny, out, "swishnet", steps=4, val_every=2))  # ~1.4 MB of checkpoint
    msg = str(e.value)
    assert f"cannot write the checkpoint {small_disk / 'sw.ckpt'}: no space left" in msg
    assert "run the same command again" in msg
    assert not list(small_disk.iterdir())


def test_eval_set_clips_cut_to_the_same_name_keep_their_own_files() -> None:
    """Two clips whose names share their first 60 characters once got one file (the second
    overwrote the first, which the set then scored twice)."""
    from rtaudio.train.evalset import _clip_name

    long = "speech-real-asterisk_armelle-asterisk-prompt-fr-armelle-0000"
    a = {"path": f"speech/test/x/{long}_004.wav", "kind": "speech"}
    b = {"path": f"speech/test/x/{long}_010.wav", "kind": "speech"}
    used: set[str] = set()
    names = []
    for row in (a, b):
        names.append(_clip_name(row, used))
        used.add(names[-1])
    assert len(set(names)) == 2 and all(n.startswith("speech/speech-real-") for n in names)
    short = {"path": "music/test/y/tune.wav", "kind": "music"}
    assert _clip_name(short, set()) == "music/tune.flac"
    assert _clip_name(short, {"music/tune.flac"}) != "music/tune.flac"


def test_foreign_checkpoints_are_refused_in_rtaudios_words(tmp_path: Path) -> None:
    """A zip that torch.save did not write, and a pickle of objects: a line of rtaudio's, not
    torch's C++ internals ('[enforce fail at inline_container.cc:180]') nor its advice to load
    the file with weights_only=False."""

    foreign = tmp_path / "foreign.ckpt"
    with zipfile.ZipFile(foreign, "w") as z:
        z.writestr("notes.txt", "hello")
    objects = tmp_path / "objects.ckpt"
    torch.save({"x": Path("/tmp")}, objects)  # an object of a class: pickled as one
    for path, why in (
        (foreign, "a zip archive, but not one torch.save wrote"),
        (objects, "it holds Python objects besides tensors, and a pickle could run code"),
    ):
        with pytest.raises(TrainError) as e:
            load_checkpoint(path)
        assert str(e.value) == f"{path}: not a readable training checkpoint ({why})"
