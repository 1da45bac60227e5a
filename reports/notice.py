"""Public notice (公示) per community: `out_dir/<YYYY-MM>/公示/<street>-<community>.xlsx`.

One row per active (在保) household: the head of household, the beneficiaries' names
in full (the plan asks communities to post names and amounts year-round), how many, and
the household's monthly amount. No ID appears, not even masked, and no address.
Every community with an active household gets a notice.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import duckdb

from reports.common import check_run_month, month_dir, month_label, require_tables
from reports.queries import ACTIVE
from reports.styles import new_workbook, print_setup, row_height
from reports.worklists import workbook_name

NOTICE_DIR = "公示"
HEADERS = (("序号", 6), ("户主姓名", 12), ("保障对象姓名", 40), ("保障人数", 10), ("月保障金额(元)", 14))


def notice_rows_sql() -> str:
    return f"""
    SELECT h.street, h.community, h.household_id, h.benefit_monthly,
           first(m.name ORDER BY (m.relation <> '户主'), m.member_key) AS head_name,
           list(m.name ORDER BY (m.relation <> '户主'), m.member_key) FILTER (m.is_beneficiary) AS beneficiaries
    FROM raw_roster_households h
    LEFT JOIN stg_members m ON m.run_month = h.run_month AND m.household_id = h.household_id
    WHERE h.run_month = ? AND trim(h.status) = '{ACTIVE}'
    GROUP BY ALL
    ORDER BY h.street, h.community, h.household_id"""


def write_notice(con: duckdb.DuckDBPyConnection, run_month: str, out_dir: Path) -> list[Path]:
    check_run_month(run_month)
    require_tables(con, "raw_roster_households", "stg_members")
    by_community: dict[tuple[str, str], list[tuple]] = defaultdict(list)
    for street, community, _hh, benefit, head, names in con.execute(notice_rows_sql(), [run_month]).fetchall():
        by_community[(street, community)].append((head or "", [n for n in (names or []) if n], benefit))
    folder = month_dir(out_dir, run_month) / NOTICE_DIR
    folder.mkdir(exist_ok=True)
    paths = []
    for (street, community), rows in sorted(by_community.items()):
        path = folder / workbook_name(street, community)
        wb, fmt = new_workbook(str(path))
        ws = wb.add_worksheet("公示")
        last = len(HEADERS) - 1
        ws.merge_range(0, 0, 0, last, f"{street}{community}城市最低生活保障对象公示（{month_label(run_month)}）",
                       fmt["title"])
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
        ws.merge_range(end + 2, 0, end + 2, last,
                       "公示期间如有异议，请向社区居委会或街道办事处反映。", fmt["note"])
        ws.freeze_panes(2, 0)
        print_setup(ws, landscape=False, header_rows=1)
        ws.repeat_rows(0, 1)
        wb.close()
        paths.append(path)
    return paths
