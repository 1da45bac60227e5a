"""Views for analysts, over the tables a run writes (documented in docs/analysts.md).

| view | one row per |
|---|---|
| `v_household_findings` | household and run month with at least one finding (exact/probable) |
| `v_link_evidence` | linked (registry record, roster member) pair, with the member's name and the rules it feeds |
| `v_month_over_month` | household, rule and run month: `new`, `continuing` or `resolved` against the previous run month |

`create_views(con)` creates (or replaces) every view whose tables exist and returns the
names created; a view whose tables are not there yet (before the first run) is skipped.
Only `exact` and `probable` rows count as findings; `possible` rows are the review list.
"""

from __future__ import annotations

import duckdb

FINDING = "match_class IN ('exact', 'probable')"

HOUSEHOLD_FINDINGS_SQL = f"""
CREATE OR REPLACE VIEW v_household_findings AS
SELECT f.household_id, f.run_month, h.district_code, h.street, h.community, h.benefit_monthly,
       list_sort(list_distinct(list(f.rule))) AS rules,
       count(*) AS n_findings,
       count(DISTINCT f.id_number) AS n_members,
       max(f.match_score) AS max_score
FROM flags f
LEFT JOIN raw_roster_households h ON h.run_month = f.run_month AND h.household_id = f.household_id
WHERE f.{FINDING}
GROUP BY ALL"""

LINK_EVIDENCE_SQL = f"""
CREATE OR REPLACE VIEW v_link_evidence AS
SELECT l.run_month, l.source, l.source_record_id, l.household_id, l.member_key,
       m.name AS member_name, m.id_number AS member_id_number, m.relation, m.is_beneficiary,
       l.match_class, l.match_score, l.id_level, l.name_level, l.evidence AS link_evidence,
       coalesce(r.rules, []) AS rules, r.finding_evidence
FROM link_pairs l
LEFT JOIN stg_members m ON m.run_month = l.run_month AND m.member_key = l.member_key
LEFT JOIN (
    SELECT run_month, household_id, source, source_record_id,
           list_sort(list_distinct(list(rule))) AS rules,
           string_agg(DISTINCT evidence, '；') AS finding_evidence
    FROM flags WHERE {FINDING} AND source_record_id IS NOT NULL
    GROUP BY ALL
) r ON r.run_month = l.run_month AND r.household_id = l.household_id
   AND r.source = l.source AND r.source_record_id = l.source_record_id"""

# The months compared are the months that were run (`raw_roster_households` holds every
# month's roster); "previous" is the latest earlier run month, so a skipped month does
# not turn every finding into `new`.
MONTH_OVER_MONTH_SQL = f"""
CREATE OR REPLACE VIEW v_month_over_month AS
WITH months AS (
    SELECT run_month, lag(run_month) OVER (ORDER BY run_month) AS previous_month
    FROM (SELECT DISTINCT run_month FROM raw_roster_households)
),
found AS (
    SELECT run_month, household_id, rule, count(*) AS n_findings
    FROM flags WHERE {FINDING} GROUP BY ALL
),
keys AS (
    SELECT m.run_month, m.previous_month, f.household_id, f.rule FROM months m
    JOIN found f ON f.run_month = m.run_month
    UNION
    SELECT m.run_month, m.previous_month, f.household_id, f.rule FROM months m
    JOIN found f ON f.run_month = m.previous_month
)
SELECT k.run_month, k.previous_month, k.household_id, k.rule,
       CASE WHEN cur.n_findings IS NULL THEN 'resolved'
            WHEN prev.n_findings IS NULL THEN 'new'
            ELSE 'continuing' END AS status,
       coalesce(cur.n_findings, 0) AS n_findings,
       coalesce(prev.n_findings, 0) AS n_findings_previous
FROM keys k
LEFT JOIN found cur ON cur.run_month = k.run_month AND cur.household_id = k.household_id AND cur.rule = k.rule
LEFT JOIN found prev ON prev.run_month = k.previous_month AND prev.household_id = k.household_id
                    AND prev.rule = k.rule"""

VIEWS: dict[str, tuple[str, tuple[str, ...]]] = {
    "v_household_findings": (HOUSEHOLD_FINDINGS_SQL, ("flags", "raw_roster_households")),
    "v_link_evidence": (LINK_EVIDENCE_SQL, ("link_pairs", "stg_members", "flags")),
    "v_month_over_month": (MONTH_OVER_MONTH_SQL, ("flags", "raw_roster_households")),
}


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {name for (name,) in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}


def create_views(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Create or replace the analysts' views whose tables exist; returns the names created."""
    present = _tables(con)
    created = []
    for name, (sql, needs) in VIEWS.items():
        if set(needs) <= present:
            con.execute(sql)
            created.append(name)
    return created
