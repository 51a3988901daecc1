"""Licences of Debian package files, read from ``/usr/share/doc/PKG/copyright``."""

from __future__ import annotations

import fnmatch
import functools
import re
from pathlib import Path

DOC = Path("/usr/share/doc")

_KNOWN = (
    (r"CC[- ]?0|Creative Commons Zero|public domain dedication", "CC0-1.0"),
    (r"Attribution[- ]ShareAlike 4\.0|CC-BY-SA-4\.0", "CC-BY-SA-4.0"),
    (r"Attribution[- ]Share ?Alike 3\.0|CC-BY-SA-3\.0|CC-SA-BY-3\.0", "CC-BY-SA-3.0"),
    (r"Attribution 4\.0|CC-BY-4\.0", "CC-BY-4.0"),
    (r"Attribution 3\.0|CC-BY-3\.0", "CC-BY-3.0"),
    (r"GNU General Public License.{0,80}version 3|GPL-3", "GPL-3+"),
    (r"GNU General Public License|GPL-2", "GPL-2+"),
    (r"GNU Free Documentation License|GFDL", "GFDL"),
    (r"MIT License|\(MIT[,)]|Permission is hereby granted, free of charge", "MIT"),
    (r"Redistribution and use.{0,40}with or without modification", "BSD-style"),
)


# packages whose copyright file names the code's licences first, while the recordings are
# licensed apart (read from the package's own credits)
_CONTENT = {
    # ISC engine, MIT / zlib bundled code; sound effects and music: CC-BY-3.0 unless stated
    # otherwise, by the authors.txt inside Sound.ocg and Music.ocg
    "openclonk-data": "CC-BY-3.0 (authors.txt of the game's Sound.ocg / Music.ocg)",
}


@functools.lru_cache(maxsize=256)
def _stanzas(text: str) -> list[dict[str, str]]:
    out = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            m = re.match(r"^([A-Za-z-]+):\s*(.*)$", line)
            if m:
                key = m.group(1).lower()
                fields[key] = m.group(2).strip()
            elif key and line.startswith((" ", "\t")):
                fields[key] += " " + line.strip()
        if fields:
            out.append(fields)
    return out


@functools.lru_cache(maxsize=256)
def _copyright(package: str) -> str:
    f = DOC / package / "copyright"
    try:
        return f.read_text(encoding="utf-8", errors="ignore")
    except OSError:
        return ""


def _guess(text: str) -> str:
    """The licence named first in a free-form copyright file (upstream comes first)."""
    flat = re.sub(r"\s+", " ", text)
    best = (len(flat) + 1, "")
    for pat, name in _KNOWN:
        m = re.search(pat, flat, re.IGNORECASE)
        if m and m.start() < best[0]:
            best = (m.start(), name)
    if not best[1] and re.search("public domain", flat, re.IGNORECASE):
        return "public-domain"
    return best[1]


@functools.lru_cache(maxsize=65536)
def file_license(package: str, path: str = "") -> str:
    """Licence of ``path`` (an installed file) in ``package``.

    For machine-readable (DEP-5) copyright files the last ``Files:`` stanza whose pattern
    matches the end of ``path`` wins (``debian/*`` excluded), else the ``Files: *`` stanza.
    Free-form copyright files are scanned for well-known licence names. The answer always ends
    with where it came from when it is a guess.
    """
    if package in _CONTENT:
        return _CONTENT[package]
    text = _copyright(package)
    if not text:
        return "unknown (no copyright file)"
    if text.lstrip().startswith("Format:"):
        best, best_score = "", -1
        star = ""
        for st in _stanzas(text):
            if "files" not in st or "license" not in st:
                continue
            lic = st["license"].split(" ")[0]
            for pat in st["files"].split():
                if pat.startswith("debian/"):
                    continue
                if pat == "*":
                    star = star or lic
                    continue
                # source-tree patterns vs installed paths: try the pattern and its tail; the
                # most specific match (longest literal part) wins, later stanzas on ties
                tail = pat.split("/", 1)[-1]
                for cand in (pat, tail) if "/" in tail else (pat,):
                    if path and fnmatch.fnmatch(path, "*/" + cand):
                        score = len(cand.replace("*", "").replace("?", ""))
                        if score >= best_score:
                            best, best_score = lic, score
        if best or star:
            return best or star
    g = _guess(text)
    return f"{g} (see {DOC / package / 'copyright'})" if g else f"see {DOC / package / 'copyright'}"
