"""Synthetic music: MIDI pieces generated on the fly and rendered by fluidsynth.

:func:`random_piece` draws a short piece (key, mode, tempo, metre, a chord progression, a
melody, a bass line, a drum pattern on channel 10, General MIDI programs for each part, with
parts sometimes dropped: solo piano, no drums...), :func:`write_midi` writes it with ``mido``,
and :func:`render` renders it with one soundfont at 16 kHz (float output, so no dither noise
and byte-identical renders).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .audio import SR, load_audio

SOUNDFONT_DIRS = (
    Path("/usr/share/sounds/sf2"),
    Path("/usr/share/sounds/sf3"),
    Path("/usr/share/soundfonts"),
)
# soundfonts that are not complete GM banks on their own
_PARTIAL_SOUNDFONTS = ("FluidR3_GS",)
# soundfont family -> Debian package
SOUNDFONT_PACKAGES = {
    "fluidr3": "fluid-soundfont-gm",
    "timgm6mb": "timgm6mb-soundfont",
    "musescore": "musescore-general-soundfont",
    "opl3": "opl3-soundfont",
    "csound": "csound-soundfont",
}

MODES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
}
PROGRESSIONS = (
    (0, 4, 5, 3),
    (0, 5, 3, 4),
    (0, 3, 4, 4),
    (5, 3, 0, 4),
    (0, 3, 0, 4),
    (1, 4, 0, 0),
    (0, 0, 3, 4),
    (0, 6, 5, 4),
    (0, 4, 5, 2, 3, 0, 3, 4),
)
# General MIDI programs (0-based) by role
MELODY_PROGRAMS = (
    0,
    1,
    4,
    6,
    8,
    11,
    12,
    13,
    21,
    22,
    24,
    25,
    26,
    29,
    40,
    41,
    42,
    56,
    57,
    60,
    64,
    65,
    66,
    68,
    71,
    72,
    73,
    74,
    75,
    78,
    80,
    81,
    104,
    105,
    108,
)
CHORD_PROGRAMS = (0, 1, 2, 4, 5, 16, 17, 19, 24, 25, 27, 46, 48, 49, 50, 52, 88, 89, 90, 91, 94)
BASS_PROGRAMS = (32, 33, 34, 35, 36, 38, 39, 42, 43, 58, 70)


@dataclass(frozen=True)
class Soundfont:
    """An installed soundfont: path, family (split unit) and its package."""

    path: str
    family: str
    package: str


def find_soundfonts() -> list[Soundfont]:
    """Installed complete GM soundfonts, one per real file, sorted by family and name."""
    seen: set[str] = set()
    out = []
    for d in SOUNDFONT_DIRS:
        if not d.is_dir():
            continue
        for f in sorted(d.iterdir()):
            if f.suffix.lower() not in (".sf2", ".sf3") or not f.exists():
                continue
            real = os.path.realpath(f)
            if real in seen or any(p in Path(real).name for p in _PARTIAL_SOUNDFONTS):
                continue
            seen.add(real)
            name = Path(real).stem.lower()
            family = next((k for k in SOUNDFONT_PACKAGES if k in name), name)
            out.append(Soundfont(real, family, SOUNDFONT_PACKAGES.get(family, "")))
    return sorted(out, key=lambda s: (s.family, s.path))


def have_fluidsynth() -> bool:
    return shutil.which("fluidsynth") is not None


@dataclass
class Piece:
    """A generated piece: MIDI events per track, and a description for the manifest."""

    tempo_bpm: float
    beats_per_bar: int
    ticks_per_beat: int
    tracks: list[list[tuple[int, str, int, int, int]]] = field(default_factory=list)
    # each event: (tick, "on"/"off"/"program", channel, note_or_program, velocity)
    description: dict[str, object] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        last = max((e[0] for t in self.tracks for e in t), default=0)
        return last / self.ticks_per_beat * 60.0 / self.tempo_bpm


def _add_note(
    track: list[tuple[int, str, int, int, int]], tick: int, dur: int, ch: int, note: int, vel: int
) -> None:
    if 0 <= note <= 127 and dur > 0:
        track.append((tick, "on", ch, note, int(np.clip(vel, 1, 127))))
        track.append((tick + dur, "off", ch, note, 0))


def random_piece(rng: np.random.Generator, seconds: float = 24.0) -> Piece:
    """A random multi-part piece about ``seconds`` long (deterministic given ``rng``)."""
    tpb = 480
    tempo = float(rng.uniform(64, 172))
    bpb = int(rng.choice([4, 4, 4, 3, 6]))
    mode_name = str(rng.choice(list(MODES)))
    scale = MODES[mode_name]
    key = int(rng.integers(0, 12))
    prog_chords = PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))]
    bar = tpb * bpb
    n_bars = max(2, int(np.ceil(seconds * tempo / 60.0 / bpb)))
    style = str(rng.choice(["full", "full", "full", "no_drums", "solo", "duo", "drums_bass"]))
    parts = {
        "melody": style in ("full", "no_drums", "solo", "duo"),
        "chords": style in ("full", "no_drums", "duo"),
        "bass": style in ("full", "no_drums", "drums_bass"),
        "drums": style in ("full", "drums_bass"),
    }
    programs = {
        "melody": int(rng.choice(MELODY_PROGRAMS)),
        "chords": int(rng.choice(CHORD_PROGRAMS)),
        "bass": int(rng.choice(BASS_PROGRAMS)),
    }
    if style == "solo":
        programs["melody"] = int(rng.choice([0, 0, 1, 24, 25, 40, 46, 73, 71]))
    swing = float(rng.uniform(0, 0.12))
    piece = Piece(tempo, bpb, tpb)

    def degree_note(deg: int, octave: int) -> int:
        return 12 * octave + key + scale[deg % 7] + 12 * (deg // 7)

    def human(t: int) -> int:
        return max(0, t + int(rng.normal(0, 8)))

    # chords (channel 1) and bass (channel 2)
    chords: list[tuple[int, str, int, int, int]] = [(0, "program", 1, programs["chords"], 0)]
    bass: list[tuple[int, str, int, int, int]] = [(0, "program", 2, programs["bass"], 0)]
    arpeggio = bool(rng.random() < 0.35)
    bass_pattern = int(rng.integers(0, 3))
    for b in range(n_bars):
        root = prog_chords[b % len(prog_chords)]
        t0 = b * bar
        triad = [degree_note(root + k, 4) for k in (0, 2, 4)]
        if rng.random() < 0.3:
            triad.append(degree_note(root + 6, 4))
        vel = int(rng.integers(55, 85))
        if parts["chords"]:
            if arpeggio:
                step = tpb // 2
                for i in range(bar // step):
                    _add_note(chords, human(t0 + i * step), step, 1, triad[i % len(triad)], vel)
            else:
                for n in triad:
                    _add_note(chords, human(t0), bar - 20, 1, n, vel)
        if parts["bass"]:
            bn = degree_note(root, 2)
            if bass_pattern == 0:
                _add_note(bass, t0, bar - 30, 2, bn, vel + 10)
            elif bass_pattern == 1:
                for i in range(bpb):
                    _add_note(
                        bass, human(t0 + i * tpb), tpb - 30, 2, bn + (7 if i % 2 else 0), vel + 5
                    )
            else:
                for i in range(bpb * 2):
                    _add_note(
                        bass,
                        human(t0 + i * tpb // 2),
                        tpb // 2 - 20,
                        2,
                        bn + (12 if i % 4 == 3 else 0),
                        vel,
                    )
    # melody (channel 0): a random walk on the scale, phrases with rests
    melody: list[tuple[int, str, int, int, int]] = [(0, "program", 0, programs["melody"], 0)]
    if parts["melody"]:
        deg = int(rng.integers(0, 7)) + 7
        t = 0
        end = n_bars * bar
        durations = np.array([tpb // 2, tpb, tpb, tpb * 2, tpb // 4 * 3, tpb // 4])
        while t < end:
            d = int(rng.choice(durations))
            if rng.random() < 0.15:
                t += d  # rest
                continue
            deg = int(np.clip(deg + int(rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3])), 3, 17))
            on = t + (int(swing * tpb) if (t // (tpb // 2)) % 2 else 0)
            _add_note(
                melody, human(on), int(d * 0.9), 0, degree_note(deg, 4), int(rng.integers(70, 110))
            )
            t += d
    # drums (channel 9)
    drums: list[tuple[int, str, int, int, int]] = []
    if parts["drums"]:
        hat = int(rng.choice([42, 42, 44, 46, 51]))
        fill_every = int(rng.choice([4, 8]))
        for b in range(n_bars):
            t0 = b * bar
            for i in range(bpb * 2):
                tt = t0 + i * tpb // 2
                _add_note(drums, human(tt), 60, 9, hat, int(rng.integers(50, 80)))
                if i % (bpb * 2) == 0 or (bpb == 4 and i == 5 and rng.random() < 0.5):
                    _add_note(drums, tt, 80, 9, 36, 100)
                if bpb >= 4 and i in (2, 6):
                    _add_note(drums, human(tt), 80, 9, int(rng.choice([38, 38, 40, 39])), 95)
            if b % fill_every == fill_every - 1:
                for i in range(4):
                    _add_note(
                        drums,
                        t0 + bar - tpb + i * tpb // 4,
                        60,
                        9,
                        int(rng.choice([45, 47, 48, 50])),
                        90,
                    )
    piece.tracks = [melody, chords, bass, drums]
    piece.description = {
        "tempo": round(tempo, 1),
        "metre": bpb,
        "key": key,
        "mode": mode_name,
        "style": style,
        "programs": {k: v for k, v in programs.items() if parts[k]},
    }
    return piece


def write_midi(piece: Piece, path: str | os.PathLike[str]) -> None:
    """Write ``piece`` as a type-1 MIDI file."""
    import mido

    mid = mido.MidiFile(type=1, ticks_per_beat=piece.ticks_per_beat)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(piece.tempo_bpm), time=0))
    meta.append(
        mido.MetaMessage("time_signature", numerator=piece.beats_per_bar, denominator=4, time=0)
    )
    mid.tracks.append(meta)
    for events in piece.tracks:
        if not events:
            continue
        tr = mido.MidiTrack()
        last = 0
        # offs before ons at the same tick; programs first
        order = {"program": 0, "off": 1, "on": 2}
        for tick, what, ch, a, vel in sorted(events, key=lambda e: (e[0], order[e[1]], e[3])):
            dt = tick - last
            last = tick
            if what == "program":
                tr.append(mido.Message("program_change", channel=ch, program=a, time=dt))
            elif what == "on":
                tr.append(mido.Message("note_on", channel=ch, note=a, velocity=vel, time=dt))
            else:
                tr.append(mido.Message("note_off", channel=ch, note=a, velocity=0, time=dt))
        mid.tracks.append(tr)
    mid.save(str(path))


def render(
    piece: Piece, soundfont: str, *, reverb: bool = True, chorus: bool = True, gain: float = 0.6
) -> np.ndarray:
    """Render ``piece`` with fluidsynth and ``soundfont``: ``(T,)`` float32 at 16 kHz."""
    if not have_fluidsynth():
        raise RuntimeError("fluidsynth is not installed")
    with tempfile.TemporaryDirectory(prefix="rtaudio-midi-") as tmp:
        mid = Path(tmp) / "p.mid"
        out = Path(tmp) / "p.wav"
        write_midi(piece, mid)
        # dynamic sample loading: only the presets the piece uses are decoded (an .sf3
        # loads in ~1 s instead of ~9 s); the rendered samples are identical
        cmd = [
            "fluidsynth",
            "-ni",
            "-q",
            "-o",
            "synth.dynamic-sample-loading=1",
            "-g",
            f"{gain:.2f}",
            "-r",
            str(SR),
            "-R",
            "1" if reverb else "0",
            "-C",
            "1" if chorus else "0",
            "-T",
            "wav",
            "-O",
            "float",
            "-F",
            str(out),
            soundfont,
            str(mid),
        ]
        p = subprocess.run(cmd, capture_output=True, timeout=600, check=False)
        if p.returncode != 0 or not out.exists():
            raise RuntimeError(f"fluidsynth failed: {p.stderr.decode(errors='replace')[:200]}")
        return load_audio(out)
