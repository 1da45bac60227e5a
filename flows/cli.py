"""The `dibao` command: a thin shell over the library. Domain errors become one line."""

from __future__ import annotations

import logging
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from connectors.errors import DibaoError
from connectors.gc_pause import full_collections_paused

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="dibao: monthly verification of the 城市低保 roster against other departments' registries.")
outcomes_app = typer.Typer(no_args_is_help=True, help="Caseworkers' verdicts (核查结论) from returned worklists.")
app.add_typer(outcomes_app, name="outcomes")
console = Console(stderr=False, highlight=False)
err = Console(stderr=True, highlight=False)


def fail(exc: BaseException) -> None:
    """One line on stderr (the message escaped: a header such as `[/bold]` is text, not markup), exit 2."""
    err.print(f"[bold red]dibao: error:[/] {escape(str(exc))}", soft_wrap=True)
    detail = getattr(exc, "report", None)
    if detail:
        err.print(escape(str(detail)), soft_wrap=True)
    raise typer.Exit(code=2)


def stopped(exc: KeyboardInterrupt) -> None:
    """A run stopped by SIGINT or SIGTERM: one line, exit 130 or 143."""
    from flows.stops import RunInterrupted, stop_line

    signum = exc.signum if isinstance(exc, RunInterrupted) else 2
    err.print(escape(stop_line(signum)), soft_wrap=True)
    raise typer.Exit(code=128 + signum)


def unexpected(exc: BaseException, db: Path | None) -> None:
    """A bug, not bad input: one line and the path of a log file (owner-only, IDs masked) that
    holds the traceback; exit 1."""
    import datetime as dt
    import os
    import traceback

    from matching.ids import redact_ids

    text = redact_ids("".join(traceback.format_exception(exc)))
    folder = Path(db).resolve().parent if db is not None else Path.cwd()
    path = folder / f"dibao-error-{dt.datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}.log"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        where = f"; the traceback is in {path}"
    except OSError:
        where = ""
    err.print(f"[bold red]dibao: unexpected error:[/] {escape(redact_ids(f'{type(exc).__name__}: {exc}'))}"
              f"{escape(where)}", soft_wrap=True)
    raise typer.Exit(code=1)


@app.command()
# from the first import on: Prefect's and Great Expectations' imports each set off full
# collections, over the other's objects too (connectors.gc_pause)
@full_collections_paused()
def run(
    data: Annotated[Path, typer.Option("--data", help="folder of extracts (csv, xlsx or parquet)")],
    db: Annotated[Path, typer.Option("--db", help="the DuckDB file (created if absent)")],
    month: Annotated[str, typer.Option("--month", help="the run month, YYYY-MM; verified as of its last day")],
    policy: Annotated[Path | None, typer.Option("--policy", help="policy.toml (defaults when absent)")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="folder for worklists: OUT/YYYY-MM/*.xlsx")] = None,
    no_prefect: Annotated[bool, typer.Option("--no-prefect", help="run the steps directly, without Prefect")] = False,
    task_runner: Annotated[str, typer.Option("--task-runner",
                           help="linkage: none (in the run's DuckDB, on every core), or per-registry tasks "
                                "run by thread (concurrent) or dask")] = "none",
    dask_address: Annotated[str | None, typer.Option("--dask-address", help="scheduler of an existing Dask cluster")] = None,
    memory_limit: Annotated[str | None, typer.Option(
        "--memory-limit", help="DuckDB memory limit, e.g. 4GB (default: $DIBAO_MEMORY_LIMIT or 4GB); "
                               "past it DuckDB spills to disk beside the database")] = None,
    group_read: Annotated[bool, typer.Option(
        "--group-read", help="let the owner's group read the files the run writes (default: owner only)")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Verify the roster of MONTH: load, check quality, link, apply the rules, write worklists."""
    import os

    from flows import api_server, prefect_env, stops
    from flows.outputs import umask_for

    if memory_limit:  # read by flows.database for the run's connections, inherited by local Dask workers
        os.environ["DIBAO_MEMORY_LIMIT"] = memory_limit

    os.umask(umask_for(group_read))  # Prefect's home, its server's database and logs too
    stops.install()
    prefect_env.configure(db, verbose)
    server = None if no_prefect else api_server.start_for_run()  # comes up while the pipeline imports
    if server is not None:
        stops.install(on_hard_exit=server.stop)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("great_expectations").setLevel(logging.INFO if verbose else logging.WARNING)
    logging.getLogger("dibao.run").setLevel(logging.INFO)  # structured stage lines when not on a terminal
    from flows.monthly import as_interruption, flow_outcome, prefect_flow, preload_gx, run_monthly
    from flows.progress import reporter_for

    preload_gx()

    reporter = reporter_for(console)
    try:
        if no_prefect:
            outcome = run_monthly(data, db, month, policy, out, progress=reporter, group_read=group_read)
            run_id, workbooks = outcome.run_id, outcome.workbooks
        else:
            monthly_flow = prefect_flow(task_runner, dask_address, reporter, group_read)  # imports Prefect meanwhile
            with server.serving() if server is not None else nullcontext():
                state = monthly_flow(str(data), str(db), month, str(policy) if policy else None,
                                     str(out) if out else None, return_state=True)
            result = flow_outcome(state)
            run_id, workbooks = result["run_id"], [Path(p) for p in result["workbooks"]]
    except BaseException as exc:  # noqa: BLE001 - each kind said in one line
        reporter.close()
        exc = as_interruption(exc)  # a signal may surface as DuckDB's 'Query interrupted'
        if isinstance(exc, DibaoError):
            fail(exc)
        elif isinstance(exc, KeyboardInterrupt):
            stopped(exc)
        elif isinstance(exc, Exception):  # a bug: one line here, the traceback in a file
            unexpected(exc, db)
        raise
    reporter.close()
    from flows.summary import print_run_summary

    print_run_summary(console, db, month, run_id, workbooks)


@app.command()
def sample(
    out: Annotated[Path, typer.Option("--out", help="folder to write the extracts and answers.csv into")],
    households: Annotated[int, typer.Option("--households", min=1, max=2_000_000)] = 300,
    seed: Annotated[int, typer.Option("--seed")] = 20260101,
    month: Annotated[str, typer.Option("--month")] = "2026-10",
    profile: Annotated[str, typer.Option("--profile", help="realistic (mixed formats), bench (large, fast formats) or stress "
                                                        "(realistic plus hard linkage cases and decoys)")] = "realistic",
) -> None:
    """Generate realistic extracts with known answers."""
    from flows.monthly import check_month
    from sample_data.generator import generate

    try:
        check_month(month)
        summary = generate(out, households, seed, month, profile, truth=True)
    except (DibaoError, ValueError) as exc:  # ValueError: an argument out of range, e.g. an unknown profile
        fail(exc)
        return
    console.print(f"wrote sample of {households} households (seed {seed}, month {month}) to {out}", markup=False)
    for key, value in summary.items():
        if isinstance(value, int | str):
            console.print(f"  {key}: {value}", markup=False)


@app.command()
def evaluate(
    db: Annotated[Path, typer.Option("--db")],
    month: Annotated[str, typer.Option("--month")],
    answers: Annotated[Path, typer.Option("--answers", help="answers.csv written by `dibao sample`")],
) -> None:
    """Score a run's flags against a generated sample's answers: precision, recall, F1 per rule."""
    from flows.database import open_database
    from sample_data.calibration import calibrate, format_calibration, truth_path_for
    from sample_data.evaluate import evaluate as score
    from sample_data.evaluate import format_report

    try:
        con = open_database(db, read_only=True)
        report = score(con, month, answers)
        truth = truth_path_for(answers)
        calibration = calibrate(con, month, truth) if truth.exists() else None
    except DibaoError as exc:
        fail(exc)
        return
    console.print(format_report(report), soft_wrap=True, markup=False)
    if calibration is not None:
        console.print(format_calibration(calibration), soft_wrap=True, markup=False)


@outcomes_app.command("import")
def outcomes_import(
    files: Annotated[list[Path], typer.Argument(help="returned community workbooks")],
    db: Annotated[Path, typer.Option("--db")],
    by: Annotated[str | None, typer.Option("--by", help="who is importing")] = None,
) -> None:
    """Import caseworkers' verdicts; each file is imported whole or rejected whole.

    Every file's fate is printed (已导入 / 已导入过 / 未导入), each rejected file with its first
    problems in Chinese (file, sheet, row, column) and a count of the rest; the exit code is
    2 when any file was rejected."""
    from rich.markup import escape

    from flows.database import open_database
    from reports.outcomes import import_outcomes

    try:
        con = open_database(db)
        try:
            result = import_outcomes(con, files, imported_by=by)
        finally:
            con.close()
    except DibaoError as exc:
        fail(exc)
        return
    for line in result.report_lines():
        (err if line.startswith(("未导入", "  ")) else console).print(escape(line), soft_wrap=True)
    console.print(escape(result.totals_line()), soft_wrap=True)
    if result.rejected:
        raise typer.Exit(code=2)


@app.command()
def notice(
    db: Annotated[Path, typer.Option("--db")],
    month: Annotated[str, typer.Option("--month")],
    out: Annotated[Path, typer.Option("--out")],
) -> None:
    """Write the public notice (公示) lists per community: names and amounts, never IDs."""
    from flows.database import open_database
    from reports.notice import write_notice

    try:
        con = open_database(db)
        files = write_notice(con, month, out)
    except DibaoError as exc:
        fail(exc)
        return
    for path in files:
        console.print(str(path), markup=False)


def findings_summary(findings_json: str | None) -> str:
    """`R01 3, R05 2; possible 4; off: R12` from the `runs.findings` JSON (empty when the run found nothing)."""
    import json

    if not findings_json:
        return ""
    data = json.loads(findings_json) or {}
    found = ", ".join(f"{rule} {n}" for rule, n in sorted((data.get("findings") or {}).items())
                      if n and not rule.startswith("_"))
    parts = [found or "none"]
    possible = sum(n for rule, n in (data.get("possible") or {}).items() if not rule.startswith("_"))
    if possible:
        parts.append(f"possible {possible}")
    suppressed = (data.get("findings") or {}).get("_suppressed")
    if suppressed:
        parts.append(f"held back {suppressed}")
    if data.get("switched_off"):
        parts.append("off: " + " ".join(sorted(data["switched_off"])))
    return "; ".join(parts)


@app.command()
def runs(
    db: Annotated[Path, typer.Option("--db", help="the DuckDB file")],
    month: Annotated[str | None, typer.Option("--month", help="only runs of this month, YYYY-MM")] = None,
) -> None:
    """List the recorded runs, newest first: when, status, message and findings per rule."""
    from rich.table import Table
    from rich.text import Text

    from flows.database import one_row, open_database
    from flows.monthly import check_month

    try:
        if month is not None:
            check_month(month)
        con = open_database(db, read_only=True)
        try:
            has_runs = one_row(con, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'runs'")[0]
            if not has_runs:
                raise DibaoError(f"{db}: no runs recorded yet (no `runs` table)")
            rows = con.execute("""SELECT run_id, run_month, started_at, ended_at, status, message, findings::VARCHAR
                                  FROM runs WHERE $m IS NULL OR run_month = $m
                                  ORDER BY started_at DESC NULLS LAST, run_id""", {"m": month}).fetchall()
        finally:
            con.close()
    except DibaoError as exc:
        fail(exc)
        return
    table = Table(title=f"runs in {db}" + (f" for {month}" if month else ""))
    for heading in ("run id", "month", "started", "ended", "status", "message", "findings per rule"):
        # identifiers and codes whole at any width (an operator copies a run id); the rest wraps
        whole = heading in ("run id", "month", "status")
        table.add_column(heading, no_wrap=whole, overflow="ellipsis" if whole else "fold")

    def when(value) -> str:
        return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""

    for run_id, run_month, started, ended, status, message, findings in rows:
        style = "red" if status == "failed" else None
        table.add_row(run_id, run_month, when(started), when(ended), status, Text(message or ""),
                      findings_summary(findings), style=style)
    if not rows:
        console.print("no runs recorded" + (f" for {month}" if month else ""))
        return
    console.print(table)


@app.command()
def serve(
    data: Annotated[Path, typer.Option("--data", help="folder the departments drop each month's extracts into")],
    db: Annotated[Path, typer.Option("--db", help="the DuckDB file")],
    out: Annotated[Path, typer.Option("--out", help="folder for worklists: OUT/YYYY-MM/*.xlsx")],
    policy: Annotated[Path | None, typer.Option("--policy", help="policy.toml (defaults when absent)")] = None,
    api_url: Annotated[str | None, typer.Option("--api-url", help="a running Prefect server's API, e.g. "
                                                "http://127.0.0.1:4200/api (default: PREFECT_API_URL, or a "
                                                "server started here)")] = None,
    cron: Annotated[str, typer.Option("--cron", help="when to run, a cron expression (default: 02:00 on the 1st; "
                                      "'* * * * *' fires every minute, to watch it work)")] = "0 2 1 * *",
    timezone: Annotated[str, typer.Option("--timezone", help="the cron's time zone")] = "Asia/Shanghai",
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the monthly verification on a schedule: 02:00 on the 1st (Asia/Shanghai), for the month just ended."""
    from flows import prefect_env

    prefect_env.configure(db, verbose)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("great_expectations").setLevel(logging.INFO if verbose else logging.WARNING)
    from flows.schedule import serve as serve_schedule

    if not data.is_dir():
        fail(DibaoError(f"'--data' must be a folder of extracts, {str(data)!r} is not one"))
    console.print(f"serving the monthly verification: cron '{cron}' ({timezone}), data {data}, db {db}, out {out}; "
                  "Ctrl+C stops", markup=False)
    try:
        serve_schedule(data, db, out, policy, api_url, cron=cron, timezone=timezone)
    except DibaoError as exc:
        fail(exc)


def main() -> None:  # pragma: no cover - the console script; tests drive `app` or run the script
    """The `dibao` console script. When a command has finished, the exit handlers run and the
    output is flushed, and then the process ends without Python's module teardown: after a run
    (Great Expectations, Prefect, pandas imported) the teardown took 0.8 to 1.2 s and does
    nothing a finished command needs (files are closed, the database too)."""
    try:
        app()
        code: int = 0
    except KeyboardInterrupt as exc:  # a signal before the run began (its imports, say)
        from flows.stops import RunInterrupted, stop_line

        signum = exc.signum if isinstance(exc, RunInterrupted) else 2
        err.print(stop_line(signum), markup=False)
        code = 128 + signum
    except SystemExit as exc:  # typer ends every command this way
        if isinstance(exc.code, str):
            err.print(exc.code, markup=False)
        code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    exit_now(code)


def exit_now(code: int) -> None:
    """End the process as Python's own exit begins it, without what follows: first
    `threading._shutdown` (joins the non-daemon threads and runs their exit callbacks, where
    Prefect drains its log and event workers), then the `atexit` handlers (Prefect's, the
    run's API server's, logging's); the output is flushed, and the process ends."""
    import atexit
    import os
    import threading

    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(code)
