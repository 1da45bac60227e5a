"""What rapidfuzz does for the name comparison, measured against what it replaced.

    .venv/bin/python bench/name_levels.py --db FILE [--rows 2000] [--seed 7]

Takes two random samples of `--rows` distinct names from a run's `name_forms` table (every
name a run has seen, with its forms) and levels every pair of them, as the model's u-estimate
does with its random pairs (2,000 × 2,000 = 4 million pairs), three ways:

1. `matching.name_levels.cross_level_counts`: rapidfuzz's `process.cdist` (Levenshtein and
   Jaro–Winkler matrices in C++), numpy for the equalities, Python only for pairs one edit apart;
2. the same levels pair by pair in Python (`matching.name_levels.levels`, which calls
   `process.cpdist` once over the pairs);
3. the SQL levels this replaced (before issue 19: equalities, DuckDB's `hamming` and
   `jaro_winkler_similarity`, no look-alike, reading or separator levels) over the cross join.

Prints each way's seconds and level counts (1 and 2 must agree exactly).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from matching.name_levels import FORM_COLUMNS, cross_level_counts, levels  # noqa: E402

OLD_SQL_LEVELS = """
CASE WHEN coalesce(r.clean, '') = '' OR coalesce(l.clean, '') = '' THEN 'null'
     WHEN r.clean = l.clean THEN 'exact'
     WHEN r.simplified = l.simplified THEN 'simplified'
     WHEN r.pinyin = l.pinyin THEN 'homophone'
     WHEN length(r.simplified) = length(l.simplified) AND length(l.simplified) >= 2
          AND hamming(r.simplified, l.simplified) = 1 THEN 'one_char'
     WHEN jaro_winkler_similarity(r.pinyin, l.pinyin) >= 0.88 THEN 'similar'
     ELSE 'different' END"""


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    con = duckdb.connect()
    con.execute(f"ATTACH '{args.db}' AS run (READ_ONLY)")
    for side, salt in (("a", 1), ("b", 2)):
        con.execute(f"""CREATE TEMP TABLE {side} AS SELECT name_clean AS clean, name_simplified AS simplified,
                        name_pinyin AS pinyin, 1 AS n FROM run.name_forms
                        ORDER BY hash(name || '#{args.seed}#{salt}') LIMIT {args.rows}""")
    left, right = con.sql("SELECT * FROM a").pl(), con.sql("SELECT * FROM b").pl()
    pairs = left.height * right.height

    t0 = time.perf_counter()
    by_matrix = cross_level_counts(left, right, 0.88)
    t1 = time.perf_counter()
    flat = {f: [x for x in left[f].to_list() for _ in range(right.height)] for f in FORM_COLUMNS}
    other = {f: right[f].to_list() * left.height for f in FORM_COLUMNS}
    t2 = time.perf_counter()
    by_pair: dict[str, float] = {}
    for level in levels(flat, other, 0.88):
        by_pair[level] = by_pair.get(level, 0.0) + 1
    t3 = time.perf_counter()
    by_sql = dict(con.execute(f"SELECT {OLD_SQL_LEVELS} AS level, count(*) FROM a l, b r GROUP BY 1").fetchall())
    t4 = time.perf_counter()

    print(f"{pairs:,} pairs of names from {args.db}")
    print(f"  rapidfuzz cdist matrices:            {t1 - t0:6.2f} s  {dict(sorted(by_matrix.items()))}")
    print(f"  pair by pair (cpdist, Python levels): {t3 - t2:6.2f} s  {dict(sorted(by_pair.items()))}")
    print(f"  the old SQL levels (DuckDB):          {t4 - t3:6.2f} s  {dict(sorted(by_sql.items()))}")
    if by_matrix != by_pair:
        raise SystemExit("the two rapidfuzz paths disagree")


if __name__ == "__main__":
    main()
