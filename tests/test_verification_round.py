"""Issue 20's "done when": two months of the verification round as the street offices and
caseworkers live it, through `dibao run` and `dibao outcomes import`.

2026-10 is run on the committed sample. Caseworkers fill the workbooks with openpyxl, taking
values from each sheet's own drop-down: a verdict on ONE finding of a household with several
(不属实 on R11, 无法核实 on R10, its other findings left open), the street office's verdict on
one X01 finding in its own workbook, and the review sheet's answers on three possible links
(是同一人, 不是同一人, 无法确认). They are imported; 2026-10 is run again (every verdict is
still there, written back and locked; the cover counts what is open); 2026-11 is run on the
same extracts (the cleared finding is held back and only it, the confirmed link is a finding,
the rejected one is gone, the unsure one waits with its answer shown, X01 only in the street's
workbook).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import openpyxl
import pytest

from reports import layout as L
from reports.worklists import STREET_DIR

try:
    from tests.test_round_trip import dibao, query
except ImportError:  # pytest's default rootdir-less import mode
    from test_round_trip import dibao, query

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "sample"
M1, M2 = "2026-10", "2026-11"
ON = dt.datetime(2026, 10, 20)
STABLE = ("R05", "R06", "R01")  # possible links whose evidence does not move with the calendar month


def rows_of(path: Path, sheet: str) -> list[dict]:
    ws = openpyxl.load_workbook(path)[sheet]
    header = [c.value for c in ws[1]]
    out = []
    for r in range(2, ws.max_row + 1):
        cells = {h: ws.cell(r, i + 1) for i, h in enumerate(header)}
        if cells[header[-1]].value:  # the hidden _check: a real row
            out.append(cells)
    return out


def drop_down(ws, header: str) -> list[str]:
    """The choices the sheet's own drop-down offers in a column."""
    col = next(c.column_letter for c in ws[1] if c.value == header)
    dv = next(dv for dv in ws.data_validations.dataValidation if dv.type == "list" and str(dv.sqref).startswith(col))
    return dv.formula1.strip('"').split(",")


def fill(src: Path, dest: Path, sheet: str, key_header: str, answers: dict[str, dict[str, object]]) -> Path:
    """Fill the rows whose hidden key is in `answers` ({key: {header: value}}), as a caseworker would;
    every choice must be one the sheet's own drop-down offers."""
    wb = openpyxl.load_workbook(src)
    ws = wb[sheet]
    header = {c.value: c.column for c in ws[1]}
    choice = L.OUTCOME.header if sheet == L.WORKLIST_SHEET else L.R_DECISION.header
    offered = drop_down(ws, choice)
    done = set()
    for r in range(2, ws.max_row + 1):
        key = ws.cell(r, header[key_header]).value
        for col, value in answers.get(key, {}).items():
            if col == choice:
                assert value in offered, (value, offered)
            ws.cell(r, header[col]).value = value
            done.add(key)
    assert done == set(answers), f"{src.name}: rows {set(answers) - done} not found"
    dest.parent.mkdir(parents=True, exist_ok=True)
    wb.save(dest)
    return dest


def verdict(outcome: str, by: str = "李社工") -> dict[str, object]:
    return {L.OUTCOME.header: outcome, L.CHECKED_BY.header: by, L.CHECKED_ON.header: ON}


def answer(decision: str) -> dict[str, object]:
    return {L.R_DECISION.header: decision, L.R_DECIDED_BY.header: "王专干", L.R_DECIDED_ON.header: ON}


@pytest.fixture(scope="module")
def rounds(tmp_path_factory):
    root = tmp_path_factory.mktemp("round")
    data, db, out = root / "data", root / "dibao.duckdb", root / "out"
    shutil.copytree(SAMPLE, data)
    run = ("run", "--data", str(data), "--db", str(db), "--out", str(out), "--no-prefect")
    first = dibao(*run, "--month", M1, cwd=root)
    assert first.returncode == 0, first.stderr[-3000:]

    # the street with the most X01 findings; a household of it with R10 and R11 and more
    (street,) = query(db, """SELECT street FROM worklist_items WHERE run_month = ? AND rule = 'X01'
                             GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1""", [M1])[0]
    items = query(db, """SELECT household_id, rule, finding_key, sent_file FROM worklist_items
                         WHERE run_month = ? AND street = ? ORDER BY ALL""", [M1, street])
    by_household: dict[str, dict[str, tuple[str, str]]] = {}
    for hh, rule, key, sent_file in items:
        by_household.setdefault(hh, {})[rule] = (key, sent_file)
    hh = next(h for h, rules in sorted(by_household.items()) if {"R10", "R11"} < set(rules) and "X01" not in rules)
    r11_key, book = by_household[hh]["R11"]
    r10_key, _ = by_household[hh]["R10"]
    x01 = [(h, key) for h, rule, key, f in items if rule == "X01"]
    assert all(f == f"{STREET_DIR}/{street}.xlsx" for h, rule, k, f in items if rule == "X01")
    links = query(db, f"""SELECT link_key, sent_file, rule, source_record_id, household_id FROM review_items
                         WHERE run_month = ? AND rule IN {STABLE} ORDER BY household_id, link_key""", [M1])
    assert len(links) >= 3, links
    same, different, unsure = links[:3]

    returned = root / "returned"
    files = {
        book: fill(out / M1 / book, returned / book, L.WORKLIST_SHEET, L.FINDING_KEY.header,
                   {r11_key: verdict(L.OUTCOME_CLEARED), r10_key: verdict(L.OUTCOME_UNVERIFIABLE)}),
        f"{STREET_DIR}/{street}.xlsx": fill(out / M1 / STREET_DIR / f"{street}.xlsx", returned / f"{street}.xlsx",
                                            L.WORKLIST_SHEET, L.FINDING_KEY.header,
                                            {x01[0][1]: verdict(L.OUTCOME_CLEARED, "街道王主任")}),
    }
    for link, decision in ((same, L.LINK_SAME), (different, L.LINK_DIFFERENT), (unsure, L.LINK_UNSURE)):
        src = files.get(link[1], out / M1 / link[1])
        files[link[1]] = fill(src, returned / Path(link[1]).name, L.REVIEW_SHEET, L.R_LINK_KEY.header,
                              {link[0]: answer(decision)})
    imported = dibao("outcomes", "import", *map(str, files.values()), "--db", str(db), "--by", "街道民政专干",
                     cwd=root)
    rerun = dibao(*run, "--month", M1, cwd=root)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    second = dibao(*run, "--month", M2, cwd=root)
    assert second.returncode == 0, second.stderr[-3000:]
    return {"root": root, "db": db, "out": out, "street": street, "hh": hh, "book": book, "r11": r11_key,
            "r10": r10_key, "x01": x01, "same": same, "different": different, "unsure": unsure,
            "imported": imported, "files": files}


def test_the_import_reports_every_file_in_chinese(rounds):
    result = rounds["imported"]
    assert result.returncode == 0, result.stderr
    for path in rounds["files"].values():
        assert f"已导入 {path.name}：" in result.stdout
    assert "共 " in result.stdout and "核查结论 3 条，人工确认 3 条" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_rerunning_the_month_keeps_every_verdict_in_the_workbook_locked(rounds):
    rows = {r[L.FINDING_KEY.header].value: r for r in rows_of(rounds["out"] / M1 / rounds["book"], L.WORKLIST_SHEET)}
    for key, outcome in ((rounds["r11"], L.OUTCOME_CLEARED), (rounds["r10"], L.OUTCOME_UNVERIFIABLE)):
        row = rows[key]
        assert row[L.OUTCOME.header].value == outcome and row[L.CHECKED_BY.header].value == "李社工"
        assert row[L.CHECKED_ON.header].value.date() == ON.date()
        assert all(row[c.header].protection.locked for c in L.ANSWER_COLUMNS)
    others = [r for k, r in rows.items() if r[L.HOUSEHOLD.header].value == rounds["hh"]
              and k not in (rounds["r11"], rounds["r10"])]
    assert others and all(r[L.OUTCOME.header].value is None and not r[L.OUTCOME.header].protection.locked
                          for r in others)
    n = len(rows)
    cover = [c.value for row in openpyxl.load_workbook(rounds["out"] / M1 / rounds["book"])[L.COVER_SHEET].iter_rows()
             for c in row if isinstance(c.value, str)]
    assert f"已反馈 2 条，尚待核查 {n - 2} 条" in cover
    street_rows = rows_of(rounds["out"] / M1 / STREET_DIR / f"{rounds['street']}.xlsx", L.WORKLIST_SHEET)
    judged = [r for r in street_rows if r[L.FINDING_KEY.header].value == rounds["x01"][0][1]]
    assert judged[0][L.OUTCOME.header].value == L.OUTCOME_CLEARED
    assert judged[0][L.CHECKED_BY.header].value == "街道王主任"


def test_next_month_holds_back_only_the_cleared_finding_and_says_what_was_found_before(rounds):
    db, hh = rounds["db"], rounds["hh"]
    rows = [r for r in rows_of(rounds["out"] / M2 / rounds["book"], L.WORKLIST_SHEET)
            if r[L.HOUSEHOLD.header].value == hh]
    rules = [r[L.FINDINGS.header].value[1:4] for r in rows]
    assert "R11" not in rules and "R10" in rules
    r10 = next(r for r in rows if r[L.FINDINGS.header].value.startswith("【R10"))
    assert "〔2026年10月清单曾核查：无法核实，李社工 2026-10-20；证据未变〕" in r10[L.FINDINGS.header].value
    assert r10[L.OUTCOME.header].value is None  # a new month's list: to be judged again
    assert query(db, "SELECT rule, reason FROM flags_cleared WHERE run_month = ? AND household_id = ?", [M2, hh]) == [
        ("R11", L.OUTCOME_CLEARED)]


def test_next_month_x01_is_only_in_the_street_offices_workbook(rounds):
    street, out = rounds["street"], rounds["out"]
    street_rows = rows_of(out / M2 / STREET_DIR / f"{street}.xlsx", L.WORKLIST_SHEET)
    assert street_rows and all(r[L.FINDINGS.header].value.startswith("【X01") for r in street_rows)
    assert len(street_rows) == len(rounds["x01"]) - 1  # the one the street cleared is held back
    for book in (out / M2).glob(f"{street}-*.xlsx"):
        for ws in openpyxl.load_workbook(book).worksheets:
            for row in ws.iter_rows(values_only=True):
                assert not any(isinstance(v, str) and ("X01" in v or "近亲属未备案" in v) for v in row), book.name


def test_next_month_the_review_answers_have_decided_the_links(rounds):
    out = rounds["out"]
    link_key, book, rule, record, hh = rounds["same"]
    findings = rows_of(out / M2 / book, L.WORKLIST_SHEET)
    confirmed = [r for r in findings if r[L.HOUSEHOLD.header].value == hh
                 and r[L.FINDINGS.header].value.startswith(f"【{rule}") and "经人工确认为同一人（王专干 2026-10-20）"
                 in r[L.FINDINGS.header].value]
    assert len(confirmed) == 1
    review = {r[L.R_RECORD.header].value: r for r in rows_of(out / M2 / book, L.REVIEW_SHEET)}
    assert record not in review

    _, book, _, record, _ = rounds["different"]
    assert record not in {r[L.R_RECORD.header].value for r in rows_of(out / M2 / book, L.REVIEW_SHEET)}
    assert not any(record in (r[L.FINDINGS.header].value or "") for r in rows_of(out / M2 / book, L.WORKLIST_SHEET))

    _, book, _, record, _ = rounds["unsure"]
    waiting = {r[L.R_RECORD.header].value: r for r in rows_of(out / M2 / book, L.REVIEW_SHEET)}[record]
    assert waiting[L.R_DECISION.header].value == L.LINK_UNSURE and waiting[L.R_DECISION.header].protection.locked
    assert query(rounds["db"], "SELECT decision FROM link_decisions ORDER BY decision") == sorted(
        [(L.LINK_SAME,), (L.LINK_DIFFERENT,), (L.LINK_UNSURE,)])


def test_a_batch_with_an_xls_reports_every_files_fate_in_one_line_each(rounds):
    root = rounds["root"]
    xls = root / "民主社区.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(1024))  # as Excel 97-2003 or WPS saves it
    again = next(iter(rounds["files"].values()))
    result = dibao("outcomes", "import", str(again), str(xls), str(root / "没有这个文件.xlsx"), "--db",
                   str(rounds["db"]), cwd=root)
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert f"已导入过 {again.name}：内容与已导入的相同" in result.stdout
    errors = result.stderr.splitlines()
    assert errors == [
        "未导入 民主社区.xls：发现 1 个问题，整份文件未导入",
        "  民主社区.xls：这是 Excel 97-2003（.xls）或 WPS 表格（.et）格式的文件，dibao 只能读取 .xlsx；请用 Excel 或 "
        "WPS 打开它，“另存为” Excel 工作簿（*.xlsx）后再导入",
        "未导入 没有这个文件.xlsx：发现 1 个问题，整份文件未导入",
        f"  没有这个文件.xlsx：文件不存在（{root / '没有这个文件.xlsx'}）"]
    assert "共 3 个文件：导入 0 个" in result.stdout and "已导入过 1 个，未导入 2 个" in result.stdout
