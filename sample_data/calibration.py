"""Does the match probability mean what it says? Linked pairs scored against a sample's truth.

`truth_links.parquet` (written by `dibao sample` beside `answers.csv`) says which registry row
is about which roster member. Every pair in `link_pairs` of the month is binned by its match
probability (`match_score`), and each bin's share of true links is set beside its mean
probability: a well-calibrated model has the two close. Pairs below
`linkage.possible_threshold` are not stored, so the table starts there.

Pair-level precision, recall and F1 of the links (`exact`/`probable`) come from recordlinkage's
evaluation measures over pair indexes; recall is over true pairs whose record carries an ID.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import recordlinkage

from sample_data.evaluate import EvaluationError

BIN_EDGES = (0.0, 0.05, 0.2, 0.5, 0.8, 0.95, 0.99, 0.999, 1.0)
PAIR_KEY = ["source", "record_id", "member_key"]


@dataclass(frozen=True)
class CalibrationBin:
    low: float
    high: float
    pairs: int
    true_links: int
    mean_probability: float | None

    @property
    def observed(self) -> float | None:
        return self.true_links / self.pairs if self.pairs else None


@dataclass(frozen=True)
class PairMeasures:
    linked: int  # pairs linked exact/probable
    true_pairs: int  # true pairs whose record carries an ID
    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class CalibrationReport:
    bins: list[CalibrationBin]
    measures: PairMeasures


def truth_path_for(answers: Path) -> Path:
    return Path(answers).with_name("truth_links.parquet")


def _truth(path: Path) -> pl.DataFrame:
    if not path.exists():
        raise EvaluationError(f"{path}: truth file not found (`dibao sample` writes it beside answers.csv)")
    truth = pl.read_parquet(path)
    return truth.select(
        "source", "record_id", "kind",
        (pl.col("household_id") + "#" + pl.col("member_index").cast(pl.Utf8)).alias("member_key"))


def _index(frame: pl.DataFrame) -> pd.MultiIndex:
    """A pandas MultiIndex of pairs, as recordlinkage's measures take them."""
    rows = frame.select(pl.col("source") + "|" + pl.col("record_id"), "member_key").unique().rows()
    return pd.MultiIndex.from_tuples(rows, names=["record", "member"]) if rows else \
        pd.MultiIndex.from_arrays([[], []], names=["record", "member"])


def _mean(values: pl.Series) -> float:
    return float(values.cast(pl.Float64).to_numpy().mean())


def calibrate(con: duckdb.DuckDBPyConnection, month: str, truth_path: Path) -> CalibrationReport:
    truth = _truth(truth_path)
    pairs = pl.from_arrow(con.sql(
        "SELECT source, source_record_id AS record_id, member_key, match_class, match_score "
        "FROM link_pairs WHERE run_month = $m", params={"m": month}).to_arrow_table())
    assert isinstance(pairs, pl.DataFrame)
    real = truth.filter(pl.col("kind").is_in(["true", "blank_id"])).select(PAIR_KEY).unique()
    scored = pairs.join(real.with_columns(pl.lit(True).alias("is_true")), on=PAIR_KEY, how="left") \
        .with_columns(pl.col("is_true").fill_null(False))
    bins = []
    for low, high in zip(BIN_EDGES, BIN_EDGES[1:], strict=False):
        upper = pl.col("match_score") <= high if high == 1.0 else pl.col("match_score") < high
        part = scored.filter((pl.col("match_score") >= low) & upper)
        bins.append(CalibrationBin(low, high, part.height, int(part["is_true"].sum()),
                                   _mean(part["match_score"]) if part.height else None))

    linked = pairs.filter(pl.col("match_class").is_in(["exact", "probable"]))
    true_id = truth.filter(pl.col("kind") == "true")
    links_true, links_pred = _index(true_id), _index(linked)
    if len(links_pred) and len(links_true):
        precision = float(recordlinkage.precision(links_true, links_pred))
        recall = float(recordlinkage.recall(links_true, links_pred))
        f1 = float(recordlinkage.fscore(links_true, links_pred))
    else:
        precision = recall = f1 = 0.0
    return CalibrationReport(bins, PairMeasures(len(links_pred), len(links_true), precision, recall, f1))


def format_calibration(report: CalibrationReport) -> str:
    lines = ["", "Calibration of the match probability (link_pairs against truth_links.parquet):",
             f"  {'probability':<15} {'pairs':>7} {'true':>7} {'observed':>9} {'mean predicted':>15}"]
    for b in report.bins:
        shown = "—" if b.observed is None else f"{b.observed:.3f}"
        mean = "—" if b.mean_probability is None else f"{b.mean_probability:.3f}"
        closing = "]" if b.high == 1.0 else ")"
        lines.append(f"  [{b.low:.3f}, {b.high:.3f}{closing:<2}{b.pairs:>7} {b.true_links:>7} {shown:>9} {mean:>15}")
    m = report.measures
    lines += [f"Pairs linked exact/probable: {m.linked:,}; true pairs with an ID: {m.true_pairs:,}; "
              f"pair precision {m.precision:.4f}, recall {m.recall:.4f}, F1 {m.f1:.4f} (recordlinkage)"]
    return "\n".join(lines)
