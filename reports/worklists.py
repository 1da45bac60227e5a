"""One workbook per community for the caseworkers' household visits (入户调查), and one per
street office for the findings a community may not judge.

`write_worklists(con, run_month, out_dir)` writes `out_dir/<YYYY-MM>/<street>-<community>.xlsx`
for EVERY community with an active (在保) household that month, findings or not
(居不漏组: a community with none gets a workbook whose cover says 0 and whose list is
empty, so the street office can see every community was accounted for). Each workbook
holds only its own community's households and IDs masked through `matching.ids.mask`.
Findings of the rules in the policy's `worklists.street_desk_rules` (X01: a staff member's
unfiled relative, which names the staff member) go instead to the street office's own
workbook `out_dir/<YYYY-MM>/街道/<street>.xlsx`, written for every street with such a
finding; the community never sees them.

The sheets, written by `reports.worklist_sheets`: 封面 (cover: counts by target, what is still
open, priorities, how to fill in), 核查清单 (one row per finding, its verdict cells unlocked,
the rest protected; a verdict already imported is written back, grey and locked), 待人工确认
(possible links with their own drop-down), and a very hidden `_meta` that the importer checks.
Sheets are protected without a password: it stops accidental edits, not a determined user;
the importer re-validates everything against `worklist_items` and each row's `_check` anyway.

Every finding sent is recorded in `worklist_items`, every possible link in `review_items`;
a re-run replaces the month's rows.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import polars as pl

from reports import layout as L
from reports.common import (
    begin,
    check_run_month,
    commit,
    month_dir,
    require_tables,
    return_deadline,
    rollback,
    run_policy,
    safe_file_part,
)
from reports.errors import FileNameClash
from reports.queries import (
    FINDING_CLASSES,
    active_households_sql,
    earlier_verdicts_sql,
    flags_of_active_sql,
    month_verdicts_sql,
)
from reports.tables import ensure_tables
from reports.worklist_sheets import DESK_COMMUNITY, DESK_STREET, Household, write_workbook

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)
STREET_DIR = "街道"
_X02_OTHERS = re.compile(r"(同时是在保家庭)([^（的]+?)(的成员)")  # as matching.rules.x02_sql words it


def workbook_name(street: str, community: str) -> str:
    return f"{safe_file_part(street)}-{safe_file_part(community)}.xlsx"


def street_workbook_name(street: str) -> str:
    """The street office's own workbook, relative to the month's folder."""
    return f"{STREET_DIR}/{safe_file_part(street)}.xlsx"


def _dicts(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[dict]:
    cur = con.execute(sql, params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def _identity(f: dict) -> tuple:
    return (f["household_id"], f["id_number"], f["rule"], f["source"], f["evidence_key"])


def write_worklists(con: duckdb.DuckDBPyConnection, run_month: str, out_dir: Path,
                    processes: int | None = None) -> list[Path]:
    """Write every community's worklist (and the street offices' own) for run_month; return the
    paths, the communities' sorted, then the streets' sorted.

    `processes`: how many processes write the workbooks (default: two once there are
    `PARALLEL_MIN_HOUSEHOLDS` flagged households, else one; see `write_workbooks`)."""
    check_run_month(run_month)
    require_tables(con, "flags", "flag_keys", "raw_roster_households", "stg_members")
    ensure_tables(con)
    policy = run_policy(con, run_month)
    street_rules = set(policy["worklists.street_desk_rules"])
    deadline = return_deadline(run_month, policy["worklists.return_day"])

    households = {r["household_id"]: Household(**r) for r in _dicts(con, active_households_sql(), [run_month])}
    verdicts = {_identity(v): v for v in _dicts(con, month_verdicts_sql(), [run_month])}
    earlier = {(v["household_id"], v["id_number"], v["rule"], v["source"]): v
               for v in _dicts(con, earlier_verdicts_sql(), [run_month])}
    # a household's findings for the community's desk, and the street's
    street_side: dict[str, Household] = {}
    seen: set[str] = set()
    for f in _dicts(con, flags_of_active_sql(FINDING_CLASSES), [run_month]):
        f["key"] = L.finding_fingerprint(f["household_id"], f["id_number"], f["rule"], f["source"], f["evidence_key"])
        if f["key"] in seen:  # two flags rows of one finding group and key: one row on the worklist
            continue
        seen.add(f["key"])
        if f["rule"] == "X02":  # the other household's street and community, to call them
            f["evidence"] = _X02_OTHERS.sub(lambda m: m.group(1) + "、".join(
                f"{o}（{households[o].street}{households[o].community}）" if o in households else o
                for o in m.group(2).split("、")) + m.group(3), f["evidence"] or "")
        f["verdict"] = verdicts.get(_identity(f))
        f["earlier"] = earlier.get(_identity(f)[:4])
        h = households[f["household_id"]]
        if f["rule"] in street_rules:
            h = street_side.setdefault(h.household_id, Household(
                h.household_id, h.street, h.community, h.address, h.benefit_monthly, h.head_name))
        h.findings.append(f)
        h.keys.append(f["key"])
    decisions = _latest_decisions(con)
    possibles: dict[tuple[str, str], list[dict]] = defaultdict(list)
    street_possibles: dict[str, list[dict]] = defaultdict(list)
    for f in _dicts(con, flags_of_active_sql(("possible",)), [run_month]):
        h = households[f["household_id"]]
        f = {**f, "address": h.address, "community": h.community, "street": h.street}
        f["link_key"] = L.link_fingerprint(f["household_id"], f["id_number"], f["rule"], f["source"],
                                           f["source_record_id"], f["evidence_key"])
        f["decision"] = decisions.get((*_identity(f)[:4], f["source_record_id"], f["evidence_key"]))
        if f["rule"] in street_rules:
            street_possibles[h.street].append(f)
        else:
            possibles[(h.street, h.community)].append(f)

    communities: dict[tuple[str, str], list[Household]] = defaultdict(list)
    for h in households.values():
        communities[(h.street, h.community)].append(h)
    streets: dict[str, list[Household]] = defaultdict(list)
    for h in street_side.values():
        streets[h.street].append(h)
    for street in street_possibles:
        streets.setdefault(street, [])

    folder = month_dir(out_dir, run_month)
    names: dict[str, tuple[str, str]] = {}
    for street, community in communities:
        name = workbook_name(street, community)
        if name in names:
            raise FileNameClash(f"社区 {names[name]} 与 {(street, community)} 的清单文件名相同：{name}")
        names[name] = (street, community)
    street_names: dict[str, str] = {}
    for street in streets:
        name = street_workbook_name(street)
        if name in street_names:
            raise FileNameClash(f"街道 {street_names[name]} 与 {street} 的清单文件名相同：{name}")
        street_names[name] = street
    if streets:
        (folder / STREET_DIR).mkdir(exist_ok=True)

    jobs = []
    for (street, community), members in sorted(communities.items()):
        name = workbook_name(street, community)
        flagged = sorted((h for h in members if h.findings), key=Household.sort_key)
        jobs.append((folder / name, run_month, street, community, len(members), flagged,
                     possibles[(street, community)], {"desk": DESK_COMMUNITY, "sent_file": name, "deadline": deadline,
                      "street_rules": sorted(street_rules)}))
    for street, members in sorted(streets.items()):
        name = street_workbook_name(street)
        flagged = sorted(members, key=Household.sort_key)
        jobs.append((folder / name, run_month, street, "", 0, flagged, street_possibles[street],
                     {"desk": DESK_STREET, "sent_file": name, "deadline": deadline,
                      "street_rules": sorted(street_rules)}))
    # the items are made while the other process writes; stored once every workbook is written
    items = write_workbooks(jobs, processes, meanwhile=lambda: _item_rows(run_month, jobs))
    _store_items(con, run_month, *items)
    # the communities' first (the run's summary names the folder of the first), then the streets'
    return sorted(job[0] for job in jobs if job[7]["desk"] == DESK_COMMUNITY) + sorted(
        job[0] for job in jobs if job[7]["desk"] == DESK_STREET)


def _latest_decisions(con: duckdb.DuckDBPyConnection) -> dict[tuple, dict]:
    rows = _dicts(con, """SELECT household_id, id_number, rule, source, source_record_id, evidence_key, decision,
                                 decided_by, decided_on, note FROM link_decisions_latest""", [])
    return {(r["household_id"], r["id_number"], r["rule"], r["source"], r["source_record_id"], r["evidence_key"]): r
            for r in rows}


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


ITEM_COLUMNS = ("run_month", "community", "street", "household_id", "id_number", "rule", "source", "evidence_key",
                "sent_file", "finding_key", "desk")
REVIEW_COLUMNS = ("run_month", "community", "street", "household_id", "id_number", "rule", "source",
                  "source_record_id", "evidence_key", "link_key", "sent_file")


def _item_rows(run_month: str, jobs: list[tuple]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`worklist_items` rows (every finding sent, with the file it was sent in) and `review_items`
    rows (every possible link sent)."""
    items, reviews = [], []
    for _path, _month, _street, _community, _n, flagged, possibles, options in jobs:
        for h in flagged:
            for f in h.findings:
                items.append({"run_month": run_month, "community": h.community, "street": h.street,
                              "household_id": h.household_id, "id_number": f["id_number"], "rule": f["rule"],
                              "source": f["source"], "evidence_key": f["evidence_key"],
                              "sent_file": options["sent_file"], "finding_key": f["key"], "desk": options["desk"]})
        for f in possibles:
            reviews.append({"run_month": run_month, "community": f["community"], "street": f["street"],
                            "household_id": f["household_id"], "id_number": f["id_number"], "rule": f["rule"],
                            "source": f["source"], "source_record_id": f["source_record_id"],
                            "evidence_key": f["evidence_key"], "link_key": f["link_key"],
                            "sent_file": options["sent_file"]})
    return (pl.DataFrame(items, schema={c: pl.Utf8 for c in ITEM_COLUMNS}),
            pl.DataFrame(reviews, schema={c: pl.Utf8 for c in REVIEW_COLUMNS}))


def _store_items(con: duckdb.DuckDBPyConnection, run_month: str, items: pl.DataFrame, reviews: pl.DataFrame) -> None:
    owner = begin(con)
    try:
        for table, frame in (("worklist_items", items), ("review_items", reviews)):
            con.execute(f"DELETE FROM {table} WHERE run_month = ?", [run_month])
            con.register("_new_items", frame)
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _new_items")
            con.unregister("_new_items")
        commit(con, owner)
    except Exception:
        rollback(con, owner)
        raise
