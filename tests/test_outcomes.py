"""Returned worklists back into `outcomes`, whole-file rejection, and suppression across months."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import duckdb
import openpyxl
import pytest

from reports import layout as L
from reports.errors import OutcomeFileRejected
from reports.outcomes import import_outcomes, parse_check_date, suppress_cleared
from reports.summary import write_summary
from reports.worklists import write_worklists

try:
    from tests.test_reports import FLAGS_M1, MONTH, STREET, build_month, worklist_rows
except ImportError:  # pytest's default rootdir-less import mode
    from test_reports import FLAGS_M1, MONTH, STREET, build_month, worklist_rows

MONTH2 = "2024-04"
TODAY = dt.date(2024, 5, 20)
MINZHU, QIANJIN = f"{STREET}-民主社区.xlsx", f"{STREET}-前进社区.xlsx"


@pytest.fixture
def con():
    c = duckdb.connect(":memory:")
    build_month(c, MONTH)
    yield c
    c.close()


@pytest.fixture
def sent(con, tmp_path) -> dict[str, Path]:
    return {p.name: p for p in write_worklists(con, MONTH, tmp_path / "out")}


def fill(src: Path, dest: Path, entries: dict[str, dict[str, object]], edit=None) -> Path:
    """Fill outcome cells as a caseworker would: {household_id: {header: value}}; `edit(ws, header)` tampers."""
    wb = openpyxl.load_workbook(src)
    ws = wb[L.WORKLIST_SHEET]
    header = {c.value: c.column for c in ws[1]}
    for r in range(2, ws.max_row + 1):
        values = entries.get(ws.cell(r, header["低保户编号"]).value, {})
        for col, v in values.items():
            ws.cell(r, header[col]).value = v
    if edit:
        edit(ws, header)
    dest.parent.mkdir(parents=True, exist_ok=True)
    wb.save(dest)
    return dest


def visit(outcome: str, by: str = "李社工", on: object = dt.date(2024, 4, 8), note: str | None = None) -> dict:
    return {"核查结论": outcome, "核查人": by, "核查日期": on, "备注": note}


def test_round_trip_suppresses_cleared_evidence_and_raises_new_evidence(con, sent, tmp_path):
    back = tmp_path / "back"
    minzhu = fill(sent[MINZHU], back / MINZHU, {
        "HH-0002": visit(L.OUTCOME_CLEARED, note="车辆已于2023年转让，有过户凭证"),
        "HH-0003": visit(L.OUTCOME_CLEARED, on="2024/4/9"),
    })
    qianjin = fill(sent[QIANJIN], back / QIANJIN, {"HH-0004": visit(L.OUTCOME_EXIT, on="20240410")})
    result = import_outcomes(con, [minzhu, qianjin], imported_by="街道民政专干", today=TODAY)
    assert result.ok and result.imported == [minzhu, qianjin]
    assert result.rows_imported == 3 and result.rows_blank == 1  # HH-0001 not visited yet
    got = con.execute("SELECT household_id, outcome, checked_by, checked_on, note, community, file_name "
                      "FROM outcomes ORDER BY household_id").fetchall()
    assert got == [("HH-0002", L.OUTCOME_CLEARED, "李社工", dt.date(2024, 4, 8), "车辆已于2023年转让，有过户凭证",
                    "民主社区", MINZHU),
                   ("HH-0003", L.OUTCOME_CLEARED, "李社工", dt.date(2024, 4, 9), None, "民主社区", MINZHU),
                   ("HH-0004", L.OUTCOME_EXIT, "李社工", dt.date(2024, 4, 10), None, "前进社区", QIANJIN)]
    assert con.execute("SELECT household_id, benefit_monthly FROM exits").fetchall() == [("HH-0004", 900.0)]

    # month 2: the same evidence for HH-0002; new evidence (another property record) for HH-0003
    flags_m2 = [f if f[0] != "HH-0003" or f[2] != "R06" else (*f[:4], "E302", "probable", 0.93,
                                                               "不动产 E302：车库 20㎡ 现势", "k-e302")
                for f in FLAGS_M1]
    build_month(con, MONTH2, flags_m2)
    assert suppress_cleared(con, MONTH2) == 2
    cleared = con.execute("SELECT household_id, rule, evidence_key, cleared_in_month, outcome_file "
                          "FROM flags_cleared ORDER BY rule").fetchall()
    assert cleared == [("HH-0002", "R05", "k-v201", MONTH, MINZHU), ("HH-0002", "R10", "k-r10-2015", MONTH, MINZHU)]
    left = con.execute("SELECT household_id, rule FROM flags WHERE run_month = ? AND match_class <> 'possible' "
                       "ORDER BY ALL", [MONTH2]).fetchall()
    assert ("HH-0002", "R05") not in left and ("HH-0003", "R06") in left and ("HH-0001", "R01") in left
    assert con.execute("SELECT count(*) FROM flag_keys WHERE run_month = ? AND household_id = 'HH-0002'",
                       [MONTH2]).fetchone()[0] == 0
    assert suppress_cleared(con, MONTH2) == 2  # calling again changes nothing
    assert con.execute("SELECT count(*) FROM flags_cleared").fetchone()[0] == 2
    assert con.execute("SELECT count(*) FROM flags WHERE run_month = ?", [MONTH2]).fetchone()[0] == len(flags_m2) - 2
    assert con.execute("SELECT count(*) FROM flags WHERE run_month = ?", [MONTH]).fetchone()[0] == len(FLAGS_M1)

    paths = {p.name: p for p in write_worklists(con, MONTH2, tmp_path / "out")}
    rows = worklist_rows(paths[MINZHU])
    assert [r["低保户编号"] for r in rows] == ["HH-0001", "HH-0003"]
    assert "E302" in rows[1]["疑点"] or "车库" in rows[1]["疑点"]
    wb = openpyxl.load_workbook(write_summary(con, MONTH2, tmp_path / "out"))
    assert [r[2] for r in wb["已核销疑点"].iter_rows(min_row=2, values_only=True)] == ["HH-0002", "HH-0002"]
    assert [r[3] for r in wb["清退名单"].iter_rows(min_row=2, max_row=2, values_only=True)] == ["HH-0004"]


def test_reimporting_the_same_file_changes_nothing(con, sent, tmp_path):
    f = fill(sent[MINZHU], tmp_path / "back" / MINZHU, {"HH-0002": visit(L.OUTCOME_CLEARED)})
    assert import_outcomes(con, [f], today=TODAY).imported == [f]
    again = import_outcomes(con, [f, f], today=TODAY)
    assert again.imported == [] and again.already_imported == [f, f] and again.ok
    assert con.execute("SELECT count(*) FROM outcomes").fetchone()[0] == 1
    assert con.execute("SELECT count(*) FROM outcome_files").fetchone()[0] == 1


def test_a_later_file_supersedes_the_earlier_and_both_are_kept(con, sent, tmp_path):
    first = fill(sent[MINZHU], tmp_path / "a" / MINZHU, {"HH-0002": visit(L.OUTCOME_UNVERIFIABLE)})
    second = fill(sent[MINZHU], tmp_path / "b" / MINZHU, {"HH-0002": visit(L.OUTCOME_ADJUST, on="2024-04-20")})
    assert import_outcomes(con, [first, second], today=TODAY).ok
    assert con.execute("SELECT count(*) FROM outcomes").fetchone()[0] == 2
    assert con.execute("SELECT outcome, checked_on FROM outcomes_latest").fetchall() == [
        (L.OUTCOME_ADJUST, dt.date(2024, 4, 20))]


def _set_row(household: str, column: str, value: object):
    def edit(ws, header):
        for r in range(2, ws.max_row + 1):
            if ws.cell(r, header["低保户编号"]).value == household:
                ws.cell(r, header[column]).value = value
    return edit


@pytest.mark.parametrize("entries, edit, expected", [
    ({"HH-0002": visit("属实")}, None, "row 3 column H(核查结论): '属实' is not an outcome"),
    ({"HH-0002": visit(L.OUTCOME_EXIT, by=None)}, None, "row 3 column I(核查人): blank"),
    ({"HH-0002": visit(L.OUTCOME_EXIT, on=None)}, None, "row 3 column J(核查日期): blank"),
    ({"HH-0002": visit(L.OUTCOME_EXIT, on="2024-13-01")}, None, "row 3 column J(核查日期): '2024-13-01' is not a date"),
    ({"HH-0002": visit(L.OUTCOME_EXIT, on="2023-12-01")}, None, "2023-12-01 is outside 2024-03-01"),
    ({"HH-0002": visit(L.OUTCOME_EXIT)}, _set_row("HH-0002", "_row_key", f"{MONTH}|HH-9999"),
     "household HH-9999 is not on the 2024-03 roster"),
    ({}, lambda ws, h: (_set_row("HH-0002", "_row_key", f"{MONTH}|HH-0004")(ws, h),
                        _set_row("HH-0002", "低保户编号", "HH-0004")(ws, h)),
     "household HH-0004 was never sent to 民主社区"),
    ({}, lambda ws, h: (_set_row("HH-0002", "_row_key", f"{MONTH}|HH-0005")(ws, h),
                        _set_row("HH-0002", "低保户编号", "HH-0005")(ws, h)),
     "household HH-0005 was never sent to 民主社区"),
    ({"HH-0002": visit(L.OUTCOME_EXIT)}, _set_row("HH-0002", "_finding_keys", "0123456789abcdef"),
     "row 3 column M(_finding_keys): the findings on this row are not the ones sent"),
    ({"HH-0002": visit(L.OUTCOME_EXIT)}, _set_row("HH-0002", "_row_key", None), "hidden row key None is missing"),
])
def test_a_file_with_any_problem_is_rejected_whole(con, sent, tmp_path, entries, edit, expected):
    good = {"HH-0003": visit(L.OUTCOME_CLEARED)}  # a valid row in the same file is not imported either
    f = fill(sent[MINZHU], tmp_path / "back" / MINZHU, {**good, **entries}, edit)
    result = import_outcomes(con, [f], today=TODAY)
    assert result.rejected == [f] and result.imported == []
    assert any(expected in p for p in result.problems), result.problems
    assert all(p.startswith(f"{MINZHU} 核查清单 row ") for p in result.problems)
    assert con.execute("SELECT count(*) FROM outcomes").fetchone()[0] == 0
    with pytest.raises(OutcomeFileRejected, match=re.escape(expected.split(":")[0])):
        result.raise_if_rejected()


def test_every_problem_is_reported_at_once_and_good_files_still_import(con, sent, tmp_path):
    bad = fill(sent[MINZHU], tmp_path / "back" / MINZHU, {
        "HH-0001": visit("属实"), "HH-0002": visit(L.OUTCOME_EXIT, by="", on="昨天")})
    good = fill(sent[QIANJIN], tmp_path / "back" / QIANJIN, {"HH-0004": visit(L.OUTCOME_EXIT)})
    result = import_outcomes(con, [bad, good], today=TODAY)
    assert result.imported == [good] and result.rejected == [bad] and len(result.problems) == 3
    assert con.execute("SELECT household_id FROM outcomes").fetchall() == [("HH-0004",)]


def test_files_not_produced_by_dibao_are_rejected(con, sent, tmp_path):
    plain = tmp_path / "plain.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["低保户编号", "核查结论"])
    wb.save(plain)
    text = tmp_path / "notes.xlsx"
    text.write_text("not a workbook", encoding="utf-8")
    result = import_outcomes(con, [plain, text, tmp_path / "missing.xlsx"], today=TODAY)
    assert result.rejected == [plain, text, tmp_path / "missing.xlsx"]
    assert "plain.xlsx: not a worklist produced by dibao" in result.problems[0]
    assert result.problems[1].startswith("notes.xlsx: not an Excel workbook")
    assert result.problems[2].startswith("missing.xlsx: no such file")


def test_a_worklist_regenerated_since_makes_the_old_file_stale(con, sent, tmp_path):
    old = shutil.copy(sent[MINZHU], tmp_path / "old.xlsx")
    con.execute("UPDATE flag_keys SET evidence_key = 'k-v201-new' WHERE evidence_key = 'k-v201'")
    write_worklists(con, MONTH, tmp_path / "out")
    f = fill(Path(old), tmp_path / "back" / MINZHU, {"HH-0002": visit(L.OUTCOME_CLEARED)})
    result = import_outcomes(con, [f], today=TODAY)
    assert result.rejected == [f] and "re-generated" in result.problems[0]


@pytest.mark.parametrize("value, expected", [
    (dt.datetime(2024, 4, 8, 0, 0), dt.date(2024, 4, 8)), ("2024-04-08", dt.date(2024, 4, 8)),
    ("2024/4/8", dt.date(2024, 4, 8)), ("20240408", dt.date(2024, 4, 8)), ("2024年4月8日", dt.date(2024, 4, 8)),
    (45390, dt.date(2024, 4, 8)), ("2024-02-30", None), ("下周", None), (True, None),
])
def test_check_dates_as_people_type_them(value, expected):
    assert parse_check_date(value) == expected
