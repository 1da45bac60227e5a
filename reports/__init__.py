"""Workbooks for people, and the caseworkers' verdicts back into the database.

Public API (the CLI in `flows/` calls these; each takes an open DuckDB connection):
- `reports.worklists.write_worklists(con, run_month, out_dir) -> list[Path]` (each community's
  workbook, and the street offices' own for the rules in `worklists.street_desk_rules`)
- `reports.summary.write_summary(con, run_month, out_dir) -> Path` (the city bureau's; one per
  street office is written beside it, in `汇总/`)
- `reports.notice.write_notice(con, run_month, out_dir, start=None) -> list[Path]`
- `reports.outcomes.import_outcomes(con, files, imported_by=None) -> ImportResult`
  (`result.report_lines()` says every file's fate; `result.raise_if_rejected()` raises
  `reports.errors.OutcomeFileRejected`)
- `reports.outcomes.suppress_cleared(con, run_month) -> int` (after the rules, before the worklists:
  applies link decisions and holds back findings cleared on the same evidence)

`layout.py` is the returned-worklist contract shared by writer and importer (columns, choices,
the per-row `_check`, priorities); `tables.py` declares the tables and views owned here;
`queries.py` holds the SQL builders; `codes.py` (with `area_codes.py`) and `quality_text.py` put
codes into words. IDs are masked only through `matching.ids.mask`. The workbooks' settings
(return day, street desk, notice period and phone) are policy keys, read from the month's run
(`reports.common.run_policy`).
"""
