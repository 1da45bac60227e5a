"""The linkage's safety rules: the few limits a match probability may never overrule.

A pair's class follows from its probability (`linkage.probable_threshold`,
`linkage.possible_threshold`) and these rules, each declared once with the structure of the
resident ID (GB 11643) or the real case that makes it necessary. `docs/design.md` tells each
case; `tests/test_linkage_safety.py` has a literal pair for each rule. A rule caps a pair at
`possible` (a caseworker confirms it) or removes it (no link at all).

`exact` is not a score: it is an equal ID (a 15-digit one converted) and a name consistent
with it (`CONSISTENT_NAME_LEVELS`).
"""

from __future__ import annotations

from dataclasses import dataclass

from matching.comparisons import CONSISTENT_NAME_LEVELS, NEAR_NAME_LEVELS, TYPO_ID_LEVELS


def _in(levels: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{code}'" for code in levels) + ")"


EQUAL_ID = "id_level IN ('exact', 'exact_15')"
CONSISTENT_NAME = f"name_level IN {_in(CONSISTENT_NAME_LEVELS)}"


@dataclass(frozen=True)
class SafetyRule:
    code: str
    title: str  # Chinese, as a caseworker or an auditor reads it
    reason: str  # why: the ID's structure or the case behind it
    when: str  # SQL over a scored pair (id_level, name_level, r_id_status, r_id_was_15)
    at_most: str | None  # 'possible', or None: no link


SAFETY_RULES: tuple[SafetyRule, ...] = (
    SafetyRule(
        "S1", "有效身份证号不同即为他人",
        "GB 11643's check character catches every single substitution and every adjacent swap: an "
        "18-character ID that passes its check and differs from the member's is another person's real "
        "number, however alike the names (two 张伟 in one district with neighbouring sequence numbers). "
        "A 15-digit ID has no check character, so this never applies to one.",
        "id_level = 'different' AND r_id_status = 'valid' AND NOT r_id_was_15", None),
    SafetyRule(
        "S2", "身份证号相同但姓名不符的，只列待人工确认",
        "An ID is copied onto another person's record (the generator's oldest decoy: a member's ID "
        "under a name sharing no character with hers): an equal ID under a name that is neither the "
        "member's, nor a known slip of it, nor one character off, is a caseworker's question, not a "
        "finding. One character off is left to the probability: it is far more often a look-alike "
        "the shape data does not know (赵/起, 陈/阵) than another person.",
        f"{EQUAL_ID} AND NOT {CONSISTENT_NAME} AND name_level NOT IN {_in(NEAR_NAME_LEVELS)}", "possible"),
    SafetyRule(
        "S3", "无可用身份证号的，只列待人工确认",
        "A name alone cannot tell namesakes apart (a city has hundreds of 王秀英), nor can a roster ID "
        "that fails its own check vouch for a registry ID that fails its check too.",
        "id_level = 'null'", "possible"),
    SafetyRule(
        "S4", "身份证号差异不像录入错误的，只列待人工确认",
        "Keying errors change one character, swap two neighbours, or at most change two; an ID that "
        "differs in more places, or in both the area code and the sequence, is another person's: the "
        "death record of another 赵涛 born the same day in another county, his ID mistyped, matched a "
        "living member at 0.998 before this rule (2026-11).",
        f"NOT {EQUAL_ID} AND id_level NOT IN {_in(TYPO_ID_LEVELS)}", "possible"),
    SafetyRule(
        "S5", "身份证号疑似录入错误且姓名不符的，只列待人工确认",
        "An ID one slip away and a name off by an unrelated character are two independent errors, or "
        "another person: a finding needs one of the two to agree.",
        f"NOT {EQUAL_ID} AND NOT {CONSISTENT_NAME}", "possible"),
)
# S6, one record one person, works across pairs: `matching.linkage.best_sql`.


def class_sql() -> str:
    """The match class of a scored pair (`probability` computed, $probable and $possible bound)."""
    removed = " OR ".join(f"({r.when})" for r in SAFETY_RULES if r.at_most is None)
    capped = " OR ".join(f"({r.when})" for r in SAFETY_RULES if r.at_most == "possible")
    return f"""CASE
        WHEN {EQUAL_ID} AND {CONSISTENT_NAME} THEN 'exact'
        WHEN {removed} THEN NULL
        WHEN probability >= $probable AND NOT ({capped}) THEN 'probable'
        WHEN probability >= $possible THEN 'possible'
    END"""


def fired_sql() -> str:
    """The codes of the safety rules that hold for a scored pair, as a list (stored for audit)."""
    items = ", ".join(f"CASE WHEN {r.when} THEN '{r.code}' END" for r in SAFETY_RULES)
    return f"list_filter([{items}], x -> x IS NOT NULL)"
