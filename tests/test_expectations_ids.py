"""The SQL ID status (matching.sql_macros.with_id_status_sql, read by the gate and staging) agrees with
matching.ids.normalize."""

from __future__ import annotations

import datetime as dt
import random

import duckdb
import pytest

from matching.ids import make_id, normalize
from matching.sql_macros import install_macros, with_id_status_sql
from matching.staging import build_id_forms, id_forms_built_for

VALID = make_id("420102", dt.date(1990, 1, 1), 123)
LITERALS = [
    VALID,
    VALID.lower(),  # a lowercase x is folded (when the ID ends in X) — harmless otherwise
    make_id("110101", dt.date(1985, 7, 9), 7),
    f" {VALID[:6]} {VALID[6:]} ",  # stray spaces
    VALID[:6] + "-" + VALID[6:],
    "".join(chr(ord(ch) + 0xFEE0) if ch.isdigit() else ch for ch in VALID),  # full-width digits
    VALID + ".0",  # Excel's float
    "4.20102E+17",  # scientific notation: digits lost
    VALID[:17] + ("0" if VALID[17] != "0" else "1"),  # wrong check character
    VALID[:8] + VALID[9] + VALID[8] + VALID[10:],  # neighbours swapped
    "420102199002301234",  # 30 February
    "420102209901011230",  # born in the future
    "420102187901011236",  # before 1880
    "420102900101123",  # 15-digit ID, converted to 18
    "420102901301123",  # 15-digit with month 13
    "42010219900101123",  # 17 characters
    "4201021990010112345",  # 19 characters
    "",
    "   ",
    None,
    "ABCDEFGHIJKLMNOPQR",
]


def _sql_statuses(values: list[str | None]) -> list[str]:
    con = duckdb.connect()
    install_macros(con)
    con.execute("CREATE TABLE t (i INTEGER, id_number VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(values)))
    rows = con.execute(f"SELECT i, __id_status FROM ({with_id_status_sql('SELECT * FROM t', 'id_number', None)}) "
                       "ORDER BY i").fetchall()
    return [r[1] for r in rows]


@pytest.mark.parametrize("raw", LITERALS)
def test_literal_ids_agree(raw):
    assert _sql_statuses([raw]) == [normalize(raw).status.value]


def test_generated_ids_and_their_typos_agree():
    rng = random.Random(20240301)
    values: list[str | None] = []
    for _ in range(400):
        born = dt.date(1900, 1, 1) + dt.timedelta(days=rng.randrange(45_000))
        good = make_id(rng.choice(["420102", "110101", "440305"]), born, rng.randrange(1000))
        pos = rng.randrange(17)
        digit = str((int(good[pos]) + rng.randrange(1, 10)) % 10)
        values += [good, good[:pos] + digit + good[pos + 1:], good[:17]]
    statuses = _sql_statuses(values)
    assert statuses == [normalize(v).status.value for v in values]
    assert statuses.count("valid") >= 400  # every generated ID passes


def test_the_gate_counts_id_statuses_per_distinct_id_as_it_would_per_row():
    """The gate counts rows per ID text and status (`stg_id_counts`): the counts equal the per-row ones,
    and another month's rows or another table's are not counted."""
    from expectations.runner import Window, profile_sql, source_sql
    from expectations.suites import SUITES

    con = duckdb.connect()
    install_macros(con)
    for table in ("raw_pensions", "raw_unemployment"):
        con.execute(f"CREATE TABLE {table} (run_month VARCHAR, record_id VARCHAR, id_number VARCHAR)")
    rows = [("2026-10", f"P{i}", LITERALS[i % len(LITERALS)]) for i in range(200)] + [("2026-09", "X", VALID)]
    con.executemany("INSERT INTO raw_pensions VALUES (?, ?, ?)", rows)
    con.executemany("INSERT INTO raw_unemployment VALUES (?, ?, ?)", [("2026-10", f"U{i}", VALID) for i in range(7)])
    suite, columns = SUITES["pensions"], {"run_month", "record_id", "id_number"}
    params = {"run_month": "2026-10"}
    window = Window.of("2026-10")
    build_id_forms(con, "2026-10", window.month_end)
    per_row = dict(con.execute(f"SELECT __id_status, count(*) FROM ({source_sql(suite, columns, window)}) GROUP BY 1",
                               params).fetchall())
    assert sum(per_row.values()) == 200 and len(per_row) >= 4
    profiled = con.execute(f"SELECT rows, id_blank, id_valid FROM ({profile_sql(suite, columns, window)})",
                           params).fetchall()[0]
    assert profiled == (200, per_row["blank"], per_row["valid"])


def test_asking_whether_the_id_forms_exist_leaves_the_runs_transaction_usable():
    """The monthly run is one transaction: probing for `stg_id_forms` must not abort it."""
    from expectations.runner import Window

    con = duckdb.connect()
    con.execute("CREATE TABLE raw_pensions (run_month VARCHAR, record_id VARCHAR, id_number VARCHAR)")
    con.execute("INSERT INTO raw_pensions VALUES ('2026-10', 'P1', ?)", [VALID])
    end = Window.of("2026-10").month_end
    con.execute("BEGIN TRANSACTION")
    assert not id_forms_built_for(con, "2026-10", end)
    assert build_id_forms(con, "2026-10", end) == 1
    assert id_forms_built_for(con, "2026-10", end)
    assert not id_forms_built_for(con, "2026-09", end)  # another month's forms are not these
    con.execute("COMMIT")


def test_an_id_born_after_the_month_is_judged_on_the_months_last_day():
    """The gate and staging judge a birth date against the verified month's last day, not today."""
    born_after = make_id("420102", dt.date(2026, 11, 15), 123)  # after October 2026, before today
    con = duckdb.connect()
    install_macros(con)
    sql = "SELECT __id_status FROM ({}) "
    rows = f"SELECT '{born_after}' AS id_number"
    assert con.execute(sql.format(with_id_status_sql(rows, "id_number", dt.date(2026, 10, 31)))).fetchall() == [
        ("bad_date",)]
    assert con.execute(sql.format(with_id_status_sql(rows, "id_number", dt.date(2026, 11, 30)))).fetchall() == [
        ("valid",)]
    assert normalize(born_after, dt.date(2026, 10, 31)).status.value == "bad_date"


def test_the_gates_id_counts_judge_a_birth_date_on_the_months_last_day():
    """The gate's profile counts an ID born after the verified month as not valid (it used today)."""
    from expectations.runner import Window, profile
    from expectations.suites import SUITES

    born_after = make_id("420102", dt.date(2026, 11, 15), 123)
    con = duckdb.connect()
    con.execute("CREATE TABLE raw_pensions (run_month VARCHAR, record_id VARCHAR, name VARCHAR, id_number VARCHAR)")
    con.executemany("INSERT INTO raw_pensions VALUES ('2026-10', ?, '王芳', ?)", [("P1", born_after), ("P2", VALID)])
    prof = profile(con, SUITES["pensions"], Window.of("2026-10"))
    assert (prof.rows, prof.id_valid, prof.id_blank) == (2, 1, 0)
