"""The streaming protocol shared by every causal model.

A causal model exposes::

    state = model.init_state(batch=1)
    out, state = model.step(chunk, state)

State is explicit: a (possibly nested) tuple of tensors that goes in and comes out, never a
hidden buffer on the module. A fresh ``init_state()`` is a reset. Chunked ``step`` output equals
the offline ``forward`` output (delayed by the model's ``latency`` samples where it has one).

:class:`Streamer` is the thin stateful wrapper that callers use: it validates chunks, owns the
state and offers ``reset()``.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeAlias, runtime_checkable

import torch
from torch import Tensor

from .errors import StreamingError

# nested tuples of tensors (kept loose so models can unpack their own layout)
State: TypeAlias = tuple[Any, ...]


@runtime_checkable
class StreamingModule(Protocol):
    """Anything with ``init_state`` and ``step``."""

    def init_state(self, batch: int = 1) -> State: ...

    def step(self, chunk: Tensor, state: State) -> tuple[Tensor, State]: ...


def state_to(state: State, device: torch.device | str) -> State:
    """Move every tensor of a nested state to ``device``."""
    return tuple(s.to(device) if isinstance(s, Tensor) else state_to(s, device) for s in state)


def state_tensors(state: State) -> list[Tensor]:
    """Flatten a nested state into its tensors (for inspection and tests)."""
    out: list[Tensor] = []
    for s in state:
        if isinstance(s, Tensor):
            out.append(s)
        else:
            out.extend(state_tensors(s))
    return out


class Streamer:
    """Stateful wrapper around a :class:`StreamingModule`.

    Args:
        model: a causal model in eval mode.
        batch: batch size of the stream.
        time_dim: the axis of ``chunk`` that is time (``-1`` for waveforms ``[B, T]``,
            ``-1`` for feature frames ``[B, C, T]``).
        min_chunk: smallest accepted chunk length along ``time_dim``.
    """

    def __init__(
        self, model: StreamingModule, batch: int = 1, time_dim: int = -1, min_chunk: int = 1
    ) -> None:
        if isinstance(model, torch.nn.Module) and model.training:
            raise StreamingError("put the model in eval mode before streaming (model.eval())")
        self.model = model
        self.batch = batch
        self.time_dim = time_dim
        self.min_chunk = min_chunk
        self.state = model.init_state(batch)

    def reset(self) -> None:
        """Forget all history; the next chunk is processed as the start of a new stream."""
        self.state = self.model.init_state(self.batch)

    @torch.inference_mode()
    def __call__(self, chunk: Tensor) -> Tensor:
        if chunk.shape[0] != self.batch:
            raise StreamingError(f"chunk batch {chunk.shape[0]} != stream batch {self.batch}")
        if chunk.shape[self.time_dim] < self.min_chunk:
            raise StreamingError(
                f"chunk of {chunk.shape[self.time_dim]} steps is shorter than {self.min_chunk}"
            )
        if not torch.isfinite(chunk).all():
            raise StreamingError("chunk contains NaN or inf")
        out, self.state = self.model.step(chunk, self.state)
        return out
