"""Causal time-domain separation: Conv-TasNet with MiTAS parameter sharing, and TseNet.

Both networks are encoder -> temporal convolutional network (TCN) mask estimator -> decoder:

* encoder: ``N`` learned filters of ``L`` samples at hop ``S``, ReLU;
* TCN: norm -> 1x1 bottleneck ``N -> B``, then ``R`` stacks of ``X`` blocks with dilations
  ``1, 2, ..., 2**(X-1)``. Each block: 1x1 ``B -> H`` -> PReLU -> norm -> depthwise conv
  (``P`` taps, causal) -> PReLU -> norm -> 1x1 residual ``H -> B`` and 1x1 skip ``H -> Sc``;
  the skip outputs are summed -> PReLU -> 1x1 ``Sc -> C*N`` -> sigmoid masks;
* decoder: transposed conv (overlap-add) of the masked encodings, one waveform per source.

MiTAS shares the TCN's depthwise and pointwise convs (each independently): ``none`` (every block
has its own), ``stacks`` (block ``x`` of every stack shares), ``dilations`` (all blocks of a
stack share) or ``all``. Norms and PReLUs stay per block. Variants are named
``mitas_<dw><pw>`` with letters u (none), s (stacks), d (dilations), b (all).

TseNet adds a speaker encoder that turns an enrollment clip into an embedding ``e`` (``E``
values, pooled over time). The TCN's first block of every stack sees ``[x ; e]`` (the embedding
repeated over time and concatenated on channels); its 1x1 conv over the concatenation is
computed as ``W_x x + W_e e``, which is the same linear map and lets streaming compute
``W_e e`` once per enrollment.

Streaming: ``forward`` returns estimates aligned with the input (``y[n]`` estimates the source
at ``n``). ``step`` emits exactly as many samples as it receives, delayed by
``latency = L - 1`` samples: the stream equals ``forward``'s output shifted right by
``latency``, whatever the chunk sizes, and never depends on input it has not received.

References:
    Luo & Mesgarani, "Conv-TasNet: Surpassing Ideal Time-Frequency Magnitude Masking for
    Speech Separation", IEEE/ACM TASLP 2019.
    Tuan, Wu, Lee & Tsao, "MiTAS: A Compressed Time-Domain Audio Separation Network with
    Parameter Sharing", 2019.
    Xu, Rao, Chng & Li, "Time-domain speaker extraction network" (TseNet), ASRU 2019.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import DepthwiseConv1d, Pointwise1d, SeparableConv1d, make_act
from .errors import ConfigError, StreamingError
from .norms import BatchNorm, Norm1d, check_causal_norm, make_norm
from .registry import register, register_family
from .streaming import State

SHARING = ("none", "stacks", "dilations", "all")
_LETTER = {"none": "u", "stacks": "s", "dilations": "d", "all": "b"}


@dataclass(frozen=True)
class MiTASConfig:
    """Conv-TasNet / MiTAS hyper-parameters (symbols of the Conv-TasNet paper).

    Attributes:
        enc_kernel: ``L``, encoder window in samples.
        enc_stride: ``S``, encoder hop in samples (``L`` must be a multiple of it).
        enc_channels: ``N``, encoder filters.
        bn_channels: ``B``, bottleneck / residual channels.
        hidden_channels: ``H``, channels inside each block.
        skip_channels: ``Sc``, skip-connection channels (0: no skip path; masks come from the
            residual path).
        kernel_size: ``P``, depthwise taps.
        layers: ``X``, blocks per stack (dilations ``1 .. 2**(X-1)``).
        stacks: ``R``, repeats of the stack.
        num_sources: ``C``, output waveforms (1 = voice from background).
        norm: ``cln`` or ``batch`` when causal; ``gln`` allowed only when not causal.
        causal: zero-lookahead TCN (streamable).
        mask_act: ``sigmoid`` or ``relu``.
        share_depthwise, share_pointwise: MiTAS sharing, one of ``none``, ``stacks``,
            ``dilations``, ``all``.
        sample_rate: rate the model was built for.
    """

    enc_kernel: int = 16
    enc_stride: int = 8
    enc_channels: int = 512
    bn_channels: int = 128
    hidden_channels: int = 512
    skip_channels: int = 128
    kernel_size: int = 3
    layers: int = 8
    stacks: int = 3
    num_sources: int = 2
    norm: str = "cln"
    causal: bool = True
    mask_act: str = "sigmoid"
    share_depthwise: str = "none"
    share_pointwise: str = "none"
    sample_rate: int = 16000

    def __post_init__(self) -> None:
        name = type(self).__name__
        for field in (
            "enc_kernel",
            "enc_stride",
            "enc_channels",
            "bn_channels",
            "hidden_channels",
            "kernel_size",
            "layers",
            "stacks",
            "num_sources",
            "sample_rate",
        ):
            if int(getattr(self, field)) < 1:
                raise ConfigError(f"{name}.{field} must be >= 1, got {getattr(self, field)}")
        if self.skip_channels < 0:
            raise ConfigError(f"{name}.skip_channels must be >= 0")
        if self.enc_kernel % self.enc_stride:
            raise ConfigError(
                f"{name}: enc_kernel ({self.enc_kernel}) must be a multiple of "
                f"enc_stride ({self.enc_stride})"
            )
        check_causal_norm(self.norm, self.causal, name)
        if self.mask_act not in ("sigmoid", "relu"):
            raise ConfigError(f"{name}.mask_act must be sigmoid or relu")
        for field in ("share_depthwise", "share_pointwise"):
            if getattr(self, field) not in SHARING:
                raise ConfigError(f"{name}.{field} must be one of {', '.join(SHARING)}")

    @property
    def latency(self) -> int:
        """Algorithmic latency of the stream in samples (``L - 1``)."""
        return self.enc_kernel - 1


@dataclass(frozen=True)
class TseNetConfig(MiTASConfig):
    """TseNet: a MiTAS separator plus a speaker encoder.

    Attributes:
        spk_channels: width of the speaker encoder.
        spk_layers: separable conv blocks in the speaker encoder (dilations 1, 2, 4...).
        spk_kernel: their depthwise taps.
        emb_dim: ``E``, speaker embedding size.
    """

    num_sources: int = 1
    spk_channels: int = 128
    spk_layers: int = 3
    spk_kernel: int = 3
    emb_dim: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_sources != 1:
            raise ConfigError("TseNetConfig.num_sources must be 1 (the target speaker)")
        for field in ("spk_channels", "spk_layers", "spk_kernel", "emb_dim"):
            if getattr(self, field) < 1:
                raise ConfigError(f"TseNetConfig.{field} must be >= 1")


M = TypeVar("M", bound=nn.Module)


def _typed(module: nn.Module, cls: type[M]) -> M:
    assert isinstance(module, cls)
    return module


def _bias(conv: nn.Conv1d) -> Tensor:
    if conv.bias is not None:
        return conv.bias
    return torch.zeros(conv.out_channels, dtype=conv.weight.dtype, device=conv.weight.device)


class _FusedBlock(NamedTuple):
    """One TCN block's weights laid out for time-major streaming."""

    w_in: Tensor
    b_in: Tensor
    a1: Tensor
    bn1_scale: Tensor | None
    bn1_shift: Tensor | None
    w_dw: Tensor  # P, H
    b_dw: Tensor
    a2: Tensor
    w_rs: Tensor  # residual and skip 1x1 convs stacked, norm2 folded in when it is a BN
    b_rs: Tensor


def _share_index(mode: str, r: int, x: int, layers: int) -> int:
    if mode == "none":
        return r * layers + x
    if mode == "stacks":
        return x
    if mode == "dilations":
        return r
    return 0


def _n_unique(mode: str, stacks: int, layers: int) -> int:
    return {"none": stacks * layers, "stacks": layers, "dilations": stacks, "all": 1}[mode]


class TCN(nn.Module):
    """The temporal convolutional network that estimates masks from encodings.

    Args:
        cfg: separator hyper-parameters.
        aux_channels: size of an auxiliary vector (TseNet's speaker embedding) joined to the
            input of the first block of every stack; 0 for none.
    """

    def __init__(self, cfg: MiTASConfig, aux_channels: int = 0) -> None:
        super().__init__()
        n, b, h, sc = cfg.enc_channels, cfg.bn_channels, cfg.hidden_channels, cfg.skip_channels
        self.cfg = cfg
        self.in_norm = make_norm(cfg.norm, n)
        self.bottleneck = Pointwise1d(n, b)
        pad = "causal" if cfg.causal else "same"
        n_dw = _n_unique(cfg.share_depthwise, cfg.stacks, cfg.layers)
        n_pw = _n_unique(cfg.share_pointwise, cfg.stacks, cfg.layers)
        self.pw_in = nn.ModuleList(Pointwise1d(b, h) for _ in range(n_pw))
        self.dw = nn.ModuleList(
            DepthwiseConv1d(h, cfg.kernel_size, padding=pad) for _ in range(n_dw)
        )
        self.pw_res = nn.ModuleList(Pointwise1d(h, b) for _ in range(n_pw))
        self.pw_skip = nn.ModuleList(Pointwise1d(h, sc) for _ in range(n_pw if sc else 0))
        n_blocks = cfg.stacks * cfg.layers
        self.act1 = nn.ModuleList(nn.PReLU() for _ in range(n_blocks))
        self.norm1 = nn.ModuleList(make_norm(cfg.norm, h) for _ in range(n_blocks))
        self.act2 = nn.ModuleList(nn.PReLU() for _ in range(n_blocks))
        self.norm2 = nn.ModuleList(make_norm(cfg.norm, h) for _ in range(n_blocks))
        self.aux = nn.ModuleList(
            Pointwise1d(aux_channels, h, bias=False)
            for _ in range(cfg.stacks if aux_channels else 0)
        )
        self.out_act = nn.PReLU()
        self.mask = Pointwise1d(sc or b, cfg.num_sources * n)
        self.mask_act = make_act(cfg.mask_act)
        # per block: (block index, dilation, depthwise index, pointwise index, stack or -1)
        self.plan = [
            (
                r * cfg.layers + x,
                2**x,
                _share_index(cfg.share_depthwise, r, x, cfg.layers),
                _share_index(cfg.share_pointwise, r, x, cfg.layers),
                r if (aux_channels and x == 0) else -1,
            )
            for r in range(cfg.stacks)
            for x in range(cfg.layers)
        ]
        self._fused_key: tuple[int, ...] = ()
        self._fused_cache: tuple[tuple[Tensor, Tensor], list[_FusedBlock]] | None = None

        self._tracked_cache: list[Tensor] | None = None

    @property
    def _tracked(self) -> list[Tensor]:
        if self._tracked_cache is None:
            self._tracked_cache = [*self.parameters(), *self.buffers()]
        return self._tracked_cache

    def forward(self, w: Tensor, aux: Tensor | None = None) -> Tensor:
        """Masks from encodings.

        Args:
            w: encoder output ``[B, N, K]``.
            aux: ``[B, E]`` auxiliary vector (TseNet embedding) or None.

        Returns:
            masks ``[B, C, N, K]``.
        """
        x = self.bottleneck(self.in_norm(w))  # B, B, K
        skip = None
        for i, d, idw, ipw, stack in self.plan:
            y = self.pw_in[ipw](x)
            if stack >= 0:
                assert aux is not None
                y = y + self.aux[stack](aux[:, :, None])
            y = self.norm1[i](self.act1[i](y))
            y = self.norm2[i](self.act2[i](self.dw[idw](y, d)))
            x = x + self.pw_res[ipw](y)
            if self.pw_skip:
                s = self.pw_skip[ipw](y)
                skip = s if skip is None else skip + s
        out = skip if skip is not None else x
        m = self.mask_act(self.mask(self.out_act(out)))  # B, C*N, K
        return m.view(m.shape[0], self.cfg.num_sources, self.cfg.enc_channels, -1)

    def aux_bias(self, aux: Tensor) -> list[Tensor]:
        """Per-stack ``W_e e`` terms ``[H, B]`` for streaming (computed once per embedding)."""
        return [_typed(conv, Pointwise1d).matrix() @ aux.T for conv in self.aux]

    def init_state(self, batch: int = 1) -> State:
        norm_states: list[State] = []
        for i, d, idw, _, _ in self.plan:
            norm_states.append(
                (
                    _typed(self.norm1[i], Norm1d).init_state(batch),
                    _typed(self.dw[idw], DepthwiseConv1d).init_state(batch, d),
                    _typed(self.norm2[i], Norm1d).init_state(batch),
                )
            )
        return (self.in_norm.init_state(batch), tuple(norm_states))

    def _fused(self) -> tuple[tuple[Tensor, Tensor], list[_FusedBlock]]:
        """Streaming weights: 2-D matrices, BatchNorms folded into the adjacent 1x1 convs.

        Cached, and rebuilt whenever any parameter or buffer changes (tensor version counters),
        so training or loading new weights can never leave a stale copy in use.
        """
        try:
            key = tuple(t._version for t in self._tracked)
        except RuntimeError:  # weights created under inference_mode track no versions
            key = ()
        if not key or self._fused_key != key or self._fused_cache is None:
            with torch.no_grad():
                w_b, b_b = self.bottleneck.matrix(), _bias(self.bottleneck.conv)
                if isinstance(self.in_norm, BatchNorm):  # W (x a + c) + b = (W a) x + (W c + b)
                    a, c = self.in_norm.affine()
                    w_b, b_b = w_b * a, b_b + w_b @ c
                head = (w_b.contiguous(), b_b)
                self._fused_cache = (head, [self._fuse_block(*p) for p in self.plan])
            self._fused_key = key
        return self._fused_cache

    def _fuse_block(self, i: int, d: int, idw: int, ipw: int, stack: int) -> _FusedBlock:
        dw = _typed(self.dw[idw], DepthwiseConv1d).conv
        pw_in = _typed(self.pw_in[ipw], Pointwise1d)
        pw_res = _typed(self.pw_res[ipw], Pointwise1d)
        w_rs, b_rs = pw_res.matrix(), _bias(pw_res.conv)
        if self.pw_skip:
            pw_skip = _typed(self.pw_skip[ipw], Pointwise1d)
            w_rs = torch.cat((w_rs, pw_skip.matrix()))
            b_rs = torch.cat((b_rs, _bias(pw_skip.conv)))
        norm2 = self.norm2[i]
        if isinstance(norm2, BatchNorm):  # W (y a + c) + b == (W a) y + (W c + b): exact
            a, c = norm2.affine()
            b_rs = b_rs + w_rs @ c
            w_rs = w_rs * a
        norm1 = self.norm1[i]
        bn1_scale, bn1_shift = norm1.affine() if isinstance(norm1, BatchNorm) else (None, None)
        return _FusedBlock(
            pw_in.matrix().contiguous(),
            _bias(pw_in.conv),
            _typed(self.act1[i], nn.PReLU).weight,
            bn1_scale,
            bn1_shift,
            dw.weight[:, 0].T.contiguous(),  # P, H
            _bias(dw),
            _typed(self.act2[i], nn.PReLU).weight,
            w_rs.contiguous(),
            b_rs,
        )

    def step(
        self, w: Tensor, state: State, aux_bias: list[Tensor] | None = None
    ) -> tuple[Tensor, State]:
        """Streaming masks: ``w`` is time-major ``[B, F, N]``; returns ``[B, F, C, N]``."""
        s_in, s_blocks = state
        (w_b, b_b), fused = self._fused()
        if isinstance(self.in_norm, BatchNorm):  # folded into the bottleneck
            x = F.linear(w, w_b, b_b)
        else:
            x, s_in = self.in_norm.step(w, s_in)
            x = F.linear(x, w_b, b_b)
        t = x.shape[1]
        nb = self.cfg.bn_channels
        p_taps = self.cfg.kernel_size
        skip: Tensor | None = None
        new_blocks: list[State] = []
        for (i, d, _, _, stack), s_block, f in zip(self.plan, s_blocks, fused, strict=True):
            s1, s_dw, s2 = s_block
            w_in, b_in, a1, bn1_scale, bn1_shift, w_dw, b_dw, a2, w_rs, b_rs = f
            y = F.linear(x, w_in, b_in)
            if stack >= 0:
                assert aux_bias is not None
                y = y + aux_bias[stack].T[:, None, :]
            y = F.prelu(y, a1)
            if bn1_scale is not None and bn1_shift is not None:
                y = torch.addcmul(bn1_shift, y, bn1_scale)
            else:
                norm1: Norm1d = self.norm1[i]  # type: ignore[assignment]
                y, s1 = norm1.step(y, s1)
            # causal depthwise conv over [history ; y] with dilation d (time-major)
            (cache,) = s_dw
            yc = torch.cat((cache, y), dim=1)
            s_dw = (yc[:, yc.shape[1] - cache.shape[1] :],)
            y = torch.addcmul(b_dw, yc[:, :t], w_dw[0])
            for j in range(1, p_taps):
                y = torch.addcmul(y, yc[:, j * d : j * d + t], w_dw[j])
            y = F.prelu(y, a2)
            if not isinstance(self.norm2[i], BatchNorm):  # else folded into w_rs
                norm2: Norm1d = self.norm2[i]  # type: ignore[assignment]
                y, s2 = norm2.step(y, s2)
            rs = F.linear(y, w_rs, b_rs)
            if self.pw_skip:
                x = x + rs[..., :nb]
                skip = rs[..., nb:] if skip is None else skip + rs[..., nb:]
            else:
                x = x + rs
            new_blocks.append((s1, s_dw, s2))
        out = skip if skip is not None else x
        m = self.mask_act(self.mask.step(self.out_act(out)))  # B, F, C*N
        return m.view(m.shape[0], m.shape[1], self.cfg.num_sources, -1), (s_in, tuple(new_blocks))


class _EncDecSeparator(nn.Module):
    """Shared encoder / decoder / streaming machinery of MiTAS and TseNet."""

    def __init__(self, cfg: MiTASConfig, aux_channels: int = 0) -> None:
        super().__init__()
        self.config = cfg
        n, L, S = cfg.enc_channels, cfg.enc_kernel, cfg.enc_stride
        self.encoder = nn.Conv1d(1, n, L, stride=S, bias=False)
        self.tcn = TCN(cfg, aux_channels)
        self.decoder = nn.ConvTranspose1d(n, 1, L, stride=S, bias=False)
        self.latency = cfg.latency

    def scale_output(self, gain: float) -> None:
        """Multiply every output (offline and streamed) by ``gain``, exactly: the decoder is
        linear and has no bias, so its weights carry the scale. SI-SNR training leaves the
        output's scale (and its sign) free; ``rtaudio train`` uses this to give speech back at
        its input level and polarity."""
        if not (gain != 0 and math.isfinite(gain)):
            raise ValueError(f"output gain must be a non-zero finite number, got {gain!r}")
        with torch.no_grad():
            self.decoder.weight.mul_(gain)

    # ------------------------------------------------------------------ offline
    def _separate(self, x: Tensor, aux: Tensor | None) -> Tensor:
        if x.dim() != 2:
            raise ValueError(f"expected a waveform [B, T], got shape {tuple(x.shape)}")
        cfg = self.config
        L, S, T = cfg.enc_kernel, cfg.enc_stride, x.shape[-1]
        right = (L - S) + (-T) % S
        w = F.relu(self.encoder(F.pad(x[:, None], (L - S, right))))  # B, N, K
        masks = self.tcn(w, aux)  # B, C, N, K
        b, c, n, k = masks.shape
        masked = (masks * w[:, None]).reshape(b * c, n, k)
        y = self.decoder(masked).view(b, c, -1)  # B, C, (K-1)S + L
        return y[..., L - S : L - S + T]

    # ---------------------------------------------------------------- streaming
    def _init_stream(self, batch: int, extra: State) -> State:
        cfg = self.config
        L, S, C = cfg.enc_kernel, cfg.enc_stride, cfg.num_sources
        p = self.encoder.weight
        z = torch.zeros
        return (
            z(batch, L - S, dtype=p.dtype, device=p.device),  # input not yet framed
            self.tcn.init_state(batch),
            z(batch, C, L - S, dtype=p.dtype, device=p.device),  # overlap-add tail
            z(batch, C, S - 1, dtype=p.dtype, device=p.device),  # output FIFO
            z((), dtype=torch.int64),  # decoded samples so far
            extra,
        )

    def _step(
        self, chunk: Tensor, state: State, aux_bias: list[Tensor] | None
    ) -> tuple[Tensor, State]:
        if chunk.dim() != 2:
            raise StreamingError(f"expected a chunk [B, t], got shape {tuple(chunk.shape)}")
        cfg = self.config
        L, S, C = cfg.enc_kernel, cfg.enc_stride, cfg.num_sources
        buf, s_tcn, tail, fifo, count, extra = state
        assert isinstance(buf, Tensor) and isinstance(tail, Tensor) and isinstance(fifo, Tensor)
        assert isinstance(count, Tensor)
        buf = torch.cat((buf, chunk), dim=-1)
        n_frames = (buf.shape[-1] - (L - S)) // S
        if n_frames > 0:
            frames = buf.unfold(-1, L, S)[:, :n_frames]  # B, F, L
            buf = buf[:, n_frames * S :]
            w = F.relu(frames @ self.encoder.weight[:, 0].T)  # B, F, N
            masks, s_tcn = self.tcn.step(w, s_tcn, aux_bias)  # B, F, C, N
            dec = (masks * w[:, :, None]) @ self.decoder.weight[:, 0]  # B, F, C, L
            b = dec.shape[0]
            pieces = dec.permute(0, 2, 1, 3).reshape(b, C, n_frames, L // S, S)
            out = torch.zeros(b, C, (n_frames - 1) * S + L, dtype=dec.dtype, device=dec.device)
            for j in range(L // S):
                out[..., j * S : j * S + n_frames * S] += pieces[..., j, :].reshape(b, C, -1)
            out[..., : L - S] += tail
            done, tail = out[..., : n_frames * S], out[..., n_frames * S :]
            lead = L - S - int(count)  # decoded samples before time 0 (left padding)
            if lead > 0:
                done = done.clone()
                done[..., :lead] = 0
            count = count + n_frames * S
            fifo = torch.cat((fifo, done), dim=-1)
        t = chunk.shape[-1]
        return fifo[..., :t], (buf, s_tcn, tail, fifo[..., t:], count, extra)


@register_family("mitas", MiTASConfig)
class MiTAS(_EncDecSeparator):
    """Conv-TasNet with MiTAS parameter sharing: ``[B, T]`` mixture -> ``[B, C, T]`` sources."""

    def __init__(self, cfg: MiTASConfig) -> None:
        super().__init__(cfg)

    def forward(self, mixture: Tensor) -> Tensor:
        return self._separate(mixture, None)

    def init_state(self, batch: int = 1) -> State:
        if not self.config.causal:
            raise StreamingError("this MiTAS config is not causal (causal=False); it cannot stream")
        return self._init_stream(batch, ())

    def step(self, chunk: Tensor, state: State) -> tuple[Tensor, State]:
        """Separate a chunk ``[B, t]`` -> ``[B, C, t]``, delayed by ``latency`` samples."""
        return self._step(chunk, state, None)


class SpeakerEncoder(nn.Module):
    """Enrollment clip -> speaker embedding ``[B, E]`` (non-causal, run once per enrollment).

    Encoder filters (shared with the separator's encoder) -> gLN -> 1x1 -> separable conv
    blocks with residuals (dilations 1, 2, 4...) -> 1x1 to ``E`` -> mean over time.
    """

    def __init__(self, cfg: TseNetConfig) -> None:
        super().__init__()
        n, c = cfg.enc_channels, cfg.spk_channels
        self.norm = make_norm("gln", n)
        self.proj_in = Pointwise1d(n, c)
        self.blocks = nn.ModuleList(
            SeparableConv1d(
                c, c, cfg.spk_kernel, dilation=2**i, padding="same", norm="batch", act="prelu"
            )
            for i in range(cfg.spk_layers)
        )
        self.proj_out = Pointwise1d(c, cfg.emb_dim)

    def forward(self, w: Tensor) -> Tensor:  # B, N, K -> B, E
        x = self.proj_in(self.norm(w))
        for block in self.blocks:
            x = x + block(x)
        return self.proj_out(x).mean(-1)


@register_family("tsenet", TseNetConfig)
class TseNet(_EncDecSeparator):
    """Target-speaker extraction: ``mixture [B, T]`` + embedding ``[B, E]`` -> ``[B, 1, T]``."""

    config: TseNetConfig

    def __init__(self, cfg: TseNetConfig) -> None:
        super().__init__(cfg, aux_channels=cfg.emb_dim)
        self.speaker = SpeakerEncoder(cfg)

    def embed(self, enrollment: Tensor) -> Tensor:
        """Speaker embedding ``[B, E]`` of an enrollment clip ``[B, Te]``."""
        if enrollment.dim() != 2 or enrollment.shape[-1] < self.config.enc_kernel:
            raise ValueError(
                f"enrollment must be [B, T] with T >= {self.config.enc_kernel}, "
                f"got {tuple(enrollment.shape)}"
            )
        w = F.relu(self.encoder(enrollment[:, None]))
        return self.speaker(w)

    def forward(
        self, mixture: Tensor, embedding: Tensor | None = None, enrollment: Tensor | None = None
    ) -> Tensor:
        if embedding is None:
            if enrollment is None:
                raise ValueError("TseNet needs an embedding or an enrollment clip")
            embedding = self.embed(enrollment)
        return self._separate(mixture, embedding)

    def init_state(self, batch: int = 1, embedding: Tensor | None = None) -> State:
        """Fresh stream for the target speaker ``embedding`` ``[B, E]`` (required)."""
        if not self.config.causal:
            raise StreamingError("this TseNet config is not causal; it cannot stream")
        if embedding is None:
            raise StreamingError("TseNet streaming needs the target's embedding (TseNet.embed)")
        if embedding.shape != (batch, self.config.emb_dim):
            raise StreamingError(
                f"embedding must be [{batch}, {self.config.emb_dim}], got {tuple(embedding.shape)}"
            )
        return self._init_stream(batch, tuple(self.tcn.aux_bias(embedding)))

    def step(self, chunk: Tensor, state: State) -> tuple[Tensor, State]:
        """Extract the target from a chunk ``[B, t]`` -> ``[B, 1, t]``, delayed by ``latency``."""
        aux_bias = list(state[-1])
        return self._step(chunk, state, aux_bias)


def _mitas_name(dw: str, pw: str) -> str:
    return f"mitas_{_LETTER[dw]}{_LETTER[pw]}"


_BASE = MiTASConfig()
register(
    "conv_tasnet", "mitas", _BASE, "Conv-TasNet causal base (N=512, L=16, X=8, R=3), 2 sources"
)
for _dw in SHARING:
    for _pw in SHARING:
        if _dw == "none" and _pw == "none":
            continue
        register(
            _mitas_name(_dw, _pw),
            "mitas",
            MiTASConfig(share_depthwise=_dw, share_pointwise=_pw),
            f"Conv-MiTAS on the base config: depthwise shared {_dw}, pointwise shared {_pw}",
        )

# The shipped live configs: sized for RTF <= 0.15 at 10 ms chunks on one CPU thread.
LIVE_MITAS = MiTASConfig(
    enc_kernel=32,
    enc_stride=16,
    enc_channels=128,
    bn_channels=64,
    hidden_channels=128,
    skip_channels=64,
    layers=6,
    stacks=2,
    num_sources=1,
    norm="batch",
    share_depthwise="none",
    share_pointwise="stacks",
)
register("mitas", "mitas", LIVE_MITAS, "live voice-from-background separator (1 source)")
register(
    "tsenet",
    "tsenet",
    TseNetConfig(
        **{
            k: getattr(LIVE_MITAS, k)
            for k in MiTASConfig.__dataclass_fields__
            if k != "num_sources"
        },
    ),
    "live target-speaker extractor",
)
