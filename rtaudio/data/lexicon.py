"""A pronunciation lexicon for grapheme-to-phoneme training, built offline with eSpeak NG.

``rtaudio data lexicon --out DIR`` reads a word list (``/usr/share/dict/american-english`` from
Debian's ``wamerican`` by default: its lower-case words of letters a-z, and its capitalised
names such as "Aaron", lower-cased, unless ``names=False``), asks ``espeak-ng -v en-us --ipa``
for each word's phonemes and writes::

    DIR/lexicon.tsv    word <TAB> phoneme tokens separated by spaces <TAB> split <TAB> kind
                       <TAB> frequency
                       (kind: ``word``, or ``name`` for a capitalised line; frequency: uses
                       per million words of English text, from the ``wordfreq`` package;
                       lexicons written before names or frequencies have fewer columns)
    DIR/lexicon.json   what it was built from (word list and its sha256, eSpeak NG version,
                       voice), words per split and kind, words left out and why

The split is a function of the word alone (:func:`split_of`: the first 8 bytes of its sha256,
90 % train, 5 % validation, 5 % test), so every lexicon rtaudio builds, from any word list,
holds the same word in the same split: a test word is never a training word of another build.
One exception, since a transcriber must know "the" and "was": the words of at least
:data:`FREQUENT` uses per million (about 1,050 of them, two thirds of running text) are always
in train (:func:`split_for`); held-out words are the rarer ones.
Words eSpeak NG reads as several words (roman numerals: "xiv" -> "roman fourteen") or with a
phoneme outside :data:`rtaudio.g2p.TOKENS` are left out and counted.

:class:`Lexicon` reads a built one for ``rtaudio train slicenet_g2p`` and ``rtaudio evaluate``.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rtaudio.data.audio import write_text_atomic
from rtaudio.g2p import TOKENS, G2PError, normalise, split_tokens

DEFAULT_WORDS = Path("/usr/share/dict/american-english")
VOICE = "en-us"
SPLITS = ("train", "validation", "test")
TSV = "lexicon.tsv"
JSON = "lexicon.json"
SPLIT_RULE = "sha256(word) first 8 bytes mod 100: < 90 train, < 95 validation, else test"
FREQUENT = 100.0  # uses per million: always train
FREQUENT_RULE = f"words of at least {FREQUENT:g} uses per million (wordfreq, en) always train"
CHUNK = 2000  # words per espeak-ng call
WORD_RE = re.compile(r"^[a-z]+$")
NAME_RE = re.compile(r"^[A-Z][a-z]+$")  # "Aaron"; not acronyms ("AAA") nor "McCarthy"
KINDS = ("word", "name")
_TOKENS = frozenset(TOKENS)


class LexiconError(ValueError):
    """A lexicon that cannot be built or read; the message says why."""


def split_of(word: str) -> str:
    h = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "big") % 100
    return "train" if h < 90 else "validation" if h < 95 else "test"


def split_for(word: str, frequency: float | None) -> str:
    """The word's split in a lexicon that records frequencies (``None``: one that does not):
    train if it is :data:`FREQUENT`, else :func:`split_of`."""
    return "train" if frequency is not None and frequency >= FREQUENT else split_of(word)


def frequencies(words: Sequence[str]) -> tuple[list[float], str]:
    """Uses per million words of English text of each word, and where they come from."""
    from importlib.metadata import version

    try:
        import wordfreq
    except ImportError:
        raise LexiconError(
            "the wordfreq package is missing (bash install.sh installs it)"
        ) from None
    table = wordfreq.get_frequency_dict("en")
    return [table.get(w, 0.0) * 1e6 for w in words], f"wordfreq {version('wordfreq')} (en)"


def read_words(path: Path, names: bool = True) -> tuple[list[tuple[str, str]], int]:
    """The distinct entries of a word list (one per line), as ``(word, kind)`` in file order:
    words of lower-case letters a-z (kind ``word``), then, with ``names``, lines that are one
    capital and lower-case letters ("Aaron"), lower-cased (kind ``name``; a name that is also a
    lower-case word, "Bill" / "bill", is that word). Also how many other lines it had
    (possessives, acronyms, accents; capitalised names too without ``names``): left out."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        hint = " (Debian's wamerican: bash install.sh --data)" if path == DEFAULT_WORDS else ""
        raise LexiconError(f"{path}: no such word list{hint}") from None
    except OSError as e:
        raise LexiconError(f"{path}: cannot read ({e.strerror or e})") from None
    words: dict[str, None] = {}
    capitalised: dict[str, None] = {}
    other = 0
    for line in text.splitlines():
        w = line.strip()
        if not w:
            continue
        if WORD_RE.match(w):
            words.setdefault(w)
        elif names and NAME_RE.match(w):
            capitalised.setdefault(w.lower())
        else:
            other += 1
    entries = [(w, "word") for w in words] + [(w, "name") for w in capitalised if w not in words]
    if not entries:
        what = "lower-case words or capitalised names" if names else "lower-case words"
        raise LexiconError(f"{path}: no {what} of the letters a-z in it")
    return entries, other


def espeak_version() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise LexiconError("espeak-ng is not installed (bash install.sh installs it)")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip().split("  Data at")[0]


def espeak_ipa(words: Sequence[str], voice: str = VOICE) -> list[str]:
    """eSpeak NG's IPA of each word, phonemes separated by ``_`` (one call for all of them).

    Each word is spoken as a sentence of its own ("word."), so it gets its citation stress."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise LexiconError("espeak-ng is not installed (bash install.sh installs it)")
    text = "".join(f"{w}.\n" for w in words)
    out = subprocess.run(
        [exe, "-q", "-v", voice, "--ipa", "--sep=_", "--stdin"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise LexiconError(f"espeak-ng failed ({out.returncode}): {out.stderr.strip()[:200]}")
    lines = [ln for ln in out.stdout.splitlines() if ln.strip()]
    if len(lines) != len(words):
        raise LexiconError(
            f"espeak-ng gave {len(lines)} lines for {len(words)} words "
            f"({words[0]}..{words[-1]}): cannot pair them"
        )
    return lines


@dataclass
class BuildResult:
    out: Path
    words: int
    per_split: dict[str, int]
    per_kind: dict[str, int]
    left_out: dict[str, int]
    frequent: int = 0  # words of at least FREQUENT uses per million (all in train)


def build_lexicon(
    out: Path,
    words_file: Path = DEFAULT_WORDS,
    voice: str = VOICE,
    overwrite: bool = False,
    progress: bool = True,
    names: bool = True,
) -> BuildResult:
    """Write ``out/lexicon.tsv`` and ``out/lexicon.json`` (see the module's docstring)."""
    out = Path(out)
    tsv = out / TSV
    if tsv.exists() and not overwrite:
        raise LexiconError(f"{tsv} exists; pass --overwrite to build it again")
    entries, other = read_words(Path(words_file), names)
    version = espeak_version()
    from tqdm import tqdm

    freq, freq_source = frequencies([w for w, _ in entries])
    freq_of = dict(zip((w for w, _ in entries), freq, strict=True))
    rows: list[tuple[str, list[str], str, str, float]] = []
    left: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    with tqdm(total=len(entries), unit="word", desc="lexicon", disable=not progress) as bar:
        for s in range(0, len(entries), CHUNK):
            chunk = entries[s : s + CHUNK]
            ipas = espeak_ipa([w for w, _ in chunk], voice)
            for (w, kind), ipa in zip(chunk, ipas, strict=True):
                why = ""
                if " " in ipa.strip():
                    why = "read as several words"
                toks = split_tokens(ipa)
                if not why and not toks:
                    why = "no phonemes"
                if not why and any(t not in _TOKENS for t in toks):
                    why = "phoneme outside the inventory"
                if why:
                    left[why] += 1
                    examples.setdefault(why, [])
                    if len(examples[why]) < 5:
                        examples[why].append(f"{w} /{ipa.strip()}/")
                    continue
                rows.append((w, toks, split_for(w, freq_of[w]), kind, freq_of[w]))
            bar.update(len(chunk))
    counts = Counter(r[2] for r in rows)
    per_split = {s: counts.get(s, 0) for s in SPLITS}
    kinds = Counter(r[3] for r in rows)
    per_kind = {k: kinds.get(k, 0) for k in KINDS}
    out.mkdir(parents=True, exist_ok=True)
    info = {
        "words_file": str(words_file),
        "words_file_sha256": hashlib.sha256(Path(words_file).read_bytes()).hexdigest(),
        "names": names,
        "other_lines": other,
        "espeak_ng": version,
        "voice": voice,
        "split_rule": SPLIT_RULE,
        "frequent_rule": FREQUENT_RULE,
        "frequencies": freq_source,
        "moved_to_train": sum(r[2] != split_of(r[0]) for r in rows),
        "words": len(rows),
        "per_split": per_split,
        "per_kind": per_kind,
        "left_out": dict(left),
        "left_out_examples": examples,
        "tokens": list(TOKENS),
    }
    text = "".join(f"{w}\t{' '.join(t)}\t{s}\t{k}\t{f:.4g}\n" for w, t, s, k, f in rows)
    write_text_atomic(tsv, text)
    write_text_atomic(out / JSON, json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    frequent = sum(r[4] >= FREQUENT for r in rows)
    return BuildResult(out, len(rows), per_split, per_kind, dict(left), frequent)


Row = dict[str, Any]


class Lexicon:
    """A built lexicon, read and checked: ``rows`` of ``{"word", "tokens", "split", "kind",
    "freq", "source"}`` (``source`` is the word: splits are by word; ``kind`` is ``word`` or
    ``name``; ``freq`` uses per million, None in a lexicon written without them).

    Raises:
        LexiconError: a missing folder or file, a malformed line (its number is named), a
            phoneme outside the inventory, a word in the wrong split.
    """

    def __init__(self, root: str | Path, log: Callable[[str], None] | None = None) -> None:
        self.root = Path(root)
        self.log = log or (lambda s: None)
        tsv = self.root / TSV
        if not tsv.is_file():
            raise LexiconError(
                f"{self.root}: no {TSV} (build one with: rtaudio data lexicon --out {self.root})"
            )
        raw = tsv.read_bytes()
        self.manifest_sha256 = hashlib.sha256(raw).hexdigest()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise LexiconError(f"{tsv}: not UTF-8 text") from None
        self.rows: list[Row] = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            self.rows.append(self._row(tsv, n, line))
        if not self.rows:
            raise LexiconError(f"{tsv}: no words in it")
        info = self.root / JSON
        try:
            self.info: dict[str, Any] = json.loads(info.read_text()) if info.is_file() else {}
        except (OSError, ValueError) as e:
            raise LexiconError(f"{info}: unreadable ({e})") from None

    @staticmethod
    def _row(tsv: Path, n: int, line: str) -> Row:
        parts = line.split("\t")
        if len(parts) not in (3, 4, 5):
            raise LexiconError(
                f"{tsv} line {n}: expected word, phonemes, split, kind and frequency "
                "(tab-separated)"
            )
        word, phon, split = parts[:3]
        kind = parts[3] if len(parts) >= 4 else "word"
        freq: float | None = None
        if len(parts) == 5:
            try:
                freq = float(parts[4])
            except ValueError:
                freq = -1.0
            if not freq >= 0.0 or freq == float("inf"):
                raise LexiconError(
                    f"{tsv} line {n}: frequency {parts[4]!r} is not a number of uses per million"
                )
        if kind not in KINDS:
            raise LexiconError(f"{tsv} line {n}: kind {kind!r} is not one of {', '.join(KINDS)}")
        try:
            w = normalise(word)
        except G2PError as e:
            raise LexiconError(f"{tsv} line {n}: {e}") from None
        toks = phon.split()
        if not toks:
            raise LexiconError(f"{tsv} line {n}: {word!r} has no phonemes")
        bad = [t for t in toks if t not in _TOKENS]
        if bad:
            raise LexiconError(f"{tsv} line {n}: phoneme {bad[0]!r} is not in the inventory")
        if split != split_for(w, freq):
            raise LexiconError(
                f"{tsv} line {n}: {word!r} is in {split!r}, but the split rule puts it in "
                f"{split_for(w, freq)!r} (held-out words must stay held out)"
            )
        return {"word": w, "tokens": toks, "split": split, "kind": kind, "freq": freq, "source": w}

    def select(self, split: str | None = None, kinds: Iterable[str] = ()) -> list[Row]:
        """Rows of a split (all with None), of the given kinds (``word`` / ``name``; all when
        empty)."""
        keep = set(kinds)
        return [
            r
            for r in self.rows
            if (split is None or r["split"] == split) and (not keep or r["kind"] in keep)
        ]

    def summary(self, rows: Iterable[Row]) -> dict[str, Any]:
        rows = list(rows)
        per = Counter(r["split"] for r in rows)
        kinds = Counter(r["kind"] for r in rows)
        i = self.info
        return {
            "corpus": str(self.root),
            "manifest_sha256": self.manifest_sha256,
            "lexicon": {
                "words": {s: per.get(s, 0) for s in SPLITS},
                "kinds": {k: kinds.get(k, 0) for k in KINDS},
                "words_file": i.get("words_file"),
                "words_file_sha256": i.get("words_file_sha256"),
                "espeak_ng": i.get("espeak_ng"),
                "voice": i.get("voice"),
                "split_rule": SPLIT_RULE,
                "frequent_rule": i.get("frequent_rule"),
                "frequencies": i.get("frequencies"),
                "left_out": i.get("left_out", {}),
            },
        }
