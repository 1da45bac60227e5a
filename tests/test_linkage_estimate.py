"""The model fit's shortcuts give exactly what the plain computation gives, on the committed sample."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

import matching.linkage as linkage
from connectors.load import load_extracts
from matching.linkage import (
    MEMBERS_SQL,
    REGISTRY_SQL,
    _levels_select,
    name_blocked_id_levels_sql,
    registry_sample_sql,
    sample_sql,
)
from matching.staging import stage

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "sample"
MONTH = "2026-10"


@pytest.fixture(scope="module")
def staged() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    load_extracts(con, SAMPLE, MONTH)
    stage(con, MONTH, "2026-10-31")
    con.execute(linkage.views_sql(MEMBERS_SQL.format(month=MONTH), REGISTRY_SQL))
    return con


def _every_pair(con: duckdb.DuckDBPyConnection, seed: int, rows: int) -> dict[str, int]:
    """The ID level of every name-blocked pair, listed one by one (what the fit did before)."""
    pairs = (f"(SELECT * FROM L WHERE id_status = 'valid') l JOIN ({sample_sql('R', rows, seed)}) r "
             "ON r.name_pinyin = l.name_pinyin")
    return dict(con.execute(f"SELECT id_level, count(*) FROM ({_levels_select(pairs)}) WHERE id_level <> 'null' "
                            "GROUP BY 1").fetchall())


@pytest.mark.parametrize(("seed", "rows"), [(20260101, 200_000), (3, 2_000), (11, 500)])
def test_name_blocked_id_levels_are_counted_exactly(staged, monkeypatch, seed: int, rows: int) -> None:
    monkeypatch.setattr(linkage, "NAME_BLOCKED_SAMPLE_ROWS", rows)
    counted = {k: int(v) for k, v in staged.execute(name_blocked_id_levels_sql(seed)).fetchall()
               if v}
    listed = _every_pair(staged, seed, rows)
    assert counted == listed
    # the sample holds registry IDs that fail their check, so the levels beside 'exact' are exercised
    assert listed.get("different", 0) > 0 and len(listed) >= 3, listed


@pytest.mark.parametrize("rows", [10, 5_000])
def test_the_registry_sample_by_row_id_draws_the_same_rows(staged, rows: int) -> None:
    plain = staged.execute(f"SELECT * FROM ({sample_sql(f'({REGISTRY_SQL})', rows, 7)}) ORDER BY key").fetchall()
    by_row_id = staged.execute(f"SELECT * FROM ({registry_sample_sql(rows, 7)}) ORDER BY key").fetchall()
    assert len(plain) == rows and by_row_id == plain
    total = staged.execute("SELECT count(*) FROM stg_registry").fetchall()[0][0]
    bounded = staged.execute(f"SELECT * FROM ({registry_sample_sql(rows, 7, total)}) ORDER BY key").fetchall()
    assert bounded == plain
    # a bound that lets too few rows through gives fewer rows (and `estimate` draws again), never other rows
    tight = staged.execute(f"SELECT * FROM ({registry_sample_sql(rows, 7, total * 100)}) ORDER BY key").fetchall()
    assert len(tight) < rows and set(tight) <= set(plain)


def test_the_fit_draws_again_when_the_bounded_sample_is_short(staged, monkeypatch) -> None:
    """`estimate` fits on the same rows whether or not the hash bound let enough rows through."""
    from matching.policy import load_policy

    def fitted(margin: float) -> list:
        monkeypatch.setattr(linkage, "SAMPLE_MARGIN", margin)
        linkage.estimate(staged, MEMBERS_SQL.format(month=MONTH), REGISTRY_SQL, load_policy(None),
                         sample_rows=2_000, right_sample=registry_sample_sql)
        return staged.execute("SELECT key FROM link_fit_sample ORDER BY key").fetchall()

    assert fitted(0.01) == fitted(2) and len(fitted(2)) == 2_000
