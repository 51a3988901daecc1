"""The per-chunk processing of the engine, without threads or devices.

:class:`Processor` takes 16 kHz mono chunks and returns a :class:`ChunkResult` plus the
separated voice. The live engine, the batch CLI and the pipeline benchmark all run this same
code, so batch results equal what live monitoring shows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from rtaudio.agc import Leveller, OutputScale
from rtaudio.audiofile import check_enrollment as check_enrollment
from rtaudio.classify import AudioHistory, ESResNetTagger, SwishNetTagger, Tagger, level_db
from rtaudio.config import SAMPLE_RATE, ConfigError, EngineConfig
from rtaudio.features import FeatureConfig, FeatureExtractor
from rtaudio.modelstore import load_model
from rtaudio.results import ChunkResult, Label, LatencyRecord


class SeparatorStream:
    """MiTAS or TseNet streamed chunk by chunk (zero lookahead).

    With ``level`` (the default), a causal :class:`~rtaudio.agc.Leveller` brings the input to
    the level the separators were trained on and gives the separated voice the input's level
    back. SI-SNR training leaves a network's output scale free (the shipped MiTAS gave speech
    back 9 dB louder than it came in): weights exported by ``rtaudio train`` carry a fixed
    output gain measured on validation mixtures (:func:`output_calibrated`); for others a causal
    running :class:`~rtaudio.agc.OutputScale` brings the voice to the level of what it kept of
    the input. :meth:`offline` does the same over a whole signal, and both agree to the
    sample."""

    def __init__(
        self,
        name: str,
        model: nn.Module,
        embedding: torch.Tensor | None = None,
        level: bool = True,
    ) -> None:
        self.name = name
        self.model = model
        self.embedding = embedding
        self.latency = int(model.latency)  # type: ignore[arg-type]
        self.leveller = Leveller(delay=self.latency) if level else None
        # weights without a calibrated output: the voice brought to the level of what was kept
        self.scale = None if output_calibrated(model) else OutputScale()
        self.reset()

    def reset(self, keep_level: bool = False) -> None:
        """Start the separator again; ``keep_level``: the same source after a gap (dropped
        audio, a reconnected device), so the leveller keeps its gain (a new stream or another
        device: it starts from unity)."""
        # inference mode: the embedding is an inference tensor (see embed_enrollment)
        with torch.inference_mode():
            if self.embedding is not None:
                self.state = self.model.init_state(1, self.embedding)  # type: ignore[operator]
            else:
                self.state = self.model.init_state(1)  # type: ignore[operator]
        if self.leveller is not None:
            if keep_level:
                self.leveller.restart()
            else:
                self.leveller.reset()
        if not keep_level and self.scale is not None:
            self.scale.reset()
        self._delayed = np.zeros(self.latency, np.float32)  # the input, as late as the voice
        # the first ``latency`` output samples answer no input (the stream's start): they do
        # not inform the output scale, so the stream and the whole-signal path agree
        self._warmup = self.latency
        self._last = (np.zeros(0, np.float32), np.zeros(0, np.float32))  # (late input, voice)

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        """The separated voice of ``chunk`` (``latency`` samples late); :attr:`removed` is then
        what the separator took away from the same samples."""
        lev = self.leveller
        x = lev.apply(chunk) if lev is not None else chunk
        with torch.inference_mode():
            y, self.state = self.model.step(torch.from_numpy(x)[None], self.state)  # type: ignore[operator]
        out = np.asarray(y[0, 0].numpy(), np.float32)
        voice = lev.restore(out) if lev is not None else out
        late = np.concatenate((self._delayed, np.asarray(chunk, np.float32)))
        if self.scale is not None:
            k = min(self._warmup, voice.size)
            self._warmup -= k
            voice = np.concatenate((voice[:k], self.scale.apply(late[k : voice.size], voice[k:])))
        self._last = (late[: voice.size], voice)
        self._delayed = late[voice.size :]
        return voice

    @property
    def removed(self) -> np.ndarray:
        """Of the last chunk: the input, as late as the voice, minus the voice (background,
        other speakers), computed when asked for (Hear: Removed)."""
        late, voice = self._last
        return late - voice

    @property
    def gain_db(self) -> float | None:
        """The leveller's current gain on the input (None without it)."""
        return self.leveller.gain_db if self.leveller is not None else None

    def offline(self, audio: np.ndarray) -> np.ndarray:
        """The whole-signal ``forward`` (aligned with ``audio``, no delay), levelled and scaled
        the same way as the stream; leaves the stream's state alone."""
        out = separate(self.model, audio, self.embedding, self.leveller is not None)
        if self.scale is None:
            return out
        return OutputScale().apply(np.asarray(audio, np.float32), out)


def output_calibrated(model: nn.Module) -> bool:
    """Whether ``model``'s weights carry a calibrated output scale (``output_scale`` in their
    metadata, written by ``rtaudio train`` or ``python -m rtaudio.train.calibrate``)."""
    meta = getattr(model, "meta", None)
    return isinstance(meta, dict) and isinstance(meta.get("output_scale"), dict)


def separate(
    model: nn.Module, audio: np.ndarray, embedding: torch.Tensor | None = None, level: bool = True
) -> np.ndarray:
    """The separator's whole-signal ``forward`` on 16 kHz ``audio`` (aligned, no delay), its
    input levelled by a :class:`~rtaudio.agc.Leveller` (undone on the output) when ``level``;
    no output scale."""
    lev = Leveller() if level else None
    x = lev.apply(audio) if lev is not None else audio
    with torch.inference_mode():
        t = torch.from_numpy(np.ascontiguousarray(x, np.float32))[None]
        y = model(t, embedding) if embedding is not None else model(t)
    out = np.asarray(y[0, 0].numpy(), np.float32)
    return lev.restore(out) if lev is not None else out


PAUSE_DB = 40.0  # enrollment frames this far below the loudest one are pauses
PAUSE_FRAME = 320  # 20 ms at 16 kHz


def without_pauses(audio: np.ndarray) -> np.ndarray:
    """The 20 ms frames of an enrollment clip within ``PAUSE_DB`` of its loudest frame, joined
    (the whole clip if that leaves under 0.5 s).

    TseNet's speaker encoder averages over the whole clip, so pauses and room noise dilute the
    embedding: on the repository set (median SI-SDR improvement) the shipped TseNet gives
    2.97 dB from the clips as they are and 3.45 dB without their pauses; with 2 s of -70 dBFS
    noise after each clip (a live enrollment that goes on after the speaker stopped) 2.51 dB
    as it is, 3.45 dB without. On corpus v6's test split: 5.87 -> 6.00 dB."""
    k = audio.size // PAUSE_FRAME
    if k == 0:
        return audio
    frames = audio[: k * PAUSE_FRAME].reshape(k, PAUSE_FRAME)
    db = 10.0 * np.log10(np.mean(np.square(frames, dtype=np.float64), axis=1) + 1e-12)
    kept = frames[db > db.max() - PAUSE_DB].reshape(-1)
    return kept if kept.size >= SAMPLE_RATE // 2 else audio


def embed_enrollment(model: nn.Module, audio: np.ndarray) -> torch.Tensor:
    """TseNet speaker embedding of a 16 kHz enrollment clip (at least 0.5 s of non-silence),
    its pauses left out (:func:`without_pauses`)."""
    check_enrollment(audio)
    x = np.ascontiguousarray(without_pauses(audio), np.float32)
    with torch.inference_mode():
        return model.embed(torch.from_numpy(x)[None])  # type: ignore[operator]


@dataclass
class Counters:
    overflows: int = 0
    underflows: int = 0
    dropped: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, int]:
        return {"overflows": self.overflows, "underflows": self.underflows, "dropped": self.dropped}


class Processor:
    """Features, separation and classifiers for consecutive 16 kHz chunks.

    Args:
        cfg: engine settings (chunk size, separator, classifiers, lookaheads...).
        enrollment: 16 kHz audio of the target speaker when ``cfg.separate == "tsenet"``
            (from a WAV or recorded live); may be set later with :meth:`enroll`.
        background: run ESResNet off the chunk path, in a thread of its own (the live engine:
            a chunk never waits for it); file processing keeps it inline, so a file's labels
            and their ``emitted_at`` do not depend on timing.
    """

    def __init__(
        self,
        cfg: EngineConfig,
        enrollment: np.ndarray | None = None,
        background: bool = False,
    ) -> None:
        self.cfg = cfg
        self.features = FeatureExtractor(FeatureConfig())
        # the separated voice's log-mel frames, for views (silence until TseNet is enrolled)
        self.voice_features = (
            FeatureExtractor(self.features.cfg)
            if cfg.voice_spectrogram and cfg.separate != "off"
            else None
        )
        self.trained: dict[str, bool] = {}
        self.taggers: list[Tagger] = []
        for name in cfg.classifiers:
            model, self.trained[name] = load_model(name, cfg.weights_dir)
            if name == "swishnet":
                self.taggers.append(
                    SwishNetTagger(
                        model,
                        self.features.cfg,
                        cfg.swishnet_hop_ms,
                        cfg.swishnet_lookahead_ms,
                        cfg.swishnet_window_ms,
                        cfg.silence_db,
                    )
                )
            else:
                self.taggers.append(
                    ESResNetTagger(
                        model,
                        cfg.esresnet_hop_ms,
                        cfg.esresnet_lookahead_ms,
                        cfg.esresnet_window_ms,
                        cfg.silence_db,
                        background=background,
                    )
                )
        need = max([t.history_needed for t in self.taggers], default=cfg.chunk_samples)
        self.history_capacity = need + 2 * cfg.chunk_samples  # what the taggers' windows need
        self.history = AudioHistory(self.history_capacity)
        self.separator: SeparatorStream | None = None
        self._sep_model: nn.Module | None = None
        if cfg.separate != "off":
            self._sep_model, self.trained[cfg.separate] = load_model(cfg.separate, cfg.weights_dir)
            if cfg.separate == "mitas":
                self.separator = SeparatorStream(
                    "mitas", self._sep_model, level=cfg.level_separator
                )
            elif enrollment is not None:
                self.enroll(enrollment)
        self.index = 0

    @property
    def enrolled(self) -> bool:
        return self.cfg.separate != "tsenet" or self.separator is not None

    def enroll(self, audio: np.ndarray) -> None:
        """Set (or replace) TseNet's target speaker from 16 kHz enrollment audio."""
        if self._sep_model is None or self.cfg.separate != "tsenet":
            raise ConfigError("enrollment needs separate=tsenet")
        emb = embed_enrollment(self._sep_model, audio)
        old = self.separator
        self.separator = SeparatorStream(
            "tsenet", self._sep_model, emb, level=self.cfg.level_separator
        )
        if old is not None and old.leveller is not None:  # a new target, the same microphone
            self.separator.leveller = old.leveller
            old.leveller.restart()

    @property
    def algorithmic_ms(self) -> float:
        """Chunk + separator window: the delay of the separated voice."""
        sep = self.separator.latency / SAMPLE_RATE * 1000 if self.separator else 0.0
        return self.cfg.chunk_ms + sep

    def reset(self) -> None:
        """Start a new stream (features, histories, model states, time), keeping the models."""
        self.features.reset()
        if self.voice_features is not None:
            self.voice_features.reset()
        # (not the last history's size: a whole-file pass replaces it with one the file's size)
        self.history = AudioHistory(self.history_capacity)
        for tagger in self.taggers:
            tagger.reset()
        if self.separator is not None:
            self.separator.reset()
        self.index = 0

    def flush(self) -> list[Label]:
        """Labels still being computed in the background (waited for), emitted now."""
        return [lab for tagger in self.taggers for lab in tagger.flush(self.history.end)]

    def close(self) -> None:
        """Stop the background tagger thread, if any (the processor can be used again)."""
        for tagger in self.taggers:
            tagger.close()

    def skip(self, n: int) -> None:
        """Account for ``n`` dropped samples: stream time advances over them as silence, the
        separator restarts (its history is broken), nothing is computed; spans whose audio
        has left the history (a drop longer than it holds) get no label
        (:meth:`rtaudio.classify.Tagger.forget_before`)."""
        self.history.push(np.zeros(n, np.float32))
        self.features.skip(n)
        if self.voice_features is not None:
            self.voice_features.skip(n)
        if self.separator is not None:
            self.separator.reset(keep_level=True)

    def process(
        self, chunk: np.ndarray, adc_time: float, dequeued: float | None = None, backlog: int = 0
    ) -> tuple[ChunkResult, np.ndarray | None]:
        """Process one chunk of ``cfg.chunk_samples`` samples."""
        if chunk.shape != (self.cfg.chunk_samples,):
            raise ValueError(f"chunk must be {self.cfg.chunk_samples} samples, got {chunk.shape}")
        t0 = time.perf_counter() if dequeued is None else dequeued
        start = self.history.end
        self.history.push(chunk)
        frames = self.features.push(chunk)
        t1 = time.perf_counter()
        model_ms: dict[str, float] = {}
        voice = None
        if self.separator is not None:
            voice = self.separator(chunk)
            t2 = time.perf_counter()
            model_ms[self.separator.name] = (t2 - t1) * 1000
            t1 = t2
        voice_spectrogram = None
        if self.voice_features is not None:  # its time counts as feature time
            heard = voice if voice is not None else np.zeros_like(chunk)
            voice_spectrogram = self.voice_features.push(heard).logmel
            t1 = time.perf_counter()
        labels: list[Label] = []
        background_ms: dict[str, float] = {}
        for tagger in self.taggers:
            tagger.on_frames(frames)
            labels.extend(tagger.update(self.history))
            t2 = time.perf_counter()
            model_ms[tagger.name] = (t2 - t1) * 1000
            t1 = t2
            if tagger.background_ms:
                background_ms[tagger.name] = sum(tagger.background_ms)
        lvl = level_db(chunk)
        chunk_s = self.cfg.chunk_samples / SAMPLE_RATE
        done = time.perf_counter()
        rec = LatencyRecord(
            index=self.index,
            adc_time=adc_time,
            dequeued=t0,
            feature_ms=(t1 - t0) * 1000 - sum(model_ms.values()),
            model_ms=model_ms,
            processing_ms=(done - t0) * 1000,
            queue_ms=max(0.0, (t0 - (adc_time + chunk_s)) * 1000),
            dac_time=None,
            algorithmic_ms=self.algorithmic_ms,
            end_to_end_ms=None,
            backlog=backlog,
            background_ms=background_ms,
        )
        result = ChunkResult(
            index=self.index,
            start=start / SAMPLE_RATE,
            end=self.history.end / SAMPLE_RATE,
            level_db=lvl,
            silent=lvl < self.cfg.silence_db,
            spectrogram=frames.logmel,
            labels=tuple(labels),
            latency=rec,
            separated=voice is not None,
            audio=chunk.copy(),
            voice=voice,
            voice_spectrogram=voice_spectrogram,
            separator_gain_db=self.separator.gain_db if self.separator is not None else None,
        )
        self.index += 1
        return result, voice
