"""The returned-worklist contract: what the writer lays out and the importer reads back.

The writer and the importer both take sheet names, headers, outcome choices and the
hidden keys from here, so a change to the layout cannot leave one of them behind.
The importer finds columns by their header text, not by position.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

FILE_FORMAT = "dibao-worklist"
FORMAT_VERSION = 1  # bump when the layout changes; the importer refuses versions it does not know

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


@dataclass(frozen=True)
class WorklistColumn:
    header: str
    width: float
    editable: bool = False  # unlocked for the caseworker; every other cell is locked
    hidden: bool = False  # machine-readable key, hidden and locked


SEQ = WorklistColumn("序号", 5)
HOUSEHOLD = WorklistColumn("低保户编号", 15)  # DB + 12 digits on one line (looked at in LibreOffice)
HEAD = WorklistColumn("户主姓名", 10)
ADDRESS = WorklistColumn("家庭住址", 16)
BENEFIT = WorklistColumn("月保障金额", 10)
FINDINGS = WorklistColumn("疑点", 56)
PRIORITY = WorklistColumn("优先级", 7)
OUTCOME = WorklistColumn("核查结论", 15, editable=True)
CHECKED_BY = WorklistColumn("核查人", 8, editable=True)
CHECKED_ON = WorklistColumn("核查日期", 11, editable=True)
NOTE = WorklistColumn("备注", 18, editable=True)
ROW_KEY = WorklistColumn("_row_key", 20, hidden=True)  # run_month|household_id
FINDING_KEYS = WorklistColumn("_finding_keys", 20, hidden=True)  # fingerprints of the findings sent

WORKLIST_COLUMNS: tuple[WorklistColumn, ...] = (
    SEQ, HOUSEHOLD, HEAD, ADDRESS, BENEFIT, FINDINGS, PRIORITY,
    OUTCOME, CHECKED_BY, CHECKED_ON, NOTE, ROW_KEY, FINDING_KEYS,
)

REVIEW_HEADERS: tuple[tuple[str, float], ...] = (
    (SEQ.header, SEQ.width), (HOUSEHOLD.header, HOUSEHOLD.width), (ADDRESS.header, ADDRESS.width), ("成员姓名", 10), ("身份证号(脱敏)", 21),
    ("疑点", 26), ("数据来源", 12), ("来源记录编号", 14), ("匹配度", 8), ("匹配说明", 60),
)


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


# Priority of a household on the worklist. Sorting: any R01 first, then the strongest
# evidence (highest match score), then the number of findings.
URGENT_RULES = frozenset({"R01"})
HIGH_SCORE = 0.95


def priority_label(rules: set[str], max_score: float) -> str:
    """The label shown in 优先级: 紧急 (a beneficiary may have died: stop payment first),
    高 (an exact-grade match), 一般 (probable matches only)."""
    if rules & URGENT_RULES:
        return "紧急"
    if max_score >= HIGH_SCORE:
        return "高"
    return "一般"


def sort_key(rules: set[str], max_score: float, n_findings: int, household_id: str) -> tuple:
    return (0 if rules & URGENT_RULES else 1, -max_score, -n_findings, household_id)
