"""Text for the speech synthesisers, built offline.

Three deterministic sources, mixed by :class:`TextSource`:

* a small built-in grammar (everyday sentences, questions, numbers, times, telephone prompts);
* sentences cut from the licence texts every Debian system ships in
  ``/usr/share/common-licenses`` (real English prose);
* word lists (``/usr/share/dict/words`` from ``wamerican`` when installed, else built-in words).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

LICENSE_DIR = Path("/usr/share/common-licenses")
DICT_WORDS = Path("/usr/share/dict/words")

_NAMES = (
    "Anna",
    "Peter",
    "Maria",
    "John",
    "Sophie",
    "David",
    "Laura",
    "Thomas",
    "Emma",
    "Lucas",
    "Olivia",
    "Daniel",
    "Nora",
    "Samuel",
    "Clara",
    "Victor",
    "Ines",
    "Omar",
)
_PLACES = (
    "the station",
    "the market",
    "the office",
    "the garden",
    "the library",
    "the beach",
    "the old bridge",
    "the kitchen",
    "the hospital",
    "the school",
    "the airport",
    "the museum",
    "the corner shop",
    "the river",
    "the city centre",
    "the mountains",
)
_OBJECTS = (
    "the keys",
    "a letter",
    "the umbrella",
    "some bread",
    "the report",
    "a bicycle",
    "the tickets",
    "a cup of tea",
    "the blue box",
    "her phone",
    "the map",
    "the camera",
    "a new coat",
    "the old piano",
    "two apples",
    "the newspaper",
    "a small dog",
)
_VERBS_PAST = (
    "found",
    "bought",
    "forgot",
    "carried",
    "painted",
    "opened",
    "lost",
    "sold",
    "borrowed",
    "fixed",
    "cleaned",
    "brought",
    "moved",
    "checked",
    "wrapped",
)
_ADJ = (
    "quiet",
    "bright",
    "cold",
    "busy",
    "strange",
    "lovely",
    "long",
    "noisy",
    "warm",
    "empty",
    "beautiful",
    "difficult",
    "simple",
    "early",
    "late",
    "heavy",
    "gentle",
)
_TIMES = (
    "this morning",
    "yesterday",
    "last week",
    "on Sunday",
    "after lunch",
    "tonight",
    "at noon",
    "before the meeting",
    "every day",
    "in the evening",
    "next year",
)
_PROMPTS = (
    "Please enter your account number followed by the pound key.",
    "Your call is important to us. Please stay on the line.",
    "The number you have dialed is not in service.",
    "Press one for sales, two for support, or zero for an operator.",
    "You have {n} new messages.",
    "The meeting has been moved to {t}.",
    "Thank you for calling. Goodbye.",
    "Please leave a message after the tone.",
)
_TEMPLATES = (
    "{name} {verb} {obj} at {place} {time}.",
    "Have you seen {obj}? I think {name} left it near {place}.",
    "It was a {adj} day, so we walked to {place}.",
    "{time}, {name} and {name2} {verb} {obj}.",
    "Could you bring {obj} to {place}, please?",
    "The train to {city} leaves at {clock}.",
    "I will meet you at {place} {time}.",
    "Why is {place} so {adj} {time}?",
    "There are {n} people waiting outside {place}.",
    "{name} said that the weather was {adj} and {adj2}.",
    "We need {obj}, {obj2} and {obj3} before {time2}.",
    "My phone number is {digits}.",
    "Turn left after {place}, then walk for {n} minutes.",
    "Nobody expected {obj} to be so {adj}.",
)
_CITIES = (
    "London",
    "Paris",
    "Berlin",
    "Madrid",
    "Rome",
    "Vienna",
    "Lisbon",
    "Dublin",
    "Oslo",
    "Prague",
    "Warsaw",
    "Athens",
    "Boston",
    "Chicago",
    "Toronto",
    "Sydney",
)
_BUILTIN_WORDS = tuple(
    sorted(
        {w for grp in (_ADJ, _VERBS_PAST, _CITIES) for w in grp}
        | {
            "apple",
            "river",
            "window",
            "garden",
            "music",
            "yellow",
            "mountain",
            "pencil",
            "coffee",
            "tomorrow",
            "seven",
            "eleven",
            "forest",
            "thunder",
            "silver",
            "orange",
            "kitchen",
            "winter",
            "summer",
            "basket",
            "candle",
            "rabbit",
            "doctor",
            "engine",
            "island",
            "ladder",
            "monkey",
        }
    )
)


def _clean(s: str) -> str:
    s = re.sub(r"\s+", " ", s).strip()
    s = s.replace("``", '"').replace("''", '"')
    return s


@functools.lru_cache(maxsize=1)
def license_sentences() -> tuple[str, ...]:
    """Sentences of 5..20 words from ``/usr/share/common-licenses`` (sorted, deduplicated)."""
    out: set[str] = set()
    if not LICENSE_DIR.is_dir():
        return ()
    for f in sorted(LICENSE_DIR.iterdir()):
        if not f.is_file():
            continue
        try:
            text = f.read_text(encoding="utf-8", errors="ignore")
        except OSError:
            continue
        text = re.sub(r"\s+", " ", text)
        for s in re.split(r"(?<=[.!?])\s+", text):
            s = _clean(s)
            words = s.split()
            if not 5 <= len(words) <= 20:
                continue
            if not re.fullmatch(r"[A-Za-z][A-Za-z ,;:'\"()\-]*[.!?]", s):
                continue
            if sum(w.isupper() and len(w) > 1 for w in words) > 1 or (
                words[0].isupper() and len(words[0]) > 1
            ):
                continue  # headings glued to a sentence
            out.add(s)
    return tuple(sorted(out))


@functools.lru_cache(maxsize=1)
def dictionary_words() -> tuple[str, ...]:
    """Plain lower-case words from ``/usr/share/dict/words`` (or a built-in list)."""
    words: list[str] = []
    if DICT_WORDS.is_file():
        for w in DICT_WORDS.read_text(encoding="utf-8", errors="ignore").split():
            if w.isascii() and w.isalpha() and w.islower() and 3 <= len(w) <= 12:
                words.append(w)
    return tuple(words) if len(words) > 1000 else _BUILTIN_WORDS


def _pick(rng: np.random.Generator, seq: Sequence[str]) -> str:
    return seq[int(rng.integers(len(seq)))]


def _number_words(rng: np.random.Generator) -> str:
    return str(int(rng.integers(2, 60)))


def template_sentence(rng: np.random.Generator) -> str:
    """One sentence from the built-in grammar."""
    if rng.random() < 0.12:
        p = _pick(rng, _PROMPTS)
        return p.format(n=_number_words(rng), t=f"{int(rng.integers(1, 12))} o'clock")
    t = _pick(rng, _TEMPLATES)
    names = rng.permutation(len(_NAMES))
    objs = rng.permutation(len(_OBJECTS))
    adjs = rng.permutation(len(_ADJ))
    times = rng.permutation(len(_TIMES))
    return t.format(
        name=_NAMES[names[0]],
        name2=_NAMES[names[1]],
        verb=_pick(rng, _VERBS_PAST),
        obj=_OBJECTS[objs[0]],
        obj2=_OBJECTS[objs[1]],
        obj3=_OBJECTS[objs[2]],
        place=_pick(rng, _PLACES),
        time=_TIMES[times[0]],
        time2=_TIMES[times[1]],
        adj=_ADJ[adjs[0]],
        adj2=_ADJ[adjs[1]],
        city=_pick(rng, _CITIES),
        clock=f"{int(rng.integers(1, 13))} {int(rng.integers(0, 6)) * 10 or 'fifteen'}",
        n=_number_words(rng),
        digits=" ".join(str(int(d)) for d in rng.integers(0, 10, 7)),
    )


def word_list_utterance(rng: np.random.Generator, n_min: int = 3, n_max: int = 8) -> str:
    """A short list of dictionary words, read like a spelling exercise."""
    words = dictionary_words()
    n = int(rng.integers(n_min, n_max + 1))
    return ", ".join(_pick(rng, words) for _ in range(n)) + "."


class TextSource:
    """Deterministic text sampler mixing grammar, licence prose and word lists."""

    def __init__(self, weights: tuple[float, float, float] = (0.5, 0.35, 0.15)) -> None:
        self.prose = license_sentences()
        w = np.array(weights if self.prose else (weights[0] + weights[1], 0.0, weights[2]))
        self.weights = w / w.sum()

    def sentence(self, rng: np.random.Generator) -> str:
        """One utterance text (ASCII)."""
        k = int(rng.choice(3, p=self.weights))
        if k == 0:
            s = template_sentence(rng)
        elif k == 1:
            s = _pick(rng, self.prose)
        else:
            s = word_list_utterance(rng)
        return s.encode("ascii", "ignore").decode()

    def describe(self) -> str:
        """Where the text comes from, for the manifest."""
        src = ["built-in grammar"]
        if self.prose:
            src.append(f"{len(self.prose)} sentences from {LICENSE_DIR}")
        words = dictionary_words()
        src.append(
            f"{len(words)} words from "
            + (str(DICT_WORDS) if words is not _BUILTIN_WORDS else "a built-in list")
        )
        return "; ".join(src)
