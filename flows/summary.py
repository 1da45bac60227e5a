"""What `dibao run` prints when it finishes: where the results are, and the counts."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from flows.database import one_row, open_database
from matching.rule_titles import RULE_TITLES


def print_run_summary(console: Console, db: Path, month: str, run_id: str, workbooks: list[Path]) -> None:
    con = open_database(db, read_only=True)
    try:
        rows = dict((r, (f, p)) for r, f, p in con.execute("""
            SELECT rule, count(*) FILTER (WHERE match_class IN ('exact', 'probable')),
                   count(*) FILTER (WHERE match_class = 'possible')
            FROM flags WHERE run_month = ? GROUP BY rule""", [month]).fetchall())
        households = one_row(con, """SELECT count(*) FILTER (WHERE status = '在保'), count(*)
                                     FROM raw_roster_households WHERE run_month = ?""", [month])
        flagged = one_row(con, """SELECT count(DISTINCT household_id) FROM flags
                                  WHERE run_month = ? AND match_class IN ('exact', 'probable')""", [month])[0]
        quarantined = one_row(con, "SELECT count(*) FROM quarantine WHERE run_month = ?", [month])[0]
        run = con.execute("SELECT findings FROM runs WHERE run_id = ?", [run_id]).fetchone()
    finally:
        con.close()
    table = Table(title=f"dibao {month}: findings by rule", show_lines=False)
    table.add_column("rule")
    table.add_column("title")
    table.add_column("findings", justify="right")
    table.add_column("to review", justify="right")
    for code, title in RULE_TITLES.items():
        found, possible = rows.get(code, (0, 0))
        table.add_row(code, title, str(found), str(possible))
    console.print(table)
    console.print(f"active households checked: {households[0]} of {households[1]}; "
                  f"households with findings: {flagged}; rows quarantined: {quarantined}")
    if run and run[0]:
        import json

        off = json.loads(run[0]).get("switched_off") or {}
        for code, missing in off.items():
            console.print(f"rule {code} is off: extract(s) {', '.join(missing)} not supplied", markup=False)
    console.print(f"DuckDB file: {Path(db).resolve()}  (tables flags, link_pairs, quarantine, runs …)", markup=False)
    if workbooks:
        console.print(f"worklists: {workbooks[0].parent.resolve()}/ ({len(workbooks)} workbooks)", markup=False)
