"""recordlinkage's ECM against this engine's fit, on the same candidate pairs.

    .venv/bin/python bench/ecm_compare.py --data SAMPLE_DIR [--month 2026-09] [--seed 20260101]

ECM (`recordlinkage.ECMClassifier`) fits m and u jointly on the candidate pairs. With
init='random' it takes categorical features (each column one-hot encoded by a label
binarizer); init='jaro' takes binary ones only. Its random start uses numpy's global generator,
so the seed is set before each fit.

Loads a sample (one with `truth_links.parquet`, e.g. from `dibao sample`), stages it, lists
and levels the candidate pairs of every registry as `matching.linkage` does, then classifies
them two ways: ECM over (ID level, name level), a link at probability ≥ 0.5; and this engine's
classes (`exact`/`probable`). Both are scored against the truth with recordlinkage's measures.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import recordlinkage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.load import load_extracts  # noqa: E402
from matching import linkage  # noqa: E402
from matching.policy import default_policy  # noqa: E402
from matching.staging import stage  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--month", default="2026-09")
    ap.add_argument("--seed", type=int, default=20260101)
    args = ap.parse_args(argv)
    con = duckdb.connect()
    load_extracts(con, args.data, args.month)
    y, m = (int(x) for x in args.month.split("-"))
    last = (pd.Timestamp(y, m, 1) + pd.offsets.MonthEnd(0)).date().isoformat()
    stage(con, args.month, last)
    policy = default_policy()
    members = linkage.MEMBERS_SQL.format(month=args.month)
    model = linkage.estimate(con, members, linkage.REGISTRY_SQL, policy)
    # every registry row against the members, scored by this engine (link_scored keeps every pair)
    linkage.score(con, "all", members, linkage.REGISTRY_SQL, policy, model)
    pairs = con.sql("SELECT r_key, l_key, id_level, name_level, match_class FROM link_scored").pl()

    truth = pl.read_parquet(args.data / "truth_links.parquet").filter(pl.col("kind") == "true").select(
        (pl.col("source") + "|" + pl.col("record_id")).alias("r_key"),
        (pl.col("household_id") + "#" + pl.col("member_index").cast(pl.Utf8)).alias("l_key"))
    links_true = pd.MultiIndex.from_frame(truth.to_pandas())
    index = pd.MultiIndex.from_frame(pairs.select("r_key", "l_key").to_pandas())
    features = pd.DataFrame({
        "id": pairs["id_level"].cast(pl.Categorical).to_physical().to_numpy(),
        "name": pairs["name_level"].cast(pl.Categorical).to_physical().to_numpy()}, index=index)

    def measures(pred: pd.MultiIndex) -> str:
        if len(pred) == 0:
            return "no links"
        return (f"precision {recordlinkage.precision(links_true, pred):.4f}  "
                f"recall {recordlinkage.recall(links_true, pred):.4f}  links {len(pred):,}")

    ours = pairs.filter(pl.col("match_class").is_in(["exact", "probable"]))
    print(f"{len(pairs):,} candidate pairs, {len(links_true):,} true pairs with an ID ({args.data})")
    print(f"  this engine (exact/probable):        {measures(pd.MultiIndex.from_frame(ours.select('r_key', 'l_key').to_pandas()))}")
    for seed in (1, 2, 3):
        np.random.seed(seed)
        t0 = time.perf_counter()
        ecm = recordlinkage.ECMClassifier(init="random", max_iter=200)
        ecm.fit(features)
        proba = ecm.prob(features)
        pred = proba[proba >= 0.5].index
        print(f"  ECM init='random', seed {seed} ({time.perf_counter() - t0:.1f} s): {measures(pred)}")
    try:
        recordlinkage.ECMClassifier(init="jaro").fit(features)
    except ValueError as exc:
        print(f"  ECM init='jaro': {exc}")


if __name__ == "__main__":
    main()
