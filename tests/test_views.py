"""The analysts' views, and every ```sql block of docs/analysts.md run against a small database."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import duckdb
import pytest

from connectors.load import ensure_tables as ensure_load_tables
from expectations.gate import RESULTS_DDL
from flows.database import open_database
from flows.monthly import RUNS_SQL
from flows.views import VIEWS, create_views
from matching.linkage import _ensure_tables as ensure_link_tables
from matching.rules import ensure_flag_tables
from reports.tables import ensure_tables as ensure_report_tables

DOC = Path(__file__).resolve().parents[1] / "docs" / "analysts.md"
SQL_BLOCK = re.compile(r"^```sql\n(.*?)^```", re.S | re.M)

STG_MEMBERS_DDL = """CREATE TABLE stg_members (
    run_month VARCHAR, member_key VARCHAR, household_id VARCHAR, active BOOLEAN, district_code VARCHAR,
    community VARCHAR, enrolled_on DATE, name VARCHAR, name_clean VARCHAR, name_simplified VARCHAR,
    name_pinyin VARCHAR, surname_pinyin VARCHAR, id_raw VARCHAR, id_number VARCHAR, id_was_15 BOOLEAN,
    id_status VARCHAR, birth_date DATE, sex VARCHAR, relation VARCHAR, is_beneficiary BOOLEAN,
    monthly_income DOUBLE, _row_number INTEGER)"""

ID_A = "420106198001010011"
ID_B = "420106197502020022"


def flag(month, household, id_number, rule, source, record, cls="exact", score=1.0):
    return (month, household, id_number, rule, source, record, cls, score, f"{rule} 证据")


FLAGS = [
    # H1: vehicle in March and April (continuing), death only in April (new)
    flag("2026-03", "H1", ID_A, "R05", "vehicles", "V1"),
    flag("2026-04", "H1", ID_A, "R05", "vehicles", "V1"),
    flag("2026-04", "H1", ID_B, "R01", "deaths", "D1", "probable", 0.93),
    # H2: pension in March only (resolved in April), a possible row in April (not a finding)
    flag("2026-03", "H2", ID_B, "R02", "pensions", "P1", "probable", 0.9),
    flag("2026-04", "H2", ID_B, "R03", "unemployment", "U1", "possible", 0.6),
    # H3 in another district: household-level rule
    flag("2026-04", "H3", None, "R11", "roster_members", None),
]


def build(con: duckdb.DuckDBPyConnection) -> None:
    ensure_load_tables(con)
    ensure_flag_tables(con)
    ensure_link_tables(con)
    con.execute(STG_MEMBERS_DDL)
    con.execute(RUNS_SQL)
    con.execute(RESULTS_DDL)
    ensure_report_tables(con)
    for month in ("2026-03", "2026-04"):
        for hh, district, community in (("H1", "420106", "水果湖社区"), ("H2", "420106", "东亭社区"),
                                        ("H3", "420102", "花桥社区")):
            con.execute("""INSERT INTO raw_roster_households (run_month, household_id, district_code, street,
                           community, address, enrolled_on, benefit_monthly, status, _source_file, _row_number)
                           VALUES (?, ?, ?, '水果湖街道', ?, '某路1号', DATE '2020-01-01', 1600, '在保',
                           'roster_households.csv', 2)""", [month, hh, district, community])
        for key, hh, name, idn, rel in (("H1#1", "H1", "张伟", ID_A, "户主"), ("H1#2", "H1", "李红", ID_B, "配偶"),
                                        ("H2#1", "H2", "王芳", ID_B, "户主")):
            con.execute("INSERT INTO stg_members (run_month, member_key, household_id, name, id_number, relation, "
                        "is_beneficiary) VALUES (?, ?, ?, ?, ?, ?, true)", [month, key, hh, name, idn, rel])
    con.executemany("INSERT INTO flags VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", FLAGS)
    con.execute("""INSERT INTO link_pairs VALUES
        ('2026-04', 'vehicles', 'V1', 'H1#1', 'H1', ?, 'exact', 1.0, 'exact', 'exact', 'id', '身份证号一致'),
        ('2026-04', 'deaths', 'D1', 'H1#2', 'H1', ?, 'probable', 0.93, 'one_substitution', 'exact', 'name', '姓名一致'),
        ('2026-04', 'pensions', 'P9', 'H2#1', 'H2', ?, 'possible', 0.5, 'null', 'homophone', 'name', '同音')""",
                [ID_A, ID_B, ID_B])
    con.execute("""INSERT INTO quarantine (run_month, extract, source_file, row_number, column_name, value, reason,
                   row_json) VALUES ('2026-04', 'vehicles', 'vehicles.csv', 7, 'registered_on', '2024-13-01',
                   '登记日期不是日期', '{}')""")
    for run_id, month, status, message, findings in (
            ("r1", "2026-03", "succeeded", "", {"findings": {"R05": 1, "R02": 1, "_suppressed": 0},
                                                 "possible": {}, "switched_off": {}}),
            ("r2", "2026-04", "failed", "QualityGateFailed: deaths.csv 空", None),
            ("r3", "2026-04", "succeeded", "", {"findings": {"R05": 1, "R01": 1, "R11": 1},
                                                 "possible": {"R03": 1}, "switched_off": {"R12": ["complaints"]}})):
        con.execute("INSERT INTO runs (run_id, run_month, started_at, ended_at, status, message, findings) "
                    "VALUES (?, ?, now(), now(), ?, ?, ?)",
                    [run_id, month, status, message, json.dumps(findings, ensure_ascii=False) if findings else None])
    con.execute("""INSERT INTO quality_results VALUES ('2026-04', 'deaths', 'rows_at_least', 'warning', false,
                   '0', '{}', now())""")
    con.execute("""INSERT INTO outcomes (run_month, community, household_id, outcome, checked_by, checked_on, note,
                   file_name, file_sha256, imported_at) VALUES ('2026-04', '水果湖社区', 'H1', '属实-清退', '刘敏',
                   DATE '2026-05-10', NULL, 'w.xlsx', 'abc', now())""")
    con.execute("""INSERT INTO worklist_items (run_month, community, street, household_id, id_number, rule, source,
                   evidence_key, sent_file) VALUES ('2026-04', '东亭社区', '水果湖街道', 'H2', ?, 'R02', 'pensions',
                   'k1', 'w2.xlsx')""", [ID_B])


@pytest.fixture()
def con():
    c = duckdb.connect()
    build(c)
    assert create_views(c) == list(VIEWS)
    yield c
    c.close()


def test_create_views_skips_views_whose_tables_are_missing():
    c = duckdb.connect()
    ensure_flag_tables(c)
    assert create_views(c) == []
    ensure_load_tables(c)
    assert create_views(c) == ["v_household_findings", "v_month_over_month"]
    assert create_views(c) == ["v_household_findings", "v_month_over_month"]  # CREATE OR REPLACE: idempotent


def test_household_findings_aggregates_findings_only(con):
    rows = con.execute("""SELECT household_id, run_month, district_code, community, rules, n_findings, max_score
                          FROM v_household_findings ORDER BY run_month, household_id""").fetchall()
    assert rows == [
        ("H1", "2026-03", "420106", "水果湖社区", ["R05"], 1, 1.0),
        ("H2", "2026-03", "420106", "东亭社区", ["R02"], 1, 0.9),
        ("H1", "2026-04", "420106", "水果湖社区", ["R01", "R05"], 2, 1.0),
        ("H3", "2026-04", "420102", "花桥社区", ["R11"], 1, 1.0),
    ]  # H2's April row is `possible` only: not a finding


def test_link_evidence_names_the_member_and_the_rules(con):
    rows = con.execute("""SELECT source_record_id, member_name, member_id_number, match_class, rules
                          FROM v_link_evidence ORDER BY source_record_id""").fetchall()
    assert rows == [("D1", "李红", ID_B, "probable", ["R01"]), ("P9", "王芳", ID_B, "possible", []),
                    ("V1", "张伟", ID_A, "exact", ["R05"])]


def test_month_over_month(con):
    rows = con.execute("""SELECT run_month, previous_month, household_id, rule, status, n_findings,
                                 n_findings_previous
                          FROM v_month_over_month ORDER BY run_month, household_id, rule""").fetchall()
    assert rows == [
        ("2026-03", None, "H1", "R05", "new", 1, 0),
        ("2026-03", None, "H2", "R02", "new", 1, 0),
        ("2026-04", "2026-03", "H1", "R01", "new", 1, 0),
        ("2026-04", "2026-03", "H1", "R05", "continuing", 1, 1),
        ("2026-04", "2026-03", "H2", "R02", "resolved", 0, 1),
        ("2026-04", "2026-03", "H3", "R11", "new", 1, 0),
    ]


def doc_sql_blocks() -> list[str]:
    return SQL_BLOCK.findall(DOC.read_text(encoding="utf-8"))


def test_docs_have_enough_examples():
    assert len(doc_sql_blocks()) >= 6


@pytest.mark.parametrize("index", range(len(doc_sql_blocks())))
def test_every_doc_example_runs(con, index):
    sql = doc_sql_blocks()[index]
    rows = con.execute(sql).fetchall()
    assert isinstance(rows, list)


def test_doc_examples_answer_on_the_fixture(con):
    blocks = doc_sql_blocks()
    # the first example: R05 households in 420106 since March 2026 -> only H1
    assert con.execute(blocks[0]).fetchall() == [(1,)]


def test_file_written_by_open_database_is_readable_by_the_cli(tmp_path, duckdb_cli):
    path = tmp_path / "dibao.duckdb"
    c = open_database(path)
    build(c)
    create_views(c)
    c.close()
    out = subprocess.run([duckdb_cli, "-readonly", "-csv", str(path), "-c",
                          "SELECT count(*) FROM v_household_findings"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "4"
