"""The tables and views the reports own, declared once.

| table / view | one row per |
|---|---|
| `worklist_items` | finding (exact/probable) sent in a month's worklist, with its `finding_key` and the desk (`community` or `street`) |
| `review_items` | possible link sent on a month's 待人工确认 sheet, with its `link_key` |
| `outcomes` | verdict on one finding read from a returned worklist (every import kept); rows imported before per-finding verdicts have `finding_key` NULL and cover the household |
| `outcome_files` | returned worklist accepted (`file_sha256` and `content_sha256` make re-imports a no-op) |
| `link_decisions` | answer on one possible link (是同一人 / 不是同一人 / 无法确认) read from a review sheet |
| `outcomes_latest` (view) | (run_month, household_id, finding_key): the verdict from the most recent import |
| `finding_verdicts` (view) | (run_month, finding): the latest verdict, with the finding's identity (legacy household verdicts spread over the findings sent) |
| `link_decisions_latest` (view) | possible link (member, rule, source, record, evidence): the most recent answer, any month |
| `flags_cleared` | finding kept off a worklist: an earlier visit found it 不属实 on the same evidence (`reason` 不属实), or a person answered 不是同一人 for the link |
| `exits` (view) | household with a finding judged 属实-清退, with its monthly benefit (the saving) |
"""

from __future__ import annotations

import duckdb

from reports.common import has_table
from reports.layout import OUTCOME_EXIT

WORKLIST_ITEMS_DDL = """
CREATE TABLE IF NOT EXISTS worklist_items (
    run_month VARCHAR NOT NULL,
    community VARCHAR NOT NULL,
    street VARCHAR NOT NULL,
    household_id VARCHAR NOT NULL,
    id_number VARCHAR,
    rule VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    evidence_key VARCHAR,
    sent_file VARCHAR NOT NULL,
    finding_key VARCHAR,
    desk VARCHAR
)"""

REVIEW_ITEMS_DDL = """
CREATE TABLE IF NOT EXISTS review_items (
    run_month VARCHAR NOT NULL,
    community VARCHAR NOT NULL,
    street VARCHAR NOT NULL,
    household_id VARCHAR NOT NULL,
    id_number VARCHAR,
    rule VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    source_record_id VARCHAR,
    evidence_key VARCHAR,
    link_key VARCHAR NOT NULL,
    sent_file VARCHAR NOT NULL
)"""

OUTCOMES_DDL = """
CREATE TABLE IF NOT EXISTS outcomes (
    run_month VARCHAR NOT NULL,
    community VARCHAR NOT NULL,
    household_id VARCHAR NOT NULL,
    outcome VARCHAR NOT NULL,
    checked_by VARCHAR NOT NULL,
    checked_on DATE NOT NULL,
    note VARCHAR,
    file_name VARCHAR NOT NULL,
    file_sha256 VARCHAR NOT NULL,
    imported_at TIMESTAMP NOT NULL,
    finding_key VARCHAR,
    id_number VARCHAR,
    rule VARCHAR,
    source VARCHAR,
    evidence_key VARCHAR
)"""

OUTCOME_FILES_DDL = """
CREATE TABLE IF NOT EXISTS outcome_files (
    file_sha256 VARCHAR PRIMARY KEY,
    file_name VARCHAR NOT NULL,
    run_month VARCHAR NOT NULL,
    street VARCHAR NOT NULL,
    community VARCHAR NOT NULL,
    rows_imported INTEGER NOT NULL,
    rows_blank INTEGER NOT NULL,
    imported_by VARCHAR,
    imported_at TIMESTAMP NOT NULL,
    content_sha256 VARCHAR,
    links_imported INTEGER
)"""

LINK_DECISIONS_DDL = """
CREATE TABLE IF NOT EXISTS link_decisions (
    run_month VARCHAR NOT NULL,
    street VARCHAR NOT NULL,
    community VARCHAR NOT NULL,
    household_id VARCHAR NOT NULL,
    id_number VARCHAR,
    rule VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    source_record_id VARCHAR,
    evidence_key VARCHAR,
    link_key VARCHAR NOT NULL,
    decision VARCHAR NOT NULL,
    decided_by VARCHAR NOT NULL,
    decided_on DATE NOT NULL,
    note VARCHAR,
    file_name VARCHAR NOT NULL,
    file_sha256 VARCHAR NOT NULL,
    imported_at TIMESTAMP NOT NULL
)"""

FLAGS_CLEARED_DDL = """
CREATE TABLE IF NOT EXISTS flags_cleared (
    run_month VARCHAR NOT NULL,
    household_id VARCHAR NOT NULL,
    id_number VARCHAR,
    rule VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    source_record_id VARCHAR,
    match_class VARCHAR,
    match_score DOUBLE,
    evidence VARCHAR,
    evidence_key VARCHAR,
    cleared_in_month VARCHAR NOT NULL,
    outcome_file VARCHAR,
    reason VARCHAR
)"""

# Columns added since a table was first created: a database written by an older dibao gets them.
ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("worklist_items", "finding_key", "VARCHAR"), ("worklist_items", "desk", "VARCHAR"),
    ("outcomes", "finding_key", "VARCHAR"), ("outcomes", "id_number", "VARCHAR"), ("outcomes", "rule", "VARCHAR"),
    ("outcomes", "source", "VARCHAR"), ("outcomes", "evidence_key", "VARCHAR"),
    ("outcome_files", "content_sha256", "VARCHAR"), ("outcome_files", "links_imported", "INTEGER"),
    ("flags_cleared", "reason", "VARCHAR"),
)

OUTCOMES_LATEST_SQL = """
CREATE OR REPLACE VIEW outcomes_latest AS
SELECT * EXCLUDE (rn) FROM (
    SELECT o.*, row_number() OVER (
        PARTITION BY run_month, household_id, finding_key
        ORDER BY imported_at DESC, checked_on DESC, file_name DESC) AS rn
    FROM outcomes o)
WHERE rn = 1"""

FINDING_VERDICTS_SQL = """
CREATE OR REPLACE VIEW finding_verdicts AS
SELECT * EXCLUDE (rn) FROM (
    SELECT v.*, row_number() OVER (
        PARTITION BY run_month, household_id, id_number, rule, source, evidence_key
        ORDER BY imported_at DESC, checked_on DESC, file_name DESC) AS rn
    FROM (
        SELECT run_month, community, household_id, id_number, rule, source, evidence_key, finding_key,
               outcome, checked_by, checked_on, note, file_name, imported_at
        FROM outcomes WHERE finding_key IS NOT NULL
        UNION ALL
        SELECT w.run_month, w.community, w.household_id, w.id_number, w.rule, w.source, w.evidence_key,
               w.finding_key, o.outcome, o.checked_by, o.checked_on, o.note, o.file_name, o.imported_at
        FROM outcomes o JOIN worklist_items w ON w.run_month = o.run_month AND w.household_id = o.household_id
        WHERE o.finding_key IS NULL) v)
WHERE rn = 1"""

LINK_DECISIONS_LATEST_SQL = """
CREATE OR REPLACE VIEW link_decisions_latest AS
SELECT * EXCLUDE (rn) FROM (
    SELECT d.*, row_number() OVER (
        PARTITION BY household_id, id_number, rule, source, source_record_id, evidence_key
        ORDER BY imported_at DESC, decided_on DESC, file_name DESC) AS rn
    FROM link_decisions d)
WHERE rn = 1"""

EXITS_SQL = f"""
CREATE OR REPLACE VIEW exits AS
WITH e AS (
    SELECT run_month, household_id, any_value(community) AS community,
           arg_max(checked_by, (checked_on, imported_at)) AS checked_by, max(checked_on) AS checked_on,
           string_agg(DISTINCT note, '；' ORDER BY note) AS note,
           arg_max(file_name, imported_at) AS file_name, max(imported_at) AS imported_at,
           string_agg(DISTINCT rule, ',' ORDER BY rule) AS rules
    FROM finding_verdicts WHERE outcome = '{OUTCOME_EXIT}'
    GROUP BY run_month, household_id)
SELECT e.run_month, h.street, e.community, e.household_id,
       (SELECT first(m.name ORDER BY (m.relation <> '户主'), m.member_key)
          FROM stg_members m WHERE m.run_month = e.run_month AND m.household_id = e.household_id) AS head_name,
       h.address, h.benefit_monthly, e.checked_by, e.checked_on, e.note, e.file_name, e.imported_at, e.rules
FROM e
LEFT JOIN raw_roster_households h ON h.run_month = e.run_month AND h.household_id = e.household_id"""


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the report tables and views if they are not there yet, and add the columns an
    older database lacks (idempotent)."""
    for ddl in (WORKLIST_ITEMS_DDL, REVIEW_ITEMS_DDL, OUTCOMES_DDL, OUTCOME_FILES_DDL, LINK_DECISIONS_DDL,
                FLAGS_CLEARED_DDL):
        con.execute(ddl)
    for table, column, kind in ADDED_COLUMNS:
        con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}")
    for view in (OUTCOMES_LATEST_SQL, FINDING_VERDICTS_SQL, LINK_DECISIONS_LATEST_SQL):
        con.execute(view)
    if has_table(con, "raw_roster_households") and has_table(con, "stg_members"):
        con.execute(EXITS_SQL)
