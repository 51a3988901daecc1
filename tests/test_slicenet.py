"""SliceNet (Kaiser, Gomez & Chollet 2017): toy learning, streaming, causality, I/O, configs."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from rtaudio import models
from rtaudio.models import ConfigError, StreamingError
from rtaudio.models.slicenet import SliceNet, SliceNetConfig, shift_right, timing_signal
from tests.streaming_utils import random_chunks

PAD, BOS, EOS = 0, 1, 2


def make_model(**overrides: object) -> SliceNet:
    model = models.create("slicenet", **overrides)
    assert isinstance(model, SliceNet)
    return model


def reverse_batch(n: int, gen: torch.Generator, vocab: int = 12) -> tuple[Tensor, Tensor]:
    """Source: random symbols 3..vocab-1, length 6-10, PAD-padded to 10.

    Target: the source reversed, then EOS, PAD-padded to 11.
    """
    lens = torch.randint(6, 11, (n,), generator=gen)
    src = torch.full((n, 10), PAD, dtype=torch.long)
    tgt = torch.full((n, 11), PAD, dtype=torch.long)
    for i, length in enumerate(lens.tolist()):
        s = torch.randint(3, vocab, (length,), generator=gen)
        src[i, :length] = s
        tgt[i, :length] = s.flip(0)
        tgt[i, length] = EOS
    return src, tgt


def random_tokens(b: int, t: int, vocab: int, gen: torch.Generator) -> Tensor:
    return torch.randint(0, vocab, (b, t), generator=gen)


def padded_source(gen: torch.Generator, b: int = 3, s: int = 9, vocab: int = 12) -> Tensor:
    src = torch.randint(3, vocab, (b, s), generator=gen)
    src[0, 6:] = PAD  # one shorter, padded sequence
    return src


# ------------------------------------------------------------------------------ learning


def test_toy_reverse_greedy_accuracy_under_a_minute() -> None:
    """Reverse sequences of length 6-10 (vocab 12); GREEDY decoding must exceed 95 % tokens."""
    t0 = time.perf_counter()
    model = make_model()
    gen = torch.Generator().manual_seed(1)
    steps, lr = 250, 3e-3
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    model.train()
    first_loss = None
    for _ in range(steps):
        src, tgt = reverse_batch(32, gen)
        loss = F.cross_entropy(model(src, shift_right(tgt, BOS)), tgt, ignore_index=PAD)
        first_loss = first_loss if first_loss is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    src, tgt = reverse_batch(256, torch.Generator().manual_seed(123))
    out = model.greedy_decode(src, max_len=tgt.shape[1])
    elapsed = time.perf_counter() - t0
    real = tgt != PAD  # symbols and EOS
    acc = ((out == tgt) & real).sum().item() / real.sum().item()
    print(f"slicenet toy reverse: greedy token accuracy {acc:.4f}, wall {elapsed:.1f} s")
    assert first_loss is not None and first_loss > 1.5  # it really started from chance
    assert acc > 0.95, f"greedy token accuracy {acc:.3f}"
    assert elapsed < 50.0, f"toy training took {elapsed:.1f} s"
    assert model.training  # greedy_decode restores the mode


def test_greedy_decode_is_argmax_of_teacher_forcing_on_its_own_output() -> None:
    model = make_model(dropout=0.3).eval()
    gen = torch.Generator().manual_seed(2)
    src = padded_source(gen)
    out = model.greedy_decode(src, max_len=7)
    assert out.shape == (3, 7) and out.dtype == torch.int64
    with torch.no_grad():
        pred = model(src, shift_right(out, BOS)).argmax(1)
    for b in range(3):
        row = out[b].tolist()
        end = row.index(EOS) + 1 if EOS in row else len(row)
        assert row[end:] == [PAD] * (len(row) - end)
        assert pred[b, :end].tolist() == row[:end]


# ----------------------------------------------------------------------------- streaming


@pytest.mark.parametrize(
    "overrides",
    [{}, {"decoder_modules": 2, "tie_embeddings": False, "dropout": 0.5, "src_vocab": 20}],
)
def test_chunked_step_equals_teacher_forced_forward(overrides: dict[str, object]) -> None:
    model = make_model(**overrides).eval()
    gen = torch.Generator().manual_seed(3)
    src = padded_source(gen)
    tgt_in = random_tokens(3, 23, 12, gen)
    with torch.no_grad():
        offline = model(src, tgt_in)
        memory = model.encode(src)
        for chunks in ([23], [1] * 23, random_chunks(23, gen, 6), [5, 1, 17]):
            state = model.init_state(3, memory)
            outs, t = [], 0
            for c in chunks:
                y, state = model.step(tgt_in[:, t : t + c], state)
                assert y.shape == (3, 12, c)
                outs.append(y)
                t += c
            streamed = torch.cat(outs, dim=-1)
            err = (streamed - offline).abs().max().item()
            assert err <= 1e-5 * max(1.0, offline.abs().max().item()), (chunks, err)


def test_init_state_is_a_reset() -> None:
    model = make_model().eval()
    gen = torch.Generator().manual_seed(4)
    src = padded_source(gen)
    tgt_in = random_tokens(3, 6, 12, gen)
    memory = model.encode(src)
    with torch.no_grad():
        first, _ = model.step(tgt_in, model.init_state(3, memory))
        _, used = model.step(random_tokens(3, 4, 12, gen), model.init_state(3, memory))
        assert not torch.equal(model.step(tgt_in, used)[0], first)  # history matters
        again, _ = model.step(tgt_in, model.init_state(3, memory))
    torch.testing.assert_close(again, first, rtol=0, atol=0)


def test_streaming_errors() -> None:
    model = make_model(dropout=0.1)
    src = torch.randint(3, 12, (2, 5))
    with pytest.raises(StreamingError, match="encode"):
        model.init_state(2)
    with pytest.raises(StreamingError, match="batch"):
        model.init_state(3, model.encode(src))
    with pytest.raises(StreamingError, match="eval"):
        model.step(torch.ones(2, 1, dtype=torch.long), model.init_state(2, model.encode(src)))
    model.eval()
    with pytest.raises(StreamingError, match="batch"):
        model.step(torch.ones(1, 1, dtype=torch.long), model.init_state(2, model.encode(src)))
    with pytest.raises(ValueError, match="tokens"):
        model(src, torch.full((2, 3), 12))


# ------------------------------------------------------------------------------ causality


@pytest.mark.parametrize("cut", [1, 4, 9])
def test_decoder_causal_by_gradient(cut: int) -> None:
    """Logits at positions < cut get no gradient from target embeddings at positions >= cut."""
    model = make_model(decoder_modules=2).eval()
    gen = torch.Generator().manual_seed(5)
    src = padded_source(gen)
    emb = model.embed_target(random_tokens(3, 12, 12, gen)).detach().requires_grad_(True)
    logits = model.decode(emb, model.encode(src))
    logits[..., :cut].pow(2).sum().backward()
    assert emb.grad is not None
    assert emb.grad[..., :cut].abs().amax(dim=(0, 1)).min().item() > 0  # every past step matters
    assert emb.grad[..., cut:].abs().max().item() == 0


def test_future_tokens_do_not_change_past_logits() -> None:
    model = make_model().eval()
    gen = torch.Generator().manual_seed(6)
    src = padded_source(gen)
    a = random_tokens(3, 10, 12, gen)
    b = a.clone()
    b[:, 6:] = (a[:, 6:] + 1) % 12
    with torch.no_grad():
        la, lb = model(src, a), model(src, b)
    torch.testing.assert_close(la[..., :6], lb[..., :6], rtol=0, atol=0)
    assert not torch.allclose(la[..., 6:], lb[..., 6:])


def test_decoder_depends_on_the_source() -> None:
    model = make_model().eval()
    gen = torch.Generator().manual_seed(7)
    src = padded_source(gen)
    other = src.clone()
    other[:, 2] = (src[:, 2] - 2) % 9 + 3
    tgt_in = random_tokens(3, 5, 12, gen)
    with torch.no_grad():
        assert not torch.allclose(model(src, tgt_in)[..., :1], model(other, tgt_in)[..., :1])


def test_encoding_ignores_trailing_padding() -> None:
    model = make_model().eval()
    gen = torch.Generator().manual_seed(8)
    src = torch.randint(3, 12, (2, 7), generator=gen)
    padded = torch.cat((src, torch.zeros(2, 5, dtype=torch.long)), dim=1)
    tgt_in = random_tokens(2, 6, 12, gen)
    with torch.no_grad():
        enc, _ = model.encode(src)
        enc_p, bias_p = model.encode(padded)
        # float32 sums of another length round differently (1.5e-6 seen on one CPU); a
        # padding leak would move the encoding by orders of magnitude more
        torch.testing.assert_close(enc_p[:, :7], enc, rtol=0, atol=1e-5)
        assert enc_p[:, 7:].abs().max().item() == 0 and (bias_p[:, 7:] < -1e8).all()
        torch.testing.assert_close(model(padded, tgt_in), model(src, tgt_in), rtol=0, atol=1e-5)


def test_timing_signal_matches_the_paper() -> None:
    like = torch.zeros(1)
    sig = timing_signal(3, 4, 8, like)  # positions 3..6
    t, i = 5.0, 1  # row of position 5, channels 2i and 2i + 1
    assert sig.shape == (4, 8)
    assert sig[2, 2 * i].item() == pytest.approx(math.sin(t / 10000 ** (2 * i / 8)), abs=1e-6)
    assert sig[2, 2 * i + 1].item() == pytest.approx(math.cos(t / 10000 ** (2 * i / 8)), abs=1e-6)
    torch.testing.assert_close(timing_signal(torch.tensor([3]), 4, 8, like), sig)


# ------------------------------------------------------------------- registry, size, I/O


def test_registry_and_param_counts() -> None:
    assert {"slicenet", "slicenet_base", "slicenet_big"} <= set(models.list_models())
    assert "toy" in models.get_variant("slicenet").description
    toy = make_model()
    assert models.count_params(toy) < 100_000
    with torch.device("meta"):
        big = models.create("slicenet_big")
        base = models.create("slicenet_base")
    # paper, table 3: SliceNet (Full, 2048) has 348M parameters
    assert abs(models.count_params(big) / 348e6 - 1) < 0.03
    assert 70e6 < models.count_params(base) < 90e6
    # tied output softmax: no separate output matrix
    untied = make_model(tie_embeddings=False)
    assert models.count_params(untied) - models.count_params(toy) == 12 * 64


def test_count_macs_runs() -> None:
    model = make_model()
    src, tgt = torch.randint(3, 12, (1, 10)), torch.randint(1, 12, (1, 11))
    assert models.count_macs(model, src, tgt) > 0


@pytest.mark.parametrize("overrides", [{}, {"tie_embeddings": False, "hidden": 32}])
def test_save_load_round_trip(tmp_path: Path, overrides: dict[str, object]) -> None:
    model = make_model(**overrides).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    path = models.save(model, tmp_path / "slicenet.safetensors", meta={"task": "reverse"})
    loaded = models.load(path, family="slicenet")
    assert isinstance(loaded, SliceNet) and not loaded.training
    assert loaded.cfg == model.cfg and loaded.meta == {"task": "reverse"}
    if model.cfg.tie_embeddings:
        assert loaded.out_proj is None
    gen = torch.Generator().manual_seed(9)
    src, tgt_in = padded_source(gen), random_tokens(3, 8, 12, gen)
    with torch.no_grad():
        torch.testing.assert_close(loaded(src, tgt_in), model(src, tgt_in), rtol=0, atol=0)
    assert torch.equal(loaded.greedy_decode(src, 6), model.greedy_decode(src, 6))


# -------------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"hidden": 63}, "even"),
        ({"hidden": 0}, "hidden"),
        ({"kernel_sizes": (3, 3, 5)}, "kernel_sizes"),
        ({"kernel_sizes": [3, 3, 5, 5]}, "tuple"),
        ({"dilations": (1, 0, 2, 4)}, "dilations"),
        ({"attn_kernel_sizes": (3,)}, "attn_kernel_sizes"),
        ({"encoder_modules": 0}, "encoder_modules"),
        ({"decoder_modules": -1}, "decoder_modules"),
        ({"dropout": 1.0}, "dropout"),
        ({"bos_id": 0}, "differ"),
        ({"eos_id": 12}, "eos_id"),
        ({"src_vocab": 0}, "src_vocab"),
        ({"ln_eps": 0.0}, "ln_eps"),
        ({"num_heads": 8}, "no field"),
    ],
)
def test_config_errors(overrides: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        models.create("slicenet", **overrides)


def test_config_is_frozen_and_defaults_follow_the_paper() -> None:
    cfg = SliceNetConfig()
    assert cfg.kernel_sizes == (3, 3, 15, 15) and cfg.dilations == (1, 1, 4, 8)
    assert cfg.attn_kernel_sizes == (5, 5) and cfg.attn_dilations == (1, 4)
    assert (cfg.encoder_modules, cfg.decoder_modules, cfg.dropout) == (6, 4, 0.5)
    with pytest.raises(AttributeError):
        cfg.hidden = 8
