"""What a load did: per-extract counts and notes, missing optional extracts, ignored files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import RowCountMismatch


@dataclass
class ExtractLoad:
    """One extract's load. `rows_read` counts non-blank data rows; every one is loaded or quarantined."""

    extract: str
    source_file: str | None = None
    file_type: str | None = None
    encoding: str | None = None  # CSV: utf-8, utf-8-sig or gb18030
    sheet: str | None = None  # xlsx: the sheet read
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    present: bool = True
    notes: list[str] = field(default_factory=list)

    def check(self) -> None:
        """Raise `RowCountMismatch` unless rows_read == rows_loaded + rows_quarantined."""
        if self.rows_read != self.rows_loaded + self.rows_quarantined:
            raise RowCountMismatch(
                f"{self.source_file}: {self.rows_read} rows read but {self.rows_loaded} loaded "
                f"+ {self.rows_quarantined} quarantined"
            )


@dataclass
class LoadReport:
    run_month: str
    data_dir: Path
    extracts: dict[str, ExtractLoad] = field(default_factory=dict)
    missing_optional: list[str] = field(default_factory=list)
    ignored_files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def rows_quarantined(self) -> int:
        return sum(e.rows_quarantined for e in self.extracts.values())

    def check(self) -> None:
        for e in self.extracts.values():
            e.check()
