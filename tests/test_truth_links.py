"""The generator's optional pair-level ground truth (`truth=True` → truth_links.parquet)."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import polars as pl
import pytest

from connectors.load import load_extracts
from matching.staging import stage
from sample_data.generator import generate
from sample_data.oracle import TRUTH_COLUMNS

HOUSEHOLDS, SEED, MONTH = 120, 11, "2026-10"


@pytest.fixture(scope="module")
def with_truth(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("truth")
    generate(out, HOUSEHOLDS, SEED, MONTH, truth=True)
    return out


def test_default_writes_no_truth_and_the_same_bytes(with_truth, tmp_path):
    generate(tmp_path, HOUSEHOLDS, SEED, MONTH)
    assert not (tmp_path / "truth_links.parquet").exists()
    plain = sorted(p.name for p in tmp_path.iterdir())
    assert plain == sorted(p.name for p in with_truth.iterdir() if p.name != "truth_links.parquet")
    for name in plain:
        assert (tmp_path / name).read_bytes() == (with_truth / name).read_bytes(), name


def test_truth_agrees_with_the_answers(with_truth):
    truth = pl.read_parquet(with_truth / "truth_links.parquet")
    assert tuple(truth.columns) == TRUTH_COLUMNS
    assert set(truth["kind"]) == {"true", "blank_id", "lookalike"}
    assert truth.filter(pl.col("kind") == "blank_id")["id_noise"].unique().to_list() == ["blank"]
    pairs = {(r["source"], r["record_id"], r["household_id"], r["member_id_number"]): r["kind"]
             for r in truth.iter_rows(named=True)}
    with open(with_truth / "answers.csv", encoding="utf-8") as fh:
        answers = [a for a in csv.DictReader(fh) if a["source_record_id"] and a["id_number"]]
    expected_kind = {"finding": "true", "possible": "blank_id", "lookalike": "lookalike"}
    checked = 0
    for a in answers:
        key = (a["source"], a["source_record_id"], a["household_id"], a["id_number"])
        assert pairs.get(key) == expected_kind[a["expected"]], a
        checked += 1
    assert checked > 30


def test_member_index_is_the_staged_member_key(with_truth):
    truth = pl.read_parquet(with_truth / "truth_links.parquet")
    con = duckdb.connect()
    load_extracts(con, with_truth, MONTH)
    stage(con, MONTH, "2026-10-31")
    con.execute(f"CREATE TABLE truth AS SELECT * FROM read_parquet('{with_truth / 'truth_links.parquet'}')")
    mismatched = con.execute("""
        SELECT count(*) FROM truth t LEFT JOIN stg_members m
            ON m.member_key = t.household_id || '#' || t.member_index AND m.run_month = ?
        WHERE m.id_number IS DISTINCT FROM t.member_id_number""", [MONTH]).fetchall()[0][0]
    assert mismatched == 0
    found = con.execute("""SELECT count(*) FROM truth t SEMI JOIN stg_registry r
                           ON r.source = t.source AND r.record_id = t.record_id""").fetchall()[0][0]
    assert found >= 0.95 * truth.height  # a few rows of quarantined or unstaged extracts aside
