"""Comparison levels: how a pair of person rows agrees, one declared object per level.

As in Splink, each comparison is an ordered list of levels; the first level whose
SQL condition holds is the pair's level. Each level has a Chinese label for the
evidence sentence. In the SQL, `l` is the roster-side row and `r` the registry
row; both have the columns of `stg_members`/`stg_registry` (name_clean,
name_simplified, name_pinyin, id_number, id_status, id_was_15, birth_date, sex)
and the pair CTE adds `id_diff` (positions where the two IDs differ).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Level:
    code: str  # stable identifier, stored in link tables
    label: str  # Chinese label for evidence; may use {l_name} {r_name} {pos} placeholders
    condition: str  # SQL boolean over l, r and id_diff
    is_null: bool = False  # no evidence either way: weight 0
    tf_adjusted: bool = False  # the u-probability is the value's frequency (common names are weak)

    def case_sql(self) -> str:
        return f"WHEN {self.condition} THEN '{self.code}'"


@dataclass(frozen=True)
class Comparison:
    name: str
    levels: tuple[Level, ...]

    def level_sql(self) -> str:
        whens = "\n            ".join(level.case_sql() for level in self.levels[:-1])
        return f"CASE {whens}\n            ELSE '{self.levels[-1].code}' END"

    def level(self, code: str) -> Level:
        for level in self.levels:
            if level.code == code:
                return level
        raise KeyError(code)


# GB 11643: an 18-character ID is area (positions 1–6), birth date (7–14), sequence (15–17,
# the 17th odd for men) and a check character (18) computed from the other 17. A 15-digit ID
# (before 1999) is area, a two-digit year, month, day and sequence, with no check character:
# converted to 18, it gets a check character computed afresh, so its validity proves nothing.
# `id_diff` (ID_DIFF_SQL) lists the positions where the two 18-character forms differ; for a
# converted 15-digit ID only positions 1–17 (its check character was never typed).
_SWAP = ("len(id_diff) = 2 AND id_diff[2] = id_diff[1] + 1 "
         "AND substr(r.id_number, id_diff[1], 1) = substr(l.id_number, id_diff[2], 1) "
         "AND substr(r.id_number, id_diff[2], 1) = substr(l.id_number, id_diff[1], 1)")
_ONE_SLIP = f"(len(id_diff) = 1 OR ({_SWAP}))"
# typed as 18 characters and failing its check: only such an ID can be a keying error
_FAILING_18 = "r.id_status IN ('bad_check', 'bad_date') AND NOT r.id_was_15"
_AREA_AND_SEQUENCE = ("len([p FOR p IN id_diff IF p <= 6]) > 0 "
                      "AND len([p FOR p IN id_diff IF p BETWEEN 15 AND 17]) > 0")

ID_COMPARISON = Comparison("id", (
    # No usable ID on one side; or both sides fail their check (neither can vouch for the other).
    Level("null", "登记身份证号缺失或无法识别",
          "r.id_number = '' OR r.id_status = 'bad_format' OR l.id_status IN ('blank', 'bad_format') "
          "OR (l.id_status <> 'valid' AND (r.id_status <> 'valid' OR r.id_was_15))", is_null=True),
    Level("exact", "身份证号一致", "l.id_status = 'valid' AND r.id_number = l.id_number AND NOT r.id_was_15"),
    Level("exact_15", "15位旧身份证号升位后一致", "l.id_status = 'valid' AND r.id_number = l.id_number AND r.id_was_15"),
    # The roster's own ID fails its check and the registry's valid ID is one slip away from it.
    Level("roster_typo", "低保名册身份证号第{pos}位与登记不同（名册号码校验位不符，疑似名册录入错误）",
          f"l.id_status <> 'valid' AND {_ONE_SLIP}"),
    Level("one_substitution", "身份证号第{pos}位不同（校验位不符，疑似录入错误）",
          f"{_FAILING_18} AND len(id_diff) = 1"),
    Level("transposition", "身份证号第{pos}位前后颠倒（校验位不符，疑似录入错误）", f"{_FAILING_18} AND {_SWAP}"),
    Level("id15_typo", "15位旧身份证号升位后第{pos}位不同（15位号码无校验位，疑似录入错误）",
          f"r.id_was_15 AND {_ONE_SLIP}"),
    # Two slips in one number; never one in the area code and one in the sequence: that is
    # how a namesake born the same day in another county differs (赵涛, 2026-11).
    Level("two_substitutions", "身份证号第{pos}位不同（校验位不符，疑似两处录入错误）",
          f"{_FAILING_18} AND len(id_diff) = 2 AND NOT ({_AREA_AND_SEQUENCE})"),
    # A valid 18-character ID that differs is another person's real number (the check
    # character catches every single substitution and adjacent swap); more than two slips,
    # or the area code and the sequence both, are another person's number mistyped.
    Level("different", "身份证号不同", "TRUE"),
))

# ID levels that stand for a keying error in one of the two numbers: the only ones besides
# equal IDs from which a pair may be `probable`.
TYPO_ID_LEVELS = ("roster_typo", "one_substitution", "transposition", "id15_typo", "two_substitutions")

# Levels computed in Python (`matching.name_levels`, rapidfuzz); the condition column is unused.
NAME_COMPARISON = Comparison("name", (
    Level("null", "登记姓名空白", "", is_null=True),
    Level("exact", "姓名一致", "", tf_adjusted=True),
    Level("simplified", "姓名繁简转换后一致（{r_name}/{l_name}）", "", tf_adjusted=True),
    Level("homophone", "姓名同音（{r_name}/{l_name}）", "", tf_adjusted=True),
    Level("separator", "姓名仅分隔符不同（{r_name}/{l_name}）", "", tf_adjusted=True),
    Level("lookalike", "姓名形近字（{r_name}/{l_name}）", ""),
    Level("char_missing", "姓名多一字或少一字（{r_name}/{l_name}）", ""),
    Level("given_char", "姓名名字一字之差（{r_name}/{l_name}）", ""),
    Level("one_char", "姓名姓氏不同、名字相同（{r_name}/{l_name}）", ""),
    Level("similar", "姓名拼音相近（{r_name}/{l_name}）", ""),
    Level("different", "姓名不同（{r_name}/{l_name}）", ""),
))

# Name levels under which an ID is "the same person": the name as typed, or changed by a slip
# clerks are known to make (traditional form, a character heard or seen alike, a dropped
# separator or given-name character).
CONSISTENT_NAME_LEVELS = ("exact", "simplified", "homophone", "separator", "lookalike", "char_missing")
# Beside an equal ID, a name one character off is left to the match probability: it is a slip
# the shape data does not know (it finds about half of the look-alikes; 赵/起, 陈/阵, 杨/汤 it
# misses) far more often than another person's record under the member's ID. A name merely
# similar in pinyin (陈丽/程辉 score 0.905), or unrelated, is not the member's.
NEAR_NAME_LEVELS = ("given_char", "one_char")

MATCH_PROBABILITY_LABEL = "匹配概率"  # ends every link's evidence; the worklists look for it

# Positions are compared only where a keying error is possible: a registry ID that fails its
# check or was typed with 15 digits, or a roster ID that fails its own.
ID_DIFF_SQL = ("CASE WHEN length(r.id_number) = 18 AND length(l.id_number) = 18 AND r.id_number <> l.id_number "
               "AND (r.id_status <> 'valid' OR r.id_was_15 OR l.id_status <> 'valid') THEN "
               "[p FOR p IN range(1, CASE WHEN r.id_was_15 THEN 18 ELSE 19 END) "
               "IF substr(r.id_number, p, 1) <> substr(l.id_number, p, 1)] "
               "ELSE [] END")
