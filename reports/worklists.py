"""One workbook per community for the caseworkers' household visits (入户调查).

`write_worklists(con, run_month, out_dir)` writes `out_dir/<YYYY-MM>/<street>-<community>.xlsx`
for EVERY community with an active (在保) household that month, findings or not
(居不漏组: a community with none gets a workbook whose cover says 0 and whose list is
empty, so the street office can see every community was accounted for). Each workbook
holds only its own community's households and IDs masked through `matching.ids.mask`.

The sheets, written by `reports.worklist_sheets`: 封面 (cover: counts by target, how to
fill in), 核查清单 (one row per household with a finding, outcome columns unlocked, the
rest protected), 待人工确认 (possible matches for a person to confirm), and a very hidden
`_meta` that the importer checks.
Sheets are protected without a password: it stops accidental edits, not a determined user;
the importer re-validates everything against `worklist_items` anyway.

Every finding sent is recorded in `worklist_items`; a re-run replaces the month's rows.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import polars as pl

from reports import layout as L
from reports.common import begin, check_run_month, commit, month_dir, require_tables, rollback, safe_file_part
from reports.errors import FileNameClash
from reports.queries import FINDING_CLASSES, active_households_sql, finding_keys_sql, flags_of_active_sql
from reports.tables import ensure_tables
from reports.worklist_sheets import Household, write_workbook

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)


def workbook_name(street: str, community: str) -> str:
    return f"{safe_file_part(street)}-{safe_file_part(community)}.xlsx"


def _dicts(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[dict]:
    cur = con.execute(sql, params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def write_worklists(con: duckdb.DuckDBPyConnection, run_month: str, out_dir: Path,
                    processes: int | None = None) -> list[Path]:
    """Write every community's worklist for run_month; return the paths, sorted.

    `processes`: how many processes write the workbooks (default: two once there are
    `PARALLEL_MIN_HOUSEHOLDS` flagged households, else one; see `write_workbooks`)."""
    check_run_month(run_month)
    require_tables(con, "flags", "flag_keys", "raw_roster_households", "stg_members")
    ensure_tables(con)

    households = {r["household_id"]: Household(**r) for r in _dicts(con, active_households_sql(), [run_month])}
    for f in _dicts(con, flags_of_active_sql(FINDING_CLASSES), [run_month]):
        households[f["household_id"]].findings.append(f)
    possibles: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for f in _dicts(con, flags_of_active_sql(("possible",)), [run_month]):
        h = households[f["household_id"]]
        possibles[(h.street, h.community)].append({**f, "address": h.address})
    keys = _dicts(con, finding_keys_sql(), [run_month])
    for k in keys:
        households[k["household_id"]].keys.append(
            L.finding_fingerprint(k["household_id"], k["id_number"], k["rule"], k["source"], k["evidence_key"]))

    communities: dict[tuple[str, str], list[Household]] = defaultdict(list)
    for h in households.values():
        communities[(h.street, h.community)].append(h)

    folder = month_dir(out_dir, run_month)
    names: dict[str, tuple[str, str]] = {}
    for street, community in communities:
        name = workbook_name(street, community)
        if name in names:
            raise FileNameClash(f"communities {names[name]} and {(street, community)} both map to file {name}")
        names[name] = (street, community)

    jobs = []
    for (street, community), members in sorted(communities.items()):
        path = folder / workbook_name(street, community)
        flagged = sorted((h for h in members if h.findings), key=Household.sort_key)
        jobs.append((path, run_month, street, community, len(members), flagged, possibles[(street, community)]))
    # the items are made while the other process writes; stored once every workbook is written
    items = write_workbooks(jobs, processes, meanwhile=lambda: _item_rows(run_month, households, keys))
    _store_items(con, run_month, items)
    return sorted(job[0] for job in jobs)


# xlsxwriter is pure Python: one core per process. Two on a 2-core machine (a city's 73
# workbooks: 8.4 s in one process, 4.6 s in two, measured 2026-11-29); one where there is one core.
WORKBOOK_PROCESSES = min(2, os.cpu_count() or 1)
PARALLEL_MIN_HOUSEHOLDS = 5000  # flagged households below which a second process costs more than it saves
T = TypeVar("T")


def _job_size(job: tuple) -> int:
    return 1 + len(job[5]) + len(job[6])  # a workbook, its households, its review rows


def write_workbooks(jobs: list[tuple], processes: int | None, meanwhile: Callable[[], T]) -> T:
    """`write_workbook(*job)` for every job, in this process and `processes - 1` spawned ones;
    returns what `meanwhile()` returns, which this process calls once the others have their work.

    The spawned processes take the jobs largest first. This process calls `meanwhile`, then
    takes the smallest jobs that no process has started, one at a time, until none is left:
    both finish within one small workbook of each other, however long each process took to
    start. (Dealing fixed shares left this process idle while the other, which had started
    a second later, finished its half.) A process is spawned, not forked: the run's process
    holds DuckDB's and Prefect's threads."""
    if processes is None:
        flagged = sum(len(job[5]) for job in jobs)
        processes = WORKBOOK_PROCESSES if flagged >= PARALLEL_MIN_HOUSEHOLDS else 1
    processes = max(1, min(processes, len(jobs)))
    if processes == 1:
        result = meanwhile()
        for job in jobs:
            write_workbook(*job)
        return result
    ordered = sorted(jobs, key=_job_size, reverse=True)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=processes - 1, mp_context=context) as pool:
        futures: list[Future[None]] = [pool.submit(write_workbook, *job) for job in ordered]
        result = meanwhile()
        for future, job in zip(reversed(futures), reversed(ordered), strict=True):
            if future.cancel():  # no process has taken it (a taken job cannot be cancelled)
                write_workbook(*job)
        for future, job in zip(futures, ordered, strict=True):
            if future.cancelled():
                continue
            try:
                future.result()  # an exception of the worker's own is raised here
            except BrokenProcessPool as e:  # the process could not start or was killed: write it here
                log.warning("workbook process failed (%s); writing %s in this process", e, job[0].name)
                write_workbook(*job)
    return result


def _item_rows(run_month: str, households: dict[str, Household], keys: list[dict]) -> pl.DataFrame:
    """`worklist_items` rows: every finding sent, with the file it was sent in."""
    rows = [
        {"run_month": run_month, "community": households[k["household_id"]].community,
         "street": households[k["household_id"]].street, "household_id": k["household_id"],
         "id_number": k["id_number"], "rule": k["rule"], "source": k["source"],
         "evidence_key": k["evidence_key"],
         "sent_file": workbook_name(households[k["household_id"]].street, households[k["household_id"]].community)}
        for k in keys
    ]
    return pl.DataFrame(rows, schema={c: pl.Utf8 for c in (
        "run_month", "community", "street", "household_id", "id_number", "rule", "source", "evidence_key",
        "sent_file")})


def _store_items(con: duckdb.DuckDBPyConnection, run_month: str, items: pl.DataFrame) -> None:
    owner = begin(con)
    try:
        con.execute("DELETE FROM worklist_items WHERE run_month = ?", [run_month])
        con.register("_new_items", items)
        con.execute("INSERT INTO worklist_items BY NAME SELECT * FROM _new_items")
        con.unregister("_new_items")
        commit(con, owner)
    except Exception:
        rollback(con, owner)
        raise


