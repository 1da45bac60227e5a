"""The quality gate on tiny in-memory DuckDB fixtures: each expectation kind passing and failing,
drift against the previous month, severity, storage and the one-line failure."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pytest

from connectors.schemas import EXTRACTS
from expectations.gate import (
    QualityGateFailed,
    failed_expectations,
    format_report,
    run_gate,
)
from expectations.runner import Window, bad_row_sql
from expectations.suites import SUITES, CheckKind
from matching.ids import make_id
from matching.policy import PolicyError, default_policy, load_policy

MONTH, PREV = "2024-03", "2024-02"
N = 20  # rows per registry, households in the roster


def create_raw(con: duckdb.DuckDBPyConnection, extract: str) -> None:
    spec = EXTRACTS[extract]
    cols = ", ".join(f'"{c.name}" {c.kind.duckdb_type}' for c in spec.columns)
    con.execute(f"CREATE TABLE IF NOT EXISTS raw_{extract} (run_month VARCHAR, {cols}, "
                "_source_file VARCHAR, _row_number INTEGER)")


def insert(con: duckdb.DuckDBPyConnection, extract: str, month: str, rows: list[dict]) -> None:
    create_raw(con, extract)
    spec = EXTRACTS[extract]
    values = [[month, *(r.get(c) for c in spec.names), f"{extract}.csv", i + 2] for i, r in enumerate(rows)]
    if values:
        con.executemany(f"INSERT INTO raw_{extract} VALUES ({', '.join('?' * len(values[0]))})", values)


def pid(i: int) -> str:
    return make_id("420102", dt.date(1950, 1, 1) + dt.timedelta(days=97 * i), 10 + i)


def registry_row(extract: str, i: int, month_start: dt.date) -> dict:
    base = {"record_id": f"{extract[:2].upper()}{i}", "name": f"张{i}", "id_number": pid(i)}
    extra = {
        "deaths": {"death_date": month_start},
        "pensions": {"pay_month": month_start, "amount": 3000.0},
        "unemployment": {"pay_month": month_start, "amount": 1500.0},
        "housing_fund": {"employer": "某公司", "contribution_month": month_start, "amount": 800.0},
        "vehicles": {"plate": f"鄂A{i:05d}", "vehicle_type": "K33", "registered_on": dt.date(2020, 1, 1),
                     "status": "正常"},
        "properties": {"certificate_no": f"C{i}", "use": "住宅", "area": 80.0,
                       "registered_on": dt.date(2015, 6, 1), "status": "现势"},
        "household_events": {"event_type": "迁出", "event_date": month_start},
    }[extract]
    return {**base, **extra}


REQUIRED_REGISTRIES = ("deaths", "pensions", "unemployment", "housing_fund", "vehicles", "properties")


def fill_month(con: duckdb.DuckDBPyConnection, month: str, n: int = N) -> None:
    """A clean month: n households of two members each, n rows in each required registry."""
    start = Window.of(month).month_start
    insert(con, "roster_households", month, [
        {"household_id": f"H{i}", "district_code": "420102", "street": "某街道", "community": "某社区",
         "address": "某路1号", "enrolled_on": dt.date(2015, 1, 1), "benefit_monthly": 700.0, "status": "在保"}
        for i in range(n)])
    insert(con, "roster_members", month, [
        {"household_id": f"H{i}", "name": f"李{i}{j}", "id_number": pid(100 + 2 * i + j),
         "relation": "户主" if j == 0 else "子女", "is_beneficiary": True, "monthly_income": 0.0}
        for i in range(n) for j in range(2)])
    for extract in REQUIRED_REGISTRIES:
        insert(con, extract, month, [registry_row(extract, i, start) for i in range(n)])


@pytest.fixture
def con():
    c = duckdb.connect()
    fill_month(c, MONTH)
    yield c
    c.close()


def result(report, extract: str, expectation: str):
    matches = [r for r in report.results if r.extract == extract and r.expectation == expectation]
    assert matches, f"no result {extract} {expectation}"
    return matches[0]


def test_clean_month_passes_everything(con):
    report = run_gate(con, MONTH, default_policy())
    assert report.critical == [] and report.warnings == [], format_report(report)
    report.raise_if_critical()  # does not raise
    assert "household_events" in report.absent and "deaths" not in report.absent
    # every declared expectation of every present extract has a result
    for name in ("roster_households", "roster_members", *REQUIRED_REGISTRIES):
        declared = {e.name for e in SUITES[name].expectations}
        assert declared == {r.expectation for r in report.results if r.extract == name}


# (mutation SQL on the clean month, extract, expectation, severity) — each kind failing.
# Two of 20 rows bad (10%) stays under the escalation share, so row checks stay warnings.
FAILING = [
    ("UPDATE raw_deaths SET name = ' ' WHERE record_id IN ('DE1', 'DE2')", "deaths", "not_blank:name", "warning"),
    ("UPDATE raw_pensions SET id_number = '4.20102E+17' WHERE _row_number < 10", "pensions",
     "id_valid_share:id_number", "critical"),
    ("UPDATE raw_vehicles SET id_number = NULL WHERE _row_number < 14", "vehicles",
     "id_blank_share:id_number", "warning"),
    ("UPDATE raw_deaths SET death_date = DATE '2024-04-01' WHERE record_id IN ('DE1', 'DE2')", "deaths",
     "date_in_range:death_date", "warning"),
    ("UPDATE raw_pensions SET pay_month = DATE '2024-04-01' WHERE record_id = 'PE3'", "pensions",
     "date_in_range:pay_month", "warning"),
    ("UPDATE raw_roster_households SET enrolled_on = DATE '1996-12-31' WHERE household_id = 'H1'",
     "roster_households", "date_in_range:enrolled_on", "warning"),
    ("UPDATE raw_roster_households SET status = '保障中' WHERE household_id = 'H2'", "roster_households",
     "in_set:status", "warning"),
    ("UPDATE raw_roster_members SET relation = '女儿' WHERE name = '李31'", "roster_members",
     "in_set:relation", "warning"),
    ("UPDATE raw_properties SET use = '住房' WHERE record_id = 'PR1'", "properties", "in_set:use", "warning"),
    ("UPDATE raw_properties SET status = '有效' WHERE record_id = 'PR1'", "properties", "in_set:status", "warning"),
    ("UPDATE raw_vehicles SET status = '在用' WHERE record_id = 'VE1'", "vehicles", "in_set:status", "warning"),
    ("UPDATE raw_vehicles SET vehicle_type = 'k33' WHERE record_id = 'VE1'", "vehicles", "pattern:vehicle_type",
     "warning"),
    ("UPDATE raw_roster_households SET district_code = '42010' WHERE household_id = 'H3'", "roster_households",
     "pattern:district_code", "warning"),
    ("UPDATE raw_housing_fund SET record_id = 'HO1' WHERE record_id = 'HO2'", "housing_fund", "unique:record_id",
     "warning"),
    ("UPDATE raw_roster_households SET household_id = 'H1' WHERE household_id = 'H2'", "roster_households",
     "unique:household_id", "critical"),
    ("UPDATE raw_roster_members SET household_id = 'H999' WHERE name = '李41'", "roster_members",
     "member_household_exists:household_id", "warning"),
    ("UPDATE raw_roster_members SET relation = '配偶' WHERE name = '李50'", "roster_households", "one_head",
     "warning"),
    ("UPDATE raw_roster_members SET is_beneficiary = false WHERE household_id = 'H6'", "roster_households",
     "has_beneficiary", "warning"),
    ("DELETE FROM raw_unemployment", "unemployment", "has_rows", "critical"),
    ("ALTER TABLE raw_vehicles DROP COLUMN plate", "vehicles", "columns_present", "critical"),
]


@pytest.mark.parametrize(("sql", "extract", "expectation", "severity"), FAILING,
                         ids=[f"{f[1]}-{f[2]}" for f in FAILING])
def test_each_kind_fails_on_a_bad_fixture(con, sql, extract, expectation, severity):
    con.execute(sql)
    report = run_gate(con, MONTH, default_policy())
    r = result(report, extract, expectation)
    assert r.success is False and r.severity == severity, r
    others = [x for x in report.results if x.failed and (x.extract, x.expectation) != (extract, expectation)]
    if expectation == "unique:household_id":  # the duplicate also leaves H2's members orphaned
        others = [x for x in others if x.expectation != "member_household_exists:household_id"]
    assert others == [], [x.message for x in others]
    assert r.message.startswith(f"{extract} — ") and r.message.endswith(f"({severity})")
    if CheckKind(r.kind) not in (CheckKind.HAS_ROWS, CheckKind.COLUMNS_PRESENT, CheckKind.ID_BLANK_SHARE):
        examples = r.details["examples"]
        assert 1 <= len(examples) <= 5
        assert all(e["_source_file"].endswith(".csv") and e["_row_number"] >= 2 for e in examples)


def test_invalid_id_share_message_and_masked_examples(con):
    con.execute("UPDATE raw_deaths SET id_number = '4.20102E+17' WHERE _row_number <= 13")  # 12 of 20 bad
    con.execute(f"UPDATE raw_deaths SET id_number = '{pid(5)[:-1]}0' WHERE _row_number = 14")
    report = run_gate(con, MONTH, default_policy())
    with pytest.raises(QualityGateFailed) as info:
        report.raise_if_critical()
    msg = str(info.value)
    assert msg == "quality gate: deaths — 身份证号 valid share 35% below floor 70% (critical)"
    assert "\n" not in msg
    full = info.value.report
    assert "deaths.csv row 2" in full and "bad_format" in full
    shown = result(report, "deaths", "id_valid_share:id_number").details["examples"]
    assert all("*" in e["value"] for e in shown)  # IDs masked in the report


def test_registry_cut_in_half_is_critical_with_a_one_line_reason(con):
    prev = duckdb.connect()
    con.execute("DELETE FROM raw_pensions WHERE _row_number > 11")  # 20 -> 10 rows
    fill_month(con, PREV)  # the previous month: 20 rows everywhere
    run_gate(con, PREV, default_policy())
    report = run_gate(con, MONTH, default_policy())
    r = result(report, "pensions", "row_count_shrink")
    assert r.failed and r.severity == "critical"
    assert r.observed == "20 → 10 rows (-50.0%) vs 2024-02"
    with pytest.raises(QualityGateFailed) as info:
        report.raise_if_critical()
    assert str(info.value) == ("quality gate: pensions — rows fell 20 → 10 (50% fewer than 2024-02), "
                               "more than 30% (critical)")
    assert "CRITICAL" in info.value.report
    prev.close()


def test_several_criticals_name_the_first_and_count_the_rest(con):
    con.execute("DELETE FROM raw_deaths")
    con.execute("DELETE FROM raw_vehicles")
    with pytest.raises(QualityGateFailed, match=r"^quality gate: deaths — no usable rows \(critical\) and 1 more$"):
        run_gate(con, MONTH, default_policy()).raise_if_critical()


def test_growth_and_id_drift_are_warnings(con):
    fill_month(con, PREV, n=8)
    run_gate(con, PREV, default_policy())
    con.execute("UPDATE raw_deaths SET id_number = '' WHERE _row_number <= 6")  # 25% blank, was 0%
    report = run_gate(con, MONTH, default_policy())
    growth = result(report, "deaths", "row_count_growth")
    assert growth.failed and growth.severity == "warning"  # 8 -> 20 is +150%
    drift = result(report, "deaths", "blank_id_drift:id_number")
    assert drift.failed and drift.severity == "warning"
    assert report.critical == []


def test_shrink_falls_back_to_load_report_when_the_gate_never_ran(con):
    con.execute("CREATE TABLE load_report (run_month VARCHAR, extract VARCHAR, source_file VARCHAR, "
                "encoding VARCHAR, rows_read INTEGER, rows_loaded INTEGER, rows_quarantined INTEGER, "
                "present BOOLEAN, notes VARCHAR)")
    con.execute("INSERT INTO load_report VALUES ('2024-02', 'vehicles', 'vehicles.csv', 'utf-8', 100, 100, 0, "
                "true, NULL)")
    report = run_gate(con, MONTH, default_policy())
    r = result(report, "vehicles", "row_count_shrink")
    assert r.failed and r.severity == "critical" and "100 → 20" in r.message


def test_a_few_bad_rows_warn_and_the_run_continues(con):
    con.execute("UPDATE raw_vehicles SET vehicle_type = 'K3' WHERE record_id = 'VE7'")
    con.execute("UPDATE raw_deaths SET death_date = DATE '2024-04-02' WHERE record_id = 'DE3'")
    report = run_gate(con, MONTH, default_policy())
    assert report.critical == [] and len(report.warnings) == 2
    report.raise_if_critical()  # no exception: warnings never stop the run
    warned = failed_expectations(con, MONTH, "warning")
    assert {(w["extract"], w["expectation"]) for w in warned} == {
        ("vehicles", "pattern:vehicle_type"), ("deaths", "date_in_range:death_date")}
    assert all(w["message"].endswith("(warning)") for w in warned)
    assert "WARNINGS" in format_report(report) and "vehicles.csv row 9: 'K3'" in format_report(report)


def test_a_broken_column_escalates_a_warning_to_critical(con):
    con.execute("UPDATE raw_properties SET use = '住房' WHERE _row_number <= 11")  # 50% of rows
    report = run_gate(con, MONTH, default_policy())
    r = result(report, "properties", "in_set:use")
    assert r.severity == "critical" and "escalated" in r.details


def test_results_are_stored_and_replaced_on_rerun(con):
    fill_month(con, PREV)
    first_prev = run_gate(con, PREV, default_policy())
    run_gate(con, MONTH, default_policy())
    con.execute("UPDATE raw_deaths SET name = '' WHERE record_id = 'DE1'")
    report = run_gate(con, MONTH, default_policy())
    counts = dict(con.execute("SELECT run_month, count(*) FROM quality_results GROUP BY 1").fetchall())
    assert counts == {PREV: len(first_prev.results), MONTH: len(report.results)}
    row = con.execute("SELECT severity, success, observed, details FROM quality_results WHERE run_month = ? "
                      "AND extract = 'deaths' AND expectation = 'not_blank:name'", [MONTH]).fetchone()
    assert row[:3] == ("warning", False, "5% (1 of 20)")
    details = json.loads(row[3])
    assert details["examples"] == [{"_source_file": "deaths.csv", "_row_number": 3, "value": ""}]
    assert details["gx_expectation"] == "expect_column_max_to_be_between"
    assert con.execute("SELECT count(DISTINCT checked_at) FROM quality_results WHERE run_month = ?",
                       [MONTH]).fetchone()[0] == 1
    metrics = con.execute("SELECT count(*) FROM quality_metrics WHERE run_month = ?", [MONTH]).fetchone()[0]
    run_gate(con, MONTH, default_policy())
    assert con.execute("SELECT count(*) FROM quality_metrics WHERE run_month = ?", [MONTH]).fetchone()[0] == metrics


def test_missing_optional_extract_is_skipped_and_said(con):
    create_raw(con, "marriages")  # a table without rows this month is absent too
    report = run_gate(con, MONTH, default_policy())
    assert {"marriages", "employment", "household_events"} <= set(report.absent)
    r = result(report, "marriages", "present")
    assert r.success is None and "switched off" in r.observed
    assert [x for x in report.results if x.extract == "marriages"] == [r]
    assert "Absent optional extracts" in format_report(report)


def test_optional_extract_vanishing_after_last_month_warns(con):
    insert(con, "household_events", PREV, [registry_row("household_events", i, dt.date(2024, 2, 1))
                                           for i in range(5)])
    fill_month(con, PREV)
    run_gate(con, PREV, default_policy())
    report = run_gate(con, MONTH, default_policy())
    r = result(report, "household_events", "present")
    assert r.failed and r.severity == "warning" and "absent this month (5 rows in 2024-02)" in r.message
    assert report.critical == []


def test_present_optional_extract_is_checked(con):
    insert(con, "household_events", MONTH, [registry_row("household_events", i, dt.date(2024, 3, 1))
                                            for i in range(5)])
    con.execute("UPDATE raw_household_events SET event_type = '迁入' WHERE record_id = 'HO1'")
    report = run_gate(con, MONTH, default_policy())
    assert "household_events" not in report.absent
    assert result(report, "household_events", "present").success is True
    assert result(report, "household_events", "in_set:event_type").failed


def _quarantine(con, extract: str, rows: int) -> None:
    con.execute("CREATE TABLE IF NOT EXISTS quarantine (run_month VARCHAR, extract VARCHAR, source_file VARCHAR, "
                "row_number INTEGER, column_name VARCHAR, value VARCHAR, reason VARCHAR, row_json VARCHAR)")
    con.executemany("INSERT INTO quarantine VALUES (?, ?, ?, ?, 'id_number', '4.20102E+17', ?, '{}')",
                    [[MONTH, extract, f"{extract}.xlsx", i + 2, "身份证号被存成了科学计数法"] for i in range(rows)])


def test_a_sheet_of_scientific_notation_ids_is_quarantined_and_stops_the_run(con):
    con.execute("DELETE FROM raw_deaths")  # the loader quarantined every row
    _quarantine(con, "deaths", N)
    report = run_gate(con, MONTH, default_policy())
    q = result(report, "deaths", "quarantine_share")
    assert q.failed and q.severity == "critical" and q.observed == "100% (20 of 20)"
    assert q.details["examples"][0]["value"] == "*********17"  # masked, located by file and row
    with pytest.raises(QualityGateFailed, match="quality gate: deaths — no usable rows"):
        report.raise_if_critical()


def test_quarantine_share_from_load_report(con):
    _quarantine(con, "vehicles", 3)
    con.execute("CREATE TABLE load_report (run_month VARCHAR, extract VARCHAR, source_file VARCHAR, "
                "encoding VARCHAR, rows_read INTEGER, rows_loaded INTEGER, rows_quarantined INTEGER, "
                "present BOOLEAN, notes VARCHAR)")
    con.execute("INSERT INTO load_report VALUES ('2024-03', 'vehicles', 'vehicles.xlsx', NULL, 23, 20, 3, true, "
                "NULL)")
    report = run_gate(con, MONTH, default_policy())
    q = result(report, "vehicles", "quarantine_share")
    assert q.failed and q.severity == "critical" and "13% of rows quarantined (3 of 23)" in q.message
    policy = default_policy()
    loose = type(policy)({**policy.as_dict(), "quality.max_quarantine_share": 0.2})
    assert result(run_gate(con, MONTH, loose), "vehicles", "quarantine_share").success is True


def test_severity_and_floors_come_from_policy_toml(con, tmp_path):
    con.execute("UPDATE raw_vehicles SET status = '在用' WHERE record_id = 'VE1'")
    con.execute("UPDATE raw_deaths SET id_number = '4.20102E+17' WHERE _row_number <= 5")  # 80% valid
    path = tmp_path / "policy.toml"
    path.write_text('[quality]\nmin_valid_id_share = 0.75\n[quality.severity]\n"vehicles.in_set" = "critical"\n',
                    encoding="utf-8")
    report = run_gate(con, MONTH, load_policy(path))
    assert result(report, "vehicles", "in_set:status").severity == "critical"
    assert result(report, "vehicles", "in_set:status").failed
    assert result(report, "deaths", "id_valid_share:id_number").success is True
    assert result(report, "properties", "in_set:use").severity == "warning"  # other keys keep their default


def test_unknown_severity_key_or_value_is_refused(con, tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text('[quality.severity]\nin_set = "fatal"\n', encoding="utf-8")
    with pytest.raises(PolicyError, match="quality.severity"):
        load_policy(path)
    path.write_text('[quality.severity]\n"deaths.in_sets" = "critical"\n', encoding="utf-8")
    with pytest.raises(PolicyError, match="unknown key 'deaths.in_sets'"):
        run_gate(con, MONTH, load_policy(path))


def test_bad_run_month_is_refused(con):
    with pytest.raises(ValueError, match="'run_month' must be YYYY-MM"):
        run_gate(con, "2024-3", default_policy())


def test_bad_row_sql_golden():
    w = Window.of("2024-02")
    assert w.month_end == dt.date(2024, 2, 29)
    by_name = {e.name: e for e in SUITES["deaths"].expectations}
    assert bad_row_sql(by_name["date_in_range:death_date"], w) == (
        "coalesce(\"death_date\" NOT BETWEEN DATE '1900-01-01' AND DATE '2024-02-29', TRUE)")
    vehicles = {e.name: e for e in SUITES["vehicles"].expectations}
    assert bad_row_sql(vehicles["pattern:vehicle_type"], w) == (
        "(\"vehicle_type\" IS NOT NULL AND trim(\"vehicle_type\") <> '' "
        "AND NOT regexp_matches(\"vehicle_type\", '^[A-Z][0-9A-Z]{2}$'))")
    pensions = {e.name: e for e in SUITES["pensions"].expectations}
    assert "DATE '2024-02-01'" in bad_row_sql(pensions["date_in_range:pay_month"], w)  # a month: not after it
