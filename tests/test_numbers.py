"""Numbers in digits spelled out as English words, for ``rtaudio g2p`` on running text."""

from __future__ import annotations

import shutil

import pytest

from rtaudio import g2p
from rtaudio.numbers import LARGEST, NumberError, cardinal, ordinal, spell


@pytest.mark.parametrize(
    ("token", "words"),
    [
        ("0", "zero"),
        ("7", "seven"),
        ("13", "thirteen"),
        ("20", "twenty"),
        ("21", "twenty one"),
        ("100", "one hundred"),
        ("101", "one hundred one"),
        ("999", "nine hundred ninety nine"),
        ("1000", "one thousand"),
        ("1,000", "one thousand"),
        ("1990", "nineteen hundred ninety"),  # 1900-1999 as eSpeak NG reads them
        ("1900", "nineteen hundred"),
        ("1900th", "nineteen hundredth"),
        ("1,990", "one thousand nine hundred ninety"),
        ("1899", "one thousand eight hundred ninety nine"),
        ("2024", "two thousand twenty four"),
        (
            "12,345,678",
            "twelve million three hundred forty five thousand six hundred seventy eight",
        ),
        ("2000000000", "two billion"),
        ("1000001", "one million one"),
        ("1st", "first"),
        ("2ND", "second"),
        ("3rd", "third"),
        ("4th", "fourth"),
        ("12th", "twelfth"),
        ("20th", "twentieth"),
        ("21st", "twenty first"),
        ("100th", "one hundredth"),
        ("3.14", "three point one four"),
        ("0.5", "zero point five"),
        ("007", "zero zero seven"),
    ],
)
def test_numbers_are_spelled_out(token: str, words: str) -> None:
    assert " ".join(spell(token) or []) == words


def test_what_is_not_a_number_or_too_long_is_said() -> None:
    for token in ("cat", "R2D2", "1,00", "12,3456", "3.", ".5", "1.2.3", "3x", "", "1990s"):
        assert spell(token) is None, token
    assert spell(str(LARGEST)) is not None
    with pytest.raises(NumberError, match="numbers are read up to 999,999,999,999,999"):
        spell(str(LARGEST + 1))
    with pytest.raises(NumberError):
        cardinal(-1)
    assert ordinal(8) == ["eighth"] and ordinal(40) == ["fortieth"] and ordinal(9) == ["ninth"]


def test_running_text_reads_its_numbers() -> None:
    text = "On the 21st, 3 of 1,000 cats (3.5%) ran; 12345678901234567 did not."
    assert g2p.words_of(text) == [
        "On", "the", "twenty", "first", "three", "of", "one", "thousand", "cats", "3.5%",
        "ran", "12345678901234567", "did", "not",
    ]  # fmt: skip
    for word, message in (
        ("12345678901234567", "numbers are read up to"),
        ("21", "a number"),
        ("3.5%", "'%', '.', '3', '5' are not"),
    ):
        with pytest.raises(g2p.G2PError, match=message):
            g2p.parse(word)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="no espeak-ng")
def test_the_shipped_model_reads_every_number_word_as_espeak_does() -> None:
    """The 62 words numbers are spelled with: all training words, all right."""
    from rtaudio.data.lexicon import espeak_ipa

    words = sorted({w for n in (*range(0, 101), 10**3, 10**6, 10**9, 10**12) for w in cardinal(n)})
    words += sorted({ordinal(n)[-1] for n in range(1, 101)} | {"hundredth", "point"})
    assert len(words) == 62  # 33 cardinal words, 28 ordinal ones, point
    reference = [g2p.split_tokens(x) for x in espeak_ipa(words)]
    read = g2p.G2P().transcribe(words)
    assert [w for w, r, t in zip(words, reference, read, strict=True) if r != t] == []
