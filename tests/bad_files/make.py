"""Write extract files for the connector tests: good ones built from the schema, and the bad-file corpus.

Every file is generated (nothing binary is committed): `write_csv`, `write_xlsx` and
`write_parquet` take a header row and data rows; `good_rows` gives valid rows for any
extract; `minimal_folder` writes every required extract so `load_extracts` can run.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import openpyxl
import polars as pl

from connectors.schemas import EXTRACTS, Extract, Kind

SAMPLE = {
    Kind.ID: "420102199001011234",
    Kind.TEXT: "正常",
    Kind.DATE: "2024-03-05",
    Kind.MONTH: "2024-03",
    Kind.DECIMAL: "800",
    Kind.BOOL: "是",
}
NAMES = ["陳红", "买买提·艾力", "𠮷田", "王伟"]


def good_rows(extract: Extract, n: int = 3) -> list[list[str]]:
    rows = []
    for r in range(n):
        row = []
        for col in extract.columns:
            if col.name == extract.key or col.name == "household_id":
                row.append(f"H{r + 1:04d}" if extract.name.startswith("roster") else f"R{r + 1:04d}")
            elif col.name == "name":
                row.append(NAMES[r % len(NAMES)])
            else:
                row.append(SAMPLE[col.kind])
        rows.append(row)
    return rows


def english(extract: Extract) -> list[str]:
    return [c.name for c in extract.columns]


def chinese(extract: Extract) -> list[str]:
    return [c.chinese for c in extract.columns]


def write_csv(path: Path, header: Sequence[object], rows: Sequence[Sequence[object]], encoding: str = "utf-8") -> Path:
    with open(path, "w", encoding=encoding, newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def write_xlsx(path: Path, header: Sequence[object], rows: Sequence[Sequence[object]], sheet_first: bool = True,
               decoy: Sequence[Sequence[object]] | None = None) -> Path:
    """Data on the first sheet, or (sheet_first=False) on the second after a `decoy` sheet."""
    wb = openpyxl.Workbook()
    ws = wb.active
    if not sheet_first:
        ws.title = "说明"
        for r in decoy or [["本表为导出数据，请见第二页"]]:
            ws.append(list(r))
        ws = wb.create_sheet("数据")
    ws.append(list(header))
    for r in rows:
        ws.append(list(r))
    wb.save(path)
    return path


def write_parquet(path: Path, columns: dict[str, pl.Series | list]) -> Path:
    pl.DataFrame(columns).write_parquet(path)
    return path


def minimal_folder(folder: Path, skip: Sequence[str] = (), n: int = 3) -> Path:
    """Every required extract as a small valid UTF-8 CSV with English headers."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, extract in EXTRACTS.items():
        if extract.required and name not in skip:
            write_csv(folder / f"{name}.csv", english(extract), good_rows(extract, n))
    return folder
