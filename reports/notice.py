"""Public notice (公示) per community: `out_dir/<YYYY-MM>/公示/<street>-<community>.xlsx`.

Sheet 公示: one row per active (在保) household: the head of household, the beneficiaries'
names in full with their relation to the head (the plan asks communities to post names and
amounts year-round; a name twice in a household reads as a mistake without it), how many,
and the household's monthly amount. Sheet 拟清退公示 (when there is one): the households a
caseworker judged 属实-清退 on a finding (`exits`), to be posted before 评议 and approval.
Both carry the 公示期 (`notice.period_days` from the day written) and the objection phone
(`notice.objection_phone`). No ID appears, not even masked, and no address.
Every community with an active household gets a notice.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

import duckdb

from matching.rule_titles import RULE_TITLES
from reports.common import check_run_month, has_table, month_dir, month_label, require_tables, run_policy
from reports.queries import ACTIVE
from reports.styles import new_workbook, print_setup, row_height
from reports.tables import ensure_tables
from reports.worklists import workbook_name

NOTICE_DIR = "公示"
HEADERS = (("序号", 6), ("户主姓名", 12), ("保障对象姓名", 40), ("保障人数", 10), ("月保障金额(元)", 14))


def notice_rows_sql() -> str:
    return f"""
    SELECT h.street, h.community, h.household_id, h.benefit_monthly,
           first(m.name ORDER BY (m.relation <> '户主'), m.member_key) AS head_name,
           list(m.name || '（' || coalesce(nullif(trim(m.relation), ''), '成员') || '）'
                ORDER BY (m.relation <> '户主'), m.member_key) FILTER (m.is_beneficiary) AS beneficiaries
    FROM raw_roster_households h
    LEFT JOIN stg_members m ON m.run_month = h.run_month AND m.household_id = h.household_id
    WHERE h.run_month = ? AND trim(h.status) = '{ACTIVE}'
    GROUP BY ALL
    ORDER BY h.street, h.community, h.household_id"""


def exits_sql() -> str:
    """Households judged 属实-清退 (latest verdict per finding) and still active this month."""
    return f"""
    SELECT h.street, h.community, e.head_name, e.benefit_monthly, e.rules
    FROM exits e
    JOIN raw_roster_households h ON h.run_month = ? AND h.household_id = e.household_id AND trim(h.status) = '{ACTIVE}'
    WHERE e.run_month <= ?
    ORDER BY h.street, h.community, e.household_id"""


def write_notice(con: duckdb.DuckDBPyConnection, run_month: str, out_dir: Path,
                 start: dt.date | None = None) -> list[Path]:
    check_run_month(run_month)
    require_tables(con, "raw_roster_households", "stg_members")
    ensure_tables(con)
    policy = run_policy(con, run_month)
    start = start or dt.date.today()
    period = f"公示期：{start.isoformat()} 至 {(start + dt.timedelta(days=policy['notice.period_days'] - 1)).isoformat()}"
    phone = policy["notice.objection_phone"]
    objection = ("公示期间如有异议，请向社区居委会或街道办事处反映" + (f"，异议电话：{phone}。" if phone else "。"))
    by_community: dict[tuple[str, str], list[tuple]] = defaultdict(list)
    for street, community, _hh, benefit, head, names in con.execute(notice_rows_sql(), [run_month]).fetchall():
        by_community[(street, community)].append((head or "", [n for n in (names or []) if n], benefit))
    leaving: dict[tuple[str, str], list[tuple]] = defaultdict(list)
    if has_table(con, "exits"):
        for street, community, head, benefit, rules in con.execute(exits_sql(), [run_month, run_month]).fetchall():
            leaving[(street, community)].append((head or "", rules or "", benefit))
    folder = month_dir(out_dir, run_month) / NOTICE_DIR
    folder.mkdir(exist_ok=True)
    paths = []
    for (street, community), rows in sorted(by_community.items()):
        path = folder / workbook_name(street, community)
        wb, fmt = new_workbook(str(path))
        _notice_sheet(wb, fmt, f"{street}{community}城市最低生活保障对象公示（{month_label(run_month)}）",
                      rows, period, objection)
        if leaving[(street, community)]:
            _exit_sheet(wb, fmt, f"{street}{community}拟停发低保对象公示（{month_label(run_month)}）",
                        leaving[(street, community)], period, objection)
        wb.close()
        paths.append(path)
    return paths


def _notice_sheet(wb, fmt, title: str, rows: list[tuple], period: str, objection: str) -> None:
    ws = wb.add_worksheet("公示")
    last = len(HEADERS) - 1
    ws.merge_range(0, 0, 0, last, title, fmt["title"])
    ws.set_row(0, 30)
    for c, (head, width) in enumerate(HEADERS):
        ws.set_column(c, c, width)
        ws.write(1, c, head, fmt["header"])
    for n, (head, names, benefit) in enumerate(rows, 1):
        r = n + 1
        joined = "、".join(names)
        ws.write_number(r, 0, n, fmt["seq"])
        ws.write_string(r, 1, head, fmt["cell"])
        ws.write_string(r, 2, joined, fmt["cell"])
        ws.write_number(r, 3, len(names), fmt["int"])
        ws.write_number(r, 4, benefit or 0.0, fmt["money"])
        ws.set_row(r, row_height([(joined, HEADERS[2][1])]))
    end = len(rows) + 2
    ws.write(end, 0, "合计", fmt["total"])
    ws.write(end, 1, f"{len(rows)} 户", fmt["total"])
    ws.write(end, 2, "", fmt["total"])
    ws.write_number(end, 3, sum(len(x[1]) for x in rows), fmt["total"])
    ws.write_number(end, 4, round(sum(x[2] or 0 for x in rows), 2), fmt["total_money"])
    ws.merge_range(end + 2, 0, end + 2, last, period, fmt["note"])
    ws.merge_range(end + 3, 0, end + 3, last, objection, fmt["note"])
    ws.freeze_panes(2, 0)
    print_setup(ws, landscape=False, header_rows=1)
    ws.repeat_rows(0, 1)


def _exit_sheet(wb, fmt, title: str, rows: list[tuple], period: str, objection: str) -> None:
    ws = wb.add_worksheet("拟清退公示")
    heads = (("序号", 6), ("户主姓名", 12), ("认定事由", 40), ("月保障金额(元)", 14))
    ws.merge_range(0, 0, 0, len(heads) - 1, title, fmt["title"])
    ws.set_row(0, 30)
    for c, (head, width) in enumerate(heads):
        ws.set_column(c, c, width)
        ws.write(1, c, head, fmt["header"])
    for n, (head, rules, benefit) in enumerate(rows, 1):
        reasons = "；".join(RULE_TITLES.get(r, r) for r in rules.split(",") if r)
        ws.write_number(n + 1, 0, n, fmt["seq"])
        ws.write_string(n + 1, 1, head, fmt["cell"])
        ws.write_string(n + 1, 2, reasons, fmt["cell"])
        ws.write_number(n + 1, 3, benefit or 0.0, fmt["money"])
        ws.set_row(n + 1, row_height([(reasons, 40)]))
    end = len(rows) + 3
    ws.merge_range(end, 0, end, len(heads) - 1, "以上对象经入户核查认定不再符合城市低保条件，拟经居民代表评议、"
                   "街道办事处审核、区民政局审批后停发。", fmt["note"])
    ws.set_row(end, 32)
    ws.merge_range(end + 1, 0, end + 1, len(heads) - 1, period, fmt["note"])
    ws.merge_range(end + 2, 0, end + 2, len(heads) - 1, objection, fmt["note"])
    print_setup(ws, landscape=False, header_rows=1)
    ws.repeat_rows(0, 1)
