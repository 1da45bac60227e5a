"""The quality gate: run every suite on a month's data, decide severity, store, and stop the run.

    report = run_gate(con, "2024-03", policy)   # after loading, before linking
    report.raise_if_critical()                  # QualityGateFailed: one line; .report has the full text

Every expectation result goes to `quality_results` (the month's rows are replaced on
a re-run); the per-extract metrics that next month's drift checks compare against go
to `quality_metrics`. Warnings never stop the run; the summary workbook lists them
with `failed_expectations(con, run_month, "warning")`.

Severity comes from the policy table `quality.severity` ('extract.kind' beats 'kind',
which beats the knob's default). A row-level warning that fails on more than
`quality.escalate_bad_share` of the rows is raised to critical: a few typos are a
warning, a column broken as a whole stops the run.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from typing import Any

import duckdb

from connectors.errors import DibaoError
from connectors.transactions import begin, commit, rollback
from expectations import runner
from expectations.runner import Judged, Measure, Window
from expectations.suites import DRIFT_KINDS, ROW_KINDS, SUITES, CheckKind, Expectation
from matching.policy import KNOBS, PolicyError
from matching.staging import build_id_forms

CRITICAL, WARNING = "critical", "warning"
_SEVERITY_DEFAULTS: dict[str, str] = next(k.default for k in KNOBS if k.key == "quality.severity")


class QualityGateFailed(DibaoError):
    """A critical quality expectation failed: the run stops before any family is flagged on bad data.

    The message is one line (the first failure, and how many more); `.report` holds the
    full text report and `.gate_report` the structured one.
    """

    def __init__(self, message: str, report: str, gate_report: GateReport) -> None:
        super().__init__(message)
        self.report = report
        self.gate_report = gate_report


@dataclass
class Result:
    """One expectation's outcome, as stored in `quality_results`."""

    extract: str
    expectation: str  # Expectation.name, e.g. 'id_valid_share:id_number'
    kind: CheckKind
    severity: str
    success: bool | None  # None: not evaluated (first run, absent optional extract)
    observed: str
    message: str  # one line: '<extract> — <what is wrong> (<severity>)'; '' when it passed
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.success is False


@dataclass
class GateReport:
    run_month: str
    results: list[Result]
    absent: list[str]  # optional extracts with no data this month (their suites did not run)
    elapsed: float  # seconds
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # what the next month's drift compares

    @property
    def critical(self) -> list[Result]:
        return [r for r in self.results if r.failed and r.severity == CRITICAL]

    @property
    def warnings(self) -> list[Result]:
        return [r for r in self.results if r.failed and r.severity == WARNING]

    @property
    def passed(self) -> bool:
        return not self.critical

    def raise_if_critical(self) -> None:
        crit = self.critical
        if not crit:
            return
        more = f" and {len(crit) - 1} more" if len(crit) > 1 else ""
        raise QualityGateFailed(f"quality gate: {crit[0].message}{more}", format_report(self), self)


# ---------------------------------------------------------------- severity

def check_severity_table(policy: Any) -> dict[str, str]:
    """The policy's `quality.severity` table, its keys checked against the known kinds and extracts."""
    table: dict[str, str] = policy["quality.severity"]
    kinds = {k.value for k in CheckKind}
    for key in table:
        extract, _, kind = key.rpartition(".")
        if kind not in kinds or (extract and extract not in SUITES):
            raise PolicyError(
                f"{policy.source}: 'quality.severity' has unknown key {key!r} "
                f"(expected a kind such as 'id_valid_share', optionally prefixed 'extract.'; "
                f"kinds: {', '.join(sorted(kinds))})")
    return table


def severity_of(exp: Expectation, table: dict[str, str]) -> str:
    """The policy's 'extract.kind', then its 'kind', then the knob's defaults in the same order."""
    for source in (table, _SEVERITY_DEFAULTS):
        for key in (f"{exp.extract}.{exp.kind.value}", exp.kind.value):
            if key in source:
                return source[key]
    return WARNING


# ---------------------------------------------------------------- wording

def pct(x: float) -> str:
    """41% when whole, else 89.6% (so a share just under a floor never prints as the floor)."""
    p = x * 100
    return f"{p:.0f}%" if abs(p - round(p)) < 0.05 else f"{p:.1f}%"


def observed_text(j: Judged) -> str:
    m, k = j.measure, j.measure.expectation.kind
    d = m.details
    if m.value is None:
        return f"not evaluated: {d.get('skipped', 'no data')}"
    if k in (CheckKind.HAS_ROWS, CheckKind.PRESENT):
        return f"{m.total} rows"
    if k is CheckKind.COLUMNS_PRESENT:
        missing = d.get("missing_columns") or []
        return f"missing: {', '.join(missing)}" if missing else "all present"
    if k in (CheckKind.ROW_COUNT_SHRINK, CheckKind.ROW_COUNT_GROWTH):
        return f"{d['previous_rows']} → {d['rows']} rows ({m.value:+.1%}) vs {d.get('previous_run_month')}"
    if k in (CheckKind.BLANK_ID_DRIFT, CheckKind.INVALID_ID_DRIFT):
        return f"{pct(d['previous_share'])} → {pct(d['share'])} vs {d.get('previous_run_month')}"
    return f"{pct(m.value)} ({m.failed} of {m.total})"


def failure_sentence(j: Judged) -> str:
    """What is wrong, in one phrase naming the column as the department knows it."""
    m, exp = j.measure, j.measure.expectation
    k, h, d = exp.kind, exp.header, m.details
    if k is CheckKind.HAS_ROWS:
        return "no usable rows"
    if k is CheckKind.PRESENT:
        return f"absent this month ({int(d.get('previous_rows', 0))} rows in {d.get('previous_run_month')})"
    if k is CheckKind.COLUMNS_PRESENT:
        return f"missing columns: {', '.join(d.get('missing_columns', []))}"
    if k is CheckKind.ID_VALID_SHARE:
        return f"{h} valid share {pct(m.value or 0)} below floor {pct(j.bound)}"
    if k is CheckKind.ID_BLANK_SHARE:
        return f"{h} blank share {pct(m.value or 0)} above ceiling {pct(j.bound)}"
    if k is CheckKind.QUARANTINE_SHARE:
        return f"{pct(m.value or 0)} of rows quarantined ({m.failed} of {m.total}), above ceiling {pct(j.bound)}"
    if k is CheckKind.ROW_COUNT_SHRINK:
        return (f"rows fell {d['previous_rows']} → {d['rows']} ({pct(-(m.value or 0))} fewer than "
                f"{d.get('previous_run_month')}), more than {pct(-j.bound)}")
    if k is CheckKind.ROW_COUNT_GROWTH:
        return (f"rows grew {d['previous_rows']} → {d['rows']} (+{pct(m.value or 0)} vs "
                f"{d.get('previous_run_month')}), more than {pct(j.bound)}")
    if k in (CheckKind.BLANK_ID_DRIFT, CheckKind.INVALID_ID_DRIFT):
        what = "blank" if k is CheckKind.BLANK_ID_DRIFT else "invalid"
        return (f"{h} {what} share rose {pct(d['previous_share'])} → {pct(d['share'])} vs "
                f"{d.get('previous_run_month')}, more than {pct(j.bound)} points")
    unit = "active households" if k in (CheckKind.ONE_HEAD, CheckKind.HAS_BENEFICIARY) else "rows"
    return f"{m.failed} of {m.total} {unit} fail '{exp.describe()}' ({pct(m.value or 0)})"


# ---------------------------------------------------------------- previous runs

def previous_metrics(con: duckdb.DuckDBPyConnection, run_month: str) -> dict[str, dict[str, Any]]:
    """extract -> metrics of its latest earlier run ('run_month_label' says which month).

    From `quality_metrics`; an extract the gate has never measured falls back to
    `load_report.rows_loaded`, so the shrink check works from the first gated month.
    """
    out: dict[str, dict[str, Any]] = {}
    if runner.table_exists(con, "quality_metrics"):
        rows = con.execute(
            "SELECT extract, metric, value, run_month FROM quality_metrics q WHERE run_month = ("
            "SELECT max(run_month) FROM quality_metrics p WHERE p.extract = q.extract AND p.run_month < ?)",
            [run_month]).fetchall()
        for extract, metric, value, month in rows:
            out.setdefault(extract, {"run_month_label": month})[metric] = value
    if runner.table_exists(con, "load_report"):
        rows = con.execute(
            "SELECT extract, arg_max(run_month, run_month), arg_max(rows_loaded, run_month) FROM load_report "
            "WHERE run_month < ? AND rows_loaded > 0 GROUP BY extract", [run_month]).fetchall()
        for extract, month, loaded in rows:
            if extract not in out:
                out[extract] = {"run_month_label": month, "rows": float(loaded)}
    return out


# ---------------------------------------------------------------- the gate

def run_gate(con: duckdb.DuckDBPyConnection, run_month: str, policy: Any) -> GateReport:
    """Run every suite on `run_month`'s raw tables, store the results, and return the report."""
    started = time.perf_counter()
    window = Window.of(run_month)
    # Every ID of the month normalised once, judged on the month's last day (staging reuses it).
    build_id_forms(con, run_month, window.month_end)
    table = check_severity_table(policy)
    escalate = float(policy["quality.escalate_bad_share"])
    previous = previous_metrics(con, run_month)
    judge = runner.Judge()
    results: list[Result] = []
    absent: list[str] = []
    metrics: dict[str, dict[str, float]] = {}
    for name, suite in SUITES.items():
        prof = runner.profile(con, suite, window)
        facts = runner.load_facts(con, name, window, prof.rows)
        prev = previous.get(name)
        if not suite.spec.required and not facts.present:
            absent.append(name)
            measures = [_absent_measure(suite.expectations[0], prev)]
        else:
            metrics[name] = prof.metrics()
            measures = runner.measure_suite(con, suite, window, prof, facts, prev)
        for j in judge.judge(name, measures, policy):
            results.append(_result(con, j, suite, prof.columns, window, table, escalate))
    report = GateReport(run_month, results, absent, 0.0, metrics)
    store(con, report, metrics)
    report.elapsed = time.perf_counter() - started
    return report


def _absent_measure(present: Expectation, prev: dict[str, Any] | None) -> Measure:
    if prev and prev.get("rows"):
        return Measure(present, 0.0, total=0, details={
            "previous_rows": prev["rows"], "previous_run_month": prev.get("run_month_label")})
    return Measure(present, None, details={"skipped": "optional extract absent; its rules are switched off"})


def _result(con: duckdb.DuckDBPyConnection, j: Judged, suite: Any, columns: set[str], window: Window,
            table: dict[str, str], escalate: float) -> Result:
    m, exp = j.measure, j.measure.expectation
    severity = severity_of(exp, table)
    details: dict[str, Any] = {
        "describe": exp.describe(), "gx_expectation": j.gx_expectation, "value": m.value,
        "bound": {j.direction: j.bound}, "failed": m.failed, "total": m.total, **m.details,
    }
    message = ""
    if j.success is False:
        if exp.kind in ROW_KINDS and severity == WARNING and (m.value or 0) > escalate:
            severity = CRITICAL
            details["escalated"] = f"failing share above quality.escalate_bad_share {pct(escalate)}"
        message = f"{exp.extract} — {failure_sentence(j)} ({severity})"
        if exp.kind not in DRIFT_KINDS:
            details["examples"] = runner.examples(con, m, suite, columns, window)
    return Result(exp.extract, exp.name, exp.kind, severity, j.success, observed_text(j), message, details)


# ---------------------------------------------------------------- storage

RESULTS_DDL = """CREATE TABLE IF NOT EXISTS quality_results (
    run_month VARCHAR, extract VARCHAR, expectation VARCHAR, severity VARCHAR, success BOOLEAN,
    observed VARCHAR, details VARCHAR, checked_at TIMESTAMP)"""
METRICS_DDL = """CREATE TABLE IF NOT EXISTS quality_metrics (
    run_month VARCHAR, extract VARCHAR, metric VARCHAR, value DOUBLE)"""


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


def store(con: duckdb.DuckDBPyConnection, report: GateReport, metrics: dict[str, dict[str, float]]) -> None:
    """Replace the month's rows of `quality_results` and `quality_metrics` in one transaction."""
    checked_at = dt.datetime.now().replace(microsecond=0)
    rows = [(report.run_month, r.extract, r.expectation, r.severity, r.success, r.observed,
             json.dumps({"message": r.message, **r.details}, ensure_ascii=False, default=_json_default),
             checked_at) for r in report.results]
    mrows = [(report.run_month, e, k, v) for e, ms in metrics.items() for k, v in ms.items()]
    con.execute(RESULTS_DDL)
    con.execute(METRICS_DDL)
    owner = begin(con)
    try:
        con.execute("DELETE FROM quality_results WHERE run_month = ?", [report.run_month])
        con.execute("DELETE FROM quality_metrics WHERE run_month = ?", [report.run_month])
        if rows:
            con.executemany("INSERT INTO quality_results VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        if mrows:
            con.executemany("INSERT INTO quality_metrics VALUES (?, ?, ?, ?)", mrows)
        commit(con, owner)
    except BaseException:
        rollback(con, owner)
        raise


def store_report(con: duckdb.DuckDBPyConnection, report: GateReport) -> None:
    """Store a report again after the run's transaction was rolled back (a critical gate stops the run,
    but its results must stay visible)."""
    store(con, report, report.metrics)


def failed_expectations(con: duckdb.DuckDBPyConnection, run_month: str,
                        severity: str | None = None) -> list[dict[str, Any]]:
    """The month's failed expectations (optionally of one severity), for the summary workbook."""
    if severity not in (None, CRITICAL, WARNING):
        raise ValueError(f"'severity' must be 'critical', 'warning' or None, got {severity!r}")
    if not runner.table_exists(con, "quality_results"):
        return []
    cur = con.execute(
        "SELECT extract, expectation, severity, observed, json_extract_string(details, '$.message') AS message "
        "FROM quality_results WHERE run_month = ? AND success = false AND (? IS NULL OR severity = ?) "
        "ORDER BY severity, extract, expectation", [run_month, severity, severity])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


# ---------------------------------------------------------------- the readable report

def format_report(report: GateReport) -> str:
    """The full report: failures first (with example rows), then what was not evaluated."""
    crit, warn = report.critical, report.warnings
    passed = sum(1 for r in report.results if r.success)
    skipped = [r for r in report.results if r.success is None]
    lines = [f"Quality gate {report.run_month}: {len(crit)} critical, {len(warn)} warning(s), "
             f"{passed} passed, {len(skipped)} not evaluated ({report.elapsed:.1f} s)"]
    for title, group in (("CRITICAL — the run stops", crit), ("WARNINGS — the run continues", warn)):
        if not group:
            continue
        lines += ["", title]
        for r in group:
            lines.append(f"  {r.message}")
            if r.details.get("escalated"):
                lines.append(f"      raised to critical: {r.details['escalated']}")
            for ex in r.details.get("examples", []):
                where = f"{ex.get('_source_file')} row {ex.get('_row_number')}"
                col = f" {ex['column']}" if ex.get("column") else ""
                note = f" ({ex['note']})" if ex.get("note") else ""
                lines.append(f"      {where}:{col} {ex.get('value')!r}{note}")
    if report.absent:
        lines += ["", f"Absent optional extracts (their rules are off): {', '.join(report.absent)}"]
    return "\n".join(lines)
