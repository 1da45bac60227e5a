"""Linking registry persons and expanding to records gives what linking every record gives.

Linkage scores one row per registry and typed (name, ID) (`stg_registry_persons`) and
writes each link once per record of the person. These tests link the committed sample's
records one by one, the way linkage did before, and compare.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from connectors.load import load_extracts
from matching import linkage
from matching.linkage import MEMBERS_SQL, PERSONS_SQL, REGISTRY_SQL, link_month, registry_sample_sql
from matching.policy import load_policy
from matching.staging import PERSONS, stage

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "sample"
MONTH = "2026-10"


@pytest.fixture(scope="module")
def linked() -> tuple[duckdb.DuckDBPyConnection, dict]:
    con = duckdb.connect()
    load_extracts(con, SAMPLE, MONTH)
    stage(con, MONTH, "2026-10-31")
    return con, link_month(con, MONTH, load_policy(None))


def test_every_registry_row_belongs_to_one_person_and_persons_are_fewer(linked) -> None:
    con, _ = linked
    rows, persons, records = con.execute(
        f"SELECT (SELECT count(*) FROM stg_registry_records), (SELECT count(*) FROM {PERSONS}), "
        f"(SELECT sum(n) FROM {PERSONS})").fetchall()[0]
    assert records == rows
    assert con.execute("SELECT count(*) FROM stg_registry").fetchall()[0][0] == rows  # each row joins one person
    assert persons < rows / 2  # payment rows repeat their person
    blank = con.execute(f"SELECT count(*) FROM {PERSONS} WHERE id_raw IS NULL").fetchall()[0][0]
    assert blank > 0  # persons with no ID are persons too (their rows match by IS NOT DISTINCT FROM)


def test_persons_expanded_equal_records_linked_one_by_one(linked) -> None:
    con, results = linked
    policy = load_policy(None)
    members = MEMBERS_SQL.format(month=MONTH)
    total = con.execute(f"SELECT sum(n) FROM {PERSONS}").fetchall()[0][0]
    model = linkage.estimate(con, members, REGISTRY_SQL, policy, right_sample=registry_sample_sql, right_rows=total)
    con.execute(linkage.views_sql(members, REGISTRY_SQL))
    con.execute(linkage.tf_sql())  # name frequencies counted over records, as linkage counts them over persons × n
    tf_records = con.execute("SELECT * FROM link_tf ORDER BY 1").fetchall()
    con.execute(linkage.views_sql(members, PERSONS_SQL))
    con.execute(linkage.tf_sql())
    assert con.execute("SELECT * FROM link_tf ORDER BY 1").fetchall() == tf_records
    con.execute(linkage.views_sql(members, REGISTRY_SQL))
    con.execute(linkage.tf_sql())
    sources = [r[0] for r in con.execute(f"SELECT DISTINCT source FROM {PERSONS} ORDER BY 1").fetchall()]
    assert len(sources) >= 10
    for source in sources:
        res = linkage.score(con, source, members, f"{REGISTRY_SQL} WHERE source = '{source}'", policy, model,
                            own_tf=False)
        one_by_one = con.execute("""
            SELECT split_part(r_key, '|', 2), l_key, match_class, probability, id_level, name_level, block_rule, evidence
            FROM link_best ORDER BY ALL""").fetchall()
        stored = con.execute("""
            SELECT source_record_id, member_key, match_class, match_score, id_level, name_level, block_rule, evidence
            FROM link_pairs WHERE source = ? ORDER BY ALL""", [source]).fetchall()
        assert stored == one_by_one, source
        # the counts reported (progress, run history, link_blocking) are of records too
        assert results[source].linked == res.linked, source
        assert results[source].compared == res.compared, source
        assert results[source].candidates_by_rule == res.candidates_by_rule, source


def test_staff_links_are_every_pair_of_their_records(linked) -> None:
    con, results = linked
    n = con.execute("SELECT count(*) FROM link_staff_hukou").fetchall()[0][0]
    assert n == sum(results["staff_hukou"].linked.values()) and n > 0
