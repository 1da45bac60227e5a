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


def fill(src: Path, dest: Path, entries: dict, edit=None, sheet: str = L.WORKLIST_SHEET) -> Path:
    """Fill answer cells as a caseworker would. `entries` maps a household id (every row of it) or
    (household id, rule) (that finding's row) to {header: value}; `edit(ws, header)` tampers."""
    wb = openpyxl.load_workbook(src)
    ws = wb[sheet]
    header = {c.value: c.column for c in ws[1]}
    rule_col = "疑点" if sheet == L.WORKLIST_SHEET else None
    for r in range(2, ws.max_row + 1):
        hh = ws.cell(r, header["低保户编号"]).value
        rule = (ws.cell(r, header[rule_col]).value or "")[1:4] if rule_col else None
        values = {**entries.get(hh, {}), **entries.get((hh, rule), {})}
        for col, v in values.items():
            ws.cell(r, header[col]).value = v
    if edit:
        edit(ws, header)
    dest.parent.mkdir(parents=True, exist_ok=True)
    wb.save(dest)
    return dest


def visit(outcome: str, by: str = "李社工", on: object = dt.date(2024, 4, 8), note: str | None = None) -> dict:
    return {"核查结论": outcome, "核查人": by, "核查日期": on, "备注": note}


def verdicts(con) -> list[tuple]:
    return con.execute("SELECT household_id, rule, outcome FROM outcomes_latest ORDER BY ALL").fetchall()


def test_a_verdict_per_finding_suppresses_only_that_finding_and_new_evidence_raises_it(con, sent, tmp_path):
    back = tmp_path / "back"
    minzhu = fill(sent[MINZHU], back / MINZHU, {
        ("HH-0002", "R05"): visit(L.OUTCOME_CLEARED, note="车辆已于2023年转让，有过户凭证"),
        ("HH-0003", "R06"): visit(L.OUTCOME_CLEARED, on="2024/4/9"),
        ("HH-0001", "R01"): visit(L.OUTCOME_EXIT, on="20240410"),
    })
    qianjin = fill(sent[QIANJIN], back / QIANJIN, {("HH-0004", "R04"): visit(L.OUTCOME_ADJUST)})
    result = import_outcomes(con, [minzhu, qianjin], imported_by="街道民政专干", today=TODAY)
    assert result.ok and result.imported == [minzhu, qianjin], result.problems
    assert result.rows_imported == 4 and result.rows_blank == 4  # the other findings not visited yet
    got = con.execute("SELECT household_id, rule, source, evidence_key, outcome, checked_by, checked_on, note, "
                      "community, file_name FROM outcomes ORDER BY household_id, rule").fetchall()
    assert got == [
        ("HH-0001", "R01", "deaths", "k-d001", L.OUTCOME_EXIT, "李社工", dt.date(2024, 4, 10), None, "民主社区", MINZHU),
        ("HH-0002", "R05", "vehicles", "k-v201", L.OUTCOME_CLEARED, "李社工", dt.date(2024, 4, 8),
         "车辆已于2023年转让，有过户凭证", "民主社区", MINZHU),
        ("HH-0003", "R06", "properties", "k-e301", L.OUTCOME_CLEARED, "李社工", dt.date(2024, 4, 9), None,
         "民主社区", MINZHU),
        ("HH-0004", "R04", "housing_fund", "k-f401", L.OUTCOME_ADJUST, "李社工", dt.date(2024, 4, 8), None,
         "前进社区", QIANJIN)]
    assert con.execute("SELECT household_id, benefit_monthly, rules FROM exits").fetchall() == [
        ("HH-0001", 1260.0, "R01")]

    # month 2: the same evidence everywhere, but new evidence (another property record) for HH-0003
    flags_m2 = [f if f[0] != "HH-0003" or f[2] != "R06" else (*f[:4], "E302", "probable", 0.93,
                                                               "不动产 E302：车库 20㎡ 现势", "k-e302")
                for f in FLAGS_M1]
    build_month(con, MONTH2, flags_m2)
    assert suppress_cleared(con, MONTH2) == 1  # HH-0002's vehicle only: its R10 was not judged
    cleared = con.execute("SELECT household_id, rule, evidence_key, cleared_in_month, outcome_file, reason "
                          "FROM flags_cleared ORDER BY rule").fetchall()
    assert cleared == [("HH-0002", "R05", "k-v201", MONTH, MINZHU, L.OUTCOME_CLEARED)]
    left = set(con.execute("SELECT household_id, rule FROM flags WHERE run_month = ? AND match_class <> 'possible'",
                           [MONTH2]).fetchall())
    assert ("HH-0002", "R05") not in left and {("HH-0002", "R10"), ("HH-0003", "R06"), ("HH-0001", "R01")} <= left
    assert suppress_cleared(con, MONTH2) == 1  # calling again changes nothing
    assert con.execute("SELECT count(*) FROM flags_cleared").fetchone()[0] == 1
    assert con.execute("SELECT count(*) FROM flags WHERE run_month = ?", [MONTH2]).fetchone()[0] == len(flags_m2) - 1

    paths = {p.name: p for p in write_worklists(con, MONTH2, tmp_path / "out")}
    rows = worklist_rows(paths[MINZHU])
    assert [(r["低保户编号"], r["疑点"][1:4]) for r in rows] == [
        ("HH-0001", "R01"), ("HH-0001", "R02"), ("HH-0001", "X03"), ("HH-0003", "R06"), ("HH-0002", "R10")]
    # the earlier verdict beside the finding it was given on; new evidence said so
    assert "2024年3月清单曾核查：属实-清退，李社工 2024-04-10；证据未变" in rows[0]["疑点"]
    assert "2024年3月清单曾核查：不属实-继续保障，李社工 2024-04-09；本月证据有变化" in rows[3]["疑点"]
    assert "曾核查" not in rows[4]["疑点"]
    wb = openpyxl.load_workbook(write_summary(con, MONTH2, tmp_path / "out"))
    assert [(r[2], r[5][:3], r[9]) for r in wb["已核销疑点"].iter_rows(min_row=2, values_only=True)] == [
        ("HH-0002", "R05", L.OUTCOME_CLEARED)]
    assert [r[3] for r in wb["清退名单"].iter_rows(min_row=2, max_row=2, values_only=True)] == ["HH-0001"]


def test_rerunning_the_month_writes_every_verdict_back_locked_and_counts_what_is_open(con, sent, tmp_path):
    f = fill(sent[MINZHU], tmp_path / "back" / MINZHU, {
        ("HH-0002", "R05"): visit(L.OUTCOME_CLEARED, note="已过户"), ("HH-0001", "R01"): visit(L.OUTCOME_EXIT)})
    assert import_outcomes(con, [f], today=TODAY).ok
    again = {p.name: p for p in write_worklists(con, MONTH, tmp_path / "out2")}[MINZHU]
    wb = openpyxl.load_workbook(again)
    ws = wb[L.WORKLIST_SHEET]
    header = {c.value: c.column for c in ws[1]}
    by_finding = {(ws.cell(r, header["低保户编号"]).value, ws.cell(r, header["疑点"]).value[1:4]): r
                  for r in range(2, ws.max_row + 1)}
    assert len(by_finding) == 6  # every finding still listed
    r = by_finding[("HH-0002", "R05")]
    assert [ws.cell(r, header[h]).value for h in ("核查结论", "核查人", "备注")] == [L.OUTCOME_CLEARED, "李社工", "已过户"]
    assert ws.cell(r, header["核查日期"]).value.date() == dt.date(2024, 4, 8)
    assert all(ws.cell(r, header[h]).protection.locked for h in ("核查结论", "核查人", "核查日期", "备注"))
    open_row = by_finding[("HH-0002", "R10")]
    assert ws.cell(open_row, header["核查结论"]).value is None
    assert not ws.cell(open_row, header["核查结论"]).protection.locked
    cover = [v for row in wb[L.COVER_SHEET].iter_rows(values_only=True) for v in row if isinstance(v, str)]
    assert "已反馈 2 条，尚待核查 4 条" in cover

    # sent back untouched, the regenerated file adds nothing; with a new verdict, only that one
    same = fill(again, tmp_path / "back2" / MINZHU, {})
    result = import_outcomes(con, [same], today=TODAY)
    assert result.already_imported == [same] and result.ok
    more = fill(again, tmp_path / "back3" / MINZHU, {("HH-0002", "R10"): visit(L.OUTCOME_UNVERIFIABLE)})
    result = import_outcomes(con, [more], today=TODAY)
    assert result.imported == [more] and result.rows_imported == 1 and result.files[0].unchanged == 2
    assert len(verdicts(con)) == 3


def test_reimporting_the_same_verdicts_changes_nothing_even_resaved(con, sent, tmp_path):
    f = fill(sent[MINZHU], tmp_path / "back" / MINZHU, {("HH-0002", "R05"): visit(L.OUTCOME_CLEARED)})
    assert import_outcomes(con, [f], today=TODAY).imported == [f]
    again = import_outcomes(con, [f, f], today=TODAY)
    assert again.imported == [] and again.already_imported == [f, f] and again.ok
    resaved = fill(f, tmp_path / "resaved" / MINZHU, {},  # new bytes (saved by another program), the same verdicts
                   edit=lambda ws, _: setattr(ws.parent.properties, "lastModifiedBy", "WPS 表格"))
    assert resaved.read_bytes() != f.read_bytes()
    third = import_outcomes(con, [resaved], today=TODAY)
    assert third.already_imported == [resaved] and "内容与已导入的相同" in third.report_lines()[0]
    assert con.execute("SELECT count(*) FROM outcomes").fetchone()[0] == 1
    assert con.execute("SELECT count(*) FROM outcome_files").fetchone()[0] == 1


def test_a_later_file_supersedes_the_earlier_and_both_are_kept(con, sent, tmp_path):
    first = fill(sent[MINZHU], tmp_path / "a" / MINZHU, {("HH-0002", "R05"): visit(L.OUTCOME_UNVERIFIABLE)})
    second = fill(sent[MINZHU], tmp_path / "b" / MINZHU, {("HH-0002", "R05"): visit(L.OUTCOME_ADJUST, on="2024-04-20")})
    assert import_outcomes(con, [first, second], today=TODAY).ok
    assert con.execute("SELECT count(*) FROM outcomes").fetchone()[0] == 2
    assert con.execute("SELECT outcome, checked_on FROM outcomes_latest").fetchall() == [
        (L.OUTCOME_ADJUST, dt.date(2024, 4, 20))]


def _set_row(household: str, column: str, value: object, rule: str | None = None):
    def edit(ws, header):
        for r in range(2, ws.max_row + 1):
            if ws.cell(r, header["低保户编号"]).value == household and (
                    rule is None or ws.cell(r, header["疑点"]).value[1:4] == rule):
                ws.cell(r, header[column]).value = value
    return edit


# HH-0002's rows are 5 (R05) and 6 (R10): columns H 核查结论, I 核查人, J 核查日期
W = f"{MINZHU} 工作表“核查清单”"


@pytest.mark.parametrize("entries, edit, expected", [
    ({("HH-0002", "R05"): visit("属实")}, None,
     f"{W}第5行 H列（核查结论）：“属实”不是有效的核查结论（只能从下拉列表选择：属实-清退、属实-调整保障金、不属实-继续保障、无法核实、同上）"),
    ({("HH-0002", "R05"): visit(L.OUTCOME_EXIT, by=None)}, None,
     f"{W}第5行 I列（核查人）：已填写核查结论，但核查人为空"),
    ({("HH-0002", "R05"): visit(L.OUTCOME_EXIT, on=None)}, None, f"{W}第5行 J列（核查日期）：已填写核查结论，但核查日期为空"),
    ({("HH-0002", "R05"): visit(L.OUTCOME_EXIT, on="2024-13-01")}, None,
     f"{W}第5行 J列（核查日期）：“2024-13-01”不是日期（请写成 2024-03-05、2024/3/5 或 20240305）"),
    ({("HH-0002", "R05"): visit(L.OUTCOME_EXIT, on="2023-12-01")}, None,
     f"{W}第5行 J列（核查日期）：2023-12-01 不在 2024-03-01 至 2024-05-20 之间"),
    ({("HH-0002", "R05"): visit('="属实-清退"')}, None,
     f'{W}第5行 H列（核查结论）：单元格中是公式“="属实-清退"”，不接受公式，请直接填写内容'),
    ({("HH-0002", "R05"): visit(L.OUTCOME_EXIT, on="=TODAY()")}, None,
     f"{W}第5行 J列（核查日期）：单元格中是公式“=TODAY()”，不接受公式"),
    ({}, _set_row("HH-0002", "户主姓名", "王小芳"), f"{W}第5行 C列（户主姓名）：锁定的单元格被改动（“王小芳”）"),
    ({}, _set_row("HH-0002", "月保障金额", 99999), f"{W}第5行 E列（月保障金额）：锁定的单元格被改动（“99999”）"),
    ({}, _set_row("HH-0002", "疑点", "无疑点", rule="R05"), f"{W}第5行 F列（疑点）：锁定的单元格被改动（“无疑点”）"),
    ({}, _set_row("HH-0002", "优先级", "一般", rule="R05"), f"{W}第5行 G列（优先级）：锁定的单元格被改动"),
    ({("HH-0002", "R05"): visit(L.OUTCOME_EXIT)}, _set_row("HH-0002", "_row_key", f"{MONTH}|HH-0004", rule="R05"),
     f"{W}第5行 B列（低保户编号）：低保户 HH-0004 的这条记录不是 2024-03 在本文件中下发的"),
    ({("HH-0002", "R05"): visit(L.OUTCOME_EXIT)}, _set_row("HH-0002", "_finding_key", "0123456789abcdef", rule="R05"),
     f"{W}第5行 B列（低保户编号）：低保户 HH-0002 的这条记录不是 2024-03 在本文件中下发的"),
    ({("HH-0002", "R05"): visit(L.OUTCOME_EXIT)}, _set_row("HH-0002", "_row_key", None, rule="R05"),
     f"{W}第5行 M列（_finding_key）：隐藏的校验列缺失或损坏（请勿增加、复制或重新输入行）"),
    ({("HH-0002", "R05"): visit(L.OUTCOME_EXIT)}, _set_row("HH-0002", "_row_key", "2024-02|HH-0002", rule="R05"),
     f"{W}第5行 L列（_row_key）：该行属于 2024-02 的清单，而文件是 2024-03 的"),
])
def test_a_file_with_any_problem_is_rejected_whole_in_chinese(con, sent, tmp_path, entries, edit, expected):
    good = {("HH-0003", "R06"): visit(L.OUTCOME_CLEARED)}  # a valid row in the same file is not imported either
    f = fill(sent[MINZHU], tmp_path / "back" / MINZHU, {**good, **entries}, edit)
    result = import_outcomes(con, [f], today=TODAY)
    assert result.rejected == [f] and result.imported == []
    assert any(p.startswith(expected) for p in result.problems), result.problems
    assert all(p.startswith(f"{W}第") for p in result.problems), result.problems
    assert con.execute("SELECT count(*) FROM outcomes").fetchone()[0] == 0
    with pytest.raises(OutcomeFileRejected, match=re.escape(expected[:40])):
        result.raise_if_rejected()


def test_a_written_back_verdict_cannot_be_changed_in_the_regenerated_file(con, sent, tmp_path):
    f = fill(sent[MINZHU], tmp_path / "back" / MINZHU, {("HH-0002", "R05"): visit(L.OUTCOME_CLEARED)})
    assert import_outcomes(con, [f], today=TODAY).ok
    again = {p.name: p for p in write_worklists(con, MONTH, tmp_path / "out2")}[MINZHU]
    changed = fill(again, tmp_path / "back2" / MINZHU, {("HH-0002", "R05"): {"核查结论": L.OUTCOME_EXIT}})
    result = import_outcomes(con, [changed], today=TODAY)
    assert result.rejected == [changed]
    assert result.problems == [f"{W}第5行 H列（核查结论）：锁定的单元格被改动（“{L.OUTCOME_EXIT}”）；"
                               "系统写入的内容不得修改，请在原文件上重新填写"]
    assert verdicts(con) == [("HH-0002", "R05", L.OUTCOME_CLEARED)]


def test_every_problem_is_reported_at_once_and_good_files_still_import(con, sent, tmp_path):
    bad = fill(sent[MINZHU], tmp_path / "back" / MINZHU, {
        ("HH-0001", "R01"): visit("属实"), ("HH-0002", "R05"): visit(L.OUTCOME_EXIT, by="", on="昨天")})
    good = fill(sent[QIANJIN], tmp_path / "back" / QIANJIN, {"HH-0004": visit(L.OUTCOME_EXIT)})
    result = import_outcomes(con, [bad, good], today=TODAY)
    assert result.imported == [good] and result.rejected == [bad] and len(result.problems) == 3
    assert [f.status for f in result.files] == ["rejected", "imported"]
    assert con.execute("SELECT DISTINCT household_id FROM outcomes").fetchall() == [("HH-0004",)]
    lines = result.report_lines()
    assert lines[0] == f"未导入 {MINZHU}：发现 3 个问题，整份文件未导入"
    assert lines[-1].startswith(f"已导入 {QIANJIN}：核查结论 2 条")


def test_many_problems_are_summarised_per_file(con, sent, tmp_path):
    bad = fill(sent[MINZHU], tmp_path / "back" / MINZHU, {"HH-0001": visit("属实", by="")})  # 2 problems x 3 rows
    result = import_outcomes(con, [bad], today=TODAY)
    lines = result.report_lines(shown=4)
    assert len(result.problems) == 6 and len(lines) == 1 + 4 + 1
    assert lines[-1] == "  ……另有 2 个问题未列出（共 6 个）"
    with pytest.raises(OutcomeFileRejected) as caught:
        result.raise_if_rejected()
    assert str(caught.value).startswith("1 个文件未导入，共 6 个问题")


def test_files_not_produced_by_dibao_are_refused_in_one_line(con, sent, tmp_path):
    plain = tmp_path / "plain.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["低保户编号", "核查结论"])
    wb.save(plain)
    text = tmp_path / "notes.xlsx"
    text.write_text("not a workbook", encoding="utf-8")
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)  # what Excel 97-2003 and WPS write
    xls, et = tmp_path / "民主社区.xls", tmp_path / "民主社区.et"
    xls.write_bytes(ole)
    et.write_bytes(ole)
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04" + bytes(100))
    result = import_outcomes(con, [plain, text, xls, et, broken, tmp_path / "missing.xlsx"], today=TODAY)
    assert result.rejected == [plain, text, xls, et, broken, tmp_path / "missing.xlsx"]
    assert [len(f.problems) for f in result.files] == [1] * 6
    assert result.problems[0] == ("plain.xlsx：不是 dibao 生成的核查清单（缺少系统校验信息）；"
                                  "请发回 dibao 生成的原文件，填写后保存")
    assert result.problems[1].startswith("notes.xlsx：不是 Excel 工作簿（.xlsx），dibao 无法读取")
    for p, name in ((result.problems[2], xls.name), (result.problems[3], et.name)):
        assert p == (f"{name}：这是 Excel 97-2003（.xls）或 WPS 表格（.et）格式的文件，dibao 只能读取 .xlsx；"
                     "请用 Excel 或 WPS 打开它，“另存为” Excel 工作簿（*.xlsx）后再导入")
    assert result.problems[4].startswith("broken.xlsx：文件已损坏或不是 Excel 工作簿（.xlsx）")
    assert result.problems[5].startswith("missing.xlsx：文件不存在")


def test_an_xlsx_saved_under_an_et_name_is_read(con, sent, tmp_path):
    f = fill(sent[MINZHU], tmp_path / "back" / MINZHU, {("HH-0002", "R05"): visit(L.OUTCOME_CLEARED)})
    et = f.rename(f.with_suffix(".et"))
    result = import_outcomes(con, [et], today=TODAY)
    assert result.imported == [et] and verdicts(con) == [("HH-0002", "R05", L.OUTCOME_CLEARED)]


def test_an_old_format_file_is_refused(con, sent, tmp_path):
    wb = openpyxl.load_workbook(sent[MINZHU])
    ws = wb[L.META_SHEET]
    for row in ws.iter_rows():
        if row[0].value == "version":
            row[1].value = "1"
    old = tmp_path / "old.xlsx"
    wb.save(old)
    result = import_outcomes(con, [old], today=TODAY)
    assert result.problems == ["old.xlsx：核查清单格式版本 1 不是本系统读取的版本（2）；请填写重新下发的清单"]


def test_a_worklist_regenerated_since_makes_the_old_file_stale(con, sent, tmp_path):
    old = shutil.copy(sent[MINZHU], tmp_path / "old.xlsx")
    con.execute("UPDATE flag_keys SET evidence_key = 'k-v201-new' WHERE evidence_key = 'k-v201'")
    write_worklists(con, MONTH, tmp_path / "out")
    f = fill(Path(old), tmp_path / "back" / MINZHU, {("HH-0002", "R05"): visit(L.OUTCOME_CLEARED)})
    result = import_outcomes(con, [f], today=TODAY)
    assert result.rejected == [f] and "清单可能已重新生成" in result.problems[0]


@pytest.mark.parametrize("value, expected", [
    (dt.datetime(2024, 4, 8, 0, 0), dt.date(2024, 4, 8)), ("2024-04-08", dt.date(2024, 4, 8)),
    ("2024/4/8", dt.date(2024, 4, 8)), ("20240408", dt.date(2024, 4, 8)), ("2024年4月8日", dt.date(2024, 4, 8)),
    (45390, dt.date(2024, 4, 8)), ("2024-02-30", None), ("下周", None), (True, None),
])
def test_check_dates_as_people_type_them(value, expected):
    assert parse_check_date(value) == expected


def _review(path: Path) -> list[dict]:
    ws = openpyxl.load_workbook(path)[L.REVIEW_SHEET]
    header = [c.value for c in ws[1]]
    return [dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True) if r[-1]]


def confirm(decision: str, by: str = "王专干", on: object = dt.date(2024, 4, 12)) -> dict:
    return {"确认结果": decision, "确认人": by, "确认日期": on}


@pytest.mark.parametrize("decision", [L.LINK_SAME, L.LINK_DIFFERENT, L.LINK_UNSURE])
def test_the_review_sheets_answer_comes_back_and_decides_the_link_next_run(con, sent, tmp_path, decision):
    assert [(r["低保户编号"], r["来源记录编号"], r["确认结果"]) for r in _review(sent[MINZHU])] == [
        ("HH-0003", "P777", None)]
    f = fill(sent[MINZHU], tmp_path / "back" / MINZHU, {"HH-0003": confirm(decision)}, sheet=L.REVIEW_SHEET)
    result = import_outcomes(con, [f], today=TODAY)
    assert result.ok and result.links_imported == 1, result.problems
    assert result.report_lines()[0].startswith(f"已导入 {MINZHU}：核查结论 0 条，人工确认 1 条")
    assert con.execute("SELECT household_id, rule, source, source_record_id, evidence_key, decision, decided_by "
                       "FROM link_decisions").fetchall() == [
        ("HH-0003", "R02", "pensions", "P777", "k-p777", decision, "王专干")]

    build_month(con, MONTH2)  # the same flags next month: the same possible link, the same evidence
    suppress_cleared(con, MONTH2)
    row = con.execute("SELECT match_class, evidence FROM flags WHERE run_month = ? AND source_record_id = 'P777'",
                      [MONTH2]).fetchall()
    books = {p.name: p for p in write_worklists(con, MONTH2, tmp_path / "out")}
    findings = [(r["低保户编号"], r["疑点"][1:4]) for r in worklist_rows(books[MINZHU])]
    review = _review(books[MINZHU])
    if decision == L.LINK_SAME:  # a finding now, on the worklist, with who confirmed it
        assert row[0][0] == "probable" and row[0][1].endswith("；经人工确认为同一人（王专干 2024-04-12）")
        assert ("HH-0003", "R02") in findings and review == []
    elif decision == L.LINK_DIFFERENT:  # never proposed again while the evidence is the same
        assert row == [] and review == [] and ("HH-0003", "R02") not in findings
        assert con.execute("SELECT rule, source_record_id, reason FROM flags_cleared WHERE run_month = ?",
                           [MONTH2]).fetchall() == [("R02", "P777", L.LINK_DIFFERENT)]
    else:  # still to be looked at, the answer shown, grey and locked
        assert row[0][0] == "possible" and ("HH-0003", "R02") not in findings
        assert [(r["确认结果"], r["确认人"]) for r in review] == [(L.LINK_UNSURE, "王专干")]

    # new evidence on the same member and record: proposed again, whatever was answered
    changed = [f if f[4] != "P777" else (*f[:8], "k-p777-new") for f in FLAGS_M1]
    build_month(con, MONTH2, changed)
    suppress_cleared(con, MONTH2)
    assert con.execute("SELECT match_class FROM flags WHERE run_month = ? AND source_record_id = 'P777'",
                       [MONTH2]).fetchall() == [("possible",)]


def test_a_review_answer_off_the_drop_down_is_refused_naming_the_cell(con, sent, tmp_path):
    f = fill(sent[MINZHU], tmp_path / "back" / MINZHU, {"HH-0003": confirm("是")}, sheet=L.REVIEW_SHEET)
    result = import_outcomes(con, [f], today=TODAY)
    assert result.problems == [f"{MINZHU} 工作表“待人工确认”第2行 L列（确认结果）：“是”不是有效的确认结果"
                               "（只能从下拉列表选择：是同一人、不是同一人、无法确认）"]
    g = fill(sent[MINZHU], tmp_path / "back2" / MINZHU, {"HH-0003": confirm(L.LINK_SAME, by=None)},
             sheet=L.REVIEW_SHEET)
    assert import_outcomes(con, [g], today=TODAY).problems == [
        f"{MINZHU} 工作表“待人工确认”第2行 M列（确认人）：已填写确认结果，但确认人为空（请填写是谁核查的）"]
    h = fill(sent[MINZHU], tmp_path / "back3" / MINZHU, {}, sheet=L.REVIEW_SHEET,
             edit=lambda ws, header: setattr(ws.cell(2, header["匹配说明"]), "value", "身份证号一致"))
    assert import_outcomes(con, [h], today=TODAY).problems[0].startswith(
        f"{MINZHU} 工作表“待人工确认”第2行 J列（匹配说明）：锁定的单元格被改动")
    assert con.execute("SELECT count(*) FROM link_decisions").fetchone()[0] == 0


def test_same_as_above_gives_a_households_findings_one_verdict_where_asked(con, sent, tmp_path):
    f = fill(sent[MINZHU], tmp_path / "back" / MINZHU, {
        ("HH-0001", "R01"): visit(L.OUTCOME_EXIT, on="2024-04-09", note="已死亡，户口已注销"),
        ("HH-0001", "R02"): {"核查结论": L.OUTCOME_SAME_AS_ABOVE},
        ("HH-0001", "X03"): {"核查结论": L.OUTCOME_SAME_AS_ABOVE, "备注": "身份证号录错"},
        ("HH-0002", "R10"): visit(L.OUTCOME_CLEARED)})  # R05 above it left blank: R10 judged alone
    result = import_outcomes(con, [f], today=TODAY)
    assert result.ok and result.rows_imported == 4, result.problems
    assert con.execute("SELECT household_id, rule, outcome, checked_by, checked_on, note FROM outcomes "
                       "ORDER BY household_id, rule").fetchall() == [
        ("HH-0001", "R01", L.OUTCOME_EXIT, "李社工", dt.date(2024, 4, 9), "已死亡，户口已注销"),
        ("HH-0001", "R02", L.OUTCOME_EXIT, "李社工", dt.date(2024, 4, 9), "已死亡，户口已注销"),
        ("HH-0001", "X03", L.OUTCOME_EXIT, "李社工", dt.date(2024, 4, 9), "身份证号录错"),
        ("HH-0002", "R10", L.OUTCOME_CLEARED, "李社工", dt.date(2024, 4, 8), None)]


@pytest.mark.parametrize("entries", [
    {("HH-0002", "R05"): {"核查结论": L.OUTCOME_SAME_AS_ABOVE}},  # the row above is another household's
    {("HH-0002", "R10"): {"核查结论": L.OUTCOME_SAME_AS_ABOVE}},  # the row above has no verdict
])
def test_same_as_above_needs_a_verdict_of_the_same_household_above(con, sent, tmp_path, entries):
    f = fill(sent[MINZHU], tmp_path / "back" / MINZHU, entries)
    row = 5 if ("HH-0002", "R05") in entries else 6
    assert import_outcomes(con, [f], today=TODAY).problems == [
        f"{W}第{row}行 H列（核查结论）：“同上”只能用于同一户的第二条及以后的疑点，且上一行已填写核查结论"]


def test_a_copied_row_a_deleted_column_or_sheet_is_refused_naming_it(con, sent, tmp_path):
    def copy_row(ws, header):  # row 6 made a copy of row 5 (HH-0002's R05), keys and all
        for c in range(1, ws.max_column + 1):
            ws.cell(6, c).value = ws.cell(5, c).value
    f = fill(sent[MINZHU], tmp_path / "a" / MINZHU, {}, copy_row)
    assert import_outcomes(con, [f], today=TODAY).problems == [
        f"{W}第6行 M列（_finding_key）：同一条记录再次出现（第一次在第5行）"]

    wb = openpyxl.load_workbook(sent[MINZHU])
    wb[L.WORKLIST_SHEET].delete_cols(11)  # 备注
    del wb[L.REVIEW_SHEET]
    g = tmp_path / "b" / MINZHU
    g.parent.mkdir()
    wb.save(g)
    assert import_outcomes(con, [g], today=TODAY).problems == [
        f"{MINZHU} 工作表“核查清单”第1行：缺少列 备注（请勿删除或改名列）",
        f"{MINZHU}：缺少工作表“待人工确认”（请勿删除或改名工作表）"]
    assert con.execute("SELECT count(*) FROM outcome_files").fetchone()[0] == 0
