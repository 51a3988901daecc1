"""SliceNet: a depthwise-separable convolutional sequence-to-sequence model over tokens.

Kaiser, Gomez & Chollet, "Depthwise Separable Convolutions for Neural Machine Translation",
ICLR 2018 (arXiv:1706.03059), section 3 ("Our architecture").

Notation of the paper (``d`` = dilation, ``s`` = stride, ``W^{k x 1}`` = a kernel of ``k`` taps)::

    ConvStep_{d,s}(W, x)  = LN(SepConv_{d,s}(W, ReLU(x)))                    # eq. 5
    hidden1(x) = ConvStep_{1,1}(W^{3x1},  x)
    hidden2(x) = x + ConvStep_{1,1}(W^{3x1},  hidden1(x))
    hidden3(x) = ConvStep_{4,1}(W^{15x1}, hidden2(x))
    hidden4(x) = x + ConvStep_{8,1}(W^{15x1}, hidden3(x))
    ConvModule(x) = Dropout(hidden4(x), 0.5) in training, hidden4(x) otherwise

    Attend(source, target) = Softmax(target . source^T / sqrt(depth)) . source
    timing(t, 2i) = sin(t / 10000^(2i/depth)),  timing(t, 2i+1) = cos(t / 10000^(2i/depth))
    attention1(x) = ConvStep_{1,1}(W^{5x1}, x + timing)
    Attention(source, target) = Attend(source, ConvStep_{4,1}(W^{5x1}, attention1(target)))

    InputEncoder(x)            = ConvModule^{N_enc}(x + timing)
    IOMixer(i, t)              = ConvStep_{1,1}(W^{3x1}, [Attention(i, t), t])
    AttnConvModule(x, source)  = ConvModule(x) + Attention(source, x)
    Decoder(x)                 = AttnConvModule^{N_dec}(x, InputEncoder(inputs))

``LN`` is a layer norm over the channels of each position. ``SepConv`` is
:class:`~.blocks.SeparableConv1d` (depthwise then pointwise): ``padding="same"`` in the input
encoder, ``padding="causal"`` (left padding only) everywhere in the decoder, so the decoder is
autoregressive. The ``1/sqrt(depth)`` re-scaling of ``Attend`` is applied to the logits of the
softmax, as in the reference implementation (tensor2tensor ``simple_attention``). Kernel sizes
and dilations of the four conv steps are configurable (the paper's (3, 3, 15, 15) and
(1, 1, 4, 8) by default). As in the reference implementation, the target embedding is scaled
by ``sqrt(depth)`` and shared with the output softmax (``tie_embeddings``), and source padding
(``pad_id``) is zeroed after every encoder conv step and masked out of the attention.

Layouts: tokens ``[B, T]``; offline features ``[B, C, T]``; logits ``[B, V, T]`` (time last, so
``F.cross_entropy(logits, y)`` works directly).

Teacher forcing: ``forward(source, target_in)`` where ``target_in`` is the decoder input, i.e. the
target shifted right behind ``bos_id`` (:func:`shift_right`); logits at position ``t`` predict
target token ``t`` and depend on ``target_in[:, :t + 1]`` only.

Streaming over target tokens (the decoder is causal)::

    memory = model.encode(source)             # encoded source and its padding bias
    state = model.init_state(batch, memory)   # the memory lives inside the explicit state
    logits, state = model.step(target_in_chunk, state)   # [B, T] -> [B, V, T]

Chunked ``step`` logits equal the teacher-forced ``forward`` logits. :meth:`SliceNet.greedy_decode`
is built on ``step``. State layout: ``(memory, position, mixer_state, module_states)`` with
``memory = (source_encoded [B, S, H], attention_bias [B, S])`` and ``position`` the number of
target tokens already consumed (``[1]`` int64, drives the timing signal).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import SeparableConv1d
from .errors import ConfigError, StreamingError
from .registry import register, register_family
from .streaming import State

NEG_INF = -1e9  # additive attention bias on source padding (finite: an all-pad row stays finite)


# ----------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class SliceNetConfig:
    """SliceNet hyper-parameters (defaults: the paper's module structure at ``depth`` 768).

    Args:
        src_vocab: source vocabulary size (includes ``pad_id``).
        tgt_vocab: target vocabulary size (includes ``pad_id``, ``bos_id``, ``eos_id``).
        hidden: depth ``H`` of every feature map (even: the timing signal pairs sin / cos).
        kernel_sizes: taps of the four conv steps ``hidden1..hidden4`` of a ConvModule.
        dilations: dilations ``d`` of the four conv steps.
        attn_kernel_sizes: taps of the two conv steps of the attention module.
        attn_dilations: dilations of the two conv steps of the attention module.
        mixer_kernel: taps of the IOMixer conv step.
        encoder_modules: ConvModules in the input encoder ``N_enc``.
        decoder_modules: AttnConvModules in the decoder ``N_dec``.
        dropout: dropout rate at the end of every ConvModule (training only).
        tie_embeddings: share the target embedding with the output softmax weights.
        pad_id, bos_id, eos_id: special target ids (``pad_id`` also pads the source).
        ln_eps: layer-norm epsilon.
    """

    src_vocab: int = 32768
    tgt_vocab: int = 32768
    hidden: int = 768
    kernel_sizes: tuple[int, ...] = (3, 3, 15, 15)
    dilations: tuple[int, ...] = (1, 1, 4, 8)
    attn_kernel_sizes: tuple[int, ...] = (5, 5)
    attn_dilations: tuple[int, ...] = (1, 4)
    mixer_kernel: int = 3
    encoder_modules: int = 6
    decoder_modules: int = 4
    dropout: float = 0.5
    tie_embeddings: bool = True
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    ln_eps: float = 1e-6

    def __post_init__(self) -> None:
        def is_int(v: object) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        for name in ("src_vocab", "tgt_vocab", "hidden", "mixer_kernel", "encoder_modules"):
            v = getattr(self, name)
            if not is_int(v) or v < 1:
                raise ConfigError(f"SliceNetConfig.{name} must be an int >= 1, got {v!r}")
        if not is_int(self.decoder_modules) or self.decoder_modules < 0:
            raise ConfigError(
                f"SliceNetConfig.decoder_modules must be an int >= 0, got {self.decoder_modules!r}"
            )
        if self.hidden % 2:
            raise ConfigError(
                f"SliceNetConfig.hidden must be even (the timing signal pairs sin and cos), "
                f"got {self.hidden}"
            )
        for name, n in (
            ("kernel_sizes", 4),
            ("dilations", 4),
            ("attn_kernel_sizes", 2),
            ("attn_dilations", 2),
        ):
            v = getattr(self, name)
            if not isinstance(v, tuple):
                raise ConfigError(f"SliceNetConfig.{name} must be a tuple, got {type(v).__name__}")
            if len(v) != n or not all(is_int(k) and k >= 1 for k in v):
                raise ConfigError(
                    f"SliceNetConfig.{name} must be {n} ints >= 1 (one per conv step), got {v!r}"
                )
        if not (isinstance(self.dropout, int | float) and 0.0 <= self.dropout < 1.0):
            raise ConfigError(f"SliceNetConfig.dropout must be in [0, 1), got {self.dropout!r}")
        if not (isinstance(self.ln_eps, int | float) and self.ln_eps > 0):
            raise ConfigError(f"SliceNetConfig.ln_eps must be > 0, got {self.ln_eps!r}")
        ids = {"pad_id": self.pad_id, "bos_id": self.bos_id, "eos_id": self.eos_id}
        for name, v in ids.items():
            if not is_int(v) or not 0 <= v < self.tgt_vocab:
                raise ConfigError(
                    f"SliceNetConfig.{name} must be an int in [0, tgt_vocab={self.tgt_vocab}), "
                    f"got {v!r}"
                )
        if len(set(ids.values())) != 3:
            raise ConfigError(f"SliceNetConfig: pad_id, bos_id and eos_id must differ, got {ids}")
        if self.pad_id >= self.src_vocab:
            raise ConfigError(
                f"SliceNetConfig.pad_id={self.pad_id} must be < src_vocab={self.src_vocab}"
            )


# ---------------------------------------------------------------------------------- helpers


def timing_signal(start: int | Tensor, length: int, channels: int, like: Tensor) -> Tensor:
    """Sinusoidal timing signal of the paper, rows ``start .. start + length - 1``.

    ``timing(t, 2i) = sin(t / 10000^(2i/H))``, ``timing(t, 2i+1) = cos(t / 10000^(2i/H))``.

    Returns:
        ``[length, channels]`` in ``like``'s dtype and device (computed in float64).
    """
    dev = like.device
    pos = torch.arange(length, device=dev, dtype=torch.float64)
    pos = pos + (start.to(dev, torch.float64) if isinstance(start, Tensor) else float(start))
    i2 = torch.arange(0, channels, 2, device=dev, dtype=torch.float64)
    angle = pos[:, None] * torch.pow(10000.0, -i2 / channels)[None]  # T, H/2
    sig = torch.stack((angle.sin(), angle.cos()), dim=-1).reshape(length, channels)
    return sig.to(like.dtype)


def shift_right(target: Tensor, bos_id: int) -> Tensor:
    """Decoder input for teacher forcing: ``[bos, y_0, ..., y_{T-2}]`` from ``y`` ``[B, T]``."""
    bos = torch.full_like(target[:, :1], bos_id)
    return torch.cat((bos, target[:, :-1]), dim=1)


def _tensor(s: Tensor | State) -> Tensor:
    assert isinstance(s, Tensor)
    return s


def _tuple(s: Tensor | State) -> State:
    assert isinstance(s, tuple)
    return s


class FrameLayerNorm(nn.Module):
    """``LN`` of the paper: layer norm over the channels of each position (causal, stateless)."""

    def __init__(self, channels: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:  # B, C, T
        return self.step(x.transpose(1, 2)).transpose(1, 2)

    def step(self, x: Tensor) -> Tensor:  # B, T, C
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)


class ConvStep(nn.Module):
    """``ConvStep_{d,1}(W^{k x 1}, x) = LN(SepConv_{d,1}(W, ReLU(x)))`` (eq. 5), ``[B, C, T]``."""

    def __init__(
        self, in_ch: int, out_ch: int, kernel: int, dilation: int, padding: str, eps: float
    ) -> None:
        super().__init__()
        self.conv = SeparableConv1d(in_ch, out_ch, kernel, dilation=dilation, padding=padding)
        self.norm = FrameLayerNorm(out_ch, eps)

    def forward(self, x: Tensor) -> Tensor:  # B, C, T
        return self.norm(self.conv(F.relu(x)))

    def init_state(self, batch: int = 1) -> State:
        return self.conv.init_state(batch)

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:  # B, T, C
        y, state = self.conv.step(F.relu(x), state)
        return self.norm.step(y), state


class ConvModule(nn.Module):
    """Four conv steps with two residuals and dropout (``hidden1..hidden4``), ``[B, H, T]``.

    ``mask`` (``[B, 1, T]``, 1 on real tokens) zeroes source padding after every conv step, so the
    encoding of a sequence does not depend on how much padding follows it.
    """

    def __init__(
        self,
        hidden: int,
        kernels: tuple[int, ...],
        dilations: tuple[int, ...],
        padding: str,
        dropout: float,
        eps: float,
    ) -> None:
        super().__init__()
        self.steps = nn.ModuleList(
            ConvStep(hidden, hidden, k, d, padding, eps)
            for k, d in zip(kernels, dilations, strict=True)
        )
        self.dropout = nn.Dropout(dropout)

    def _steps(self) -> list[ConvStep]:
        return [cast(ConvStep, s) for s in self.steps]

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:  # B, H, T
        steps = self._steps()

        def cs(i: int, h: Tensor) -> Tensor:
            y = steps[i](h)
            return y if mask is None else y * mask

        h2 = x + cs(1, cs(0, x))
        h4 = x + cs(3, cs(2, h2))
        return self.dropout(h4)

    def init_state(self, batch: int = 1) -> State:
        return tuple(s.init_state(batch) for s in self._steps())

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:  # B, T, H
        steps, s = self._steps(), [_tuple(si) for si in state]
        h1, s[0] = steps[0].step(x, s[0])
        y, s[1] = steps[1].step(h1, s[1])
        h2 = x + y
        h3, s[2] = steps[2].step(h2, s[2])
        y, s[3] = steps[3].step(h3, s[3])
        return x + y, tuple(s)  # dropout is the identity at inference


class AttentionModule(nn.Module):
    """``Attention(source, target)``: timing + two causal conv steps, then ``Attend``.

    Offline: target ``[B, H, T]``, source memory ``(enc [B, S, H], bias [B, S])`` -> ``[B, H, T]``.
    """

    def __init__(
        self, hidden: int, kernels: tuple[int, ...], dilations: tuple[int, ...], eps: float
    ) -> None:
        super().__init__()
        self.hidden = hidden
        self.conv1 = ConvStep(hidden, hidden, kernels[0], dilations[0], "causal", eps)
        self.conv2 = ConvStep(hidden, hidden, kernels[1], dilations[1], "causal", eps)

    def attend(self, query: Tensor, memory: State) -> Tensor:  # B, T, H -> B, T, H
        enc, bias = _tensor(memory[0]), _tensor(memory[1])
        scores = torch.matmul(query, enc.transpose(1, 2)) / math.sqrt(self.hidden)  # B, T, S
        weights = torch.softmax(scores + bias[:, None, :], dim=-1)
        return torch.matmul(weights, enc)

    def forward(self, target: Tensor, memory: State) -> Tensor:  # B, H, T
        timed = target + timing_signal(0, target.shape[-1], self.hidden, target).T
        q = self.conv2(self.conv1(timed))
        return self.attend(q.transpose(1, 2), memory).transpose(1, 2)

    def init_state(self, batch: int = 1) -> State:
        return (self.conv1.init_state(batch), self.conv2.init_state(batch))

    def step(
        self, target: Tensor, memory: State, position: Tensor, state: State
    ) -> tuple[Tensor, State]:  # B, T, H
        timed = target + timing_signal(position, target.shape[1], self.hidden, target)
        q, s1 = self.conv1.step(timed, _tuple(state[0]))
        q, s2 = self.conv2.step(q, _tuple(state[1]))
        return self.attend(q, memory), (s1, s2)


# ------------------------------------------------------------------------------------ model


class SliceNet(nn.Module):
    """SliceNet encoder / IO mixer / autoregressive decoder over token sequences.

    ``forward(source [B, S], target_in [B, T]) -> logits [B, V_tgt, T]`` (teacher forcing).
    """

    latency = 0

    def __init__(self, cfg: SliceNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        h = cfg.hidden
        self.src_embed = nn.Embedding(cfg.src_vocab, h)
        self.tgt_embed = nn.Embedding(cfg.tgt_vocab, h)
        for emb in (self.src_embed, self.tgt_embed):
            nn.init.normal_(emb.weight, 0.0, h**-0.5)  # scaled by sqrt(H) when used
        self.encoder = nn.ModuleList(
            ConvModule(h, cfg.kernel_sizes, cfg.dilations, "same", cfg.dropout, cfg.ln_eps)
            for _ in range(cfg.encoder_modules)
        )
        self.mixer_attention = AttentionModule(
            h, cfg.attn_kernel_sizes, cfg.attn_dilations, cfg.ln_eps
        )
        self.mixer = ConvStep(2 * h, h, cfg.mixer_kernel, 1, "causal", cfg.ln_eps)
        self.decoder = nn.ModuleList(
            ConvModule(h, cfg.kernel_sizes, cfg.dilations, "causal", cfg.dropout, cfg.ln_eps)
            for _ in range(cfg.decoder_modules)
        )
        self.decoder_attention = nn.ModuleList(
            AttentionModule(h, cfg.attn_kernel_sizes, cfg.attn_dilations, cfg.ln_eps)
            for _ in range(cfg.decoder_modules)
        )
        self.out_proj = None if cfg.tie_embeddings else nn.Linear(h, cfg.tgt_vocab, bias=False)
        self.out_bias = nn.Parameter(torch.zeros(cfg.tgt_vocab))

    # ---------------------------------------------------------------- pieces (offline)

    def _check_tokens(self, tokens: Tensor, vocab: int, what: str) -> None:
        if tokens.dim() != 2 or tokens.dtype not in (torch.int64, torch.int32):
            raise ValueError(
                f"{what} must be integer tokens [B, T], got {tuple(tokens.shape)} {tokens.dtype}"
            )
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= vocab):
            raise ValueError(f"{what} tokens must lie in [0, {vocab})")

    def encode(self, source: Tensor) -> State:
        """``InputEncoder``: source tokens ``[B, S]`` -> memory ``(enc [B, S, H], bias [B, S])``."""
        self._check_tokens(source, self.cfg.src_vocab, "source")
        h = self.cfg.hidden
        keep = (source != self.cfg.pad_id).to(self.src_embed.weight.dtype)  # B, S
        mask = keep[:, None, :]  # B, 1, S
        x = self.src_embed(source).transpose(1, 2) * math.sqrt(h)  # B, H, S
        x = (x + timing_signal(0, source.shape[1], h, x).T) * mask
        for module in self.encoder:
            x = module(x, mask) * mask
        bias = (1.0 - keep) * NEG_INF
        return (x.transpose(1, 2), bias)

    def embed_target(self, target_in: Tensor) -> Tensor:
        """Decoder input tokens ``[B, T]`` -> scaled embeddings ``[B, H, T]``."""
        self._check_tokens(target_in, self.cfg.tgt_vocab, "target")
        return self.tgt_embed(target_in).transpose(1, 2) * math.sqrt(self.cfg.hidden)

    def _decoder_pairs(self) -> list[tuple[ConvModule, AttentionModule]]:
        return [
            (cast(ConvModule, m), cast(AttentionModule, a))
            for m, a in zip(self.decoder, self.decoder_attention, strict=True)
        ]

    def _out_weight(self) -> Tensor:
        return self.tgt_embed.weight if self.out_proj is None else self.out_proj.weight

    def decode(self, target_emb: Tensor, memory: State) -> Tensor:
        """IOMixer + Decoder + softmax logits: ``[B, H, T]`` embeddings -> ``[B, V, T]``."""
        a = self.mixer_attention(target_emb, memory)
        x = self.mixer(torch.cat((a, target_emb), dim=1))  # B, H, T
        for module, attn in self._decoder_pairs():
            x = module(x) + attn(x, memory)
        return F.linear(x.transpose(1, 2), self._out_weight(), self.out_bias).transpose(1, 2)

    def forward(self, source: Tensor, target_in: Tensor) -> Tensor:
        """Teacher-forced logits ``[B, V_tgt, T]`` from source ``[B, S]`` and input ``[B, T]``."""
        if source.shape[0] != target_in.shape[0]:
            raise ValueError(
                f"batch mismatch: source {source.shape[0]}, target {target_in.shape[0]}"
            )
        return self.decode(self.embed_target(target_in), self.encode(source))

    # ------------------------------------------------------------------------ streaming

    def init_state(self, batch: int = 1, memory: State | None = None) -> State:
        """Fresh decoder state holding ``memory = self.encode(source)``."""
        if memory is None:
            raise StreamingError(
                "SliceNet decodes conditioned on a source: "
                "use model.init_state(batch, model.encode(source))"
            )
        enc = _tensor(memory[0])
        if enc.shape[0] != batch:
            raise StreamingError(f"memory batch {enc.shape[0]} != stream batch {batch}")
        position = torch.zeros(1, dtype=torch.int64, device=enc.device)
        mixer_state = (self.mixer_attention.init_state(batch), self.mixer.init_state(batch))
        module_states = tuple(
            (m.init_state(batch), a.init_state(batch)) for m, a in self._decoder_pairs()
        )
        return (memory, position, mixer_state, module_states)

    def step(self, target_in: Tensor, state: State) -> tuple[Tensor, State]:
        """Next decoder-input tokens ``[B, T]`` -> logits ``[B, V_tgt, T]`` and the new state."""
        if self.training and self.cfg.dropout > 0:
            raise StreamingError("put the model in eval mode before step() (dropout)")
        memory, position = _tuple(state[0]), _tensor(state[1])
        mixer_state, module_states = _tuple(state[2]), _tuple(state[3])
        enc = _tensor(memory[0])
        if target_in.shape[0] != enc.shape[0]:
            raise StreamingError(f"chunk batch {target_in.shape[0]} != state batch {enc.shape[0]}")
        x_emb = self.embed_target(target_in).transpose(1, 2)  # B, T, H
        a, s_attn = self.mixer_attention.step(x_emb, memory, position, _tuple(mixer_state[0]))
        x, s_mix = self.mixer.step(torch.cat((a, x_emb), dim=-1), _tuple(mixer_state[1]))
        new_modules = []
        for (module, attn), s in zip(self._decoder_pairs(), module_states, strict=True):
            s = _tuple(s)
            c, s_m = module.step(x, _tuple(s[0]))
            a, s_a = attn.step(x, memory, position, _tuple(s[1]))
            x = c + a
            new_modules.append((s_m, s_a))
        logits = F.linear(x, self._out_weight(), self.out_bias).transpose(1, 2)
        new_state = (memory, position + target_in.shape[1], (s_attn, s_mix), tuple(new_modules))
        return logits, new_state

    @torch.no_grad()
    def greedy_decode(self, source: Tensor, max_len: int) -> Tensor:
        """Greedy autoregressive decoding with :meth:`step`, one token at a time.

        Args:
            source: source tokens ``[B, S]`` (padded with ``pad_id``).
            max_len: most target tokens to emit.

        Returns:
            ``[B, max_len]`` target tokens (no leading ``bos_id``); after a sequence emits
            ``eos_id`` the rest of its row is ``pad_id``. Stops early once every row has ended.
        """
        cfg = self.cfg
        was_training = self.training
        self.eval()
        try:
            b = source.shape[0]
            state = self.init_state(b, self.encode(source))
            out = torch.full((b, max_len), cfg.pad_id, dtype=torch.int64, device=source.device)
            token = torch.full((b, 1), cfg.bos_id, dtype=torch.int64, device=source.device)
            done = torch.zeros(b, dtype=torch.bool, device=source.device)
            for t in range(max_len):
                logits, state = self.step(token, state)
                nxt = logits[:, :, -1].argmax(dim=1)
                nxt = torch.where(done, torch.full_like(nxt, cfg.pad_id), nxt)
                out[:, t] = nxt
                done = done | (nxt == cfg.eos_id)
                if bool(done.all()):
                    break
                token = nxt[:, None]
            return out
        finally:
            self.train(was_training)


@register_family("slicenet", SliceNetConfig)
def build_slicenet(cfg: SliceNetConfig) -> SliceNet:
    return SliceNet(cfg)


register(
    "slicenet",
    "slicenet",
    SliceNetConfig(
        src_vocab=12,
        tgt_vocab=12,
        hidden=64,
        kernel_sizes=(3, 3, 5, 5),
        dilations=(1, 1, 2, 4),
        attn_kernel_sizes=(3, 3),
        attn_dilations=(1, 2),
        encoder_modules=2,
        decoder_modules=1,
        dropout=0.0,
    ),
    "SliceNet toy/small config (vocab 12, depth 64, 2 encoder + 1 decoder modules): "
    "for copy/reverse toy tasks and tests, not translation",
)
register(
    "slicenet_base",
    "slicenet",
    SliceNetConfig(),
    "SliceNet base (Kaiser et al. 2017): depth 768, kernels 3-3-15-15, dilations 1-1-4-8, "
    "6 encoder + 4 decoder modules, 32k vocab, dropout 0.5",
)
register(
    "slicenet_big",
    "slicenet",
    SliceNetConfig(hidden=2048),
    "SliceNet full-separable depth 2048 (Kaiser et al. 2017, table 3; about 348M params)",
)
register(
    "slicenet_g2p",
    "slicenet",
    SliceNetConfig(
        src_vocab=27,
        tgt_vocab=70,
        hidden=192,
        kernel_sizes=(3, 3, 5, 5),
        dilations=(1, 1, 2, 4),
        attn_kernel_sizes=(3, 3),
        attn_dilations=(1, 2),
        encoder_modules=3,
        decoder_modules=2,
        dropout=0.1,
    ),
    "SliceNet grapheme-to-phoneme (English words to eSpeak NG en-us phonemes): letters a-z in, "
    "67 phoneme / stress tokens out, depth 192, 3 encoder + 2 decoder modules",
)
