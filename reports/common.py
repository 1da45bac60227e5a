"""Small helpers every report writer shares: the run month, output paths, ID redaction."""

from __future__ import annotations

import datetime as dt
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


CELL_LIMIT = 32_767  # characters Excel keeps in one cell
PIECE_LIMIT = 1_000  # characters of one finding's evidence shown in a cell
SHORTENED = "…【已截断，共{n}字，全文见数据库 flags.evidence】"


def shorten(text: str, limit: int = PIECE_LIMIT) -> str:
    """`text` itself, or its first characters and a visible marker saying how long it was, in
    `limit` characters at most (a 40,000-character complaint quoted in an evidence sentence)."""
    if len(text) <= limit:
        return text
    marker = SHORTENED.format(n=len(text))
    return text[:max(limit - len(marker), 0)] + marker


def fit_cell(pieces: list[str], separator: str = "\n", limit: int = CELL_LIMIT) -> str:
    """Join `pieces` into one cell within Excel's limit, every piece kept: each is shortened
    (visibly) to an equal share when the whole would not fit, never dropped."""
    text = separator.join(pieces)
    if len(text) <= limit or not pieces:
        return text
    share = max((limit - len(separator) * (len(pieces) - 1)) // len(pieces), 1)
    return separator.join(shorten(p, share) for p in pieces)[:limit]


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



def run_policy(con: duckdb.DuckDBPyConnection, run_month: str):
    """The policy the month's latest succeeded run used (`runs.policy`), over the defaults; the
    defaults when no run recorded one (a report written from hand-built tables)."""
    import json

    from matching.policy import Policy, default_policy

    policy = default_policy()
    if not has_table(con, "runs"):
        return policy
    row = con.execute("""SELECT policy FROM runs WHERE run_month = ? AND status = 'succeeded' AND policy IS NOT NULL
                         ORDER BY started_at DESC LIMIT 1""", [run_month]).fetchone()
    if not row:
        return policy
    values = policy.as_dict()
    values.update(json.loads(row[0]))
    return Policy(values, "runs")


def return_deadline(run_month: str, day: int) -> dt.date:
    """The day of the month after run_month by which worklists come back."""
    import datetime as dt

    year, month = map(int, run_month.split("-"))
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return dt.date(year, month, day)
