"""The returned-worklist contract: what the writer lays out and the importer reads back.

The writer and the importer both take sheet names, headers, outcome choices and the
hidden keys from here, so a change to the layout cannot leave one of them behind.
The importer finds columns by their header text, not by position.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

FILE_FORMAT = "dibao-worklist"
# bump when the layout changes; the importer refuses versions it does not know.
# 2: one row per finding (a verdict per finding), the review sheet's drop-down, `_check`.
FORMAT_VERSION = 2

COVER_SHEET = "封面"
WORKLIST_SHEET = "核查清单"
REVIEW_SHEET = "待人工确认"
META_SHEET = "_meta"

# The outcome a caseworker picks, exactly as the drop-down offers it.
OUTCOME_EXIT = "属实-清退"
OUTCOME_ADJUST = "属实-调整保障金"
OUTCOME_CLEARED = "不属实-继续保障"
OUTCOME_UNVERIFIABLE = "无法核实"
OUTCOMES: tuple[str, ...] = (OUTCOME_EXIT, OUTCOME_ADJUST, OUTCOME_CLEARED, OUTCOME_UNVERIFIABLE)
# Offered on the drop-down after the outcomes: the verdict (and who, when) of the row above, when that
# row is the same household's. A household-level verdict where the caseworker asks for one; stored per finding.
OUTCOME_SAME_AS_ABOVE = "同上"
OUTCOME_CHOICES: tuple[str, ...] = (*OUTCOMES, OUTCOME_SAME_AS_ABOVE)

# The answer on the review sheet (待人工确认): is the registry record this member?
LINK_SAME = "是同一人"
LINK_DIFFERENT = "不是同一人"
LINK_UNSURE = "无法确认"
LINK_DECISIONS: tuple[str, ...] = (LINK_SAME, LINK_DIFFERENT, LINK_UNSURE)


@dataclass(frozen=True)
class WorklistColumn:
    header: str
    width: float
    editable: bool = False  # unlocked for the caseworker; every other cell is locked
    hidden: bool = False  # machine-readable key, hidden and locked


SEQ = WorklistColumn("序号", 5)  # the household's number: every finding of a household shares it
HOUSEHOLD = WorklistColumn("低保户编号", 15)  # DB + 12 digits on one line (looked at in LibreOffice)
HEAD = WorklistColumn("户主姓名", 10)
ADDRESS = WorklistColumn("家庭住址", 20)
BENEFIT = WorklistColumn("月保障金额", 10)
FINDINGS = WorklistColumn("疑点", 56)  # one finding per row
PRIORITY = WorklistColumn("优先级", 7)
OUTCOME = WorklistColumn("核查结论", 15, editable=True)
CHECKED_BY = WorklistColumn("核查人", 8, editable=True)
CHECKED_ON = WorklistColumn("核查日期", 12, editable=True)  # a date whole in LibreOffice
NOTE = WorklistColumn("备注", 18, editable=True)
ROW_KEY = WorklistColumn("_row_key", 20, hidden=True)  # run_month|household_id
FINDING_KEY = WorklistColumn("_finding_key", 20, hidden=True)  # fingerprint of the row's one finding
CHECK = WorklistColumn("_check", 20, hidden=True)  # `cell_checks` of the row's locked cells

WORKLIST_COLUMNS: tuple[WorklistColumn, ...] = (
    SEQ, HOUSEHOLD, HEAD, ADDRESS, BENEFIT, FINDINGS, PRIORITY,
    OUTCOME, CHECKED_BY, CHECKED_ON, NOTE, ROW_KEY, FINDING_KEY, CHECK,
)
ANSWER_COLUMNS: tuple[WorklistColumn, ...] = (OUTCOME, CHECKED_BY, CHECKED_ON, NOTE)
# The visible cells the importer checks against `_check`: any change to one rejects the file.
LOCKED_COLUMNS: tuple[WorklistColumn, ...] = (SEQ, HOUSEHOLD, HEAD, ADDRESS, BENEFIT, FINDINGS, PRIORITY)

# The review sheet (待人工确认): the same idea, with its own answer columns and drop-down.
R_SEQ = WorklistColumn("序号", 5)
R_HOUSEHOLD = WorklistColumn("低保户编号", 15)
R_ADDRESS = WorklistColumn("家庭住址", 20)
R_MEMBER = WorklistColumn("成员姓名", 10)
R_ID = WorklistColumn("身份证号(脱敏)", 21)
R_RULE = WorklistColumn("疑点", 22)
R_SOURCE = WorklistColumn("数据来源", 12)
R_RECORD = WorklistColumn("来源记录编号", 14)
R_SCORE = WorklistColumn("匹配度", 8)
R_EVIDENCE = WorklistColumn("匹配说明", 50)
R_PRIORITY = WorklistColumn("优先级", 7)
R_DECISION = WorklistColumn("确认结果", 12, editable=True)
R_DECIDED_BY = WorklistColumn("确认人", 8, editable=True)
R_DECIDED_ON = WorklistColumn("确认日期", 12, editable=True)
R_NOTE = WorklistColumn("说明", 16, editable=True)
R_ROW_KEY = WorklistColumn("_row_key", 20, hidden=True)
R_LINK_KEY = WorklistColumn("_link_key", 20, hidden=True)  # fingerprint of the possible link
R_CHECK = WorklistColumn("_check", 20, hidden=True)

REVIEW_COLUMNS: tuple[WorklistColumn, ...] = (
    R_SEQ, R_HOUSEHOLD, R_ADDRESS, R_MEMBER, R_ID, R_RULE, R_SOURCE, R_RECORD, R_SCORE, R_EVIDENCE, R_PRIORITY,
    R_DECISION, R_DECIDED_BY, R_DECIDED_ON, R_NOTE, R_ROW_KEY, R_LINK_KEY, R_CHECK,
)
REVIEW_ANSWER_COLUMNS: tuple[WorklistColumn, ...] = (R_DECISION, R_DECIDED_BY, R_DECIDED_ON, R_NOTE)
REVIEW_LOCKED_COLUMNS: tuple[WorklistColumn, ...] = (
    R_SEQ, R_HOUSEHOLD, R_ADDRESS, R_MEMBER, R_ID, R_RULE, R_SOURCE, R_RECORD, R_SCORE, R_EVIDENCE, R_PRIORITY)


def row_key(run_month: str, household_id: str) -> str:
    return f"{run_month}|{household_id}"


def parse_row_key(text: object) -> tuple[str, str] | None:
    if not isinstance(text, str) or text.count("|") != 1:
        return None
    month, household = text.split("|")
    return (month, household) if month and household else None


def finding_fingerprint(household_id: str, id_number: str | None, rule: str, source: str, evidence_key: str) -> str:
    """A short, non-reversible token for one finding sent; no ID appears in the workbook."""
    raw = "\x1f".join([household_id, id_number or "", rule, source, evidence_key or ""])
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]


def link_fingerprint(household_id: str, id_number: str | None, rule: str, source: str,
                     source_record_id: str | None, evidence_key: str | None) -> str:
    """The token of one possible link on the review sheet (the member, the rule, the registry record)."""
    raw = "\x1f".join(["link", household_id, id_number or "", rule, source, source_record_id or "",
                        evidence_key or ""])
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]


def cell_text(value: object) -> str:
    """A cell's value as the check compares it, however Excel, WPS or LibreOffice saved it back
    (680.0 may come back as 680, a date as a datetime)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return f"{float(value):.4f}"
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


CHECK_WIDTH = 6  # characters per cell in `_check`


# Letters for hex digits: a row's checks side by side never read as a run of digits (an ID to a scanner).
_LETTERS = str.maketrans("0123456789abcdef", "abcdefghijklmnop")


def cell_check(key: str, header: str, value: object) -> str:
    """The check of one locked cell: bound to the row's finding (a cell moved to another row fails).
    Six letters a-p (a hash's hex digits spelled as letters)."""
    raw = "\x1f".join([key, header, cell_text(value)])
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:CHECK_WIDTH].translate(_LETTERS)


def cell_checks(key: str, cells: list[tuple[WorklistColumn, object]]) -> str:
    """`_check` of a row: one `cell_check` per locked cell, in the order given."""
    return "".join(cell_check(key, col.header, value) for col, value in cells)


def split_checks(text: object) -> list[str] | None:
    if not isinstance(text, str) or not text or len(text) % CHECK_WIDTH:
        return None
    return [text[i:i + CHECK_WIDTH] for i in range(0, len(text), CHECK_WIDTH)]


# Priority: a declared order by what is at stake. A possible death comes first (stop the
# payment before anything else); then the registries that show income or assets the household
# did not declare, and the findings about who may judge (staff relatives, a person in two
# households); last the roster's own arithmetic and data errors, which no other department backs.
URGENT, HIGH, NORMAL = "紧急", "高", "一般"
PRIORITY_LABELS: tuple[str, ...] = (URGENT, HIGH, NORMAL)
STAKES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (URGENT, ("R01",), "保障对象可能已死亡：请先核实并暂停发放"),
    (HIGH, ("R02", "R03", "R04", "R08", "R09", "R07"), "其他部门登记的收入或就业：养老金、失业金、公积金、收入达标、外地务工、就业"),
    (HIGH, ("R05", "R06"), "其他部门登记的财产：机动车、营业用房、多套住房"),
    (HIGH, ("X01",), "低保经办人员、社区干部的近亲属享受低保未备案"),
    (HIGH, ("X02",), "同一人同时在两户在保"),
    (NORMAL, ("R12",), "群众举报"),
    (NORMAL, ("R11", "R10", "X03"), "仅由低保名册自身推算：保障人数、享受年限、身份证号无效"),
)
RULE_ORDER: dict[str, int] = {r: i for i, r in enumerate(r for _, rules, _ in STAKES for r in rules)}
RULE_PRIORITY: dict[str, str] = {r: label for label, rules, _ in STAKES for r in rules}
# Findings that come from no linkage (the roster's own data, or a complaint naming the household):
# a match score means nothing there, so none is shown.
NO_LINKAGE_RULES = frozenset({"R08", "R10", "R11", "R12", "X03"})


def finding_priority(rule: str) -> str:
    return RULE_PRIORITY.get(rule, NORMAL)


def priority_rank(label: str) -> int:
    return PRIORITY_LABELS.index(label) if label in PRIORITY_LABELS else len(PRIORITY_LABELS)


def priority_label(rules: set[str], max_score: float = 0.0) -> str:
    """The household's label: that of its most pressing finding (紧急, 高 or 一般)."""
    return min((finding_priority(r) for r in rules), key=priority_rank, default=NORMAL)


def finding_sort_key(rule: str, match_score: float) -> tuple:
    return (priority_rank(finding_priority(rule)), RULE_ORDER.get(rule, len(RULE_ORDER)), -match_score)


def sort_key(rules: set[str], max_score: float, n_findings: int, household_id: str) -> tuple:
    """Households: the most pressing first, then the weightiest rule, the strongest evidence, more findings."""
    first = min((finding_sort_key(r, 0.0)[:2] for r in rules), default=(len(PRIORITY_LABELS), len(RULE_ORDER)))
    return (*first, -max_score, -n_findings, household_id)
