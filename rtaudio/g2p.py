"""Grapheme-to-phoneme: English words to IPA phonemes with the SliceNet of ``slicenet_g2p``.

The network reads a word letter by letter and writes its phonemes (eSpeak NG's ``en-us``
inventory, stress marks as tokens of their own) one at a time with
:meth:`rtaudio.models.slicenet.SliceNet.greedy_decode`, which runs the decoder's streaming
``step``. Nothing calls eSpeak NG at run time: it only labelled the training lexicon
(:mod:`rtaudio.data.lexicon`).

Token ids: the source is ``pad`` then the letters ``a..z``; the target is ``pad``, ``bos``,
``eos`` then :data:`TOKENS`. A weights file records both alphabets (``meta["g2p"]``) and is
refused when they differ from this module's.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import rtaudio.models as models
from rtaudio import numbers
from rtaudio.errors import missing
from rtaudio.weights import weights_path

NAME = "slicenet_g2p"
LETTERS = "abcdefghijklmnopqrstuvwxyz"
STRESS = ("ˈ", "ˌ")  # primary, secondary: a token before the stressed vowel
# eSpeak NG 1.51 en-us phonemes (``--ipa``), most frequent first in the 63,875 words of wamerican
PHONEMES = (
    "ɪ", "s", "n", "t", "ɹ", "k", "l", "d", "ə", "z", "p", "m", "ɛ", "æ", "ɚ", "b", "ŋ", "ᵻ",
    "eɪ", "f", "i", "ʌ", "ɑː", "aɪ", "ɾ", "oʊ", "ɡ", "v", "ʃ", "iː", "uː", "əl", "w", "dʒ", "h",
    "ɜː", "ɐ", "j", "tʃ", "ɑːɹ", "aʊ", "ɔː", "θ", "ʊ", "ɔːɹ", "oːɹ", "iə", "ɔ", "ɔɪ", "ʊɹ", "ɛɹ",
    "oː", "ð", "ɪɹ", "aɪɚ", "ʒ", "aɪə", "ʔ", "n̩", "r", "ɑ̃", "e", "ɬ", "ɔ̃", "x",
)  # fmt: skip
TOKENS = STRESS + PHONEMES
PAD, BOS, EOS = 0, 1, 2
SRC_VOCAB = 1 + len(LETTERS)
TGT_VOCAB = 3 + len(TOKENS)
MAX_LETTERS = 32  # the lexicon's longest word has 22; longer input is refused

ENDINGS = ("'s", "n't", "'ll", "'d", "'ve", "'re", "'m")  # contractions read by rule
# stems whose negative is not the word + n't (do / don't), as eSpeak NG en-us reads them
NEGATIVE_STEMS = {
    "do": ("d", "ˈ", "oʊ"),
    "wo": ("w", "ˈ", "oʊ"),
    "ca": ("k", "ˈ", "æ"),
    "sha": ("ʃ", "ˈ", "ɑː"),
    "ai": ("ˈ", "eɪ"),
}
# each letter's name as eSpeak NG en-us says it alone (spelled words: see spell_letters)
LETTER_NAMES: dict[str, tuple[str, ...]] = {
    "a": ("ˈ", "eɪ"), "b": ("b", "ˈ", "iː"), "c": ("s", "ˈ", "iː"), "d": ("d", "ˈ", "iː"),
    "e": ("ˈ", "iː"), "f": ("ˈ", "ɛ", "f"), "g": ("dʒ", "ˈ", "iː"), "h": ("ˈ", "eɪ", "tʃ"),
    "i": ("ˈ", "aɪ"), "j": ("dʒ", "ˈ", "eɪ"), "k": ("k", "ˈ", "eɪ"), "l": ("ˈ", "ɛ", "l"),
    "m": ("ˈ", "ɛ", "m"), "n": ("ˈ", "ɛ", "n"), "o": ("ˈ", "oʊ"), "p": ("p", "ˈ", "iː"),
    "q": ("k", "j", "ˈ", "uː"), "r": ("ˈ", "ɑːɹ"), "s": ("ˈ", "ɛ", "s"), "t": ("t", "ˈ", "iː"),
    "u": ("j", "ˈ", "uː"), "v": ("v", "ˈ", "iː"),
    "w": ("d", "ˈ", "ʌ", "b", "əl", "j", "ˌ", "uː"), "x": ("ˈ", "ɛ", "k", "s"),
    "y": ("w", "ˈ", "aɪ"), "z": ("z", "ˈ", "iː"),
}  # fmt: skip
# capitals without a vowel letter (HTML, SQL, PDFs): spelled out, as eSpeak NG does
_SPELLED = re.compile(r"^([B-DF-HJ-NP-TV-XZ]{2,})(s?)$")
# letters that are no accented a-z, read as English spells their sounds (NFD takes the rest)
_FOLD = str.maketrans({"ß": "ss", "æ": "ae", "Æ": "Ae", "œ": "oe", "Œ": "Oe", "ø": "o",
                       "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "ð": "th", "þ": "th"})  # fmt: skip
_FINAL_E = re.compile(r"^(.+?)(?:é|ée)(s?)$", re.IGNORECASE)  # café, fiancée, clichés
_MIXED = re.compile(r"^(?=.*[A-Za-z])(?=.*[0-9])[A-Za-z0-9]+$")  # mp3, x86, 4K, 1990s
_RUNS = re.compile(r"[A-Za-z]+|[0-9]+")
_VOWEL_LETTERS = frozenset("aeiouy")
_ENDING = re.compile(r"^(.+?)(n't|'s|'ll|'d|'ve|'re|'m)$", re.IGNORECASE)
_APOSTROPHES = str.maketrans("’‘ʼ`´", "'" * 5)  # typographic and look-alike apostrophes
_O_PREFIX = re.compile(r"^o'[a-z]{2}", re.IGNORECASE)  # O'Brien, o'clock
_VOWELS = frozenset((
    "ɪ", "ə", "ɛ", "æ", "ɚ", "ᵻ", "eɪ", "i", "ʌ", "ɑː", "aɪ", "oʊ", "iː", "uː", "ɜː", "ɐ", "ɑːɹ",
    "aʊ", "ɔː", "ʊ", "ɔːɹ", "oːɹ", "iə", "ɔ", "ɔɪ", "ʊɹ", "ɛɹ", "oː", "ɪɹ", "aɪɚ", "aɪə", "ɑ̃",
    "e", "ɔ̃",
))  # fmt: skip
_SIBILANTS = frozenset({"s", "z", "ʃ", "ʒ", "tʃ", "dʒ"})
_VOICELESS = frozenset({"p", "t", "k", "f", "θ"})
_EDGE = "\"'.,;:!?()[]{}<>«»“”‘’„…*_`"  # punctuation taken off a word's ends
_JOINERS = re.compile(r"[-‐‑–—/]+")  # hyphens, dashes and slashes part words
_NEGATIVE = re.compile(r"[-−][0-9]")  # a minus sign before a number (-5, −3.5)
_LETTER_ID = {c: i + 1 for i, c in enumerate(LETTERS)}
_TOKEN_ID = {t: i + 3 for i, t in enumerate(TOKENS)}


class G2PError(ValueError):
    """A word that cannot be transcribed, or weights that do not fit this module."""


def normalise(word: str) -> str:
    """``word`` lower-cased, or :class:`G2PError` saying what in it cannot be read."""
    w = word.strip().lower()
    if not w:
        raise G2PError("an empty word cannot be transcribed")
    bad = sorted({c for c in w if c not in _LETTER_ID})
    if bad:
        raise G2PError(
            f"{word!r}: only the letters a-z can be transcribed; "
            + ", ".join(repr(c) for c in bad)
            + (" is not one" if len(bad) == 1 else " are not")
        )
    if len(w) > MAX_LETTERS:
        raise G2PError(f"{word[:20]!r}...: {len(w)} letters, at most {MAX_LETTERS}")
    return w


@dataclass(frozen=True)
class Reading:
    """How a written word is read: the ``letters`` the network transcribes, phonemes said
    ``before`` them (the O' of O'Brien) and the contractions after them, innermost first
    (``endings``: "shouldn't've" is should + n't + 've)."""

    letters: str
    before: tuple[str, ...] = ()
    endings: tuple[str, ...] = ()
    spelled: bool = False  # said letter by letter (:func:`spell_letters`)
    folded: bool = False  # written with accents, read without them: approximate
    final_ay: bool = False  # a final é: the letters' phonemes, then a stressed /eɪ/ (café)

    def read(self, tokens: Sequence[str]) -> list[str]:
        """The word's phonemes from those of its :attr:`letters` (the stems of the five
        irregular negatives, don't, won't, can't, shan't and ain't, are taken from
        :data:`NEGATIVE_STEMS` instead; a spelled word's from its letters' names)."""
        if self.spelled:
            tokens = spell_letters(self.letters)
        elif self.final_ay:
            tokens = [*("ˌ" if t == "ˈ" else t for t in tokens), "ˈ", "eɪ"]
        elif self.endings[:1] == ("n't",) and self.letters in NEGATIVE_STEMS:
            tokens = NEGATIVE_STEMS[self.letters]
        out = [*self.before, *tokens]
        for ending in self.endings:
            out = with_ending(out, ending)
        return out


def parse(word: str) -> Reading:
    """The :class:`Reading` of one word (:class:`G2PError` says what in it cannot be read).

    Apostrophes: a final 's (cat's, it's), n't, 'll, 'd, 've, 're and 'm are read by
    :func:`with_ending` after the phonemes of what comes before them; an O' before at least two
    letters (O'Brien, o'clock) is /oʊ/; any other apostrophe (rock'n'roll, ma'am, Qur'an) is
    dropped and the letters read as one word. A word in capitals without a vowel letter (a e
    i o u y) is spelled out: HTML, SQL, and PDFs with the plural's ending. Accents are folded
    away and the word marked :attr:`Reading.folded` (approximate: eSpeak NG reads accented
    letters otherwise), a final é read as a stressed /eɪ/ (café /kˌæfˈeɪ/)."""
    w = word.strip().translate(_APOSTROPHES)
    try:
        if numbers.spell(w) is not None:
            raise G2PError(f"{word!r}: a number (rtaudio.g2p.words_of spells numbers out)")
    except numbers.NumberError as e:
        raise G2PError(str(e)) from None
    endings: list[str] = []
    while (m := _ENDING.match(w)) is not None:
        w = m.group(1)
        endings.insert(0, m.group(2).lower())
    if (folded := fold_accents(w)) != w:
        if (m := _FINAL_E.match(w)) is not None and len(fold_accents(m.group(1))) > 1:
            plural = ("'s",) if m.group(2) else ()
            letters = normalise(fold_accents(m.group(1)).replace("'", ""))
            return Reading(letters, endings=(*plural, *endings), folded=True, final_ay=True)
        return Reading(normalise(folded.replace("'", "")), (), tuple(endings), folded=True)
    if (m := _SPELLED.match(w)) is not None:
        plural = ("'s",) if m.group(2) else ()
        return Reading(normalise(m.group(1)), endings=(*plural, *endings), spelled=True)
    before: tuple[str, ...] = ()
    if _O_PREFIX.match(w):
        w, before = w[2:], ("oʊ",)
    return Reading(normalise(w.replace("'", "")), before, tuple(endings))


def fold_accents(word: str) -> str:
    """``word`` without its accents (café -> cafe, Düsseldorf -> Dusseldorf, Straße -> Strasse)."""
    w = unicodedata.normalize("NFD", word.translate(_FOLD))
    return "".join(c for c in w if not unicodedata.combining(c))


def spell_letters(letters: str) -> list[str]:
    """Phonemes of ``letters`` said one by one (a-z), stressed as eSpeak NG spells: the last
    letter's name has the primary stress, the others a secondary one, and an R before a
    letter whose name starts with a vowel links to it (URL /jˌuːˌɑːɹɹˈɛl/)."""
    out: list[str] = []
    word = normalise(letters)
    for i, c in enumerate(word):
        name = LETTER_NAMES[c]
        if i < len(word) - 1:
            name = tuple("ˌ" if t == "ˈ" else t for t in name)
        if out[-1:] == ["ɑːɹ"] and next(t for t in name if t not in STRESS) in _VOWELS:
            out.append("ɹ")
        out += name
    return out


def with_ending(tokens: Sequence[str], ending: str) -> list[str]:
    """``tokens`` with a contraction's phonemes after them. 's (and the regular plural): /ᵻz/
    after a sibilant (boss's), /s/ after another voiceless consonant (cat's), /z/ otherwise
    (dog's). n't, 'll, 'd, 've: /nt l d v/ after a vowel (aren't, we'll, he'd, I've), /ənt əl
    əd əv/ after a consonant (isn't, it'll, it'd, could've); 're /ɚ/; 'm /m/. A /t/ after a
    vowel turns to /ɾ/ before an ending that starts with a vowel (it'll /ˈɪɾəl/), as in
    American English and eSpeak NG."""
    if ending not in ENDINGS:
        raise G2PError(f"{ending!r} is not a contraction rtaudio reads ({', '.join(ENDINGS)})")
    out = list(tokens)
    last = out[-1] if out else ""
    after_vowel = last in _VOWELS
    if ending == "'s":
        tail: tuple[str, ...] = (
            ("ᵻ", "z") if last in _SIBILANTS else ("s",) if last in _VOICELESS else ("z",)
        )
    elif ending == "'m":
        tail = ("m",)
    elif ending == "'re":
        tail = ("ɚ",)
    elif ending == "'ll":
        tail = ("l",) if after_vowel else ("əl",)
    else:
        core = {"n't": ("n", "t"), "'d": ("d",), "'ve": ("v",)}[ending]
        tail = core if after_vowel else ("ə", *core)
    sounds = [t for t in out if t not in STRESS]
    if (
        ending != "n't"
        and tail[0] in _VOWELS | {"əl"}
        and len(sounds) > 1
        and sounds[-1] == "t"
        and sounds[-2] in _VOWELS
    ):
        out[-1] = "ɾ"
    return [*out, *tail]


def with_s(tokens: Sequence[str]) -> list[str]:
    """``tokens`` with the ending of ``'s`` (see :func:`with_ending`)."""
    return with_ending(tokens, "'s")


def words_of(text: str) -> list[str]:
    """The words of running text: split at white space, hyphens, dashes and slashes, with the
    punctuation around each taken off ("Hello, world!" -> Hello, world; "well-known" -> well,
    known), numbers spelled out (:func:`rtaudio.numbers.spell`: "21st" -> twenty, first; "-5"
    -> minus, five) and
    words mixing letters and digits read run by run ("mp3" -> MP, three). What is left is
    :func:`parse`'s to read or refuse (accents, other signs, numbers too long to read)."""
    words = []
    for chunk in text.split():
        if _NEGATIVE.match(chunk):  # "-5": a minus, not a hyphen joining nothing to five
            words.append("minus")
            chunk = chunk[1:]
        for part in _JOINERS.split(chunk):
            w = part.strip(_EDGE)
            try:
                spelled = numbers.spell(w) or _letters_and_digits(w)
            except numbers.NumberError:
                spelled = None  # parse says why
            words += spelled or ([w] if w else [])
    return words


def _letters_and_digits(token: str) -> list[str] | None:
    """The words of a token mixing letters and digits, as eSpeak NG reads it: each run on its
    own, the digits as a number, letters without a vowel letter spelled (mp3 -> MP three, x86
    -> x eighty six, 4K -> four K); a final s after digits makes the number plural (1990s,
    80s: eighty's, read /ˈeɪɾiz/). None for any other token."""
    if not _MIXED.match(token):
        return None
    runs = _RUNS.findall(token)
    plural = len(runs) > 1 and runs[-1] == "s" and runs[-2].isdigit()
    out: list[str] = []
    for run in runs[:-1] if plural else runs:
        if run.isdigit():
            out += numbers.spell(run) or []
        else:
            out.append(
                run.upper() if len(run) > 1 and not set(run.lower()) & _VOWEL_LETTERS else run
            )
    if plural:
        out[-1] += "'s"
    return out


def letter_ids(word: str) -> list[int]:
    return [_LETTER_ID[c] for c in normalise(word)]


def token_ids(tokens: Sequence[str]) -> list[int]:
    """Target ids of phoneme tokens (:class:`G2PError` for one outside :data:`TOKENS`)."""
    try:
        return [_TOKEN_ID[t] for t in tokens]
    except KeyError as e:
        raise G2PError(f"phoneme {e.args[0]!r} is not in rtaudio's inventory") from None


def split_tokens(ipa: str) -> list[str]:
    """eSpeak NG's ``--sep=_`` output of one word -> tokens, the stress marks split off."""
    out: list[str] = []
    for part in ipa.strip().split("_"):
        while part and part[0] in STRESS:
            out.append(part[0])
            part = part[1:]
        if part:
            out.append(part)
    return out


def pad_batch(rows: Sequence[Sequence[int]]) -> torch.Tensor:
    """Right-padded ``[B, max_len]`` int64 tensor of id rows."""
    n = max((len(r) for r in rows), default=0)
    out = torch.full((len(rows), max(1, n)), PAD, dtype=torch.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.as_tensor(list(r), dtype=torch.int64)
    return out


def decoded_tokens(ids: Iterable[int]) -> list[str]:
    """Tokens of one decoded row, up to its ``eos`` (special ids dropped)."""
    out = []
    for i in ids:
        i = int(i)
        if i == EOS:
            break
        if i >= 3:
            out.append(TOKENS[i - 3])
    return out


def max_phonemes(letters: int) -> int:
    """Longest decode allowed for a word of ``letters`` letters, ``eos`` included (the lexicon's
    longest transcriptions, abbreviations spelled out letter by letter such as "wk" or "pwns",
    have ``2 * letters + 9`` tokens)."""
    return 2 * letters + 12


def transcribe_ids(
    model: Any,
    words: Sequence[str],
    batch: int = 256,
    progress: Callable[[int], object] | None = None,
) -> list[list[str]]:
    """Greedy transcriptions of already-normalised ``words`` (``model``: a trained SliceNet);
    ``progress`` is told how many words each finished batch held."""
    order = sorted(range(len(words)), key=lambda i: len(words[i]))  # less padding per batch
    result: dict[int, list[str]] = {}
    with torch.inference_mode():
        for s in range(0, len(order), batch):
            idx = order[s : s + batch]
            src = pad_batch([[_LETTER_ID[c] for c in words[i]] for i in idx])
            ids = model.greedy_decode(src, max_phonemes(src.shape[1]))
            for i, row in zip(idx, ids.tolist(), strict=True):
                result[i] = decoded_tokens(row)
            if progress is not None:
                progress(len(idx))
    return [result[i] for i in range(len(words))]


def g2p_meta() -> dict[str, Any]:
    """What a weights file records of its alphabets (checked by :func:`load`)."""
    return {"letters": LETTERS, "tokens": list(TOKENS), "pad": PAD, "bos": BOS, "eos": EOS}


def check_model_shape(model: Any, where: str) -> None:
    """Refuse a SliceNet whose vocabularies or special ids are not this module's."""
    cfg = model.config
    if (cfg.src_vocab, cfg.tgt_vocab, cfg.pad_id, cfg.bos_id, cfg.eos_id) != (
        SRC_VOCAB,
        TGT_VOCAB,
        PAD,
        BOS,
        EOS,
    ):
        raise G2PError(
            f"{where}: a SliceNet with vocabularies {cfg.src_vocab} / {cfg.tgt_vocab}, not the "
            f"grapheme-to-phoneme one ({SRC_VOCAB} letters / {TGT_VOCAB} phoneme tokens)"
        )


def check_model(model: Any, where: str) -> None:
    """Refuse a SliceNet whose vocabularies or recorded alphabets are not this module's."""
    check_model_shape(model, where)
    rec = (getattr(model, "meta", None) or {}).get("g2p")
    if rec != g2p_meta():
        raise G2PError(
            f"{where}: does not record rtaudio's letter and phoneme alphabets "
            "(not grapheme-to-phoneme weights, or written for another inventory)"
        )


class G2P:
    """Trained grapheme-to-phoneme weights, ready to transcribe words.

    Raises:
        rtaudio.models.WeightsError: the file is missing, tampered with, or not a SliceNet.
        G2PError: a SliceNet that is not this module's grapheme-to-phoneme model.
    """

    def __init__(self, weights: str | Path | None = None) -> None:
        self.path = Path(weights) if weights else weights_path(NAME)
        if not self.path.exists():
            raise models.WeightsError(
                missing(self.path, "weights file")
                + ("" if weights else " (the shipped grapheme-to-phoneme weights are missing)")
            )
        self.model = models.load(self.path, family="slicenet")
        check_model(self.model, str(self.path))

    def transcribe(
        self,
        words: Sequence[str],
        batch: int = 256,
        progress: Callable[[int], object] | None = None,
    ) -> list[list[str]]:
        """Phoneme tokens of each word, a final ``'s`` included (:class:`G2PError` names the
        first unreadable one; ``progress`` as in :func:`transcribe_ids`)."""
        readings = [parse(w) for w in words]
        out = transcribe_ids(self.model, [r.letters for r in readings], batch, progress)
        return [r.read(t) for t, r in zip(out, readings, strict=True)]
