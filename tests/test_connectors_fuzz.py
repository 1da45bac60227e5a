"""Fuzz: generated cells written through each file type never raise anything but a DibaoError,
and every row read is either loaded or quarantined."""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb
import pytest
from bad_files.make import english, write_csv, write_parquet, write_xlsx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from connectors.errors import DibaoError
from connectors.load import ensure_tables, load_file
from connectors.schemas import EXTRACTS

EXTRACT = EXTRACTS["roster_members"]  # every kind but MONTH; pensions covers MONTH below
ODD = st.sampled_from([
    "", " ", "2024-13-01", "45356", "4.20102E+17", "0", "1,234.50", "是", "否", "２０２４年３月", "202403",
    "NaN", "-0", "1e400", "'", '"', ",", "\n", "陳红", "买买提·艾力", "𠮷", "\u3000", "=1+1", "x" * 300,
])
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
CELL = st.one_of(ODD, TEXT, st.integers(-10**20, 10**20).map(str), st.floats(allow_nan=True).map(str))
ROWS = st.lists(st.lists(CELL, min_size=0, max_size=9), max_size=8)
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(path: Path, name: str) -> None:
    con = duckdb.connect()
    ensure_tables(con)
    try:
        stats, _ = load_file(con, path, EXTRACTS[name], "2024-03")
    except DibaoError as e:
        assert "\n" not in str(e)
        return
    assert stats.rows_read == stats.rows_loaded + stats.rows_quarantined


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
@FUZZ
@given(rows=ROWS)
def test_csv_fuzz(encoding: str, rows: list[list[str]]) -> None:
    with tempfile.TemporaryDirectory() as d:
        check(write_csv(Path(d) / "roster_members.csv", english(EXTRACT), rows, encoding=encoding), "roster_members")


@FUZZ
@given(rows=ROWS, header=st.lists(st.one_of(TEXT, st.sampled_from(english(EXTRACT))), max_size=8))
def test_csv_fuzz_headers(rows: list[list[str]], header: list[str]) -> None:
    with tempfile.TemporaryDirectory() as d:
        check(write_csv(Path(d) / "pensions.csv", header, rows), "pensions")


@FUZZ
@given(rows=st.lists(st.lists(st.one_of(CELL.map(lambda s: ILLEGAL_CHARACTERS_RE.sub("", s)),
                                        st.integers(-10**18, 10**18), st.floats(allow_nan=False, allow_infinity=False),
                                        st.booleans(), st.dates(), st.none()), max_size=9), max_size=6))
def test_xlsx_fuzz(rows: list[list[object]]) -> None:
    with tempfile.TemporaryDirectory() as d:
        check(write_xlsx(Path(d) / "roster_members.xlsx", english(EXTRACT), rows), "roster_members")


@FUZZ
@given(data=st.data())
def test_parquet_fuzz(data: st.DataObject) -> None:
    n = data.draw(st.integers(0, 6))
    kinds = st.sampled_from(["str", "int", "float", "date", "bool"])
    strategies = {"str": st.one_of(CELL, st.none()), "int": st.integers(-2**62, 2**62), "float": st.floats(),
                  "date": st.dates(), "bool": st.booleans()}
    columns = {}
    for name in english(EXTRACTS["pensions"]):
        kind = data.draw(kinds)
        columns[name] = data.draw(st.lists(strategies[kind], min_size=n, max_size=n))
    with tempfile.TemporaryDirectory() as d:
        check(write_parquet(Path(d) / "pensions.parquet", columns), "pensions")


# Bytes that make UTF-8 hard: multi-byte characters (𠮷 is 4 bytes), lone lead and continuation
# bytes, a surrogate (ED A0 80), overlong forms (C0 80, E0 80 80), a code point past U+10FFFF
# (F4 90 80 80), NUL, and GB18030 text (陈 is C2 BD).
PIECES = st.sampled_from([
    b"a", b",", b"\n", "张".encode(), "𠮷".encode(), "陈".encode("gb18030"), b"\x80", b"\xbf", b"\xc3", b"\xe4\xb8",
    b"\xf0\x9f", b"\xed\xa0\x80", b"\xc0\x80", b"\xe0\x80\x80", b"\xf4\x90\x80\x80", b"\xf4\x8f\xbf\xbf", b"\xff",
    b"\x00", b"\xef\xbb\xbf",
])


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(PIECES, max_size=24), chunk=st.integers(1, 9))
def test_arrow_utf8_check_agrees_with_python(pieces: list[bytes], chunk: int) -> None:
    """`_utf8_without_nul` (Arrow, chunked) says yes exactly when Python's strict decoder reads the
    whole file without a NUL byte, whatever the chunk boundaries cut (chunks of 1 to 9 bytes here)."""
    from unittest import mock

    from connectors import encoding

    data = b"".join(pieces)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.csv"
        path.write_bytes(data)
        with mock.patch.object(encoding, "CHUNK", chunk):
            fast = encoding._utf8_without_nul(path)
    try:
        data.decode("utf-8")
        python = b"\x00" not in data
    except UnicodeDecodeError:
        python = False
    assert fast == python
