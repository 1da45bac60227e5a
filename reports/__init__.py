"""Workbooks for people, and the caseworkers' verdicts back into the database.

Public API (the CLI in `flows/` calls these; each takes an open DuckDB connection):
- `reports.worklists.write_worklists(con, run_month, out_dir) -> list[Path]`
- `reports.summary.write_summary(con, run_month, out_dir) -> Path`
- `reports.notice.write_notice(con, run_month, out_dir) -> list[Path]`
- `reports.outcomes.import_outcomes(con, files, imported_by=None) -> ImportResult`
  (`result.raise_if_rejected()` raises `reports.errors.OutcomeFileRejected`)
- `reports.outcomes.suppress_cleared(con, run_month) -> int` (after the rules, before the worklists)

`layout.py` is the returned-worklist contract shared by writer and importer; `tables.py`
declares the tables and views owned here; `queries.py` holds the SQL builders. IDs are
masked only through `matching.ids.mask`.
"""
