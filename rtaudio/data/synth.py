"""Synthetic speech: espeak-ng personas, flite voices and festival voices.

A *voice* here is a synthetic speaker identity. espeak-ng gets many personas: each one is a
custom variant file (formants, pitch range, breathiness, flutter... perturbed from one of the
stock variants) written into a private overlay of the espeak-ng data directory, and a base
pitch / rate, with small per-utterance jitter. flite and festival voices are used as shipped,
with per-utterance rate (and for flite, pitch) jitter.

Speaker identities that are the same recording across engines share one ``speaker`` and split
``group`` (flite ``kal``/``kal16`` and festival ``kal_diphone`` are all Kal; flite ``slt`` and
festival ``cmu_us_slt_arctic_hts`` are both SLT), so no speaker leaks across splits.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .audio import SR, load_audio, normalize, trim_silence

ESPEAK_DATA_DIRS = (
    Path("/usr/lib/x86_64-linux-gnu/espeak-ng-data"),
    Path("/usr/lib/aarch64-linux-gnu/espeak-ng-data"),
    Path("/usr/share/espeak-ng-data"),
    Path("/usr/lib/espeak-ng-data"),
)
FESTIVAL_VOICE_DIR = Path("/usr/share/festival/voices")

# Latin-script languages: English text read with their phonology gives accented speech,
# never a switch to another voice mid-utterance.
ESPEAK_LANGS = (
    ("en-us", 6.0),
    ("en-gb", 3.0),
    ("en-gb-scotland", 1.0),
    ("en-gb-x-rp", 1.0),
    ("en-029", 1.0),
    ("en-us-nyc", 1.0),
    ("en-gb-x-gbclan", 0.5),
    ("en-gb-x-gbcwmd", 0.5),
    ("de", 1.0),
    ("fr-fr", 1.0),
    ("es", 1.0),
    ("it", 1.0),
    ("nl", 0.7),
    ("pt", 0.7),
    ("pl", 0.5),
    ("cs", 0.5),
    ("sv", 0.5),
    ("da", 0.5),
    ("nb", 0.5),
    ("fi", 0.5),
    ("hu", 0.5),
    ("ro", 0.5),
    ("hr", 0.3),
    ("sk", 0.3),
    ("sl", 0.3),
    ("id", 0.3),
    ("sw", 0.3),
    ("tr", 0.3),
    ("af", 0.3),
    ("ca", 0.3),
    ("cy", 0.3),
    ("et", 0.3),
    ("lt", 0.3),
    ("lv", 0.3),
    ("eu", 0.3),
    ("is", 0.3),
    ("mt", 0.3),
    ("sq", 0.3),
    ("eo", 0.3),
    ("la", 0.3),
    ("vi", 0.2),
    ("ms", 0.3),
)
# stock variants that do not sound like a person
_ESPEAK_EXCLUDE = re.compile(
    r"robot|robosoft|demonic|croak|tweaky|storm|mr serious|whisper", re.IGNORECASE
)

# flite voice -> (speaker, base f0 mean in Hz, gender)
FLITE_VOICES = {
    "kal": ("kal", 105.0, "m"),
    "kal16": ("kal", 105.0, "m"),
    "awb": ("awb", 110.0, "m"),
    "rms": ("rms", 100.0, "m"),
    "slt": ("slt", 175.0, "f"),
}
# festival voice -> speaker
FESTIVAL_SPEAKERS = {
    "kal_diphone": "kal",
    "cmu_us_slt_arctic_hts": "slt",
    "ked_diphone": "ked",
    "lp_diphone": "lp",
    "pc_diphone": "pc",
    "suo_fi_lj_diphone": "lj",
    "hy_fi_mv_diphone": "mv",
    "cmu_us_awb_arctic_clunits": "awb",
    "cmu_us_rms_arctic_clunits": "rms",
}


class SynthError(RuntimeError):
    """A synthesiser failed on one utterance."""


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker.

    Attributes:
        engine: ``espeak-ng``, ``flite`` or ``festival``.
        name: what the engine is given (``en-us+rtp0007``, ``slt``, ``kal_diphone``).
        speaker: speaker identity recorded in the manifest.
        group: split unit (same group -> same split).
        lang: language of the phonology.
        gender: ``m`` / ``f`` / ``""``.
        pitch: base pitch parameter (espeak 0..99, flite f0 in Hz; 0 when unused).
        rate: base rate (espeak words per minute; flite/festival duration stretch).
        variant: espeak-ng variant file text (personas only).
    """

    engine: str
    name: str
    speaker: str
    group: str
    lang: str
    gender: str = ""
    pitch: float = 0.0
    rate: float = 1.0
    variant: str = field(default="", repr=False)


# ---- discovery ------------------------------------------------------------------------------


def espeak_data_dir() -> Path | None:
    """The system espeak-ng data directory, or None."""
    for d in ESPEAK_DATA_DIRS:
        if (d / "phontab").exists():
            return d
    return None


def have_espeak() -> bool:
    return shutil.which("espeak-ng") is not None and espeak_data_dir() is not None


def espeak_variants() -> list[tuple[str, str]]:
    """Stock variants usable as persona bases: ``(name, file text)``, sorted."""
    d = espeak_data_dir()
    if d is None:
        return []
    vdir = d / "voices" / "!v"
    out = []
    for f in sorted(vdir.iterdir()) if vdir.is_dir() else []:
        if not f.is_file() or " " in f.name or _ESPEAK_EXCLUDE.search(f.name):
            continue
        out.append((f.name, f.read_text(encoding="utf-8", errors="ignore")))
    return out


@functools.lru_cache(maxsize=1)
def espeak_languages() -> tuple[str, ...]:
    """Language voices espeak-ng lists (``espeak-ng --voices``)."""
    if shutil.which("espeak-ng") is None:
        return ()
    p = subprocess.run(["espeak-ng", "--voices"], capture_output=True, text=True, check=False)
    langs = [ln.split()[1] for ln in p.stdout.splitlines()[1:] if len(ln.split()) > 1]
    return tuple(sorted(set(langs)))


def flite_voices() -> list[str]:
    """Voices compiled into flite (``flite -lv``)."""
    if shutil.which("flite") is None:
        return []
    p = subprocess.run(["flite", "-lv"], capture_output=True, text=True, check=False)
    names = p.stdout.replace("Voices available:", "").split()
    return sorted(n for n in names if n in FLITE_VOICES)


def festival_voices() -> list[str]:
    """Voices installed under ``/usr/share/festival/voices/<lang>/<name>``."""
    if shutil.which("festival") is None or not FESTIVAL_VOICE_DIR.is_dir():
        return []
    out = []
    for lang in sorted(FESTIVAL_VOICE_DIR.iterdir()):
        if not lang.is_dir():
            continue
        for v in sorted(lang.iterdir()):
            if v.is_dir() and not v.name.endswith(".common") and "common" not in v.name:
                out.append(v.name)
    return out


def _festival_lang(name: str) -> str:
    for lang in ("english", "us", "italian", "finnish", "spanish", "czech", "russian"):
        if (FESTIVAL_VOICE_DIR / lang / name).is_dir():
            return {"us": "english"}.get(lang, lang)
    return ""


# ---- persona construction --------------------------------------------------------------------


def _perturb_variant(base: str, rng: np.random.Generator, name: str) -> tuple[str, str]:
    """Persona variant text from a stock variant: returns ``(text, gender)``."""
    gender = "f" if re.search(r"^gender\s+female", base, re.M) else "m"
    if rng.random() < 0.15:  # sometimes swap the apparent gender
        gender = "f" if gender == "m" else "m"
    vtl = float(rng.uniform(0.9, 1.12))  # vocal tract length factor for formant frequencies
    lines = [f"language variant\nname {name}\ngender {'female' if gender == 'f' else 'male'}"]
    base_lo, base_hi = (160.0, 260.0) if gender == "f" else (80.0, 135.0)
    lo = base_lo * float(rng.uniform(0.85, 1.15))
    hi = max(lo + 30.0, base_hi * float(rng.uniform(0.85, 1.2)))
    lines.append(f"pitch {lo:.0f} {hi:.0f}")
    formants = {
        int(m.group(1)): [
            int(float(v)) for v in m.group(2).split()[:3] if re.fullmatch(r"-?\d+(\.\d+)?", v)
        ]
        for m in re.finditer(r"^formant\s+(\d+)\s+(.+)$", base, re.M)
    }
    for k in range(9):
        f, h, w = [*formants.get(k, []), 100, 100, 100][:3]
        scale = vtl * float(rng.uniform(0.96, 1.04)) if 1 <= k <= 5 else 1.0
        f = round(f * scale * (1.08 if gender == "f" and 1 <= k <= 3 else 1.0))
        h = round(h * float(rng.uniform(0.85, 1.15)))
        w = round(w * float(rng.uniform(0.9, 1.1)))
        lines.append(f"formant {k} {f} {h} {w}")
    for key in ("tone", "stressAdd", "stressAmp", "stressLength", "intonation", "klatt"):
        m = re.search(rf"^{key}\s+.*$", base, re.M)
        if m:
            lines.append(m.group(0))
    if rng.random() < 0.35:
        lines.append("breath " + " ".join(str(int(v)) for v in rng.integers(0, 12, 8)))
    if rng.random() < 0.4:
        lines.append(f"flutter {int(rng.integers(0, 20))}")
    if rng.random() < 0.25:
        lines.append(f"roughness {int(rng.integers(0, 4))}")
    lines.append(f"voicing {int(rng.integers(85, 125))}")
    lines.append(f"consonants {int(rng.integers(80, 120))} {int(rng.integers(80, 120))}")
    return "\n".join(lines) + "\n", gender


MAX_PERSONAS = 180  # espeak-ng enumerates at most 349 voices, ~140 of them languages


def espeak_personas(n: int, seed: int) -> list[Voice]:
    """``n`` (at most :data:`MAX_PERSONAS`) deterministic espeak-ng personas.

    Empty when espeak-ng is missing.
    Persona ``k`` perturbs stock variant ``k mod V``; its split group is that stock variant,
    so personas sharing a base never straddle splits.
    """
    if not have_espeak() or n <= 0:
        return []
    bases = espeak_variants()
    if not bases:
        return []
    available = set(espeak_languages())
    langs = [(lang, w) for lang, w in ESPEAK_LANGS if lang in available] or [("en", 1.0)]
    p = np.array([w for _, w in langs])
    p /= p.sum()
    out = []
    for k in range(min(n, MAX_PERSONAS)):
        rng = np.random.default_rng([seed, 7001, k])
        bname, btext = bases[k % len(bases)]
        vname = f"rtp{k:04d}"
        text, gender = _perturb_variant(btext, rng, vname)
        lang = langs[int(rng.choice(len(langs), p=p))][0]
        out.append(
            Voice(
                engine="espeak-ng",
                name=f"{lang}+{vname}",
                speaker=f"espeak-ng:{vname}",
                group=f"espeak-ng:variant:{bname.lower()}",
                lang=lang,
                gender=gender,
                pitch=float(rng.uniform(30, 70)),
                rate=float(rng.uniform(135, 190)),
                variant=text,
            )
        )
    return out


def flite_personas() -> list[Voice]:
    return [
        Voice(
            engine="flite",
            name=v,
            speaker=FLITE_VOICES[v][0],
            group=f"voice:{FLITE_VOICES[v][0]}",
            lang="en",
            gender=FLITE_VOICES[v][2],
            pitch=FLITE_VOICES[v][1],
            rate=1.0,
        )
        for v in flite_voices()
    ]


def festival_personas() -> list[Voice]:
    out = []
    for v in festival_voices():
        spk = FESTIVAL_SPEAKERS.get(v, v)
        out.append(
            Voice(
                engine="festival",
                name=v,
                speaker=spk,
                group=f"voice:{spk}",
                lang=_festival_lang(v),
                rate=1.0,
            )
        )
    return out


def prepare_espeak_overlay(root: str | os.PathLike[str], personas: list[Voice]) -> str | None:
    """A private espeak-ng data dir: links to the system data plus the persona variants.

    Returns the ``--path`` argument for espeak-ng (the directory holding ``espeak-ng-data``).
    """
    sysdir = espeak_data_dir()
    if sysdir is None:
        return None
    base = Path(root)
    data = base / "espeak-ng-data"
    vdir = data / "voices" / "!v"
    vdir.mkdir(parents=True, exist_ok=True)
    for e in sysdir.iterdir():
        if e.name == "voices":
            continue
        link = data / e.name
        if not link.exists():
            link.symlink_to(e)
    for e in (sysdir / "voices").iterdir():  # not mb/ (MBROLA): it counts against the limit
        link = data / "voices" / e.name
        if e.name not in ("!v", "mb") and not link.exists():
            link.symlink_to(e)
    # only the personas: espeak-ng lists at most 349 voices (languages + variants)
    for v in personas:
        if v.engine == "espeak-ng" and v.variant:
            f = vdir / v.name.split("+", 1)[1]
            if not f.exists() or f.read_text() != v.variant:
                f.write_text(v.variant)
    return str(base)


# ---- synthesis -------------------------------------------------------------------------------


def _finish(x: np.ndarray) -> np.ndarray:
    x = trim_silence(x, SR, threshold_db=-50.0, rel_db=45.0, pad=0.08)
    return normalize(x, -20.0)


def _run(cmd: list[str], timeout: float = 120.0) -> None:
    p = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    if p.returncode != 0:
        raise SynthError(f"{cmd[0]} failed: {p.stderr.decode(errors='replace').strip()[:200]}")


def synthesize(
    voice: Voice, texts: list[str], rng: np.random.Generator, espeak_path: str | None = None
) -> list[tuple[np.ndarray, dict[str, object]]]:
    """Synthesize ``texts`` with ``voice``: one ``(audio at 16 kHz, details)`` per text.

    Per-utterance prosody jitter is drawn from ``rng``; the output is deterministic given it.
    Festival runs once for all texts (its start-up dominates otherwise).
    """
    out: list[tuple[np.ndarray, dict[str, object]]] = []
    with tempfile.TemporaryDirectory(prefix="rtaudio-tts-") as tmp:
        if voice.engine == "festival":
            stretches = [float(rng.uniform(0.85, 1.2)) for _ in texts]
            lines = [f"(voice_{voice.name})"]
            for i, (t, s) in enumerate(zip(texts, stretches, strict=True)):
                esc = t.replace("\\", " ").replace('"', "'")
                lines.append(f"(Parameter.set 'Duration_Stretch {s:.3f})")
                # a sentence the voice cannot say (a SIOD error in some diphone voices) is
                # skipped, not the end of the script
                lines.append(
                    f'(unwind-protect (utt.save.wave (utt.synth (Utterance Text "{esc}")) '
                    f'"{tmp}/u{i}.wav" \'riff) nil)'
                )
            script = Path(tmp) / "s.scm"
            script.write_text("\n".join(lines) + "\n")
            _run(["festival", "-b", str(script)], timeout=60.0 + 20.0 * len(texts))
            for i, (t, s) in enumerate(zip(texts, stretches, strict=True)):
                f = Path(tmp) / f"u{i}.wav"
                if f.exists():
                    out.append((_finish(load_audio(f)), {"text": t, "stretch": round(s, 3)}))
            if not out:
                raise SynthError(f"festival {voice.name} wrote no audio for {len(texts)} texts")
            return out
        for i, t in enumerate(texts):
            f = Path(tmp) / f"u{i}.wav"
            if voice.engine == "espeak-ng":
                pitch = int(np.clip(voice.pitch + rng.normal(0, 6), 0, 99))
                rate = int(np.clip(voice.rate * rng.uniform(0.88, 1.12), 90, 260))
                gap = int(rng.integers(0, 3))
                cmd = [
                    "espeak-ng",
                    "-v",
                    voice.name,
                    "-p",
                    str(pitch),
                    "-s",
                    str(rate),
                    "-g",
                    str(gap),
                    "-w",
                    str(f),
                    t,
                ]
                if espeak_path:
                    cmd.insert(1, f"--path={espeak_path}")
                _run(cmd)
                details: dict[str, object] = {"text": t, "pitch": pitch, "rate": rate}
            elif voice.engine == "flite":
                stretch = float(rng.uniform(0.85, 1.2))
                f0 = float(voice.pitch * rng.uniform(0.85, 1.18))
                _run(
                    [
                        "flite",
                        "-voice",
                        voice.name,
                        "--setf",
                        f"duration_stretch={stretch:.3f}",
                        "--setf",
                        f"int_f0_target_mean={f0:.1f}",
                        "-t",
                        t,
                        "-o",
                        str(f),
                    ]
                )
                details = {"text": t, "stretch": round(stretch, 3), "f0": round(f0, 1)}
            else:
                raise SynthError(f"unknown engine {voice.engine}")
            out.append((_finish(load_audio(f)), details))
    return out
