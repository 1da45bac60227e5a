"""Chinese personal names: fold the ways different clerks type the same name.

- `clean`: NFKC (full-width letters and digits to half-width), no spaces, every
  middle-dot variant of a minority name (· • ・ . ‧ ･ ‧ ∙ ⋅ ·) to one '·'.
- `simplified`: traditional characters to simplified (陳 -> 陈) with OpenCC's t2s table.
- `pinyin`: toneless pinyin syllables joined by spaces, so that homophones
  (张/章, 王/汪 are not homophones of each other but 章/张 are) compare equal.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from opencc import OpenCC
from pypinyin import Style, lazy_pinyin

MIDDLE_DOT = "·"
_DOTS = re.compile(r"[\u00B7\u2022\u30FB\uFF65\u2027\u2219\u22C5\u0387\u16EB\u2E31\u00B7.．。・•]+")
_SPACES = re.compile(r"\s+")
_T2S = OpenCC("t2s")


def clean(raw: object) -> str:
    """The name as typed, with spacing, width and dot variants folded."""
    if raw is None:
        return ""
    text = unicodedata.normalize("NFKC", str(raw))
    text = _SPACES.sub("", text)
    text = _DOTS.sub(MIDDLE_DOT, text).strip(MIDDLE_DOT)
    return text


@lru_cache(maxsize=200_000)
def simplified(name: str) -> str:
    """The cleaned name in simplified characters."""
    return _T2S.convert(clean(name))


@lru_cache(maxsize=200_000)
def pinyin(name: str) -> str:
    """Toneless pinyin of the simplified name, syllables separated by spaces ('张伟' -> 'zhang wei')."""
    simp = simplified(name)
    return " ".join(lazy_pinyin(simp, style=Style.NORMAL, errors="default")).lower()


def surname_pinyin(name: str) -> str:
    """Pinyin of the first character (the surname for Han names); used as a blocking key."""
    simp = simplified(name)
    return _char_pinyin(simp[:1]) if simp else ""


@lru_cache(maxsize=20_000)
def _char_pinyin(char: str) -> str:
    """One character's toneless pinyin, read on its own (a city's names share a few hundred surnames)."""
    return lazy_pinyin(char, style=Style.NORMAL)[0].lower()
