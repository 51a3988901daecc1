"""The shipped weights (``models/weights/*.safetensors``) on the fixed evaluation set in the repo.

``tests/data/eval`` holds held-out clips (``test`` split: speakers, tracks and recordings never
used in training; real recordings wherever the corpus has them), written by
``python -m rtaudio.train.evalset``. Each test loads a shipped file the way the engine does
(:func:`rtaudio.modelstore.load_model`), scores it with ``rtaudio evaluate``'s code, and checks
the level its model card reports. Where the issue's target is not reached yet, the target is a
separate ``xfail`` test, so the gap stays visible and a better checkpoint turns it green.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf
import torch

from rtaudio import models
from rtaudio.modelstore import load_model
from rtaudio.train import EvalOptions, evaluate
from rtaudio.weights import quality, weights_path

EVAL = Path(__file__).parent / "data" / "eval"

# test id -> (model, metric, level the shipped file reaches on tests/data/eval (card), target)
SHIPPED: dict[str, tuple[str, str, float, float]] = {
    # measured 0.884 offline / 0.883 live on this set of 189 windows (models/weights/swishnet.md;
    # 0.886 / 0.888 on 193 before a clip listed twice lost its second row, session 26);
    # target 95 % (held-out test splits: corpus v5 0.941 / 0.955 live, corpus v4 0.942 / 0.945
    # live, corpus v1 0.965 / 0.962 live). 0.898 / 0.904 before the set grew by three event
    # clips of corpus v5 (train, dog, door) in session 7.
    "swishnet-offline": ("swishnet", "accuracy", 0.88, 0.95),
    "swishnet-live": ("swishnet", "live.accuracy", 0.88, 0.95),
    # measured 0.583 mean per-class recall over 20 classes, 0.702 window accuracy (esresnet.md);
    # target 80 %. 0.630 / 0.722 over 19 classes before `train` joined the set (0 of 2 windows)
    "esresnet-per-class": ("esresnet", "balanced_accuracy", 0.57, 0.80),
    "esresnet-windows": ("esresnet", "accuracy", 0.69, 0.80),
    # measured 5.56 dB median SI-SNRi on 100 mixtures (mitas.md; 5.75 with the mixtures drawn
    # before the set lost its duplicated row); target 10 dB
    "mitas": ("mitas", "median_si_snri", 5.4, 10.0),
    # measured 1.96 dB median SI-SDRi on 100 two-speaker mixtures (tsenet.md; 2.97 with the
    # mixtures drawn before the set lost its duplicated row: this measure swings with the
    # draw); target 8 dB
    "tsenet": ("tsenet", "median_si_snri", 1.8, 8.0),
    # measured 0.921 accuracy on 189 windows (mobilenet_v1_025.md); target 90 %
    "mobilenet": ("mobilenet_v1_025", "accuracy", 0.90, 0.90),
    # measured 0.921 accuracy on 189 windows (xception_tiny.md): 174 right, 90 % needs 171 (the
    # file before it, 0.891, missed). Held-out test splits: corpus v5 0.956, v1 0.963. Target 90 %
    "xception": ("xception_tiny", "accuracy", 0.90, 0.90),
    # measured 0.915 accuracy on 189 windows (pydmobilenet.md): 173 right; held-out test split
    # of corpus v7 0.941. Target 90 %
    "pydmobilenet": ("pydmobilenet", "accuracy", 0.90, 0.90),
    # phoneme error rate (lower is better) on tests/data/g2p, 494 held-out words and 150
    # held-out names: words 0.0186, names 0.1179, all 0.0394 (slicenet_g2p.md; session 19's
    # file, which had not learnt the most used words by heart: 0.0152 / 0.1085 / 0.0346);
    # held-out test split of lexicon v3: words 0.0176 over 3,072, names 0.1207 over 456.
    # Target 8 % (set before training, for the words of the lexicon then: names count now
    # too, and are not there yet)
    "slicenet-g2p": ("slicenet_g2p", "per", 0.040, 0.08),
    "slicenet-g2p-words": ("slicenet_g2p", "by_kind.word.per", 0.019, 0.08),
    "slicenet-g2p-names": ("slicenet_g2p", "by_kind.name.per", 0.118, 0.08),
}
LOWER_IS_BETTER = {"per"}
DATA = {"slicenet_g2p": Path(__file__).parent / "data" / "g2p"}


def _reaches(metric: str, value: float, level: float) -> bool:
    return value <= level if metric.split(".")[-1] in LOWER_IS_BETTER else value >= level


def _shipped(name: str) -> Path:
    path = weights_path(name)
    if not path.exists():
        pytest.skip(f"{name}: no shipped weights")
    return path


_cache: dict[str, dict[str, Any]] = {}


def _metric(rep: dict[str, Any], key: str) -> float:
    """``accuracy`` or a dotted path such as ``live.accuracy``."""
    value: Any = rep
    for part in key.split("."):
        value = value[part]
    return float(value)


def _report(name: str) -> dict[str, Any]:
    if name not in _cache:
        path = _shipped(name)
        model, trained = load_model(name)
        assert trained
        assert model.meta["metrics"]["test"], "the card's held-out metrics are recorded"
        _cache[name] = evaluate(
            EvalOptions(
                model=name,
                data=DATA.get(name, EVAL),
                weights=path,
                mixtures=100,
                live=name == "swishnet",
            ),
            log=lambda s: None,
        )
    return _cache[name]


@pytest.mark.parametrize("case", sorted(SHIPPED))
def test_shipped_weights_reach_their_card_level(case: str) -> None:
    name, metric, level, _ = SHIPPED[case]
    rep = _report(name)
    assert _reaches(metric, _metric(rep, metric), level), rep


@pytest.mark.parametrize("case", sorted(SHIPPED))
def test_shipped_weights_reach_the_issue_target(case: str, request: pytest.FixtureRequest) -> None:
    name, metric, level, target = SHIPPED[case]
    if not _reaches(metric, level, target):
        request.applymarker(
            pytest.mark.xfail(reason=f"{name}: {metric} target {target} not reached yet (card)")
        )
    rep = _report(name)
    assert _reaches(metric, _metric(rep, metric), target), rep


def test_eval_set_is_small_and_held_out() -> None:
    files = [p for p in EVAL.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 4_000_000
    import csv

    with open(EVAL / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and {r["split"] for r in rows} == {"test"}
    speech = [r for r in rows if r["kind"] == "speech"]
    assert speech and all(r["real"] == "1" for r in speech)
    # one row per file, and each file the clip its row describes (two clips once shared a
    # name: one overwrote the other, which was then scored twice)
    assert len({r["path"] for r in rows}) == len(rows)
    for r in rows:
        assert (EVAL / r["path"]).is_file()
        assert sf.info(str(EVAL / r["path"])).duration == pytest.approx(
            float(r["duration"]), abs=1e-3
        )


@pytest.mark.parametrize("name", ["mitas", "tsenet"])
def test_the_cards_reproduce_line_draws_the_mixtures_it_reports(name: str) -> None:
    """The repo-set numbers are over 100 mixtures; `rtaudio evaluate` draws 200 by default
    (TseNet, on the set before session 26: 2.56 instead of the card's 2.97 dB), so the card's
    command must say 100."""
    card = weights_path(name).with_suffix(".md").read_text()
    repo = card.split("## Fixed evaluation set in the repository", 1)[1].split("\n## ", 1)[0]
    (n,) = re.findall(r"over (\d+) mixtures", repo)
    (cmd,) = re.findall(r"- reproduce: `([^`]*)`", repo)
    assert f"--mixtures {n}" in cmd and n == "100"


@pytest.mark.parametrize(
    "name",
    [
        "swishnet",
        "esresnet",
        "mitas",
        "tsenet",
        "mobilenet_v1_025",
        "xception_tiny",
        "pydmobilenet",
        "slicenet_g2p",
    ],
)
def test_the_quality_line_states_the_cards_held_out_number(name: str) -> None:
    """The window shows each model's held-out result (rtaudio.modelstore.quality): the number
    of the card's "held-out test split" row."""
    card = weights_path(name).with_suffix(".md").read_text()
    m = re.search(r"\| held-out test split \| (\w+) ([\d.]+):", card)
    assert m is not None
    metric, value = m.group(1), float(m.group(2))
    line = quality(name)
    if metric == "median_si_snri":
        assert line == f"{value:+.1f} dB median SI-SNRi on held-out mixtures"
    elif metric == "per":
        assert line == f"{100 * value:.1f} % phoneme errors on held-out words"
    else:
        assert line.startswith(f"{100 * value:.1f} % ")
        assert ("per class" in line) == (metric == "balanced_accuracy")


def test_quality_without_weights_or_metrics(tmp_path: Path) -> None:
    torch.manual_seed(0)
    assert quality("swishnet", tmp_path) == "untrained"
    models.save(models.create("swishnet"), tmp_path / "swishnet.safetensors")
    assert quality("swishnet", tmp_path) == "no held-out metrics recorded"
    meta = {"metrics": {"test": {"accuracy": 0.5, "balanced_accuracy": 0.4, "labels": [1, 2]}}}
    models.save(models.create("swishnet"), tmp_path / "swishnet.safetensors", meta=meta)
    assert quality("swishnet", tmp_path) == "50.0 % right on held-out sources"
    (tmp_path / "swishnet.safetensors").write_bytes(b"not safetensors")
    assert quality("swishnet", tmp_path) == "unreadable weights file"


def test_models_shipped_lists_every_weights_file_with_its_result(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from rtaudio.cli import main

    assert main(["models", "--shipped"]) == 0
    out = capsys.readouterr().out.splitlines()
    names = sorted(p.stem for p in weights_path("swishnet").parent.glob("*.safetensors"))
    rows = {line.split()[0]: line for line in out[1:]}
    assert sorted(rows) == names
    for name, line in rows.items():
        card = weights_path(name).with_suffix(".md").read_text()
        met = "target **met**" in card.split("| held-out test split |")[1].split("\n")[0]
        assert quality(name) in line
        assert line.endswith("target met" if met else "target not met")
    # --model picks among them (it was ignored: all nine listed); a name not shipped is a line
    assert main(["models", "--shipped", "--model", "mitas", "--model", "swishnet"]) == 0
    picked = capsys.readouterr().out.splitlines()[1:]
    assert [line.split()[0] for line in picked] == ["mitas", "swishnet"]
    assert main(["models", "--shipped", "--model", "conv_tasnet"]) == 2
    assert "no shipped weights for conv_tasnet (shipped: esresnet, " in capsys.readouterr().err
    # an unknown name is refused before the Markdown table's header is printed
    assert main(["models", "--markdown", "--model", ""]) == 2
    assert capsys.readouterr().out == ""
