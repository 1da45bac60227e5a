"""The linkage on the stress profile, through the monthly run, scored against the answers (the
standard profile's run is `tests/test_end_to_end.py`'s city, held to the same two tests there).

The stress profile (`sample_data/stress*.py`) was written without reading the linkage code and
no constant in `matching/` is fitted to it: look-alike and traditional characters, dropped
separators, compound and special-reading surnames, 15-digit and two-digit ID slips, the
roster's own slips, several slips at once, and namesake, neighbour and relative decoys. A
fresh seed here, not the one the README's figures come from.
"""

from __future__ import annotations

import duckdb
import pytest

from flows.monthly import run_monthly
from matching.policy import default_policy
from sample_data.calibration import calibrate
from sample_data.evaluate import evaluate
from sample_data.generator import generate

MONTH = "2026-09"
REGISTRY_RULES = ("R01", "R02", "R03", "R04", "R05", "R06")


def _run(root, profile: str, households: int, seed: int):
    data = root / "data"
    generate(data, households=households, seed=seed, month=MONTH, profile=profile, truth=True)
    run_monthly(data, root / "dibao.duckdb", MONTH, out_dir=root / "out")
    con = duckdb.connect(str(root / "dibao.duckdb"), read_only=True)
    return con, data


@pytest.fixture(scope="module")
def stress(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("stress"), "stress", 2000, 5150)


def check_registry_rules(con: duckdb.DuckDBPyConnection, answers, min_recall: float) -> None:
    report = evaluate(con, MONTH, answers)
    rows = [r for r in report.rules if r.rule in REGISTRY_RULES]
    expected, found, hits = (sum(getattr(r, k) for r in rows) for k in ("expected", "found", "true_pos"))
    assert expected > 200
    assert hits == found, [(r.rule, r.false_pos) for r in rows]  # not one false finding
    # recall: 0.99 on the README's 3,000 households; a smaller sample here, so a little slack
    assert hits / expected >= min_recall, (hits, expected)
    assert report.lookalikes > 0 and report.lookalikes_linked == 0 and report.lookalike_findings == 0


def check_calibration(con: duckdb.DuckDBPyConnection, truth) -> None:
    """Every probability bin at or above the `probable` threshold holds true links only; below it
    the share of true links rises with the probability."""
    report = calibrate(con, MONTH, truth)
    threshold = default_policy()["linkage.probable_threshold"]
    above = [b for b in report.bins if b.low >= threshold and b.pairs]
    assert above and all(b.true_links == b.pairs for b in above), above
    shares = [b.observed for b in report.bins if b.high <= threshold and b.pairs >= 10]
    assert shares == sorted(shares), report.bins
    assert report.measures.precision == 1.0


def test_registry_rules_precision_and_recall(stress):
    con, data = stress
    # 0.99 on the README's 3,000 households; a smaller sample here, so a little slack
    check_registry_rules(con, data / "answers.csv", 0.98)


def test_the_probability_is_calibrated_where_findings_are_made(stress):
    con, data = stress
    check_calibration(con, data / "truth_links.parquet")

