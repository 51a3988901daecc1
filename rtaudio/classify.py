"""Sliding-window classifiers behind lookahead buffers, and the silence gate.

Time is counted in 16 kHz samples since the stream started. A classifier labels consecutive
spans of ``hop`` samples; span ``k`` is ``[k*hop, (k+1)*hop)``. Its label is computed from a
window of audio ending at ``E = (k+1)*hop + lookahead`` and is emitted only once ``E`` samples
have arrived, so a label never uses audio past its span end + lookahead, and is never emitted
before that audio exists. A span whose RMS level is below the silence threshold is labelled
``silence`` without running the classifier.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

import numpy as np
import torch

from rtaudio.audiofile import level_db as level_db
from rtaudio.config import SAMPLE_RATE
from rtaudio.features import FeatureConfig, Frames
from rtaudio.results import Label

SILENCE = "silence"


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return np.asarray(e / e.sum())


class AudioHistory:
    """The last ``capacity`` samples of the stream, addressed by absolute sample index."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._buf = np.zeros(capacity, np.float32)
        self.end = 0  # absolute index one past the newest sample

    def push(self, x: np.ndarray) -> None:
        n = x.size
        if n >= self.capacity:
            self._buf[:] = x[-self.capacity :]
        else:
            self._buf = np.roll(self._buf, -n)
            self._buf[-n:] = x
        self.end += n

    def get(self, start: int, stop: int) -> np.ndarray:
        """Samples ``[start, stop)``; zeros before the stream began."""
        if stop > self.end or max(start, 0) < self.end - self.capacity:
            raise ValueError(f"samples [{start}, {stop}) are not in the history")
        out = np.zeros(stop - start, np.float32)
        lo = max(start, 0)
        if stop > lo:
            a = self.capacity - (self.end - lo)
            out[lo - start :] = self._buf[a : a + stop - lo]
        return out


class Tagger:
    """Base: span scheduling, silence gate, label construction."""

    name: str

    def __init__(
        self,
        name: str,
        labels: tuple[str, ...],
        hop_ms: float,
        lookahead_ms: float,
        window_ms: float,
        silence_db: float,
    ) -> None:
        self.name = name
        self.labels = labels
        self.hop = round(hop_ms * SAMPLE_RATE / 1000)
        self.lookahead = round(lookahead_ms * SAMPLE_RATE / 1000)
        self.window = round(window_ms * SAMPLE_RATE / 1000)
        self.silence_db = silence_db
        self.next_span = 0
        self.ms = 0.0  # compute time spent in the last update
        self.background_ms: list[float] = []  # off-chunk-path time of the last update's labels

    @property
    def history_needed(self) -> int:
        return self.window + self.hop + self.lookahead

    def reset(self) -> None:
        self.next_span = 0

    def forget_before(self, oldest: int) -> None:
        """Give up the spans that need samples before ``oldest``: audio the engine dropped
        for longer than the history holds. They get no label; labelling resumes with the
        first span whose span and window are still in the history."""
        if oldest <= 0:
            return
        first = max(
            -(-oldest // self.hop), -(-(oldest + self.window - self.lookahead) // self.hop) - 1
        )
        self.next_span = max(self.next_span, first)

    def due_spans(self, audio: AudioHistory) -> list[int]:
        """Spans whose window has fully arrived, from the oldest the history can still serve."""
        received = audio.end
        self.forget_before(received - audio.capacity)
        out = []
        while (self.next_span + 1) * self.hop + self.lookahead <= received:
            out.append(self.next_span)
            self.next_span += 1
        return out

    def on_frames(self, frames: Frames) -> None:
        """Feature frames completed by the newest chunk (used by frame-based taggers)."""

    def scores(self, window_start: int, window_end: int, audio: AudioHistory) -> np.ndarray:
        raise NotImplementedError

    def span(self, k: int, received: int) -> tuple[dict[str, Any], int, int]:
        """Label fields of span ``k`` (emitted at ``received``) and its window ``[start, end)``."""
        start, end = k * self.hop, (k + 1) * self.hop
        w_end = end + self.lookahead
        w_start = w_end - self.window
        common = dict(
            model=self.name,
            start=start / SAMPLE_RATE,
            end=end / SAMPLE_RATE,
            lookahead=self.lookahead / SAMPLE_RATE,
            window=(max(0, w_start) / SAMPLE_RATE, w_end / SAMPLE_RATE),
            emitted_at=received / SAMPLE_RATE,
        )
        return common, w_start, w_end

    def silent(self, k: int, audio: AudioHistory) -> bool:
        return level_db(audio.get(k * self.hop, (k + 1) * self.hop)) < self.silence_db

    def label(self, common: dict[str, Any], p: np.ndarray | None) -> Label:
        """The label of a span from its class probabilities (None: the silence gate)."""
        if p is None:
            return Label(label=SILENCE, scores={}, **common)
        scores = {lab: float(v) for lab, v in zip(self.labels, p, strict=True)}
        return Label(label=self.labels[int(np.argmax(p))], scores=scores, **common)

    def flush(self, received: int) -> list[Label]:
        """Labels still being computed off the chunk path (none for an inline tagger)."""
        return []

    def close(self) -> None:
        """Release what the tagger holds besides its model (an inline tagger holds nothing)."""

    def update(self, audio: AudioHistory) -> list[Label]:
        out: list[Label] = []
        received = audio.end
        for k in self.due_spans(audio):
            common, w_start, w_end = self.span(k, received)
            silent = self.silent(k, audio)
            out.append(self.label(common, None if silent else self.scores(w_start, w_end, audio)))
        return out


class SwishNetTagger(Tagger):
    """SwishNet streamed frame by frame (causal); a label averages the per-frame logits of the
    frames whose analysis windows lie inside the label's window."""

    def __init__(
        self,
        model: Any,
        features: FeatureConfig,
        hop_ms: float,
        lookahead_ms: float,
        window_ms: float,
        silence_db: float,
    ) -> None:
        labels = tuple(model.config.labels)
        super().__init__("swishnet", labels, hop_ms, lookahead_ms, window_ms, silence_db)
        self.model = model
        self.features = features
        self.state = model.init_state(1)
        n_frames = self.history_needed // features.hop_length + 4
        self._logits: deque[tuple[int, np.ndarray]] = deque(maxlen=n_frames)
        self._offline: np.ndarray | None = None  # [F, classes] for whole-file inference

    def reset(self) -> None:
        super().reset()
        self.state = self.model.init_state(1)
        self._logits.clear()
        self._offline = None

    def load_offline(self, mfcc: np.ndarray) -> None:
        """Whole-file inference: per-frame logits of all ``[F, n_mfcc]`` frames at once
        (``forward`` instead of ``step``); later labels read them instead of the stream's."""
        x = torch.from_numpy(np.ascontiguousarray(mfcc.T))[None]
        with torch.inference_mode():
            self._offline = self.model(x)[0].T.numpy()

    def on_frames(self, frames: Frames) -> None:
        if not len(frames):
            return
        x = torch.from_numpy(np.ascontiguousarray(frames.mfcc.T))[None]  # 1, n_mfcc, F
        with torch.inference_mode():
            logits, self.state = self.model.step(x, self.state)
        z = logits[0].T.numpy()  # F, classes
        for i in range(z.shape[0]):
            self._logits.append((frames.start + i, z[i]))

    def scores(self, window_start: int, window_end: int, audio: AudioHistory) -> np.ndarray:
        hop, half = self.features.hop_length, self.features.n_fft // 2
        lo = -(-max(window_start, 0) // hop)  # first frame starting inside the window
        hi = (window_end - half) // hop  # last frame whose analysis window ends inside it
        if self._offline is not None:
            rows = self._offline[lo : hi + 1] if hi >= lo else self._offline[max(hi, 0) : hi + 1]
            return softmax(rows.mean(axis=0))
        sel = [z for f, z in self._logits if lo <= f <= hi]
        if not sel:  # window shorter than one analysis frame
            sel = [z for f, z in self._logits if f <= hi][-1:] or [self._logits[-1][1]]
        return softmax(np.mean(sel, axis=0))


_Scoring = Future[tuple[np.ndarray, float]]  # class probabilities, network ms


class ESResNetTagger(Tagger):
    """ESResNet on the waveform window ending at span end + lookahead.

    With ``background=True`` (the live engine) the network runs in a thread of its own: a due
    span's window is handed over and :meth:`update` returns at once, and labels come out, in
    span order, from the first update after their scores are ready. The chunk path then never
    waits for the network (a 1 s window costs far more than one 10 ms chunk); the price is a
    chunk or two of extra label delay, which ``emitted_at`` records. At most ``max_pending``
    windows are in flight: past that, :meth:`update` waits for the oldest (a machine too slow
    for the tagger slows the chunks down rather than queueing labels without bound).
    """

    max_pending = 4

    def __init__(
        self,
        model: Any,
        hop_ms: float,
        lookahead_ms: float,
        window_ms: float,
        silence_db: float,
        background: bool = False,
    ) -> None:
        labels = tuple(model.config.labels)
        super().__init__("esresnet", labels, hop_ms, lookahead_ms, window_ms, silence_db)
        self.model = model
        self.background = background
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[tuple[dict[str, Any], _Scoring | None]] = deque()

    def scores(self, window_start: int, window_end: int, audio: AudioHistory) -> np.ndarray:
        return self._scores(audio.get(window_start, window_end))[0]

    def _scores(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        t0 = time.perf_counter()
        with torch.inference_mode():
            logits = self.model(torch.from_numpy(x)[None])[0].numpy()
        return softmax(logits), (time.perf_counter() - t0) * 1000

    def update(self, audio: AudioHistory) -> list[Label]:
        if not self.background:
            return super().update(audio)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="rtaudio-esresnet")
        received = audio.end
        for k in self.due_spans(audio):
            common, w_start, w_end = self.span(k, received)
            fut = None
            if not self.silent(k, audio):
                fut = self._pool.submit(self._scores, audio.get(w_start, w_end))
            self._pending.append((common, fut))
        while True:
            busy = [f for _, f in self._pending if f is not None and not f.done()]
            if len(busy) <= self.max_pending:
                break
            wait(busy[:1])
        return self._ready(received, wait=False)

    def flush(self, received: int) -> list[Label]:
        """Wait for every window in flight; their labels, emitted at ``received``."""
        return self._ready(received, wait=True)

    def _ready(self, received: int, wait: bool) -> list[Label]:
        out: list[Label] = []
        self.background_ms = []
        while self._pending:
            common, fut = self._pending[0]
            if fut is not None and not wait and not fut.done():
                break
            self._pending.popleft()
            p = None
            if fut is not None:
                p, ms = fut.result()
                self.background_ms.append(ms)
            out.append(self.label({**common, "emitted_at": received / SAMPLE_RATE}, p))
        return out

    def reset(self) -> None:
        super().reset()
        for _, fut in self._pending:
            if fut is not None:
                fut.result()  # the network finishes its window before a new stream starts
        self._pending.clear()

    def close(self) -> None:
        """Stop the background thread (after the windows in flight)."""
        self.reset()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
