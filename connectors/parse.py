"""Turn a `RawTable` of text cells into typed rows and quarantine rows, with polars expressions.

One builder per `Kind` gives, for a text column, the parsed value, a flag (the cell has
a problem) and the reason (null when it has none). `parse_table` applies them to every
contract column at once (vectorised: no Python per cell), adds the row-level checks
(malformed CSV line, duplicate key, member without a household) and splits the rows:
a row with any problem goes to quarantine with every problem in `reason`.

At city scale (23 million rows) two things keep this cheap: dates, months and amounts
are parsed by a guarded fast path (`_FAST`) and only the cells it leaves go through the
full parser; and the checks run as booleans over every row while the reason texts are
built for the rejected rows only.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from .headers import describe
from .readers import PROBLEM, PROBLEM_COL, ROW, RawTable, cell, num_flag
from .schemas import Column, Extract, Kind

DATE_EXPECTED = "expected 2024-03-05, 2024/3/5 or 20240305"
MONTH_EXPECTED = "expected 2024-03 or 202403"
DECIMAL_EXPECTED = "expected a number such as 1234.50 or 1,234.50"
BOOL_EXPECTED = "expected 是/否, Y/N, 1/0 or true/false"
NUMERIC_ID = "以数字存储，末几位已丢失"
NUMERIC_ID_SHORT = "以数字存储，可能丢失前导零"
SERIAL_MIN, SERIAL_MAX = 1, 80000  # Excel serial day numbers accepted in a date column
_PLAUSIBLE = r"^(?:19|20)\d{2}-\d{1,2}-\d{1,2}$"  # a written date's year must be 1900..2099

_FULL = [chr(c) for c in range(0xFF10, 0xFF1A)] + ["／", "－", "．", "，", "：", "\u3000", "￥", "＋"]
_HALF = [str(d) for d in range(10)] + ["/", "-", ".", ",", ":", " ", "¥", "+"]
_TIME = r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
_SCI = r"^[+-]?\d+(?:\.\d+)?[eE][+-]?\d+$"
_BOOL = {
    "是": True, "否": False, "y": True, "n": False, "yes": True, "no": False, "1": True, "0": False,
    "true": True, "false": False, "t": True, "f": False, "1.0": True, "0.0": False,
}


def _half(s: pl.Expr) -> pl.Expr:
    """Full-width digits and punctuation as ASCII (dates and numbers only; text keeps its form)."""
    return s.str.replace_many(_FULL, _HALF).str.strip_chars()


_EPOCH_SERIAL = 25569  # Excel serial of 1970-01-01 (1900 date system, after the phantom 1900-02-29)


def _iso(t: pl.Expr) -> pl.Expr:
    """`Y-M-D` text (1- or 2-digit month and day, year 1900..2099) as a Date, null otherwise."""
    return pl.when(t.str.contains(_PLAUSIBLE)).then(t.str.to_date("%Y-%m-%d", strict=False))


def _date_text(s: pl.Expr) -> pl.Expr:
    """Separators of every accepted date form rewritten to `-`: 2024/3/5, 2024.3.5, 2024年3月5日, 20240305."""
    t = _half(s).str.replace(_TIME, "")
    t = t.str.replace(r"日$", "").str.replace_all(r"[年月/.]", "-")
    return t.str.replace(r"^(\d{4})(\d{2})(\d{2})$", "$1-$2-$3")


def _serial(s: pl.Expr) -> pl.Expr:
    """An Excel serial day number 1..80000 as a Date (60, Excel's 1900-02-29, never was)."""
    n = _half(s).str.extract(r"^(\d{1,5})(?:\.0+)?$", 1).cast(pl.Int32, strict=False)
    days = pl.when(n.is_between(SERIAL_MIN, 59)).then(n + 1).when(n.is_between(61, SERIAL_MAX)).then(n)
    return (days - _EPOCH_SERIAL).cast(pl.Date)


def date_value(s: pl.Expr) -> pl.Expr:
    """2024-03-05, 2024/3/5, 2024.3.5, 2024年3月5日, 20240305, an Excel serial (1..80000); a time part is dropped."""
    return pl.coalesce(_iso(_date_text(s)), _serial(s))


def month_value(s: pl.Expr) -> pl.Expr:
    """2024-03, 202403, 2024/3, 2024.3, 2024年3月, or any date form above: the first day of the month."""
    t = _half(s).str.replace(_TIME, "").str.replace(r"月$", "").str.replace_all(r"[年/.]", "-")
    t = t.str.replace(r"^(\d{4})(\d{2})$", "$1-$2")
    month = _iso(pl.concat_str([t, pl.lit("-1")]))
    return pl.coalesce(month, date_value(s).dt.month_start())


def decimal_value(s: pl.Expr) -> pl.Expr:
    """1234.5, 1,234.50, ¥800, 800元, full-width digits."""
    t = _half(s).str.replace_all(r"[¥元,\s]", "").str.replace(r"^RMB", "")
    v = t.cast(pl.Float64, strict=False)
    return pl.when(v.is_finite()).then(v)


def bool_value(s: pl.Expr) -> pl.Expr:
    return _half(s).str.to_lowercase().replace_strict(_BOOL, default=None, return_dtype=pl.Boolean)


# Fast paths: the plain forms nearly every row of a large extract is written in, parsed with
# one guarded strptime. Each gives a value only where the full parser above gives the same
# value, and null otherwise; `parse_table` then runs the full parser on just those rows.
_FAST = {
    Kind.DATE: lambda s: pl.when(s.str.contains(r"^(?:19|20)\d{2}-\d{2}-\d{2}$")).then(
        s.str.to_date("%Y-%m-%d", strict=False)),
    Kind.MONTH: lambda s: pl.when(s.str.contains(r"^(?:19|20)\d{2}-?(?:0[1-9]|1[0-2])$")).then(
        (s.str.replace("-", "", literal=True) + "01").str.to_date("%Y%m%d", strict=False)),
    Kind.DECIMAL: lambda s: pl.when(s.str.contains(r"^-?\d{1,15}(?:\.\d{1,6})?$")).then(
        s.cast(pl.Float64, strict=False)),
}


@dataclass(frozen=True)
class Parsed:
    value: pl.Expr  # typed value, null when blank or unparseable
    problem: pl.Expr  # reason text, null when the cell is fine
    flag: pl.Expr  # true when the cell has a problem: `problem` without building its text


def _quoted(col: Column, raw: pl.Expr) -> pl.Expr:
    return pl.format("{} '{}'", pl.lit(col.chinese), raw)


def parse_column(
    col: Column, raw: pl.Expr, numeric: pl.Expr | None = None, value_ref: pl.Expr | None = None,
    fast: bool = False, stripped: pl.Expr | None = None,
) -> Parsed:
    """Value, problem and flag expressions for one contract column read from the text expression `raw`.

    `value_ref`, when given, is a column already holding the parsed value: the problem
    expression then reads it instead of parsing again (parse_table computes values first).
    `fast` parses with the column kind's fast path (`_FAST`): null where it is unsure.
    `stripped`, when given, is a column already holding `raw` with its whitespace stripped."""
    s = stripped if stripped is not None else raw.str.strip_chars()
    blank = s.is_null() | (s == "")
    if col.kind in (Kind.TEXT, Kind.ID):
        value, bad, flag = s, pl.lit(None, dtype=pl.String), pl.lit(False)
        if col.kind is Kind.ID:
            stored_as_number = s.str.contains(_SCI)
            if numeric is not None:
                stored_as_number = stored_as_number | numeric.fill_null(False)
            lost = pl.when(s.str.contains(r"^\d{1,14}$")).then(pl.lit(NUMERIC_ID_SHORT)).otherwise(pl.lit(NUMERIC_ID))
            bad = pl.when(stored_as_number).then(
                pl.format("{}{} ('{}'; store IDs as text)", pl.lit(col.chinese), lost, s)
            )
            flag = stored_as_number
    else:
        builder, expected = {
            Kind.DATE: (date_value, f"is not a date ({DATE_EXPECTED})"),
            Kind.MONTH: (month_value, f"is not a month ({MONTH_EXPECTED})"),
            Kind.DECIMAL: (decimal_value, f"is not a number ({DECIMAL_EXPECTED})"),
            Kind.BOOL: (bool_value, f"is not yes/no ({BOOL_EXPECTED})"),
        }[col.kind]
        if fast and col.kind in _FAST:
            builder = _FAST[col.kind]
        value = builder(s)
        parsed = value_ref if value_ref is not None else value
        flag = parsed.is_null()
        bad = pl.when(flag).then(pl.format("{} {}", _quoted(col, s), pl.lit(expected)))
    dtype = _polars_type(col.kind)
    default = pl.lit(col.default, dtype=dtype) if col.default is not None else pl.lit(None, dtype=dtype)
    if col.required:
        problem = pl.when(blank).then(pl.lit(f"{describe(col)} is blank (required)")).otherwise(bad)
        flag = blank | flag.fill_null(False)
    else:
        problem = pl.when(blank).then(pl.lit(None, dtype=pl.String)).otherwise(bad)
        flag = ~blank & flag.fill_null(False)
    return Parsed(pl.when(blank).then(default).otherwise(value.cast(dtype)), problem, flag.fill_null(False))


def _polars_type(kind: Kind) -> pl.DataType:
    return {
        Kind.TEXT: pl.String(), Kind.ID: pl.String(), Kind.DATE: pl.Date(), Kind.MONTH: pl.Date(),
        Kind.DECIMAL: pl.Float64(), Kind.BOOL: pl.Boolean(),
    }[kind]


@dataclass
class Split:
    """Typed rows ready for `raw_<extract>`, rejected rows ready for `quarantine`, and counts."""

    loaded: pl.DataFrame  # contract columns, _source_file, _row_number
    quarantined: pl.DataFrame  # row_number, column_name, value, reason, row_json
    rows_read: int
    blank_rows: int
    quarantined_keys: pl.Series | None = None  # the key (trimmed) of each quarantined row, when the extract has one


def parse_table(
    raw: RawTable,
    extract: Extract,
    known_keys: pl.Series | None = None,
    quarantined_keys: pl.Series | None = None,
) -> Split:
    """Parse every contract column; quarantine rows with any problem (all reasons, '; ' joined).

    `known_keys` (roster_members only): household_ids loaded from roster_households;
    `quarantined_keys` those that went to quarantine, so the reason can say so.
    """
    df = raw.data
    hmap = raw.hmap
    n = len(hmap.headers)
    for extra in (PROBLEM, PROBLEM_COL):
        if extra not in df.columns:
            df = df.with_columns(pl.lit(None, dtype=pl.String).alias(extra))
    cells = [cell(i) for i in range(n)]
    # Each cell stripped once, for the blank-row test, the values and the checks alike (the
    # raw cells stay for the quarantine); stripping each again where it was read cost 0.9 s
    # of a 7.9-million-row extract's 3.3.
    blank_row = pl.all_horizontal([pl.col(_stripped(i)).fill_null("") == "" for i in range(n)]) if cells else pl.lit(True)
    before = df.height
    kept = df.lazy().with_columns(pl.col(c).str.strip_chars().alias(_stripped(i)) for i, c in enumerate(cells)).filter(
        ~blank_row | pl.col(PROBLEM).str.starts_with("unterminated").fill_null(False))

    header_to_name = {hmap.headers[i]: name for name, i in hmap.source.items()}
    present = [(col, hmap.source[col.name]) for col in extract.columns if col.name in hmap.source]
    df = _typed_values(kept, extract, present)
    blank_rows = before - df.height

    # Every check as a cheap boolean over all rows; the reason texts only for the rows that fail.
    checks: list[pl.Expr] = []
    names: list[str] = [""]  # column of the row-level problem: taken from PROBLEM_COL below
    problems: list[pl.Expr] = [pl.col(PROBLEM)]
    flags: list[pl.Expr] = [pl.col(PROBLEM).is_not_null()]
    raws: list[pl.Expr] = [pl.lit(None, dtype=pl.String)]
    for col in extract.columns:
        i = hmap.source.get(col.name)
        raw_expr = pl.col(cell(i)) if i is not None else pl.lit(None, dtype=pl.String)
        numeric = pl.col(num_flag(i)) if i is not None and num_flag(i) in df.columns else None
        p = parse_column(col, raw_expr, numeric, value_ref=pl.col(f"_v_{col.name}"),
                         stripped=pl.col(_stripped(i)) if i is not None else None)
        problems.append(p.problem)
        flags.append(p.flag)
        names.append(col.name)
        raws.append(raw_expr)

    key = extract.key
    if key is not None and key in hmap.source and not _strictly_ordered(df.get_column(_stripped(hmap.source[key]))):
        kcol = extract.column(key)
        k = pl.col(_stripped(hmap.source[key]))
        checks = [pl.col(ROW).min().over(k).alias("_first")]
        first = pl.col("_first")
        dup = k.is_not_null() & (k != "") & (pl.col(ROW) != first)
        problems.append(pl.when(dup).then(pl.format("duplicate {} '{}', first at row {}", pl.lit(kcol.chinese), k, first)))
        flags.append(dup)
        names.append(key)
        raws.append(k)
    if known_keys is not None and "household_id" in hmap.source:
        k = pl.col(_stripped(hmap.source["household_id"]))
        held = quarantined_keys if quarantined_keys is not None else pl.Series([], dtype=pl.String)
        orphan = k.is_not_null() & (k != "") & ~k.is_in(known_keys.implode())
        problems.append(
            pl.when(orphan).then(
                pl.when(k.is_in(held.implode()))
                .then(pl.format("household '{}' not in roster_households (its row is in quarantine)", k))
                .otherwise(pl.format("household '{}' not in roster_households", k))
            )
        )
        flags.append(orphan)
        names.append("household_id")
        raws.append(k)

    # lazily, so that polars computes each stripped cell once for all the checks that read it
    df = df.lazy().with_columns(checks).with_columns(pl.any_horizontal(flags).fill_null(False).alias("_bad")).collect()
    loaded = df.filter(~pl.col("_bad")).select(
        *(pl.col(f"_v_{c.name}").alias(c.name) for c in extract.columns), pl.lit(raw.source_file).alias("_source_file"), pl.col(ROW).alias("_row_number")
    )
    rejected = df.filter(pl.col("_bad"))
    rejected = rejected.with_columns(p.alias(f"_p{j}") for j, p in enumerate(problems))
    ps = [pl.col(f"_p{j}") for j in range(len(problems))]
    reason = pl.concat_str(ps, separator="; ", ignore_nulls=True)
    row_problem_name = pl.col(PROBLEM_COL).replace_strict(header_to_name, default=pl.col(PROBLEM_COL))
    column_name = pl.coalesce(
        [pl.when(ps[0].is_not_null()).then(row_problem_name)]
        + [pl.when(p.is_not_null()).then(pl.lit(nm)) for p, nm in zip(ps[1:], names[1:], strict=True)]
    )
    value = pl.coalesce(
        [pl.when(p.is_not_null()).then(r) for p, r in zip(ps[1:], raws[1:], strict=True)]
    )
    row_json = (
        pl.struct([pl.col(c).alias(h) for c, h in zip(cells, hmap.headers, strict=True)]).struct.json_encode()
        if cells else pl.lit("{}")
    )
    quarantined = rejected.select(
        pl.col(ROW).alias("row_number"),
        column_name.alias("column_name"),
        value.alias("value"),
        reason.alias("reason"),
        row_json.alias("row_json"),
    )
    held_keys = None
    if key is not None and key in hmap.source:
        held_keys = rejected.select(pl.col(_stripped(hmap.source[key]))).to_series()
    return Split(loaded, quarantined, before - blank_rows, blank_rows, held_keys)


def _strictly_ordered(keys: pl.Series) -> bool:
    """Whether every key is greater than the one before it (or every one smaller): then no key
    repeats, and the duplicate check is not needed. Its window hashes every key, 1.1 s of a
    7.9-million-row extract; this comparison takes 0.09 s. Registries are often exported in
    record order; any other order (or a missing key, null) gets the full check."""
    if keys.len() < 2:
        return True
    before, after = keys.slice(0, keys.len() - 1), keys.slice(1)
    return bool((after > before).fill_null(False).all()) or bool((after < before).fill_null(False).all())


def _stripped(i: int) -> str:
    """The column holding cell i with its whitespace stripped (`parse_table` adds it)."""
    return f"_s{i}"


def _typed_values(rows: pl.LazyFrame, extract: Extract, present: list[tuple[Column, int]]) -> pl.DataFrame:
    """`_v_<column>` for every contract column: the fast path on all rows, the full parser on the rest.

    The full parser (`parse_column`) runs only on rows where a fast path gave nothing for a
    non-blank cell; on a clean extract of millions of rows that is none or a few."""
    source = {col.name: i for col, i in present}
    df = rows.with_columns(
        parse_column(col, pl.col(cell(source[col.name])), fast=True, stripped=pl.col(_stripped(source[col.name]))
                     ).value.alias(f"_v_{col.name}")
        if col.name in source else parse_column(col, pl.lit(None, dtype=pl.String), fast=True).value.alias(f"_v_{col.name}")
        for col in extract.columns
    ).collect()
    slow = [(col, i) for col, i in present if col.kind in _FAST]
    if not slow:
        return df
    unsure = pl.any_horizontal(
        pl.col(f"_v_{col.name}").is_null() & (pl.col(_stripped(i)).fill_null("") != "") for col, i in slow
    )
    idx = df.select(pl.arg_where(unsure)).to_series()
    if idx.len() == 0:
        return df
    full = df[idx].select(parse_column(col, pl.col(cell(i))).value.alias(f"_v_{col.name}") for col, i in slow)
    return df.with_columns(
        df.get_column(f"_v_{col.name}").clone().scatter(idx, full.get_column(f"_v_{col.name}")) for col, _ in slow
    )
