"""The sheets of one community's worklist workbook, written with xlsxwriter.

`write_workbook(path, run_month, street, community, n_active, flagged, possibles)` writes
one file; `reports.worklists` gathers the month's households and decides which process
writes which file. This module imports only what the sheets need (xlsxwriter, the layout,
ID masking): a spawned writer process is ready in about 0.2 s, where importing all of
`reports.worklists` (DuckDB, polars, the linkage) took about 1 s.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from connectors.schemas import EXTRACTS
from matching.comparisons import MATCH_PROBABILITY_LABEL
from matching.ids import mask
from matching.rule_titles import RULE_TITLES
from reports import layout as L
from reports.common import fit_cell, month_label, redact_ids, shorten
from reports.styles import new_workbook, print_setup, row_height

PROTECT_OPTIONS = {
    "objects": True, "scenarios": True, "format_cells": False, "format_columns": False,
    "format_rows": True, "insert_rows": False, "delete_rows": False, "sort": False,
    "autofilter": True, "select_locked_cells": True, "select_unlocked_cells": True,
}
HOW_TO_FILL = (
    "疑点只是核查线索，不是结论。请逐户入户调查：查看户口簿、身份证、低保领取证、领取低保金存折，"
    "了解住房条件、实际生活水平、家庭财产、经济来源和从事的职业，并做好记录。",
    "在“核查清单”工作表中，按“优先级”从上到下安排入户；“紧急”表示保障对象可能已死亡，请先核实并暂停发放。",
    "每户核查后，在黄色的“核查结论”栏从下拉列表中选择：" + "、".join(L.OUTCOMES) + "。",
    "选择了核查结论的，必须填写“核查人”和“核查日期”（格式 2024-03-05）；需要说明的情况写在“备注”栏。",
    "尚未入户的户，核查结论留空即可，导入时跳过，下月清单仍会列出。",
    "请不要增删行、调整顺序或修改灰色、蓝色区域；工作表已保护（无密码），隐藏列供系统校验。",
    "“待人工确认”工作表列出系统无法确定是否为同一人的记录，请街道经办人员比对原始材料后确认；确认为同一人的，请书面报街道（系统不读取本表的确认结果，不据此自动列入清单）。",
    "身份证号已脱敏（只显示前6位和后4位）。本表含居民个人信息，仅限本社区核查使用，不得外传。",
    "认定不符合条件的对象，须经居民代表逐户评议并公示后，方可报街道办事处审核清退。",
    "填好后保存（不要改变文件格式），发回街道办事处，由系统导入。",
)


@dataclass
class Household:
    household_id: str
    street: str
    community: str
    address: str
    benefit_monthly: float | None
    head_name: str
    findings: list[dict] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)

    @property
    def rules(self) -> set[str]:
        return {f["rule"] for f in self.findings}

    @property
    def max_score(self) -> float:
        return max((f["match_score"] for f in self.findings), default=0.0)

    def sort_key(self) -> tuple:
        return L.sort_key(self.rules, self.max_score, len(self.findings), self.household_id)


def rule_label(rule: str) -> str:
    return f"{rule} {RULE_TITLES.get(rule, '')}".strip()


def source_label(source: str) -> str:
    extract = EXTRACTS.get(source)
    return extract.title if extract else source


def finding_line(f: dict) -> str:
    """One line of the 疑点 cell: rule, who, the evidence and how well it matched."""
    who = f"{f['member_name'] or '（姓名未知）'} {mask(f['id_number'])}".strip() if f["id_number"] else "全户"
    evidence = shorten(redact_ids(f["evidence"]).replace(chr(10), " "))
    # A linked finding's evidence already ends with the link's match probability: one number, not two.
    score = "" if MATCH_PROBABILITY_LABEL in evidence else f"（匹配度 {f['match_score']:.2f}）"
    return f"【{rule_label(f['rule'])}】{who}：{evidence}{score}"


def write_workbook(path: Path, run_month: str, street: str, community: str, n_active: int,
                   flagged: list[Household], possibles: list[dict]) -> None:
    """One community's workbook: cover, worklist, review list and the importer's `_meta`."""
    wb, fmt = new_workbook(str(path))
    wb.set_properties({"title": f"{street}{community} {month_label(run_month)} 低保入户核查清单",
                       "subject": "城市低保专项清理", "author": "dibao", "comments": f"{L.FILE_FORMAT} v{L.FORMAT_VERSION}"})
    _write_cover(wb, fmt, run_month, street, community, n_active, flagged, possibles)
    _write_worklist(wb, fmt, run_month, flagged)
    _write_review(wb, fmt, possibles)
    _write_meta(wb, run_month, street, community, len(flagged))
    wb.close()


def _write_cover(wb, fmt, run_month, street, community, n_active, flagged, possibles) -> None:
    ws = wb.add_worksheet(L.COVER_SHEET)
    ws.set_column(0, 0, 10)
    ws.set_column(1, 1, 56)
    ws.set_column(2, 3, 10)
    ws.merge_range(0, 0, 0, 3, f"城市低保专项清理 入户核查清单（{month_label(run_month)}）", fmt["title"])
    ws.set_row(0, 30)
    n_findings = sum(len(h.findings) for h in flagged)
    facts = [("街道", street), ("社区", community), ("核查月份", month_label(run_month)),
             ("生成日期", dt.date.today().isoformat()), ("在保户数", f"{n_active} 户"),
             ("疑点户数", f"{len(flagged)} 户，疑点 {n_findings} 条"),
             ("待人工确认", f"{len(possibles)} 条")]
    row = 2
    for label, value in facts:
        ws.write(row, 0, label, fmt["label"])
        ws.merge_range(row, 1, row, 3, value, fmt["value"])
        row += 1
    row += 1
    for col, head in enumerate(("规则", "清理对象", "户数", "疑点条数")):
        ws.write(row, col, head, fmt["header"])
    row += 1
    for rule, title in RULE_TITLES.items():
        n_h = sum(1 for h in flagged if rule in h.rules)
        n_f = sum(1 for h in flagged for f in h.findings if f["rule"] == rule)
        ws.write(row, 0, rule, fmt["cell_center"])
        ws.write(row, 1, title, fmt["cell"])
        ws.write_number(row, 2, n_h, fmt["int"])
        ws.write_number(row, 3, n_f, fmt["int"])
        row += 1
    ws.write(row, 0, "合计", fmt["total"])
    ws.write(row, 1, "（一户可有多个疑点）", fmt["total"])
    ws.write_number(row, 2, len(flagged), fmt["total"])
    ws.write_number(row, 3, n_findings, fmt["total"])
    row += 2
    ws.write(row, 0, "填写说明", fmt["title"])
    row += 1
    if not flagged:
        ws.merge_range(row, 0, row, 3, "本月本社区没有需要入户核查的疑点户，核查清单为空。", fmt["note"])
        row += 1
    for i, text in enumerate(HOW_TO_FILL, 1):
        line = f"{i}. {text}"
        ws.merge_range(row, 0, row, 3, line, fmt["note"])
        ws.set_row(row, row_height([(line, 84)]))
        row += 1
    print_setup(ws, landscape=False, header_rows=None)
    ws.protect("", PROTECT_OPTIONS)
    ws.activate()


def _write_worklist(wb, fmt, run_month: str, flagged: list[Household]) -> None:
    ws = wb.add_worksheet(L.WORKLIST_SHEET)
    cols = L.WORKLIST_COLUMNS
    index = {c: i for i, c in enumerate(cols)}
    for i, c in enumerate(cols):
        ws.set_column(i, i, c.width, fmt["hidden"] if c.hidden else None, {"hidden": c.hidden})
        ws.write(0, i, c.header, fmt["header_edit"] if c.editable else fmt["header"])
    ws.set_row(0, 22)
    ws.freeze_panes(1, 0)

    for n, h in enumerate(flagged, 1):
        r = n
        text = fit_cell([f"{i}. {finding_line(f)}" for i, f in enumerate(h.findings, 1)])
        label = L.priority_label(h.rules, h.max_score)
        ws.write_number(r, index[L.SEQ], n, fmt["seq"])
        ws.write_string(r, index[L.HOUSEHOLD], h.household_id, fmt["cell"])
        ws.write_string(r, index[L.HEAD], h.head_name or "", fmt["cell"])
        ws.write_string(r, index[L.ADDRESS], h.address or "", fmt["cell"])
        if h.benefit_monthly is None:
            ws.write_blank(r, index[L.BENEFIT], None, fmt["money"])
        else:
            ws.write_number(r, index[L.BENEFIT], h.benefit_monthly, fmt["money"])
        ws.write_string(r, index[L.FINDINGS], text, fmt["cell"])
        ws.write_string(r, index[L.PRIORITY], label, fmt["urgent"] if label == "紧急" else fmt["cell_center"])
        for c in (L.OUTCOME, L.CHECKED_BY, L.NOTE):
            ws.write_blank(r, index[c], None, fmt["edit"])
        ws.write_blank(r, index[L.CHECKED_ON], None, fmt["edit_date"])
        ws.write_string(r, index[L.ROW_KEY], L.row_key(run_month, h.household_id), fmt["hidden"])
        ws.write_string(r, index[L.FINDING_KEYS], ";".join(sorted(set(h.keys))), fmt["hidden"])
        ws.set_row(r, row_height([(text, L.FINDINGS.width), (h.address or "", L.ADDRESS.width)]))

    last = max(len(flagged), 1)
    first_day = dt.date.fromisoformat(f"{run_month}-01")
    ws.data_validation(1, index[L.OUTCOME], last, index[L.OUTCOME], {
        "validate": "list", "source": list(L.OUTCOMES), "ignore_blank": True,
        "input_title": "核查结论", "input_message": "请从下拉列表选择；未入户的留空",
        "error_title": "核查结论无效", "error_message": "只能选择：" + "、".join(L.OUTCOMES),
    })
    ws.data_validation(1, index[L.CHECKED_ON], last, index[L.CHECKED_ON], {
        "validate": "date", "criteria": "between", "minimum": first_day, "maximum": dt.date(2099, 12, 31),
        "ignore_blank": True, "input_title": "核查日期", "input_message": "例如 2024-03-05",
        "error_title": "日期无效", "error_message": f"请填写 {first_day.isoformat()} 以后的日期，例如 2024-03-05",
    })
    visible = [i for i, c in enumerate(cols) if not c.hidden]
    ws.autofilter(0, 0, len(flagged), visible[-1])
    ws.print_area(0, 0, len(flagged), visible[-1])
    print_setup(ws, landscape=True, header_rows=0)
    ws.protect("", PROTECT_OPTIONS)


def _write_review(wb, fmt, possibles: list[dict]) -> None:
    ws = wb.add_worksheet(L.REVIEW_SHEET)
    for i, (head, width) in enumerate(L.REVIEW_HEADERS):
        ws.set_column(i, i, width)
        ws.write(0, i, head, fmt["header"])
    ws.freeze_panes(1, 0)
    ordered = sorted(possibles, key=lambda f: (f["household_id"], f["rule"], -f["match_score"]))
    for n, f in enumerate(ordered, 1):
        evidence = shorten(redact_ids(f["evidence"]))
        values = [n, f["household_id"], f["address"] or "", f["member_name"] or "", mask(f["id_number"]),
                  rule_label(f["rule"]), source_label(f["source"]), f["source_record_id"] or ""]
        for i, v in enumerate(values):
            if isinstance(v, int):
                ws.write_number(n, i, v, fmt["seq"])
            else:
                ws.write_string(n, i, v, fmt["cell"])
        ws.write_number(n, 8, f["match_score"], fmt["score"])
        ws.write_string(n, 9, evidence, fmt["cell"])
        ws.set_row(n, row_height([(evidence, 50), (rule_label(f["rule"]), 22)]))
    if not ordered:  # printed, a bare header row reads like a page gone missing
        ws.merge_range(1, 0, 1, len(L.REVIEW_HEADERS) - 1, "本社区本月无待人工确认的记录。", fmt["cell"])
    print_setup(ws, landscape=True, header_rows=0)
    ws.protect("", PROTECT_OPTIONS)


def _write_meta(wb, run_month: str, street: str, community: str, n_households: int) -> None:
    ws = wb.add_worksheet(L.META_SHEET)
    for r, (k, v) in enumerate((("format", L.FILE_FORMAT), ("version", str(L.FORMAT_VERSION)),
                                ("run_month", run_month), ("street", street), ("community", community),
                                ("households", str(n_households)),
                                ("generated_at", dt.datetime.now().isoformat(timespec="seconds")))):
        ws.write_string(r, 0, k)
        ws.write_string(r, 1, v)
    ws.very_hidden()
    ws.protect("", {"select_locked_cells": False, "select_unlocked_cells": False})
