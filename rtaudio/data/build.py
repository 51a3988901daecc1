"""``rtaudio data build``: a deterministic, resumable offline corpus builder.

The build has two phases.

1. **Plan** (deterministic from the seed, the budget and what is installed): find sources
   (real recordings in Debian packages, synthetic voices, soundfonts), assign every source to a
   split (:func:`rtaudio.data.manifest.assign_splits`), spread the hour budget over kinds,
   sources and speakers, and cut the work into *jobs* (one voice's batch of utterances, one
   MIDI piece with one soundfont, one recording cut into clips...). Each job has a stable id
   and its own random seed.
2. **Run**: jobs run in worker processes; each writes its WAVs atomically and reports its
   manifest rows, which the main process appends to ``.build/journal.jsonl``. A re-run skips
   every job whose journal entry matches its spec and whose files all exist, so an interrupted
   build resumes where it stopped and a half-written clip is never counted.

The manifest (``manifest.csv`` / ``manifest.json``) and ``summary.json`` are written at the
end; they contain no timestamps, so the same seed gives byte-identical files. Build timings go
to ``.build/log.json``.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import math
import multiprocessing as mp
import os
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rtaudio.outputs import disk_full, exclusive

from . import sources as src
from .audio import (
    SR,
    active_fraction,
    audio_duration,
    fade,
    load_audio,
    normalize,
    split_member,
    trim_silence,
    write_text_atomic,
    write_wav,
)
from .manifest import (
    DEFAULT_FRACTIONS,
    IMPORT_DIR,
    SPLITS,
    ClipRecord,
    assign_splits,
    hours_by,
    read_manifest,
    slug,
    stable_int,
    write_manifest,
)

BUILDER_VERSION = 1
KINDS = ("speech", "music", "noise", "events")
KIND_SHARES = {"speech": 0.40, "music": 0.25, "noise": 0.10, "events": 0.25}
NOISE_TYPES = ("white", "pink", "brown", "blue", "violet", "hum", "babble")
NOISE_SHARES = {
    "white": 0.11,
    "pink": 0.13,
    "brown": 0.11,
    "blue": 0.08,
    "violet": 0.05,
    "hum": 0.12,
    "babble": 0.40,
}
ENGINE_SHARES = {"espeak-ng": 0.6, "flite": 0.2, "festival": 0.2}
CLIP_S = 5.0  # music / noise / long-event clip length
UTTS_PER_TTS_JOB = 8
MIN_CLIP_S = {"speech": 0.6, "music": 2.0, "noise": 2.0, "events": 0.25}
# each split gets at least this much real speech, so a tiny budget's held-out share still makes
# a clip that survives silence trimming and MIN_CLIP_S (no effect on real budgets)
REAL_SPEECH_MIN_SPLIT_S = 4.0


@dataclass
class BuildConfig:
    """Options of one build (see ``rtaudio data build --help``)."""

    out: Path
    hours: float = 6.0
    seed: int = 0
    kinds: tuple[str, ...] = KINDS
    jobs: int = 2
    real_speech_share: float = 0.6
    real_music_share: float = 0.35
    augment: float = 0.0  # probability that a clip is stored augmented
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
    progress: bool = True
    stop_after: int | None = None  # run at most this many jobs (an interrupted build)
    exclude: tuple[str, ...] = ()  # packages, synthesisers or soundfont families to skip
    pinned: dict[str, str] = field(default_factory=dict)  # source -> split kept from a corpus
    log: Callable[[str], None] = field(default=lambda s: print(s, file=sys.stderr))


@dataclass
class Job:
    """One unit of work: produces one or more clips."""

    id: str
    kind: str
    split: str
    seconds: float  # planned audio seconds (progress / ETA)
    spec: dict[str, Any]

    @property
    def spec_hash(self) -> str:
        return f"{stable_int(BUILDER_VERSION, json.dumps(self.spec, sort_keys=True)):016x}"


@dataclass
class Plan:
    jobs: list[Job]
    notices: list[str]
    sources: dict[str, Any]  # what was found / used per kind (for the summary)
    budget: dict[str, float]  # seconds per kind after redistribution
    context: dict[str, Any]  # worker context (espeak overlay path)


def _job_rng(seed: int, job_id: str) -> np.random.Generator:
    return np.random.default_rng(stable_int(seed, "job", job_id))


def _keep(cfg: BuildConfig, plan: Plan, files: list[src.SourceFile]) -> list[src.SourceFile]:
    """Drop the files of excluded packages (with one notice per package)."""
    out = [f for f in files if f.package not in cfg.exclude]
    for pkg in sorted({f.package for f in files} & set(cfg.exclude)):
        plan.notices.append(f"{pkg} excluded (--exclude)")
    return out


def have_engine(cfg: BuildConfig, engine: str) -> bool:
    """Whether a synthesiser is installed and not excluded."""
    from . import synth

    if engine in cfg.exclude:
        return False
    if engine == "espeak-ng":
        return synth.have_espeak()
    if engine == "fluidsynth":
        from . import music

        return music.have_fluidsynth()
    return True


# ---- duration cache ---------------------------------------------------------------------------


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/rtaudio`` (default ``~/.cache/rtaudio``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "rtaudio"


class DurationCache:
    """Durations of source files keyed by path, size and mtime.

    Kept in the build directory and shared through the user cache directory, so re-planning
    (a resumed build, another corpus) does not decode the same files again.
    """

    def __init__(self, path: Path, shared: Path | None = None) -> None:
        self.path = path
        self.shared = shared
        self.data: dict[str, list[float]] = {}
        for p in (shared, path):
            if p is not None and p.exists():
                with contextlib.suppress(OSError, ValueError):
                    self.data.update(json.loads(p.read_text()))
        self.dirty = False

    @staticmethod
    def _stamp(p: str) -> float:
        outer, _ = split_member(p)
        try:
            st = os.stat(outer)
            return float(st.st_size) + st.st_mtime
        except OSError:
            return -1.0

    def get(self, p: str) -> float:
        stamp = self._stamp(p)
        hit = self.data.get(p)
        if hit and hit[0] == stamp:
            return hit[1]
        try:
            d = audio_duration(p)
        except Exception:  # an unreadable file is not used (and not remembered as empty:
            return 0.0  # a decoder installed later makes it readable)
        self.data[p] = [stamp, d]
        self.dirty = True
        return d

    def save(self) -> None:
        if not self.dirty:
            return
        text = json.dumps(self.data, sort_keys=True)
        write_text_atomic(self.path, text)
        if self.shared is not None:
            with contextlib.suppress(OSError):  # a read-only home is fine
                write_text_atomic(self.shared, text)
        self.dirty = False


def _fill(
    units: dict[str, list[src.SourceFile]],
    unit_split: dict[str, str],
    budget: float,
    fractions: Sequence[float],
    seed: int,
    durations: DurationCache,
    per_file_cap: float = math.inf,
    min_take: float = 0.0,
    min_split: float = 0.0,
) -> dict[str, list[tuple[src.SourceFile, float]]]:
    """Spend ``budget`` seconds on units (speakers / tracks / recordings) as evenly as possible.

    The budget is first divided among the splits by ``fractions`` (over the splits that have
    units), so held-out sources get their share even on tiny budgets. Within a split, files of
    each unit are visited in a seeded random order and taken by the unit with the least time so
    far (water filling; ties broken by a seeded rank), each file contributing
    ``min(duration, per_file_cap, max(min_take, what is left))`` seconds, until the split's
    budget (at least ``min_split``) is spent or its units are exhausted. Only visited files are
    measured.
    """
    out: dict[str, list[tuple[src.SourceFile, float]]] = defaultdict(list)
    present = [s for s in SPLITS if any(unit_split[u] == s for u in units)]
    if not present:
        return out
    frac = {s: fractions[SPLITS.index(s)] for s in present}
    tot = sum(frac.values())
    for split in present:
        sb = max(budget * frac[split] / tot, min_split)
        mine = sorted(u for u in units if unit_split[u] == split)
        rank = np.random.default_rng(stable_int(seed, "rank", split)).permutation(len(mine))
        order: dict[str, list[src.SourceFile]] = {}
        for u in mine:
            files = sorted(units[u], key=lambda f: f.path)
            rng = np.random.default_rng(stable_int(seed, "fill", u))
            order[u] = [files[i] for i in rng.permutation(len(files))]
        heap = [(0.0, int(rank[i]), u) for i, u in enumerate(mine)]
        heapq.heapify(heap)
        pos = dict.fromkeys(mine, 0)
        spent = 0.0
        while heap and spent < sb:
            got, r, u = heapq.heappop(heap)
            while pos[u] < len(order[u]):
                f = order[u][pos[u]]
                pos[u] += 1
                d = durations.get(f.path)
                take = min(d, per_file_cap, max(min_take, sb - spent))
                if take > 0.2:
                    out[u].append((f, take))
                    spent += take
                    got += take
                    break
            else:
                continue  # unit exhausted
            heapq.heappush(heap, (got, r, u))
    return dict(out)


def _source_groups_summary(files: Sequence[src.SourceFile]) -> dict[str, Any]:
    pk: dict[str, int] = defaultdict(int)
    for f in files:
        pk[f.package] += 1
    return dict(sorted(pk.items()))


def _cuts(full: float, take: float, whole_below: float) -> list[list[float]]:
    """Clip windows ``[offset, length]`` spread evenly over a file of ``full`` seconds."""
    if full <= whole_below:
        return [[0.0, round(full, 3)]]
    n = max(1, round(take / CLIP_S))
    step = (full - CLIP_S) / n
    return [[round(step * (k + 0.5), 3), CLIP_S] for k in range(n)]


# ---- planning -----------------------------------------------------------------------------------


def _plan_real_speech(
    cfg: BuildConfig,
    budget: float,
    plan: Plan,
    dur: DurationCache,
    split_units: dict[str, tuple[str, float]],
) -> tuple[list[Job], float]:
    """Jobs for real recorded speech; returns them and the seconds actually planned."""
    jobs: list[Job] = []
    real_files, notes = src.scan("speech")
    plan.notices += [n.message for n in notes]
    real_files = _keep(cfg, plan, real_files)
    plan.sources["speech"] = {"real_files_found": _source_groups_summary(real_files)}
    if not real_files:
        plan.notices.append(
            "speech: no real recordings installed; synthetic speech only "
            "(bash install.sh --data adds them)"
        )
        return jobs, 0.0
    weights: dict[str, float] = defaultdict(float)
    for f in real_files:
        weights[f.group] += 1.0
    for f in real_files:
        split_units[f.group] = (f"speech-real:{f.group.split(':')[1]}", weights[f.group])
    splits = assign_splits(split_units, cfg.seed, cfg.fractions, cfg.pinned)
    by_speaker: dict[str, list[src.SourceFile]] = defaultdict(list)
    for f in real_files:
        by_speaker[f.speaker].append(f)
    spk_split = {s: splits[fs[0].group] for s, fs in by_speaker.items()}
    alloc = _fill(
        by_speaker,
        spk_split,
        budget,
        cfg.fractions,
        stable_int(cfg.seed, "speech-real"),
        dur,
        per_file_cap=30.0,
        min_split=REAL_SPEECH_MIN_SPLIT_S,
    )
    used = 0.0
    speakers_used: dict[str, float] = {}
    for spk in sorted(alloc):
        secs = sum(d for _, d in alloc[spk])
        used += secs
        speakers_used[spk] = round(secs / 60.0, 2)
        by_pkg: dict[str, list[tuple[src.SourceFile, float]]] = defaultdict(list)
        for f, d in alloc[spk]:  # one speaker may span packages (Allison: en and es)
            by_pkg[f.package].append((f, d))
        for pkg in sorted(by_pkg):
            items = by_pkg[pkg]
            f0 = items[0][0]
            rng = np.random.default_rng(stable_int(cfg.seed, "pack", spk, pkg))
            clips: list[list[list[Any]]] = []
            cur: list[list[Any]] = []
            cur_len = 0.0
            target = float(rng.uniform(2.5, 6.0))
            for f, d in items:
                if d > 7.0:  # long file: cut into pieces
                    n = math.ceil(d / 6.0)
                    for k in range(n):
                        clips.append([[f.path, round(k * d / n, 3), round(d / n, 3), 0.0]])
                    continue
                gap = round(float(rng.uniform(0.15, 0.5)), 3) if cur else 0.0
                cur.append([f.path, 0.0, round(d, 3), gap])
                cur_len += d + gap
                if cur_len >= target or len(cur) >= 10:
                    clips.append(cur)
                    cur, cur_len, target = [], 0.0, float(rng.uniform(2.5, 6.0))
            if cur:
                clips.append(cur)
            for b in range(0, len(clips), 12):
                batch = clips[b : b + 12]
                jid = f"speech-real-{slug(spk)}-{slug(pkg)}-{b // 12:04d}"
                jobs.append(
                    Job(
                        jid,
                        "speech",
                        "",
                        sum(seg[2] + seg[3] for c in batch for seg in c),
                        {
                            "type": "real_speech",
                            "clips": batch,
                            "speaker": spk,
                            "group": f0.group,
                            "package": f0.package,
                            "license": f0.license,
                            "lang": f0.lang,
                        },
                    )
                )
    plan.sources["speech"]["real_speakers_used_minutes"] = speakers_used
    plan.sources["speech"]["real_speaker_splits"] = dict(sorted(spk_split.items()))
    return jobs, used


def _plan_speech(
    cfg: BuildConfig,
    budget: float,
    plan: Plan,
    dur: DurationCache,
    split_units: dict[str, tuple[str, float]],
) -> list[Job]:
    from . import synth

    jobs, used_real = _plan_real_speech(cfg, budget * cfg.real_speech_share, plan, dur, split_units)
    syn_budget = budget - used_real
    voices_by_engine: dict[str, list[synth.Voice]] = {
        "flite": synth.flite_personas() if have_engine(cfg, "flite") else [],
        "festival": [
            v
            for v in (synth.festival_personas() if have_engine(cfg, "festival") else [])
            if _festival_package(v.name) not in cfg.exclude
        ],
    }
    for eng, pkg in (("flite", "flite"), ("festival", "festival + festvox-* voices")):
        if eng in cfg.exclude:
            plan.notices.append(f"speech: {eng} excluded (--exclude)")
        elif not voices_by_engine[eng]:
            plan.notices.append(f"speech: {eng} skipped ({pkg} not installed)")
    if "espeak-ng" in cfg.exclude:
        plan.notices.append("speech: espeak-ng excluded (--exclude)")
    elif not synth.have_espeak():
        plan.notices.append("speech: espeak-ng skipped (espeak-ng not installed)")
    shares = {
        e: s
        for e, s in ENGINE_SHARES.items()
        if (e == "espeak-ng" and have_engine(cfg, e)) or voices_by_engine.get(e)
    }
    if not shares:
        plan.notices.append("speech: no synthesiser installed; no synthetic speech")
        return jobs
    total_share = sum(shares.values())
    utt_s = 4.1  # mean synthetic utterance length (measured on a 6 h build)
    if "espeak-ng" in shares:
        eb = syn_budget * shares["espeak-ng"] / total_share
        n_personas = int(np.clip(eb / (utt_s * 12), 3, synth.MAX_PERSONAS))
        voices_by_engine["espeak-ng"] = synth.espeak_personas(n_personas, cfg.seed)
        plan.context["espeak_personas"] = [asdict(v) for v in voices_by_engine["espeak-ng"]]
    # register every voice first: a split unit's split depends on its whole stratum
    n_voices: dict[str, float] = defaultdict(float)
    for eng in shares:
        for v in voices_by_engine.get(eng, []):
            n_voices[v.group] += 1.0
    for eng in shares:
        strat = "speech-synth:espeak" if eng == "espeak-ng" else "speech-synth:voices"
        for v in voices_by_engine.get(eng, []):
            split_units[v.group] = (strat, n_voices[v.group])
    groups = assign_splits(split_units, cfg.seed, cfg.fractions, cfg.pinned)
    used_syn: dict[str, int] = {}
    for eng in ("espeak-ng", "flite", "festival"):
        voices = voices_by_engine.get(eng, [])
        if eng not in shares or not voices:
            continue
        eb = syn_budget * shares[eng] / total_share
        present = [s for s in SPLITS if any(groups[v.group] == s for v in voices)]
        tot = sum(cfg.fractions[SPLITS.index(s)] for s in present)
        for split in present:
            sb = eb * cfg.fractions[SPLITS.index(split)] / tot
            vs = [v for v in voices if groups[v.group] == split]
            # tiny budgets: fewer voices, each with at least two utterances (enrollment)
            n_use = min(len(vs), max(1, int(sb // (2 * utt_s))))
            pick = np.random.default_rng(stable_int(cfg.seed, "voices", eng, split)).permutation(
                len(vs)
            )[:n_use]
            n_utts = max(2, round(sb / n_use / utt_s))
            n_jobs = max(1, round(n_utts / UTTS_PER_TTS_JOB))
            for i in sorted(int(p) for p in pick):
                v = vs[i]
                for k in range(n_jobs):
                    n = n_utts // n_jobs + (1 if k < n_utts % n_jobs else 0)
                    if n <= 0:
                        continue
                    jid = f"speech-{eng}-{slug(v.name)}-{k:04d}"
                    jobs.append(
                        Job(
                            jid,
                            "speech",
                            "",
                            n * utt_s,
                            {"type": "tts", "voice": asdict(v), "n": n},
                        )
                    )
                used_syn[f"{eng}:{v.name}"] = n_utts
    plan.sources["speech"]["synthetic_utterances_per_voice"] = used_syn
    plan.sources["speech"]["synthetic_voice_splits"] = {g: groups[g] for g in sorted(n_voices)}
    return jobs


def _plan_music(
    cfg: BuildConfig,
    budget: float,
    plan: Plan,
    dur: DurationCache,
    split_units: dict[str, tuple[str, float]],
) -> list[Job]:
    from . import music

    jobs: list[Job] = []
    real_files, notes = src.scan("music")
    plan.notices += [n.message for n in notes]
    real_files = _keep(cfg, plan, real_files)
    real_budget = budget * cfg.real_music_share if real_files else 0.0
    for f in real_files:
        split_units[f.group] = (f"music-real:{f.package}", 0.0)
    splits = assign_splits(split_units, cfg.seed, cfg.fractions, cfg.pinned)
    by_track: dict[str, list[src.SourceFile]] = defaultdict(list)
    for f in real_files:
        by_track[f.group].append(f)
    # spread the budget over many tracks: each gives about its fair share, at least one clip
    cap = float(np.clip(1.2 * real_budget / max(1, len(by_track)), 10.0, 240.0))
    alloc = _fill(
        by_track,
        {g: splits[g] for g in by_track},
        real_budget,
        cfg.fractions,
        stable_int(cfg.seed, "music-real"),
        dur,
        per_file_cap=cap,
        min_take=CLIP_S,
    )
    used_real = 0.0
    for g in sorted(alloc):
        for f, take in alloc[g]:
            cuts = _cuts(dur.get(f.path), take, CLIP_S)
            used_real += sum(c[1] for c in cuts)
            jobs.append(
                Job(
                    f"music-real-{slug(f.speaker)}-{stable_int(f.path) % 10**8:08d}",
                    "music",
                    "",
                    sum(c[1] for c in cuts),
                    {
                        "type": "cut",
                        "path": f.path,
                        "cuts": cuts,
                        "label": "music",
                        "speaker": f.speaker,
                        "group": f.group,
                        "package": f.package,
                        "license": f.license,
                        "min_active": 0.3,
                    },
                )
            )
    plan.sources["music"] = {
        "real_files_found": _source_groups_summary(real_files),
        "real_tracks_used": len(alloc),
    }
    syn_budget = budget - used_real
    fonts = music.find_soundfonts() if have_engine(cfg, "fluidsynth") else []
    dropped = [sf for sf in fonts if sf.family in cfg.exclude or sf.package in cfg.exclude]
    for sf in dropped:
        plan.notices.append(f"music: soundfont {sf.family} excluded (--exclude)")
    fonts = [sf for sf in fonts if sf not in dropped]
    if "fluidsynth" in cfg.exclude:
        plan.notices.append("music: fluidsynth excluded (--exclude)")
    elif not music.have_fluidsynth():
        plan.notices.append("music: fluidsynth not installed; no synthetic music")
    elif not fonts:
        plan.notices.append("music: no GM soundfont installed; no synthetic music")
    if not fonts:
        return jobs
    from .licenses import file_license

    for sf in fonts:
        split_units[f"soundfont:{sf.family}"] = ("music-synth", float(os.path.getsize(sf.path)))
    groups = assign_splits(split_units, cfg.seed, cfg.fractions, cfg.pinned)
    plan.sources["music"]["soundfonts"] = {
        sf.family: {
            "path": sf.path,
            "package": sf.package,
            "split": groups[f"soundfont:{sf.family}"],
        }
        for sf in fonts
    }
    present = [s for s in SPLITS if any(groups[f"soundfont:{f.family}"] == s for f in fonts)]
    tot = sum(cfg.fractions[SPLITS.index(s)] for s in present)
    for split in present:
        fs = [s for s in fonts if groups[f"soundfont:{s.family}"] == split]
        per_font = syn_budget * cfg.fractions[SPLITS.index(split)] / tot / len(fs)
        piece_s = float(np.clip(per_font + 4.0, 9.0, 36.0))
        n_pieces = max(1, round(per_font / (piece_s - 4.0)))
        for sf in fs:
            lic = file_license(sf.package, sf.path) if sf.package else "unknown"
            for k in range(n_pieces):
                jobs.append(
                    Job(
                        f"music-midi-{sf.family}-{k:04d}",
                        "music",
                        "",
                        piece_s - 4,
                        {
                            "type": "midi",
                            "soundfont": sf.path,
                            "family": sf.family,
                            "package": sf.package,
                            "license": lic,
                            "seconds": piece_s,
                        },
                    )
                )
    return jobs


def _plan_noise(cfg: BuildConfig, budget: float, plan: Plan) -> list[Job]:
    jobs: list[Job] = []
    types = list(NOISE_TYPES)
    if not have_engine(cfg, "espeak-ng"):
        types.remove("babble")
        plan.notices.append("noise: babble skipped (espeak-ng not installed or excluded)")
    total = sum(NOISE_SHARES[t] for t in types)
    per_job_clips = 6
    counts = {t: round(budget * NOISE_SHARES[t] / total / CLIP_S) for t in types}
    if not any(counts.values()):
        counts[types[1]] = 1
    for t in types:
        n_total = counts[t]
        n_jobs = math.ceil(n_total / per_job_clips)
        for k in range(n_jobs):
            # generated noise has no source to leak: jobs go to splits by the fractions
            u = (k + 0.5) / n_jobs
            split = (
                "train"
                if u < cfg.fractions[0]
                else ("validation" if u < cfg.fractions[0] + cfg.fractions[1] else "test")
            )
            n_clips = n_total // n_jobs + (1 if k < n_total % n_jobs else 0)
            group = f"babble:{split}" if t == "babble" else f"generated:{t}:{k:04d}"
            jobs.append(
                Job(
                    f"noise-{t}-{k:04d}",
                    "noise",
                    split,
                    n_clips * CLIP_S,
                    {
                        "type": "babble" if t == "babble" else "noise",
                        "noise": t,
                        "n": n_clips,
                        "group": group,
                        "split": split,
                    },
                )
            )
    return jobs


def _plan_events(
    cfg: BuildConfig,
    budget: float,
    plan: Plan,
    dur: DurationCache,
    split_units: dict[str, tuple[str, float]],
) -> tuple[list[Job], float]:
    """Event jobs and the part of the budget the installed recordings cannot fill."""
    jobs: list[Job] = []
    files, notes = src.scan("events")
    plan.notices += [n.message for n in notes]
    files = _keep(cfg, plan, files)
    by_class: dict[str, list[src.SourceFile]] = defaultdict(list)
    for f in files:
        by_class[f.label].append(f)
    classes = []
    report: dict[str, Any] = {}
    for c in src.EVENT_CLASSES:
        fs = by_class.get(c, [])
        groups = {f.group for f in fs}
        if len(groups) < 2:
            plan.notices.append(
                f"events: class {c!r} skipped ({len(groups)} recording(s) "
                f"found; 2 independent ones needed)"
            )
            continue
        classes.append(c)
        report[c] = {
            "packages": sorted({f.package for f in fs}),
            "recordings": len(groups),
            "files": len(fs),
        }
        for f in fs:
            split_units[f.group] = (f"events:{c}", 0.0)
    plan.sources["events"] = report
    if not classes:
        return jobs, budget
    splits = assign_splits(split_units, cfg.seed, cfg.fractions, cfg.pinned)
    allocs: dict[str, dict[str, list[tuple[src.SourceFile, float]]]] = {}
    left = budget
    remaining = list(classes)
    rounds = 0
    # classes get equal shares; what a small class cannot use goes to the others
    while remaining and left > CLIP_S:
        share = left / len(remaining)
        nxt = []
        for c in remaining:
            taken = {f.path for v in allocs.get(c, {}).values() for f, _ in v}
            units: dict[str, list[src.SourceFile]] = defaultdict(list)
            for f in by_class[c]:
                if f.path not in taken:
                    units[f.group].append(f)
            a = _fill(
                units,
                {g: splits[g] for g in units},
                share,
                cfg.fractions,
                stable_int(cfg.seed, "events", c, rounds),
                dur,
                per_file_cap=60.0,
                min_take=CLIP_S,
            )
            got = sum(d for v in a.values() for _, d in v)
            for g, v in a.items():
                allocs.setdefault(c, {}).setdefault(g, []).extend(v)
            left -= got
            if got >= share * 0.95 and len(taken) + sum(len(v) for v in a.values()) < len(
                by_class[c]
            ):
                nxt.append(c)
        remaining = nxt
        rounds += 1
    used = 0.0
    for c in classes:
        secs = 0.0
        for g in sorted(allocs.get(c, {})):
            for f, take in allocs[c][g]:
                cuts = _cuts(dur.get(f.path), take, 6.0)
                secs += sum(x[1] for x in cuts)
                jobs.append(
                    Job(
                        f"events-{c}-{slug(f.speaker)}-{stable_int(f.path) % 10**8:08d}",
                        "events",
                        "",
                        sum(x[1] for x in cuts),
                        {
                            "type": "cut",
                            "path": f.path,
                            "cuts": cuts,
                            "label": c,
                            "speaker": f.speaker,
                            "group": f.group,
                            "package": f.package,
                            "license": f.license,
                            "min_active": 0.05,
                            "note": f.note,
                        },
                    )
                )
        used += secs
        report[c]["planned_minutes"] = round(secs / 60.0, 2)
    return jobs, max(0.0, budget - used)


def make_plan(cfg: BuildConfig) -> Plan:
    """The deterministic job list for ``cfg`` (reads what is installed; measures durations)."""
    for k in cfg.kinds:
        if k not in KINDS:
            raise ValueError(f"unknown kind {k!r} (choose from {', '.join(KINDS)})")
    bdir = Path(cfg.out) / ".build"
    bdir.mkdir(parents=True, exist_ok=True)
    dur = DurationCache(bdir / "durations.json", user_cache_dir() / "durations.json")
    plan = Plan([], [], {}, {}, {})
    total = cfg.hours * 3600.0
    share = {k: KIND_SHARES[k] for k in cfg.kinds}
    s = sum(share.values())
    budget = {k: total * v / s for k, v in share.items()}
    split_units: dict[str, tuple[str, float]] = {}
    # events first: what the real recordings cannot fill goes to speech and music
    if "events" in budget:
        ev_jobs, spare = _plan_events(cfg, budget["events"], plan, dur, split_units)
        plan.jobs += ev_jobs
        sinks: list[str] = [k for k in ("speech", "music") if k in budget]
        if not sinks and "noise" in budget:
            sinks = ["noise"]
        if spare > CLIP_S and sinks:
            plan.notices.append(
                f"events: the installed recordings fill "
                f"{(budget['events'] - spare) / 3600:.2f} h; "
                f"{spare / 3600:.2f} h moved to {' and '.join(sinks)}"
            )
            budget["events"] -= spare
            for k in sinks:
                budget[k] += spare / len(sinks)
    if "speech" in budget:
        plan.jobs += _plan_speech(cfg, budget["speech"], plan, dur, split_units)
    if "music" in budget:
        plan.jobs += _plan_music(cfg, budget["music"], plan, dur, split_units)
    if "noise" in budget:
        plan.jobs += _plan_noise(cfg, budget["noise"], plan)
    dur.save()
    splits = assign_splits(split_units, cfg.seed, cfg.fractions, cfg.pinned)
    for j in plan.jobs:
        if not j.split:
            g = (
                j.spec.get("group")
                or j.spec.get("voice", {}).get("group")
                or f"soundfont:{j.spec.get('family')}"
            )
            j.split = splits[g]
        j.spec["split"] = j.split
    if "noise" in budget:
        _attach_babble_sources(cfg, plan, splits)
    plan.budget = {k: round(v, 1) for k, v in budget.items()}
    return plan


def _attach_babble_sources(cfg: BuildConfig, plan: Plan, splits: dict[str, str]) -> None:
    """Babble jobs get voices and real files of their own split only (no speaker leaks)."""
    from . import synth

    personas = [synth.Voice(**v) for v in plan.context.get("espeak_personas", [])]
    if not personas and have_engine(cfg, "espeak-ng"):
        personas = synth.espeak_personas(24, cfg.seed)
        plan.context["espeak_personas"] = [asdict(v) for v in personas]
    own = {v.group: splits[v.group] for v in personas if v.group in splits}
    if len(own) < len({v.group for v in personas}):  # personas not used for speech clips
        own = assign_splits(
            {v.group: ("speech-synth:espeak", 1.0) for v in personas}, cfg.seed, cfg.fractions
        )
    real_by_split: dict[str, list[str]] = defaultdict(list)
    for j in plan.jobs:
        if j.spec["type"] == "real_speech":
            for c in j.spec["clips"]:
                real_by_split[j.split].extend(seg[0] for seg in c)
    for j in plan.jobs:
        if j.spec["type"] != "babble":
            continue
        split = j.split
        vs = [asdict(v) for v in personas if own[v.group] == split]
        rng = _job_rng(cfg.seed, j.id + ":sources")
        real = sorted(set(real_by_split.get(split, [])))
        pick = (
            [real[int(i)] for i in rng.choice(len(real), size=min(len(real), 16), replace=False)]
            if real
            else []
        )
        vpick = (
            [vs[int(i)] for i in rng.choice(len(vs), size=min(len(vs), 8), replace=False)]
            if vs
            else []
        )
        j.spec["voices"] = vpick
        j.spec["real"] = sorted(pick)


# ---- running jobs -----------------------------------------------------------------------------


def _clip_path(job: Job | dict[str, Any], k: int) -> str:
    spec = job.spec if isinstance(job, Job) else job["spec"]
    jid = job.id if isinstance(job, Job) else job["id"]
    kind = job.kind if isinstance(job, Job) else job["kind"]
    group = (
        spec.get("group")
        or spec.get("voice", {}).get("group")
        or f"soundfont_{spec.get('family', 'x')}"
    )
    return f"{kind}/{spec['split']}/{slug(group)}/{jid}_{k:03d}.wav"


def _finish_clip(
    x: np.ndarray, kind: str, rng: np.random.Generator, augment_p: float
) -> tuple[np.ndarray, list[str]]:
    steps: list[str] = []
    if augment_p > 0 and rng.random() < augment_p:
        from .augment import augment

        x, steps = augment(x, rng, SR)
    x = normalize(fade(x), -20.0 if kind != "noise" else float(rng.uniform(-30, -18)))
    return x, steps


def run_job(
    job: dict[str, Any], out: str, seed: int, context: dict[str, Any], augment_p: float = 0.0
) -> list[dict[str, Any]]:
    """Run one job (in a worker): write its clips, return their manifest rows as dicts."""
    spec = job["spec"]
    rng = _job_rng(seed, job["id"])
    kind = job["kind"]
    split = spec["split"]
    rows: list[dict[str, Any]] = []

    def emit(
        k: int,
        x: np.ndarray,
        label: str,
        speaker: str,
        group: str,
        package: str,
        lic: str,
        real: int,
        origin: str,
        details: dict[str, Any],
    ) -> None:
        if x.size < MIN_CLIP_S[kind] * SR:
            return
        x, steps = _finish_clip(x, kind, rng, augment_p if real or kind == "speech" else 0.0)
        if steps:
            details = dict(details, augment=steps)
        rel = _clip_path(job, k)
        write_wav(Path(out) / rel, x, SR)
        rows.append(
            asdict(
                ClipRecord(
                    rel,
                    kind,
                    label,
                    speaker,
                    group,
                    package,
                    lic,
                    split,
                    round(x.size / SR, 4),
                    real,
                    origin,
                    json.dumps(details, sort_keys=True),
                )
            )
        )

    t = spec["type"]
    if t == "tts":
        from . import synth
        from .text import TextSource

        v = synth.Voice(**spec["voice"])
        texts = [TextSource().sentence(rng) for _ in range(spec["n"])]
        pkg = {"espeak-ng": "espeak-ng", "flite": "flite", "festival": "festival"}[v.engine]
        if v.engine == "festival":
            pkg = _festival_package(v.name)
        lic = (
            "GPL-3+"
            if v.engine == "espeak-ng"
            else (
                "flite licence (BSD-style)"
                if v.engine == "flite"
                else "festival voice licence (free)"
            )
        )
        # a synthesiser that fails (SynthError) fails the job: reported, not journaled as
        # done, and retried by the next run
        audio = synth.synthesize(v, texts, rng, context.get("espeak_path"))
        for k, (x, det) in enumerate(audio):
            emit(
                k,
                x,
                "speech",
                v.speaker,
                v.group,
                pkg,
                lic,
                0,
                f"{v.engine}:{v.name}",
                dict(det, lang=v.lang, gender=v.gender),
            )
    elif t == "real_speech":
        for k, clip in enumerate(spec["clips"]):
            parts: list[np.ndarray] = []
            for path, off, d, gap in clip:
                y = load_audio(path, SR, offset=off, duration=d)
                y = trim_silence(y, SR, threshold_db=-55.0, rel_db=45.0, pad=0.05)
                if y.size == 0:
                    continue
                if parts and gap > 0:
                    parts.append(np.zeros(round(gap * SR), np.float32))
                parts.append(y)
            if not parts:
                continue
            x = np.concatenate(parts)
            if active_fraction(x) < 0.2:
                continue
            emit(
                k,
                x,
                "speech",
                spec["speaker"],
                spec["group"],
                spec["package"],
                spec["license"],
                1,
                str(Path(clip[0][0]).parent),
                {
                    "segments": [[Path(split_member(p)[1] or p).name, o, d] for p, o, d, _ in clip],
                    "lang": spec["lang"],
                },
            )
    elif t == "cut":
        for k, (off, d) in enumerate(spec["cuts"]):
            x = load_audio(spec["path"], SR, offset=off, duration=d)
            if kind == "events":
                x = trim_silence(x, SR, threshold_db=-60.0, rel_db=50.0, pad=0.05)
            if x.size == 0 or active_fraction(x) < spec["min_active"]:
                continue
            emit(
                k,
                x,
                spec["label"],
                spec["speaker"],
                spec["group"],
                spec["package"],
                spec["license"],
                1,
                spec["path"],
                {"offset": off, **({"note": spec["note"]} if spec.get("note") else {})},
            )
    elif t == "midi":
        from . import music

        piece = music.random_piece(rng, spec["seconds"])
        reverb = bool(rng.random() < 0.7)
        x = music.render(piece, spec["soundfont"], reverb=reverb, chorus=bool(rng.random() < 0.5))
        x = trim_silence(x, SR, threshold_db=-60.0, rel_db=50.0, pad=0.0)
        n = int(x.size // (CLIP_S * SR))
        for k in range(n):
            y = x[round(k * CLIP_S * SR) : round((k + 1) * CLIP_S * SR)]
            if active_fraction(y) < 0.3:
                continue
            emit(
                k,
                y,
                "music",
                f"midi:{spec['family']}",
                f"soundfont:{spec['family']}",
                spec["package"],
                spec["license"],
                0,
                spec["soundfont"],
                dict(piece.description, reverb=reverb, part=k),
            )
    elif t == "noise":
        from .noise import noise_clip

        for k in range(spec["n"]):
            x = noise_clip(spec["noise"], CLIP_S, rng)
            emit(
                k,
                x,
                f"{spec['noise']}_noise" if spec["noise"] != "hum" else "hum",
                f"generated:{spec['noise']}",
                spec["group"],
                "rtaudio",
                "MIT",
                0,
                "numpy",
                {"noise": spec["noise"]},
            )
    elif t == "babble":
        from . import synth
        from .noise import babble
        from .text import TextSource

        utts: list[np.ndarray] = []
        ts = TextSource()
        for vd in spec["voices"]:
            v = synth.Voice(**vd)
            try:
                got = synth.synthesize(
                    v, [ts.sentence(rng) for _ in range(3)], rng, context.get("espeak_path")
                )
                utts += [x for x, _ in got if x.size]
            except synth.SynthError:
                continue
        for p in spec["real"]:
            y = trim_silence(load_audio(p, SR), SR)
            if y.size:
                utts.append(normalize(y, -20.0))
        if utts:
            order = rng.permutation(len(utts))
            utts = [utts[int(i)] for i in order]
            for k in range(spec["n"]):
                x = babble(utts, CLIP_S, rng)
                emit(
                    k,
                    x,
                    "babble",
                    f"babble:{split}",
                    spec["group"],
                    "espeak-ng" + (" + real speech" if spec["real"] else ""),
                    "GPL-3+ / see the speech sources",
                    0,
                    f"{len(spec['voices'])} espeak-ng personas + {len(spec['real'])} files",
                    {
                        "voices": [v["speaker"] for v in spec["voices"]],
                        "real_files": len(spec["real"]),
                    },
                )
    else:
        raise ValueError(f"unknown job type {t!r}")
    return rows


def _festival_package(voice: str) -> str:
    known = {
        "kal_diphone": "festvox-kallpc16k",
        "ked_diphone": "festvox-kdlpc16k",
        "cmu_us_slt_arctic_hts": "festvox-us-slt-hts",
        "lp_diphone": "festvox-italp16k",
        "pc_diphone": "festvox-itapc16k",
        "suo_fi_lj_diphone": "festvox-suopuhe-lj",
        "hy_fi_mv_diphone": "festvox-suopuhe-mv",
    }
    return known.get(voice, "festival")


def _worker(
    args: tuple[dict[str, Any], str, int, dict[str, Any], float],
) -> tuple[str, list[dict[str, Any]] | None, str]:
    job, out, seed, ctx, aug = args
    try:
        return job["id"], run_job(job, out, seed, ctx, aug), ""
    except Exception as e:  # one bad source never stops the build
        return job["id"], None, f"{type(e).__name__}: {e}"


# ---- journal ------------------------------------------------------------------------------------


def read_journal(path: Path) -> dict[str, dict[str, Any]]:
    """Completed jobs from the journal; a torn last line (a crash mid-write) is ignored."""
    done: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return done
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                e = json.loads(line)
                done[e["job"]] = e
            except (ValueError, KeyError, TypeError):
                continue
    return done


def _append_journal(path: Path, entry: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


# ---- the build ----------------------------------------------------------------------------------


@dataclass
class BuildResult:
    records: list[ClipRecord]
    ran: int
    skipped: int
    failed: list[str]
    complete: bool
    seconds: float
    notices: list[str]


def _progress(total: float, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    tty = sys.stderr.isatty()
    return tqdm(
        total=total,
        unit="s",
        unit_scale=False,
        desc="rtaudio data",
        dynamic_ncols=True,
        mininterval=0.5 if tty else 30.0,
        smoothing=0.05,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s audio "
        "[{elapsed}<{remaining}, {postfix}]",
    )


def _iter_results(
    todo: list[Job], cfg: BuildConfig, ctx: dict[str, Any]
) -> Iterator[tuple[str, list[dict[str, Any]] | None, str]]:
    args = [
        ({"id": j.id, "kind": j.kind, "spec": j.spec}, str(cfg.out), cfg.seed, ctx, cfg.augment)
        for j in todo
    ]
    if cfg.jobs <= 1 or len(todo) <= 1:
        for a in args:
            yield _worker(a)
        return
    mpctx = mp.get_context("spawn")
    with mpctx.Pool(processes=cfg.jobs) as pool:
        yield from pool.imap_unordered(_worker, args, chunksize=1)


def build(cfg: BuildConfig) -> BuildResult:
    """Plan and run (or resume) a corpus build into ``cfg.out``; one build at a time per
    folder (a second one would run the same jobs into the same journal)."""
    t0 = time.time()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    bdir = out / ".build"
    bdir.mkdir(exist_ok=True)
    with exclusive(bdir / "run", f"corpus {out}"):
        return _build(cfg, out, bdir, t0)


_ABSENT = re.compile(r"(\S+) not installed \(.* missing\)")


def shown_notices(notices: list[str]) -> list[str]:
    """The plan's notices as told to the user: the packages that are not installed in one
    line (one line each was a screenful before the progress bar), the others as they are."""
    absent = {m.group(1) for n in notices if (m := _ABSENT.fullmatch(n))}
    rest = [n for n in notices if not _ABSENT.fullmatch(n)]
    if not absent:
        return rest
    return [
        f"{len(absent)} source packages not installed, skipped: {', '.join(sorted(absent))} "
        "(`bash install.sh --data` installs them)",
        *rest,
    ]


def _build(cfg: BuildConfig, out: Path, bdir: Path, t0: float) -> BuildResult:
    for stale in out.rglob(".*.part"):  # temporary files of an interrupted run
        stale.unlink(missing_ok=True)
    plan = make_plan(cfg)
    for n in shown_notices(plan.notices):
        cfg.log(f"rtaudio data: {n}")
    ctx = dict(plan.context)
    personas = [v for v in ctx.pop("espeak_personas", [])]
    ctx.pop("splits", None)
    if personas:
        from . import synth

        ctx["espeak_path"] = synth.prepare_espeak_overlay(
            bdir / "espeak", [synth.Voice(**v) for v in personas]
        )
    journal_path = bdir / "journal.jsonl"
    journal = read_journal(journal_path)
    done: dict[str, list[dict[str, Any]]] = {}
    todo: list[Job] = []
    for j in plan.jobs:
        e = journal.get(j.id)
        if (
            e
            and e.get("spec") == j.spec_hash
            and all((out / r["path"]).exists() for r in e["records"])
        ):
            done[j.id] = e["records"]
        else:
            todo.append(j)
    total = sum(j.seconds for j in plan.jobs)
    cfg.log(
        f"rtaudio data: {len(plan.jobs)} jobs, {total / 3600:.2f} h planned; "
        f"{len(done)} already done, {len(todo)} to run with {cfg.jobs} worker(s)"
    )
    if cfg.stop_after is not None:
        todo = todo[: cfg.stop_after]
    bar = _progress(total, cfg.progress)
    if bar is not None:
        bar.update(math.fsum(j.seconds for j in plan.jobs if j.id in done))
    failed: list[str] = []
    ran = 0
    by_id = {j.id: j for j in plan.jobs}
    try:
        for jid, rows, err in _iter_results(todo, cfg, ctx):
            job = by_id[jid]
            if rows is None:
                full = disk_full(out, RuntimeError(err))
                if full is not None:  # every job left would fail the same way: stop here
                    raise full
                failed.append(f"{jid}: {err}")
                cfg.log(f"rtaudio data: job {jid} failed ({err}); a re-run retries it")
            else:
                done[jid] = rows
                _append_journal(journal_path, {"job": jid, "spec": job.spec_hash, "records": rows})
                ran += 1
            if bar is not None:
                bar.update(min(job.seconds, bar.total - bar.n))  # float sums: never past 100 %
                bar.set_postfix_str(f"{sum(len(v) for v in done.values())} clips", refresh=False)
    finally:
        if bar is not None:
            bar.close()
    # every job attempted: the manifest is written; failed jobs (listed in the summary and
    # retried by the next run) just contribute no clips
    failed_ids = {f.split(":", 1)[0] for f in failed}
    complete = len(done) + len(failed_ids) == len(plan.jobs)
    records = [ClipRecord(**r) for j in plan.jobs for r in done.get(j.id, [])]
    if complete:
        _prune(out, {r.path for r in records})
        summary = _summary(cfg, plan, records)
        # clips added by `rtaudio data import` (under imported/) are the user's: keep them
        manifest = out / "manifest.csv"
        if manifest.is_file():
            records += [
                ClipRecord(**r)
                for r in read_manifest(out)
                if str(r["path"]).startswith(f"{IMPORT_DIR}/") and (out / r["path"]).is_file()
            ]
        summary["failed_jobs"] = sorted(failed)
        write_manifest(out, records, summary)
        write_text_atomic(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    elapsed = time.time() - t0
    log = {
        "seconds": round(elapsed, 1),
        "ran": ran,
        "skipped": len(done) - ran,
        "failed": failed,
        "complete": complete,
        "jobs": cfg.jobs,
        "planned_jobs": len(plan.jobs),
    }
    write_text_atomic(bdir / "log.json", json.dumps(log, indent=1) + "\n")
    if complete:
        cfg.log(
            f"rtaudio data: done: {len(records)} clips, "
            f"{sum(r.duration for r in records) / 3600:.2f} h in {elapsed:.0f} s -> "
            f"{out / 'manifest.csv'}"
            + (f" ({len(failed)} job(s) failed: re-run to retry them)" if failed else "")
        )
    else:
        cfg.log(
            f"rtaudio data: stopped with {len(plan.jobs) - len(done)} job(s) left; "
            f"run the same command again to resume"
        )
    return BuildResult(records, ran, len(done) - ran, failed, complete, elapsed, plan.notices)


def _prune(out: Path, keep: set[str]) -> None:
    """Remove WAVs under the corpus that the current plan does not reference."""
    for kind in KINDS:
        d = out / kind
        if not d.is_dir():
            continue
        for f in d.rglob("*.wav"):
            if f.relative_to(out).as_posix() not in keep:
                f.unlink()
        for sub in sorted(d.rglob("*"), reverse=True):
            if sub.is_dir() and not any(sub.iterdir()):
                sub.rmdir()


def _summary(cfg: BuildConfig, plan: Plan, records: list[ClipRecord]) -> dict[str, Any]:
    by_split_sources: dict[str, set[str]] = defaultdict(set)
    for r in records:
        by_split_sources[r.split].add(r.source)
    ev_sources: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        if r.kind == "events":
            pk = ev_sources[r.label][r.split]
            if r.package not in pk:
                pk.append(r.package)
    return {
        "builder_version": BUILDER_VERSION,
        "seed": cfg.seed,
        "hours_requested": cfg.hours,
        "kinds": list(cfg.kinds),
        "sample_rate": SR,
        "clips": len(records),
        "hours": round(sum(r.duration for r in records) / 3600.0, 4),
        "hours_by_kind_split": hours_by(records, "kind", "split"),
        "hours_by_kind_real": hours_by(records, "kind", "real"),
        "hours_by_label": hours_by(records, "kind", "label"),
        "sources_per_split": {s: len(by_split_sources[s]) for s in SPLITS},
        "sources_with_kept_split": len({r.source for r in records if r.source in cfg.pinned}),
        "real_speakers_per_split": {
            s: sorted(
                {r.speaker for r in records if r.kind == "speech" and r.real and r.split == s}
            )
            for s in SPLITS
        },
        "event_class_packages": {
            c: {s: sorted(v) for s, v in d.items()} for c, d in sorted(ev_sources.items())
        },
        "sources": plan.sources,
        "notices": plan.notices,
        "budget_seconds": plan.budget,
    }
