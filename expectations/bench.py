"""Measure the quality gate at scale: `python -m expectations.bench --rows 5000000 [--db FILE]`.

Builds a synthetic month (one registry of `--rows` rows with realistic ID noise, every
other required extract small), then times, on the same database:
- a CSV round trip of the big registry (write, then `read_csv` into a typed table), a
  lower bound of what the loader spends on the same rows;
- the gate (`run_gate`), GX import included and separately.
Prints one line per measurement. Not used by the run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from matching.sql_macros import install_macros


def build(con: duckdb.DuckDBPyConnection, rows: int, month: str = "2024-03") -> None:
    """raw_* tables for `month`: `pensions` with `rows` rows, the other required extracts with 1,000."""
    install_macros(con)
    # 17 digits: area, birth date 1940..1999, sequence; about 3% blank, 2% mistyped, 1% scientific notation.
    con.execute(f"""
        CREATE OR REPLACE TABLE raw_pensions AS
        WITH g AS (SELECT i, '420102' || strftime(DATE '1940-01-01' + CAST(i % 21900 AS INTEGER), '%Y%m%d')
                          || lpad(CAST(i % 1000 AS VARCHAR), 3, '0') AS s17 FROM range({rows}) t(i))
        SELECT '{month}' AS run_month, 'P' || i AS record_id, '张' || (i % 977) AS name,
               CASE WHEN i % 100 < 3 THEN NULL
                    WHEN i % 100 < 5 THEN s17 || '0'
                    WHEN i % 100 = 5 THEN '4.20102E+17'
                    ELSE s17 || dibao_id_check(s17) END AS id_number,
               DATE '{month}-01' - INTERVAL (i % 6) MONTH AS pay_month, 3000.0 + i % 500 AS amount,
               'pensions.csv' AS _source_file, CAST(i + 2 AS INTEGER) AS _row_number
        FROM g""")
    con.execute("UPDATE raw_pensions SET pay_month = CAST(pay_month AS DATE)")
    small = 1000
    for name, extra in {
        "deaths": f"DATE '{month}-01' AS death_date",
        "unemployment": f"DATE '{month}-01' AS pay_month, 1500.0 AS amount",
        "housing_fund": f"'某公司' AS employer, DATE '{month}-01' AS contribution_month, 800.0 AS amount",
        "vehicles": "'鄂A' || i AS plate, 'K33' AS vehicle_type, DATE '2020-01-01' AS registered_on, '正常' AS status",
        "properties": "'C' || i AS certificate_no, '住宅' AS use, 80.0 AS area, DATE '2015-01-01' AS registered_on, "
                      "'现势' AS status",
    }.items():
        con.execute(f"""CREATE OR REPLACE TABLE raw_{name} AS
            SELECT '{month}' AS run_month, 'R' || i AS record_id, '李' || i AS name,
                   s17 || dibao_id_check(s17) AS id_number, {extra}, '{name}.csv' AS _source_file,
                   CAST(i + 2 AS INTEGER) AS _row_number
            FROM (SELECT i, '420102199001' || lpad(CAST(i % 28 + 1 AS VARCHAR), 2, '0')
                         || lpad(CAST(i % 1000 AS VARCHAR), 3, '0') AS s17 FROM range({small}) t(i))""")
    con.execute(f"""CREATE OR REPLACE TABLE raw_roster_households AS
        SELECT '{month}' AS run_month, 'H' || i AS household_id, '420102' AS district_code, '某街道' AS street,
               '社区' || (i % 30) AS community, '某路' AS address, DATE '2015-01-01' AS enrolled_on,
               700.0 AS benefit_monthly, '在保' AS status, 'roster_households.csv' AS _source_file,
               CAST(i + 2 AS INTEGER) AS _row_number FROM range({small}) t(i)""")
    con.execute(f"""CREATE OR REPLACE TABLE raw_roster_members AS
        SELECT '{month}' AS run_month, 'H' || (i // 2) AS household_id, '王' || i AS name,
               s17 || dibao_id_check(s17) AS id_number, CASE WHEN i % 2 = 0 THEN '户主' ELSE '子女' END AS relation,
               TRUE AS is_beneficiary, 0.0 AS monthly_income, 'roster_members.csv' AS _source_file,
               CAST(i + 2 AS INTEGER) AS _row_number
        FROM (SELECT i, '420102198501' || lpad(CAST(i % 28 + 1 AS VARCHAR), 2, '0')
                     || lpad(CAST(i % 1000 AS VARCHAR), 3, '0') AS s17 FROM range({2 * small}) t(i))""")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--db", type=Path, default=None, help="DuckDB file (default: a temporary one)")
    parser.add_argument("--broken-share", type=float, default=0.0,
                        help="share of pensions IDs turned into 4.20102E+17, so failures and examples are timed too")
    args = parser.parse_args(argv)
    out = sys.stdout.write
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "bench.duckdb"
        con = duckdb.connect(str(db))
        con.execute("SET enable_progress_bar = false")
        t0 = time.perf_counter()
        build(con, args.rows)
        if args.broken_share:
            con.execute("UPDATE raw_pensions SET id_number = '4.20102E+17' WHERE _row_number % 1000 < ?",
                        [int(args.broken_share * 1000)])
        out(f"build synthetic month ({args.rows:,} pensions rows): {time.perf_counter() - t0:.1f} s\n")

        csv = Path(tmp) / "pensions.csv"
        t0 = time.perf_counter()
        con.execute(f"COPY (SELECT record_id, name, id_number, strftime(pay_month, '%Y%m') AS pay_month, amount "
                    f"FROM raw_pensions) TO '{csv}' (HEADER)")
        t1 = time.perf_counter()
        con.execute(f"CREATE OR REPLACE TABLE load_probe AS SELECT * FROM read_csv('{csv}', all_varchar = true)")
        con.execute("CREATE OR REPLACE TABLE load_probe AS SELECT *, strptime(pay_month, '%Y%m')::DATE AS pm, "
                    "TRY_CAST(amount AS DOUBLE) AS amt FROM load_probe")
        t2 = time.perf_counter()
        con.execute("DROP TABLE load_probe")
        out(f"CSV write {t1 - t0:.1f} s; CSV read_csv + typing into DuckDB (loader lower bound) {t2 - t1:.1f} s\n")

        from expectations.gate import format_report, run_gate
        from expectations.runner import import_gx
        from matching.policy import default_policy

        t0 = time.perf_counter()
        import_gx()
        out(f"import great_expectations: {time.perf_counter() - t0:.1f} s\n")
        for attempt in (1, 2):
            t0 = time.perf_counter()
            report = run_gate(con, "2024-03", default_policy())
            out(f"run_gate #{attempt}: {time.perf_counter() - t0:.1f} s "
                f"({len(report.critical)} critical, {len(report.warnings)} warnings)\n")
        out("\n".join(format_report(report).splitlines()[:6]) + "\n")
        con.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
