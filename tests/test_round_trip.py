"""Issue 6: a caseworker round trip through the real pipeline on the committed sample.

2026-10 is run, its worklists are filled in as a caseworker would (A cleared, B exited,
C cleared), imported with the real `dibao outcomes import` (twice: the second changes
nothing); 2026-11 is run on the same extracts plus one new vehicle for C's member.
A's findings are held back (`flags_cleared`, summary 已核销疑点), C's vehicle finding is
raised again on its new evidence, B is on the exit list. A file with a bad outcome is
rejected whole through the CLI, and the public notice carries whole names and no ID.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import openpyxl
import pytest

from flows.monthly import run_monthly
from reports import layout as L
from reports.worklists import workbook_name

DIBAO = str(Path(sys.executable).parent / "dibao")
SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "sample"
M1, M2 = "2026-10", "2026-11"
CHECKED_ON = dt.date(2026, 10, 20)  # inside the worklist month .. today
FINDING = ("exact", "probable")
STABLE_RULES = {"R05", "R06", "R10", "R11"}  # evidence keys that do not move with the calendar month
NEW_VEHICLE = "JDC9000001"
NEW_PLATE = "鄂A9R7T6"


def dibao(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([DIBAO, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def query(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    """Read with a short-lived connection: the CLI runs in another process and needs the file's lock."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def counts(db: Path) -> dict[str, int]:
    return {t: query(db, f"SELECT count(*) FROM {t}")[0][0] for t in ("outcomes", "outcome_files")}


def fill(src: Path, dest: Path, entries: dict[str, dict[str, object]]) -> Path:
    """Fill the yellow cells of some households' rows, as a caseworker does in Excel."""
    wb = openpyxl.load_workbook(src)
    ws = wb[L.WORKLIST_SHEET]
    header = {c.value: c.column for c in ws[1]}
    found = set()
    for r in range(2, ws.max_row + 1):
        hh = ws.cell(r, header[L.HOUSEHOLD.header]).value
        for col, value in entries.get(hh, {}).items():
            ws.cell(r, header[col]).value = value
            found.add(hh)
    assert found == set(entries), f"{src.name}: rows for {set(entries) - found} not found"
    dest.parent.mkdir(parents=True, exist_ok=True)
    wb.save(dest)
    return dest


def visit(outcome: object, by: object = "李社工", on: object = CHECKED_ON) -> dict[str, object]:
    return {L.OUTCOME.header: outcome, L.CHECKED_BY.header: by, L.CHECKED_ON.header: on}


def sheet_rows(path: Path, sheet: str) -> list[tuple]:
    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        return [r for r in wb[sheet].iter_rows(min_row=2, values_only=True) if any(v is not None for v in r)]
    finally:
        wb.close()


@pytest.fixture(scope="module")
def trip(tmp_path_factory):
    root = tmp_path_factory.mktemp("round_trip")
    data1, db, out = root / "data-2026-10", root / "dibao.duckdb", root / "out"
    shutil.copytree(SAMPLE, data1)
    run_monthly(data1, db, M1, out_dir=out)

    # --- pick A (to be cleared), C (cleared, then new evidence) and B (to be exited)
    findings = query(db, """SELECT household_id, list(DISTINCT rule) FROM flags
                            WHERE run_month = ? AND match_class IN ('exact', 'probable') GROUP BY 1 ORDER BY 1""",
                     [M1])
    rules = {hh: set(r) for hh, r in findings}
    vehicle = {hh: (idn, rec) for hh, idn, rec in query(db, """
        SELECT household_id, id_number, source_record_id FROM flags
        WHERE run_month = ? AND rule = 'R05' AND match_class = 'exact' AND id_number IS NOT NULL""", [M1])}
    c = next(hh for hh in sorted(vehicle) if rules[hh] <= STABLE_RULES)
    a = next(hh for hh, rs in sorted(rules.items())
             if hh != c and "R06" in rs and rs <= STABLE_RULES and len(rs) >= 2)
    b = next(hh for hh, rs in sorted(rules.items()) if hh not in (a, c) and "R01" in rs)
    where = dict(((hh, workbook_name(st, cm)) for hh, st, cm in query(
        db, "SELECT household_id, street, community FROM raw_roster_households WHERE run_month = ?", [M1])))

    # --- the caseworkers fill in their community's workbooks
    entries: dict[str, dict[str, dict[str, object]]] = {}
    entries.setdefault(where[a], {})[a] = visit(L.OUTCOME_CLEARED)
    entries.setdefault(where[b], {})[b] = visit(L.OUTCOME_EXIT)
    entries.setdefault(where[c], {})[c] = visit(L.OUTCOME_CLEARED)
    returned = [fill(out / M1 / name, root / "returned" / name, rows) for name, rows in sorted(entries.items())]
    first = dibao("outcomes", "import", *map(str, returned), "--db", str(db), "--by", "街道民政专干", cwd=root)
    after_first = counts(db)
    again = dibao("outcomes", "import", *map(str, returned), "--db", str(db), cwd=root)
    after_again = counts(db)

    # --- month 2026-11: the same extracts, plus a new car (new plate) for C's member
    data2 = root / "data-2026-11"
    shutil.copytree(data1, data2)
    c_id, c_record = vehicle[c]
    wb = openpyxl.load_workbook(data2 / "vehicles.xlsx")
    ws = wb.worksheets[0]
    header = [cell.value for cell in ws[1]]
    row = next(list(r) for r in ws.iter_rows(min_row=2, values_only=True) if r[0] == c_record)
    row[header.index("记录编号")] = NEW_VEHICLE
    row[header.index("号牌号码")] = NEW_PLATE
    row[header.index("车辆类型")] = "K33"
    row[header.index("登记日期")] = dt.datetime(2026, 11, 6)
    row[header.index("状态")] = "正常"
    ws.append(row)
    wb.save(data2 / "vehicles.xlsx")
    outcome2 = run_monthly(data2, db, M2, out_dir=out)

    return {"root": root, "db": db, "out": out, "a": a, "b": b, "c": c, "c_id": c_id, "where": where,
            "first": first, "again": again, "after_first": after_first, "after_again": after_again,
            "returned": returned, "outcome2": outcome2}


def test_import_through_the_cli_and_again_changes_nothing(trip):
    first, again = trip["first"], trip["again"]
    n = len(trip["returned"])
    judged = query(trip["db"], """SELECT count(*) FROM worklist_items WHERE run_month = ?
                                  AND household_id IN (?, ?, ?)""", [M1, trip["a"], trip["b"], trip["c"]])[0][0]
    assert first.returncode == 0, first.stderr
    assert f"共 {n} 个文件：导入 {n} 个（核查结论 {judged} 条" in first.stdout  # a verdict per finding
    assert all(f"已导入 {p.name}：核查结论 " in first.stdout for p in trip["returned"])
    assert trip["after_first"] == {"outcomes": judged, "outcome_files": n}
    assert again.returncode == 0, again.stderr
    assert f"共 {n} 个文件：导入 0 个（核查结论 0 条，人工确认 0 条，未填写 0 条），已导入过 {n} 个" in again.stdout
    assert all(f"已导入过 {p.name}：内容与已导入的相同" in again.stdout for p in trip["returned"])
    assert trip["after_again"] == trip["after_first"]
    got = dict(query(trip["db"], "SELECT household_id, outcome FROM outcomes_latest WHERE run_month = ?", [M1]))
    assert got == {trip["a"]: L.OUTCOME_CLEARED, trip["b"]: L.OUTCOME_EXIT, trip["c"]: L.OUTCOME_CLEARED}


def test_cleared_findings_are_held_back_next_month(trip):
    db, a = trip["db"], trip["a"]
    sent = set(query(db, """SELECT DISTINCT household_id, id_number, rule, source FROM worklist_items
                            WHERE run_month = ? AND household_id = ?""", [M1, a]))
    assert sent, "A had findings in the 2026-10 worklist"
    now = set(query(db, """SELECT household_id, id_number, rule, source FROM flags
                           WHERE run_month = ? AND household_id = ?""", [M2, a]))
    cleared = set(query(db, """SELECT household_id, id_number, rule, source FROM flags_cleared
                               WHERE run_month = ? AND household_id = ?""", [M2, a]))
    assert not sent & now, f"cleared findings raised again in {M2}: {sent & now}"
    assert sent <= cleared
    assert query(db, "SELECT DISTINCT cleared_in_month FROM flags_cleared WHERE run_month = ? AND household_id = ?",
                 [M2, a]) == [(M1,)]
    assert trip["outcome2"].rules.findings["_suppressed"] >= len(sent)
    # the street office sees them in 已核销疑点, not in A's community worklist
    summary = trip["out"] / M2 / "summary.xlsx"
    listed = [(r[2], r[5].split()[0]) for r in sheet_rows(summary, "已核销疑点") if r[2] == a]
    assert sorted(listed) == sorted((a, rule) for _, _, rule, _ in sent)
    worklist = sheet_rows(trip["out"] / M2 / trip["where"][a], L.WORKLIST_SHEET)
    assert a not in {r[1] for r in worklist}


def test_new_evidence_raises_a_cleared_finding_again(trip):
    db, c, c_id = trip["db"], trip["c"], trip["c_id"]
    keys = {m: {k for (k,) in query(db, """SELECT evidence_key FROM flag_keys WHERE run_month = ?
                                           AND household_id = ? AND id_number = ? AND rule = 'R05'""", [m, c, c_id])}
            for m in (M1, M2)}
    assert keys[M1] and keys[M2] and keys[M1] != keys[M2], keys
    r05 = query(db, """SELECT match_class, evidence FROM flags WHERE run_month = ? AND household_id = ?
                       AND id_number = ? AND rule = 'R05'""", [M2, c, c_id])
    assert len(r05) == 1 and r05[0][0] in FINDING
    assert "共2条记录" in r05[0][1]
    assert not query(db, "SELECT 1 FROM flags_cleared WHERE run_month = ? AND household_id = ? AND rule = 'R05'",
                     [M2, c])
    # C's other findings (same evidence) stay held back
    others = set(query(db, """SELECT rule FROM worklist_items WHERE run_month = ? AND household_id = ?
                              AND rule <> 'R05'""", [M1, c]))
    assert others == set(query(db, "SELECT rule FROM flags_cleared WHERE run_month = ? AND household_id = ?",
                               [M2, c]))
    # and C is back on its community's worklist with the new plate
    row = next(r for r in sheet_rows(trip["out"] / M2 / trip["where"][c], L.WORKLIST_SHEET) if r[1] == c)
    assert "R05" in row[5] and (NEW_PLATE in row[5] or "共2条记录" in row[5])


def test_exited_household_is_on_the_exit_list(trip):
    db, b = trip["db"], trip["b"]
    assert query(db, "SELECT run_month, household_id, checked_by, checked_on FROM exits") == [
        (M1, b, "李社工", CHECKED_ON)]
    summary = trip["out"] / M2 / "summary.xlsx"
    listed = [r for r in sheet_rows(summary, "清退名单") if r[3] == b]
    assert len(listed) == 1 and listed[0][0] == M1
    # an exit is not a clearing: B's findings are not held back
    assert not query(db, "SELECT 1 FROM flags_cleared WHERE household_id = ?", [b])


def test_a_bad_file_is_rejected_whole_through_the_cli(trip):
    root, db, out = trip["root"], trip["db"], trip["out"]
    judged = {trip["a"], trip["b"], trip["c"]}
    sent = query(db, """SELECT sent_file, list(DISTINCT household_id ORDER BY household_id) FROM worklist_items
                          WHERE run_month = ? AND desk = 'community' GROUP BY 1 ORDER BY 1""", [M1])
    name, (bad, no_one, good, *_) = next((f, [h for h in hhs if h not in judged]) for f, hhs in sent
                                         if len(set(hhs) - judged) >= 3)
    path = fill(out / M1 / name, root / "rejected" / name, {
        bad: visit("属实"),  # not one of the drop-down's outcomes
        no_one: visit(L.OUTCOME_ADJUST, by=None),
        good: visit(L.OUTCOME_UNVERIFIABLE),
    })
    rows: dict[str, list[int]] = {}
    for r, (_, hh, *_) in enumerate(sheet_rows(path, L.WORKLIST_SHEET), start=2):
        rows.setdefault(hh, []).append(r)
    before = counts(db)
    result = dibao("outcomes", "import", str(path), "--db", str(db), cwd=root)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    lines = [ln.strip() for ln in result.stderr.splitlines() if ln.strip().startswith(name)]
    sheet = f"{name} 工作表“{L.WORKLIST_SHEET}”"
    expected = [text for _, text in sorted(
        [(r, f"{sheet}第{r}行 H列（核查结论）：“属实”不是有效的核查结论") for r in rows[bad]]
        + [(r, f"{sheet}第{r}行 I列（核查人）：已填写核查结论，但核查人为空") for r in rows[no_one]])]
    assert len(lines) == min(len(expected), 20), result.stderr
    assert all(sum(ln.startswith(e) for ln in lines) == 1 for e in expected[:len(lines)]), (expected, lines)
    assert f"未导入 {name}：发现 {len(expected)} 个问题，整份文件未导入" in result.stderr
    assert "导入 0 个（核查结论 0 条" in result.stdout
    assert counts(db) == before
    assert not query(db, "SELECT 1 FROM outcomes WHERE household_id IN (?, ?, ?)", [bad, no_one, good])


def test_public_notice_has_whole_names_and_no_ids(trip):
    root, db = trip["root"], trip["db"]
    notice_out = root / "notice"
    result = dibao("notice", "--db", str(db), "--month", M1, "--out", str(notice_out), cwd=root)
    assert result.returncode == 0, result.stderr
    communities = query(db, """SELECT street, community, list(household_id) FROM raw_roster_households
                               WHERE run_month = ? AND trim(status) = '在保' GROUP BY 1, 2""", [M1])
    books = sorted((notice_out / M1 / "公示").glob("*.xlsx"))
    assert sorted(b.name for b in books) == sorted(workbook_name(s, c) for s, c, _ in communities)

    ids = {i for (i,) in query(db, "SELECT id_number FROM stg_members WHERE run_month = ? AND id_number IS NOT NULL",
                               [M1])}
    beneficiaries = {(s, c): sorted(n for (n,) in query(db, """
        SELECT m.name FROM stg_members m JOIN raw_roster_households h
          ON h.run_month = m.run_month AND h.household_id = m.household_id
        WHERE m.run_month = ? AND m.is_beneficiary AND trim(h.status) = '在保'
          AND h.street = ? AND h.community = ? AND coalesce(m.name, '') <> ''""", [M1, s, c]))
        for s, c, _ in communities}
    digits = re.compile(r"\d{6}")
    for (street, community), expected in beneficiaries.items():
        wb = openpyxl.load_workbook(notice_out / M1 / "公示" / workbook_name(street, community))
        shown = []
        for ws in wb.worksheets:
            for r, row in enumerate(ws.iter_rows(values_only=True), start=1):
                for cell in row:
                    if isinstance(cell, str):
                        assert not digits.search(cell) and "*" not in cell, (street, community, cell)
                        assert not any(i in cell for i in ids), cell
                    elif isinstance(cell, int | float):
                        assert cell < 10_000_000, (street, community, cell)  # no ID stored as a number
                if ws.title == "公示" and r > 2 and isinstance(row[0], int | float) and row[2]:
                    shown += [n.split("（")[0] for n in row[2].split("、")]  # 张伟（户主）
        assert sorted(shown) == expected, (street, community)
