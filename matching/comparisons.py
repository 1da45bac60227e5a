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


ID_COMPARISON = Comparison("id", (
    Level("null", "登记身份证号缺失或无法识别",
          "r.id_number = '' OR r.id_status = 'bad_format' OR l.id_status <> 'valid'", is_null=True),
    Level("exact", "身份证号一致", "r.id_number = l.id_number AND NOT r.id_was_15"),
    Level("exact_15", "15位旧身份证号升位后一致", "r.id_number = l.id_number AND r.id_was_15"),
    # A valid ID that differs is another person's real number: the check character
    # catches every single substitution and adjacent transposition.
    Level("one_substitution", "身份证号第{pos}位不同（校验位不符，疑似录入错误）",
          "r.id_status <> 'valid' AND len(id_diff) = 1"),
    Level("transposition", "身份证号第{pos}位前后颠倒（校验位不符，疑似录入错误）",
          "r.id_status <> 'valid' AND len(id_diff) = 2 AND id_diff[2] = id_diff[1] + 1 "
          "AND substr(r.id_number, id_diff[1], 1) = substr(l.id_number, id_diff[2], 1) "
          "AND substr(r.id_number, id_diff[2], 1) = substr(l.id_number, id_diff[1], 1)"),
    Level("same_birth_sex", "身份证号出生日期、性别一致，其余多位不同（校验位不符）",
          "r.id_status <> 'valid' AND r.birth_date = l.birth_date AND r.sex = l.sex"),
    Level("different", "身份证号不同", "TRUE"),
))

NAME_COMPARISON = Comparison("name", (
    Level("null", "登记姓名空白", "coalesce(r.name_clean, '') = '' OR coalesce(l.name_clean, '') = ''", is_null=True),
    Level("exact", "姓名一致", "r.name_clean = l.name_clean", tf_adjusted=True),
    Level("simplified", "姓名繁简转换后一致（{r_name}/{l_name}）", "r.name_simplified = l.name_simplified",
          tf_adjusted=True),
    Level("homophone", "姓名同音（{r_name}/{l_name}）", "r.name_pinyin = l.name_pinyin", tf_adjusted=True),
    Level("one_char", "姓名一字之差（{r_name}/{l_name}）",
          "length(r.name_simplified) = length(l.name_simplified) AND length(l.name_simplified) >= 2 "
          "AND hamming(r.name_simplified, l.name_simplified) = 1"),
    Level("similar", "姓名拼音相近（{r_name}/{l_name}）",
          "jaro_winkler_similarity(r.name_pinyin, l.name_pinyin) >= $name_jw"),
    Level("different", "姓名不同（{r_name}/{l_name}）", "TRUE"),
))

COMPARISONS: tuple[Comparison, ...] = (ID_COMPARISON, NAME_COMPARISON)

# Name levels under which an equal ID is "the same person" (match_class 'exact'). A name
# one character off, or merely similar in pinyin (陈丽/程辉 score 0.905), is not: for
# two-character names that is half the name, so such pairs go to a person ('possible').
CONSISTENT_NAME_LEVELS = ("exact", "simplified", "homophone")

MATCH_PROBABILITY_LABEL = "匹配概率"  # ends every link's evidence; the worklists look for it

# Only a registry ID that fails its check can be a typing error (every level that reads
# `id_diff` requires it), so the 18-position comparison is skipped for valid ones.
ID_DIFF_SQL = ("CASE WHEN r.id_status <> 'valid' AND length(r.id_number) = 18 AND length(l.id_number) = 18 THEN "
               "[p FOR p IN range(1, 19) IF substr(r.id_number, p, 1) <> substr(l.id_number, p, 1)] "
               "ELSE [] END")


def evidence_label(comparison: Comparison, code: str, *, l_name: str, r_name: str, id_diff: list[int]) -> str:
    """The Chinese phrase for one level of one pair."""
    pos = "、".join(str(p) for p in id_diff)
    return comparison.level(code).label.format(l_name=l_name, r_name=r_name, pos=pos)
