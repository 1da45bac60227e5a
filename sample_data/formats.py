"""Write an extract the way a department sends it: CSV (GB18030, UTF-8 with or without
BOM), xlsx or parquet, Chinese or English headers, dates and months in mixed styles."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import xlsxwriter

from connectors.schemas import EXTRACTS, Extract, Kind

BOM = "\ufeff".encode()
FIXED_CREATED = dt.datetime(2026, 1, 1, 8, 0, 0)
CSV_CHUNK_ROWS = 500_000
XLSX_MAX_ROWS_BENCH = 50_000
_FULLWIDTH_ASCII = {chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)}


@dataclass(frozen=True)
class FileFormat:
    suffix: str  # "csv", "xlsx" or "parquet"
    encoding: str = "utf-8"  # CSV only: "gb18030", "utf-8-sig" or "utf-8"
    headers: str = "zh"  # "zh" (Chinese headers) or "en" (contract names)
    decorate: bool = False  # stray spaces / full-width characters in headers

    @property
    def label(self) -> str:
        return f"{self.suffix}:{self.encoding}" if self.suffix == "csv" else self.suffix


PLAN: dict[str, FileFormat] = {
    "roster_households": FileFormat("xlsx", headers="zh", decorate=True),
    "roster_members": FileFormat("csv", "gb18030", "zh", decorate=True),
    "deaths": FileFormat("xlsx", headers="zh"),
    "pensions": FileFormat("parquet", headers="zh"),
    "unemployment": FileFormat("csv", "utf-8-sig", "zh"),
    "housing_fund": FileFormat("csv", "utf-8", "en"),
    "vehicles": FileFormat("xlsx", headers="zh"),
    "properties": FileFormat("csv", "gb18030", "zh", decorate=True),
    "household_events": FileFormat("csv", "utf-8-sig", "zh", decorate=True),
    "marriages": FileFormat("xlsx", headers="zh"),
    "employment": FileFormat("parquet", headers="en"),
    "complaints": FileFormat("csv", "gb18030", "zh"),
    "staff": FileFormat("xlsx", headers="zh"),
    "hukou_members": FileFormat("csv", "utf-8", "en", decorate=True),
    "relative_filings": FileFormat("csv", "utf-8-sig", "zh"),
}


def format_for(extract: str, rows: int, bench: bool) -> FileFormat:
    fmt = PLAN[extract]
    if bench and fmt.suffix == "xlsx" and rows > XLSX_MAX_ROWS_BENCH:
        return FileFormat("csv", "gb18030", fmt.headers, fmt.decorate)
    return fmt


def headers(extract: Extract, fmt: FileFormat, rng: np.random.Generator) -> list[str]:
    out = []
    for i, col in enumerate(extract.columns):
        text = col.chinese if fmt.headers == "zh" else col.name
        if fmt.decorate:
            if fmt.headers == "zh":
                text = (text, f" {text}", f"{text} ", f"\u3000{text}", f"{text}\u3000")[int(rng.integers(5))]
            elif i == len(extract.columns) - 1:
                text = "".join(_FULLWIDTH_ASCII.get(ch, ch) for ch in text)  # e.g. ｈｕｋｏｕ＿ｎｏ
            elif i == 1:
                text = f" {text} "
        out.append(text)
    return out


def _money(col: str) -> pl.Expr:
    cents = (pl.col(col) * 100).round(0).cast(pl.Int64)
    return pl.when(pl.col(col).is_null()).then(pl.lit("")).otherwise(
        pl.concat_str((cents // 100).cast(pl.Utf8), pl.lit("."), (cents % 100).cast(pl.Utf8).str.zfill(2)))


_DATE_TEXT = ("%Y-%m-%d", "%Y/%-m/%-d", "%Y%m%d")
_DATE_P = (0.5, 0.3, 0.2)


def _styles(extract: Extract, n: int, rng: np.random.Generator, excel: bool) -> dict[str, np.ndarray]:
    """Per row, the style of each date (0-2 text, 3 Excel date cell) and month (0-1) column."""
    out = {}
    for col in extract.columns:
        if col.kind is Kind.DATE:
            p = (0.3, 0.15, 0.1, 0.45) if excel else _DATE_P
            out[col.name] = rng.choice(len(p), size=n, p=p)
        elif col.kind is Kind.MONTH:
            out[col.name] = rng.choice(2, size=n, p=(0.6, 0.4))
    return out


def render_text(df: pl.DataFrame, extract: Extract, styles: dict[str, np.ndarray]) -> pl.DataFrame:
    """Every column as text (blank as null), dates and months in each row's style."""
    exprs = []
    for col in extract.columns:
        c = pl.col(col.name)
        if col.kind is Kind.DATE:
            s = pl.Series(styles[col.name])
            e = (pl.when(s == 0).then(c.dt.strftime(_DATE_TEXT[0]))
                 .when(s == 1).then(c.dt.strftime(_DATE_TEXT[1]))
                 .when(s == 2).then(c.dt.strftime(_DATE_TEXT[2]))
                 .otherwise(c.dt.strftime(_DATE_TEXT[0])))
        elif col.kind is Kind.MONTH:
            s = pl.Series(styles[col.name])
            e = pl.when(s == 0).then(c.dt.strftime("%Y-%m")).otherwise(c.dt.strftime("%Y%m"))
        elif col.kind is Kind.DECIMAL:
            e = _money(col.name)
        else:
            e = c.cast(pl.Utf8)
        exprs.append(pl.when(e == "").then(None).otherwise(e).alias(col.name))
    return df.select(exprs)


def write_extract(df: pl.DataFrame, extract_name: str, out_dir: Path, fmt: FileFormat,
                  rng: np.random.Generator) -> Path:
    """Write one extract; `df` has the extract's columns, dates as pl.Date, amounts as floats."""
    extract = EXTRACTS[extract_name]
    heads = headers(extract, fmt, rng)
    styles = _styles(extract, df.height, rng, excel=fmt.suffix == "xlsx")
    path = out_dir / f"{extract_name}.{fmt.suffix}"
    if fmt.suffix == "xlsx":
        _write_xlsx(df, extract, heads, styles, path)
        return path
    text = render_text(df, extract, styles)
    text.columns = heads
    if fmt.suffix == "parquet":
        text.write_parquet(path, compression="zstd", statistics=False)
        return path
    eol = "\r\n" if fmt.encoding == "gb18030" else "\n"
    with open(path, "wb") as fh:
        if fmt.encoding == "utf-8-sig":
            fh.write(BOM)
        for start in range(0, max(text.height, 1), CSV_CHUNK_ROWS):
            chunk = text.slice(start, CSV_CHUNK_ROWS).write_csv(include_header=start == 0, line_terminator=eol)
            fh.write(chunk.encode("gb18030") if fmt.encoding == "gb18030" else chunk.encode("utf-8"))
    return path


def _write_xlsx(df: pl.DataFrame, extract: Extract, heads: list[str], styles: dict[str, np.ndarray],
                path: Path) -> None:
    text = render_text(df, extract, styles)
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False,
                                         "strings_to_formulas": False, "strings_to_urls": False})
    wb.set_properties({"created": FIXED_CREATED, "author": "dibao sample", "title": extract.title})
    ws = wb.add_worksheet(extract.title[:31])
    bold = wb.add_format({"bold": True})
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    text_fmt = wb.add_format({"num_format": "@"})
    for c, h in enumerate(heads):
        ws.write_string(0, c, h, bold)
    kinds = [col.kind for col in extract.columns]
    raw_dates = {col.name: df[col.name].to_list() for col in extract.columns if col.kind is Kind.DATE}
    raw_money = {col.name: df[col.name].to_list() for col in extract.columns if col.kind is Kind.DECIMAL}
    for r, row in enumerate(text.iter_rows()):
        for c, (col, value) in enumerate(zip(extract.columns, row, strict=True)):
            kind = kinds[c]
            if kind is Kind.DATE and styles[col.name][r] == 3 and raw_dates[col.name][r] is not None:
                ws.write_datetime(r + 1, c, dt.datetime.combine(raw_dates[col.name][r], dt.time()), date_fmt)
            elif kind is Kind.DECIMAL and raw_money[col.name][r] is not None:
                ws.write_number(r + 1, c, raw_money[col.name][r])
            elif value is not None:
                ws.write_string(r + 1, c, value, text_fmt if kind is Kind.ID else None)
    wb.close()
