"""The project's exceptions. Every failure a user can cause has its own class, and
its message is one line naming the file, row and column where there is one."""


class DibaoError(Exception):
    """Base of every error dibao raises on purpose; the CLI prints its message on one line.

    Its text never carries a whole resident ID: any ID in the message (a value echoed from a
    file, say a roster whose header row is missing) is masked as `matching.ids.mask` does,
    wherever the message goes (the console, `runs.message`, Prefect's records)."""

    def __str__(self) -> str:
        from matching.ids import redact_ids

        return redact_ids(super().__str__())


class MissingExtract(DibaoError):
    """A required extract (★ in the contract) has no file in the data folder."""


class UnreadableFile(DibaoError):
    """A file cannot be read at all: wrong encoding, not a workbook, truncated parquet, no header."""


class LinkOutsideData(DibaoError):
    """An extract in the data folder is a symbolic link to a file outside it."""


class BadHeader(DibaoError):
    """A required column is missing, or a header is not one the contract knows."""


class AmbiguousExtract(DibaoError):
    """Two files in the data folder claim the same extract (e.g. deaths.csv and deaths.xlsx)."""


class InvalidArgument(DibaoError):
    """An argument given to dibao is outside its allowed range (e.g. run_month not 'YYYY-MM')."""


class RowCountMismatch(DibaoError):
    """A loader lost or invented rows: rows_read != rows_loaded + rows_quarantined.

    This is a bug in dibao, never in the input; the run stops rather than lose a row."""
