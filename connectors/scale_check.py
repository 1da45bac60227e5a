"""Scale check (not a test): write an N-row GB18030 `pensions.csv` and time its load.

    python -m connectors.scale_check --rows 2000000 [--dir /tmp/dibao-scale] [--encoding gb18030]

Prints the write time, then read+parse+write time and rows/s. A few rows are made bad on
purpose (blank name, bad month, ID in scientific notation) so quarantine is exercised.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import duckdb
import polars as pl

from .load import ensure_tables, load_file
from .schemas import EXTRACTS

SURNAMES = list("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗陳𠮷")
GIVEN = ["伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "提·艾力"]


def make_csv(path: Path, rows: int, encoding: str) -> None:
    i = pl.col("i")
    sur, giv = pl.Series(SURNAMES), pl.Series(GIVEN)
    df = pl.DataFrame({"i": pl.int_range(0, rows, eager=True)}).select(
        pl.format("P{}", i).alias("记录编号"),
        pl.when(i % 100003 == 1).then(pl.lit(""))
        .otherwise(pl.lit(sur).gather((i * 7) % len(SURNAMES)) + pl.lit(giv).gather((i * 13) % len(GIVEN)))
        .alias("姓名"),
        pl.when(i % 100003 == 3).then(pl.lit("4.20102E+17"))
        .otherwise(pl.format("420102{}{}", (1950 + i % 60).cast(pl.String), (i % 100000000).cast(pl.String).str.zfill(8)))
        .alias("身份证号"),
        pl.when(i % 100003 == 2).then(pl.lit("2024-13"))
        .otherwise(pl.format("2024-{}", (1 + i % 12).cast(pl.String).str.zfill(2))).alias("发放年月"),
        pl.format("{}.50", (1000 + i % 3000).cast(pl.String)).alias("发放金额"),
    )
    utf8 = path.with_suffix(".utf8.tmp")
    df.write_csv(utf8)
    with open(utf8, encoding="utf-8") as src, open(path, "w", encoding=encoding, newline="") as dst:
        while chunk := src.read(8 << 20):
            dst.write(chunk)
    utf8.unlink()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/dibao-scale"))
    ap.add_argument("--encoding", default="gb18030")
    args = ap.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / "pensions.csv"
    t0 = time.perf_counter()
    make_csv(path, args.rows, args.encoding)
    t1 = time.perf_counter()
    con = duckdb.connect(str(args.dir / "scale.duckdb"))
    ensure_tables(con)
    con.execute("DELETE FROM raw_pensions; DELETE FROM quarantine")
    t2 = time.perf_counter()
    stats, _ = load_file(con, path, EXTRACTS["pensions"], "2024-03")
    t3 = time.perf_counter()
    con.close()
    mb = path.stat().st_size / 1e6
    sys.stdout.write(
        f"wrote {args.rows:,} rows ({mb:.0f} MB {args.encoding}) in {t1 - t0:.1f}s\n"
        f"loaded {stats.rows_loaded:,}, quarantined {stats.rows_quarantined:,} (encoding {stats.encoding}) "
        f"in {t3 - t2:.1f}s: {stats.rows_read / (t3 - t2):,.0f} rows/s, {mb / (t3 - t2):.0f} MB/s\n"
    )


if __name__ == "__main__":
    main()
