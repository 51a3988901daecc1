"""A preallocated single-producer / single-consumer ring buffer of audio frames.

The producer (an audio callback) only copies into it; if the block does not fit, the block is
dropped and counted as an overflow (nothing is allocated, nothing blocks). Indices only grow;
each side writes only its own index, so no lock is needed under the GIL.
"""

from __future__ import annotations

import numpy as np


class RingBuffer:
    def __init__(self, capacity: int, channels: int = 1) -> None:
        if capacity < 1 or channels < 1:
            raise ValueError("capacity and channels must be >= 1")
        self.capacity = capacity
        self.channels = channels
        self._buf = np.zeros((capacity, channels), np.float32)
        self.written = 0  # total frames written (producer)
        self.read_pos = 0  # total frames read (consumer)
        self.overflows = 0

    def available(self) -> int:
        return self.written - self.read_pos

    def write(self, block: np.ndarray) -> bool:
        """Copy ``block`` ``[n, channels]`` in; False (and count) if it does not fit."""
        n = block.shape[0]
        if n > self.capacity - (self.written - self.read_pos):
            self.overflows += 1
            return False
        i = self.written % self.capacity
        first = min(n, self.capacity - i)
        self._buf[i : i + first] = block[:first]
        if first < n:
            self._buf[: n - first] = block[first:]
        self.written += n
        return True

    def read(self, n: int) -> np.ndarray:
        """Take the oldest ``n`` frames (at most what is available) as a new array."""
        n = min(n, self.available())
        i = self.read_pos % self.capacity
        first = min(n, self.capacity - i)
        out = np.empty((n, self.channels), np.float32)
        out[:first] = self._buf[i : i + first]
        if first < n:
            out[first:] = self._buf[: n - first]
        self.read_pos += n
        return out

    def read_into(self, out: np.ndarray) -> int:
        """Fill ``out`` ``[n, channels]`` with the oldest frames; zeros after them. Returns
        the frames actually read (for an output callback: fewer than ``n`` is an underflow)."""
        n = min(out.shape[0], self.available())
        i = self.read_pos % self.capacity
        first = min(n, self.capacity - i)
        out[:first] = self._buf[i : i + first]
        if first < n:
            out[first:n] = self._buf[: n - first]
        out[n:] = 0
        self.read_pos += n
        return n

    def skip(self, n: int) -> int:
        n = min(n, self.available())
        self.read_pos += n
        return n
