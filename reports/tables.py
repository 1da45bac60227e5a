"""The tables and views the reports own, declared once.

| table / view | one row per |
|---|---|
| `worklist_items` | finding (exact/probable) sent to a community in a month's worklist |
| `outcomes` | household verdict read from a returned worklist (every import kept) |
| `outcome_files` | returned worklist accepted (file_sha256 makes re-imports a no-op) |
| `outcomes_latest` (view) | (run_month, household_id): the verdict from the most recent import |
| `flags_cleared` | finding kept off a worklist because an earlier visit found it 不属实 |
| `exits` (view) | household judged 属实-清退, with its monthly benefit (the saving) |
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
    imported_at TIMESTAMP NOT NULL
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
    outcome_file VARCHAR
)"""

OUTCOMES_LATEST_SQL = """
CREATE OR REPLACE VIEW outcomes_latest AS
SELECT * EXCLUDE (rn) FROM (
    SELECT o.*, row_number() OVER (
        PARTITION BY run_month, household_id
        ORDER BY imported_at DESC, checked_on DESC, file_name DESC) AS rn
    FROM outcomes o)
WHERE rn = 1"""

EXITS_SQL = f"""
CREATE OR REPLACE VIEW exits AS
SELECT o.run_month, h.street, o.community, o.household_id,
       (SELECT first(m.name ORDER BY (m.relation <> '户主'), m.member_key)
          FROM stg_members m WHERE m.run_month = o.run_month AND m.household_id = o.household_id) AS head_name,
       h.address, h.benefit_monthly, o.checked_by, o.checked_on, o.note, o.file_name, o.imported_at
FROM outcomes_latest o
LEFT JOIN raw_roster_households h ON h.run_month = o.run_month AND h.household_id = o.household_id
WHERE o.outcome = '{OUTCOME_EXIT}'"""


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the report tables and views if they are not there yet (idempotent)."""
    for ddl in (WORKLIST_ITEMS_DDL, OUTCOMES_DDL, OUTCOME_FILES_DDL, FLAGS_CLEARED_DDL, OUTCOMES_LATEST_SQL):
        con.execute(ddl)
    if has_table(con, "raw_roster_households") and has_table(con, "stg_members"):
        con.execute(EXITS_SQL)
