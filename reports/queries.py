"""SQL the report writers share, one builder per question (`*_sql`); every one takes run_month as `?`."""

from __future__ import annotations

from reports.layout import OUTCOME_CLEARED

ACTIVE = "在保"
FINDING_CLASSES = ("exact", "probable")


def active_households_sql() -> str:
    """Active (在保) households of the month with their head's name (户主, else the first member)."""
    return f"""
    SELECT h.household_id, h.street, h.community, h.address, h.benefit_monthly,
           (SELECT first(m.name ORDER BY (m.relation <> '户主'), m.member_key)
              FROM stg_members m
             WHERE m.run_month = h.run_month AND m.household_id = h.household_id) AS head_name
    FROM raw_roster_households h
    WHERE h.run_month = ? AND trim(h.status) = '{ACTIVE}'
    ORDER BY h.street, h.community, h.household_id"""


def _member_name_sql() -> str:
    return """(SELECT first(m.name ORDER BY m.member_key) FROM stg_members m
               WHERE m.run_month = f.run_month AND m.household_id = f.household_id
                 AND m.id_number = f.id_number)"""


def flags_of_active_sql(classes: tuple[str, ...]) -> str:
    """Flags of active households in the given match classes, with the member's roster name and
    each flags row's evidence key (`flag_keys`): one row per finding."""
    in_list = ", ".join(f"'{c}'" for c in classes)
    return f"""
    SELECT DISTINCT f.household_id, f.id_number, f.rule, f.source, f.source_record_id, f.match_class,
           coalesce(f.match_score, 0) AS match_score, f.evidence, {_member_name_sql()} AS member_name,
           k.evidence_key
    FROM flags f
    JOIN raw_roster_households h
      ON h.run_month = f.run_month AND h.household_id = f.household_id AND trim(h.status) = '{ACTIVE}'
    LEFT JOIN flag_keys k
      ON k.run_month = f.run_month AND k.household_id = f.household_id
     AND k.id_number IS NOT DISTINCT FROM f.id_number AND k.rule = f.rule AND k.source = f.source
    WHERE f.run_month = ? AND f.match_class IN ({in_list})
    ORDER BY f.household_id, f.rule, f.id_number NULLS FIRST, f.source, f.source_record_id, k.evidence_key"""


def finding_keys_sql() -> str:
    """Distinct (finding, evidence_key) of the month's exact/probable flags on active households."""
    in_list = ", ".join(f"'{c}'" for c in FINDING_CLASSES)
    return f"""
    SELECT DISTINCT f.household_id, f.id_number, f.rule, f.source, k.evidence_key
    FROM flags f
    JOIN raw_roster_households h
      ON h.run_month = f.run_month AND h.household_id = f.household_id AND trim(h.status) = '{ACTIVE}'
    LEFT JOIN flag_keys k
      ON k.run_month = f.run_month AND k.household_id = f.household_id
     AND k.id_number IS NOT DISTINCT FROM f.id_number AND k.rule = f.rule AND k.source = f.source
    WHERE f.run_month = ? AND f.match_class IN ({in_list})"""


def cleared_groups_sql() -> str:
    """Finding groups (household, member, rule, source) of the month every one of whose evidence
    keys has, as its most recent verdict from an earlier month, 不属实-继续保障 on that very
    finding (a verdict per finding: a 不属实 on a vehicle clears the vehicle, not the household's
    other findings). Returns the group with the month and file of that verdict."""
    return f"""
    WITH now_keys AS (
        SELECT DISTINCT household_id, id_number, rule, source, evidence_key
        FROM flag_keys WHERE run_month = $1),
    verdicts AS (
        SELECT household_id, id_number, rule, source, evidence_key, run_month AS sent_month, outcome, file_name,
               row_number() OVER (PARTITION BY household_id, id_number, rule, source, evidence_key
                                  ORDER BY run_month DESC, imported_at DESC) AS rn
        FROM finding_verdicts
        WHERE run_month < $1),
    judged AS (
        SELECT n.*, v.sent_month, v.outcome, v.file_name
        FROM now_keys n
        LEFT JOIN verdicts v
          ON v.rn = 1 AND v.household_id = n.household_id AND v.id_number IS NOT DISTINCT FROM n.id_number
         AND v.rule = n.rule AND v.source = n.source AND v.evidence_key IS NOT DISTINCT FROM n.evidence_key)
    SELECT household_id, id_number, rule, source,
           string_agg(DISTINCT evidence_key, ',' ORDER BY evidence_key) AS evidence_key,
           max(sent_month) AS cleared_in_month,
           arg_max(file_name, sent_month) AS outcome_file
    FROM judged
    GROUP BY household_id, id_number, rule, source
    HAVING bool_and(coalesce(outcome = '{OUTCOME_CLEARED}', false)) AND bool_and(evidence_key IS NOT NULL)"""


def earlier_verdicts_sql() -> str:
    """For each finding group (household, member, rule, source) of the month, the most recent
    verdict given in an earlier month, with the evidence key it was given on."""
    return """
    SELECT household_id, id_number, rule, source, evidence_key, run_month AS verdict_month, outcome,
           checked_by, checked_on
    FROM (SELECT v.*, row_number() OVER (PARTITION BY household_id, id_number, rule, source
                                         ORDER BY run_month DESC, imported_at DESC) AS rn
          FROM finding_verdicts v WHERE run_month < ?)
    WHERE rn = 1"""


def month_verdicts_sql() -> str:
    """The latest verdict of each finding sent in the month (what a regenerated workbook writes back)."""
    return """
    SELECT household_id, id_number, rule, source, evidence_key, outcome, checked_by, checked_on, note,
           file_name, imported_at
    FROM finding_verdicts WHERE run_month = ?"""
