"""Exceptions raised by the report writers and the outcome importer."""

from __future__ import annotations

from connectors.errors import DibaoError


class BadRunMonth(DibaoError):
    """A run month is not written 'YYYY-MM' (e.g. '2024-03')."""


class MissingTable(DibaoError):
    """A table the report needs (flags, raw_roster_households, stg_members, ...) is not in the database."""


class FileNameClash(DibaoError):
    """Two communities would be written to the same workbook file name."""


class OutcomeFileRejected(DibaoError):
    """One or more returned worklists were rejected whole; the message has one line per problem
    (file, sheet, row, column, what was expected), at most a screenful per file with the rest
    counted. Raised by `ImportResult.raise_if_rejected`."""

    def __init__(self, problems: list[str], total: int | None = None, files: int = 1):
        self.problems = problems
        total = len(problems) if total is None else total
        more = f"\n……另有 {total - len(problems)} 个问题未列出" if total > len(problems) else ""
        super().__init__(f"{files} 个文件未导入，共 {total} 个问题：\n" + "\n".join(problems) + more)
