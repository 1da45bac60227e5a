"""Load a folder of extracts into DuckDB: `raw_<extract>`, `quarantine`, `load_report`.

`load_extracts` is the one entry point the flow calls. It finds one file per extract,
reads it (readers.py), parses it (parse.py) and writes it, replacing that run month's
rows and keeping other months. It opens no transaction: the flow wraps the run in one.
SQL is built by the `*_sql` functions below and run by `load_extracts`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from .errors import AmbiguousExtract, InvalidArgument, LinkOutsideData, MissingExtract
from .parse import Split, parse_table
from .readers import RawTable, read_file
from .report import ExtractLoad, LoadReport
from .schemas import EXTRACTS, SUFFIXES, Extract

QUARANTINE_COLUMNS = (
    ("run_month", "VARCHAR"), ("extract", "VARCHAR"), ("source_file", "VARCHAR"), ("row_number", "INTEGER"),
    ("column_name", "VARCHAR"), ("value", "VARCHAR"), ("reason", "VARCHAR"), ("row_json", "VARCHAR"),
)
LOAD_REPORT_COLUMNS = (
    ("run_month", "VARCHAR"), ("extract", "VARCHAR"), ("source_file", "VARCHAR"), ("encoding", "VARCHAR"),
    ("rows_read", "BIGINT"), ("rows_loaded", "BIGINT"), ("rows_quarantined", "BIGINT"),
    ("present", "BOOLEAN"), ("notes", "VARCHAR"),
)
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")  # a run month, YYYY-MM


# ---------------------------------------------------------------- SQL builders


def quote_ident(name: str) -> str:
    """A SQL identifier, double-quoted (the project's one quoting helper)."""
    return '"' + name.replace('"', '""') + '"'


def raw_table(extract: Extract) -> str:
    return f"raw_{extract.name}"


def raw_columns(extract: Extract) -> list[tuple[str, str]]:
    return [("run_month", "VARCHAR"), *((c.name, c.kind.duckdb_type) for c in extract.columns),
            ("_source_file", "VARCHAR"), ("_row_number", "INTEGER")]


def raw_storage(extract: Extract) -> list[tuple[str, str]]:
    """`raw_columns` as created: the columns declared `distinct` (record keys, ID numbers)
    stored uncompressed.

    Those are nearly all distinct. DuckDB's text compression (DICT_FSST) halved them on
    disk, but it was most of the cost of writing a registry: the 7.9-million-row employment
    extract took 4.2 s to insert, 2.8 s with those two uncompressed (158 against 328 MB on
    disk), and counting its distinct ID numbers took 0.50 s, then 0.38 s. Codes that repeat
    (city, district, 户口簿 numbers) compress well and stay compressed. Column types are the
    same either way."""
    plain = {c.name for c in extract.columns if c.distinct}
    return [(n, f"{t} USING COMPRESSION uncompressed" if n in plain else t) for n, t in raw_columns(extract)]


def create_table_sql(table: str, columns: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> str:
    body = ", ".join(f"{quote_ident(n)} {t}" for n, t in columns)
    return f"CREATE TABLE IF NOT EXISTS {quote_ident(table)} ({body})"


def delete_month_sql(table: str) -> str:
    return f"DELETE FROM {quote_ident(table)} WHERE run_month = ?"


def insert_sql(table: str, columns: list[str], view: str, constants: tuple[str, ...] = ()) -> str:
    """Insert `columns` from `view`, and `constants` (column names) from parameters ($1, $2, …)."""
    cols = ", ".join(quote_ident(c) for c in columns)
    if not constants:
        return f"INSERT INTO {quote_ident(table)} ({cols}) SELECT {cols} FROM {quote_ident(view)}"
    named = ", ".join(quote_ident(c) for c in constants)
    params = ", ".join(f"${i}" for i in range(1, len(constants) + 1))
    return f"INSERT INTO {quote_ident(table)} ({cols}, {named}) SELECT {cols}, {params} FROM {quote_ident(view)}"


# ---------------------------------------------------------------- discovery


def discover(data_dir: Path) -> tuple[dict[str, Path], list[str], list[str]]:
    """(extract name -> file, ignored file names, warnings). Raises `AmbiguousExtract`, and
    `LinkOutsideData` for an extract that is a link to a file outside the data folder (it is
    neither read nor quoted)."""
    found: dict[str, list[Path]] = {}
    ignored: list[str] = []
    warnings: list[str] = []
    root = data_dir.resolve()
    for path in sorted(data_dir.iterdir()):
        stem, suffix = path.stem.lower(), path.suffix.lower()
        if path.is_symlink() and stem in EXTRACTS and suffix in SUFFIXES and not path.resolve().is_relative_to(root):
            raise LinkOutsideData(f"{path.name}: a link to a file outside the data folder {str(data_dir)!r}; "
                                  "copy the extract into the folder instead")
        if not path.is_file() or path.name.startswith(("~$", ".")):
            ignored.append(path.name)
            continue
        if stem in EXTRACTS and suffix in SUFFIXES:
            found.setdefault(stem, []).append(path)
            continue
        ignored.append(path.name)
        if stem in EXTRACTS:
            warnings.append(f"{path.name}: '{suffix}' files are not read; save it as .csv, .xlsx or .parquet")
    for name, paths in found.items():
        if len(paths) > 1:
            raise AmbiguousExtract(
                f"{data_dir}: {len(paths)} files claim extract {name}: "
                + ", ".join(p.name for p in paths) + "; keep one"
            )
    return {k: v[0] for k, v in found.items()}, ignored, warnings


# ---------------------------------------------------------------- load


def _check_args(data_dir: Path, run_month: str) -> None:
    if not isinstance(run_month, str) or not MONTH.match(run_month):
        raise InvalidArgument(f"'run_month' must be YYYY-MM with a month 01 to 12, got {run_month!r}")
    if not data_dir.is_dir():
        raise InvalidArgument(f"'data_dir' must be an existing folder, got {str(data_dir)!r}")


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create `raw_<extract>` for every extract, `quarantine` and `load_report`, if absent."""
    for extract in EXTRACTS.values():
        con.execute(create_table_sql(raw_table(extract), raw_storage(extract)))
    con.execute(create_table_sql("quarantine", QUARANTINE_COLUMNS))
    con.execute(create_table_sql("load_report", LOAD_REPORT_COLUMNS))


def _write(con: duckdb.DuckDBPyConnection, table: str, df: pl.DataFrame, columns: list[str],
           constants: dict[str, str] | None = None) -> None:
    """Insert `df` into `table`; `constants` (column -> value) are the same on every row and are
    not carried in the frame (two such columns of a 7.9-million-row extract cost 0.13 s)."""
    if df.height == 0:
        return
    constants = constants or {}
    view = f"__dibao_load_{table}"
    # polars' newest Arrow layout (string views) is its own: handed over without a copy. The
    # default, `large_string`, copied every text cell: 0.34 s of a 7.9-million-row extract,
    # 1.6 s over the city, for the same insert time and the same rows.
    con.register(view, df.to_arrow(compat_level=pl.CompatLevel.newest()))
    try:
        con.execute(insert_sql(table, [c for c in columns if c not in constants], view, tuple(constants)),
                    list(constants.values()))
    finally:
        con.unregister(view)


@dataclass
class Parsed:
    """One extract's file read and parsed, not yet written."""

    extract: Extract
    path: Path
    raw: RawTable
    split: Split


def read_and_parse(path: Path, extract: Extract, known_keys: pl.Series | None = None,
                   quarantined_keys: pl.Series | None = None) -> Parsed:
    """Read and parse one extract's file; no database work (`write_parsed` does that)."""
    raw = read_file(path, extract)
    return Parsed(extract, path, raw, parse_table(raw, extract, known_keys, quarantined_keys))


def write_parsed(con: duckdb.DuckDBPyConnection, parsed: Parsed, run_month: str) -> ExtractLoad:
    """Write a parsed extract to `raw_<extract>` and its rejected rows to `quarantine`
    (the month's old rows must already be deleted)."""
    raw, split, extract, path = parsed.raw, parsed.split, parsed.extract, parsed.path
    stats = ExtractLoad(
        extract=extract.name, source_file=path.name, file_type=raw.file_type, encoding=raw.encoding,
        sheet=raw.sheet, rows_read=split.rows_read, rows_loaded=split.loaded.height,
        rows_quarantined=split.quarantined.height, notes=list(raw.notes),
    )
    stats.notes.extend(raw.hmap.warnings())
    if split.rows_read == 0:
        stats.notes.append("no data rows (header only)")
    if split.blank_rows:
        stats.notes.append(f"{split.blank_rows} blank row(s) skipped")
    stats.check()
    # one chunk per column: DuckDB inserts it faster than the lazily parsed frame's 80 pieces
    loaded = split.loaded.drop("_source_file").rechunk()
    _write(con, raw_table(extract), loaded, [n for n, _ in raw_columns(extract)],
           {"run_month": run_month, "_source_file": raw.source_file})
    quarantined = split.quarantined.with_columns(
        pl.lit(run_month).alias("run_month"), pl.lit(extract.name).alias("extract"),
        pl.lit(path.name).alias("source_file"), pl.col("row_number").cast(pl.Int32),
    )
    _write(con, "quarantine", quarantined, [n for n, _ in QUARANTINE_COLUMNS])
    return stats


def load_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    extract: Extract,
    run_month: str,
    known_keys: pl.Series | None = None,
    quarantined_keys: pl.Series | None = None,
) -> tuple[ExtractLoad, Split]:
    """Read, parse and write one extract's file (the month's old rows must already be deleted)."""
    parsed = read_and_parse(path, extract, known_keys, quarantined_keys)
    return write_parsed(con, parsed, run_month), parsed.split


# Extracts read and parsed ahead of the one being written, each in a thread of its own. The
# city's load (2026-11-29, alternating): one ahead 18.6-20.6 s, two ahead 17.2-18.5 s (peak
# 5.19 -> 5.30 GiB), three ahead 18.3-18.7 s (5.72 GiB).
AHEAD = 2


def parsed_ahead(files: dict[str, Path], ahead: int = AHEAD) -> Iterator[Parsed]:
    """Every extract found in `files`, read and parsed in the contract's order, `ahead`
    extracts ahead of the caller: while the caller writes one to DuckDB, threads read and
    parse the next ones. Reading, parsing and writing are mostly native code that releases
    the GIL (polars, DuckDB); one after the other they left a core idle between and within
    files, and while a workbook extract (openpyxl, pure Python) was read. roster_members is
    parsed against roster_households' keys (its thread waits for them). An error reading
    or parsing a file is raised when the caller reaches that file, after every file before
    it is written, as a plain loop would."""
    todo = [EXTRACTS[name] for name in EXTRACTS if name in files]
    if not todo:
        return
    futures: dict[str, Future[Parsed]] = {}

    def parse(extract: Extract, households: Future[Parsed] | None) -> Parsed:
        known = held = None
        if extract.name == "roster_members" and households is not None:
            split = households.result().split  # submitted before this one: parsed, or being parsed
            known, held = split.loaded["household_id"], split.quarantined_keys
        return read_and_parse(files[extract.name], extract, known, held)

    with ThreadPoolExecutor(max_workers=max(1, ahead), thread_name_prefix="dibao-parse") as pool:
        submitted = 0

        def submit_up_to(n: int) -> None:
            nonlocal submitted
            while submitted < min(n, len(todo)):
                futures[todo[submitted].name] = pool.submit(parse, todo[submitted], futures.get("roster_households"))
                submitted += 1

        try:
            submit_up_to(ahead)
            for i, extract in enumerate(todo):
                parsed = futures[extract.name].result()
                submit_up_to(i + 1 + ahead)
                yield parsed
                del futures[extract.name]  # its frames can go once written
        finally:  # the caller stopped (done, or an error): drop what no thread has begun, wait for the rest
            pool.shutdown(wait=True, cancel_futures=True)


def _report_row(run_month: str, e: ExtractLoad) -> dict[str, object]:
    return {
        "run_month": run_month, "extract": e.extract, "source_file": e.source_file, "encoding": e.encoding,
        "rows_read": e.rows_read, "rows_loaded": e.rows_loaded, "rows_quarantined": e.rows_quarantined,
        "present": e.present, "notes": "; ".join(e.notes) or None,
    }


def load_extracts(con: duckdb.DuckDBPyConnection, data_dir: Path, run_month: str,
                  on_extract: Callable[[ExtractLoad], None] | None = None) -> LoadReport:
    """Load every extract found in `data_dir` for `run_month`; see the module docstring.

    Raises `MissingExtract` (all missing required extracts in one message), `AmbiguousExtract`,
    `UnreadableFile`, `BadHeader`, `InvalidArgument` — every one a `DibaoError` with a one-line message.
    """
    data_dir = Path(data_dir)
    _check_args(data_dir, run_month)
    files, ignored, warnings = discover(data_dir)
    missing = [e for e in EXTRACTS.values() if e.required and e.name not in files]
    if missing:
        raise MissingExtract(
            f"{data_dir}: required extract(s) missing: "
            + ", ".join(f"{e.name} ({e.title})" for e in missing)
            + f"; expected <name>{'|'.join(SUFFIXES)}"
        )
    report = LoadReport(run_month=run_month, data_dir=data_dir, ignored_files=ignored, warnings=warnings)
    ensure_tables(con)
    for extract in EXTRACTS.values():
        con.execute(delete_month_sql(raw_table(extract)), [run_month])
    con.execute(delete_month_sql("quarantine"), [run_month])
    con.execute(delete_month_sql("load_report"), [run_month])

    for extract in EXTRACTS.values():
        if extract.name not in files:
            report.missing_optional.append(extract.name)
            report.extracts[extract.name] = ExtractLoad(extract.name, present=False, notes=[
                f"optional extract {extract.name} ({extract.title}) not supplied; rules that need it are off"
            ])
    for parsed in parsed_ahead(files):
        stats = write_parsed(con, parsed, run_month)
        report.extracts[parsed.extract.name] = stats
        report.warnings.extend(f"{parsed.path.name}: {n}" for n in stats.notes if not n.startswith("data read from"))
        if on_extract is not None:
            on_extract(stats)
    report.extracts = {name: report.extracts[name] for name in EXTRACTS if name in report.extracts}
    report.check()
    rows = pl.DataFrame([_report_row(run_month, e) for e in report.extracts.values()],
                        schema={n: pl.String if t == "VARCHAR" else pl.Int64 if t == "BIGINT" else pl.Boolean
                                for n, t in LOAD_REPORT_COLUMNS})
    _write(con, "load_report", rows, [n for n, _ in LOAD_REPORT_COLUMNS])
    return report


__all__ = ["load_extracts", "load_file", "discover", "ensure_tables", "LoadReport", "ExtractLoad"]
