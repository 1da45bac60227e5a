"""Caseworkers' findings back into the database, and the memory that keeps a cleared
finding from being raised again.

`import_outcomes(con, files)` validates each returned worklist as a whole and imports it
whole or not at all. It never raises for a bad file: it returns an `ImportResult` with
the files imported, the files already imported (same sha256: nothing changes), and one
line per problem naming file, sheet, row and column. Call `result.raise_if_rejected()`
to turn problems into `OutcomeFileRejected` (the CLI does, after reporting what was
imported). A file with problems adds nothing; the other files in the call still import.

Rows with no 核查结论 are skipped (not yet visited). A later import for the same
household and month supersedes the earlier one in the view `outcomes_latest`; both
rows stay in `outcomes`.

`suppress_cleared(con, run_month)` moves this month's findings that a caseworker has
already found 不属实-继续保障 on the same evidence into `flags_cleared`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from zipfile import BadZipFile

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


@dataclass
class ImportResult:
    """What an import did. `problems` has one line per problem; files named in it were not imported."""

    imported: list[Path] = field(default_factory=list)
    already_imported: list[Path] = field(default_factory=list)
    rejected: list[Path] = field(default_factory=list)
    rows_imported: int = 0
    rows_blank: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_if_rejected(self) -> None:
        if self.problems:
            raise OutcomeFileRejected(self.problems)


@dataclass(frozen=True)
class _Row:
    household_id: str
    outcome: str
    checked_by: str
    checked_on: dt.date
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


def _read_meta(wb: openpyxl.Workbook) -> dict[str, str] | None:
    if L.META_SHEET not in wb.sheetnames:
        return None
    ws = wb[L.META_SHEET]
    meta = {_text(k): _text(v) for k, v, *_ in ws.iter_rows(min_col=1, max_col=2, values_only=True) if k}
    return meta if meta.get("format") == L.FILE_FORMAT else None


def _validate_file(con: duckdb.DuckDBPyConnection, path: Path, today: dt.date) -> tuple[dict, list[_Row], int, list[str]]:
    """Read one returned worklist; return (meta, rows to import, blank rows, problems)."""
    name = path.name
    try:
        wb = openpyxl.load_workbook(path, data_only=True)
    except (BadZipFile, OSError, KeyError, ValueError) as exc:
        return {}, [], 0, [f"{name}: not an Excel workbook dibao can read ({type(exc).__name__}: {exc})"]
    meta = _read_meta(wb)
    if meta is None:
        return {}, [], 0, [f"{name}: not a worklist produced by dibao (no '{L.META_SHEET}' sheet with format "
                           f"'{L.FILE_FORMAT}'); send back the file dibao wrote, filled in"]
    problems: list[str] = []
    if meta.get("version") != str(L.FORMAT_VERSION):
        problems.append(f"{name}: worklist format version {meta.get('version')!r} is not the one this dibao "
                        f"reads ({L.FORMAT_VERSION})")
    month = meta.get("run_month", "")
    community, street = meta.get("community", ""), meta.get("street", "")
    try:
        check_run_month(month)
    except Exception:
        problems.append(f"{name}: {L.META_SHEET} run_month {month!r} is not YYYY-MM")
    if L.WORKLIST_SHEET not in wb.sheetnames:
        problems.append(f"{name}: sheet '{L.WORKLIST_SHEET}' is missing")
    if problems:
        return meta, [], 0, problems

    ws = wb[L.WORKLIST_SHEET]
    header = {_text(c.value): c.column for c in ws[1] if _text(c.value)}
    missing = [c.header for c in L.WORKLIST_COLUMNS if c.header not in header]
    if missing:
        return meta, [], 0, [f"{name} {L.WORKLIST_SHEET} row 1: column(s) {', '.join(missing)} missing "
                             "(do not delete or rename columns)"]

    sent: dict[str, tuple[tuple[str, str], set[str]]] = {}
    for hh, st, comm, id_number, rule, source, key in con.execute(
            "SELECT household_id, street, community, id_number, rule, source, evidence_key FROM worklist_items "
            "WHERE run_month = ?", [month]).fetchall():
        fp = L.finding_fingerprint(hh, id_number, rule, source, key)
        sent.setdefault(hh, ((st, comm), set()))[1].add(fp)
    roster = {hh for (hh,) in con.execute(
        "SELECT household_id FROM raw_roster_households WHERE run_month = ?", [month]).fetchall()}
    first_day = dt.date.fromisoformat(f"{month}-01")

    def where(row: int, col: L.WorklistColumn) -> str:
        return f"{name} {L.WORKLIST_SHEET} row {row} column {get_column_letter(header[col.header])}({col.header})"

    rows: list[_Row] = []
    blank = 0
    seen: dict[str, int] = {}
    for r, values in enumerate(ws.iter_rows(min_row=2, values_only=True), start=2):
        def cell(col: L.WorklistColumn, _values=values) -> object:
            i = header[col.header] - 1
            return _values[i] if i < len(_values) else None

        key_text = cell(L.ROW_KEY)
        outcome = _text(cell(L.OUTCOME))
        if key_text is None and not any(_text(v) for v in values):
            continue  # an empty row below the list
        parsed = L.parse_row_key(key_text)
        if parsed is None:
            problems.append(f"{where(r, L.ROW_KEY)}: the hidden row key {key_text!r} is missing or damaged "
                            "(rows must not be added, copied or retyped)")
            continue
        row_month, hh = parsed
        if row_month != month:
            problems.append(f"{where(r, L.ROW_KEY)}: row belongs to month {row_month}, the file to {month}")
            continue
        shown = _text(cell(L.HOUSEHOLD))
        if shown != hh:
            problems.append(f"{where(r, L.HOUSEHOLD)}: household {shown!r} does not match the row's key {hh!r}")
        if hh in seen:
            problems.append(f"{where(r, L.HOUSEHOLD)}: household {hh} appears again (first on row {seen[hh]})")
        seen[hh] = r
        if hh not in roster:
            problems.append(f"{where(r, L.HOUSEHOLD)}: household {hh} is not on the {month} roster")
            continue
        if hh not in sent or sent[hh][0] != (street, community):
            problems.append(f"{where(r, L.HOUSEHOLD)}: household {hh} was never sent to {community} "
                            f"in the {month} worklists")
            continue
        fps = {fp for fp in _text(cell(L.FINDING_KEYS)).split(";") if fp}
        unknown = fps - sent[hh][1]
        if unknown or not fps:
            problems.append(f"{where(r, L.FINDING_KEYS)}: the findings on this row are not the ones sent to "
                            f"{community} for {month} (the worklist was re-generated since; fill in the newer file)")
        if not outcome:
            blank += 1
            continue
        if outcome not in L.OUTCOMES:
            problems.append(f"{where(r, L.OUTCOME)}: {outcome!r} is not an outcome "
                            f"(expected one of {' / '.join(L.OUTCOMES)})")
        checked_by = _text(cell(L.CHECKED_BY))
        if not checked_by:
            problems.append(f"{where(r, L.CHECKED_BY)}: blank, but 核查结论 is filled (who visited?)")
        raw_date = cell(L.CHECKED_ON)
        checked_on = None
        if raw_date is None or _text(raw_date) == "":
            problems.append(f"{where(r, L.CHECKED_ON)}: blank, but 核查结论 is filled (expected a date such as "
                            f"{first_day.isoformat()})")
        else:
            checked_on = parse_check_date(raw_date)
            if checked_on is None:
                problems.append(f"{where(r, L.CHECKED_ON)}: {_text(raw_date)!r} is not a date "
                                "(expected 2024-03-05, 2024/3/5 or 20240305)")
            elif not first_day <= checked_on <= today:
                problems.append(f"{where(r, L.CHECKED_ON)}: {checked_on.isoformat()} is outside "
                                f"{first_day.isoformat()} … {today.isoformat()} (the worklist month to today)")
                checked_on = None
        if checked_on is not None and checked_by and outcome in L.OUTCOMES:
            rows.append(_Row(hh, outcome, checked_by, checked_on, _text(cell(L.NOTE)) or None))
    return meta, rows, blank, problems


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
            result.rejected.append(path)
            result.problems.append(f"{path.name}: no such file ({path})")
            continue
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        if con.execute("SELECT 1 FROM outcome_files WHERE file_sha256 = ?", [sha]).fetchone():
            result.already_imported.append(path)
            continue
        meta, rows, blank, problems = _validate_file(con, path, today)
        if problems:
            result.rejected.append(path)
            result.problems.extend(problems)
            continue
        stamp = dt.datetime.now()
        if last_stamp is not None and stamp <= last_stamp:  # keep file order even within one clock tick
            stamp = last_stamp + dt.timedelta(microseconds=1)
        last_stamp = stamp
        _store(con, path, sha, meta, rows, blank, imported_by, stamp)
        result.imported.append(path)
        result.rows_imported += len(rows)
        result.rows_blank += blank
    return result


def _store(con, path: Path, sha: str, meta: dict, rows: list[_Row], blank: int, imported_by: str | None,
           stamp: dt.datetime) -> None:
    owner = begin(con)
    try:
        if rows:
            con.executemany(
                "INSERT INTO outcomes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [[meta["run_month"], meta["community"], r.household_id, r.outcome, r.checked_by, r.checked_on,
                  r.note, path.name, sha, stamp] for r in rows])
        con.execute("INSERT INTO outcome_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [sha, path.name, meta["run_month"], meta["street"], meta["community"], len(rows), blank,
                     imported_by, stamp])
        commit(con, owner)
    except Exception:
        rollback(con, owner)
        raise


FLAG_COLUMNS = ("run_month", "household_id", "id_number", "rule", "source", "source_record_id",
                "match_class", "match_score", "evidence")


def suppress_cleared(con: duckdb.DuckDBPyConnection, run_month: str) -> int:
    """Move run_month's findings already judged 不属实-继续保障 on unchanged evidence to `flags_cleared`.

    Call after the rules wrote `flags`/`flag_keys` for run_month and before the worklists.
    A finding is (household, member, rule, source); it is held back when EVERY evidence key it
    has this month was sent in an earlier month's worklist and the most recent earlier verdict
    on that household was 不属实-继续保障. New evidence (a key never judged) raises it again.
    `possible` rows are never held back. The month's earlier `flags_cleared` rows are first put
    back, so calling it twice, or after a re-run, gives the same result. Returns the number of
    `flags` rows moved.
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

        con.execute(f"CREATE OR REPLACE TEMP TABLE _cleared AS {cleared_groups_sql()}", [run_month])
        (moved,) = con.execute(f"""
            INSERT INTO flags_cleared
            SELECT {", ".join("f." + c for c in FLAG_COLUMNS)}, t.evidence_key, t.cleared_in_month, t.outcome_file
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
