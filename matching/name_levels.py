"""Name comparison levels, computed for many pairs at once with rapidfuzz's C++ scorers.

The levels themselves are declared in `matching.comparisons.NAME_COMPARISON` (code, Chinese
label, term-frequency adjustment); this module decides which level a pair of names is at.
It works on each pair's name forms (`matching.names`: cleaned, simplified, pinyin):

- `exact`, `simplified`, `homophone` (same pinyin): equalities of the forms;
- `separator`: equal once the middle dot of a minority name is dropped (买买提·艾力/买买提艾力);
- then the Levenshtein distance of the simplified names without separators
  (`rapidfuzz.process.cpdist`, or `cdist` for the random pairs the model's u is counted on);
  for names one edit apart the edit itself (`Levenshtein.editops`) says what kind of slip it is:
  a character replaced by one read alike, counting every reading of either character
  (曾 céng/zēng, 单 dān/shàn, 解 jiě/xiè: the surname readings a clerk hears), is `homophone`;
  one replaced by a character of like shape (未/末, 己/已: `matching.shapes`) is `lookalike`;
  any other replaced character is `given_char` (a given-name character) or `one_char` (the
  surname's, with the rest the same); a given-name character missing or extra is
  `char_missing` (the surname's first character never: 欧阳娜娜/欧娜娜 is, 欧阳娜娜/阳娜娜 only
  when 欧阳 is a compound surname);
- `similar`: pinyin Jaro–Winkler ≥ `linkage.name_jaro_winkler` (rapidfuzz's `JaroWinkler`);
- `different`, and `null` when either name is blank.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import polars as pl
from pypinyin import Style, pinyin
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler, Levenshtein

from matching.names import MIDDLE_DOT
from matching.shapes import is_lookalike

# 复姓 still in use (《百家姓》 and the census's common ones): deleting their first character
# leaves a name a clerk may still type.
COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 轩辕 令狐 端木 独孤 南宫 "
    "西门 百里 呼延 万俟 澹台 公冶 太史 申屠 闻人 赫连 钟离 宗政 濮阳 淳于 单于 仲孙 拓跋 司空".split())

FORM_COLUMNS = ("clean", "simplified", "pinyin")


def _dotless(text: str) -> str:
    return text.replace(MIDDLE_DOT, "")


@lru_cache(maxsize=50_000)
def readings(char: str) -> frozenset[str]:
    """Every toneless reading pypinyin knows for one character (heteronyms included)."""
    return frozenset(pinyin(char, style=Style.NORMAL, heteronym=True, errors="default")[0])


def read_alike(a: str, b: str) -> bool:
    return bool(readings(a) & readings(b))


def one_edit_level(a: str, b: str) -> str:
    """The level of two simplified names without separators that are exactly one edit apart."""
    op = Levenshtein.editops(a, b)[0]
    tag, src_pos, dest_pos = str(op.tag), int(op.src_pos), int(op.dest_pos)  # type: ignore[union-attr]
    if tag == "replace":
        x, y = a[src_pos], b[dest_pos]
        if read_alike(x, y):
            return "homophone"
        if len(a) >= 2 and is_lookalike(x, y):  # a look-alike stands for one character of a longer name
            return "lookalike"
        if len(a) < 2:
            return "different"
        return "given_char" if src_pos > 0 else "one_char"
    shorter, longer, pos = (a, b, dest_pos) if tag == "insert" else (b, a, src_pos)
    if len(shorter) < 2:
        return "different"
    if pos > 0 or longer[:2] in COMPOUND_SURNAMES:
        return "char_missing"
    return "different"


def levels(l_forms: dict[str, Sequence[str]], r_forms: dict[str, Sequence[str]], jw_threshold: float) -> list[str]:
    """The name level of each pair (l_forms[...][i], r_forms[...][i]); each dict maps
    `FORM_COLUMNS` to equally long sequences (None or '' for a blank name)."""
    lc, rc = ([x or "" for x in f["clean"]] for f in (l_forms, r_forms))
    ls, rs = ([x or "" for x in f["simplified"]] for f in (l_forms, r_forms))
    lp, rp = ([x or "" for x in f["pinyin"]] for f in (l_forms, r_forms))
    n = len(lc)
    if n == 0:
        return []
    ld, rd = [_dotless(x) for x in ls], [_dotless(x) for x in rs]
    dist = process.cpdist(ld, rd, scorer=Levenshtein.distance, workers=1)
    jw = process.cpdist(lp, rp, scorer=JaroWinkler.normalized_similarity, dtype=np.float64, workers=1)
    out: list[str] = []
    for i in range(n):
        out.append(_level(lc[i], rc[i], ls[i], rs[i], lp[i], rp[i], ld[i], rd[i], int(dist[i]), float(jw[i]),
                          jw_threshold))
    return out


def _level(lc: str, rc: str, ls: str, rs: str, lp: str, rp: str, ld: str, rd: str, dist: int, jw: float,
           jw_threshold: float) -> str:
    if not lc or not rc:
        return "null"
    if lc == rc:
        return "exact"
    if ls == rs:
        return "simplified"
    if lp == rp:
        return "homophone"
    if ld == rd:
        return "separator"
    if dist == 1:
        level = one_edit_level(ld, rd)
        if level != "different":
            return level
    return "similar" if jw >= jw_threshold else "different"


def level_frame(pairs: pl.DataFrame, jw_threshold: float) -> pl.DataFrame:
    """`pairs` with columns l_<form> and r_<form> for each form: the same frame plus `name_level`."""
    got = levels({f: pairs[f"l_{f}"].to_list() for f in FORM_COLUMNS},
                 {f: pairs[f"r_{f}"].to_list() for f in FORM_COLUMNS}, jw_threshold)
    return pairs.with_columns(pl.Series("name_level", got, dtype=pl.Utf8))


def cross_level_counts(left: pl.DataFrame, right: pl.DataFrame, jw_threshold: float) -> dict[str, float]:
    """Name level counts over every (left row, right row) pair, each side a frame of the name
    forms with a count `n` per distinct name (the random pairs the u-probabilities come from).

    The distance and Jaro–Winkler matrices come from `process.cdist`; only pairs one edit apart
    are looked at one by one."""
    if left.is_empty() or right.is_empty():
        return {}
    ls, rs = left["simplified"].fill_null("").to_list(), right["simplified"].fill_null("").to_list()
    ld, rd = [_dotless(x) for x in ls], [_dotless(x) for x in rs]
    lp, rp = left["pinyin"].fill_null("").to_list(), right["pinyin"].fill_null("").to_list()
    lc, rc = left["clean"].fill_null("").to_list(), right["clean"].fill_null("").to_list()
    dist = process.cdist(ld, rd, scorer=Levenshtein.distance, dtype=np.int32, workers=1)
    jw = process.cdist(lp, rp, scorer=JaroWinkler.normalized_similarity, dtype=np.float64, workers=1)
    weight = np.outer(left["n"].to_numpy().astype(np.float64), right["n"].to_numpy().astype(np.float64))

    def equal(a: list[str], b: list[str]) -> np.ndarray:
        """a[i] == b[j] for every (i, j), on integer codes of the strings (no Python per pair)."""
        codes: dict[str, int] = {}
        ca = np.array([codes.setdefault(x, len(codes)) for x in a], dtype=np.int64)
        cb = np.array([codes.setdefault(x, len(codes)) for x in b], dtype=np.int64)
        return ca[:, None] == cb[None, :]

    blank = np.array([x == "" for x in lc])[:, None] | np.array([x == "" for x in rc])[None, :]
    exact = ~blank & equal(lc, rc)
    simp = ~blank & ~exact & equal(ls, rs)
    homo = ~blank & ~exact & ~simp & equal(lp, rp)
    sep = ~blank & ~exact & ~simp & ~homo & equal(ld, rd)
    settled = blank | exact | simp | homo | sep
    counts = {"null": float(weight[blank].sum()), "exact": float(weight[exact].sum()),
              "simplified": float(weight[simp].sum()), "homophone": float(weight[homo].sum()),
              "separator": float(weight[sep].sum())}
    fallback = np.where(jw >= jw_threshold, 1, 0)  # 1: similar, 0: different
    one = ~settled & (dist == 1)
    for i, j in zip(*np.nonzero(one), strict=True):
        level = one_edit_level(ld[i], rd[j])
        if level == "different":
            continue
        counts[level] = counts.get(level, 0.0) + float(weight[i, j])
        fallback[i, j] = -1
    rest = ~settled
    counts["similar"] = float(weight[rest & (fallback == 1)].sum())
    counts["different"] = float(weight[rest & (fallback == 0)].sum())
    return {k: v for k, v in counts.items() if v}
