"""Score a run's `flags` against a sample's known answers (`answers.csv`).

A finding is a `flags` row of the month whose match_class is not `possible`
(`exact` or `probable`; a NULL class, as a roster-only rule may write, counts as
a finding too). Findings and answers are compared as keys
(rule, household_id, id_number or '') — one key however many evidence rows.
Only answers with expected = finding are positives. Answers with expected =
possible are counted when they show up as `possible` flags; look-alike records
must never be linked (`link_pairs`) nor be the evidence of a finding.

Recall is also broken down by the evidence's ID noise (grouped clean / noisy, then
kind by kind) and name noise (kind by kind), and look-alikes are counted by their
kind (the start of their answer's note: `a`…`d`, or a stress decoy such as
`namesake_same_birth`), so a stress sample (`stress.py`) shows which slip or decoy
the linkage missed or fell for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from connectors.errors import DibaoError

NOISE_GROUPS = {"none": "clean", "fullwidth": "clean", "lowercase_x": "clean", "spaces": "clean",
                "id15": "clean", "typo": "noisy", "swap": "noisy",
                # the stress profile's (`stress_noise.py`)
                "typo2": "noisy", "id15_typo": "noisy", "roster_typo": "noisy"}
_RULE_ORDER = [f"R{i:02d}" for i in range(1, 13)] + ["X01", "X02", "X03"]


class EvaluationError(DibaoError):
    """The answers file or the database cannot be scored (missing file, table or column)."""


@dataclass(frozen=True)
class RuleScore:
    rule: str
    expected: int
    found: int
    true_pos: int
    false_pos: int
    false_neg: int
    precision: float | None  # None when nothing was found
    recall: float | None  # None when nothing was expected
    f1: float | None


@dataclass(frozen=True)
class NoiseRecall:
    group: str  # "clean" or "noisy", or "id_noise=<kind>"
    expected: int
    found: int
    recall: float | None


@dataclass(frozen=True)
class DecoyScore:
    kind: str  # the look-alike's kind: the start of its answer's note, before ':'
    records: int
    linked: int | None  # None: no link_pairs table
    findings: int  # used as evidence of a finding


@dataclass
class EvaluationReport:
    month: str
    rules: list[RuleScore]
    total: RuleScore
    recall_by_noise: list[NoiseRecall]
    lookalikes: int  # look-alike records in the answers
    lookalikes_linked: int | None  # None: no link_pairs table
    lookalike_findings: int
    possible_expected: int
    possible_found: int
    missed: list[tuple[str, str, str]] = field(default_factory=list)  # false negatives (first 20)
    unexpected: list[tuple[str, str, str]] = field(default_factory=list)  # false positives (first 20)
    recall_by_name_noise: list[NoiseRecall] = field(default_factory=list)  # "name_noise=<kind>", kinds but none
    lookalikes_by_kind: list[DecoyScore] = field(default_factory=list)


def _score(rule: str, expected: int, found: int, tp: int) -> RuleScore:
    precision = tp / found if found else None
    recall = tp / expected if expected else None
    f1 = (2 * precision * recall / (precision + recall)
          if precision is not None and recall is not None and precision + recall > 0 else
          (0.0 if precision is not None and recall is not None else None))
    return RuleScore(rule, expected, found, tp, found - tp, expected - tp, precision, recall, f1)


def _query(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> pl.DataFrame:
    rows = con.execute(sql, params).fetchall()
    cols = [d[0] for d in con.description]
    return pl.DataFrame(rows, schema={c: pl.Utf8 for c in cols}, orient="row")


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]).fetchone()
    return bool(row and row[0] > 0)


def load_answers(path: Path) -> pl.DataFrame:
    path = Path(path)
    if not path.exists():
        raise EvaluationError(f"{path}: answers file not found")
    df = pl.read_csv(path, infer_schema=False, encoding="utf8").fill_null("")
    need = {"rule", "household_id", "id_number", "expected", "source", "source_record_id", "id_noise"}
    missing = sorted(need - set(df.columns))
    if missing:
        raise EvaluationError(f"{path}: missing column(s) {', '.join(missing)}")
    return df


def evaluate(con: duckdb.DuckDBPyConnection, month: str, answers_path: Path) -> EvaluationReport:
    """Score `flags` of `month` against the answers; see the module docstring."""
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month or ""):
        raise EvaluationError(f"'month' must be YYYY-MM, got {month!r}")
    if not _has_table(con, "flags"):
        raise EvaluationError("the database has no 'flags' table (run `dibao run` first)")
    answers = load_answers(answers_path)
    flags = _query(
        con, "SELECT rule, household_id, coalesce(id_number, '') AS id_number, coalesce(match_class, '') AS match_class,"
        " coalesce(source, '') AS source, coalesce(source_record_id, '') AS source_record_id"
        " FROM flags WHERE run_month = ?", [month])
    findings = flags.filter(pl.col("match_class") != "possible")
    key = ["rule", "household_id", "id_number"]
    found = findings.select(key).unique()
    answers = answers.with_columns([pl.lit(fill).alias(c) for c, fill in (("name_noise", "none"), ("note", ""))
                                    if c not in answers.columns])
    expected = answers.filter(pl.col("expected") == "finding").select([*key, "id_noise", "name_noise"]).unique(
        key, keep="first", maintain_order=True)
    hits = expected.join(found, on=key, how="semi")

    rules = sorted(set(found["rule"]) | set(expected["rule"]),
                   key=lambda r: (_RULE_ORDER.index(r) if r in _RULE_ORDER else 99, r))
    scores = []
    for rule in rules:
        scores.append(_score(rule, expected.filter(pl.col("rule") == rule).height,
                             found.filter(pl.col("rule") == rule).height, hits.filter(pl.col("rule") == rule).height))
    total = _score("ALL", expected.height, found.height, hits.height)

    noise = []
    grouped = expected.with_columns(pl.col("id_noise").replace_strict(NOISE_GROUPS, default="other").alias("g"))
    hit_g = hits.with_columns(pl.col("id_noise").replace_strict(NOISE_GROUPS, default="other").alias("g"))
    for group in ("clean", "noisy"):
        n, k = grouped.filter(pl.col("g") == group).height, hit_g.filter(pl.col("g") == group).height
        noise.append(NoiseRecall(group, n, k, k / n if n else None))
    for kind in NOISE_GROUPS:
        n, k = expected.filter(pl.col("id_noise") == kind).height, hits.filter(pl.col("id_noise") == kind).height
        if n:
            noise.append(NoiseRecall(f"id_noise={kind}", n, k, k / n))
    by_name = [NoiseRecall(f"name_noise={kind}", n, k, k / n) for kind, n, k in _count_by(expected, hits, "name_noise")
               if kind not in ("", "none")]

    looks = answers.filter(pl.col("expected") == "lookalike").select(
        "source", "source_record_id", "household_id", "id_number").unique()
    look_kinds = answers.filter(pl.col("expected") == "lookalike").select(
        "source", "source_record_id", "household_id", "id_number",
        pl.col("note").str.split(":").list.first().str.strip_chars().alias("kind")).unique()
    linked_looks = None
    if _has_table(con, "link_pairs"):
        pairs = _query(
            con, "SELECT DISTINCT source, source_record_id, household_id, coalesce(id_number, '') AS id_number"
            " FROM link_pairs WHERE run_month = ? AND match_class IN ('exact', 'probable')", [month])
        linked_looks = look_kinds.join(pairs, on=["source", "source_record_id", "household_id", "id_number"],
                                       how="semi")
    linked = None if linked_looks is None else looks.join(
        linked_looks, on=["source", "source_record_id", "household_id", "id_number"], how="semi").height
    look_findings = findings.join(looks.select("source", "source_record_id").unique(),
                                  on=["source", "source_record_id"], how="semi").height
    evidence = findings.select("source", "source_record_id").unique()
    decoys = [DecoyScore(kind, n,
                         None if linked_looks is None else linked_looks.filter(pl.col("kind") == kind).height,
                         look_kinds.filter(pl.col("kind") == kind).join(
                             evidence, on=["source", "source_record_id"], how="semi").height)
              for kind, n in sorted(look_kinds.group_by("kind").len().iter_rows())]

    possible = answers.filter(pl.col("expected") == "possible").select(key).unique()
    poss_found = possible.join(flags.filter(pl.col("match_class") == "possible").select(key).unique(),
                               on=key, how="semi").height
    missed = expected.join(found, on=key, how="anti").sort(key).head(20)
    unexpected = found.join(expected, on=key, how="anti").sort(key).head(20)
    return EvaluationReport(
        month, scores, total, noise, looks.height, linked, look_findings, possible.height, poss_found,
        [tuple(r) for r in missed.select(key).iter_rows()], [tuple(r) for r in unexpected.iter_rows()],
        by_name, decoys)


def _count_by(expected: pl.DataFrame, hits: pl.DataFrame, column: str) -> list[tuple[str, int, int]]:
    """(value, expected, found) for each value of `column` among the expected findings."""
    found = dict(hits.group_by(column).len().iter_rows())
    return [(value, n, found.get(value, 0)) for value, n in sorted(expected.group_by(column).len().iter_rows())]


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def format_report(report: EvaluationReport) -> str:
    """The report as a plain-text table."""
    head = f"{'rule':<5} {'expected':>8} {'found':>6} {'TP':>5} {'FP':>5} {'FN':>5} {'precision':>9} {'recall':>7} {'F1':>6}"
    lines = [f"Evaluation of flags for {report.month}", "", head, "-" * len(head)]
    for s in [*report.rules, report.total]:
        if s is report.total:
            lines.append("-" * len(head))
        lines.append(f"{s.rule:<5} {s.expected:>8} {s.found:>6} {s.true_pos:>5} {s.false_pos:>5} {s.false_neg:>5} "
                     f"{_pct(s.precision):>9} {_pct(s.recall):>7} {_pct(s.f1):>6}")
    lines += ["", "Recall by the evidence's ID noise:"]
    for n in report.recall_by_noise:
        lines.append(f"  {n.group:<22} {n.found:>5} / {n.expected:<5} {_pct(n.recall)}")
    if report.recall_by_name_noise:
        lines += ["", "Recall by the evidence's name noise:"]
        lines += [f"  {n.group:<32} {n.found:>5} / {n.expected:<5} {_pct(n.recall)}"
                  for n in report.recall_by_name_noise]
    linked = "n/a (no link_pairs table)" if report.lookalikes_linked is None else str(report.lookalikes_linked)
    lines += ["", f"Look-alike records: {report.lookalikes}; linked as exact/probable: {linked}; "
                  f"used as evidence of a finding: {report.lookalike_findings}"]
    for d in report.lookalikes_by_kind:
        kind_linked = "n/a" if d.linked is None else str(d.linked)
        lines.append(f"  {d.kind:<22} {d.records:>5} records; linked {kind_linked:>4}; evidence of a finding "
                     f"{d.findings:>4}")
    lines.append(f"Possible (blank-ID) matches shown for review: {report.possible_found} / {report.possible_expected}")
    if report.missed:
        lines += ["", "Missed (first 20): " + "; ".join("/".join(k) for k in report.missed)]
    if report.unexpected:
        lines += ["", "Unexpected (first 20): " + "; ".join("/".join(k) for k in report.unexpected)]
    return "\n".join(lines)
