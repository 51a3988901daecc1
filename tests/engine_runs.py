"""Running the live engine over a file source to its end, for tests."""

from __future__ import annotations

from rtaudio.config import EngineConfig
from rtaudio.engine import Engine
from rtaudio.results import ChunkResult


def run_to_end(cfg: EngineConfig, timeout: float = 30.0) -> tuple[Engine, list[ChunkResult]]:
    """The engine (stopped) and every result it published for ``cfg``'s file source."""
    engine = Engine(cfg)
    channel = engine.subscribe(10_000)
    engine.start()
    try:
        assert engine.wait(timeout), "the engine did not finish the file"
    finally:
        engine.stop()
    return engine, channel.drain()
