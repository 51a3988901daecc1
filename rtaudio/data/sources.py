"""Catalogue of the real recordings that Debian packages install.

Each scanner looks at the paths a package installs and returns :class:`SourceFile` items with
their kind (``speech`` / ``music`` / ``events``), label, speaker or recording identity, split
group and licence. A package that is not installed yields a :class:`Notice` instead, never an
error. Nothing is decoded here (durations are read later, only for the files a build uses).

Split groups are chosen conservatively, so that nothing that may be the same voice or the same
recording straddles splits:

* asterisk ``en_US_f_Allison`` and ``es_MX_f_Allison`` are one speaker (Allison);
* KDE recordings (klettres, ktuberling) are grouped by base language across both packages
  (``fr``, ``fr_CA``... and klettres/ktuberling ``fr`` may be the same contributor);
* each game's voice packs form one group (several packs are the same actor pitch-shifted);
* sound events are grouped by recording: the file name without take numbers and left/right or
  ``_fast`` suffixes, and for OpenTTD by the original freesound recording named in the bank.
"""

from __future__ import annotations

import functools
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .audio import OCG_SUFFIX, RCC_SUFFIX, cat_entries, ocg_names, rcc_names
from .licenses import file_license

AUDIO_EXT = (".wav", ".ogg", ".oga", ".flac", ".gsm", ".mp3", ".opus")

ASTERISK = Path("/usr/share/asterisk/sounds")
ASTERISK_MOH = Path("/usr/share/asterisk/moh")
KLETTRES = Path("/usr/share/klettres")
KTUBERLING = Path("/usr/share/ktuberling/sounds")
HEDGEWARS = Path("/usr/share/games/hedgewars/Data")
ZERO_AD = Path("/usr/share/games/0ad/mods/public/public.zip")
STK = Path("/usr/share/games/supertuxkart/data")
COLOBOT = Path("/usr/share/games/colobot")
WARMUX = Path("/usr/share/games/warmux")
FROZEN_BUBBLE = Path("/usr/share/games/frozen-bubble/snd")
XMOTO = Path("/usr/share/games/xmoto/Textures/Musics")
ETR = Path("/usr/share/games/etr")
SONIC_PI = Path("/usr/share/sonic-pi/samples")
OPENSFX = Path("/usr/share/games/openttd/baseset/opensfx/opensfx.cat")
FREEDESKTOP = Path("/usr/share/sounds/freedesktop/stereo")
LOMIRI = Path("/usr/share/sounds/lomiri")
SOUND_ICONS = Path("/usr/share/sounds/sound-icons")
WIDELANDS = Path("/usr/share/games/widelands/data")
LINCITY = Path("/usr/share/games/lincity-ng/sounds")
MINETEST = Path("/usr/share/games/minetest/games/minetest_game/mods")
WESNOTH = Path("/usr/share/games/wesnoth/1.16/data/core/sounds")
TUXPAINT_STAMPS = Path("/usr/share/tuxpaint/stamps")
MEGAGLEST = Path("/usr/share/games/megaglest")
WARZONE = Path("/usr/share/games/warzone2100/base.wz")
OPENARENA = Path("/usr/share/games/openarena/baseoa/pak0.pk3")
UFOAI = Path("/usr/share/games/ufoai/base/0snd.pk3")
FLIGHTGEAR = Path("/usr/share/games/flightgear")
SCORCHED3D = Path("/usr/share/games/scorched3d/data/globalmods")
TORCS = Path("/usr/share/games/torcs/data/sound")
SUPERTUX = Path("/usr/share/games/supertux2/sounds")
REDECLIPSE = Path("/usr/share/games/redeclipse/data/sounds")
SIMUTRANS = Path("/usr/share/games/simutrans/pak/sound")
GCOMPRIS = Path("/usr/share/gcompris-qt/rcc")
OPENCLONK = Path("/usr/share/games/openclonk/Sound.ocg")
TRIGGER_RALLY = Path("/usr/share/games/trigger-rally/data.zip")
GL117 = Path("/usr/share/games/gl-117/sounds")
FREEDINK = Path("/usr/share/games/dink/dink/Sound")


@dataclass(frozen=True)
class SourceFile:
    """One real recording (or a member of a container) usable for the corpus.

    Attributes:
        path: file path, or ``container::member``.
        kind: ``speech``, ``music`` or ``events``.
        label: ``speech`` / ``music`` / the event class.
        speaker: speaker identity (speech) or recording identity (others).
        group: split unit; everything sharing it lands in one split.
        package: the Debian package that installs it.
        license: licence of this file.
        lang: language (speech).
        note: free text (e.g. the recording's description).
    """

    path: str
    kind: str
    label: str
    speaker: str
    group: str
    package: str
    license: str
    lang: str = ""
    note: str = ""


@dataclass(frozen=True)
class Notice:
    """A source that was looked for and not used, with the reason (one line)."""

    package: str
    kind: str
    message: str


def _files(root: Path, exts: tuple[str, ...] = AUDIO_EXT) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in exts)


def _missing(package: str, kind: str, where: Path) -> Notice:
    return Notice(package, kind, f"{package} not installed ({where} missing)")


def recording_id(name: str) -> str:
    """A recording identity from a file name: takes, sides and speed variants removed.

    ``lumber_tree_07.ogg`` -> ``lumber_tree``; ``fs_grass_left`` -> ``fs_grass``;
    ``Droplet2`` -> ``droplet``; ``sound059`` stays (a sound number, not a take).
    """
    s = Path(name).stem.lower()
    for _ in range(2):
        s = re.sub(r"(_fast|_f|_left|_right|_loop)$", "", s)
        s = (
            re.sub(r"[_\- ]+\d+$", "", s)
            if re.search(r"[_\- ]\d+$", s)
            else re.sub(r"(?<=[a-z])\d{1,2}$", "", s)
        )
    return s or Path(name).stem.lower()


def track_id(name: str) -> str:
    """A music track identity: the stem without speed-variant suffixes (``celtic_fast``)."""
    s = Path(name).stem.lower()
    return re.sub(r"(_fast|_f|-[12]p)$", "", s)


# ---- speech ------------------------------------------------------------------------------------

# asterisk voice folder -> (package, speaker, language)
_ASTERISK_VOICES = {
    "en_US_f_Allison": ("asterisk-core-sounds-en-wav", "allison", "en"),
    "es_MX_f_Allison": ("asterisk-core-sounds-es-wav", "allison", "es"),
    "fr_CA_f_June": ("asterisk-core-sounds-fr-wav", "june", "fr"),
    "it_IT_f_Menardi": ("asterisk-core-sounds-it-wav", "menardi", "it"),
    "it_IT_m_Carlo": ("asterisk-core-sounds-it-wav", "carlo", "it"),
    "ru_RU_f_IvrvoiceRU": ("asterisk-core-sounds-ru-wav", "ivrvoice-ru", "ru"),
    "fr": ("asterisk-prompt-fr-armelle", "armelle", "fr"),
    "es": ("asterisk-prompt-es-co", "es-co", "es"),
}
_ASTERISK_LICENSE = {"ru": "CC-BY-3.0", "it": "CC-BY-3.0"}
# prompt files that are tones, not speech
_NOT_SPEECH = re.compile(r"beep|tone|silence|ring|music|dial|busy|hold", re.IGNORECASE)


def scan_asterisk() -> tuple[list[SourceFile], list[Notice]]:
    out: list[SourceFile] = []
    notes: list[Notice] = []
    seen_pkgs: set[str] = set()
    for folder, (pkg, spk, lang) in _ASTERISK_VOICES.items():
        d = ASTERISK / folder
        files = [p for p in _files(d) if not _NOT_SPEECH.search(p.name)]
        if not files:
            if pkg not in seen_pkgs:
                notes.append(_missing(pkg, "speech", d))
            continue
        seen_pkgs.add(pkg)
        lic = _ASTERISK_LICENSE.get(lang) if pkg.startswith("asterisk-core") else None
        lic = lic or file_license(pkg, str(files[0]))
        for p in files:
            out.append(
                SourceFile(
                    str(p),
                    "speech",
                    "speech",
                    f"asterisk:{spk}",
                    f"speaker:asterisk:{spk}",
                    pkg,
                    lic,
                    lang,
                )
            )
    return out, [n for n in notes if n.package not in seen_pkgs]


def _kde_lang(code: str) -> str:
    return re.split(r"[_@.]", code)[0]


def scan_kde() -> tuple[list[SourceFile], list[Notice]]:
    out: list[SourceFile] = []
    notes: list[Notice] = []
    if KLETTRES.is_dir():
        lic = file_license("klettres-data", str(KLETTRES))
        for lang_dir in sorted(p for p in KLETTRES.iterdir() if p.is_dir()):
            if lang_dir.name in ("icons", "pics"):
                continue
            for p in _files(lang_dir, (".ogg", ".wav")):
                out.append(
                    SourceFile(
                        str(p),
                        "speech",
                        "speech",
                        f"klettres:{lang_dir.name}",
                        f"speaker:kde:{_kde_lang(lang_dir.name)}",
                        "klettres-data",
                        lic,
                        _kde_lang(lang_dir.name),
                    )
                )
    else:
        notes.append(_missing("klettres-data", "speech", KLETTRES))
    if KTUBERLING.is_dir():
        lic = file_license("ktuberling-data", str(KTUBERLING))
        seen: set[str] = set()
        for lang_dir in sorted(p for p in KTUBERLING.iterdir() if p.is_dir()):
            for p in _files(lang_dir, (".ogg", ".wav")):  # the Opus folder (nn) is skipped
                key = f"{_kde_lang(lang_dir.name)}/{p.name}"
                if key in seen:  # sr, sr@latin, sr@ijekavian... ship the same recordings
                    continue
                seen.add(key)
                out.append(
                    SourceFile(
                        str(p),
                        "speech",
                        "speech",
                        f"ktuberling:{_kde_lang(lang_dir.name)}",
                        f"speaker:kde:{_kde_lang(lang_dir.name)}",
                        "ktuberling-data",
                        lic,
                        _kde_lang(lang_dir.name),
                    )
                )
    else:
        notes.append(_missing("ktuberling-data", "speech", KTUBERLING))
    return out, notes


_TUXPAINT_DESC = re.compile(r"_desc(?:_([a-z]{2,3})(?:_[A-Za-z]{2})?)?\.ogg$")


def tuxpaint_voice_lang(name: str) -> str | None:
    """The language of a Tux Paint stamp's spoken description (``cow_desc_fr.ogg`` -> ``fr``,
    ``cow_desc.ogg`` -> ``en``), or None for other files (the stamp's own sound, its name)."""
    m = _TUXPAINT_DESC.search(name)
    if not m:
        return None
    return m.group(1) or "en"


def scan_tuxpaint_voices() -> tuple[list[SourceFile], list[Notice]]:
    """Tux Paint stamps' descriptions read aloud: one reader per language is assumed, so a
    language is one speaker (and one split unit)."""
    files = _files(TUXPAINT_STAMPS, (".ogg",))
    if not files:
        return [], [_missing("tuxpaint-stamps-default", "speech", TUXPAINT_STAMPS)]
    lic = file_license("tuxpaint-stamps-default", str(TUXPAINT_STAMPS))
    out = []
    for p in files:
        lang = tuxpaint_voice_lang(p.name)
        if lang is None:
            continue
        out.append(
            SourceFile(
                str(p),
                "speech",
                "speech",
                f"tuxpaint:{lang}",
                f"speaker:tuxpaint:{lang}",
                "tuxpaint-stamps-default",
                lic,
                lang,
            )
        )
    return out, []


def scan_hedgewars_voices() -> tuple[list[SourceFile], list[Notice]]:
    d = HEDGEWARS / "Sounds" / "voices"
    if not d.is_dir():
        return [], [_missing("hedgewars-data", "speech", d)]
    out = []
    for pack in sorted(p for p in d.iterdir() if p.is_dir()):
        if pack.name.lower() == "robot":  # processed beyond speech
            continue
        for p in _files(pack):
            if re.search(r"firepunch|ooff|^ow\d|laugh|cough|moan|jump\d", p.stem, re.I):
                continue  # grunts and laughs, not words
            out.append(
                SourceFile(
                    str(p),
                    "speech",
                    "speech",
                    f"hedgewars:{pack.name}",
                    "speaker:hedgewars",
                    "hedgewars-data",
                    file_license("hedgewars-data", str(p)),
                    "ru" if "ru" in pack.name.lower() else "",
                )
            )
    return out, []


@functools.lru_cache(maxsize=32)
def _archive_listing(path: str, stamp: float) -> tuple[str, ...]:
    if path.endswith(RCC_SUFFIX):
        names = rcc_names(path)
    elif path.endswith(OCG_SUFFIX):
        names = ocg_names(path)
    else:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    return tuple(sorted(n for n in names if n.lower().endswith((".ogg", ".wav"))))


def _archive_names(prefix: str, archive: Path | None = None) -> list[str]:
    """Audio members of a zip archive, Qt resource bundle or OpenClonk group (0 A.D.'s
    ``public.zip`` by default) whose names start with ``prefix``."""
    archive = archive or ZERO_AD
    if not archive.is_file():
        return []
    st = archive.stat()
    listing = _archive_listing(str(archive), st.st_mtime + st.st_size)
    return [n for n in listing if n.startswith(prefix)]


def scan_0ad_voices() -> tuple[list[SourceFile], list[Notice]]:
    if not ZERO_AD.is_file():
        return [], [_missing("0ad-data", "speech", ZERO_AD)]
    out = []
    for n in _archive_names("audio/voice/"):
        parts = n.split("/")
        if len(parts) < 4 or parts[2] == "global":
            continue
        civ = parts[2]
        gender = "female" if "female" in parts[-1] else "male"
        out.append(
            SourceFile(
                f"{ZERO_AD}::{n}",
                "speech",
                "speech",
                f"0ad:{civ}:{gender}",
                "speaker:0ad",
                "0ad-data",
                "CC-BY-SA-3.0",
                civ,
            )
        )
    return out, []


# ---- music ---------------------------------------------------------------------------------


def _track(path: str, package: str, license: str | None = None) -> SourceFile:
    """A music track of ``package`` (one recording per file; ``path`` may be ``archive::member``);
    the licence defaults to what the package's copyright file says of the file."""
    rid = track_id(path.rsplit("/", 1)[-1])
    lic = license if license is not None else file_license(package, path)
    return SourceFile(
        path, "music", "music", f"{package}:{rid}", f"track:{package}:{rid}", package, lic
    )


def _music_dir(root: Path, package: str, sub: str = "") -> tuple[list[SourceFile], list[Notice]]:
    d = root / sub if sub else root
    files = [p for p in _files(d) if p.suffix.lower() in (".ogg", ".wav", ".flac", ".oga")]
    if not files:
        return [], [_missing(package, "music", d)]
    out = []
    for p in files:
        out.append(_track(str(p), package))
    return out, []


# GCompris instruments played alone that are rhythm-less shakes or single strokes, not music
_NOT_MUSIC_ALONE = frozenset({"castanets", "cymbal", "maracas", "tambourine", "triangle"})


def scan_music() -> tuple[list[SourceFile], list[Notice]]:
    out: list[SourceFile] = []
    notes: list[Notice] = []
    for root, pkg, sub in (
        (ASTERISK_MOH, "asterisk-moh-opsound-wav", ""),
        (STK, "supertuxkart-data", "music"),
        (COLOBOT, "colobot-common-sounds", "music"),
        (WARMUX, "warmux-data", "music"),
        (HEDGEWARS, "hedgewars-data", "Music"),
        (XMOTO, "xmoto-data", ""),
        (ETR, "extremetuxracer-data", "music"),
        (WIDELANDS, "widelands-data", "music"),
        (OPENCLONK.parent, "openclonk-data", "Music.ocg"),  # a plain folder, unlike Sound.ocg
    ):
        o, n = _music_dir(root, pkg, sub)
        out += o
        notes += n
    if FROZEN_BUBBLE.is_dir():
        for p in _files(FROZEN_BUBBLE):
            if "zik" in p.name:
                out.append(_track(str(p), "frozen-bubble-data"))
    else:
        notes.append(_missing("frozen-bubble-data", "music", FROZEN_BUBBLE))
    if ZERO_AD.is_file():
        for name in _archive_names("audio/music/"):
            out.append(_track(f"{ZERO_AD}::{name}", "0ad-data", "CC-BY-SA-3.0"))
    else:
        notes.append(_missing("0ad-data", "music", ZERO_AD))
    for bundle in ("instruments", "explore_world_music"):  # GCompris: one recording per file
        archive = GCOMPRIS / f"{bundle}.rcc"
        if not archive.is_file():
            notes.append(_missing("gcompris-qt-data", "music", archive))
            continue
        for name in _archive_names("gcompris/src/activities/", archive):
            if track_id(name.rsplit("/", 1)[1]) in _NOT_MUSIC_ALONE:
                continue
            out.append(_track(f"{archive}::{name}", "gcompris-qt-data"))
    if (LOMIRI / "ringtones").is_dir():
        for p in _files(LOMIRI / "ringtones"):
            if "alarm" in p.name.lower():
                continue  # alarm ringtones are events
            out.append(_track(str(p), "lomiri-sounds"))
    else:
        notes.append(_missing("lomiri-sounds", "music", LOMIRI))
    if SONIC_PI.is_dir():
        for p in _files(SONIC_PI):
            if re.match(
                r"loop_(amen|breakbeat|compus|garzul|mika|safari|tabla|mehackit|perc|"
                r"electric|weirdo)",
                p.stem,
            ) or p.stem in ("ambi_piano", "guit_em9"):
                out.append(_track(str(p), "sonic-pi-samples"))
    else:
        notes.append(_missing("sonic-pi-samples", "music", SONIC_PI))
    return out, notes


# ---- sound events --------------------------------------------------------------------------

EVENT_CLASSES = (
    "bird",
    "farm_animal",
    "dog",
    "vehicle_engine",
    "aircraft",
    "train",
    "water",
    "rain",
    "thunder",
    "wind",
    "fire",
    "machinery_tools",
    "footsteps",
    "alarm_bell",
    "door_knock",
    "crowd",
    "explosion",
    "gunshot",
)

# (package, regex on the file's path, class); the first matching rule wins, "" means "not an
# event of any class". Reviewed against file names, the packages' credits and per-class
# spectral statistics of the built clips.
EVENT_RULES: tuple[tuple[str, str, str], ...] = (
    # 0 A.D. (audio/ inside public.zip)
    ("0ad-data", r"actor/fauna/animal/(peacock|flamingo)", "bird"),
    ("0ad-data", r"ambient/dayscape/day_temperate", "bird"),
    (
        "0ad-data",
        r"actor/fauna/animal/(cattle|chicken|goat|horse_(idle|select)|pig|sheep|camel)",
        "farm_animal",
    ),
    ("0ad-data", r"voice/global/civ_dog_bark", "dog"),
    ("0ad-data", r"ambient/water/", "water"),
    ("0ad-data", r"actor/ship/(ship|warship)_move", "water"),
    ("0ad-data", r"ambient/weather/rain", "rain"),
    ("0ad-data", r"ambient/weather/thunder", "thunder"),
    ("0ad-data", r"ambient/weather/wind", "wind"),
    ("0ad-data", r"resource/(mining|lumbering|construction)/", "machinery_tools"),
    ("0ad-data", r"actor/singlesteps/|actor/human/movement/", "footsteps"),
    ("0ad-data", r"actor/gate/stonegate", "door_knock"),
    ("0ad-data", r"ambient/building/amb_(trade|port)", "crowd"),
    ("0ad-data", r"attack/destruction/", "explosion"),
    ("0ad-data", r"attack/weapon/musket", "gunshot"),
    ("0ad-data", r"attack/fire/", "fire"),
    # OpenTTD OpenSFX (matched on the bank's description); breakdowns are crashes, not
    # engines or trains, so they are left out ("" = no class)
    ("openttd-opensfx", r"breakdown", ""),
    ("openttd-opensfx", r"bird", "bird"),
    ("openttd-opensfx", r"^\"(sheep|cow|horse)\"", "farm_animal"),
    ("openttd-opensfx", r"train|maglev|monorail|steam engine", "train"),
    ("openttd-opensfx", r"^\"(truck|modern bus|old bus|road vehicle)", "vehicle_engine"),
    ("openttd-opensfx", r"propeller plane start|jet take off|helicopter", "aircraft"),
    ("openttd-opensfx", r"^\"(heavy )?wind\"", "wind"),
    (
        "openttd-opensfx",
        r"mining machinery|jackhammer|sawmill|chainsaw|building bridge|"
        r"falling tree|crashing tree",
        "machinery_tools",
    ),
    ("openttd-opensfx", r"level crossing|factory whistle", "alarm_bell"),
    ("openttd-opensfx", r"applause|oooh", "crowd"),
    ("openttd-opensfx", r"bubble generated|plastic mine", "water"),
    ("openttd-opensfx", r"^\"explosion|big crash", "explosion"),
    # SuperTuxKart sfx
    ("supertuxkart-data", r"exotic-birds", "bird"),
    ("supertuxkart-data", r"engine_(large|small)|car_accel|car_revup", "vehicle_engine"),
    ("supertuxkart-data", r"airplane_jetengine", "aircraft"),
    ("supertuxkart-data", r"river_loop|waterfall|splash", "water"),
    ("supertuxkart-data", r"sfx/rain", "rain"),
    ("supertuxkart-data", r"thunder", "thunder"),
    ("supertuxkart-data", r"machine_sound|anvil|hammer", "machinery_tools"),
    ("supertuxkart-data", r"explosion|bubblegum_explode", "explosion"),
    ("supertuxkart-data", r"sfx/clock", "alarm_bell"),
    # Hedgewars
    ("hedgewars-data", r"Sounds/(splash|Droplet|planewater|beewater|rubberduck_water)", "water"),
    ("hedgewars-data", r"Sounds/(drillgun|pickhammer|blowtorch|hammer)", "machinery_tools"),
    ("hedgewars-data", r"Sounds/(plane|rcplane)\.", "aircraft"),
    ("hedgewars-data", r"Sounds/steps", "footsteps"),
    ("hedgewars-data", r"Sounds/explosion|Sounds/(grenade|mine|melon)impact", "explosion"),
    ("hedgewars-data", r"Sounds/(shotgunfire|gun|minigun)\.", "gunshot"),
    # Warmux
    ("warmux-data", r"weapons/(airhammer_used|blowtorch|construct)", "machinery_tools"),
    ("warmux-data", r"weapons/aircraft_flying", "aircraft"),
    ("warmux-data", r"misc/step", "footsteps"),
    ("warmux-data", r"misc/sink|weapons/supertux_swimming", "water"),
    ("warmux-data", r"weapons/(explosion|dynamite_exp|riot_bomb_exp)", "explosion"),
    ("warmux-data", r"weapons/(m16|shotgun|gun)\.", "gunshot"),
    # Colobot (sound numbers from the game's SoundType enum)
    ("colobot-common-sounds", r"sound0(05|59|60)\.", "footsteps"),
    ("colobot-common-sounds", r"sound0(12|27|28)\.", "water"),
    ("colobot-common-sounds", r"sound0(15|44)\.", "machinery_tools"),
    ("colobot-common-sounds", r"sound0(31|72)\.", "alarm_bell"),
    ("colobot-common-sounds", r"sound0(42|43)\.", "door_knock"),
    ("colobot-common-sounds", r"sound0(02|56|57|58)\.", "explosion"),
    # Sonic Pi samples
    ("sonic-pi-samples", r"misc_crow", "bird"),
    ("sonic-pi-samples", r"perc_door", "door_knock"),
    ("sonic-pi-samples", r"perc_bell|elec_bell", "alarm_bell"),
    ("sonic-pi-samples", r"loop_(3d_printer|industrial)", "machinery_tools"),
    # desktop themes
    ("sound-theme-freedesktop", r"alarm-clock-elapsed|/bell\.|phone-incoming-call", "alarm_bell"),
    ("lomiri-sounds", r"ringtones/alarm", "alarm_bell"),
    ("sound-icons", r"canary", "bird"),
    ("sound-icons", r"glass-water", "water"),
    # Frozen Bubble
    ("frozen-bubble-data", r"applause", "crowd"),
    # Widelands
    ("widelands-data", r"sound/animals/bird|critters/duck", "bird"),
    ("widelands-data", r"sound/farm/(donkey|farm_animal|horse|ox|sheep)", "farm_animal"),
    (
        "widelands-data",
        r"sound/(woodcutting|sawmill|smiths|hammering|stonecutting|"
        r"atlanteans/(saw|cutting))/",
        "machinery_tools",
    ),
    # LinCity-NG
    ("lincity-ng-data", r"RailTrain", "train"),
    ("lincity-ng-data", r"TraficHigh|TraficLow", "vehicle_engine"),
    ("lincity-ng-data", r"SportsCroud", "crowd"),
    ("lincity-ng-data", r"/Water\d", "water"),
    ("lincity-ng-data", r"/Fire\d", "fire"),
    ("lincity-ng-data", r"Blacksmith|CoalMine|OreMine|IndustryHigh", "machinery_tools"),
    # Minetest
    ("minetest-data", r"_footstep", "footsteps"),
    ("minetest-data", r"doors_.*door_(open|close)|fencegate", "door_knock"),
    ("minetest-data", r"env_sounds_water", "water"),
    ("minetest-data", r"fire_(fire|large|small)", "fire"),
    ("minetest-data", r"tnt_explode", "explosion"),
    # Battle for Wesnoth
    ("wesnoth-1.16-data", r"ambient/birds|ambient/morning", "bird"),
    ("wesnoth-1.16-data", r"ambient/campfire|/fire\.wav", "fire"),
    ("wesnoth-1.16-data", r"/gunshot\.", "gunshot"),
    ("wesnoth-1.16-data", r"/explosion\.", "explosion"),
    # Tux Paint stamps: a stamp's own sound is STAMP.ogg (STAMP_desc*.ogg and STAMP_LANG.ogg are
    # spoken descriptions and names)
    (
        "tuxpaint-stamps-default",
        r"/(bovines/(cow|cow_white|bull|goat|ram|sheep|sheep_lamb)|equines/(donkey|horse)|"
        r"mammals/pig(_golden2?)?|birds/(hen|rooster|turkey|gander))\.ogg$",
        "farm_animal",
    ),
    (
        "tuxpaint-stamps-default",
        r"/birds/(blackbird|crow|cuckoo|lark|owl|seagull|tucan|quetzal|duck|drake)\.ogg$",
        "bird",
    ),
    ("tuxpaint-stamps-default", r"/dogs/dog\.ogg$", "dog"),
    ("tuxpaint-stamps-default", r"/naturalforces/lightningbolt\.ogg$", "thunder"),
    ("tuxpaint-stamps-default", r"/tools/(hammer|saw|mallet_metal)\.ogg$", "machinery_tools"),
    ("tuxpaint-stamps-default", r"/emergency/firetruck\.ogg$", "alarm_bell"),
    ("tuxpaint-stamps-default", r"/household/toilet\.ogg$", "water"),
    # MegaGlest: unit sounds (techs/) and tileset ambiences
    (
        "megaglest-data",
        r"/(sheep\d*|(pig|chicken|cow|bull)_[a-z]+\d*|chicken|rooster|mudchute_cow_\d)\.(wav|ogg)$",
        "farm_animal",
    ),
    ("megaglest-data", r"tilesets/.*/(day|good_morning|hawk|owl)\.(wav|ogg)$", "bird"),
    ("megaglest-data", r"tilesets/.*/rain\.(wav|ogg)$", "rain"),
    ("megaglest-data", r"tilesets/.*/wind\.(wav|ogg)$", "wind"),
    (
        "megaglest-data",
        r"/(worker_(mine|harvest_wood|build)|technician_(build|mine)|anvil)\d*\.(wav|ogg)$",
        "machinery_tools",
    ),
    # Warzone 2100 (audio/sfx/ inside base.wz)
    ("warzone2100-data", r"vehicle/(con-move|tread|tstart|hovmove|hovstart)", "vehicle_engine"),
    ("warzone2100-data", r"vehicle/(vtol-move|vtolland|vtoloff|tflight|thover|tland)", "aircraft"),
    ("warzone2100-data", r"explons/(atnkexpl|lrgexpl|smlexpl|mpodexpl|bldfall)", "explosion"),
    ("warzone2100-data", r"weapons/(asltmg|mgbar\d|mgheavy|mgtower)", "gunshot"),
    ("warzone2100-data", r"weapons/(weld-\d|build\d)|building/oilpump", "machinery_tools"),
    # OpenArena (sound/ inside pak0.pk3)
    ("openarena-data", r"footsteps/(boot|step|flesh)\d", "footsteps"),
    ("openarena-data", r"movers/doors/", "door_knock"),
    (
        "openarena-data",
        r"weapons/(machinegun/machgf|shotgun/sshotf|vulcan/vulcanf)",
        "gunshot",
    ),
    ("openarena-data", r"weapons/(rocket/rocklx|grenade/hgrenb|proxmine/wstbexpl)", "explosion"),
    ("openarena-data", r"world/(fire\d|firesoft)", "fire"),
    ("openarena-data", r"world/wind\d", "wind"),
    ("openarena-data", r"world/(waterfall|drops)", "water"),
    ("openarena-data", r"world/(machinerydrone|tim_machine|tim_pump)", "machinery_tools"),
    # UFO: Alien Invasion (sound/ inside 0snd.pk3)
    (
        "ufoai-sound",
        r"footsteps/(carpet|dirt|grass|gravel|sand|snow|stone|tile|wood|metal|linoleum)",
        "footsteps",
    ),
    ("ufoai-sound", r"sound/doors/(door\d|open_close)", "door_knock"),
    (
        "ufoai-sound",
        r"weapons/bullet-(pistol|rifle|smg|shotgun|sniper|hmg|chaingun)",
        "gunshot",
    ),
    (
        "ufoai-sound",
        r"weapons/explosion(-grenade|-rocket|-fire)?\.|geoscape/combat-explosion",
        "explosion",
    ),
    ("ufoai-sound", r"ambience/(fire|smallfire|firesoft)", "fire"),
    ("ufoai-sound", r"ambience/thunder", "thunder"),
    ("ufoai-sound", r"ambience/(water|waterfontain)|impact/water-impact", "water"),
    ("ufoai-sound", r"ambience/arcticwind", "wind"),
    ("ufoai-sound", r"ugv/diesel-(idle|move)", "vehicle_engine"),
    ("ufoai-sound", r"ambience/(machine1|minepump)", "machinery_tools"),
    ("ufoai-sound", r"geoscape/basealert", "alarm_bell"),
    # FlightGear (Sounds/ and the Cessna 172P's own sounds)
    (
        "flightgear-data-base",
        r"Sounds/(R-1535Slow|engine-prop|prop|jet|helicopter|rotor(-2blade)?|blade_vortex|"
        r"exhaust_(loop|start|shutdown)|p51d_(rpm1|startup)|turbine_(loop|start|shutdown)|"
        r"turbojet_fan|turboprop1|wasp)\.wav$|c172p/Sounds/engine(-idle|-start|-cut)?\.wav$",
        "aircraft",
    ),
    ("flightgear-data-base", r"Sounds/thunder\d?\.wav$", "thunder"),
    ("flightgear-data-base", r"Sounds/rain(-windshield)?\.wav$", "rain"),
    ("flightgear-data-base", r"Sounds/wind1?\.wav$", "wind"),
    ("flightgear-data-base", r"Sounds/(gear-hrn|stall2?|overspeed)\.wav$", "alarm_bell"),
    ("flightgear-data-base", r"c172p/Sounds/water-(fast|still)\.wav$", "water"),
    ("flightgear-data-base", r"c172p/Sounds/door-(closing|opening)\.wav$", "door_knock"),
    # Scorched 3D (two mods, some files in both)
    ("scorched3d-data", r"wav/(misc|explosions)/thunder\d?\.wav$", "thunder"),
    (
        "scorched3d-data",
        r"wav/misc/(cessna|helicopter|apache_\d|f16_\d|f18_\d|jet|t38)\.wav$",
        "aircraft",
    ),
    ("scorched3d-data", r"wav/misc/(cows|moo|sheep|rooster)\.wav$", "farm_animal"),
    ("scorched3d-data", r"wav/misc/dog\d?\.wav$", "dog"),
    ("scorched3d-data", r"wav/misc/(birdchirp\d|birds\d|gull\d)\.wav$", "bird"),
    ("scorched3d-data", r"wav/misc/(firetruck|policecar)\.wav$", "alarm_bell"),
    ("scorched3d-data", r"wav/misc/factoryloop\d", "machinery_tools"),
    ("scorched3d-data", r"wav/misc/cheeringloop", "crowd"),
    ("scorched3d-data", r"wav/misc/(oceanwaves|splash)\.wav$", "water"),
    ("scorched3d-data", r"wav/misc/rain\.wav$", "rain"),
    ("scorched3d-data", r"wav/movement/tankmove", "vehicle_engine"),
    ("scorched3d-data", r"wav/shoot/(machinegun|shotgun)\.wav$", "gunshot"),
    (
        "scorched3d-data",
        r"wav/explosions/(large|medium|small|xlarge|exp|napalm)\.wav$",
        "explosion",
    ),
    # TORCS: one engine loop per car (crashes, skids and gears are left out)
    (
        "torcs-data",
        r"sound/(206_engine|935|944|alpha-romeo|cleanviper|clkdtmb2|corolla1400hi2|engine-1|"
        r"evo7_engine(_f)?|f360|ferrarif355|ferrarif50|ford1b|ford2c|gt40|impreza2002_engine|"
        r"lamborghinidiablo|lotus|mclarenf1|nsx|porsche_engine|renault-v10|viper2|viper_long|"
        r"xj220)\.wav$",
        "vehicle_engine",
    ),
    # SuperTux
    ("supertux-data", r"sounds/(thunder|lightning)\.wav$", "thunder"),
    ("supertux-data", r"sounds/rain\.wav$", "rain"),
    ("supertux-data", r"sounds/(waterfall|splash)\.(wav|ogg)$", "water"),
    ("supertux-data", r"sounds/(savebell2|savebell_low|phone)\.wav$", "alarm_bell"),
    ("supertux-data", r"sounds/explosion\.wav$", "explosion"),
    # Red Eclipse (data/sounds/)
    (
        "redeclipse-data",
        r"ambience/((alien|blow|dizzy|hollow|waste)?wind|morph/(wind\d|stormwind))\.ogg$",
        "wind",
    ),
    (
        "redeclipse-data",
        r"ambience/(creek|river|water|waterfall\d?|waterfall_(deep|huge|indoor|medium)|"
        r"cavedrip)\.ogg$|sfx/(splashin|splosh)\d?\.ogg$",
        "water",
    ),
    ("redeclipse-data", r"ambience/morph/(rain|stormrain)\.ogg$", "rain"),
    ("redeclipse-data", r"ambience/morph/stormbolts\.ogg$", "thunder"),
    ("redeclipse-data", r"ambience/fire\.ogg$|sfx/(burning|burnfire)\.ogg$", "fire"),
    ("redeclipse-data", r"ambience/forest\d\.ogg$", "bird"),
    ("redeclipse-data", r"ambience/distant_cars\.ogg$", "vehicle_engine"),
    ("redeclipse-data", r"player/(footstep|concstep)\d?\.ogg$", "footsteps"),
    ("redeclipse-data", r"sfx/alarm\.ogg$", "alarm_bell"),
    ("redeclipse-data", r"weapons/(pistol|smg|shotgun|rifle)/primary\d?\.ogg$", "gunshot"),
    ("redeclipse-data", r"weapons/(mine/)?explode\d?\.ogg$", "explosion"),
    # Simutrans (pak64 sounds)
    ("simutrans-pak64", r"/(diesel|steam)\.wav$", "train"),
    ("simutrans-pak64", r"/(bus|truck)\.wav$", "vehicle_engine"),
    ("simutrans-pak64", r"/(comet-jet|planelow)\.wav$", "aircraft"),
    ("simutrans-pak64", r"/(buzzsaw|jackhammer|tree-cutting)\.wav$", "machinery_tools"),
    ("simutrans-pak64", r"/water\.wav$", "water"),
    ("simutrans-pak64", r"/crossing\.wav$", "alarm_bell"),
    ("simutrans-pak64", r"/explosion\.wav$", "explosion"),
    ("simutrans-pak64", r"/horse\.wav$", "farm_animal"),
    ("simutrans-pak64", r"/seagulls\.wav$", "bird"),
    # GCompris (files inside its Qt resource bundles; real recordings)
    (
        "gcompris-qt-data",
        r"explore_farm_animals/.*/(pig|chickens|horse|cow|duck|sheep)\.ogg$",
        "farm_animal",
    ),
    ("gcompris-qt-data", r"explore_farm_animals/.*/owl\.ogg$", "bird"),
    ("gcompris-qt-data", r"explore_farm_animals/.*/dog\.ogg$|/LRBark_\d", "dog"),
    ("gcompris-qt-data", r"railroad/.*/train\.wav$|/LRTrain_slowing", "train"),
    ("gcompris-qt-data", r"guessnumber/.*/helicopter\.wav$", "aircraft"),
    ("gcompris-qt-data", r"traffic/.*/car\.wav$|/LRStartAndStopCarEngine", "vehicle_engine"),
    ("gcompris-qt-data", r"canal_lock/.*/water_fill\.wav$", "water"),
    ("gcompris-qt-data", r"/LRRain_in_garden", "rain"),
    ("gcompris-qt-data", r"/LRApplauses", "crowd"),
    ("gcompris-qt-data", r"canal_lock/.*/door_(open|close)\.wav$|/LRDoor_Open", "door_knock"),
    ("gcompris-qt-data", r"/LRFactory_noise", "machinery_tools"),
    ("gcompris-qt-data", r"/(LRRing_\d+|LRBuddhist_gong)", "alarm_bell"),
    # OpenClonk (members of Sound.ocg; freesound recordings credited in its authors.txt);
    # Swim1-3 are Splash1-3 reworked, so only Splash is used
    ("openclonk-data", r"Environment\.ocg/BirdsLoop", "bird"),
    ("openclonk-data", r"Lightning\.ocg/Thunder\d", "thunder"),
    ("openclonk-data", r"Environment\.ocg/WindLoop", "wind"),
    (
        "openclonk-data",
        r"Environment\.ocg/Waterfall|Liquids\.ocg/(Splash|Bubble|Waterdrop)\d",
        "water",
    ),
    ("openclonk-data", r"Liquids\.ocg/StereoRain", "rain"),
    ("openclonk-data", r"^Fire\.ocg/(Fire|Inflame)\.", "fire"),
    ("openclonk-data", r"^Fire\.ocg/Blast(\d|\d?alt|Metal)", "explosion"),
    ("openclonk-data", r"Blunderbuss\.ocg/GunShoot\d", "gunshot"),
    ("openclonk-data", r"Movement\.ocg/Step(Hard|Soft)\d", "footsteps"),
    ("openclonk-data", r"^Structures\.ocg/Door(Open|Close)\d", "door_knock"),
    (
        "openclonk-data",
        r"Tree\.ocg/Chop\d|Pickaxe\.ocg/Clang|Elevator\.ocg/Drilling|"
        r"^Structures\.ocg/(SawmillRipcut|SteamEngine|Pumpjack)\.",
        "machinery_tools",
    ),
    # Trigger Rally (members of data.zip), GL-117, FreeDink
    ("trigger-rally-data", r"^sounds/engine\.wav$", "vehicle_engine"),
    ("trigger-rally-data", r"^sounds/wind\.wav$", "wind"),
    ("gl-117-data", r"/plane1\.wav$", "aircraft"),
    ("gl-117-data", r"/thunder1\.wav$", "thunder"),
    ("gl-117-data", r"/explode1\.wav$", "explosion"),
    ("gl-117-data", r"/cannon1\.wav$", "gunshot"),
    ("freedink-data", r"/bird1\.wav$", "bird"),
    ("freedink-data", r"/fire\.wav$", "fire"),
)

_EVENT_ROOTS = (
    ("supertuxkart-data", STK / "sfx"),
    ("hedgewars-data", HEDGEWARS / "Sounds"),
    ("warmux-data", WARMUX / "sound"),
    ("colobot-common-sounds", COLOBOT / "sounds"),
    ("sonic-pi-samples", SONIC_PI),
    ("sound-theme-freedesktop", FREEDESKTOP),
    ("lomiri-sounds", LOMIRI),
    ("sound-icons", SOUND_ICONS),
    ("frozen-bubble-data", FROZEN_BUBBLE),
    ("widelands-data", WIDELANDS / "sound"),
    ("widelands-data", WIDELANDS / "world" / "critters"),
    ("lincity-ng-data", LINCITY),
    ("minetest-data", MINETEST),
    ("wesnoth-1.16-data", WESNOTH),
    ("tuxpaint-stamps-default", TUXPAINT_STAMPS),
    ("megaglest-data", MEGAGLEST),
    ("flightgear-data-base", FLIGHTGEAR / "Sounds"),
    ("flightgear-data-base", FLIGHTGEAR / "Aircraft" / "c172p" / "Sounds"),
    ("scorched3d-data", SCORCHED3D),
    ("torcs-data", TORCS),
    ("supertux-data", SUPERTUX),
    ("redeclipse-data", REDECLIPSE),
    ("simutrans-pak64", SIMUTRANS),
    ("gl-117-data", GL117),
    ("freedink-data", FREEDINK),
)
# (package, archive, member prefix): sound banks inside zip archives (besides 0 A.D.'s), Qt
# resource bundles and OpenClonk groups, and name endings that are variants of one recording:
# ``bullet-rifle-3x`` is ``bullet-rifle`` fired three times, ``door1-open`` and ``door1-close``
# are one door, ``machgf1b`` .. ``machgf4b`` four takes of one gun, ``vtol-move`` /
# ``vtolland`` / ``vtoloff`` one aircraft
_EVENT_ARCHIVES = (
    ("warzone2100-data", WARZONE, "audio/sfx/"),
    ("openarena-data", OPENARENA, "sound/"),
    ("ufoai-sound", UFOAI, "sound/"),
    ("openclonk-data", OPENCLONK, ""),
    ("trigger-rally-data", TRIGGER_RALLY, "sounds/"),
    *(
        ("gcompris-qt-data", GCOMPRIS / f"{name}.rcc", "gcompris/src/activities/")
        for name in (
            "explore_farm_animals",
            "memory-sound",
            "railroad",
            "guessnumber",
            "traffic",
            "canal_lock",
        )
    ),
)
_VARIANT = {
    "warzone2100-data": r"(-move(-off)?|-shut-down|land|off|flight|hover)$|(?<=hov)(move|start)$",
    "openarena-data": r"\d+[a-z]?$|_(end|strt)$",
    "ufoai-sound": r"-(\d+x|open|close|idle|move|stop)$",
    "flightgear-data-base": (
        r"-(idle|start|cut|closing|opening|fast|still|windshield)$|"
        r"_(start|shutdown|rpm\d?|startup)$"
    ),
    "torcs-data": r"_long$|^clean|_engine$",
    "supertux-data": r"_low$",
    "redeclipse-data": r"^(alien|blow|dizzy|hollow|waste|storm)|_(deep|huge|indoor|medium)$",
    "gcompris-qt-data": r"_la(_?cut)?$|_(open|close)$",
    # OpenClonk's credits: StepHard / StepSoft are one recording, so are the doors' open /
    # close, Blast3alt is Blast3 reworked, ClangHard a harder Clang
    "openclonk-data": r"(?<=step)(hard|soft)$|(?<=door)(open|close)$|(?<=blast)\d?alt$|"
    r"(?<=clang)hard$",
}
# packages whose files of one creature or unit (``cow_white``, ``chicken_ack``) are one
# recording: the name's first word is the recording
_FIRST_WORD_RECORDING = ("tuxpaint-stamps-default", "megaglest-data")


def event_recording_id(package: str, name: str) -> str:
    """The recording a sound-event file of ``package`` comes from (:func:`recording_id` plus
    the package's own naming of takes and variants)."""
    rid = recording_id(name)
    if package in _FIRST_WORD_RECORDING:
        return rid.split("_")[0]
    if package in _VARIANT:
        base = re.sub(_VARIANT[package], "", rid)
        return recording_id(base) if base else rid  # a name that is all variant stays
    return rid


def event_class(package: str, relpath: str) -> str | None:
    """The event class of a package file by the rules in :data:`EVENT_RULES` (or None)."""
    for pkg, pat, cls in EVENT_RULES:
        if pkg == package and re.search(pat, relpath, re.IGNORECASE):
            return cls or None
    return None


def _opensfx_original(desc: str) -> str:
    m = re.search(r'Original "([^"]+)"', desc)
    if m:
        return recording_id(m.group(1))
    m = re.match(r'"([^"]+)"', desc)
    return recording_id(m.group(1) if m else desc)


def _opensfx_license(desc: str) -> str:
    m = re.search(r"License: ([^.]+(?:\d\.\d)?[^.]*)\.", desc)
    if not m:
        return "CC-BY-SA-3.0"
    s = m.group(1)
    if "Zero" in s:
        return "CC0-1.0"
    if "ShareAlike" in s:
        return "CC-BY-SA-3.0"
    return "CC-BY-3.0"


def scan_events() -> tuple[list[SourceFile], list[Notice]]:
    out: list[SourceFile] = []
    notes: list[Notice] = []
    for pkg, root in _EVENT_ROOTS:
        files = _files(root)
        if not files:
            notes.append(_missing(pkg, "events", root))
            continue
        for p in files:
            rel = str(p.relative_to(root))
            cls = event_class(pkg, str(p))
            if cls is None:
                continue
            rid = event_recording_id(pkg, p.name)
            out.append(
                SourceFile(
                    str(p),
                    "events",
                    cls,
                    f"{pkg}:{rid}",
                    f"rec:{pkg}:{rid}",
                    pkg,
                    file_license(pkg, str(p)),
                    note=rel,
                )
            )
    if ZERO_AD.is_file():
        for n in _archive_names("audio/"):
            cls = event_class("0ad-data", n)
            if cls is None:
                continue
            rid = recording_id(n.rsplit("/", 1)[1])
            sub = n.split("/")[1] if "/" in n else ""
            out.append(
                SourceFile(
                    f"{ZERO_AD}::{n}",
                    "events",
                    cls,
                    f"0ad-data:{rid}",
                    f"rec:0ad-data:{sub}:{rid}",
                    "0ad-data",
                    "CC-BY-SA-3.0",
                    note=n,
                )
            )
    else:
        notes.append(_missing("0ad-data", "events", ZERO_AD))
    for pkg, archive, prefix in _EVENT_ARCHIVES:
        if not archive.is_file():
            notes.append(_missing(pkg, "events", archive))
            continue
        lic = file_license(pkg, str(archive))
        for n in _archive_names(prefix, archive):
            cls = event_class(pkg, n)
            if cls is None:
                continue
            rid = event_recording_id(pkg, n.rsplit("/", 1)[1])
            out.append(
                SourceFile(
                    f"{archive}::{n}",
                    "events",
                    cls,
                    f"{pkg}:{rid}",
                    f"rec:{pkg}:{rid}",
                    pkg,
                    lic,
                    note=n,
                )
            )
    if OPENSFX.is_file():
        for i, (_, size, desc) in enumerate(cat_entries(str(OPENSFX))):
            if size < 2000:
                continue
            cls = event_class("openttd-opensfx", desc)
            if cls is None:
                continue
            rid = _opensfx_original(desc)
            out.append(
                SourceFile(
                    f"{OPENSFX}::{i}",
                    "events",
                    cls,
                    f"openttd-opensfx:{rid}",
                    f"rec:openttd-opensfx:{rid}",
                    "openttd-opensfx",
                    _opensfx_license(desc),
                    note=desc.split(".")[0],
                )
            )
    else:
        notes.append(_missing("openttd-opensfx", "events", OPENSFX))
    return out, notes


SCANNERS: dict[str, tuple[Callable[[], tuple[list[SourceFile], list[Notice]]], ...]] = {
    "speech": (
        scan_asterisk,
        scan_kde,
        scan_hedgewars_voices,
        scan_0ad_voices,
        scan_tuxpaint_voices,
    ),
    "music": (scan_music,),
    "events": (scan_events,),
}


def scan(kind: str) -> tuple[list[SourceFile], list[Notice]]:
    """All real files of ``kind`` found on this machine, and notices for what is missing."""
    out: list[SourceFile] = []
    notes: list[Notice] = []
    for fn in SCANNERS.get(kind, ()):
        o, n = fn()
        out += o
        notes += n
    return out, notes
