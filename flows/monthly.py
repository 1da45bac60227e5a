"""The monthly verification as a Prefect flow: load → gate → link → rules → worklists.

Each task is one call into the library; this module only orders the steps, keeps
them inside one DuckDB transaction (a failure at any stage leaves the file as it
was), and records the run. `run_monthly` is the same pipeline without Prefect,
which the flow wraps; tests and the benchmark can call either.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from connectors.errors import DibaoError
from connectors.gc_pause import full_collections_paused
from connectors.load import discover, load_extracts
from connectors.report import LoadReport
from connectors.schemas import EXTRACTS
from connectors.transactions import outer_transaction
from flows.database import open_database
from flows.outputs import (
    StagedMonth,
    check_out_dir,
    clear_spill_folder,
    prepare_spill_folder,
    private_files,
    remove_stale_staging,
)
from flows.progress import Reporter, Silent
from flows.views import create_views
from matching.linkage import PartitionMapper, link_month
from matching.policy import Policy, load_policy
from matching.rules import RULES, RulesResult, RunContext, run_rules
from matching.staging import stage

log = logging.getLogger("dibao")
CODE_VERSION = "0.1.0"


class BadArgument(DibaoError):
    """A command-line argument is outside its allowed form or range."""


def check_month(month: str) -> str:
    try:
        parsed = dt.datetime.strptime(month, "%Y-%m")
    except ValueError:
        raise BadArgument(f"'--month' must be YYYY-MM (e.g. 2026-10), got {month!r}") from None
    if parsed.year < 1997:
        raise BadArgument(f"'--month' must be 1997-01 or later, got {month!r}")
    return month


@dataclass
class RunOutcome:
    run_id: str
    run_month: str
    db_path: Path
    out_dir: Path | None
    load: LoadReport | None = None
    rules: RulesResult | None = None
    gate: Any = None
    workbooks: list[Path] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    digests: dict[str, Future[str]] = field(default_factory=dict)  # input file name -> its sha256, being computed
    counts: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------ the steps (library calls)

def step_load(con: duckdb.DuckDBPyConnection, data_dir: Path, month: str, progress: Reporter) -> LoadReport:
    return load_extracts(con, data_dir, month, on_extract=lambda e: progress.advance(
        "load", f"{e.extract}: {e.rows_loaded:,} loaded, {e.rows_quarantined:,} quarantined"))


def step_gate(con: duckdb.DuckDBPyConnection, month: str, policy: Policy):
    from expectations.gate import run_gate

    report = run_gate(con, month, policy)
    report.raise_if_critical()
    return report


def step_link(con: duckdb.DuckDBPyConnection, month: str, policy: Policy,
              mapper: PartitionMapper | None = None, progress: Reporter | None = None) -> dict[str, Any]:
    ctx = RunContext(month, policy)
    # the gate built the month's ID forms in this connection just before (same transaction)
    counts: dict[str, Any] = dict(stage(con, month, ctx.as_of.isoformat(), reuse_id_forms=True))
    report = progress or Silent()
    results = link_month(con, month, policy, mapper=mapper, on_source=lambda source, res: report.advance(
        "link", f"{source}: {sum(res.linked.get(c, 0) for c in ('exact', 'probable')):,} linked"))
    counts["candidates"] = {job: r.candidates_by_rule for job, r in results.items()}
    counts["linked"] = {job: r.linked for job, r in results.items()}
    return counts


def step_rules(con: duckdb.DuckDBPyConnection, month: str, policy: Policy, present: frozenset[str],
               progress: Reporter | None = None) -> RulesResult:
    from reports.outcomes import suppress_cleared

    report = progress or Silent()
    result = run_rules(con, RunContext(month, policy, present),
                       on_rule=lambda code, n: report.advance("rules", f"{code}: {n:,} findings"))
    result.findings["_suppressed"] = suppress_cleared(con, month)
    return result


class WorklistsNotWritten(DibaoError):
    """The file system refused a workbook (a name too long, a full disk, no permission)."""


def step_reports(con: duckdb.DuckDBPyConnection, month: str, out_dir: Path) -> list[Path]:
    """Every community's workbook and the summary, written into `out_dir` (the run's staging
    folder); `worklist_items` is written in the caller's transaction."""
    from xlsxwriter.exceptions import FileCreateError

    from reports.summary import write_summary
    from reports.worklists import write_worklists

    try:
        files = write_worklists(con, month, out_dir)
        files.append(write_summary(con, month, out_dir))
    except FileCreateError as exc:
        cause = exc.args[0] if exc.args and isinstance(exc.args[0], OSError) else None
        raise _not_written(cause, str(exc)) from None
    except OSError as exc:
        raise _not_written(exc, str(exc)) from None
    return files


def _not_written(exc: OSError | None, fallback: str) -> WorklistsNotWritten:
    if exc is None:
        return WorklistsNotWritten(f"worklists not written: {fallback}")
    name = Path(str(exc.filename)).name if exc.filename else ""
    if len(name) > 60:
        name = f"{name[:40]}…({len(name.encode())} bytes)"
    return WorklistsNotWritten(f"worklists not written: {exc.strerror or exc}" + (f" ({name})" if name else ""))


# ------------------------------------------------------------------ run history

RUNS_SQL = """CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY, run_month VARCHAR, started_at TIMESTAMP, ended_at TIMESTAMP, status VARCHAR,
    message VARCHAR, data_dir VARCHAR, inputs JSON, gate JSON, findings JSON, stages JSON, policy JSON,
    code_version VARCHAR)"""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)  # hashlib lets other threads run while it hashes a chunk
    return digest.hexdigest()


def start_digests(data_dir: Path) -> dict[str, Future[str]]:
    """The sha256 of every extract file in `data_dir` (as the loader finds them), computed in a
    thread from the run's start: at the end of a city run it was 0.5 s on one core (0.83 GB);
    beside the load it fills idle moments. Nothing when the folder is not one the loader takes
    (the load then says why)."""
    try:
        files, _, _ = discover(data_dir)
    except DibaoError:
        return {}
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dibao-sha256")
    futures = {p.name: pool.submit(sha256_of, p) for p in files.values()}
    pool.shutdown(wait=False)
    return futures


def preload_gx() -> None:
    """Import Great Expectations in a thread while the extracts load: the import is 1.6 s of
    Python on one core, the load mostly native code on both. The gate's own import then finds
    it done, or waits for it (Python's import lock); if it failed here, the gate imports again.
    Called by `dibao run` (and the benchmark, which times what it runs), not by `run_monthly`:
    in a test session the thread's import would outlive the test that started it."""
    def load() -> None:
        try:
            from expectations.runner import import_gx

            import_gx()
        except Exception:  # noqa: BLE001 - the gate's own import reports any real problem
            log.debug("preloading Great Expectations failed", exc_info=True)

    if "great_expectations" not in sys.modules:
        threading.Thread(target=load, name="dibao-gx-import", daemon=True).start()


def file_digests(data_dir: Path, load: LoadReport | None,
                 started: dict[str, Future[str]] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if load is None:
        return out
    for name, e in load.extracts.items():
        if not e.present or not e.source_file:
            continue
        future = (started or {}).get(e.source_file)
        sha = future.result() if future is not None else sha256_of(data_dir / e.source_file)
        out[name] = {"file": e.source_file, "sha256": sha, "rows_read": e.rows_read,
                     "rows_loaded": e.rows_loaded, "rows_quarantined": e.rows_quarantined}
    return out


def record_run(con: duckdb.DuckDBPyConnection, outcome: RunOutcome, started: dt.datetime, status: str,
               message: str, data_dir: Path, policy: Policy | None) -> None:
    """One row of `runs`; each input file's sha256 is the one `start_digests` began at the run's start."""
    con.execute(RUNS_SQL)
    gate = None
    if outcome.gate is not None:
        gate = {"critical": [r.message for r in outcome.gate.critical],
                "warnings": [r.message for r in outcome.gate.warnings]}
    findings = None
    if outcome.rules is not None:
        findings = {"findings": outcome.rules.findings, "possible": outcome.rules.possible,
                    "switched_off": outcome.rules.switched_off}
    con.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
        outcome.run_id, outcome.run_month, started, dt.datetime.now(), status, message, str(data_dir),
        json.dumps(file_digests(data_dir, outcome.load, outcome.digests), ensure_ascii=False),
        json.dumps(gate, ensure_ascii=False), json.dumps(findings, ensure_ascii=False),
        json.dumps({"seconds": outcome.stage_seconds, "counts": outcome.counts}, ensure_ascii=False, default=str),
        policy.to_json() if policy else None, CODE_VERSION])


# ------------------------------------------------------------------ the pipeline

Runner = Callable[..., Any]


def _direct(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


@full_collections_paused()
def run_monthly(data_dir: str | Path, db_path: str | Path, month: str, policy_path: str | Path | None = None,
                out_dir: str | Path | None = None, call: Runner = _direct, mapper: PartitionMapper | None = None,
                progress: Reporter | None = None, group_read: bool = False) -> RunOutcome:
    """Verify the roster as of the last day of `month`.

    `call(step, *args)` runs each step (the Prefect flow passes its tasks here). `mapper` runs the per-registry linkage
    partitions (see `matching.linkage.link_month`); without it they run in this connection.
    Python's full garbage collections wait until the run ends (`connectors.gc_pause`).

    One run, one outcome (`flows.outputs`): the workbooks are written into a staging folder
    inside the run's transaction, swapped into `OUT/YYYY-MM` once all exist, and the database
    commits after that; any failure leaves the database, `worklist_items` and the former
    workbooks as they were, and the run recorded `failed`. Every file the run creates is
    owner-only unless `group_read`.
    """
    month = check_month(month)
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise BadArgument(f"'--data' must be a folder of extracts, {str(data_dir)!r} is not one")
    policy = load_policy(policy_path)
    with private_files(group_read):
        return _run(data_dir, Path(db_path), month, policy, out_dir, call, mapper, progress)


def _run(data_dir: Path, db_path: Path, month: str, policy: Policy, out_dir: str | Path | None, call: Runner,
         mapper: PartitionMapper | None, progress: Reporter | None) -> RunOutcome:
    outcome = RunOutcome(uuid.uuid4().hex[:12], month, Path(db_path), Path(out_dir) if out_dir else None)
    started = dt.datetime.now()
    outcome.digests = start_digests(data_dir)
    con = open_database(db_path)
    staged: StagedMonth | None = None
    progress = progress or Silent()
    timed = _timer(outcome, progress)
    try:
        prepare_spill_folder(db_path)  # the lock is ours: what a crashed run spilled goes now
        try:
            with outer_transaction(con):
                if outcome.out_dir is not None:
                    remove_stale_staging(outcome.out_dir)
                    check_out_dir(outcome.out_dir, month)
                outcome.load = timed("load", call, step_load, con, data_dir, month, progress, total=len(EXTRACTS))
                outcome.gate = timed("gate", call, step_gate, con, month, policy)
                outcome.counts.update(timed("link", call, step_link, con, month, policy, mapper, progress))
                present = frozenset(n for n, e in outcome.load.extracts.items() if e.present)
                outcome.rules = timed("rules", call, step_rules, con, month, policy, present, progress,
                                      total=len(RULES))
                if outcome.out_dir is not None:
                    staged = StagedMonth(outcome.out_dir, month, outcome.run_id)
                    files = timed("reports", call, step_reports, con, month, staged.create())
                    staged.publish()
                    outcome.workbooks = [staged.final_path(f) for f in files]
                con.execute("DELETE FROM runs WHERE run_month = ? AND status = 'running'", [month]) if _has_runs(con) else None
                record_run(con, outcome, started, "succeeded", "", data_dir, policy)
                create_views(con)
        except BaseException as exc:
            if staged is not None:
                staged.undo()
            outcome.workbooks = []
            gate_failure = getattr(exc, "gate_report", None)
            if gate_failure is not None:
                # Keep the gate's results and the failed run: the analyst must see why it stopped.
                from expectations.gate import store_report

                outcome.gate = gate_failure
                with outer_transaction(con):
                    store_report(con, gate_failure)
                    record_run(con, outcome, started, "failed", str(exc), data_dir, policy)
            else:
                with outer_transaction(con):
                    record_run(con, outcome, started, "failed", failure_message(exc), data_dir, policy)
            raise
    finally:
        if staged is not None:
            staged.cleanup()
        con.close()
        clear_spill_folder(db_path)
    return outcome


def failure_message(exc: BaseException) -> str:
    """What `runs.message` says of a failed run: a DibaoError's own line (IDs masked by it), an
    interruption as such, else the exception's type and message with any ID masked."""
    from matching.ids import redact_ids

    exc = as_interruption(exc)
    if isinstance(exc, DibaoError):
        return str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return str(exc) or "interrupted"
    return redact_ids(f"{type(exc).__name__}: {exc}")


def _has_runs(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'runs'").fetchall()[0][0])


def _timer(outcome: RunOutcome, progress: Reporter):
    def timed(name: str, call: Runner, fn: Callable[..., Any], *args: Any, total: int | None = None) -> Any:
        t0 = time.perf_counter()
        progress.start(name, total)
        ok = False
        try:
            result = call(fn, *args)
            ok = True
            return result
        finally:
            outcome.stage_seconds[name] = round(time.perf_counter() - t0, 3)
            progress.finish(name, outcome.stage_seconds[name], "done" if ok else "failed")
    return timed


# ------------------------------------------------------------------ Prefect

TASK_RUNNERS = ("thread", "dask", "none")


def make_task_runner(kind: str, dask_address: str | None = None):
    """The Prefect task runner for the per-registry linkage tasks."""
    if kind not in TASK_RUNNERS:
        raise BadArgument(f"'--task-runner' must be one of {', '.join(TASK_RUNNERS)}, got {kind!r}")
    if kind == "dask":
        if not dask_address:
            raise BadArgument("'--task-runner dask' needs '--dask-address' (e.g. tcp://10.0.0.5:8786)")
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError:
            raise BadArgument("the Dask task runner needs the 'dask' extra: pip install -e '.[dask]'") from None
        return DaskTaskRunner(address=dask_address)
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=2)


class _Raised:
    """What a task returns when its step raised: Prefect then logs no traceback (an expected
    `DibaoError` is one line, said once by the command; anything else goes to the error log),
    and the flow raises it again outside the task."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _shielded(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def step(*args: Any) -> Any:
        try:
            return fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed back whole, raised again by the flow
            return _Raised(as_interruption(exc))
    return step


def as_interruption(exc: BaseException) -> BaseException:
    """The run's `RunInterrupted` for what a signal raised: Prefect's own SIGTERM exception
    (`TerminationSignal`), or DuckDB's 'Query interrupted' (a RuntimeError that replaces the
    exception our handler raised while a query ran); anything else as it is."""
    from flows.stops import RunInterrupted, stopped_by

    if isinstance(exc, RunInterrupted):
        return exc
    signum = getattr(exc, "signal", None)
    if type(exc).__name__ == "TerminationSignal" and isinstance(signum, int):
        return RunInterrupted(signum)
    stopped = stopped_by()
    return RunInterrupted(stopped) if stopped is not None else exc


def prefect_flow(task_runner: str = "none", dask_address: str | None = None, progress: Reporter | None = None,
                 group_read: bool = False):
    """The Prefect flow object (built lazily: importing Prefect costs seconds and needs PREFECT_HOME set).

    Each stage is a task; with `task_runner` 'thread' or 'dask' each registry's linkage is
    a task of its own (`link-partition`), submitted together so they run concurrently.

    A failed run ends the flow run `Failed` with the one-line reason (IDs masked), and no
    traceback in Prefect's logs: each task hands its exception back, and the flow returns a
    `Failed` state holding the reason. Call the flow with `return_state=True` and pass the
    state to `flow_outcome`, which returns the result or raises the run's own exception."""
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE
    from prefect.states import Failed

    from flows.linkage_tasks import link_partition as partition_task

    steps: tuple[Callable[..., Any], ...] = (step_load, step_gate, step_link, step_rules, step_reports)
    tasks = {fn: task(name=fn.__name__.removeprefix("step_"), cache_policy=NO_CACHE, persist_result=False)(
        _shielded(fn)) for fn in steps}
    runner = make_task_runner(task_runner, dask_address) if task_runner != "none" else None

    def call(fn: Callable[..., Any], *args: Any) -> Any:
        if fn is step_link and runner is not None:
            # The partitions are submitted from the flow itself: a task's context holds its
            # parameters (here the DuckDB connection), which cannot travel to a Dask worker.
            return fn(*args)
        result = tasks[fn](*args)
        if isinstance(result, _Raised):
            raise result.exc
        return result

    def mapper(fn: Callable[..., Any], items: list[tuple[Any, ...]]) -> list[Any]:
        futures = [partition_task.submit(*item) for item in items]
        return [future.result() for future in futures]

    options = {"task_runner": runner} if runner is not None else {}

    @flow(name="monthly-verification", log_prints=False, persist_result=False, validate_parameters=False,
          **options)
    def monthly_verification(data_dir: str, db_path: str, month: str, policy_path: str | None = None,
                             out_dir: str | None = None) -> Any:
        from flows import stops

        stops.install()  # Prefect has swapped its own SIGTERM handler in for the flow run
        try:
            outcome = run_monthly(data_dir, db_path, month, policy_path, out_dir, call=call,
                                  mapper=mapper if runner is not None else None, progress=progress,
                                  group_read=group_read)
        except BaseException as exc:  # noqa: BLE001 - the state carries it back to `flow_outcome`
            exc = as_interruption(exc)
            reason = str(exc) if isinstance(exc, DibaoError | KeyboardInterrupt) else failure_message(exc)
            _FLOW_EXCEPTIONS.append(exc)
            return Failed(message=reason)
        return {"run_id": outcome.run_id, "workbooks": [str(p) for p in outcome.workbooks]}

    return monthly_verification


_FLOW_EXCEPTIONS: list[BaseException] = []  # what ended this process's flow runs, for `flow_outcome`


def flow_outcome(state: Any) -> dict[str, Any]:
    """The flow's result, or the run's own exception raised again (see `prefect_flow`)."""
    if state.is_failed() and _FLOW_EXCEPTIONS:
        raise _FLOW_EXCEPTIONS.pop()
    return state.result()
