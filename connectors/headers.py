"""Map a file's header row to the contract's columns (schemas.py).

Departments export English contract names or the Chinese headers, with stray spaces,
full-width characters, BOM remnants, `*` required-markers and any mix of the two.
A header is compared by `header_key`: NFKC, invisible characters and surrounding
`*` removed, lower case, spaces / `_` / `-` dropped. So `Household ID`, ` household_id `,
`ＨＯＵＳＥＨＯＬＤ＿ＩＤ` and `低保户编号*` all name `household_id`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from .schemas import Column, Extract

_INVISIBLE = re.compile(r"[\ufeff\u200b\u200c\u200d\u2060\u00ad]")
_SEPARATORS = re.compile(r"[\s_\-]+")


def header_key(text: object) -> str:
    """The comparable form of one header cell ('' for a blank cell)."""
    if text is None:
        return ""
    s = unicodedata.normalize("NFKC", str(text))
    s = _INVISIBLE.sub("", s).strip().strip("*").strip()
    return _SEPARATORS.sub("", s.lower())


def _lookup(extract: Extract) -> dict[str, Column]:
    table: dict[str, Column] = {}
    for col in extract.columns:
        for label in (col.name, col.chinese):
            key = header_key(label)
            other = table.get(key)
            if other is not None and other is not col:  # a schema bug; tests/test_connectors.py guards it
                raise ValueError(f"{extract.name}: header {label!r} names both {other.name} and {col.name}")
            table[key] = col
    return table


def describe(col: Column) -> str:
    """A column named both ways, for messages: `低保户编号 (household_id)`."""
    return f"{col.chinese} ({col.name})"


@dataclass
class HeaderMap:
    """Where each contract column is in the file, and what did not fit."""

    extract: Extract
    headers: list[str]  # as in the file (blank cells named `column N`, repeats suffixed)
    source: dict[str, int] = field(default_factory=dict)  # contract column -> file column index
    unknown: list[str] = field(default_factory=list)  # headers the contract does not know (ignored)
    blank: list[int] = field(default_factory=list)  # 1-based positions of blank header cells
    clashes: list[str] = field(default_factory=list)  # several file columns naming one contract column

    @property
    def missing_required(self) -> list[Column]:
        return [c for c in self.extract.columns if c.required and c.name not in self.source]

    @property
    def missing_optional(self) -> list[Column]:
        return [c for c in self.extract.columns if not c.required and c.name not in self.source]

    @property
    def ok(self) -> bool:
        return not self.missing_required and not self.clashes

    def problems(self) -> list[str]:
        """Every header problem at once, each a short phrase."""
        out = []
        if self.missing_required:
            out.append("missing required column(s) " + ", ".join(describe(c) for c in self.missing_required))
        out.extend(self.clashes)
        return out

    def warnings(self) -> list[str]:
        out = []
        if self.unknown:
            out.append("unknown column(s) ignored: " + ", ".join(self.unknown))
        if self.blank:
            out.append("column(s) without a header ignored: " + ", ".join(f"column {i}" for i in self.blank))
        if self.missing_optional:
            out.append(
                "optional column(s) absent, filled with their default: "
                + ", ".join(describe(c) for c in self.missing_optional)
            )
        return out


def display_headers(raw: list[object]) -> list[str]:
    """Header cells as text, blank ones named `column N`, repeats made unique with ` (2)`."""
    out: list[str] = []
    seen: dict[str, int] = {}
    for i, cell in enumerate(raw, start=1):
        text = "" if cell is None else " ".join(str(cell).replace("\ufeff", "").split())
        if not text:
            text = f"column {i}"
        n = seen.get(text, 0) + 1
        seen[text] = n
        out.append(text if n == 1 else f"{text} ({n})")
    return out


def map_headers(raw: list[object], extract: Extract) -> HeaderMap:
    """Match a header row against the extract's columns; never raises."""
    lookup = _lookup(extract)
    hmap = HeaderMap(extract=extract, headers=display_headers(raw))
    for i, cell in enumerate(raw):
        key = header_key(cell)
        if not key:
            hmap.blank.append(i + 1)
            continue
        col = lookup.get(key)
        if col is None:
            hmap.unknown.append(hmap.headers[i])
        elif col.name in hmap.source:
            first = hmap.headers[hmap.source[col.name]]
            hmap.clashes.append(f"columns '{first}' and '{hmap.headers[i]}' both give {describe(col)}")
        else:
            hmap.source[col.name] = i
    return hmap
