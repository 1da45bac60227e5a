"""Small helpers every report writer shares: the run month, output paths, ID redaction."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from connectors.transactions import begin, commit, rollback  # noqa: F401  (re-exported for reports)
from matching.ids import redact_ids  # noqa: F401  (re-exported: the one redaction, matching.ids)
from reports.errors import BadRunMonth, MissingTable

if TYPE_CHECKING:  # imported for annotations only: a workbook-writing process need not load DuckDB
    import duckdb

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_BAD_FILE_CHARS = re.compile(r'[\\/:*?"<>|\s]+')


def check_run_month(run_month: str) -> str:
    """Return run_month unchanged, or raise BadRunMonth naming the expected form."""
    if not isinstance(run_month, str) or not _MONTH.match(run_month):
        raise BadRunMonth(f"run month {run_month!r} is not a month (expected YYYY-MM, e.g. 2024-03)")
    return run_month


def month_label(run_month: str) -> str:
    """'2024-03' -> '2024年3月'."""
    year, month = run_month.split("-")
    return f"{year}年{int(month)}月"


def month_dir(out_dir: Path, run_month: str) -> Path:
    path = Path(out_dir) / check_run_month(run_month)
    path.mkdir(parents=True, exist_ok=True)
    return path


def safe_file_part(text: str) -> str:
    """A street or community name made safe for a file name on Windows and Linux."""
    cleaned = _BAD_FILE_CHARS.sub("_", (text or "").strip()).strip("._")
    return cleaned or "未命名"


def redact_ids(text: str | None) -> str:
    """Mask, through `matching.ids.mask`, any resident ID that a free-text sentence carries."""
    if not text:
        return ""
    return _ID_IN_TEXT.sub(lambda m: mask(m.group(0).upper()), text)


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = current_schema()",
        [name],
    ).fetchone()
    return bool(row and row[0])


def require_tables(con: duckdb.DuckDBPyConnection, *names: str) -> None:
    missing = [n for n in names if not has_table(con, n)]
    if missing:
        raise MissingTable(f"the database has no table {', '.join(missing)} (run the rules for this month first)")

