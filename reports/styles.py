"""Cell formats and page set-up shared by every workbook dibao writes (xlsxwriter)."""

from __future__ import annotations

import math
import unicodedata
from functools import cache
from typing import Any

import xlsxwriter
from xlsxwriter.worksheet import Worksheet

FONT = "宋体"  # present on every Chinese Windows; LibreOffice substitutes a CJK font
A4 = 9  # xlsxwriter paper code
LINE_HEIGHT = 15.0  # points per text line at 11 pt


FORMATS: dict[str, dict[str, Any]] = {
    "title": {"bold": True, "font_size": 16, "align": "left", "valign": "vcenter"},
    "label": {"bold": True, "bg_color": "#F2F2F2", "border": 1, "valign": "top"},
    "value": {"border": 1, "valign": "top", "text_wrap": True},
    "header": {"bold": True, "bg_color": "#DDEBF7", "border": 1, "align": "center", "valign": "vcenter",
               "text_wrap": True},
    "header_edit": {"bold": True, "bg_color": "#FFF2CC", "border": 1, "align": "center", "valign": "vcenter",
                    "text_wrap": True},
    "cell": {"border": 1, "valign": "top", "text_wrap": True},
    "cell_center": {"border": 1, "valign": "top", "align": "center"},
    "money": {"border": 1, "valign": "top", "num_format": "#,##0.00"},
    "int": {"border": 1, "valign": "top", "num_format": "0"},
    "seq": {"border": 1, "valign": "top", "align": "center", "num_format": "0"},
    "score": {"border": 1, "valign": "top", "num_format": "0.000"},
    "edit": {"border": 1, "valign": "top", "text_wrap": True, "locked": False, "bg_color": "#FFFBEA"},
    "edit_date": {"border": 1, "valign": "top", "locked": False, "bg_color": "#FFFBEA", "num_format": "yyyy-mm-dd"},
    "done": {"border": 1, "valign": "top", "text_wrap": True, "bg_color": "#E7E6E6"},  # imported: locked, grey
    "done_date": {"border": 1, "valign": "top", "bg_color": "#E7E6E6", "num_format": "yyyy-mm-dd"},
    "urgent": {"border": 1, "valign": "top", "align": "center", "bold": True, "font_color": "#C00000"},
    "note": {"text_wrap": True, "valign": "top"},
    "hidden": {"locked": True, "hidden": True},
    "total": {"bold": True, "border": 1, "bg_color": "#F2F2F2"},
    "total_money": {"bold": True, "border": 1, "bg_color": "#F2F2F2", "num_format": "#,##0.00"},
}


def new_workbook(path: str) -> tuple[xlsxwriter.Workbook, dict[str, Any]]:
    """A workbook with the shared formats; strings are never turned into numbers (IDs stay text).

    Assembled in memory (`in_memory`), not from a temporary file per part: a community's
    workbook is small, and the temporary files and their copying into the zip were about a
    tenth of the time to write a city's worklists."""
    wb = xlsxwriter.Workbook(path, {"strings_to_numbers": False, "strings_to_formulas": False,
                                     "strings_to_urls": False, "default_date_format": "yyyy-mm-dd", "in_memory": True})
    formats = {name: wb.add_format({"font_name": FONT, "font_size": 11, **spec}) for name, spec in FORMATS.items()}
    formats["title"].set_font_size(16)
    return wb, formats


def print_setup(ws: Worksheet, *, landscape: bool, header_rows: int | None = 0, footer: str | None = None,
                header: str | None = None) -> None:
    """A4, fit to one page wide, header row repeated on each page, page numbers in the footer,
    and `header` (e.g. community, month and return deadline) at the top of every printed page."""
    ws.set_paper(A4)
    if landscape:
        ws.set_landscape()
    else:
        ws.set_portrait()
    ws.fit_to_pages(1, 0)
    ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
    if header_rows is not None:
        ws.repeat_rows(header_rows)
    ws.set_footer(footer or "&C第 &P 页，共 &N 页")
    if header:
        # Excel's page header holds 255 characters: a 300-character community name is cut
        # (xlsxwriter would warn and drop the header)
        ws.set_header(header if len(header) <= 255 else header[:254] + "…")


def display_width(text: str) -> int:
    """Width in Excel character units: CJK and full-width characters count double (Unicode's
    East Asian Width W or F). Counted by `str.translate`, which deletes every narrow character
    of the Basic Multilingual Plane: per character in Python, the row heights of a city's
    worklists took 17% of the time to write them."""
    if text.isascii():
        return len(text)
    rest = text.translate(_narrow_bmp())  # the BMP's wide characters, and any past the BMP (e.g. 𠮷)
    if rest and max(rest) > "\uffff":
        return len(text) + sum(map(_wide, rest))
    return len(text) + len(rest)


def _wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in "WF"


@cache
def _narrow_bmp() -> dict[int, None]:
    """`str.translate`'s table deleting every character of the BMP that is not wide."""
    return {c: None for c in range(0x10000) if not _wide(chr(c))}


def wrapped_lines(text: str, width: float) -> int:
    """How many lines a wrapped cell of this column width needs, roughly."""
    usable = max(width - 1, 1)
    return sum(max(1, math.ceil(display_width(line) / usable)) for line in (text or "").split("\n"))


MAX_ROW_HEIGHT = 409.0  # points: Excel's limit for one row


def row_height(cells: list[tuple[str, float]], minimum: int = 1) -> float:
    """Height in points for a row of wrapped cells given as (text, column width), at most Excel's 409."""
    lines = max([minimum, *(wrapped_lines(t, w) for t, w in cells)])
    return min(LINE_HEIGHT * lines + 3, MAX_ROW_HEIGHT)
