"""Readers: one per file type, each giving a `RawTable` of text cells.

Every reader returns the cells as text exactly as read (no type guessing), so an ID
keeps its leading zeros. What the text alone cannot tell travels beside it:
`_num_c<i>` is true where a workbook/parquet cell was stored as a number (an ID that
was a number has lost digits), `_row_problem` says why a CSV line is malformed
(too few or too many fields, an unterminated quote), with `_row_problem_col` the
first column concerned.
"""

from __future__ import annotations

import csv
import datetime as dt
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from .encoding import to_utf8
from .errors import BadHeader, UnreadableFile
from .headers import HeaderMap, map_headers
from .schemas import Extract, Kind

ROW = "_row_number"
PROBLEM = "_row_problem"
PROBLEM_COL = "_row_problem_col"
MAX_EXTRA_FIELDS = 50  # extra fields past the header kept to tell empty from non-empty


def _one_line(e: BaseException) -> str:
    """A third-party exception as one short line for our messages."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:200]}" if text else type(e).__name__


def cell(i: int) -> str:
    return f"c{i}"


def num_flag(i: int) -> str:
    return f"_num_c{i}"


@dataclass
class RawTable:
    """A file's cells as text: columns c0..c<n-1> in header order, `_row_number` as Excel shows it."""

    source_file: str
    file_type: str
    hmap: HeaderMap
    data: pl.DataFrame
    encoding: str | None = None
    sheet: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def headers(self) -> list[str]:
        return self.hmap.headers


def _require(hmap: HeaderMap, where: str) -> None:
    if not hmap.ok:
        raise BadHeader(f"{where}: " + "; ".join(hmap.problems()) + f" (headers found: {', '.join(hmap.headers)})")


def _empty(n: int) -> pl.DataFrame:
    return pl.DataFrame(schema={**{cell(i): pl.String for i in range(n)}, ROW: pl.Int32})


# ---------------------------------------------------------------- CSV


def _field_counts(path: Path) -> tuple[pl.Series, bool]:
    """Fields per record (record 0 = header), quote-aware; and whether the last quote is unterminated.

    Lines are read as whole strings (the file has no NUL byte, so NUL never splits them).
    A line starts inside quotes when the quotes before it are odd in number; such
    continuation lines are joined to their record. Commas inside "..." do not count.
    """
    lines = pl.read_csv(
        path, has_header=False, separator="\x00", quote_char=None, schema={"l": pl.String},
        empty_string_is_null=False, raise_if_empty=False,
    )
    lines = lines.with_columns(q=pl.col("l").str.count_matches('"', literal=True).cast(pl.Int64))
    quotes = int(lines["q"].sum())
    if not quotes:  # no quote anywhere (most large extracts): every line is a record
        return lines.select(pl.col("l").str.count_matches(",", literal=True) + 1).to_series(), False
    lines = lines.with_columns(inside=(pl.col("q").cum_sum() - pl.col("q")) % 2 == 1)
    unterminated = quotes % 2 == 1
    lines = lines.with_columns(rec=(~pl.col("inside")).cast(pl.Int64).cum_sum() - 1)
    multi = lines["inside"].any()
    if multi:
        lines = lines.group_by("rec", maintain_order=True).agg(pl.col("l").str.join("\n"))
    fields = lines.select(
        pl.col("l").str.replace_all(r'"[^"]*"', "").str.count_matches(",", literal=True) + 1
    ).to_series()
    return fields, unterminated


def _last_record(path: Path) -> list[str]:
    """The cells of the file's last record, read leniently by the csv module (rare path)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        last: list[str] = []
        for row in csv.reader(f):
            last = row
    return last


def read_csv(path: Path, extract: Extract) -> RawTable:
    with tempfile.TemporaryDirectory(prefix="dibao-") as tmp:
        utf8, encoding = to_utf8(path, Path(tmp))
        with open(utf8, encoding="utf-8-sig", newline="") as f:
            try:
                header = next(csv.reader(f))
            except StopIteration:
                header = []
            except csv.Error as e:
                raise UnreadableFile(f"{path.name} row 1: the header row cannot be read ({_one_line(e)})") from None
        if not any(h.strip() for h in header):
            raise UnreadableFile(f"{path.name}: the first line is blank; expected a header row")
        hmap = map_headers(list(header), extract)
        _require(hmap, path.name)
        n = len(header)
        raw = RawTable(path.name, "csv", hmap, _empty(n), encoding=encoding)
        fields, unterminated = _field_counts(utf8)
        records = fields.len() - 1
        if records <= 0:
            return raw
        width = min(max(int(fields.max() or n), n), n + MAX_EXTRA_FIELDS)  # type: ignore[arg-type]
        wanted = records - 1 if unterminated else records
        data = _read_body(utf8, path.name, width, wanted) if wanted else _empty(width)
        if unterminated:
            data = pl.concat([data, _cut_off_row(utf8, width, records + 1)], how="diagonal")
    counts: pl.Expr | pl.Series
    if data.height != records:
        raw.notes.append(f"field counts not checked: {records} records by line, {data.height} parsed")
        counts = pl.lit(None, dtype=pl.Int64)
    else:
        counts = pl.Series(fields[1:]).cast(pl.Int64)
    raw.data = _mark_ragged(data.with_columns(_fields=counts), n, width, hmap.headers)
    return raw


def _read_body(path: Path, name: str, width: int, n_rows: int) -> pl.DataFrame:
    try:
        df = pl.read_csv(
            path, has_header=False, skip_rows=1, n_rows=n_rows,
            schema={cell(i): pl.String for i in range(width)}, empty_string_is_null=False,
            truncate_ragged_lines=True, missing_columns="insert", raise_if_empty=False,
            row_index_name=ROW, row_index_offset=2,
        )
    except (pl.exceptions.PolarsError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UnreadableFile(f"{name}: not a readable CSV ({first})") from None
    return df.with_columns(pl.col(ROW).cast(pl.Int32))


def _cut_off_row(path: Path, width: int, row_number: int) -> pl.DataFrame:
    cells = (_last_record(path) + [""] * width)[:width]
    row: dict[str, list[str] | list[int]] = {cell(i): [v] for i, v in enumerate(cells)}
    row[ROW] = [row_number]
    return pl.DataFrame(row, schema={**{cell(i): pl.String for i in range(width)}, ROW: pl.Int32}).with_columns(
        _cut=pl.lit(True)
    )


def _mark_ragged(df: pl.DataFrame, n: int, width: int, headers: list[str]) -> pl.DataFrame:
    if "_cut" not in df.columns:
        df = df.with_columns(_cut=pl.lit(False))
    df = df.with_columns(pl.col("_cut").fill_null(False))
    f = pl.col("_fields")
    extra_text = [pl.col(cell(i)).fill_null("").str.strip_chars() != "" for i in range(n, width)]
    has_extra = pl.any_horizontal(extra_text) if extra_text else pl.lit(False)
    first_missing = pl.lit(None, dtype=pl.String)
    for i in reversed(range(n)):
        first_missing = pl.when(f == i).then(pl.lit(headers[i])).otherwise(first_missing)
    problem = (
        pl.when(pl.col("_cut"))
        .then(pl.lit("unterminated quote: the last line is cut off (file truncated?)"))
        .when(f < n)
        .then(pl.format("the line has {} of {} fields (truncated line?)", f, pl.lit(n)))
        .when((f > n) & has_extra)
        .then(pl.format("the line has {} fields, the header {}: a value with an unquoted comma?", f, pl.lit(n)))
    )
    problem_col = (
        pl.when(pl.col("_cut")).then(pl.lit(headers[0]))
        .when(f < n).then(first_missing)
        .when((f > n) & has_extra).then(pl.lit(headers[-1]))
    )
    return df.with_columns(problem.alias(PROBLEM), problem_col.alias(PROBLEM_COL)).select(
        [cell(i) for i in range(n)] + [ROW, PROBLEM, PROBLEM_COL]
    )


# ---------------------------------------------------------------- xlsx


def _text(v: object) -> tuple[str | None, bool]:
    """A workbook cell as text, and whether Excel stored it as a number."""
    if v is None:
        return None, False
    if isinstance(v, bool):
        return ("TRUE" if v else "FALSE"), False
    if isinstance(v, int):
        return str(v), True
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v)), True
        return repr(v), True
    if isinstance(v, dt.datetime):
        if v.time() == dt.time(0, 0):
            return v.date().isoformat(), False
        return v.isoformat(sep=" "), False
    if isinstance(v, dt.date):
        return v.isoformat(), False
    if isinstance(v, dt.time | dt.timedelta):
        return str(v), False
    return str(v), False


def _rows(ws: object) -> Iterator[tuple[object, ...]]:
    yield from ws.iter_rows(values_only=True)  # type: ignore[attr-defined]


def read_xlsx(path: Path, extract: Extract) -> RawTable:
    try:
        import openpyxl

        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises many kinds for a corrupt or non-xlsx file
        raise UnreadableFile(f"{path.name}: not a readable .xlsx workbook ({_one_line(e)})") from None
    try:
        return _read_workbook(wb, path, extract)
    except (BadHeader, UnreadableFile):
        raise
    except Exception as e:  # a corrupt sheet surfaces while iterating
        raise UnreadableFile(f"{path.name}: the workbook is damaged ({_one_line(e)})") from None
    finally:
        wb.close()


def _read_workbook(wb: object, path: Path, extract: Extract) -> RawTable:
    tried: list[str] = []
    for ws in wb.worksheets:  # type: ignore[attr-defined]
        rows = _rows(ws)
        header = next(rows, None)
        if header is None or not any(_text(h)[0] for h in header):
            continue
        while header and header[-1] is None:
            header = header[:-1]
        hmap = map_headers([_text(h)[0] for h in header], extract)
        if not hmap.ok:
            tried.append(f"sheet '{ws.title}': " + "; ".join(hmap.problems()))
            continue
        return _sheet_table(path, ws.title, hmap, rows, first_sheet=ws is wb.worksheets[0])  # type: ignore[attr-defined]
    if not tried:
        raise UnreadableFile(f"{path.name}: every sheet is empty; expected a header row in row 1")
    raise BadHeader(f"{path.name}: no sheet has the columns of {extract.name}: " + " | ".join(tried))


def _sheet_table(path: Path, sheet: str, hmap: HeaderMap, rows: Iterator, first_sheet: bool) -> RawTable:
    n = len(hmap.headers)
    id_cols = {i for name, i in hmap.source.items() if hmap.extract.column(name).kind is Kind.ID}
    cols: list[list[str | None]] = [[] for _ in range(n)]
    nums: dict[int, list[bool]] = {i: [] for i in id_cols}
    numbers: list[int] = []
    extra = 0
    for r, row in enumerate(rows, start=2):
        texts = [_text(v) for v in row]
        if len(texts) > n and any(t for t, _ in texts[n:]):
            extra += 1
        if not any(t is not None and t.strip() for t, _ in texts):
            continue  # a blank row carries nothing
        texts = (texts + [(None, False)] * n)[:n]
        numbers.append(r)
        for i, (t, is_num) in enumerate(texts):
            cols[i].append(t)
            if i in nums:
                nums[i].append(is_num)
    data = pl.DataFrame(
        {**{cell(i): pl.Series(cols[i], dtype=pl.String) for i in range(n)},
         ROW: pl.Series(numbers, dtype=pl.Int32),
         **{num_flag(i): pl.Series(v, dtype=pl.Boolean) for i, v in nums.items()}},
    )
    raw = RawTable(path.name, "xlsx", hmap, data, sheet=sheet)
    if not first_sheet:
        raw.notes.append(f"data read from sheet '{sheet}' (the first sheet with the contract's headers)")
    if extra:
        raw.notes.append(f"{extra} row(s) have values right of the last header; those cells were ignored")
    return raw


# ---------------------------------------------------------------- parquet


def read_parquet(path: Path, extract: Extract) -> RawTable:
    try:
        df = pl.read_parquet(path)
    except Exception as e:  # polars/arrow raise several kinds for a damaged file
        raise UnreadableFile(f"{path.name}: not a readable parquet file ({_one_line(e)})") from None
    hmap = map_headers(list(df.columns), extract)
    _require(hmap, path.name)
    id_cols = {i for name, i in hmap.source.items() if hmap.extract.column(name).kind is Kind.ID}
    exprs: list[pl.Expr] = []
    flags: list[pl.Expr] = []
    notes: list[str] = []
    for i, (name, dtype) in enumerate(df.schema.items()):
        c = pl.col(name)
        if dtype == pl.Date:
            text = c.dt.strftime("%Y-%m-%d")
        elif isinstance(dtype, pl.Datetime):
            text = c.dt.strftime("%Y-%m-%d %H:%M:%S")
        elif dtype == pl.Boolean:
            text = pl.when(c).then(pl.lit("true")).when(~c).then(pl.lit("false"))
        elif dtype.is_float():
            text = pl.when(c.is_not_null() & (c == c.floor()) & (c.abs() < 1e15)).then(
                c.cast(pl.Int64, strict=False).cast(pl.String)
            ).otherwise(c.cast(pl.String))
            if i in id_cols:
                flags.append(c.is_not_null().alias(num_flag(i)))
        elif dtype.is_integer():
            text = c.cast(pl.String)
            if i in id_cols:
                notes.append(f"'{hmap.headers[i]}' is stored as integers: leading zeros, if any, are lost")
        elif dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum | pl.Decimal | pl.Null):
            text = c.cast(pl.String)
        else:
            raise UnreadableFile(f"{path.name}: column '{name}' has type {dtype}, which cannot be read as text")
        exprs.append(text.alias(cell(i)))
    data = df.select(
        *exprs, pl.int_range(2, pl.len() + 2, dtype=pl.Int32).alias(ROW), *flags
    )
    return RawTable(path.name, "parquet", hmap, data, notes=notes)


READERS = {".csv": read_csv, ".xlsx": read_xlsx, ".parquet": read_parquet}


def read_file(path: Path, extract: Extract) -> RawTable:
    """Read one extract's file into text cells; `UnreadableFile`/`BadHeader` for whole-file problems."""
    return READERS[path.suffix.lower()](path, extract)
