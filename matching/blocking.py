"""Blocking rules: which (roster-side, registry-side) pairs are compared at all.

Each rule is declared once with its name, a Chinese label and the SQL that lists
its pairs from the left view `L` and right view `R` (both with a `key` column and
the staged person columns). Rules never produce a quadratic blow-up: each joins
on an equality of a selective key.
"""

from __future__ import annotations

from dataclasses import dataclass

from matching.sql_macros import ID_SHAPE


@dataclass(frozen=True)
class BlockingRule:
    name: str
    label: str
    sql: str  # SELECT l.key AS l_key, r.key AS r_key ...

    def pairs_sql(self) -> str:
        return self.sql


def _digits17_sql(id_number: str) -> str:
    return f"TRY_CAST(substr({id_number}, 1, 17) AS BIGINT)"


def _check_value_sql(id_number: str) -> str:
    """The check character as a number, X = 10."""
    return f"CASE substr({id_number}, 18, 1) WHEN 'X' THEN 10 ELSE TRY_CAST(substr({id_number}, 18, 1) AS BIGINT) END"


def _code_sql(digits17: str, check_value: str) -> str:
    return f"({digits17}) * 11 + ({check_value})"


def id_code_sql(id_number: str) -> str:
    """An 18-character ID (17 digits and a digit or X) as one BIGINT: the 17 digits × 11 + the
    check character (X = 10). Equal IDs have equal codes and different IDs different codes."""
    return f"({_code_sql(_digits17_sql(id_number), _check_value_sql(id_number))})"


def id_variants_sql(table: str, source: str) -> str:
    """`table` (key, variant): the code (`id_code_sql`) of every ID one substitution or one
    adjacent swap away from the IDs of `source` (a query with `key` and an 18-character
    `id_number`, 17 digits and a digit or X). Both edits are symmetric, so the neighbourhood
    can be built on either side of a job: on the left's valid IDs (`link_id_variants`, built
    once for the members and reused for every registry) or on the right's IDs that fail their
    check (`link_id_variants_r`, when the right side is the small one: the staff list against
    household registration).

    Computed on integer codes: the 150,000 members' 27 million neighbours took 2.3 s of a
    city run as strings. `tests/test_blocking.py` proves the codes are those of the strings
    the edits give, with X written only as the check character."""
    return f"""
CREATE OR REPLACE TEMP TABLE {table} AS
WITH s AS (SELECT key, {_digits17_sql('id_number')} AS n, {_check_value_sql('id_number')} AS ck
           FROM ({source}) WHERE regexp_full_match(id_number, {ID_SHAPE})),
     d AS (SELECT key, n, ck, p, (n // CAST(10 ** (17 - p) AS BIGINT)) % 10 AS digit,
                  CAST(10 ** (17 - p) AS BIGINT) AS w
           FROM s, range(1, 18) t(p))
-- one of the 17 digits replaced
SELECT key, {_code_sql('n + (c - digit) * w', 'ck')} AS variant
FROM d, range(0, 10) v(c) WHERE c <> digit
UNION ALL
-- the check character replaced (X only here)
SELECT key, {_code_sql('n', 'c')} AS variant FROM s, range(0, 11) v(c) WHERE c <> ck
UNION ALL
-- two adjacent digits swapped
SELECT key, {_code_sql('n + (nxt - digit) * w + (digit - nxt) * (w // 10)', 'ck')} AS variant
FROM (SELECT *, (n // greatest(w // 10, 1)) % 10 AS nxt FROM d) WHERE p < 17 AND nxt <> digit
UNION ALL
-- the 17th digit swapped with a check character that is a digit
SELECT key, {_code_sql('n - digit + ck', 'digit')} AS variant
FROM d WHERE p = 17 AND ck < 10 AND ck <> digit
"""


LEFT_VALID_IDS = "SELECT key, id_number FROM L WHERE id_status = 'valid'"
# IDs typed with 18 characters that fail their check: where a keying error shows
RIGHT_FAILING_IDS = "SELECT key, id_number FROM R WHERE id_status IN ('bad_check', 'bad_date') AND NOT id_was_15"
LEFT_FAILING_IDS = "SELECT key, id_number FROM L WHERE id_status IN ('bad_check', 'bad_date')"
# A 15-digit ID has no check character: its 18-character form's check was computed, so a slip
# in its digits leaves it "valid". It is joined on its 17 digits with every check character
# (`id_code_sql` × 11), so that a neighbour of the member's 17 digits meets it whatever the
# member's check character is.
RIGHT_15_CODES = (f"SELECT key, {_digits17_sql('id_number')} * 11 + c AS code FROM R, range(0, 11) t(c) "
                  f"WHERE id_was_15 AND regexp_full_match(id_number, {ID_SHAPE})")

BLOCKING_RULES: tuple[BlockingRule, ...] = (
    BlockingRule(
        "id_exact", "身份证号相同（含15位升18位）",
        "SELECT l.key AS l_key, r.key AS r_key FROM L l JOIN R r ON r.id_number = l.id_number "
        "WHERE l.id_status = 'valid'"),
    BlockingRule(
        "id_one_edit", "身份证号相差一位或相邻两位颠倒",
        f"SELECT v.key AS l_key, r.key AS r_key FROM link_id_variants v "
        f"JOIN (SELECT key, {id_code_sql('id_number')} AS code FROM ({RIGHT_FAILING_IDS}) "
        f"UNION ALL {RIGHT_15_CODES}) r ON r.code = v.variant "
        f"UNION ALL SELECT l.key AS l_key, v.key AS r_key FROM link_id_variants_r v "
        f"JOIN (SELECT key, {id_code_sql('id_number')} AS code FROM ({LEFT_VALID_IDS})) l ON l.code = v.variant"),
    # The roster's own ID fails its check: its neighbours (`link_id_variants_lf`, a few hundred
    # members) against the registry's valid IDs.
    BlockingRule(
        "roster_id_one_edit", "低保成员身份证号校验不符，与登记身份证号相差一位或相邻两位颠倒",
        f"SELECT v.key AS l_key, r.key AS r_key FROM link_id_variants_lf v "
        f"JOIN (SELECT key, {id_code_sql('id_number')} AS code FROM R "
        f"WHERE id_status = 'valid' AND NOT id_was_15) r ON r.code = v.variant"),
    BlockingRule(
        "birth_sex_surname", "身份证号出生日期、性别相同且姓氏同音",
        "SELECT l.key AS l_key, r.key AS r_key FROM L l JOIN R r "
        "ON r.birth_date = l.birth_date AND r.sex = l.sex AND r.surname_pinyin = l.surname_pinyin "
        "WHERE l.id_status = 'valid' AND r.id_status = 'bad_check'"),
    # Two slips in an ID that fails its check leave parts of it as typed (area 1–6, birth date
    # 7–14, sequence and check 15–18): in two parts when both fall in one part; the sequence
    # when they fall in the area and the birth date; the area and seven of the birth date's
    # eight digits when they fall in the birth date and the sequence. (One in the area and one
    # in the sequence is a namesake's pattern, never linked.) A key for each case, with the
    # name pinyin where the part left is short.
    BlockingRule(
        "id_two_slips", "身份证号校验不符且有两位之差：其余部分相同",
        " UNION ALL ".join(
            "SELECT l.key AS l_key, r.key AS r_key FROM L l JOIN R r ON "
            + " AND ".join([f"substr(r.id_number, {a}, {n}) = substr(l.id_number, {a}, {n})" for a, n in parts]
                           + (["r.name_pinyin = l.name_pinyin"] if pinyin else []))
            + " WHERE l.id_status = 'valid' AND r.id_status IN ('bad_check', 'bad_date') AND NOT r.id_was_15"
            for parts, pinyin in (
                (((7, 12),), False),  # both in the area
                (((1, 6), (15, 4)), False),  # both in the birth date
                (((1, 14),), False),  # both in the sequence and check
                (((15, 4),), True),  # area and birth date
                (((1, 10),), True),  # birth date (month or day) and sequence
                (((1, 6), (11, 4)), True),  # birth date (year) and sequence
            ))),
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
