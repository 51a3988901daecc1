"""Remake ``docs/gui.png``: the window on real recordings of the repo's evaluation set.

    .venv/bin/python scripts/gui_screenshot.py [--out docs/gui.png] [--seconds 10.6]

The source is put together from held-out clips in ``tests/data/eval`` (so the shipped models
never trained on it): a French prompt voice, a game music track, then a German voice over rain;
the window plays it in real time with MiTAS separating the voice, and the PNG is taken just
before its end (the window starting in about 1 s). Runs without a display (Qt's offscreen
platform).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT / "tests" / "data" / "eval"
SR = 16000
# (clip, start s, seconds); VOICE and RAIN play at once
SPEECH = ("speech/speech-real-asterisk_armelle-asterisk-prompt-fr-armelle-0000.flac", 0.0, 3.5)
MUSIC = ("music/music-real-0ad-data_the_pillars_of_hercules-30943456_001.flac", 0.0, 3.0)
VOICE = ("speech/speech-real-ktuberling_wa-ktuberling-data-0000_011.flac", 0.0, 3.0)
RAIN = ("events/events-rain-0ad-data_rain-24133019_001.flac", 0.0, 3.0)


def _clip(spec: tuple[str, float, float]) -> np.ndarray:
    path, start, seconds = spec
    x, sr = sf.read(EVAL / path, dtype="float32", always_2d=True)
    if sr != SR:
        raise SystemExit(f"{path}: {sr} Hz, expected {SR}")
    x = x.mean(axis=1)[round(start * SR) : round((start + seconds) * SR)]
    return x / max(1e-6, float(np.abs(x).max())) * 0.5  # the same peak level


def source() -> np.ndarray:
    rain = _clip(RAIN)
    voice = _clip(VOICE)
    n = min(rain.size, voice.size)
    mixed = 0.8 * voice[:n] + 0.4 * rain[:n]
    out = np.concatenate([_clip(SPEECH), _clip(MUSIC), mixed])
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "gui.png"))
    ap.add_argument("--seconds", type=float, default=10.6, help="when to take the picture")
    args = ap.parse_args()
    from rtaudio.gui.app import run_gui

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "voice_music_rain.wav"
        sf.write(wav, source(), SR)
        # a settings file of its own: the user's settings are neither read nor changed
        return run_gui(
            source=str(wav),
            screenshot=args.out,
            quit_after=args.seconds,
            settings_file=str(Path(tmp) / "settings.ini"),
            separate="mitas",
        )


if __name__ == "__main__":
    sys.exit(main())
