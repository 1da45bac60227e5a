"""Blocking rules: which (roster-side, registry-side) pairs are compared at all.

Each rule is declared once with its name, a Chinese label and the SQL that lists
its pairs from the left view `L` and right view `R` (both with a `key` column and
the staged person columns). Rules never produce a quadratic blow-up: each joins
on an equality of a selective key.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BlockingRule:
    name: str
    label: str
    sql: str  # SELECT l.key AS l_key, r.key AS r_key ...

    def pairs_sql(self) -> str:
        return self.sql


def id_variants_sql(table: str, source: str) -> str:
    """`table` (key, variant): every ID one substitution or one adjacent swap away from the
    IDs of `source` (a query with `key` and `id_number`). Both edits are symmetric, so the
    neighbourhood can be built on either side of a job: on the left's valid IDs
    (`link_id_variants`, built once for the members and reused for every registry) or on the
    right's IDs that fail their check (`link_id_variants_r`, when the right side is the small
    one: the staff list against household registration)."""
    return f"""
CREATE OR REPLACE TEMP TABLE {table} AS
SELECT key, substr(id_number, 1, p - 1) || c || substr(id_number, p + 1) AS variant
FROM ({source}) s,
     range(1, 19) t(p),
     (SELECT unnest(['0','1','2','3','4','5','6','7','8','9','X']) AS c) d
WHERE c <> substr(id_number, p, 1) AND (c <> 'X' OR p = 18)
UNION ALL
SELECT key, substr(id_number, 1, p - 1) || substr(id_number, p + 1, 1) || substr(id_number, p, 1)
            || substr(id_number, p + 2) AS variant
FROM ({source}) s, range(1, 18) t(p)
WHERE substr(id_number, p, 1) <> substr(id_number, p + 1, 1)
"""


LEFT_VALID_IDS = "SELECT key, id_number FROM L WHERE id_status = 'valid'"
RIGHT_FAILING_IDS = "SELECT key, id_number FROM R WHERE id_status IN ('bad_check', 'bad_date')"

BLOCKING_RULES: tuple[BlockingRule, ...] = (
    BlockingRule(
        "id_exact", "身份证号相同（含15位升18位）",
        "SELECT l.key AS l_key, r.key AS r_key FROM L l JOIN R r ON r.id_number = l.id_number "
        "WHERE l.id_status = 'valid'"),
    BlockingRule(
        "id_one_edit", "身份证号相差一位或相邻两位颠倒",
        f"SELECT v.key AS l_key, r.key AS r_key FROM link_id_variants v JOIN ({RIGHT_FAILING_IDS}) r "
        "ON r.id_number = v.variant "
        f"UNION ALL SELECT l.key AS l_key, v.key AS r_key FROM link_id_variants_r v JOIN ({LEFT_VALID_IDS}) l "
        "ON l.id_number = v.variant"),
    BlockingRule(
        "birth_sex_surname", "身份证号出生日期、性别相同且姓氏同音",
        "SELECT l.key AS l_key, r.key AS r_key FROM L l JOIN R r "
        "ON r.birth_date = l.birth_date AND r.sex = l.sex AND r.surname_pinyin = l.surname_pinyin "
        "WHERE l.id_status = 'valid' AND r.id_status = 'bad_check'"),
    # Only names in `link_name_open` (built by `matching.linkage`): with no ID the name is
    # the only evidence, and a name shared by too many people cannot reach `possible`.
    BlockingRule(
        "name_pinyin_no_id", "登记无可用身份证号时姓名拼音相同",
        "SELECT l.key AS l_key, r.key AS r_key FROM L l JOIN R r ON r.name_pinyin = l.name_pinyin "
        "WHERE r.id_status IN ('blank', 'bad_format') "
        "AND r.name_pinyin IN (SELECT name_pinyin FROM link_name_open)"),
    # A member whose own ID fails its check (X03) still has a birth date: compare it with
    # registry rows of the same name pinyin born that day (never a finding, see linkage).
    BlockingRule(
        "invalid_member_id", "低保成员身份证号无效时姓名拼音及出生日期相同",
        "SELECT l.key AS l_key, r.key AS r_key FROM L l JOIN R r "
        "ON r.name_pinyin = l.name_pinyin AND r.birth_date = l.birth_date "
        "WHERE l.id_status = 'bad_check'"),
)


def blocked_sql(rules: tuple[BlockingRule, ...] = BLOCKING_RULES) -> str:
    """Every pair each rule finds (a pair found by two rules appears twice): `link_blocked`."""
    return " UNION ALL ".join(
        f"SELECT l_key, r_key, {i} AS rule_order, '{rule.name}' AS block_rule FROM ({rule.pairs_sql()})"
        for i, rule in enumerate(rules))


def candidates_sql() -> str:
    """The distinct candidate pairs of `link_blocked`, each labelled with the first rule that found it."""
    return """
SELECT l_key, r_key, arg_min(block_rule, rule_order) AS block_rule
FROM link_blocked
GROUP BY l_key, r_key"""
