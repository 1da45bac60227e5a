"""Connectors: each encoding, header form and file type, and the bad-file corpus (tests/bad_files)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
from bad_files.make import (
    chinese,
    english,
    good_rows,
    minimal_folder,
    write_csv,
    write_parquet,
    write_xlsx,
)

from connectors.errors import AmbiguousExtract, BadHeader, InvalidArgument, MissingExtract, UnreadableFile
from connectors.load import ensure_tables, load_extracts, load_file
from connectors.report import ExtractLoad
from connectors.schemas import EXTRACTS

DEATHS = EXTRACTS["deaths"]
HOUSEHOLDS = EXTRACTS["roster_households"]
MONTH = "2024-03"


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    ensure_tables(c)
    return c


def load(con: duckdb.DuckDBPyConnection, path: Path, name: str = "deaths") -> ExtractLoad:
    stats, _ = load_file(con, path, EXTRACTS[name], MONTH)
    return stats


def quarantine(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(
        "SELECT row_number, column_name, value, reason FROM quarantine ORDER BY extract, row_number"
    ).fetchall()


def deaths(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute("SELECT record_id, name, id_number, death_date, _row_number FROM raw_deaths ORDER BY 5").fetchall()


# ---------------------------------------------------------------- encodings and headers

NAMES = [["R1", "陳红", "420102199001011234", "2024-03-05"], ["R2", "买买提·艾力", "", "2024/3/5"],
         ["R3", "𠮷田", "01234519900101123X", "20240305"]]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_each_encoding_keeps_every_name(tmp_path: Path, con, encoding: str) -> None:
    stats = load(con, write_csv(tmp_path / "deaths.csv", chinese(DEATHS), NAMES, encoding=encoding))
    assert stats.encoding == encoding
    assert deaths(con) == [
        ("R1", "陳红", "420102199001011234", dt.date(2024, 3, 5), 2),
        ("R2", "买买提·艾力", None, dt.date(2024, 3, 5), 3),
        ("R3", "𠮷田", "01234519900101123X", dt.date(2024, 3, 5), 4),
    ]


def test_gbk_file_is_read(tmp_path: Path, con) -> None:
    rows = [["R1", "陈红", "", "2024-03-05"]]
    load(con, write_csv(tmp_path / "deaths.csv", chinese(DEATHS), rows, encoding="gbk"))
    assert deaths(con)[0][1] == "陈红"


@pytest.mark.parametrize("header", [
    ["record_id", "name", "id_number", "death_date"],
    ["记录编号", "姓名", "身份证号", "死亡日期"],
    [" 记录编号 ", "  姓名", "身份证号\u3000", " death_date "],
    ["ＲＥＣＯＲＤ＿ＩＤ", "ｎａｍｅ", "身份证号", "死亡日期"],
    ["记录编号", "name", "身份证号", "Death_Date"],
    ["\ufeff记录编号", "姓名", "身份证号", "死亡日期"],
], ids=["english", "chinese", "spaced", "full-width", "mixed", "bom-remnant"])
def test_each_header_form(tmp_path: Path, con, header: list[str]) -> None:
    stats = load(con, write_csv(tmp_path / "deaths.csv", header, NAMES[:1]))
    assert (stats.rows_loaded, stats.rows_quarantined) == (1, 0)
    assert deaths(con)[0][:2] == ("R1", "陳红")


def test_quoted_commas_and_newlines(tmp_path: Path, con) -> None:
    rows = [["R1", "王, 伟", "", "2024-03-05"], ["R2", "李\n四", "", "2024-03-05"], ["R3", '张"三"', "", "2024-03-05"]]
    stats = load(con, write_csv(tmp_path / "deaths.csv", english(DEATHS), rows))
    assert stats.rows_quarantined == 0
    assert [r[1] for r in deaths(con)] == ["王, 伟", "李\n四", '张"三"']
    assert [r[4] for r in deaths(con)] == [2, 3, 4]


def test_ids_keep_leading_zeros_in_csv(tmp_path: Path, con) -> None:
    load(con, write_csv(tmp_path / "deaths.csv", english(DEATHS), [["007", "王伟", "012345199001011234", "2024-03-05"]]))
    assert deaths(con)[0][0] == "007" and deaths(con)[0][2] == "012345199001011234"


# ---------------------------------------------------------------- xlsx and parquet


def test_xlsx_with_real_date_cells(tmp_path: Path, con) -> None:
    rows = [["R1", "陳红", "420102199001011234", dt.datetime(2024, 3, 5)], ["R2", "王伟", None, 45356],
            ["R3", "李四", "", "2024/3/5"]]
    stats = load(con, write_xlsx(tmp_path / "deaths.xlsx", chinese(DEATHS), rows))
    assert stats.rows_quarantined == 0 and stats.sheet == "Sheet"
    assert [r[3] for r in deaths(con)] == [dt.date(2024, 3, 5)] * 3


def test_xlsx_data_on_second_sheet(tmp_path: Path, con) -> None:
    path = write_xlsx(tmp_path / "deaths.xlsx", chinese(DEATHS), NAMES, sheet_first=False)
    stats = load(con, path)
    assert stats.sheet == "数据" and stats.rows_loaded == 3
    assert "data read from sheet '数据' (the first sheet with the contract's headers)" in stats.notes


def test_xlsx_ids_stored_as_numbers_are_quarantined(tmp_path: Path, con) -> None:
    rows = [["R1", "陳红", 4.20102199001011e17, "2024-03-05"], ["R2", "王伟", 420102199001011000, "2024-03-05"],
            ["R3", "李四", "420102199001011234", "2024-03-05"], [12, "赵六", "", "2024-03-05"]]
    stats = load(con, write_xlsx(tmp_path / "deaths.xlsx", english(DEATHS), rows))
    assert (stats.rows_loaded, stats.rows_quarantined) == (1, 3)
    q = quarantine(con)
    assert [(r[0], r[1]) for r in q] == [(2, "id_number"), (3, "id_number"), (5, "record_id")]
    assert q[0][3].startswith("身份证号以数字存储，末几位已丢失 ('4.20102199001011e+17'")
    assert q[1][3].startswith("身份证号以数字存储，末几位已丢失 (")  # Excel keeps 15 significant digits
    assert q[2][3].startswith("记录编号以数字存储，可能丢失前导零 ('12'")


def test_parquet_with_typed_columns(tmp_path: Path, con) -> None:
    path = write_parquet(tmp_path / "pensions.parquet", {
        "记录编号": ["R1", "R2"], "姓名": ["陳红", "王伟"], "身份证号": ["420102199001011234", None],
        "发放年月": [dt.date(2024, 3, 1), dt.date(2024, 2, 15)], "发放金额": [1234, 99],
    })
    stats = load(con, path, "pensions")
    assert (stats.rows_loaded, stats.rows_quarantined) == (2, 0)
    assert con.execute("SELECT pay_month, amount FROM raw_pensions ORDER BY 1").fetchall() == [
        (dt.date(2024, 2, 1), 99.0), (dt.date(2024, 3, 1), 1234.0)]


def test_parquet_float_ids_are_quarantined(tmp_path: Path, con) -> None:
    path = write_parquet(tmp_path / "deaths.parquet", {
        "record_id": ["R1"], "name": ["王伟"], "id_number": [4.20102199001011e17], "death_date": ["2024-03-05"]})
    assert load(con, path).rows_quarantined == 1
    assert quarantine(con)[0][3].startswith("身份证号以数字存储，末几位已丢失")


# ---------------------------------------------------------------- the bad-file corpus


def test_empty_file(tmp_path: Path, con) -> None:
    (tmp_path / "deaths.csv").write_bytes(b"")
    with pytest.raises(UnreadableFile, match=r"^deaths\.csv: the file is empty \(0 bytes\)"):
        load(con, tmp_path / "deaths.csv")


def test_header_only_loads_nothing_and_says_so(tmp_path: Path, con) -> None:
    stats = load(con, write_csv(tmp_path / "deaths.csv", english(DEATHS), []))
    assert (stats.rows_read, stats.rows_loaded, stats.rows_quarantined) == (0, 0, 0)
    assert "no data rows (header only)" in stats.notes


def test_truncated_last_line(tmp_path: Path, con) -> None:
    path = tmp_path / "deaths.csv"
    path.write_text("record_id,name,id_number,death_date\nR1,王伟,,2024-03-05\nR2,李")
    stats = load(con, path)
    assert (stats.rows_loaded, stats.rows_quarantined) == (1, 1)
    assert quarantine(con) == [(3, "id_number", "", "the line has 2 of 4 fields (truncated line?); "
                                "死亡日期 (death_date) is blank (required)")]


def test_unterminated_quote_on_last_line(tmp_path: Path, con) -> None:
    path = tmp_path / "deaths.csv"
    path.write_text('record_id,name,id_number,death_date\nR1,王伟,,2024-03-05\nR2,"李')
    stats = load(con, path)
    assert (stats.rows_read, stats.rows_loaded, stats.rows_quarantined) == (2, 1, 1)
    row = quarantine(con)[0]
    assert row[:2] == (3, "record_id")
    assert row[3].startswith("unterminated quote: the last line is cut off (file truncated?)")


def test_extra_fields_are_quarantined_but_trailing_commas_are_not(tmp_path: Path, con) -> None:
    path = tmp_path / "deaths.csv"
    path.write_text("record_id,name,id_number,death_date\nR1,王伟,,2024-03-05,,\nR2,李,四,,2024-03-05\n")
    stats = load(con, path)
    assert (stats.rows_loaded, stats.rows_quarantined) == (1, 1)
    assert quarantine(con)[0][3].startswith("the line has 5 fields, the header 4: a value with an unquoted comma?")


def test_utf16_file(tmp_path: Path, con) -> None:
    write_csv(tmp_path / "deaths.csv", english(DEATHS), NAMES, encoding="utf-16")
    with pytest.raises(UnreadableFile, match=r"^deaths\.csv: the file is UTF-16 text .*offset 0, line 1"):
        load(con, tmp_path / "deaths.csv")


def test_binary_file(tmp_path: Path, con) -> None:
    (tmp_path / "deaths.csv").write_bytes(b"record_id,name\n" + bytes(range(128, 256)) * 4)
    with pytest.raises(UnreadableFile) as e:
        load(con, tmp_path / "deaths.csv")
    msg = str(e.value)
    assert msg == ("deaths.csv: cannot decode the text: not UTF-8 (byte 0x80 at offset 15, line 2) "
                   "nor GB18030 (byte 0x80 at offset 15, line 2)")


def test_nul_bytes(tmp_path: Path, con) -> None:
    (tmp_path / "deaths.csv").write_bytes(b"record_id,name\nR1\x00,x\n")
    with pytest.raises(UnreadableFile, match=r"^deaths\.csv: NUL byte at offset 17, line 2"):
        load(con, tmp_path / "deaths.csv")


def test_corrupt_xlsx_and_parquet(tmp_path: Path, con) -> None:
    (tmp_path / "deaths.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(UnreadableFile, match=r"^deaths\.xlsx: not a readable \.xlsx workbook"):
        load(con, tmp_path / "deaths.xlsx")
    (tmp_path / "deaths.parquet").write_bytes(b"PAR1 truncated")
    with pytest.raises(UnreadableFile, match=r"^deaths\.parquet: not a readable parquet file"):
        load(con, tmp_path / "deaths.parquet")


def test_scientific_notation_ids_in_csv(tmp_path: Path, con) -> None:
    load(con, write_csv(tmp_path / "deaths.csv", english(DEATHS), [["R1", "王伟", "4.20102E+17", "2024-03-05"]]))
    assert quarantine(con) == [(2, "id_number", "4.20102E+17",
                                "身份证号以数字存储，末几位已丢失 ('4.20102E+17'; store IDs as text)")]


def test_bad_values_all_listed_with_first_column(tmp_path: Path, con) -> None:
    rows = [["R1", "", "", "2024-13-01"]]
    load(con, write_csv(tmp_path / "deaths.csv", english(DEATHS), rows))
    assert quarantine(con) == [(2, "name", "", "姓名 (name) is blank (required); 死亡日期 '2024-13-01' is not "
                                "a date (expected 2024-03-05, 2024/3/5 or 20240305)")]


def test_required_columns_missing_are_all_named(tmp_path: Path, con) -> None:
    write_csv(tmp_path / "deaths.csv", ["记录编号", "身份证号", "备注"], [["R1", "", ""]])
    with pytest.raises(BadHeader) as e:
        load(con, tmp_path / "deaths.csv")
    assert str(e.value) == ("deaths.csv: missing required column(s) 姓名 (name), 死亡日期 (death_date) "
                            "(headers found: 记录编号, 身份证号, 备注)")
    assert "\n" not in str(e.value)


def test_two_columns_for_one_contract_column(tmp_path: Path, con) -> None:
    write_csv(tmp_path / "deaths.csv", ["记录编号", "姓名", "name", "死亡日期"], [["R1", "a", "b", "2024-03-05"]])
    with pytest.raises(BadHeader, match="columns '姓名' and 'name' both give 姓名 \\(name\\)"):
        load(con, tmp_path / "deaths.csv")


def test_no_sheet_has_the_headers(tmp_path: Path, con) -> None:
    write_xlsx(tmp_path / "deaths.xlsx", ["记录编号", "姓名"], [["R1", "王伟"]])
    with pytest.raises(BadHeader, match=r"^deaths\.xlsx: no sheet has the columns of deaths: sheet 'Sheet': "
                       r"missing required column\(s\) 死亡日期 \(death_date\)$"):
        load(con, tmp_path / "deaths.xlsx")


def test_unknown_column_is_ignored_and_reported(tmp_path: Path, con) -> None:
    stats = load(con, write_csv(tmp_path / "deaths.csv", [*english(DEATHS), "备注"], [[*NAMES[0], "x"]]))
    assert stats.rows_loaded == 1
    assert "unknown column(s) ignored: 备注" in stats.notes


# ---------------------------------------------------------------- the whole folder


def test_duplicate_household_ids_and_orphan_members(tmp_path: Path) -> None:
    minimal_folder(tmp_path)
    hh = good_rows(HOUSEHOLDS, 3)
    hh.append(list(hh[0]))
    hh[1][5] = "2024-13-01"  # H0002 goes to quarantine for its date
    write_csv(tmp_path / "roster_households.csv", chinese(HOUSEHOLDS), hh)
    members = good_rows(EXTRACTS["roster_members"], 3) + [["H9999", "王伟", "", "户主", "是", ""]]
    write_csv(tmp_path / "roster_members.csv", chinese(EXTRACTS["roster_members"]), members)
    con = duckdb.connect()
    report = load_extracts(con, tmp_path, MONTH)
    assert report.extracts["roster_households"].rows_quarantined == 2
    assert report.extracts["roster_members"].rows_quarantined == 2
    assert con.execute("SELECT extract, row_number, column_name, reason FROM quarantine ORDER BY 1 DESC, 2").fetchall() == [
        ("roster_members", 3, "household_id", "household 'H0002' not in roster_households (its row is in quarantine)"),
        ("roster_members", 5, "household_id", "household 'H9999' not in roster_households"),
        ("roster_households", 3, "enrolled_on",
         "首次享受日期 '2024-13-01' is not a date (expected 2024-03-05, 2024/3/5 or 20240305)"),
        ("roster_households", 5, "household_id", "duplicate 低保户编号 'H0001', first at row 2"),
    ]


@pytest.mark.parametrize("keys, duplicate", [
    (["R1", "R2", "R2", "R3"], (4, "R2", 3)),  # in order but for one repeat
    (["R3", "R2", "R2", "R1"], (4, "R2", 3)),  # descending but for one repeat
    (["R1", "R2", "", "R2"], (5, "R2", 3)),  # a missing key in between
    (["R1", "R2", " R2"], (4, "R2", 3)),  # equal once stripped
])
def test_duplicate_keys_in_nearly_sorted_files(tmp_path: Path, con, keys: list[str], duplicate: tuple) -> None:
    """Keys in strictly increasing (or decreasing) order skip the duplicate check; anything short of it must not."""
    rows = [[k, "王伟", "", "2024-03-05"] for k in keys]
    load(con, write_csv(tmp_path / "deaths.csv", english(DEATHS), rows))
    row, key, first = duplicate
    assert (row, "record_id", key, f"duplicate 记录编号 '{key}', first at row {first}") in quarantine(con)
    assert len(deaths(con)) == len(keys) - len(quarantine(con))


def test_duplicate_key_around_a_missing_one(tmp_path: Path, con) -> None:
    """A null key (a parquet file's missing cell) between two equal keys: no order, so the full check."""
    path = write_parquet(tmp_path / "deaths.parquet", {
        "record_id": ["R1", None, "R1"], "name": ["王伟"] * 3, "id_number": [None] * 3, "death_date": ["2024-03-05"] * 3})
    load(con, path)
    assert (4, "record_id", "R1", "duplicate 记录编号 'R1', first at row 2") in quarantine(con)


def test_rows_read_equals_loaded_plus_quarantined(tmp_path: Path) -> None:
    minimal_folder(tmp_path)
    path = tmp_path / "deaths.csv"
    path.write_text("record_id,name,id_number,death_date\nR1,王伟,,2024-03-05\n\nR2,,,x\nR3,李\n,,,\n")
    con = duckdb.connect()
    report = load_extracts(con, tmp_path, MONTH)
    for e in report.extracts.values():
        assert e.rows_read == e.rows_loaded + e.rows_quarantined
    d = report.extracts["deaths"]
    assert (d.rows_read, d.rows_loaded, d.rows_quarantined) == (3, 1, 2)
    assert "2 blank row(s) skipped" in d.notes
    db = con.execute("SELECT rows_read, rows_loaded, rows_quarantined FROM load_report WHERE extract='deaths'").fetchall()
    assert db == [(3, 1, 2)]
    broken = ExtractLoad("deaths", "deaths.csv", rows_read=3, rows_loaded=1, rows_quarantined=1)
    with pytest.raises(Exception, match="3 rows read but 1 loaded \\+ 1 quarantined"):
        broken.check()


def test_missing_required_extracts_all_named_in_one_line(tmp_path: Path) -> None:
    minimal_folder(tmp_path, skip=("deaths", "vehicles"))
    with pytest.raises(MissingExtract) as e:
        load_extracts(duckdb.connect(), tmp_path, MONTH)
    assert "required extract(s) missing: deaths (死亡登记), vehicles (机动车登记)" in str(e.value)
    assert "\n" not in str(e.value)


def test_two_files_for_one_extract(tmp_path: Path) -> None:
    minimal_folder(tmp_path)
    write_xlsx(tmp_path / "Deaths.xlsx", english(DEATHS), NAMES)
    with pytest.raises(AmbiguousExtract, match="2 files claim extract deaths: Deaths.xlsx, deaths.csv; keep one"):
        load_extracts(duckdb.connect(), tmp_path, MONTH)


def test_discovery_case_ignored_files_and_missing_optional(tmp_path: Path) -> None:
    minimal_folder(tmp_path, skip=("deaths",))
    write_csv(tmp_path / "DEATHS.CSV", english(DEATHS), NAMES)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "staff.xls").write_bytes(b"old")
    report = load_extracts(duckdb.connect(), tmp_path, MONTH)
    assert report.extracts["deaths"].rows_loaded == 3
    assert report.ignored_files == ["notes.txt", "staff.xls"]
    assert "staff.xls: '.xls' files are not read; save it as .csv, .xlsx or .parquet" in report.warnings
    assert "staff" in report.missing_optional and "deaths" not in report.missing_optional


def test_rerun_replaces_the_month_and_keeps_others(tmp_path: Path) -> None:
    minimal_folder(tmp_path)
    con = duckdb.connect()
    load_extracts(con, tmp_path, "2024-02")
    load_extracts(con, tmp_path, MONTH)
    load_extracts(con, tmp_path, MONTH)
    counts = con.execute("SELECT run_month, count(*) FROM raw_deaths GROUP BY 1 ORDER BY 1").fetchall()
    assert counts == [("2024-02", 3), ("2024-03", 3)]
    assert con.execute("SELECT count(*) FROM load_report WHERE run_month = ?", [MONTH]).fetchone() == (15,)


def test_the_next_files_are_parsed_while_one_is_written(tmp_path: Path, monkeypatch) -> None:
    """`parsed_ahead`: while roster_households is written, the `AHEAD` extracts after it
    (roster_members, deaths) are being read and parsed, each in its own thread. One ahead, or
    a plain loop, would wait here until the timeout and fail."""
    import threading

    from connectors import load as loader

    minimal_folder(tmp_path)
    started: dict[str, threading.Event] = {name: threading.Event() for name in EXTRACTS}
    real_parse, real_write = loader.read_and_parse, loader.write_parsed
    order = [name for name, e in EXTRACTS.items() if e.required]

    def parse(path, extract, *args):
        started[extract.name].set()
        if extract.name == order[1]:  # stays under way until the one after it has begun
            assert started[order[2]].wait(timeout=30), f"{order[2]} was not parsed beside {order[1]}"
        return real_parse(path, extract, *args)

    def write(con, parsed, run_month):
        if parsed.extract.name == order[0]:
            for name in order[1:1 + loader.AHEAD]:
                assert started[name].wait(timeout=30), f"{name} was not parsed meanwhile"
        return real_write(con, parsed, run_month)

    monkeypatch.setattr(loader, "read_and_parse", parse)
    monkeypatch.setattr(loader, "write_parsed", write)
    report = load_extracts(duckdb.connect(), tmp_path, MONTH)
    assert report.extracts["roster_members"].rows_loaded == 3


def test_a_bad_file_stops_the_load_where_a_plain_loop_would(tmp_path: Path) -> None:
    """Files are written in the contract's order, `AHEAD` of them parsed ahead: every extract
    before the bad file is written and reported, none after it; the error names the file."""
    minimal_folder(tmp_path)
    (tmp_path / "vehicles.csv").write_bytes(b"\xff\xfe" + "record_id\r\n".encode("utf-16-le"))
    con = duckdb.connect()
    seen: list[str] = []
    with pytest.raises(UnreadableFile, match=r"^vehicles\.csv: the file is UTF-16 text"):
        load_extracts(con, tmp_path, MONTH, on_extract=lambda e: seen.append(e.extract))
    order = [name for name, e in EXTRACTS.items() if e.required]
    assert seen == order[:order.index("vehicles")]
    assert con.execute("SELECT count(*) FROM raw_housing_fund").fetchone() == (3,)
    assert con.execute("SELECT count(*) FROM raw_properties").fetchone() == (0,)


def test_the_load_report_keeps_the_contract_order(tmp_path: Path) -> None:
    minimal_folder(tmp_path)
    write_csv(tmp_path / "staff.csv", english(EXTRACTS["staff"]), good_rows(EXTRACTS["staff"], 2))
    con = duckdb.connect()
    report = load_extracts(con, tmp_path, MONTH)
    assert list(report.extracts) == list(EXTRACTS)
    assert [r[0] for r in con.execute("SELECT extract FROM load_report").fetchall()] == list(EXTRACTS)
    assert report.missing_optional == [n for n, e in EXTRACTS.items() if not e.required and n != "staff"]


@pytest.mark.parametrize("month", ["2024-3", "2024-13", "202403", ""])
def test_run_month_is_checked(tmp_path: Path, month: str) -> None:
    with pytest.raises(InvalidArgument, match="'run_month' must be YYYY-MM"):
        load_extracts(duckdb.connect(), tmp_path, month)


def test_raw_table_types(tmp_path: Path) -> None:
    minimal_folder(tmp_path)
    con = duckdb.connect()
    load_extracts(con, tmp_path, MONTH)
    types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                             "WHERE table_name = 'raw_roster_members'").fetchall())
    assert types == {"run_month": "VARCHAR", "household_id": "VARCHAR", "name": "VARCHAR", "id_number": "VARCHAR",
                     "relation": "VARCHAR", "is_beneficiary": "BOOLEAN", "monthly_income": "DOUBLE",
                     "_source_file": "VARCHAR", "_row_number": "INTEGER"}
    assert con.execute("SELECT monthly_income FROM raw_roster_members").fetchall() == [(800.0,)] * 3
