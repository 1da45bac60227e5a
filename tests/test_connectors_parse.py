"""Value parsers, as tables of literal inputs and the value each must give (None = quarantined)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.headers import header_key, map_headers
from connectors.parse import _strictly_ordered, parse_column
from connectors.schemas import EXTRACTS, Column, Kind


def run(col: Column, values: list[str | None]) -> tuple[list[object], list[str | None]]:
    p = parse_column(col, pl.col("v"))
    out = pl.DataFrame({"v": values}, schema={"v": pl.String}).select(p.value.alias("x"), p.problem.alias("p"))
    return out["x"].to_list(), out["p"].to_list()


D = dt.date(2024, 3, 5)
DATES = [
    ("2024-03-05", D), ("2024/3/5", D), ("20240305", D), ("2024.3.5", D), ("2024年3月5日", D),
    ("45356", D), ("45356.0", D), (" 2024-03-05 ", D), ("２０２４－０３－０５", D),
    ("2024-03-05 00:00:00", D), ("2024-03-05T10:30:00", D), ("1", dt.date(1900, 1, 1)),
    ("59", dt.date(1900, 2, 28)), ("61", dt.date(1900, 3, 1)),
    ("2024-13-01", None), ("2024-02-30", None), ("60", None), ("80001", None), ("0", None),
    ("abc", None), ("03/05/2024", None), ("0024-03-05", None),
]


@pytest.mark.parametrize(("text", "expected"), DATES)
def test_dates(text: str, expected: dt.date | None) -> None:
    values, problems = run(Column("d", "登记日期", Kind.DATE), [text])
    assert values == [expected]
    if expected is None:
        assert problems == [f"登记日期 '{text.strip()}' is not a date (expected 2024-03-05, 2024/3/5 or 20240305)"]
    else:
        assert problems == [None]


M = dt.date(2024, 3, 1)


@pytest.mark.parametrize(("text", "expected"), [
    ("2024-03", M), ("202403", M), ("2024/3", M), ("2024年3月", M), ("2024.3", M), ("2024-03-05", M),
    ("2024/3/31", M), ("20240305", M), ("2024-3", M), ("202413", None), ("2024-00", None), ("24-03", None),
    ("March", None),
])
def test_months(text: str, expected: dt.date | None) -> None:
    values, problems = run(Column("m", "发放年月", Kind.MONTH, required=True), [text])
    assert values == [expected]
    assert (problems[0] is None) == (expected is not None)
    if expected is None:
        assert problems[0] == f"发放年月 '{text}' is not a month (expected 2024-03 or 202403)"


@pytest.mark.parametrize(("text", "expected"), [
    ("1,234.50", 1234.5), ("800", 800.0), ("¥800", 800.0), ("800元", 800.0), ("８００．５", 800.5),
    ("￥1,000元", 1000.0), ("-5", -5.0), ("12a", None), ("inf", None), ("nan", None),
])
def test_decimals(text: str, expected: float | None) -> None:
    values, problems = run(Column("a", "发放金额", Kind.DECIMAL), [text])
    assert values == [expected]
    assert (problems[0] is None) == (expected is not None)


@pytest.mark.parametrize(("text", "expected"), [
    ("是", True), ("否", False), ("Y", True), ("n", False), ("y", True), ("N", False), ("1", True),
    ("0", False), ("true", True), ("FALSE", False), ("TRUE", True), ("false", False), ("maybe", None),
])
def test_bools(text: str, expected: bool | None) -> None:
    values, problems = run(Column("b", "是否保障对象", Kind.BOOL, required=True), [text])
    assert values == [expected]
    if expected is None:
        assert problems == ["是否保障对象 'maybe' is not yes/no (expected 是/否, Y/N, 1/0 or true/false)"]


def test_ids_stay_text_exactly() -> None:
    col = Column("id_number", "身份证号", Kind.ID)
    values, problems = run(col, [" 012345199001011234 ", "42010219900101123x", "４２０１", None, ""])
    assert values == ["012345199001011234", "42010219900101123x", "４２０１", None, None]
    assert problems == [None] * 5


def test_id_in_scientific_notation_is_quarantined() -> None:
    values, problems = run(Column("id_number", "身份证号", Kind.ID), ["4.20102E+17", "4.20102199001011e17"])
    assert all(p.startswith("身份证号以数字存储，末几位已丢失") for p in problems)


def test_blank_required_and_default() -> None:
    _, problems = run(Column("household_id", "低保户编号", Kind.ID, required=True), ["", "  ", None])
    assert problems == ["低保户编号 (household_id) is blank (required)"] * 3
    values, problems = run(Column("monthly_income", "月收入", Kind.DECIMAL, default=0.0), ["", None])
    assert values == [0.0, 0.0] and problems == [None, None]


@pytest.mark.parametrize("header", [
    "household_id", " household_id ", "HOUSEHOLD_ID", "Household ID", "低保户编号", " 低保户编号　",
    "ｈｏｕｓｅｈｏｌｄ＿ｉｄ", "\ufeff低保户编号", "低保户编号*",
])
def test_header_forms(header: str) -> None:
    assert map_headers([header], EXTRACTS["roster_households"]).source == {"household_id": 0}


def test_headers_are_unambiguous_in_every_extract() -> None:
    for extract in EXTRACTS.values():
        keys = [header_key(x) for c in extract.columns for x in {c.name, c.chinese}]
        assert len(keys) == len(set(keys)), extract.name


NEAR_FORMS = [
    *(t for t, _ in DATES), "2024-03", "202403", "2024-3", "202413", "2024-00", "189912", "1900-01", "2099-12",
    "2024-02-29", "2023-02-29", "2024-02-30", "1899-12-31", "20240229", "2024-12-31 ", "800", "-5", "-0", "00012.5",
    "1234567890123456", "12.3456789", "1e5", "1,234.50", "８００", "+5", ".5", "5.", "2024-03-05T00:00:00",
]


@pytest.mark.parametrize("kind", [Kind.DATE, Kind.MONTH, Kind.DECIMAL])
def test_fast_paths_give_the_full_parsers_value_or_nothing(kind: Kind) -> None:
    """parse_table parses with a fast path and hands what it leaves to the full parser: where
    the fast path gives a value it must be the full parser's value."""
    col = Column("x", "x", kind)
    out = pl.DataFrame({"v": NEAR_FORMS}, schema={"v": pl.String}).select(
        parse_column(col, pl.col("v"), fast=True).value.alias("fast"), parse_column(col, pl.col("v")).value.alias("full"))
    disagree = out.filter(pl.col("fast").is_not_null() & (pl.col("fast") != pl.col("full")).fill_null(True))
    assert disagree.height == 0, disagree
    assert out["fast"].drop_nulls().len() >= 3  # the plain forms do take the fast path


@settings(max_examples=300, deadline=None)
@given(st.lists(st.from_regex(r"\A-?[0-9]{1,4}[-.]?[0-9]{0,3}[-.]?[0-9]{0,3}\Z", fullmatch=True), min_size=1, max_size=40),
       st.sampled_from([Kind.DATE, Kind.MONTH, Kind.DECIMAL]))
def test_fast_paths_agree_on_generated_near_forms(texts: list[str], kind: Kind) -> None:
    col = Column("x", "x", kind)
    out = pl.DataFrame({"v": texts}, schema={"v": pl.String}).select(
        parse_column(col, pl.col("v"), fast=True).value.alias("fast"), parse_column(col, pl.col("v")).value.alias("full"))
    assert out.filter(pl.col("fast").is_not_null() & (pl.col("fast") != pl.col("full")).fill_null(True)).height == 0


def test_rows_the_fast_path_leaves_are_parsed_in_full_in_place() -> None:
    """Through parse_table: a column of mixed forms, most plain, comes out as the full parser reads it."""
    from connectors.parse import parse_table
    from connectors.readers import ROW, RawTable, cell

    extract = EXTRACTS["pensions"]
    hmap = map_headers([c.chinese for c in extract.columns], extract)
    months = ["2026-10", "2026年9月", "202608", "２０２６－０７", "2026/6", "March", "202605", "2026.4"]
    data = pl.DataFrame({
        cell(0): [f"P{i}" for i in range(len(months))], cell(1): ["王伟"] * len(months),
        cell(2): ["420102196005061234"] * len(months), cell(3): months, cell(4): ["1,000", "800"] * 4,
        ROW: pl.Series(range(2, len(months) + 2), dtype=pl.Int32),
    })
    split = parse_table(RawTable("pensions.csv", "csv", hmap, data), extract)
    got = dict(zip(split.loaded["record_id"], split.loaded["pay_month"], strict=True))
    assert got == {"P0": dt.date(2026, 10, 1), "P1": dt.date(2026, 9, 1), "P2": dt.date(2026, 8, 1),
                   "P3": dt.date(2026, 7, 1), "P4": dt.date(2026, 6, 1), "P6": dt.date(2026, 5, 1),
                   "P7": dt.date(2026, 4, 1)}
    assert split.quarantined["row_number"].to_list() == [7]
    assert split.loaded["amount"].to_list() == [1000.0, 800.0, 1000.0, 800.0, 1000.0, 1000.0, 800.0]


@pytest.mark.parametrize("keys, ordered", [
    (["R1", "R2", "R3"], True), (["R3", "R2", "R1"], True), (["R1"], True), ([], True),
    (["R1", "R2", "R2"], False), (["R1", "R3", "R2"], False), (["R1", None, "R2"], False), (["", "R1", "R2"], True),
])
def test_keys_in_strict_order_are_recognised(keys: list, ordered: bool) -> None:
    """Strictly ordered keys skip the duplicate check (speed only: the duplicate tests in
    test_connectors.py hold the result); this holds the skip itself, so that it cannot
    silently turn off or on."""
    assert _strictly_ordered(pl.Series(keys, dtype=pl.String)) is ordered
