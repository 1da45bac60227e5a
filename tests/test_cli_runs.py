"""`dibao runs`: the run history as a table."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from flows.cli import app, findings_summary
from flows.database import open_database
from flows.monthly import RUNS_SQL

runner = CliRunner()


def make_db(path):
    con = open_database(path)
    con.execute(RUNS_SQL)
    rows = [
        ("a1b2c3d4e5f6", "2026-09", dt.datetime(2026, 10, 1, 2, 0), dt.datetime(2026, 10, 1, 2, 3), "succeeded", "",
         {"findings": {"R01": 2, "R05": 3, "R11": 0, "_suppressed": 1}, "possible": {"R05": 4},
          "switched_off": {"R12": ["complaints"]}}),
        ("0f0f0f0f0f0f", "2026-10", dt.datetime(2026, 11, 1, 2, 0), dt.datetime(2026, 11, 1, 2, 1), "failed",
         "QualityGateFailed: deaths.csv has 0 rows", None),
        ("9e9e9e9e9e9e", "2026-10", dt.datetime(2026, 11, 2, 9, 0), dt.datetime(2026, 11, 2, 9, 4), "succeeded", "",
         {"findings": {"R02": 1}, "possible": {}, "switched_off": {}}),
    ]
    for run_id, month, start, end, status, message, findings in rows:
        con.execute("INSERT INTO runs (run_id, run_month, started_at, ended_at, status, message, findings) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)", [run_id, month, start, end, status, message,
                                                     json.dumps(findings) if findings else None])
    con.close()


@pytest.fixture
def width(monkeypatch):
    """Sets the width `dibao runs` draws at. Its console is made once, when `flows.cli` is imported,
    and keeps the COLUMNS of that moment (which depends on what ran before), so a `COLUMNS` given
    to one invocation does not reach it."""
    from rich.console import Console

    from flows import cli

    def set_width(columns: int) -> None:
        monkeypatch.setattr(cli, "console", Console(width=columns, highlight=False))
    return set_width


def test_findings_summary():
    assert findings_summary(json.dumps({"findings": {"R05": 3, "R01": 2, "R11": 0, "_suppressed": 1},
                                        "possible": {"R05": 4}, "switched_off": {"R12": ["complaints"]}})) == \
        "R01 2, R05 3; possible 4; held back 1; off: R12"
    assert findings_summary(None) == ""
    assert findings_summary(json.dumps({"findings": {}, "possible": {}, "switched_off": {}})) == "none"


def test_runs_lists_every_run_newest_first(tmp_path, width):
    db = tmp_path / "d.duckdb"
    make_db(db)
    width(250)
    result = runner.invoke(app, ["runs", "--db", str(db)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.index("9e9e9e9e9e9e") < out.index("0f0f0f0f0f0f") < out.index("a1b2c3d4e5f6")
    assert "R01 2, R05 3; possible 4; held back 1; off: R12" in out
    assert "QualityGateFailed: deaths.csv has 0 rows" in out
    assert "2026-11-01 02:00:00" in out and "2026-11-01 02:01:00" in out


def test_run_ids_stay_whole_in_a_narrow_terminal(tmp_path, width):
    db = tmp_path / "d.duckdb"
    make_db(db)
    for columns in (80, 60):
        width(columns)
        out = runner.invoke(app, ["runs", "--db", str(db)]).output
        assert all(run_id in out for run_id in ("a1b2c3d4e5f6", "0f0f0f0f0f0f", "9e9e9e9e9e9e")), out
        assert "2026-09" in out and "succeeded" in out and "failed" in out


def test_runs_filters_by_month(tmp_path, width):
    db = tmp_path / "d.duckdb"
    make_db(db)
    width(250)
    result = runner.invoke(app, ["runs", "--db", str(db), "--month", "2026-09"])
    assert result.exit_code == 0, result.output
    assert "a1b2c3d4e5f6" in result.output and "9e9e9e9e9e9e" not in result.output
    empty = runner.invoke(app, ["runs", "--db", str(db), "--month", "2025-01"])
    assert empty.exit_code == 0 and "no runs recorded for 2025-01" in empty.output


def test_runs_errors_are_one_line(tmp_path):
    bad_month = runner.invoke(app, ["runs", "--db", str(tmp_path / "d.duckdb"), "--month", "2026/9"])
    assert bad_month.exit_code == 2 and "YYYY-MM" in bad_month.output
    missing = runner.invoke(app, ["runs", "--db", str(tmp_path / "none.duckdb")])
    assert missing.exit_code == 2 and "no such database file" in missing.output
    empty_db = tmp_path / "empty.duckdb"
    open_database(empty_db).close()
    no_table = runner.invoke(app, ["runs", "--db", str(empty_db)])
    assert no_table.exit_code == 2 and "no runs recorded yet" in no_table.output


def test_the_memory_limit_reaches_duckdb_and_a_bad_one_is_one_line(tmp_path, monkeypatch):
    def limit_of(name: str) -> str:
        con = open_database(tmp_path / name)
        try:
            return con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
        finally:
            con.close()

    monkeypatch.delenv("DIBAO_MEMORY_LIMIT", raising=False)
    assert limit_of("default.duckdb") == "3.7 GiB"  # 4GB, as DuckDB reports it
    monkeypatch.setenv("DIBAO_MEMORY_LIMIT", "512MB")
    assert limit_of("m.duckdb") == "488.2 MiB"

    result = runner.invoke(app, ["run", "--data", str(tmp_path), "--db", str(tmp_path / "n.duckdb"),
                                 "--month", "2026-10", "--no-prefect", "--memory-limit", "lots"])
    assert result.exit_code == 2
    assert "memory limit 'lots'" in result.output and len(result.output.strip().splitlines()) == 1
