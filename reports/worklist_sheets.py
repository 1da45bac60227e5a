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
from reports.codes import display_evidence
from reports.common import month_label, redact_ids, shorten
from reports.styles import new_workbook, print_setup, row_height

PROTECT_OPTIONS = {
    "objects": True, "scenarios": True, "format_cells": False, "format_columns": False,
    "format_rows": True, "insert_rows": False, "delete_rows": False, "sort": False,
    "autofilter": True, "select_locked_cells": True, "select_unlocked_cells": True,
}
DESK_COMMUNITY, DESK_STREET = "community", "street"
ID_EQUAL_PHRASES = ("身份证号一致", "15位旧身份证号升位后一致")  # the linkage's labels of an equal ID


def how_to_fill(desk: str, deadline: dt.date | None) -> tuple[str, ...]:
    """The cover's instructions (a community's workbook, or the street office's own)."""
    who = "本社区" if desk == DESK_COMMUNITY else "街道"
    back = f"于 {deadline.isoformat()} 前" if deadline else ""
    return (
        "疑点只是核查线索，不是结论。请逐户入户调查：查看户口簿、身份证、低保领取证、领取低保金存折，"
        "了解住房条件、实际生活水平、家庭财产、经济来源和从事的职业，并做好记录。",
        "“核查清单”每行是一条疑点，同一户的疑点排在一起，序号相同；按“优先级”从上到下安排入户"
        "（优先级的含义见上表）。",
        "每条疑点核查后，在黄色的“核查结论”栏从下拉列表中选择：" + "、".join(L.OUTCOMES)
        + "。一户有多条疑点的，每条分别填写结论；结论、核查人和日期都与同户上一行相同的，可选择“"
        + L.OUTCOME_SAME_AS_ABOVE + "”。",
        "选择了核查结论的，必须填写“核查人”和“核查日期”（格式 2024-03-05）；需要说明的情况写在“备注”栏。"
        "请直接填写内容，不要填写公式。",
        "尚未入户的疑点，核查结论留空即可，导入时跳过，重新生成的清单仍会列出。",
        "已导入系统的核查结论以灰色显示并锁定，不能修改；如需更正，请联系街道。",
        "请不要增删行、调整顺序或修改黄色以外的单元格；工作表已保护（无密码），隐藏列供系统校验，"
        "改动任何锁定单元格，整份文件将不被导入。",
        "“待人工确认”工作表列出系统无法确定是否为同一人的记录：请比对原始材料后，在黄色的“确认结果”栏选择"
        + "、".join(L.LINK_DECISIONS) + "，并填写确认人和确认日期。确认为同一人的，下次生成清单时列为疑点；"
        "不是同一人的，不再提示。",
        f"身份证号已脱敏（只显示前6位和后4位）。本表含居民个人信息，仅限{who}核查使用，不得外传。",
        "认定不符合条件的对象，须经居民代表逐户评议并公示后，方可报街道办事处审核清退。",
        f"填好后保存为 .xlsx 格式（不要另存为 .xls 或 .et），{back}发回街道办事处，由系统导入。",
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
    """The 疑点 cell: rule, who, the evidence and (for a linked finding) how well it matched;
    the earlier verdict on the same finding when there is one."""
    who = f"{f['member_name'] or '（姓名未知）'} {mask(f['id_number'])}".strip() if f["id_number"] else "全户"
    # shortened visibly (a 40,000-character complaint), the whole text kept in flags.evidence
    evidence = shorten(display_evidence(f["rule"], f["evidence"]).replace(chr(10), " "))
    # A linked finding's evidence already ends with the link's match probability: one number, not two;
    # a finding that involves no linkage has no match score at all.
    score = ("" if MATCH_PROBABILITY_LABEL in evidence or f["rule"] in L.NO_LINKAGE_RULES
             else f"（匹配度 {f['match_score']:.2f}）")
    line = f"【{rule_label(f['rule'])}】{who}：{evidence}{score}"
    earlier = f.get("earlier")
    if earlier:
        changed = "本月证据有变化，请重新核查" if earlier["evidence_key"] != f.get("evidence_key") else "证据未变"
        line += (f"\n〔{month_label(earlier['verdict_month'])}清单曾核查：{earlier['outcome']}，"
                 f"{earlier['checked_by']} {earlier['checked_on'].isoformat()}；{changed}〕")
    return line


def review_priority(f: dict) -> str:
    """A possible death whose registry ID equals the member's is 紧急; otherwise the rule's label."""
    if L.finding_priority(f["rule"]) == L.URGENT:
        return L.URGENT if any(p in (f["evidence"] or "") for p in ID_EQUAL_PHRASES) else L.HIGH
    return L.finding_priority(f["rule"])


def write_workbook(path: Path, run_month: str, street: str, community: str, n_active: int,
                   flagged: list[Household], possibles: list[dict], options: dict | None = None) -> None:
    """One workbook: cover, worklist, review list and the importer's `_meta`. `options`: `desk`
    (community or street), `sent_file` (the name `worklist_items` records), `deadline` (a date)."""
    options = options or {}
    desk = options.get("desk", DESK_COMMUNITY)
    deadline = options.get("deadline")
    place = f"{street}{community}" if desk == DESK_COMMUNITY else f"{street}（街道办事处）"
    wb, fmt = new_workbook(str(path))
    wb.set_properties({"title": f"{place} {month_label(run_month)} 低保入户核查清单",
                       "subject": "城市低保专项清理", "author": "dibao", "comments": f"{L.FILE_FORMAT} v{L.FORMAT_VERSION}"})
    header = f"&L{place.replace('&', '&&')}&C{month_label(run_month)} 低保入户核查清单" + (
        f"&R请于{deadline.isoformat()}前发回" if deadline else "")
    # a community's cover does not list the rules judged above it (X01); the street's lists only those
    street_rules = set(options.get("street_rules", ()))
    rules = [r for r in RULE_TITLES if (r in street_rules) == (desk == DESK_STREET)] if street_rules else list(
        RULE_TITLES)
    _write_cover(wb, fmt, run_month, street, community, n_active, flagged, possibles, desk, deadline, header,
                 rules)
    _write_worklist(wb, fmt, run_month, flagged, desk, header)
    _write_review(wb, fmt, run_month, possibles, header)
    _write_meta(wb, run_month, street, community, len(flagged), desk, options.get("sent_file", path.name))
    wb.close()


def _write_cover(wb, fmt, run_month, street, community, n_active, flagged, possibles, desk, deadline,
                 header, rules: list[str]) -> None:
    ws = wb.add_worksheet(L.COVER_SHEET)
    ws.set_column(0, 0, 10)
    ws.set_column(1, 1, 56)
    ws.set_column(2, 3, 10)
    title = "入户核查清单" if desk == DESK_COMMUNITY else "街道复核清单"
    ws.merge_range(0, 0, 0, 3, f"城市低保专项清理 {title}（{month_label(run_month)}）", fmt["title"])
    ws.set_row(0, 30)
    n_findings = sum(len(h.findings) for h in flagged)
    n_done = sum(1 for h in flagged for f in h.findings if f.get("verdict"))
    n_links_done = sum(1 for f in possibles if f.get("decision"))
    facts = [("街道", street), ("社区", community if desk == DESK_COMMUNITY else "（街道办事处复核，含各社区）"),
             ("核查月份", month_label(run_month)),
             ("发回期限", f"{deadline.isoformat()} 前发回街道办事处" if deadline else "（未设定）"),
             ("生成日期", dt.date.today().isoformat())]
    if desk == DESK_COMMUNITY:
        facts.append(("在保户数", f"{n_active} 户"))
    facts += [("疑点户数", f"{len(flagged)} 户，疑点 {n_findings} 条"),
              ("核查进度", f"已反馈 {n_done} 条，尚待核查 {n_findings - n_done} 条"),
              ("待人工确认", f"{len(possibles)} 条，已答复 {n_links_done} 条，尚待确认 {len(possibles) - n_links_done} 条")]
    row = 2
    for label, value in facts:
        ws.write(row, 0, label, fmt["label"])
        ws.merge_range(row, 1, row, 3, value, fmt["value"])
        row += 1
    row += 1
    for col, head in enumerate(("规则", "清理对象", "户数", "疑点条数")):
        ws.write(row, col, head, fmt["header"])
    row += 1
    for rule in rules:
        title_ = RULE_TITLES[rule]
        n_h = sum(1 for h in flagged if rule in h.rules)
        n_f = sum(1 for h in flagged for f in h.findings if f["rule"] == rule)
        ws.write(row, 0, rule, fmt["cell_center"])
        ws.write(row, 1, title_, fmt["cell"])
        ws.write_number(row, 2, n_h, fmt["int"])
        ws.write_number(row, 3, n_f, fmt["int"])
        row += 1
    ws.write(row, 0, "合计", fmt["total"])
    ws.write(row, 1, "（一户可有多个疑点）", fmt["total"])
    ws.write_number(row, 2, len(flagged), fmt["total"])
    ws.write_number(row, 3, n_findings, fmt["total"])
    row += 2
    ws.write(row, 0, "优先级", fmt["title"])
    row += 1
    for label, stake_rules, why in L.STAKES:
        shown = [r for r in stake_rules if r in rules]
        if not shown:
            continue
        text = f"{'、'.join(shown)}：{why}"
        ws.write(row, 0, label, fmt["urgent"] if label == L.URGENT else fmt["cell_center"])
        ws.merge_range(row, 1, row, 3, text, fmt["cell"])
        ws.set_row(row, row_height([(text, 74)]))
        row += 1
    row += 1
    ws.write(row, 0, "填写说明", fmt["title"])
    row += 1
    if not flagged:
        ws.merge_range(row, 0, row, 3, "本月没有需要入户核查的疑点，核查清单为空。", fmt["note"])
        row += 1
    for i, text in enumerate(how_to_fill(desk, deadline), 1):
        line = f"{i}. {text}"
        ws.merge_range(row, 0, row, 3, line, fmt["note"])
        ws.set_row(row, row_height([(line, 84)]))
        row += 1
    print_setup(ws, landscape=False, header_rows=None, header=header)
    ws.protect("", PROTECT_OPTIONS)
    ws.activate()


def worklist_rows(run_month: str, flagged: list[Household]) -> list[dict]:
    """The 核查清单 rows: one per finding, households in priority order, each household's findings
    in the order of what is at stake. Each row's visible values, keyed by column."""
    rows = []
    for n, h in enumerate(flagged, 1):
        for f in sorted(h.findings, key=lambda f: L.finding_sort_key(f["rule"], f["match_score"])):
            rows.append({"finding": f, "household": h, L.SEQ: n, L.HOUSEHOLD: h.household_id,
                         L.HEAD: h.head_name or "", L.ADDRESS: h.address or "", L.BENEFIT: h.benefit_monthly,
                         L.FINDINGS: finding_line(f), L.PRIORITY: L.finding_priority(f["rule"])})
    return rows


def _write_worklist(wb, fmt, run_month: str, flagged: list[Household], desk: str, header: str) -> None:
    ws = wb.add_worksheet(L.WORKLIST_SHEET)
    cols = L.WORKLIST_COLUMNS
    index = {c: i for i, c in enumerate(cols)}
    for i, c in enumerate(cols):
        ws.set_column(i, i, c.width, fmt["hidden"] if c.hidden else None, {"hidden": c.hidden})
        ws.write(0, i, c.header, fmt["header_edit"] if c.editable else fmt["header"])
    ws.set_row(0, 22)
    ws.freeze_panes(1, 0)

    rows = worklist_rows(run_month, flagged)
    for r, row in enumerate(rows, 1):
        f, h = row["finding"], row["household"]
        key = f["key"]
        label = row[L.PRIORITY]
        ws.write_number(r, index[L.SEQ], row[L.SEQ], fmt["seq"])
        ws.write_string(r, index[L.HOUSEHOLD], h.household_id, fmt["cell"])
        ws.write_string(r, index[L.HEAD], row[L.HEAD], fmt["cell"])
        ws.write_string(r, index[L.ADDRESS], row[L.ADDRESS], fmt["cell"])
        if h.benefit_monthly is None:
            ws.write_blank(r, index[L.BENEFIT], None, fmt["money"])
        else:
            ws.write_number(r, index[L.BENEFIT], h.benefit_monthly, fmt["money"])
        ws.write_string(r, index[L.FINDINGS], row[L.FINDINGS], fmt["cell"])
        ws.write_string(r, index[L.PRIORITY], label, fmt["urgent"] if label == L.URGENT else fmt["cell_center"])
        checked = [(c, row[c]) for c in L.LOCKED_COLUMNS]
        verdict = f.get("verdict")
        if verdict:  # imported already: written back, locked, and part of the row's check
            answers = {L.OUTCOME: verdict["outcome"], L.CHECKED_BY: verdict["checked_by"],
                       L.CHECKED_ON: verdict["checked_on"], L.NOTE: redact_ids(verdict["note"])}
            ws.write_string(r, index[L.OUTCOME], answers[L.OUTCOME], fmt["done"])
            ws.write_string(r, index[L.CHECKED_BY], answers[L.CHECKED_BY], fmt["done"])
            ws.write_datetime(r, index[L.CHECKED_ON], dt.datetime.combine(answers[L.CHECKED_ON], dt.time()),
                              fmt["done_date"])
            ws.write_string(r, index[L.NOTE], answers[L.NOTE], fmt["done"])
            checked += [(c, answers[c]) for c in L.ANSWER_COLUMNS]
        else:
            for c in (L.OUTCOME, L.CHECKED_BY, L.NOTE):
                ws.write_blank(r, index[c], None, fmt["edit"])
            ws.write_blank(r, index[L.CHECKED_ON], None, fmt["edit_date"])
        ws.write_string(r, index[L.ROW_KEY], L.row_key(run_month, h.household_id), fmt["hidden"])
        ws.write_string(r, index[L.FINDING_KEY], key, fmt["hidden"])
        ws.write_string(r, index[L.CHECK], L.cell_checks(key, checked), fmt["hidden"])
        ws.set_row(r, row_height([(row[L.FINDINGS], L.FINDINGS.width), (row[L.ADDRESS], L.ADDRESS.width),
                                  (redact_ids((verdict or {}).get("note")), L.NOTE.width)]))

    last = max(len(rows), 1)
    first_day = dt.date.fromisoformat(f"{run_month}-01")
    example = first_day + dt.timedelta(days=4)  # an example the rule below accepts
    ws.data_validation(1, index[L.OUTCOME], last, index[L.OUTCOME], {
        "validate": "list", "source": list(L.OUTCOME_CHOICES), "ignore_blank": True,
        "input_title": "核查结论", "input_message": "请从下拉列表选择；未入户的留空；“同上”＝与同户上一行相同",
        "error_title": "核查结论无效", "error_message": "只能选择：" + "、".join(L.OUTCOME_CHOICES),
    })
    ws.data_validation(1, index[L.CHECKED_ON], last, index[L.CHECKED_ON], {
        "validate": "date", "criteria": "between", "minimum": first_day, "maximum": dt.date(2099, 12, 31),
        "ignore_blank": True, "input_title": "核查日期", "input_message": f"例如 {example.isoformat()}",
        "error_title": "日期无效", "error_message": f"请填写 {first_day.isoformat()} 以后的日期，例如 {example.isoformat()}",
    })
    visible = [i for i, c in enumerate(cols) if not c.hidden]
    ws.autofilter(0, 0, len(rows), visible[-1])
    ws.print_area(0, 0, len(rows), visible[-1])
    print_setup(ws, landscape=True, header_rows=0, header=header)
    ws.protect("", PROTECT_OPTIONS)


def review_rows(possibles: list[dict]) -> list[dict]:
    """The 待人工确认 rows: a possible death with an equal ID first (紧急), then by priority."""
    ordered = sorted(possibles, key=lambda f: (L.priority_rank(review_priority(f)),
                                               L.RULE_ORDER.get(f["rule"], 99), f["household_id"], -f["match_score"],
                                               f["source_record_id"] or ""))
    rows = []
    for n, f in enumerate(ordered, 1):
        rows.append({"possible": f, L.R_SEQ: n, L.R_HOUSEHOLD: f["household_id"], L.R_ADDRESS: f["address"] or "",
                     L.R_MEMBER: f["member_name"] or "", L.R_ID: mask(f["id_number"]),
                     L.R_RULE: rule_label(f["rule"]), L.R_SOURCE: source_label(f["source"]),
                     L.R_RECORD: f["source_record_id"] or "", L.R_SCORE: float(f["match_score"]),
                     L.R_EVIDENCE: shorten(display_evidence(f["rule"], f["evidence"])), L.R_PRIORITY: review_priority(f)})
    return rows


def _write_review(wb, fmt, run_month: str, possibles: list[dict], header: str) -> None:
    ws = wb.add_worksheet(L.REVIEW_SHEET)
    cols = L.REVIEW_COLUMNS
    index = {c: i for i, c in enumerate(cols)}
    for i, c in enumerate(cols):
        ws.set_column(i, i, c.width, fmt["hidden"] if c.hidden else None, {"hidden": c.hidden})
        ws.write(0, i, c.header, fmt["header_edit"] if c.editable else fmt["header"])
    ws.freeze_panes(1, 0)
    rows = review_rows(possibles)
    for r, row in enumerate(rows, 1):
        f = row["possible"]
        key = f["link_key"]
        for c in L.REVIEW_LOCKED_COLUMNS:
            v = row[c]
            if c is L.R_SEQ:
                ws.write_number(r, index[c], v, fmt["seq"])
            elif c is L.R_SCORE:
                ws.write_number(r, index[c], v, fmt["score"])
            elif c is L.R_PRIORITY:
                ws.write_string(r, index[c], v, fmt["urgent"] if v == L.URGENT else fmt["cell_center"])
            else:
                ws.write_string(r, index[c], v, fmt["cell"])
        checked = [(c, row[c]) for c in L.REVIEW_LOCKED_COLUMNS]
        decision = f.get("decision")
        if decision:
            answers = {L.R_DECISION: decision["decision"], L.R_DECIDED_BY: decision["decided_by"],
                       L.R_DECIDED_ON: decision["decided_on"], L.R_NOTE: redact_ids(decision["note"])}
            for c in (L.R_DECISION, L.R_DECIDED_BY, L.R_NOTE):
                ws.write_string(r, index[c], answers[c], fmt["done"])
            ws.write_datetime(r, index[L.R_DECIDED_ON], dt.datetime.combine(answers[L.R_DECIDED_ON], dt.time()),
                              fmt["done_date"])
            checked += [(c, answers[c]) for c in L.REVIEW_ANSWER_COLUMNS]
        else:
            for c in (L.R_DECISION, L.R_DECIDED_BY, L.R_NOTE):
                ws.write_blank(r, index[c], None, fmt["edit"])
            ws.write_blank(r, index[L.R_DECIDED_ON], None, fmt["edit_date"])
        ws.write_string(r, index[L.R_ROW_KEY], L.row_key(run_month, f["household_id"]), fmt["hidden"])
        ws.write_string(r, index[L.R_LINK_KEY], key, fmt["hidden"])
        ws.write_string(r, index[L.R_CHECK], L.cell_checks(key, checked), fmt["hidden"])
        ws.set_row(r, row_height([(row[L.R_EVIDENCE], L.R_EVIDENCE.width), (row[L.R_RULE], L.R_RULE.width),
                                  (row[L.R_ADDRESS], L.R_ADDRESS.width)]))
    if rows:
        first_day = dt.date.fromisoformat(f"{run_month}-01")
        ws.data_validation(1, index[L.R_DECISION], len(rows), index[L.R_DECISION], {
            "validate": "list", "source": list(L.LINK_DECISIONS), "ignore_blank": True,
            "input_title": "确认结果", "input_message": "比对原始材料后从下拉列表选择；未确认的留空",
            "error_title": "确认结果无效", "error_message": "只能选择：" + "、".join(L.LINK_DECISIONS),
        })
        ws.data_validation(1, index[L.R_DECIDED_ON], len(rows), index[L.R_DECIDED_ON], {
            "validate": "date", "criteria": "between", "minimum": first_day, "maximum": dt.date(2099, 12, 31),
            "ignore_blank": True, "input_title": "确认日期",
            "input_message": f"例如 {(first_day + dt.timedelta(days=4)).isoformat()}",
            "error_title": "日期无效", "error_message": f"请填写 {first_day.isoformat()} 以后的日期",
        })
        visible = [i for i, c in enumerate(cols) if not c.hidden]
        ws.print_area(0, 0, len(rows), visible[-1])
    else:  # printed, a bare header row reads like a page gone missing
        ws.merge_range(1, 0, 1, len(L.REVIEW_LOCKED_COLUMNS) - 1, "本清单本月无待人工确认的记录。", fmt["cell"])
    print_setup(ws, landscape=True, header_rows=0, header=header)
    ws.protect("", PROTECT_OPTIONS)


def _write_meta(wb, run_month: str, street: str, community: str, n_households: int, desk: str,
                sent_file: str) -> None:
    ws = wb.add_worksheet(L.META_SHEET)
    for r, (k, v) in enumerate((("format", L.FILE_FORMAT), ("version", str(L.FORMAT_VERSION)),
                                ("run_month", run_month), ("street", street), ("community", community),
                                ("desk", desk), ("sent_file", sent_file),
                                ("households", str(n_households)),
                                ("generated_at", dt.datetime.now().isoformat(timespec="seconds")))):
        ws.write_string(r, 0, k)
        ws.write_string(r, 1, v)
    ws.very_hidden()
    ws.protect("", {"select_locked_cells": False, "select_unlocked_cells": False})
