"""Training batches by step number, drawn in this process or by a pool of worker processes.

Every step's batch comes from its own generator, ``default_rng((seed, step))``, so a batch
depends on nothing but the seed and the step: a resumed run draws the batches the
uninterrupted run would have drawn, and ``--data-workers N`` draws the very same batches as
``N = 0``, only ahead of time and in parallel (a GPU step is much faster than drawing,
mixing and augmenting a batch on one core).

Workers are forked after the first batch is drawn here, so the decoded corpus is loaded once
and shared with them copy-on-write. They only use numpy and CPU torch.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import multiprocessing as mp
from typing import Any

import numpy as np
import torch
from torch import Tensor

_TASK: Any = None  # the task of a worker process (inherited through fork)


def step_rng(seed: int, step: int) -> np.random.Generator:
    """The generator of one training step's batch."""
    return np.random.default_rng((int(seed), int(step)))


def _draw(seed: int, step: int, task: Any = None) -> tuple[np.ndarray, ...]:
    task = _TASK if task is None else task
    return tuple(t.numpy() for t in task.batch(step_rng(seed, step)))


def _worker_init() -> None:
    torch.set_num_threads(1)


class BatchSource:
    """``get(step)`` -> the batch of ``step``; with ``workers > 0``, up to ``2 * workers``
    later steps are drawn ahead by a process pool. Use as a context manager."""

    def __init__(self, task: Any, seed: int, workers: int = 0) -> None:
        if workers < 0:
            raise ValueError("workers must be >= 0")
        self.task = task
        self.seed = seed
        self.workers = workers
        self._pool: cf.ProcessPoolExecutor | None = None
        self._ahead: collections.OrderedDict[int, cf.Future[tuple[np.ndarray, ...]]] = (
            collections.OrderedDict()
        )

    def __enter__(self) -> BatchSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._ahead.clear()

    def _start(self) -> None:
        global _TASK
        _TASK = self.task
        self._pool = cf.ProcessPoolExecutor(
            self.workers, mp_context=mp.get_context("fork"), initializer=_worker_init
        )

    def get(self, step: int) -> tuple[Tensor, ...]:
        if self.workers == 0:
            return self.task.batch(step_rng(self.seed, step))
        if self._pool is None:
            batch = self.task.batch(step_rng(self.seed, step))  # loads the corpus here
            self._start()
            self._fill(step + 1)
            return batch
        fut = self._ahead.pop(step, None)
        arrays = fut.result() if fut is not None else _draw(self.seed, step, self.task)
        self._fill(step + 1)
        return tuple(torch.from_numpy(a) for a in arrays)

    def _fill(self, first: int) -> None:
        assert self._pool is not None
        for s in list(self._ahead):
            if s < first:  # a step that was skipped (cannot happen in the loop; be safe)
                self._ahead.pop(s).cancel()
        s = max(self._ahead, default=first - 1) + 1
        while len(self._ahead) < 2 * self.workers:
            self._ahead[s] = self._pool.submit(_draw, self.seed, s)
            s += 1
