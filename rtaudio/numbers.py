"""Numbers written in digits, as the English words a reader says (American usage, no "and").

:func:`spell` turns one token of running text into words: cardinals ("21" -> twenty one,
"1,000" -> one thousand; 1900-1999 without a comma as eSpeak NG reads them, 1950 -> nineteen
hundred fifty), ordinals ("3rd" -> third, "21st" -> twenty first), decimals ("3.14" ->
three point one four) and digit strings with a leading zero ("007" -> zero zero seven). A token
that is not such a number gives ``None``; :func:`rtaudio.g2p.words_of` uses it so that
``rtaudio g2p`` reads the numbers of a text instead of refusing them.
"""

from __future__ import annotations

import re

ONES = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
)  # fmt: skip
TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (10**3, "thousand"))
LARGEST = 10**15 - 1  # "nine hundred ninety nine trillion ..."; longer numbers are refused
_ORDINAL = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
    "nine": "ninth", "twelve": "twelfth",
}  # fmt: skip
_NUMBER = re.compile(r"^(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+)|(st|nd|rd|th))?$", re.IGNORECASE)


class NumberError(ValueError):
    """A number too long to read."""


def cardinal(n: int) -> list[str]:
    """The words of ``0 <= n <= LARGEST`` (1234 -> one thousand two hundred thirty four)."""
    if not 0 <= n <= LARGEST:
        raise NumberError(f"{n}: numbers are read up to {LARGEST:,}")
    if n < 20:
        return [ONES[n]]
    if n < 100:
        return [TENS[n // 10]] + ([ONES[n % 10]] if n % 10 else [])
    if n < 1000:
        return [ONES[n // 100], "hundred"] + (cardinal(n % 100) if n % 100 else [])
    value, name = next((v, s) for v, s in SCALES if n >= v)
    return cardinal(n // value) + [name] + (cardinal(n % value) if n % value else [])


def ordinal(n: int) -> list[str]:
    """The words of the ``n``-th (21 -> twenty first, 100 -> one hundredth)."""
    return _nth(cardinal(n))


def _nth(words: list[str]) -> list[str]:
    *head, last = words
    if last in _ORDINAL:
        last = _ORDINAL[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return [*head, last]


def spell(token: str) -> list[str] | None:
    """The words of a number token, or ``None`` when ``token`` is not one (``NumberError``
    when it is too long to read)."""
    m = _NUMBER.match(token)
    if m is None:
        return None
    digits, decimals, suffix = m.group(1).replace(",", ""), m.group(2), m.group(3)
    if len(digits) > len(str(LARGEST)):
        raise NumberError(f"{token!r}: numbers are read up to {LARGEST:,}")
    n, plain = int(digits), "," not in m.group(1)
    if len(digits) > 1 and digits[0] == "0" and plain:  # 007, a code
        whole = [ONES[int(d)] for d in digits]
    elif plain and 1900 <= n <= 1999:  # as eSpeak NG reads them: 1950 -> nineteen hundred fifty
        whole = ["nineteen", "hundred", *(cardinal(n - 1900) if n > 1900 else [])]
    else:
        whole = cardinal(n)
    if suffix:
        return _nth(whole)
    return whole + (["point", *(ONES[int(d)] for d in decimals)] if decimals else [])
