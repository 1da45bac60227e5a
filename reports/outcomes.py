"""Caseworkers' verdicts back into the database, and the memory that keeps a cleared
finding from being raised again.

`import_outcomes(con, files)` validates each returned worklist as a whole and imports it
whole or not at all. It never raises for a bad file: it returns an `ImportResult` with every
file's fate (`files`: imported, already imported, or rejected with its problems), one line
per problem in Chinese naming file, sheet, row and column. Call `result.raise_if_rejected()`
to turn problems into `OutcomeFileRejected` (the CLI does, after reporting every file).

What is read: on 核查清单, one verdict per finding (a row; its hidden `_finding_key` is the
fingerprint of the flags row's evidence, `layout.finding_fingerprint`); on 待人工确认, one
answer per possible link (是同一人 / 不是同一人 / 无法确认) into `link_decisions`. Rows left
blank are skipped (not yet visited). What is refused, with the cell named: any change to a
locked cell (checked against the row's hidden `_check`: names, amounts, evidence, keys, and a
verdict already imported and written back), a formula in an answer cell, a value not on the
drop-down, a missing 核查人/核查日期, a date outside the month..today, a row not sent in that
file. .xls/.et files and anything that is not a dibao worklist are refused in one line.

A file already imported (same bytes, or the same verdicts re-saved: `content_sha256`) changes
nothing; a verdict equal to the finding's latest one is not stored twice. A later verdict on
the same finding supersedes the earlier in `outcomes_latest`; both rows stay in `outcomes`.

`suppress_cleared(con, run_month)` applies the link decisions to the month's possible rows
(是同一人: the row becomes a finding; 不是同一人: held back) and moves the month's findings that
a caseworker already found 不属实-继续保障 on the same evidence into `flags_cleared`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import openpyxl
from openpyxl.utils import get_column_letter

from reports import layout as L
from reports.common import begin, check_run_month, commit, require_tables, rollback
from reports.errors import OutcomeFileRejected
from reports.queries import cleared_groups_sql
from reports.tables import ensure_tables

_DATE_TEXT = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")
_DATE_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_EXCEL_EPOCH = dt.date(1899, 12, 30)
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Excel 97-2003 .xls, WPS .et (and .wps, .doc)
ZIP_MAGIC = b"PK\x03\x04"
PROBLEMS_SHOWN = 20  # per file, on the console; the rest are counted

IMPORTED, ALREADY, REJECTED = "imported", "already", "rejected"


@dataclass
class FileFate:
    """What happened to one file of an import."""

    path: Path
    status: str  # IMPORTED, ALREADY or REJECTED
    verdicts: int = 0  # new verdicts stored
    decisions: int = 0  # new link answers stored
    blank: int = 0  # rows not filled in
    unchanged: int = 0  # filled rows equal to what was already imported
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        name = self.path.name
        if self.status == IMPORTED:
            return (f"已导入 {name}：核查结论 {self.verdicts} 条，人工确认 {self.decisions} 条，"
                    f"未填写 {self.blank} 条" + (f"，与已导入相同 {self.unchanged} 条" if self.unchanged else ""))
        if self.status == ALREADY:
            return f"已导入过 {name}：内容与已导入的相同，未重复导入"
        return f"未导入 {name}：发现 {len(self.problems)} 个问题，整份文件未导入"


@dataclass
class ImportResult:
    """What an import did. `problems` has one line per problem; files named in it were not imported."""

    imported: list[Path] = field(default_factory=list)
    already_imported: list[Path] = field(default_factory=list)
    rejected: list[Path] = field(default_factory=list)
    rows_imported: int = 0
    rows_blank: int = 0
    links_imported: int = 0
    problems: list[str] = field(default_factory=list)
    files: list[FileFate] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, fate: FileFate) -> None:
        self.files.append(fate)
        {IMPORTED: self.imported, ALREADY: self.already_imported, REJECTED: self.rejected}[fate.status].append(
            fate.path)
        self.problems.extend(fate.problems)
        if fate.status == IMPORTED:
            self.rows_imported += fate.verdicts
            self.rows_blank += fate.blank
            self.links_imported += fate.decisions

    def report_lines(self, shown: int = PROBLEMS_SHOWN) -> list[str]:
        """Every file's fate, each rejected file's first `shown` problems and a count of the rest."""
        lines = []
        for fate in self.files:
            lines.append(fate.line())
            lines += [f"  {p}" for p in fate.problems[:shown]]
            if len(fate.problems) > shown:
                lines.append(f"  ……另有 {len(fate.problems) - shown} 个问题未列出（共 {len(fate.problems)} 个）")
        return lines

    def totals_line(self) -> str:
        return (f"共 {len(self.files)} 个文件：导入 {len(self.imported)} 个（核查结论 {self.rows_imported} 条，"
                f"人工确认 {self.links_imported} 条，未填写 {self.rows_blank} 条），已导入过 "
                f"{len(self.already_imported)} 个，未导入 {len(self.rejected)} 个")

    def raise_if_rejected(self) -> None:
        if self.problems:
            rejected = [f for f in self.files if f.status == REJECTED]
            shown = [p for f in rejected for p in f.problems[:PROBLEMS_SHOWN]]
            raise OutcomeFileRejected(shown, total=len(self.problems), files=len(rejected))


@dataclass(frozen=True)
class _Verdict:
    item: dict  # the worklist_items row of the finding
    outcome: str
    checked_by: str
    checked_on: dt.date
    note: str | None


@dataclass(frozen=True)
class _Decision:
    item: dict  # the review_items row of the possible link
    decision: str
    decided_by: str
    decided_on: dt.date
    note: str | None


def parse_check_date(value: object) -> dt.date | None:
    """A date cell as Excel or a person may leave it: a date, an Excel serial number,
    '2024-03-05', '2024/3/5', '2024.3.5', '2024年3月5日' or '20240305'. None if it is not one."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if 1 <= value < 2958466:
            return _EXCEL_EPOCH + dt.timedelta(days=int(value))
        return None
    text = str(value).strip()
    m = _DATE_TEXT.match(text) or _DATE_COMPACT.match(text)
    if not m:
        return None
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def _text(value: object) -> str:
    if value is None:
        return ""
    return str(value).strip()


def _open_workbook(path: Path) -> tuple[Any, str | None]:
    """The workbook (read-only, formulas as written), or None and the one-line reason."""
    name = path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, f"{name}：无法读取该文件（{exc.strerror or type(exc).__name__}）"
    if data.startswith(OLE2_MAGIC):
        return None, (f"{name}：这是 Excel 97-2003（.xls）或 WPS 表格（.et）格式的文件，dibao 只能读取 .xlsx；"
                      "请用 Excel 或 WPS 打开它，“另存为” Excel 工作簿（*.xlsx）后再导入")
    if not data.startswith(ZIP_MAGIC):
        return None, f"{name}：不是 Excel 工作簿（.xlsx），dibao 无法读取；请发回 dibao 生成的核查清单"
    try:  # from bytes: openpyxl then does not refuse a .et or .xls name around an .xlsx body
        return openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False), None
    except Exception:  # noqa: BLE001 - any failure to parse is the same answer to a caseworker
        return None, f"{name}：文件已损坏或不是 Excel 工作簿（.xlsx），无法读取；请发回 dibao 生成的原文件"


def _read_meta(wb) -> dict[str, str] | None:
    if L.META_SHEET not in wb.sheetnames:
        return None
    meta = {_text(r[0]): _text(r[1]) for r in wb[L.META_SHEET].iter_rows(min_col=1, max_col=2, values_only=True)
            if r and r[0]}
    return meta if meta.get("format") == L.FILE_FORMAT else None


class _Sheet:
    """One sheet of a returned workbook: its header (by text) and cells, and how to name a cell."""

    def __init__(self, file_name: str, ws, columns: tuple[L.WorklistColumn, ...]) -> None:
        self.file_name, self.title = file_name, ws.title
        rows = ws.iter_rows()
        first = next(rows, ())
        self.header = {_text(c.value): i for i, c in enumerate(first) if _text(c.value)}
        self.missing = [c.header for c in columns if c.header not in self.header]
        self.rows = rows

    def where(self, row: int, col: L.WorklistColumn) -> str:
        letter = get_column_letter(self.header[col.header] + 1) if col.header in self.header else "?"
        return f"{self.file_name} 工作表“{self.title}”第{row}行 {letter}列（{col.header}）"

    def cell(self, cells: tuple, col: L.WorklistColumn):
        i = self.header[col.header]
        return cells[i] if i < len(cells) else None


def _value(cell) -> object:
    return None if cell is None else cell.value


def _is_formula(cell) -> bool:
    return cell is not None and (getattr(cell, "data_type", None) == "f"
                                 or (isinstance(cell.value, str) and cell.value.startswith("=")))


def _check_locked(sheet: _Sheet, r: int, cells: tuple, key: str, columns: tuple[L.WorklistColumn, ...],
                  checks: list[str], problems: list[str]) -> bool:
    """Compare each locked cell with its check; one problem per changed cell. True if none changed."""
    ok = True
    for col, expected in zip(columns, checks, strict=True):
        if L.cell_check(key, col.header, _value(sheet.cell(cells, col))) != expected:
            problems.append(f"{sheet.where(r, col)}：锁定的单元格被改动（“{_text(_value(sheet.cell(cells, col)))[:30]}”）；"
                            "系统写入的内容不得修改，请在原文件上重新填写")
            ok = False
    return ok


def _answer(sheet: _Sheet, r: int, cells: tuple, columns: tuple[L.WorklistColumn, ...], choices: tuple[str, ...],
            month_start: dt.date, today: dt.date, problems: list[str]) -> tuple[str, str, dt.date, str | None] | None:
    """Read one row's answer cells (choice, who, date, note): None if blank or wrong (problems noted)."""
    choice_col, by_col, on_col, note_col = columns
    bad = False
    for col in columns:
        if _is_formula(sheet.cell(cells, col)):
            problems.append(f"{sheet.where(r, col)}：单元格中是公式“{_text(_value(sheet.cell(cells, col)))[:40]}”，"
                            "不接受公式，请直接填写内容")
            bad = True
    if bad:
        return None
    choice = _text(_value(sheet.cell(cells, choice_col)))
    if not choice:
        return None
    if choice not in choices:
        problems.append(f"{sheet.where(r, choice_col)}：“{choice[:30]}”不是有效的{choice_col.header}"
                        f"（只能从下拉列表选择：{'、'.join(choices)}）")
        bad = True
    who = _text(_value(sheet.cell(cells, by_col)))
    if not who:
        problems.append(f"{sheet.where(r, by_col)}：已填写{choice_col.header}，但{by_col.header}为空（请填写是谁核查的）")
        bad = True
    raw = _value(sheet.cell(cells, on_col))
    when = None
    if raw is None or _text(raw) == "":
        problems.append(f"{sheet.where(r, on_col)}：已填写{choice_col.header}，但{on_col.header}为空"
                        f"（请填写日期，例如 {(month_start + dt.timedelta(days=4)).isoformat()}）")
        bad = True
    else:
        when = parse_check_date(raw)
        if when is None:
            problems.append(f"{sheet.where(r, on_col)}：“{_text(raw)[:30]}”不是日期"
                            "（请写成 2024-03-05、2024/3/5 或 20240305）")
            bad = True
        elif not month_start <= when <= today:
            problems.append(f"{sheet.where(r, on_col)}：{when.isoformat()} 不在 {month_start.isoformat()} 至 "
                            f"{today.isoformat()} 之间（清单月份的第一天到今天）")
            bad = True
    if bad or when is None:
        return None
    return choice, who, when, _text(_value(sheet.cell(cells, note_col))) or None


@dataclass
class _Parsed:
    meta: dict
    verdicts: list[_Verdict] = field(default_factory=list)
    decisions: list[_Decision] = field(default_factory=list)
    blank: int = 0
    unchanged: int = 0


def _items(con: duckdb.DuckDBPyConnection, table: str, key: str, month: str, sent_file: str) -> dict[str, dict]:
    cur = con.execute(f"SELECT * FROM {table} WHERE run_month = ? AND sent_file = ?", [month, sent_file])
    cols = [d[0] for d in cur.description]
    return {row[key]: row for row in (dict(zip(cols, r, strict=True)) for r in cur.fetchall())}


def _read_rows(con, sheet: _Sheet, month: str, items: dict[str, dict], kind: str, today: dt.date,
               problems: list[str], parsed: _Parsed) -> None:
    """Validate one sheet's rows (kind 'finding': 核查清单, 'link': 待人工确认) into `parsed`."""
    if kind == "finding":
        key_col, locked, answers, choices = L.FINDING_KEY, L.LOCKED_COLUMNS, L.ANSWER_COLUMNS, L.OUTCOME_CHOICES
        row_key_col, check_col, household_col = L.ROW_KEY, L.CHECK, L.HOUSEHOLD
    else:
        key_col, locked, answers, choices = L.R_LINK_KEY, L.REVIEW_LOCKED_COLUMNS, L.REVIEW_ANSWER_COLUMNS, \
            L.LINK_DECISIONS
        row_key_col, check_col, household_col = L.R_ROW_KEY, L.R_CHECK, L.R_HOUSEHOLD
    month_start = dt.date.fromisoformat(f"{month}-01")
    seen: dict[str, int] = {}
    above: tuple[str | None, tuple | None] = (None, None)  # the household and answer of the row above
    for r, cells in enumerate(sheet.rows, start=2):
        values = [_value(c) for c in cells]
        if not any(_text(v) for v in values):
            continue  # an empty row below the list
        key = _text(_value(sheet.cell(cells, key_col)))
        parsed_key = L.parse_row_key(_value(sheet.cell(cells, row_key_col)))
        checks = L.split_checks(_value(sheet.cell(cells, check_col)))
        if kind == "link" and not key and parsed_key is None and not any(
                _text(_value(sheet.cell(cells, c))) for c in answers):
            continue  # the "nothing to confirm" line of an empty review sheet
        if parsed_key is None or not key or checks is None or len(checks) not in (len(locked), len(locked) + 4):
            problems.append(f"{sheet.where(r, key_col)}：隐藏的校验列缺失或损坏（请勿增加、复制或重新输入行）")
            continue
        row_month, household = parsed_key
        if row_month != month:
            problems.append(f"{sheet.where(r, row_key_col)}：该行属于 {row_month} 的清单，而文件是 {month} 的")
            continue
        if key in seen:
            problems.append(f"{sheet.where(r, key_col)}：同一条记录再次出现（第一次在第{seen[key]}行）")
            continue
        seen[key] = r
        item = items.get(key)
        if item is None or item["household_id"] != household:
            problems.append(f"{sheet.where(r, household_col)}：低保户 {household} 的这条记录不是 {month} 在本文件中下发的"
                            "（清单可能已重新生成，请填写新下发的文件）")
            continue
        if not _check_locked(sheet, r, cells, key, locked, checks[:len(locked)], problems):
            continue
        if len(checks) > len(locked):  # a verdict already imported, written back and locked
            if not _check_locked(sheet, r, cells, key, answers, checks[len(locked):], problems):
                continue
            parsed.unchanged += 1
            written = [_value(sheet.cell(cells, c)) for c in answers]
            above = (household, (_text(written[0]), _text(written[1]), parse_check_date(written[2]),
                                 _text(written[3]) or None))
            continue
        if kind == "finding" and _text(_value(sheet.cell(cells, answers[0]))) == L.OUTCOME_SAME_AS_ABOVE:
            # the household-level convenience a caseworker asks for: this finding, the verdict of the row above
            if above[0] != household or above[1] is None or above[1][2] is None:
                problems.append(f"{sheet.where(r, answers[0])}：“{L.OUTCOME_SAME_AS_ABOVE}”只能用于同一户的第二条及以后的"
                                "疑点，且上一行已填写核查结论")
                continue
            outcome, who, when, note = above[1]
            parsed.verdicts.append(_Verdict(item, outcome, who, when,
                                            _text(_value(sheet.cell(cells, answers[3]))) or note))
            continue
        got = _answer(sheet, r, cells, answers, choices, month_start, today, problems)
        above = (household, got)
        if got is None:
            if kind == "finding" and not _text(_value(sheet.cell(cells, answers[0]))):
                parsed.blank += 1  # a finding not visited yet (an unanswered link is not counted)
            continue
        if kind == "finding":
            parsed.verdicts.append(_Verdict(item, *got))
        else:
            parsed.decisions.append(_Decision(item, *got))


def _validate_file(con: duckdb.DuckDBPyConnection, path: Path, today: dt.date) -> tuple[_Parsed | None, list[str]]:
    """Read one returned worklist; return what it holds and the problems (none: importable)."""
    name = path.name
    wb, problem = _open_workbook(path)
    if wb is None:
        return None, [problem or name]
    try:
        meta = _read_meta(wb)
        if meta is None:
            return None, [f"{name}：不是 dibao 生成的核查清单（缺少系统校验信息）；请发回 dibao 生成的原文件，填写后保存"]
        if meta.get("version") != str(L.FORMAT_VERSION):
            return None, [f"{name}：核查清单格式版本 {meta.get('version') or '（无）'} 不是本系统读取的版本"
                          f"（{L.FORMAT_VERSION}）；请填写重新下发的清单"]
        month = meta.get("run_month", "")
        try:
            check_run_month(month)
        except Exception:  # noqa: BLE001
            return None, [f"{name}：系统校验信息中的月份“{month}”无效；请发回 dibao 生成的原文件"]
        sent_file = meta.get("sent_file", "")
        parsed = _Parsed(meta)
        problems: list[str] = []
        for sheet_name, columns, table, key, kind in (
                (L.WORKLIST_SHEET, L.WORKLIST_COLUMNS, "worklist_items", "finding_key", "finding"),
                (L.REVIEW_SHEET, L.REVIEW_COLUMNS, "review_items", "link_key", "link")):
            if sheet_name not in wb.sheetnames:
                problems.append(f"{name}：缺少工作表“{sheet_name}”（请勿删除或改名工作表）")
                continue
            sheet = _Sheet(name, wb[sheet_name], columns)
            if sheet.missing:
                problems.append(f"{name} 工作表“{sheet_name}”第1行：缺少列 {'、'.join(sheet.missing)}（请勿删除或改名列）")
                continue
            _read_rows(con, sheet, month, _items(con, table, key, month, sent_file), kind, today, problems, parsed)
        return parsed, problems
    finally:
        wb.close()


def _content_sha(parsed: _Parsed) -> str:
    """What a file says, whatever its bytes: month, file, and every verdict and answer in it."""
    lines = [parsed.meta.get("run_month", ""), parsed.meta.get("sent_file", "")]
    lines += sorted("\x1f".join(["v", v.item["finding_key"], v.outcome, v.checked_by, v.checked_on.isoformat(),
                                 v.note or ""]) for v in parsed.verdicts)
    lines += sorted("\x1f".join(["d", d.item["link_key"], d.decision, d.decided_by, d.decided_on.isoformat(),
                                 d.note or ""]) for d in parsed.decisions)
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def _drop_unchanged(con: duckdb.DuckDBPyConnection, parsed: _Parsed) -> None:
    """Keep only the verdicts and answers that differ from the latest already stored."""
    month = parsed.meta["run_month"]
    latest = {(k, o, b, d, n or None) for k, o, b, d, n in con.execute(
        "SELECT finding_key, outcome, checked_by, checked_on, note FROM outcomes_latest WHERE run_month = ? "
        "AND finding_key IS NOT NULL", [month]).fetchall()}
    fresh = [v for v in parsed.verdicts
             if (v.item["finding_key"], v.outcome, v.checked_by, v.checked_on, v.note) not in latest]
    decided = {(k, o, b, d, n or None) for k, o, b, d, n in con.execute(
        "SELECT link_key, decision, decided_by, decided_on, note FROM link_decisions_latest").fetchall()}
    new_decisions = [d for d in parsed.decisions
                     if (d.item["link_key"], d.decision, d.decided_by, d.decided_on, d.note) not in decided]
    parsed.unchanged += len(parsed.verdicts) - len(fresh) + len(parsed.decisions) - len(new_decisions)
    parsed.verdicts, parsed.decisions = fresh, new_decisions


def import_outcomes(con: duckdb.DuckDBPyConnection, files: list[Path], imported_by: str | None = None,
                    today: dt.date | None = None) -> ImportResult:
    """Import returned worklists; see the module docstring for what is accepted and rejected."""
    require_tables(con, "raw_roster_households")
    ensure_tables(con)
    today = today or dt.date.today()
    result = ImportResult()
    (last_stamp,) = con.execute("SELECT max(imported_at) FROM outcome_files").fetchone() or (None,)
    for path in map(Path, files):
        if not path.is_file():
            result.add(FileFate(path, REJECTED, problems=[f"{path.name}：文件不存在（{path}）"]))
            continue
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        if con.execute("SELECT 1 FROM outcome_files WHERE file_sha256 = ?", [sha]).fetchone():
            result.add(FileFate(path, ALREADY))
            continue
        try:
            parsed, problems = _validate_file(con, path, today)
        except Exception:  # noqa: BLE001 - a file dibao cannot make sense of is refused, never a traceback
            parsed, problems = None, [f"{path.name}：文件内容无法识别（可能已损坏），整份文件未导入；请发回 dibao 生成的原文件"]
        if problems or parsed is None:
            result.add(FileFate(path, REJECTED, problems=problems))
            continue
        content = _content_sha(parsed)
        filled = parsed.verdicts or parsed.decisions
        if filled and con.execute("SELECT 1 FROM outcome_files WHERE content_sha256 = ?", [content]).fetchone():
            result.add(FileFate(path, ALREADY))
            continue
        _drop_unchanged(con, parsed)
        if (filled or parsed.unchanged) and not parsed.verdicts and not parsed.decisions:
            result.add(FileFate(path, ALREADY))
            continue
        stamp = dt.datetime.now()
        if last_stamp is not None and stamp <= last_stamp:  # keep file order even within one clock tick
            stamp = last_stamp + dt.timedelta(microseconds=1)
        last_stamp = stamp
        _store(con, path, sha, content, parsed, imported_by, stamp)
        result.add(FileFate(path, IMPORTED, verdicts=len(parsed.verdicts), decisions=len(parsed.decisions),
                            blank=parsed.blank, unchanged=parsed.unchanged))
    return result


def _store(con, path: Path, sha: str, content: str, parsed: _Parsed, imported_by: str | None,
           stamp: dt.datetime) -> None:
    meta = parsed.meta
    owner = begin(con)
    try:
        if parsed.verdicts:
            con.executemany(
                """INSERT INTO outcomes (run_month, community, household_id, outcome, checked_by, checked_on, note,
                   file_name, file_sha256, imported_at, finding_key, id_number, rule, source, evidence_key)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [[meta["run_month"], v.item["community"], v.item["household_id"], v.outcome, v.checked_by,
                  v.checked_on, v.note, path.name, sha, stamp, v.item["finding_key"], v.item["id_number"],
                  v.item["rule"], v.item["source"], v.item["evidence_key"]] for v in parsed.verdicts])
        if parsed.decisions:
            con.executemany(
                """INSERT INTO link_decisions (run_month, street, community, household_id, id_number, rule, source,
                   source_record_id, evidence_key, link_key, decision, decided_by, decided_on, note, file_name,
                   file_sha256, imported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [[meta["run_month"], d.item["street"], d.item["community"], d.item["household_id"],
                  d.item["id_number"], d.item["rule"], d.item["source"], d.item["source_record_id"],
                  d.item["evidence_key"], d.item["link_key"], d.decision, d.decided_by, d.decided_on, d.note,
                  path.name, sha, stamp] for d in parsed.decisions])
        con.execute("""INSERT INTO outcome_files (file_sha256, file_name, run_month, street, community, rows_imported,
                       rows_blank, imported_by, imported_at, content_sha256, links_imported)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    [sha, path.name, meta["run_month"], meta.get("street", ""), meta.get("community", ""),
                     len(parsed.verdicts), parsed.blank, imported_by, stamp, content, len(parsed.decisions)])
        commit(con, owner)
    except Exception:
        rollback(con, owner)
        raise


FLAG_COLUMNS = ("run_month", "household_id", "id_number", "rule", "source", "source_record_id",
                "match_class", "match_score", "evidence")


def suppress_cleared(con: duckdb.DuckDBPyConnection, run_month: str) -> int:
    """Apply the people's answers to run_month's findings, after the rules wrote `flags`/`flag_keys`
    and before the worklists.

    1. Link decisions (`link_decisions_latest`, any month) on a `possible` row of the same member,
       rule, source, record and evidence key: 是同一人 makes it a finding (`probable`, the answer
       appended to its evidence); 不是同一人 moves it to `flags_cleared` (reason 不是同一人): it is not
       proposed again while its evidence is unchanged. 无法确认 leaves it on the review list.
    2. A finding (household, member, rule, source) is held back when EVERY evidence key it has this
       month has, as its most recent verdict from an earlier month, 不属实-继续保障 on that very
       finding. New evidence (a key never judged) raises it again.
    The month's earlier `flags_cleared` rows are first put back, so calling it twice, or after a
    re-run, gives the same result. Returns the number of findings held back by step 2.
    """
    check_run_month(run_month)
    require_tables(con, "flags", "flag_keys")
    ensure_tables(con)
    cols = ", ".join(FLAG_COLUMNS)
    same_finding = ("t.household_id = f.household_id AND t.id_number IS NOT DISTINCT FROM f.id_number "
                    "AND t.rule = f.rule AND t.source = f.source")
    owner = begin(con)
    try:
        # put back what an earlier call held back, unless the rules wrote it again
        con.execute(f"""INSERT INTO flags ({cols}) SELECT {cols} FROM flags_cleared c WHERE c.run_month = $1
                        AND NOT EXISTS (SELECT 1 FROM flags f WHERE f.run_month = c.run_month
                          AND f.household_id = c.household_id AND f.id_number IS NOT DISTINCT FROM c.id_number
                          AND f.rule = c.rule AND f.source = c.source
                          AND f.source_record_id IS NOT DISTINCT FROM c.source_record_id)""", [run_month])
        con.execute("""INSERT INTO flag_keys (run_month, household_id, id_number, rule, source, evidence_key)
                       SELECT DISTINCT c.run_month, c.household_id, c.id_number, c.rule, c.source,
                              unnest(string_split(c.evidence_key, ','))
                       FROM flags_cleared c WHERE c.run_month = $1
                        AND NOT EXISTS (SELECT 1 FROM flag_keys k WHERE k.run_month = c.run_month
                          AND k.household_id = c.household_id AND k.id_number IS NOT DISTINCT FROM c.id_number
                          AND k.rule = c.rule AND k.source = c.source)""", [run_month])
        con.execute("DELETE FROM flags_cleared WHERE run_month = ?", [run_month])

        _apply_link_decisions(con, run_month, cols)

        con.execute(f"CREATE OR REPLACE TEMP TABLE _cleared AS {cleared_groups_sql()}", [run_month])
        (moved,) = con.execute(f"""
            INSERT INTO flags_cleared ({cols}, evidence_key, cleared_in_month, outcome_file, reason)
            SELECT {", ".join("f." + c for c in FLAG_COLUMNS)}, t.evidence_key, t.cleared_in_month, t.outcome_file,
                   '{L.OUTCOME_CLEARED}'
            FROM flags f JOIN _cleared t ON {same_finding}
            WHERE f.run_month = $1 AND f.match_class IN ('exact', 'probable')""", [run_month]).fetchone() or (0,)
        con.execute(f"""DELETE FROM flags f WHERE f.run_month = $1 AND f.match_class IN ('exact', 'probable')
                        AND EXISTS (SELECT 1 FROM _cleared t WHERE
                        {same_finding})""", [run_month])
        con.execute(f"""DELETE FROM flag_keys f WHERE f.run_month = $1
                        AND EXISTS (SELECT 1 FROM _cleared t WHERE
                        {same_finding})
                        AND NOT EXISTS (SELECT 1 FROM flags g WHERE g.run_month = f.run_month
                          AND g.household_id = f.household_id AND g.id_number IS NOT DISTINCT FROM f.id_number
                          AND g.rule = f.rule AND g.source = f.source)""", [run_month])
        con.execute("DROP TABLE _cleared")
        commit(con, owner)
    except Exception:
        rollback(con, owner)
        raise
    return int(moved)


def _apply_link_decisions(con: duckdb.DuckDBPyConnection, run_month: str, cols: str) -> None:
    """Step 1 of `suppress_cleared` (inside its transaction)."""
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _decided AS
        SELECT f.household_id, f.id_number, f.rule, f.source, f.source_record_id, k.evidence_key,
               d.decision, d.decided_by, d.decided_on, d.run_month AS decided_month, d.file_name
        FROM flags f
        JOIN flag_keys k ON k.run_month = f.run_month AND k.household_id = f.household_id
         AND k.id_number IS NOT DISTINCT FROM f.id_number AND k.rule = f.rule AND k.source = f.source
        JOIN link_decisions_latest d ON d.household_id = f.household_id
         AND d.id_number IS NOT DISTINCT FROM f.id_number AND d.rule = f.rule AND d.source = f.source
         AND d.source_record_id IS NOT DISTINCT FROM f.source_record_id
         AND d.evidence_key IS NOT DISTINCT FROM k.evidence_key
        WHERE f.run_month = $1 AND f.match_class = 'possible'""", [run_month])
    same = ("d.household_id = f.household_id AND d.id_number IS NOT DISTINCT FROM f.id_number AND d.rule = f.rule "
            "AND d.source = f.source AND d.source_record_id IS NOT DISTINCT FROM f.source_record_id")
    con.execute(f"""UPDATE flags f SET match_class = 'probable',
                        evidence = f.evidence || '；经人工确认为同一人（' || d.decided_by || ' '
                                   || strftime(d.decided_on, '%Y-%m-%d') || '）'
                    FROM _decided d WHERE f.run_month = $1 AND f.match_class = 'possible'
                      AND d.decision = '{L.LINK_SAME}' AND {same}""", [run_month])
    con.execute(f"""INSERT INTO flags_cleared ({cols}, evidence_key, cleared_in_month, outcome_file, reason)
                    SELECT {", ".join("f." + c for c in FLAG_COLUMNS)}, d.evidence_key, d.decided_month, d.file_name,
                           '{L.LINK_DIFFERENT}'
                    FROM flags f JOIN _decided d ON {same}
                    WHERE f.run_month = $1 AND f.match_class = 'possible' AND d.decision = '{L.LINK_DIFFERENT}'""",
                [run_month])
    con.execute(f"""DELETE FROM flags f WHERE f.run_month = $1 AND f.match_class = 'possible'
                    AND EXISTS (SELECT 1 FROM _decided d WHERE d.decision = '{L.LINK_DIFFERENT}' AND {same})""",
                [run_month])
    con.execute("""DELETE FROM flag_keys k WHERE k.run_month = $1
                   AND NOT EXISTS (SELECT 1 FROM flags g WHERE g.run_month = k.run_month
                     AND g.household_id = k.household_id AND g.id_number IS NOT DISTINCT FROM k.id_number
                     AND g.rule = k.rule AND g.source = k.source)
                   AND EXISTS (SELECT 1 FROM _decided d WHERE d.household_id = k.household_id
                     AND d.id_number IS NOT DISTINCT FROM k.id_number AND d.rule = k.rule AND d.source = k.source)""",
                [run_month])
    con.execute("DROP TABLE _decided")
