"""The street office's summary workbook: `out_dir/<YYYY-MM>/summary.xlsx`.

Sheets: 概况 (headline numbers), 疑点统计 (findings by community × rule, every active
community listed even at 0), 待确认统计 (possible matches, same layout), 核查进度 (verdicts
imported so far by worklist month × community), 清退名单 (households judged 属实-清退, with the
monthly saving and a chart by month), 质量警告 (failed expectations of the month, if
`quality_results` exists), 已核销疑点 (findings held back because an earlier visit cleared them).
Months are the worklist months up to and including run_month. IDs masked via `matching.ids.mask`.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb

from matching.ids import mask
from matching.rule_titles import RULE_TITLES
from reports import layout as L
from reports.codes import display_evidence
from reports.common import (
    check_run_month,
    has_table,
    month_dir,
    month_label,
    redact_ids,
    require_tables,
    safe_file_part,
)
from reports.quality_text import check_text, details_text, extract_title, observed_text
from reports.queries import ACTIVE, FINDING_CLASSES, active_households_sql, flags_of_active_sql
from reports.styles import new_workbook, print_setup
from reports.tables import ensure_tables
from reports.worklist_sheets import rule_label

SUMMARY_FILE = "summary.xlsx"
STREET_SUMMARY_DIR = "汇总"  # one summary per street office


def _table(ws, fmt, top: int, headers: list[str], rows: list[list[Any]], widths: list[float] | None = None,
           money: set[int] | frozenset = frozenset(), total: list[Any] | None = None) -> int:
    """Write a bordered table; return the row after it."""
    for c, head in enumerate(headers):
        ws.write(top, c, head, fmt["header"])
        if widths:
            ws.set_column(c, c, widths[c])
    for r, row in enumerate(rows, top + 1):
        for c, v in enumerate(row):
            if isinstance(v, int | float) and not isinstance(v, bool):
                ws.write_number(r, c, v, fmt["money"] if c in money else fmt["int"])
            elif v is None:
                ws.write_blank(r, c, None, fmt["cell"])
            else:
                ws.write_string(r, c, str(v), fmt["cell"])
    end = top + 1 + len(rows)
    if total is not None:
        for c, v in enumerate(total):
            if isinstance(v, int | float):
                ws.write_number(end, c, v, fmt["total_money"] if c in money else fmt["total"])
            else:
                ws.write(end, c, v if v is not None else "", fmt["total"])
        end += 1
    return end


def _rule_matrix(communities: list[tuple[str, str]], flags: list[dict], community_of: dict[str, tuple[str, str]]
                 ) -> tuple[list[str], list[list[Any]], list[Any]]:
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    households: dict[tuple[str, str], set[str]] = defaultdict(set)
    for f in flags:
        c = community_of[f["household_id"]]
        counts[c][f["rule"]] += 1
        households[c].add(f["household_id"])
    rules = list(RULE_TITLES)
    headers = ["街道", "社区", "疑点户数", *[rule_label(r) for r in rules], "疑点合计"]
    rows: list[list[Any]] = [[s, c, len(households[(s, c)]), *[counts[(s, c)][r] for r in rules], sum(counts[(s, c)].values())]
            for s, c in communities]
    total: list[Any] = ["合计", "", sum(r[2] for r in rows), *[sum(r[3 + i] for r in rows) for i in range(len(rules))],
             sum(r[-1] for r in rows)]
    return headers, rows, total


def write_summary(con: duckdb.DuckDBPyConnection, run_month: str, out_dir: Path) -> Path:
    """The city bureau's summary (every street) at `OUT/YYYY-MM/summary.xlsx`, and one per street
    office at `OUT/YYYY-MM/汇总/<street>.xlsx` holding only its own streets' communities and
    households. Returns the city bureau's."""
    check_run_month(run_month)
    require_tables(con, "flags", "raw_roster_households", "stg_members")
    ensure_tables(con)
    folder = month_dir(out_dir, run_month)
    path = folder / SUMMARY_FILE
    _write_book(con, run_month, path, None)
    streets = [s for (s,) in con.execute(f"""SELECT DISTINCT street FROM raw_roster_households
                                             WHERE run_month = ? AND trim(status) = '{ACTIVE}' ORDER BY 1""",
                                          [run_month]).fetchall()]
    if streets:
        (folder / STREET_SUMMARY_DIR).mkdir(exist_ok=True)
    for street in streets:
        _write_book(con, run_month, folder / STREET_SUMMARY_DIR / f"{safe_file_part(street)}.xlsx", street)
    return path


def _write_book(con: duckdb.DuckDBPyConnection, run_month: str, path: Path, street: str | None) -> None:
    """One summary workbook: every street's (`street` None) or one street office's."""
    wb, fmt = new_workbook(str(path))
    scope = street or "全市"
    wb.set_properties({"title": f"城市低保专项清理汇总 {scope} {month_label(run_month)}", "author": "dibao"})

    def mine(row_street: str | None) -> bool:
        return street is None or row_street == street

    cur = con.execute(active_households_sql(), [run_month])
    cols = [d[0] for d in cur.description]
    active = [h for h in (dict(zip(cols, r, strict=True)) for r in cur.fetchall()) if mine(h["street"])]
    community_of = {h["household_id"]: (h["street"], h["community"]) for h in active}
    communities = sorted(set(community_of.values()))

    def flags_of(classes: tuple[str, ...]) -> list[dict]:
        c = con.execute(flags_of_active_sql(classes), [run_month])
        names = [d[0] for d in c.description]
        return [f for f in (dict(zip(names, r, strict=True)) for r in c.fetchall())
                if f["household_id"] in community_of]

    findings, possibles = flags_of(FINDING_CLASSES), flags_of(("possible",))
    progress = con.execute(f"""
        WITH sent AS (SELECT DISTINCT run_month, street, community, household_id, id_number, rule, source,
                             evidence_key FROM worklist_items WHERE run_month <= ?)
        SELECT s.run_month, s.street, s.community, count(DISTINCT s.household_id) AS households, count(*) AS sent,
               {", ".join(f"count(*) FILTER (v.outcome = '{o}')" for o in L.OUTCOMES)},
               count(*) FILTER (v.outcome IS NULL) AS pending
        FROM sent s LEFT JOIN finding_verdicts v ON v.run_month = s.run_month AND v.household_id = s.household_id
         AND v.id_number IS NOT DISTINCT FROM s.id_number AND v.rule = s.rule AND v.source = s.source
         AND v.evidence_key IS NOT DISTINCT FROM s.evidence_key
        GROUP BY ALL ORDER BY s.run_month DESC, s.street, s.community""", [run_month]).fetchall()
    progress = [p for p in progress if mine(p[1])]
    # a household judged 属实-清退 is cut off only once a later roster has it stopped (停保) or gone:
    # the verdict is followed by 评议, 公示 and the district's approval, recorded in the roster
    exits = [e for e in con.execute(f"""
        SELECT e.run_month, e.street, e.community, e.household_id, e.head_name, e.benefit_monthly,
               e.checked_by, e.checked_on, e.note, e.rules,
               EXISTS (SELECT 1 FROM raw_roster_households l WHERE l.run_month > e.run_month AND l.run_month <= $1)
               AND coalesce((SELECT trim(l.status) <> '{ACTIVE}' FROM raw_roster_households l
                              WHERE l.household_id = e.household_id AND l.run_month > e.run_month
                                AND l.run_month <= $1 ORDER BY l.run_month DESC LIMIT 1), true) AS stopped
        FROM exits e WHERE e.run_month <= $1
        ORDER BY e.run_month, e.street, e.community, e.household_id""", [run_month]).fetchall()
        if mine(e[1])] if has_table(con, "exits") else []
    saved: dict[str, list[Any]] = defaultdict(lambda: [0, 0.0])
    for e in exits:
        if e[10]:
            saved[e[0]][0] += 1
            saved[e[0]][1] += e[5] or 0.0

    # 概况
    ws = wb.add_worksheet("概况")
    ws.set_column(0, 0, 40)
    ws.set_column(1, 1, 30)
    ws.write(0, 0, f"城市低保专项清理汇总（{scope}，{month_label(run_month)}）", fmt["title"])
    facts = [
        ("社区数", len(communities)), ("在保户数", len(active)),
        ("疑点户数", len({f["household_id"] for f in findings})), ("疑点条数", len(findings)),
        ("待人工确认条数", len(possibles)),
        ("本月已反馈核查结论条数", sum(sum(p[5:5 + len(L.OUTCOMES)]) for p in progress if p[0] == run_month)),
        ("本月尚待核查疑点条数", sum(p[-1] for p in progress if p[0] == run_month)),
        ("认定属实-清退户数（累计）", len(exits)),
        ("其中待评议、公示、审批户数", sum(1 for e in exits if not e[10])),
        ("其中已停保户数（名册已停保，清退完成）", sum(1 for e in exits if e[10])),
        ("已停保户每月节约保障金（元）", round(sum(v[1] for v in saved.values()), 2)),
    ]
    for r, (k, v) in enumerate(facts, 2):
        ws.write(r, 0, k, fmt["label"])
        ws.write_number(r, 1, v, fmt["money"] if isinstance(v, float) else fmt["int"])
    print_setup(ws, landscape=False, header_rows=None)

    for title, rows_in in (("疑点统计", findings), ("待确认统计", possibles)):
        ws = wb.add_worksheet(title)
        headers, rows, total = _rule_matrix(communities, rows_in, community_of)
        _table(ws, fmt, 0, headers, rows, [10, 12, 8, *[9] * len(RULE_TITLES), 8], total=total)
        ws.set_row(0, 110)
        ws.freeze_panes(1, 2)
        print_setup(ws, landscape=True, header_rows=0)

    ws = wb.add_worksheet("核查进度")
    _table(ws, fmt, 0, ["清单月份", "街道", "社区", "派发户数", "派发疑点条数", *L.OUTCOMES, "未反馈"],
           [list(p) for p in progress], [10, 12, 12, 10, 10, 12, 14, 14, 10, 8])
    ws.freeze_panes(1, 0)
    print_setup(ws, landscape=True, header_rows=0)

    ws = wb.add_worksheet("清退名单")
    end = _table(ws, fmt, 0, ["清单月份", "街道", "社区", "低保户编号", "户主姓名", "月保障金额", "核查人", "核查日期", "备注",
                              "认定疑点", "清退状态"],
                 [[e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7].isoformat() if e[7] else None, redact_ids(e[8]),
                   e[9], "已停保" if e[10] else "待评议、公示、审批"]
                  for e in exits], [10, 12, 12, 14, 10, 11, 10, 12, 24, 10, 16], money={5},
                 total=["合计", "", "", f"{len(exits)} 户", "", round(sum(e[5] or 0 for e in exits), 2), "", "", "",
                        "", f"已停保 {sum(1 for e in exits if e[10])} 户"])
    top = end + 2
    ws.write(top - 1, 0, "按月清退（名册已停保）及每月节约保障金", fmt["label"])
    months = sorted(saved)
    end = _table(ws, fmt, top, ["清单月份", "已停保户数", "每月节约(元)"],
                 [[m, saved[m][0], round(saved[m][1], 2)] for m in months], money={2})
    if months:
        chart = wb.add_chart({"type": "column"})
        chart.add_series({"name": "每月节约保障金（元）", "categories": ["清退名单", top + 1, 0, top + len(months), 0],
                          "values": ["清退名单", top + 1, 2, top + len(months), 2], "data_labels": {"value": True}})
        chart.set_title({"name": "清退户每月节约保障金"})
        chart.set_x_axis({"name": "清单月份"})
        chart.set_y_axis({"name": "元/月"})
        chart.set_legend({"none": True})
        ws.insert_chart(end + 1, 0, chart, {"x_scale": 1.3, "y_scale": 1.0})
    ws.freeze_panes(1, 0)
    print_setup(ws, landscape=True, header_rows=0)

    ws = wb.add_worksheet("质量警告")
    if has_table(con, "quality_results"):
        quality = con.execute("""SELECT extract, expectation, severity, observed, details FROM quality_results
                                 WHERE run_month = ? AND NOT coalesce(success, false)
                                 ORDER BY severity = 'critical' DESC, extract, expectation""", [run_month]).fetchall()
        _table(ws, fmt, 0, ["数据", "检查项", "级别", "实际情况", "说明"],
               [[extract_title(q[0]), check_text(q[0], q[1]), "严重" if q[2] == "critical" else "警告",
                 observed_text(q[3]), details_text(q[4])] for q in quality], [24, 36, 8, 26, 50])
        if not quality:
            ws.write(2, 0, "本月数据质量检查全部通过。")
    else:
        ws.set_column(0, 0, 60)
        ws.write(0, 0, "本库没有数据质量检查结果（quality_results 表不存在）。")
    print_setup(ws, landscape=True, header_rows=0)

    ws = wb.add_worksheet("已核销疑点")
    cleared = con.execute("""SELECT h.street, h.community, c.household_id,
              (SELECT first(m.name) FROM stg_members m WHERE m.run_month = c.run_month
                 AND m.household_id = c.household_id AND m.id_number = c.id_number) AS member_name,
              c.id_number, c.rule, c.evidence, c.cleared_in_month, c.outcome_file, coalesce(c.reason, '不属实-继续保障')
        FROM flags_cleared c LEFT JOIN raw_roster_households h
          ON h.run_month = c.run_month AND h.household_id = c.household_id
        WHERE c.run_month = ? ORDER BY 1, 2, 3, 6""", [run_month]).fetchall()
    cleared = [c for c in cleared if mine(c[0])]
    _table(ws, fmt, 0, ["街道", "社区", "低保户编号", "成员姓名", "身份证号(脱敏)", "疑点", "证据", "核销依据月份", "核查结论文件",
                        "核销原因"],
           [[c[0], c[1], c[2], c[3], mask(c[4]), rule_label(c[5]), display_evidence(c[5], c[6]), c[7], c[8], c[9]]
            for c in cleared], [12, 12, 14, 10, 21, 24, 50, 12, 24, 14])
    ws.freeze_panes(1, 0)
    print_setup(ws, landscape=True, header_rows=0)

    wb.close()
