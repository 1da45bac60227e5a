"""Worklists, summary and public notice, opened back with openpyxl and checked cell by cell.

The tables the writers read are built by hand here (`build_month`), as the contract and
docs/design.md lay them out; `test_outcomes.py` reuses the builders.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import time
import zipfile
from pathlib import Path

import duckdb
import openpyxl
import pytest

from matching.ids import make_id, mask
from reports import layout as L
from reports.errors import BadRunMonth
from reports.notice import write_notice
from reports.summary import write_summary
from reports.worklists import write_worklists

MONTH = "2024-03"
STREET = "江汉街道"
FULL_ID = re.compile(r"[0-9]{17}[0-9X]")

ID = {
    "zhangwei": make_id("420102", dt.date(1960, 5, 1), 11),
    "lina": make_id("420102", dt.date(1962, 7, 9), 22),
    "wangfang": make_id("420102", dt.date(1975, 1, 20), 32),
    "zhaoqiang": make_id("420103", dt.date(1980, 3, 3), 41),
    "liuyang": make_id("420103", dt.date(1958, 12, 1), 51),
    "chenjing": make_id("420103", dt.date(1990, 6, 6), 62),
    "sunli": make_id("420104", dt.date(1970, 2, 2), 72),
    "zhoupeng": make_id("420104", dt.date(1950, 8, 8), 81),
}
BAD_ID = "4201022010010112"  # 16 characters: X03

# household_id, community, address, enrolled_on, benefit, status
HOUSEHOLDS = [
    ("HH-0001", "民主社区", "民主路12号3-201", dt.date(2019, 4, 1), 1260.0, "在保"),
    ("HH-0002", "民主社区", "民主路8号1-102", dt.date(2015, 1, 1), 680.0, "在保"),
    ("HH-0003", "民主社区", "民主路20号5-501", dt.date(2022, 9, 1), 540.0, "在保"),
    ("HH-0004", "前进社区", "前进四路33号", dt.date(2021, 6, 1), 900.0, "在保"),
    ("HH-0005", "前进社区", "前进四路41号", dt.date(2023, 2, 1), 450.0, "在保"),
    ("HH-0006", "和平社区", "和平大道100号", dt.date(2020, 1, 1), 720.0, "在保"),
    ("HH-0007", "幸福社区", "幸福路1号", dt.date(2018, 1, 1), 600.0, "停保"),
]
# household_id, name, id_number, relation, is_beneficiary
MEMBERS = [
    ("HH-0001", "张伟", ID["zhangwei"], "户主", True),
    ("HH-0001", "李娜", ID["lina"], "配偶", True),
    ("HH-0001", "张小明", BAD_ID, "子女", False),
    ("HH-0002", "王芳", ID["wangfang"], "户主", True),
    ("HH-0003", "赵强", ID["zhaoqiang"], "户主", True),
    ("HH-0004", "刘洋", ID["liuyang"], "户主", True),
    ("HH-0005", "陈静", ID["chenjing"], "户主", True),
    ("HH-0006", "孙丽", ID["sunli"], "户主", True),
    ("HH-0007", "周鹏", ID["zhoupeng"], "户主", True),
]
# household_id, id_number, rule, source, record, class, score, evidence, evidence_key
FLAGS_M1 = [
    ("HH-0001", ID["lina"], "R01", "deaths", "D001", "exact", 1.0,
     f"死亡登记 D001：姓名李娜、身份证号{ID['lina']}一致，死亡日期2024-02-10", "k-d001"),
    ("HH-0001", ID["zhangwei"], "R02", "pensions", "P101", "probable", 0.9,
     "养老金发放 P101：姓名同音（章伟），身份证号一位不同，2024-02发放2100元", "k-p101"),
    ("HH-0001", BAD_ID, "X03", "roster_members", None, "exact", 1.0, "身份证号位数错误（16位）", "k-x03"),
    ("HH-0002", ID["wangfang"], "R05", "vehicles", "V201", "exact", 1.0,
     "机动车 V201：鄂A12345 小型轿车(K33) 状态正常", "k-v201"),
    ("HH-0002", None, "R10", "roster_households", None, "exact", 1.0, "2015-01-01起连续享受低保9年", "k-r10-2015"),
    ("HH-0003", ID["zhaoqiang"], "R06", "properties", "E301", "probable", 0.92,
     "不动产 E301：商铺 45㎡ 现势", "k-e301"),
    ("HH-0003", ID["zhaoqiang"], "R02", "pensions", "P777", "possible", 0.61,
     f"养老金 P777：姓名赵刚，身份证号{ID['zhaoqiang'][:-1]}0 相近，需人工确认", "k-p777"),
    ("HH-0004", ID["liuyang"], "R04", "housing_fund", "F401", "exact", 1.0,
     "公积金 F401：某物流公司 2024-02缴存 300元", "k-f401"),
    ("HH-0004", ID["liuyang"], "R02", "pensions", "P402", "exact", 0.98, "养老金 P402：2024-01发放1800元", "k-p402"),
    ("HH-0007", ID["zhoupeng"], "R01", "deaths", "D009", "exact", 1.0, "停保户不应出现", "k-d009"),
]


def build_month(con: duckdb.DuckDBPyConnection, month: str, flags=FLAGS_M1) -> None:
    """Create (if needed) and fill the input tables for one month: roster, members, flags, flag_keys."""
    con.execute("""CREATE TABLE IF NOT EXISTS raw_roster_households (run_month VARCHAR, household_id VARCHAR,
        district_code VARCHAR, street VARCHAR, community VARCHAR, address VARCHAR, enrolled_on DATE,
        benefit_monthly DOUBLE, status VARCHAR, _source_file VARCHAR, _row_number INTEGER)""")
    con.execute("""CREATE TABLE IF NOT EXISTS stg_members (run_month VARCHAR, member_key VARCHAR,
        household_id VARCHAR, name VARCHAR, id_number VARCHAR, id_status VARCHAR, relation VARCHAR,
        is_beneficiary BOOLEAN, monthly_income DOUBLE)""")
    con.execute("""CREATE TABLE IF NOT EXISTS flags (run_month VARCHAR, household_id VARCHAR, id_number VARCHAR,
        rule VARCHAR, source VARCHAR, source_record_id VARCHAR, match_class VARCHAR, match_score DOUBLE,
        evidence VARCHAR)""")
    con.execute("""CREATE TABLE IF NOT EXISTS flag_keys (run_month VARCHAR, household_id VARCHAR,
        id_number VARCHAR, rule VARCHAR, source VARCHAR, evidence_key VARCHAR)""")
    for table in ("raw_roster_households", "stg_members", "flags", "flag_keys"):
        con.execute(f"DELETE FROM {table} WHERE run_month = ?", [month])
    for i, (hh, comm, addr, enrolled, benefit, status) in enumerate(HOUSEHOLDS, 2):
        con.execute("INSERT INTO raw_roster_households VALUES (?, ?, '420102', ?, ?, ?, ?, ?, ?, 'roster_households.csv', ?)",
                    [month, hh, STREET, comm, addr, enrolled, benefit, status, i])
    for i, (hh, name, idn, rel, ben) in enumerate(MEMBERS):
        con.execute("INSERT INTO stg_members VALUES (?, ?, ?, ?, ?, 'valid', ?, ?, 0)",
                    [month, f"{hh}#{i}", hh, name, idn, rel, ben])
    for hh, idn, rule, source, rec, cls, score, evidence, key in flags:
        con.execute("INSERT INTO flags VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [month, hh, idn, rule, source, rec, cls, score, evidence])
        con.execute("INSERT INTO flag_keys VALUES (?, ?, ?, ?, ?, ?)", [month, hh, idn, rule, source, key])


@pytest.fixture
def con():
    c = duckdb.connect(":memory:")
    build_month(c, MONTH)
    yield c
    c.close()


@pytest.fixture
def written(con, tmp_path):
    return write_worklists(con, MONTH, tmp_path)


def by_name(paths: list[Path]) -> dict[str, Path]:
    return {p.name: p for p in paths}


def all_cells(path: Path):
    wb = openpyxl.load_workbook(path)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.value is not None:
                    yield ws.title, cell.coordinate, str(cell.value)


def column_hidden(ws, letter: str) -> bool:
    """openpyxl folds neighbouring columns of equal format into one dimension (min..max)."""
    index = openpyxl.utils.column_index_from_string(letter)
    return any(d.hidden for d in ws.column_dimensions.values() if d.min and d.min <= index <= d.max)


def worklist_rows(path: Path) -> list[dict]:
    ws = openpyxl.load_workbook(path)[L.WORKLIST_SHEET]
    header = [c.value for c in ws[1]]
    return [dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)]


def test_one_workbook_per_active_community_even_without_findings(written, tmp_path):
    assert [p.name for p in written] == [f"{STREET}-前进社区.xlsx", f"{STREET}-和平社区.xlsx", f"{STREET}-民主社区.xlsx"]
    assert all(p.parent == tmp_path / MONTH for p in written)
    empty = by_name(written)[f"{STREET}-和平社区.xlsx"]
    assert worklist_rows(empty) == []
    cover = [v for _, _, v in all_cells(empty)]
    assert "0 户，疑点 0 条" in cover and "1 户" in cover  # 1 active household, none flagged
    assert any("没有需要入户核查的疑点" in v for v in cover)


def test_worklist_has_a_row_per_finding_in_priority_order(written):
    rows = worklist_rows(by_name(written)[f"{STREET}-民主社区.xlsx"])
    # households by their most pressing finding (R01 紧急, then the registries' income and assets,
    # then the roster's own arithmetic); each household's findings together, in the same order
    assert [(r["低保户编号"], r["疑点"][1:4]) for r in rows] == [
        ("HH-0001", "R01"), ("HH-0001", "R02"), ("HH-0001", "X03"),
        ("HH-0002", "R05"), ("HH-0002", "R10"), ("HH-0003", "R06")]
    assert [r["序号"] for r in rows] == [1, 1, 1, 2, 2, 3]
    assert [r["优先级"] for r in rows] == ["紧急", "高", "一般", "高", "一般", "高"]
    first = rows[0]
    assert all(r["户主姓名"] == "张伟" and r["家庭住址"] == "民主路12号3-201" and r["月保障金额"] == 1260.0
               for r in rows[:3])
    assert first["疑点"].startswith("【R01 低保对象已死亡】李娜 " + mask(ID["lina"]))
    assert "匹配度 1.00" in first["疑点"] and "死亡日期2024-02-10" in first["疑点"]
    assert ID["lina"] not in first["疑点"]  # the evidence's ID masked too
    assert rows[1]["疑点"].startswith("【R02 有家庭成员领取养老保险金】张伟 ") and "匹配度 0.90" in rows[1]["疑点"]
    assert rows[2]["疑点"].startswith("【X03 身份证号无效】张小明 " + mask(BAD_ID))
    assert "匹配度" not in rows[2]["疑点"] and "匹配度" not in rows[4]["疑点"]  # no linkage, no match score
    assert rows[4]["疑点"].startswith("【R10 连续3年以上享受低保】全户")
    assert first["_row_key"] == f"{MONTH}|HH-0001"
    assert len({r["_finding_key"] for r in rows}) == 6
    assert first["_finding_key"] == L.finding_fingerprint("HH-0001", ID["lina"], "R01", "deaths", "k-d001")
    assert all(r[h] is None for r in rows for h in ("核查结论", "核查人", "核查日期", "备注"))
    # a row's checks are letters: side by side they can never read as an ID to a scanner
    assert all(re.fullmatch(r"[a-p]{42}", r["_check"]) for r in rows)


def test_worklist_sheet_protection_validation_freeze_and_print(written):
    wb = openpyxl.load_workbook(by_name(written)[f"{STREET}-民主社区.xlsx"])
    assert wb.sheetnames == [L.COVER_SHEET, L.WORKLIST_SHEET, L.REVIEW_SHEET, L.META_SHEET]
    ws = wb[L.WORKLIST_SHEET]
    header = {c.value: c.column_letter for c in ws[1]}
    assert list(header)[:11] == ["序号", "低保户编号", "户主姓名", "家庭住址", "月保障金额", "疑点", "优先级",
                                 "核查结论", "核查人", "核查日期", "备注"]
    assert ws.protection.sheet and not ws.protection.password
    for row in range(2, 8):
        for h in ("核查结论", "核查人", "核查日期", "备注"):
            assert ws[f"{header[h]}{row}"].protection.locked is False, (h, row)
        for h in ("序号", "低保户编号", "户主姓名", "月保障金额", "疑点", "优先级", "_row_key", "_check"):
            assert ws[f"{header[h]}{row}"].protection.locked is True, (h, row)
    assert ws[f"{header['疑点']}2"].alignment.wrap_text
    assert all(column_hidden(ws, header[h]) for h in ("_row_key", "_finding_key", "_check"))
    assert not column_hidden(ws, header["备注"])
    assert ws.column_dimensions[header["疑点"]].width >= 50
    assert ws.freeze_panes == "A2"
    dvs = {dv.type: dv for dv in ws.data_validations.dataValidation}
    assert dvs["list"].formula1 == '"' + ",".join(L.OUTCOMES) + ',同上"'
    assert str(dvs["list"].sqref) == f"{header['核查结论']}2:{header['核查结论']}7"
    assert str(dvs["date"].sqref) == f"{header['核查日期']}2:{header['核查日期']}7"
    # the drop-down's example date passes the drop-down's own rule
    example = re.search(r"例如 (\d{4}-\d\d-\d\d)", dvs["date"].prompt).group(1)
    assert dt.date.fromisoformat(example) >= dt.date.fromisoformat(f"{MONTH}-01")
    assert ws.page_setup.orientation == "landscape" and int(ws.page_setup.paperSize) == 9
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.page_setup.fitToWidth in (1, None) and ws.page_setup.fitToHeight == 0
    assert ws.print_title_rows == "$1:$1"
    assert wb[L.META_SHEET].sheet_state == "veryHidden" and wb[L.META_SHEET].protection.sheet
    assert wb[L.COVER_SHEET].protection.sheet and wb[L.REVIEW_SHEET].protection.sheet
    meta = dict(wb[L.META_SHEET].iter_rows(values_only=True))
    assert meta["format"] == L.FILE_FORMAT and meta["run_month"] == MONTH and meta["community"] == "民主社区"


def test_cover_counts_by_target(written):
    ws = openpyxl.load_workbook(by_name(written)[f"{STREET}-民主社区.xlsx"])[L.COVER_SHEET]
    table = {r[0]: r[1:4] for r in ws.iter_rows(values_only=True) if r[0] and re.fullmatch(r"[RX]\d\d", str(r[0]))}
    assert len(table) == 14 and "X01" not in table  # X01 is judged by the street office
    assert table["R01"] == ("低保对象已死亡", 1, 1)
    assert table["R02"][1:] == (1, 1)  # the possible R02 is not counted as a finding
    assert table["R05"][1:] == (1, 1) and table["R11"][1:] == (0, 0)
    values = [v for r in ws.iter_rows(values_only=True) for v in r if v]
    assert "民主社区" in values and STREET in values and "2024年3月" in values and "3 户，疑点 6 条" in values


def test_review_sheet_lists_possible_matches_masked(written):
    ws = openpyxl.load_workbook(by_name(written)[f"{STREET}-民主社区.xlsx"])[L.REVIEW_SHEET]
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert len(rows) == 1
    assert rows[0][1] == "HH-0003" and rows[0][3] == "赵强" and rows[0][4] == mask(ID["zhaoqiang"])
    assert rows[0][7] == "P777" and rows[0][8] == pytest.approx(0.61)
    assert ID["zhaoqiang"][:-1] not in rows[0][9]


def test_worklist_items_record_findings_and_are_replaced_on_rerun(con, written, tmp_path):
    items = con.execute("""SELECT community, household_id, rule, evidence_key, sent_file FROM worklist_items
                           WHERE run_month = ? ORDER BY household_id, rule""", [MONTH]).fetchall()
    assert [(i[1], i[2]) for i in items] == [("HH-0001", "R01"), ("HH-0001", "R02"), ("HH-0001", "X03"),
                                            ("HH-0002", "R05"), ("HH-0002", "R10"), ("HH-0003", "R06"),
                                            ("HH-0004", "R02"), ("HH-0004", "R04")]
    assert items[0][0] == "民主社区" and items[0][4] == f"{STREET}-民主社区.xlsx" and items[0][3] == "k-d001"
    write_worklists(con, MONTH, tmp_path)
    assert con.execute("SELECT count(*) FROM worklist_items").fetchone()[0] == len(items)


def test_no_workbook_holds_another_communitys_household_or_a_full_id(con, written, tmp_path):
    write_summary(con, MONTH, tmp_path)
    write_notice(con, MONTH, tmp_path)
    community_of = {h[0]: h[1] for h in HOUSEHOLDS}
    files = sorted((tmp_path / MONTH).rglob("*.xlsx"))
    assert len(files) == 3 + 2 + 3  # worklists, the city's summary and the street's, notices
    for path in files:
        for sheet, coord, value in all_cells(path):
            assert not FULL_ID.search(value), f"{path.name} {sheet}!{coord} holds a full ID: {value}"
    for path in written:
        community = path.stem.split("-", 1)[1]
        for sheet, coord, value in all_cells(path):
            for hh, other in community_of.items():
                if other != community:
                    assert hh not in value, f"{path.name} {sheet}!{coord} names {hh} of {other}"
        listed = {r["低保户编号"] for r in worklist_rows(path)}
        assert listed <= {hh for hh, c in community_of.items() if c == community}


def test_notice_names_beneficiaries_and_amounts_and_no_id_at_all(con, tmp_path):
    paths = write_notice(con, MONTH, tmp_path, start=dt.date(2024, 4, 1))
    assert [p.parent for p in paths] == [tmp_path / MONTH / "公示"] * 3
    minzhu = next(p for p in paths if "民主" in p.name)
    cells = [v for _, _, v in all_cells(minzhu)]
    assert "张伟（户主）、李娜（配偶）" in cells and "王芳（户主）" in cells and "赵强（户主）" in cells
    assert "公示期：2024-04-01 至 2024-04-07" in cells  # notice.period_days, default 7
    assert "公示期间如有异议，请向社区居委会或街道办事处反映。" in cells
    assert openpyxl.load_workbook(minzhu).sheetnames == ["公示"]  # nobody judged 属实-清退 yet
    assert "张小明" not in " ".join(cells)  # not a beneficiary
    assert "1260" in " ".join(cells)
    for path in paths:
        for sheet, coord, value in all_cells(path):
            assert not re.search(r"\d{15}|\*{4}", value), f"{path.name} {sheet}!{coord}: {value}"
    assert not any("周鹏" in v for p in paths for _, _, v in all_cells(p))  # 停保 household


def test_notice_lists_the_households_judged_for_exit_with_the_period_and_phone(con, tmp_path):
    from reports.tables import ensure_tables

    ensure_tables(con)
    con.execute(f"""INSERT INTO outcomes (run_month, community, household_id, outcome, checked_by, checked_on, note,
                   file_name, file_sha256, imported_at, finding_key, id_number, rule, source, evidence_key)
                   VALUES ('{MONTH}', '前进社区', 'HH-0004', '属实-清退', '李四', DATE '2024-03-28', NULL, 'x.xlsx',
                   'abc', TIMESTAMP '2024-04-05 10:00:00', 'fk', ?, 'R04', 'housing_fund', 'k-f401')""",
                [ID["liuyang"]])
    con.execute("CREATE TABLE runs (run_id VARCHAR, run_month VARCHAR, started_at TIMESTAMP, status VARCHAR, "
                "policy JSON)")
    con.execute("""INSERT INTO runs VALUES ('r1', ?, now(), 'succeeded',
                   '{"notice.period_days": 10, "notice.objection_phone": "027-85551234"}')""", [MONTH])
    qianjin = next(p for p in write_notice(con, MONTH, tmp_path, start=dt.date(2024, 4, 1)) if "前进" in p.name)
    wb = openpyxl.load_workbook(qianjin)
    assert wb.sheetnames == ["公示", "拟清退公示"]
    rows = list(wb["拟清退公示"].iter_rows(min_row=3, max_row=3, values_only=True))
    assert rows == [(1, "刘洋", "有家庭成员缴纳住房公积金", 900.0)]
    cells = [v for _, _, v in all_cells(qianjin)]
    assert cells.count("公示期：2024-04-01 至 2024-04-10") == 2
    assert cells.count("公示期间如有异议，请向社区居委会或街道办事处反映，异议电话：027-85551234。") == 2


def test_summary_counts_by_community_and_rule(con, written, tmp_path):
    path = write_summary(con, MONTH, tmp_path)
    assert path == tmp_path / MONTH / "summary.xlsx"
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["概况", "疑点统计", "待确认统计", "核查进度", "清退名单", "质量警告", "已核销疑点"]
    ws = wb["疑点统计"]
    header = [c.value for c in ws[1]]
    rows = {r[1]: dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)}
    assert rows["民主社区"]["R01 低保对象已死亡"] == 1 and rows["民主社区"]["疑点户数"] == 3
    assert rows["民主社区"]["疑点合计"] == 6 and rows["前进社区"]["疑点合计"] == 2
    assert rows["和平社区"]["疑点合计"] == 0 and "幸福社区" not in rows
    possible = {r[1]: r for r in wb["待确认统计"].iter_rows(min_row=2, values_only=True)}
    assert possible["民主社区"][-1] == 1
    progress = list(wb["核查进度"].iter_rows(min_row=2, values_only=True))
    assert (MONTH, STREET, "民主社区", 3, 6, 0, 0, 0, 0, 6) in progress  # households, findings, verdicts
    assert "没有数据质量检查结果" in wb["质量警告"]["A1"].value


def test_summary_lists_failed_quality_checks_in_chinese(con, tmp_path):
    con.execute("""CREATE TABLE quality_results (run_month VARCHAR, extract VARCHAR, expectation VARCHAR,
                   severity VARCHAR, success BOOLEAN, observed VARCHAR, details VARCHAR)""")
    details = json.dumps({"message": "deaths — 2 of 37 rows fail", "examples": [
        {"_source_file": "deaths.xlsx", "_row_number": 32, "value": "2026-11-13"},
        {"_source_file": "deaths.xlsx", "_row_number": 35, "value": ID["lina"]}]})
    con.execute("INSERT INTO quality_results VALUES (?, 'deaths', 'date_in_range:death_date', 'warning', false, "
                "'5.4% (2 of 37)', ?), (?, 'pensions', 'unique:record_id', 'critical', true, '0', '')",
                [MONTH, details, MONTH])
    rows = list(openpyxl.load_workbook(write_summary(con, MONTH, tmp_path))["质量警告"].iter_rows(values_only=True))
    assert len(rows) == 2 and rows[1][:4] == (
        "死亡登记（deaths）", "“死亡日期”日期在合理范围内（不晚于核查月份月底）", "警告", "37 行中 2 行不符（5.4%）")
    assert rows[1][4] == f"例：deaths.xlsx 第32行：2026-11-13；deaths.xlsx 第35行：{mask(ID['lina'])}"
    assert not any("{" in str(v) or "rows fail" in str(v) for v in rows[1])  # no JSON, no English


def test_bad_run_month_is_refused(con, tmp_path):
    with pytest.raises(BadRunMonth, match="expected YYYY-MM"):
        write_worklists(con, "2024-3", tmp_path)


def test_an_exit_counts_as_done_only_once_the_roster_has_stopped_it(con, tmp_path):
    from reports.tables import ensure_tables

    ensure_tables(con)
    con.execute(f"""INSERT INTO outcomes (run_month, community, household_id, outcome, checked_by, checked_on, note,
                   file_name, file_sha256, imported_at, finding_key, id_number, rule, source, evidence_key)
                   VALUES ('{MONTH}', '前进社区', 'HH-0004', '属实-清退', '李四', DATE '2024-03-28', ?, 'x.xlsx',
                   'abc', TIMESTAMP '2024-04-05 10:00:00', 'fk', ?, 'R04', 'housing_fund', 'k-f401')""",
                [f"户主身份证{ID['liuyang']}已核", ID["liuyang"]])
    # judged 属实-清退, but 评议, 公示 and approval are not recorded yet: not counted as cut off
    path = write_summary(con, MONTH, tmp_path)
    assert not any(n.startswith("xl/charts/chart") for n in zipfile.ZipFile(path).namelist())
    wb = openpyxl.load_workbook(path)
    rows = list(wb["清退名单"].iter_rows(values_only=True))
    assert rows[1][:6] == (MONTH, STREET, "前进社区", "HH-0004", "刘洋", 900.0)
    assert rows[1][10] == "待评议、公示、审批" and rows[1][9] == "R04"
    assert ID["liuyang"] not in rows[1][8] and mask(ID["liuyang"]) in rows[1][8]  # a caseworker's note, masked
    facts = dict(r[:2] for r in wb["概况"].iter_rows(min_row=3, values_only=True))
    assert facts["认定属实-清退户数（累计）"] == 1 and facts["其中已停保户数（名册已停保，清退完成）"] == 0

    # the next month's roster has it stopped (停保): now it is cut off, and the saving counts
    build_month(con, "2024-04")
    con.execute("UPDATE raw_roster_households SET status = '停保' WHERE run_month = '2024-04' AND household_id = 'HH-0004'")
    path = write_summary(con, "2024-04", tmp_path)
    assert any(n.startswith("xl/charts/chart") for n in zipfile.ZipFile(path).namelist())
    wb = openpyxl.load_workbook(path)
    assert list(wb["清退名单"].iter_rows(values_only=True))[1][10] == "已停保"
    facts = dict(r[:2] for r in wb["概况"].iter_rows(min_row=3, values_only=True))
    assert facts["其中已停保户数（名册已停保，清退完成）"] == 1 and facts["已停保户每月节约保障金（元）"] == 900.0


def test_each_street_office_gets_a_summary_of_its_own_streets(tmp_path):
    con = duckdb.connect(":memory:")
    build_month(con, MONTH)
    con.execute("UPDATE raw_roster_households SET street = '花楼街道' WHERE household_id IN ('HH-0004', 'HH-0005')")
    city = write_summary(con, MONTH, tmp_path)
    books = {p.stem: p for p in (tmp_path / MONTH / "汇总").glob("*.xlsx")}
    assert sorted(books) == ["江汉街道", "花楼街道"]
    mine = openpyxl.load_workbook(books["花楼街道"])
    listed = [r[:2] for r in mine["疑点统计"].iter_rows(min_row=2, values_only=True)]
    assert listed == [("花楼街道", "前进社区"), ("合计", None)]
    assert all("HH-0001" not in v for _, _, v in all_cells(books["花楼街道"]))
    everyone = {r[1] for r in openpyxl.load_workbook(city)["疑点统计"].iter_rows(min_row=2, values_only=True)}
    assert {"民主社区", "前进社区", "和平社区"} <= everyone


def test_a_linked_finding_shows_one_match_number_and_a_masked_id():
    from reports.worklist_sheets import finding_line

    line = finding_line({"rule": "R02", "member_name": "张伟", "id_number": "420102196005060018",
                         "evidence": "养老金发放：张伟 420102196005060018；身份证号一致；姓名一致；匹配概率0.996",
                         "match_score": 1.0})
    assert "匹配概率0.996" in line and "匹配度" not in line
    assert "420102196005060018" not in line and "420102********0018" in line
    roster_only = finding_line({"rule": "R10", "member_name": None, "id_number": None,
                                "evidence": "首次享受日期2013-02-26", "match_score": 1.0})
    assert "匹配度" not in roster_only and "全户" in roster_only
    probable = finding_line({"rule": "R05", "member_name": "张伟", "id_number": None, "evidence": "号牌鄂A1",
                             "match_score": 0.97})
    assert probable.endswith("（匹配度 0.97）")


def test_an_empty_review_sheet_says_so(written):
    sheets = {name: openpyxl.load_workbook(path)[L.REVIEW_SHEET] for name, path in by_name(written).items()
              if name != "summary.xlsx"}
    empty = [ws for ws in sheets.values() if ws.cell(2, 2).value is None]
    assert empty, "the fixture has a community without possible links"
    assert all(ws.cell(2, 1).value == "本清单本月无待人工确认的记录。" for ws in empty)


def _cells(path: Path) -> list:
    """Every cell of a workbook but the time it was written (to the second)."""
    stamp = [(sheet, "B" + ref[1:]) for sheet, ref, value in all_cells(path) if value == "generated_at"]
    return [c for c in all_cells(path) if (c[0], c[1]) not in stamp]


def test_workbooks_written_by_two_processes_are_the_ones_one_process_writes(con, tmp_path):
    """A city's workbooks are shared between this process and a spawned one: same files, same cells."""
    one = by_name(write_worklists(con, MONTH, tmp_path / "one", processes=1))
    two = by_name(write_worklists(con, MONTH, tmp_path / "two", processes=2))
    assert sorted(one) == sorted(two) and len(one) >= 2

    for name, path in one.items():
        assert _cells(two[name]) == _cells(path), name


class _KillsItsReader(list):
    """A list that ends the process unpickling it: a workbook job that the writer process dies taking."""

    def __reduce__(self):
        return (os._exit, (3,))


def test_a_writer_process_that_dies_still_leaves_every_workbook(con, tmp_path, monkeypatch, caplog):
    """The spawned writer dies on its first job (the largest): that job and any it had queued are
    written by this process, and the files are the ones one process writes."""
    import reports.worklists as W

    one = by_name(write_worklists(con, MONTH, tmp_path / "one", processes=1))
    real = W.write_workbooks

    def sabotaged(jobs, processes, meanwhile):
        largest = max(range(len(jobs)), key=lambda i: W._job_size(jobs[i]))
        job = list(jobs[largest])
        job[5] = _KillsItsReader(job[5])
        jobs = [*jobs[:largest], tuple(job), *jobs[largest + 1:]]

        def slow_meanwhile():  # let the pool hand its first jobs to the writer before this process takes any
            time.sleep(0.5)
            return meanwhile()
        return real(jobs, processes, slow_meanwhile)

    monkeypatch.setattr(W, "write_workbooks", sabotaged)
    with caplog.at_level(logging.WARNING, logger="reports.worklists"):
        two = by_name(write_worklists(con, MONTH, tmp_path / "two", processes=2))
    assert any("workbook process failed" in r.getMessage() for r in caplog.records)
    assert sorted(one) == sorted(two)
    for name, path in one.items():
        assert _cells(two[name]) == _cells(path), name


def test_display_width_counts_wide_characters_double_in_every_plane() -> None:
    """The translate table agrees with Unicode's East Asian Width, character by character, for
    every code point (a surrogate cannot stand alone in text), and on mixed text."""
    import unicodedata

    from reports.styles import display_width, wrapped_lines

    def by_definition(text: str) -> int:
        return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)

    wrong = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000 and display_width(chr(c)) != by_definition(chr(c))]
    assert wrong == []
    for text in ("", "R01 死亡", "１２３ＡＢ", "𠮷田 a", "a\u0301é", "買買提·艾力 🙂 Ⅻ", "①②", "\u3000x"):
        assert display_width(text) == by_definition(text), text
    assert display_width("张三 420102********123X") == 4 + 1 + 18
    assert wrapped_lines("一二三四五六七八九十", 11) == 2  # 20 units in a 10-unit line


X01_FLAGS = [*FLAGS_M1,
             ("HH-0001", ID["zhangwei"], "X01", "staff", "S01", "exact", 1.0,
              "近亲属未备案：张伟与李干部（民主社区社区干部）同户（户号H001），区民政局无近亲属备案", "k-s01"),
             ("HH-0004", ID["liuyang"], "X01", "staff", "S02", "possible", 0.4,
              "近亲属未备案：刘洋与王经办（前进社区低保经办人员）可能同户", "k-s02")]


def test_a_finding_naming_staff_goes_to_the_street_offices_workbook_only(tmp_path):
    from reports.outcomes import import_outcomes

    con = duckdb.connect(":memory:")
    build_month(con, MONTH, X01_FLAGS)
    paths = write_worklists(con, MONTH, tmp_path)
    street_book = tmp_path / MONTH / "街道" / f"{STREET}.xlsx"
    assert street_book in paths
    for path in paths:
        text = " ".join(v for _, _, v in all_cells(path))
        if path == street_book:
            assert "李干部" in text and "王经办" in text
        else:  # no community sees its staff named, on any sheet, nor counts the finding
            assert "李干部" not in text and "王经办" not in text and "X01" not in text, path.name
    rows = worklist_rows(street_book)
    assert [(r["低保户编号"], r["疑点"][1:4]) for r in rows] == [("HH-0001", "X01")]
    assert rows[0]["户主姓名"] == "张伟" and mask(ID["zhangwei"]) in rows[0]["疑点"]
    review = openpyxl.load_workbook(street_book)[L.REVIEW_SHEET]
    assert [r[1] for r in review.iter_rows(min_row=2, values_only=True)] == ["HH-0004"]
    cover = [v for _, _, v in all_cells(street_book)]
    assert "（街道办事处复核，含各社区）" in cover
    minzhu = worklist_rows(tmp_path / MONTH / f"{STREET}-民主社区.xlsx")
    assert [r["疑点"][1:4] for r in minzhu if r["低保户编号"] == "HH-0001"] == ["R01", "R02", "X03"]
    assert con.execute("SELECT community, desk, sent_file FROM worklist_items WHERE rule = 'X01'").fetchall() == [
        ("民主社区", "street", f"街道/{STREET}.xlsx")]

    # the street office's verdict comes back like a community's
    wb = openpyxl.load_workbook(street_book)
    ws = wb[L.WORKLIST_SHEET]
    header = {c.value: c.column for c in ws[1]}
    for col, value in (("核查结论", L.OUTCOME_CLEARED), ("核查人", "街道王主任"), ("核查日期", dt.date(2024, 4, 2))):
        ws.cell(2, header[col]).value = value
    wb.save(tmp_path / "back.xlsx")
    result = import_outcomes(con, [tmp_path / "back.xlsx"], today=dt.date(2024, 4, 30))
    assert result.ok, result.problems
    assert con.execute("SELECT household_id, community, rule, outcome FROM outcomes").fetchall() == [
        ("HH-0001", "民主社区", "X01", L.OUTCOME_CLEARED)]


def test_a_policy_can_keep_x01_with_the_community(tmp_path):
    con = duckdb.connect(":memory:")
    build_month(con, MONTH, X01_FLAGS)
    con.execute("CREATE TABLE runs (run_id VARCHAR, run_month VARCHAR, started_at TIMESTAMP, status VARCHAR, "
                "policy JSON)")
    con.execute("""INSERT INTO runs VALUES ('r1', ?, now(), 'succeeded',
                   '{"worklists.street_desk_rules": [], "worklists.return_day": 10}')""", [MONTH])
    paths = write_worklists(con, MONTH, tmp_path)
    assert not (tmp_path / MONTH / "街道").exists() and len(paths) == 3
    minzhu = tmp_path / MONTH / f"{STREET}-民主社区.xlsx"
    assert "X01" in [r["疑点"][1:4] for r in worklist_rows(minzhu)]
    cover = [v for _, _, v in all_cells(minzhu)]
    assert "2024-04-10 前发回街道办事处" in cover


def test_the_deadline_community_and_month_are_on_every_printed_page(written):
    wb = openpyxl.load_workbook(by_name(written)[f"{STREET}-民主社区.xlsx"])
    for name in (L.COVER_SHEET, L.WORKLIST_SHEET, L.REVIEW_SHEET):
        header = wb[name].oddHeader
        assert header.left.text == f"{STREET}民主社区" and header.center.text == "2024年3月 低保入户核查清单"
        assert header.right.text == "请于2024-04-20前发回", name  # default: the 20th of the month after


def test_a_possible_death_with_an_equal_id_is_on_top_and_urgent(tmp_path):
    con = duckdb.connect(":memory:")
    flags = [*FLAGS_M1,
             ("HH-0003", ID["zhaoqiang"], "R01", "deaths", "D777", "possible", 0.005,
              "死亡登记：赵强 死亡日期2024-01-02；身份证号一致；姓名不同（赵刚/赵强）；匹配概率0.005", "k-d777")]
    build_month(con, MONTH, flags)
    paths = {p.name: p for p in write_worklists(con, MONTH, tmp_path)}
    rows = list(openpyxl.load_workbook(paths[f"{STREET}-民主社区.xlsx"])[L.REVIEW_SHEET].iter_rows(
        min_row=2, values_only=True))
    header = [h for h, _ in ((c.header, c) for c in L.REVIEW_COLUMNS)]
    first = dict(zip(header, rows[0], strict=True))
    assert first["来源记录编号"] == "D777" and first["优先级"] == "紧急"
    assert first["匹配度"] == pytest.approx(0.005)
    assert dict(zip(header, rows[1], strict=True))["优先级"] == "高"


def test_codes_are_put_into_words_and_no_birth_date_escapes_a_mask(tmp_path):
    con = duckdb.connect(":memory:")
    flags = [f for f in FLAGS_M1 if f[2] not in ("R05", "X03")] + [
        ("HH-0002", ID["wangfang"], "R05", "vehicles", "V201", "exact", 1.0,
         "机动车登记：王芳 号牌鄂A12345 车辆类型K33 状态正常；身份证号一致", "k-v201"),
        ("HH-0002", ID["wangfang"], "R09", "employment", "E9", "exact", 1.0,
         "外地参保：王芳 近12个月中有6个月在本市以外参保缴费（≥6个月），最近参保地440305 2024-02 某公司", "k-e9"),
        ("HH-0001", "420102199202301234", "X03", "roster_members", "HH-0001#2", "exact", 1.0,
         "身份证号无效：张小明 身份证号中的出生日期19920230不存在；该成员未按身份证号与其他部门数据比对", "k-x03"),
        ("HH-0003", ID["zhaoqiang"], "X02", "roster_members", "HH-0004#5", "exact", 1.0,
         "重复在保：赵强 同时是在保家庭HH-0004的成员（赵强）；身份证号一致", "k-x02")]
    build_month(con, MONTH, flags)
    rows = worklist_rows(by_name(write_worklists(con, MONTH, tmp_path))[f"{STREET}-民主社区.xlsx"])
    text = {r["疑点"][1:4]: r["疑点"] for r in rows}
    assert "车辆类型K33（小型轿车）" in text["R05"]
    assert "参保地440305（广东省深圳市南山区）" in text["R09"]
    assert "19920230" not in text["X03"] and "出生日期不存在（请核对身份证原件）" in text["X03"]
    assert "同时是在保家庭HH-0004（江汉街道前进社区）的成员" in text["X02"]
