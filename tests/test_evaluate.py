"""Scoring a hand-made flags table against hand-made answers."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from sample_data.evaluate import EvaluationError, evaluate, format_report

A = "420102199001011234"  # IDs need not be valid here: evaluate compares text only
B = "420102198505052345"
C = "42010219700303345X"

ANSWERS = [
    # rule, household_id, id_number, expected, source, source_record_id, id_noise, name_noise, note
    ("R01", "H1", A, "finding", "deaths", "SW1", "none", "none", ""),
    ("R02", "H1", B, "finding", "pensions", "YL1", "typo", "none", ""),
    ("R05", "H2", C, "finding", "vehicles", "JDC1", "id15", "none", ""),
    ("R10", "H2", "", "finding", "roster_households", "", "none", "none", ""),
    ("R03", "H2", C, "possible", "unemployment", "SY9", "blank", "none", ""),
    ("R04", "H3", "", "possible", "housing_fund", "GJJ9", "blank", "none", ""),
    ("R05", "H1", A, "lookalike", "vehicles", "JDC7", "none", "none", "c: this member's ID"),
    ("R01", "H2", C, "lookalike", "deaths", "SW7", "none", "none", "a: same name"),
]
FLAGS = [
    # run_month, household_id, id_number, rule, source, source_record_id, match_class
    ("2026-10", "H1", A, "R01", "deaths", "SW1", "exact"),  # TP
    ("2026-10", "H1", A, "R01", "deaths", "SW2", "probable"),  # same key again: still one TP
    ("2026-10", "H2", None, "R10", "roster_households", None, None),  # TP, NULL class counts as a finding
    ("2026-10", "H1", A, "R05", "vehicles", "JDC7", "probable"),  # FP, and a look-alike used as evidence
    ("2026-10", "H2", C, "R03", "unemployment", "SY9", "possible"),  # the expected possible
    ("2026-10", "H2", C, "R05", "vehicles", "JDC1", "possible"),  # a finding shown only as possible: FN
    ("2026-09", "H1", B, "R02", "pensions", "YL1", "exact"),  # another month: ignored
]


def _answers(tmp_path: Path) -> Path:
    path = tmp_path / "answers.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["rule", "household_id", "id_number", "expected", "source", "source_record_id",
                    "id_noise", "name_noise", "note"])
        w.writerows(ANSWERS)
    return path


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute("CREATE TABLE flags (run_month VARCHAR, household_id VARCHAR, id_number VARCHAR, rule VARCHAR,"
                " source VARCHAR, source_record_id VARCHAR, match_class VARCHAR, match_score DOUBLE,"
                " evidence VARCHAR)")
    con.executemany("INSERT INTO flags VALUES (?, ?, ?, ?, ?, ?, ?, 1.0, '')", FLAGS)
    return con


def test_per_rule_scores(con, tmp_path):
    report = evaluate(con, "2026-10", _answers(tmp_path))
    by_rule = {s.rule: s for s in report.rules}
    assert (by_rule["R01"].expected, by_rule["R01"].found, by_rule["R01"].true_pos) == (1, 1, 1)
    assert by_rule["R01"].precision == by_rule["R01"].recall == by_rule["R01"].f1 == 1.0
    r02 = by_rule["R02"]
    assert (r02.found, r02.false_neg, r02.precision, r02.recall) == (0, 1, None, 0.0)
    r05 = by_rule["R05"]  # expected H2/C, found H1/A
    assert (r05.expected, r05.found, r05.true_pos, r05.false_pos, r05.false_neg) == (1, 1, 0, 1, 1)
    assert r05.f1 == 0.0
    assert by_rule["R10"].true_pos == 1
    assert "R03" not in by_rule and "R04" not in by_rule  # possible answers are not positives
    total = report.total
    assert (total.expected, total.found, total.true_pos) == (4, 3, 2)
    assert total.precision == pytest.approx(2 / 3) and total.recall == pytest.approx(0.5)
    assert set(report.missed) == {("R02", "H1", B), ("R05", "H2", C)}
    assert report.unexpected == [("R05", "H1", A)]


def test_recall_by_noise_group(con, tmp_path):
    report = evaluate(con, "2026-10", _answers(tmp_path))
    groups = {n.group: n for n in report.recall_by_noise}
    assert (groups["clean"].expected, groups["clean"].found) == (3, 2)  # none, none, id15
    assert (groups["noisy"].expected, groups["noisy"].found, groups["noisy"].recall) == (1, 0, 0.0)
    assert groups["id_noise=id15"].found == 0


def test_lookalikes_and_possible(con, tmp_path):
    report = evaluate(con, "2026-10", _answers(tmp_path))
    assert report.lookalikes == 2
    assert report.lookalikes_linked is None
    assert report.lookalike_findings == 1
    assert (report.possible_expected, report.possible_found) == (2, 1)
    assert "n/a" in format_report(report)

    con.execute("CREATE TABLE link_pairs (run_month VARCHAR, source VARCHAR, source_record_id VARCHAR,"
                " member_key VARCHAR, household_id VARCHAR, id_number VARCHAR, match_class VARCHAR)")
    con.executemany("INSERT INTO link_pairs VALUES (?, ?, ?, ?, ?, ?, ?)", [
        ("2026-10", "vehicles", "JDC7", "H1#1", "H1", A, "probable"),  # counted
        ("2026-10", "deaths", "SW7", "H2#1", "H2", C, "possible"),  # possible is not a link
        ("2026-09", "deaths", "SW7", "H2#1", "H2", C, "exact"),  # other month
    ])
    assert evaluate(con, "2026-10", _answers(tmp_path)).lookalikes_linked == 1


def test_format_report_is_a_table(con, tmp_path):
    text = format_report(evaluate(con, "2026-10", _answers(tmp_path)))
    lines = text.splitlines()
    assert any(line.startswith("R01") and "1.000" in line for line in lines)
    assert any(line.startswith("ALL") for line in lines)
    assert "Recall by the evidence's ID noise" in text and "noisy" in text
    assert "—" in text  # R02 precision is undefined


def test_errors_name_the_problem(con, tmp_path):
    with pytest.raises(EvaluationError, match="'month'"):
        evaluate(con, "2026/10", _answers(tmp_path))
    with pytest.raises(EvaluationError, match="not found"):
        evaluate(con, "2026-10", tmp_path / "nope.csv")
    with pytest.raises(EvaluationError, match="flags"):
        evaluate(duckdb.connect(":memory:"), "2026-10", _answers(tmp_path))


def test_generated_answers_score_perfectly_against_themselves(tmp_path):
    """A flags table written from the answers scores 1.0 everywhere: the two agree on keys."""
    from sample_data.generator import generate

    generate(tmp_path, 60, 3, "2026-10")
    con = duckdb.connect(":memory:")
    con.execute(f"""
        CREATE TABLE flags AS
        SELECT '2026-10' AS run_month, household_id, nullif(id_number, '') AS id_number, rule, source,
               source_record_id, CASE expected WHEN 'finding' THEN 'exact' ELSE 'possible' END AS match_class,
               1.0 AS match_score, note AS evidence
        FROM read_csv('{tmp_path / "answers.csv"}', all_varchar = true) WHERE expected <> 'lookalike'""")
    report = evaluate(con, "2026-10", tmp_path / "answers.csv")
    assert report.total.precision == report.total.recall == 1.0
    assert report.lookalike_findings == 0 and report.possible_found == report.possible_expected


def test_recall_by_name_noise_and_lookalikes_by_kind(con, tmp_path):
    """The stress profile's breakdowns: name noise kind by kind, look-alikes by the kind their note starts with."""
    report = evaluate(con, "2026-10", _answers(tmp_path))
    assert report.recall_by_name_noise == []  # every expected finding's name is typed right
    kinds = {d.kind: d for d in report.lookalikes_by_kind}
    assert set(kinds) == {"a", "c"}
    assert (kinds["c"].records, kinds["c"].linked, kinds["c"].findings) == (1, None, 1)
    assert kinds["a"].findings == 0

    path = tmp_path / "stress.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["rule", "household_id", "id_number", "expected", "source", "source_record_id",
                    "id_noise", "name_noise", "note"])
        w.writerows([("R01", "H1", A, "finding", "deaths", "SW1", "none", "lookalike_char", ""),
                     ("R02", "H1", B, "finding", "pensions", "YL1", "typo2", "homophone", ""),
                     ("R05", "H1", A, "lookalike", "vehicles", "JDC7", "typo", "none", "namesake_same_birth: x")])
    report = evaluate(con, "2026-10", path)
    by_name = {n.group: (n.expected, n.found) for n in report.recall_by_name_noise}
    assert by_name == {"name_noise=lookalike_char": (1, 1), "name_noise=homophone": (1, 0)}
    groups = {n.group: (n.expected, n.found) for n in report.recall_by_noise}
    assert groups["noisy"] == (1, 0) and groups["id_noise=typo2"] == (1, 0)
    assert [(d.kind, d.findings) for d in report.lookalikes_by_kind] == [("namesake_same_birth", 1)]
    text = format_report(report)
    assert "name_noise=lookalike_char" in text and "namesake_same_birth" in text
