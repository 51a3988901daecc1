"""Parameter and multiply-accumulate counters.

MACs are counted with :class:`torch.utils.flop_counter.FlopCounterMode` over one forward pass
(every matmul and convolution, shared weights counted at each use) and halved: one MAC is one
multiply plus one add. Norms, activations and elementwise ops are not counted, as in the papers.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of distinct parameters (a shared tensor counts once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@torch.no_grad()
def count_macs(model: nn.Module, *inputs: Tensor, **kwargs: Any) -> int:
    """Multiply-accumulates of ``model(*inputs, **kwargs)`` in eval mode."""
    was_training = model.training
    model.eval()
    try:
        counter = FlopCounterMode(display=False)
        with counter:
            model(*inputs, **kwargs)
        return counter.get_total_flops() // 2
    finally:
        model.train(was_training)
