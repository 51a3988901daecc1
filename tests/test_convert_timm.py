"""timm -> rtaudio weight conversion for mobilenetv1_100 and legacy_xception.

Without timm, the converters are exercised on synthetic state dicts written with timm's key
names, and checked against a small functional re-implementation of timm's forward (ReLU6
placement, Xception's ReLU-before-SepConv, max-pool padding, shortcut from the pre-ReLU
input). With timm installed, timm's own models (random weights) are converted and their
logits compared.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from rtaudio import models
from rtaudio.models import WeightsError, count_params
from rtaudio.models.convert_timm import (
    convert,
    convert_legacy_xception,
    convert_mobilenetv1,
    from_timm,
    to_timm,
)

SD = dict[str, Tensor]
BN_EPS = 1e-5


# ------------------------------------------------------- synthetic timm-named state dicts


def _add_bn(sd: SD, prefix: str, c: int, gen: torch.Generator) -> None:
    sd[f"{prefix}.weight"] = torch.rand(c, generator=gen) + 0.5
    sd[f"{prefix}.bias"] = torch.randn(c, generator=gen) * 0.1
    sd[f"{prefix}.running_mean"] = torch.randn(c, generator=gen) * 0.1
    sd[f"{prefix}.running_var"] = torch.rand(c, generator=gen) + 0.5
    sd[f"{prefix}.num_batches_tracked"] = torch.tensor(7)


def _conv(gen: torch.Generator, *shape: int) -> Tensor:
    fan_in = shape[1] * shape[2] * shape[3]
    return torch.randn(*shape, generator=gen) * (2.0 / fan_in) ** 0.5


def timm_mobilenetv1_sd(num_classes: int = 1000, in_chans: int = 3, seed: int = 0) -> SD:
    """timm mobilenetv1_100 layout: stages of dsa blocks [1, 2, 2, 6, 2]."""
    gen = torch.Generator().manual_seed(seed)
    sd: SD = {"conv_stem.weight": _conv(gen, 32, in_chans, 3, 3)}
    _add_bn(sd, "bn1", 32, gen)
    stages = [[64], [128, 128], [256, 256], [512] * 6, [1024, 1024]]
    c = 32
    for s, outs in enumerate(stages):
        for b, o in enumerate(outs):
            p = f"blocks.{s}.{b}"
            sd[f"{p}.conv_dw.weight"] = _conv(gen, c, 1, 3, 3)
            _add_bn(sd, f"{p}.bn1", c, gen)
            sd[f"{p}.conv_pw.weight"] = _conv(gen, o, c, 1, 1)
            _add_bn(sd, f"{p}.bn2", o, gen)
            c = o
    sd["classifier.weight"] = torch.randn(num_classes, 1024, generator=gen) * 0.03
    sd["classifier.bias"] = torch.randn(num_classes, generator=gen) * 0.1
    return sd


# (in, out, reps, stride, start_with_relu, grow_first) of timm legacy_xception's block1..12
XCEPTION_BLOCKS = (
    [(64, 128, 2, 2, False, True), (128, 256, 2, 2, True, True), (256, 728, 2, 2, True, True)]
    + [(728, 728, 3, 1, True, True)] * 8
    + [(728, 1024, 2, 2, True, False)]
)


def timm_xception_sd(num_classes: int = 1000, seed: int = 0) -> SD:
    gen = torch.Generator().manual_seed(seed)
    sd: SD = {"conv1.weight": _conv(gen, 32, 3, 3, 3)}
    _add_bn(sd, "bn1", 32, gen)
    sd["conv2.weight"] = _conv(gen, 64, 32, 3, 3)
    _add_bn(sd, "bn2", 64, gen)
    for n, (cin, cout, reps, stride, start_relu, grow_first) in enumerate(XCEPTION_BLOCKS, 1):
        p = f"block{n}"
        if cin != cout or stride != 1:
            sd[f"{p}.skip.weight"] = _conv(gen, cout, cin, 1, 1)
            _add_bn(sd, f"{p}.skipbn", cout, gen)
        j = 0 if start_relu else -1  # index in rep; timm drops the leading ReLU
        for i in range(reps):
            if grow_first:
                a, b = (cin if i == 0 else cout), cout
            else:
                a, b = cin, (cout if i == reps - 1 else cin)
            j += 1  # ReLU
            sd[f"{p}.rep.{j}.conv1.weight"] = _conv(gen, a, 1, 3, 3)
            sd[f"{p}.rep.{j}.pointwise.weight"] = _conv(gen, b, a, 1, 1)
            _add_bn(sd, f"{p}.rep.{j + 1}", b, gen)
            j += 2
    for n, (a, b) in ((3, (1024, 1536)), (4, (1536, 2048))):
        sd[f"conv{n}.conv1.weight"] = _conv(gen, a, 1, 3, 3)
        sd[f"conv{n}.pointwise.weight"] = _conv(gen, b, a, 1, 1)
        _add_bn(sd, f"bn{n}", b, gen)
    sd["fc.weight"] = torch.randn(num_classes, 2048, generator=gen) * 0.02
    sd["fc.bias"] = torch.randn(num_classes, generator=gen) * 0.1
    return sd


# ----------------------------------------------------- functional forward of timm's layout


def _bn(sd: SD, p: str, x: Tensor) -> Tensor:
    return F.batch_norm(
        x,
        sd[f"{p}.running_mean"],
        sd[f"{p}.running_var"],
        sd[f"{p}.weight"],
        sd[f"{p}.bias"],
        training=False,
        eps=BN_EPS,
    )


def ref_mobilenetv1(sd: SD, x: Tensor) -> Tensor:
    x = F.relu6(_bn(sd, "bn1", F.conv2d(x, sd["conv_stem.weight"], stride=2, padding=1)))
    stage = 0
    while f"blocks.{stage}.0.conv_dw.weight" in sd:
        b = 0
        while f"blocks.{stage}.{b}.conv_dw.weight" in sd:
            p = f"blocks.{stage}.{b}"
            w = sd[f"{p}.conv_dw.weight"]
            stride = 2 if b == 0 and stage > 0 else 1
            x = F.conv2d(x, w, stride=stride, padding=1, groups=w.shape[0])
            x = F.relu6(_bn(sd, f"{p}.bn1", x))
            x = F.relu6(_bn(sd, f"{p}.bn2", F.conv2d(x, sd[f"{p}.conv_pw.weight"])))
            b += 1
        stage += 1
    return F.linear(x.mean((2, 3)), sd["classifier.weight"], sd["classifier.bias"])


def _sep(sd: SD, p: str, x: Tensor) -> Tensor:
    w = sd[f"{p}.conv1.weight"]
    return F.conv2d(F.conv2d(x, w, padding=1, groups=w.shape[0]), sd[f"{p}.pointwise.weight"])


def ref_xception(sd: SD, x: Tensor) -> Tensor:
    x = F.relu(_bn(sd, "bn1", F.conv2d(x, sd["conv1.weight"], stride=2)))
    x = F.relu(_bn(sd, "bn2", F.conv2d(x, sd["conv2.weight"])))
    for n, (_, _, reps, stride, start_relu, _) in enumerate(XCEPTION_BLOCKS, 1):
        p = f"block{n}"
        y = x
        j = 0 if start_relu else -1
        for i in range(reps):
            if i > 0 or start_relu:
                y = F.relu(y)
            j += 1
            y = _bn(sd, f"{p}.rep.{j + 1}", _sep(sd, f"{p}.rep.{j}", y))
            j += 2
        if stride != 1:
            y = F.max_pool2d(y, 3, stride, 1)
        skip = x
        if f"{p}.skip.weight" in sd:
            skip = _bn(sd, f"{p}.skipbn", F.conv2d(x, sd[f"{p}.skip.weight"], stride=stride))
        x = y + skip
    x = F.relu(_bn(sd, "bn3", _sep(sd, "conv3", x)))
    x = F.relu(_bn(sd, "bn4", _sep(sd, "conv4", x)))
    return F.linear(x.mean((2, 3)), sd["fc.weight"], sd["fc.bias"])


# ------------------------------------------------------------------------------ no timm

CASES: list[tuple[str, Callable[..., SD], Callable[[SD, Tensor], Tensor], int]] = [
    ("mobilenetv1_100", timm_mobilenetv1_sd, ref_mobilenetv1, 4_231_976),
    ("legacy_xception", timm_xception_sd, ref_xception, 22_855_952),
]


@pytest.mark.parametrize(("arch", "make_sd", "ref", "params"), CASES)
def test_synthetic_round_trip_and_logits(
    arch: str, make_sd: Callable[..., SD], ref: Callable[[SD, Tensor], Tensor], params: int
) -> None:
    sd = make_sd()
    model = from_timm(arch, sd)
    assert count_params(model) == params
    assert not model.training
    back = to_timm(model)
    assert back.keys() == sd.keys()
    for k, v in sd.items():
        assert torch.equal(back[k], v), k
    x = torch.randn(2, 3, 72, 72)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(sd, x), rtol=1e-5, atol=1e-5)


def test_mobilenet_mapping_details() -> None:
    sd = timm_mobilenetv1_sd(num_classes=10, in_chans=1)
    config, ours = convert_mobilenetv1(sd, dropout=0.2)
    assert (config.num_classes, config.in_chans, config.alpha) == (10, 1, 1.0)
    assert config.act == "relu6" and config.dropout == 0.2 and config.mean == (0.5,)
    # the 6th block of stage 3 is Table 1's 11th separable layer
    assert torch.equal(ours["layers.10.pw.weight"], sd["blocks.3.5.conv_pw.weight"])
    assert torch.equal(ours["layers.0.mid_norm.running_var"], sd["blocks.0.0.bn1.running_var"])
    assert torch.equal(ours["stem_norm.bias"], sd["bn1.bias"])


def test_xception_mapping_details() -> None:
    sd = timm_xception_sd(num_classes=5)
    config, ours = convert_legacy_xception(sd)
    assert (config.num_classes, config.middle_blocks, config.width) == (5, 8, 1.0)
    assert config.input_size == (3, 299, 299) and config.crop_pct == 0.8975
    assert torch.equal(ours["entry.0.convs.1.dw.weight"], sd["block1.rep.3.conv1.weight"])
    assert torch.equal(ours["entry.1.convs.0.norm.weight"], sd["block2.rep.2.weight"])
    assert torch.equal(ours["middle.7.convs.2.pw.weight"], sd["block11.rep.7.pointwise.weight"])
    assert torch.equal(ours["exit_block.skip.1.running_mean"], sd["block12.skipbn.running_mean"])
    assert torch.equal(ours["exit.1.norm.bias"], sd["bn4.bias"])


def test_missing_num_batches_tracked_is_filled() -> None:
    sd = {k: v for k, v in timm_mobilenetv1_sd().items() if "num_batches" not in k}
    model = from_timm("mobilenetv1_100", sd)
    assert int(model.stem_norm.num_batches_tracked) == 0


def test_errors() -> None:
    sd = timm_mobilenetv1_sd(num_classes=10)
    with pytest.raises(WeightsError, match=re.escape("unexpected key 'conv_head.weight'")):
        convert("mobilenetv1_100", {**sd, "conv_head.weight": torch.zeros(1280, 1024, 1, 1)})
    bad = dict(sd)
    bad["blocks.2.1.conv_dw.weight"] = torch.zeros(256, 1, 5, 5)
    with pytest.raises(WeightsError, match=r"blocks\.2\.1\.conv_dw\.weight.*shape"):
        convert("mobilenetv1_100", bad)
    missing = {k: v for k, v in sd.items() if k != "blocks.4.1.conv_pw.weight"}
    with pytest.raises(WeightsError, match=re.escape("missing key 'blocks.4.1.conv_pw.weight'")):
        convert("mobilenetv1_100", missing)
    with pytest.raises(WeightsError, match=re.escape("no 'classifier.weight'")):
        convert("mobilenetv1_100", {k: v for k, v in sd.items() if "classifier" not in k})
    with pytest.raises(WeightsError, match="unsupported timm architecture"):
        convert("resnet50", sd)
    with pytest.raises(WeightsError, match=re.escape("no 'fc.weight'")):
        convert("legacy_xception", sd)  # a MobileNet dict given as Xception
    with pytest.raises(WeightsError, match="no timm layout"):
        to_timm(models.create("pydmobilenet"))


def test_converted_model_saves(tmp_path: Path) -> None:
    model = from_timm("mobilenetv1_100", timm_mobilenetv1_sd(num_classes=4))
    loaded = models.load(models.save(model, tmp_path / "m.safetensors"))
    assert loaded.config.act == "relu6"
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


# --------------------------------------------------------------------------------- timm


def _randomise_bn(model: torch.nn.Module) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)


@pytest.mark.parametrize(("arch", "side"), [("mobilenetv1_100", 128), ("legacy_xception", 160)])
def test_timm_logits_equal(arch: str, side: int) -> None:
    timm = pytest.importorskip("timm")
    ref = timm.create_model(arch, pretrained=False).eval()
    _randomise_bn(ref)
    model = from_timm(arch, ref.state_dict())
    assert count_params(model) == sum(p.numel() for p in ref.parameters())
    cfg = model.config
    pc = ref.pretrained_cfg
    assert cfg.input_size == tuple(pc["input_size"]) and cfg.crop_pct == pc["crop_pct"]
    assert cfg.interpolation == pc["interpolation"]
    assert cfg.mean == tuple(pc["mean"]) and cfg.std == tuple(pc["std"])
    x = torch.randn(2, 3, side, side)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x), rtol=1e-5, atol=1e-5)
    back = to_timm(model)
    assert back.keys() == ref.state_dict().keys()
