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
    """Flags of active households in the given match classes, with the member's roster name."""
    in_list = ", ".join(f"'{c}'" for c in classes)
    return f"""
    SELECT f.household_id, f.id_number, f.rule, f.source, f.source_record_id, f.match_class,
           coalesce(f.match_score, 0) AS match_score, f.evidence, {_member_name_sql()} AS member_name
    FROM flags f
    JOIN raw_roster_households h
      ON h.run_month = f.run_month AND h.household_id = f.household_id AND trim(h.status) = '{ACTIVE}'
    WHERE f.run_month = ? AND f.match_class IN ({in_list})
    ORDER BY f.household_id, f.rule, f.id_number NULLS FIRST, f.source, f.source_record_id"""


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
    keys was sent in an earlier month to a household whose latest verdict there was 不属实-继续保障
    (the most recent earlier verdict on that evidence decides). Returns the group with the month
    and file of that verdict."""
    return f"""
    WITH now_keys AS (
        SELECT DISTINCT household_id, id_number, rule, source, evidence_key
        FROM flag_keys WHERE run_month = $1),
    verdicts AS (
        SELECT w.household_id, w.id_number, w.rule, w.source, w.evidence_key,
               w.run_month AS sent_month, o.outcome, o.file_name,
               row_number() OVER (PARTITION BY w.household_id, w.id_number, w.rule, w.source, w.evidence_key
                                  ORDER BY w.run_month DESC) AS rn
        FROM worklist_items w
        JOIN outcomes_latest o ON o.run_month = w.run_month AND o.household_id = w.household_id
        WHERE w.run_month < $1),
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
