"""Resident identity numbers (公民身份号码, GB 11643): normalise, convert, validate, mask.

An 18-character ID is 6 digits of area code, 8 of birth date, 3 of sequence (odd
for men, even for women) and a check character (ISO 7064 MOD 11-2: 0-9 or X).
Old 15-character IDs have a 2-digit year and no check character.

We use python-stdnum only for the check character, and give it the whole 18
characters: `calc_check_digit` drops the last character itself, so passing 17
silently computes the wrong digit. We do not use `ric.validate`/`is_valid`: they
also test the area code against the birth year and so reject real IDs (everyone
born in Wuhan's 江岸区 before 1983), and raise KeyError for some codes.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from enum import Enum

from stdnum.cn.ric import calc_check_digit


class IdStatus(str, Enum):
    VALID = "valid"
    BLANK = "blank"
    BAD_FORMAT = "bad_format"  # wrong length or characters
    BAD_DATE = "bad_date"  # the birth date does not exist or lies in the future
    BAD_CHECK = "bad_check"  # the check character does not match


STATUS_ZH = {
    IdStatus.VALID: "有效",
    IdStatus.BLANK: "空白",
    IdStatus.BAD_FORMAT: "位数或字符错误",
    IdStatus.BAD_DATE: "出生日期不存在",
    IdStatus.BAD_CHECK: "校验位错误",
}

_JUNK = re.compile(r"[\s\-_'\"`]+")
_EXCEL_FLOAT = re.compile(r"^\d{15,18}\.0+$")
_SHAPE = re.compile(r"^\d{17}[\dX]$")
_SHAPE15 = re.compile(r"^\d{15}$")
EARLIEST_BIRTH = dt.date(1880, 1, 1)


@dataclass(frozen=True)
class ResidentId:
    """The result of normalising one typed ID."""

    raw: str | None
    text: str  # cleaned text: NFKC, no spaces or dashes, upper-case X; 15-digit IDs converted to 18
    status: IdStatus
    was_15: bool = False

    @property
    def is_valid(self) -> bool:
        return self.status is IdStatus.VALID

    @property
    def birth_date(self) -> dt.date | None:
        return birth_date_of(self.text) if self.status in (IdStatus.VALID, IdStatus.BAD_CHECK) else None

    @property
    def sex(self) -> str | None:
        """'M' or 'F' from the parity of the sequence code, when the shape allows."""
        if len(self.text) == 18 and self.text[14:17].isdigit():
            return "M" if int(self.text[16]) % 2 else "F"
        return None


def clean(raw: object) -> str:
    """Fold full-width characters, drop spaces and separators, upper-case the X.

    Excel sometimes hands an ID over as '420102199001011234.0'; the '.0' is dropped.
    An ID that was stored as a number in scientific notation has lost its digits
    and is left as typed, so that validation rejects it.
    """
    if raw is None:
        return ""
    text = unicodedata.normalize("NFKC", str(raw))
    text = _JUNK.sub("", text).upper().replace("Ｘ", "X").replace("×", "X")
    if _EXCEL_FLOAT.match(text):
        text = text.split(".")[0]
    return text


def check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError(f"'first17' must be 17 digits, got {first17!r}")
    return calc_check_digit(first17 + "0")  # stdnum drops the last character itself


def birth_date_of(text: str) -> dt.date | None:
    """The birth date in positions 7-14 of an 18-character ID, or None when it is not a date."""
    if len(text) < 14 or not text[6:14].isdigit():
        return None
    try:
        return dt.date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        return None


def from_15(text15: str) -> str:
    """Convert a 15-digit ID to 18: insert '19' before the 2-digit year and add the check character.

    15-digit IDs were issued from 1984 to about 1999 to people born in the 1900s;
    the official conversion always assumes 19xx.
    """
    first17 = text15[:6] + "19" + text15[6:]
    return first17 + check_character(first17)


def normalize(raw: object, today: dt.date | None = None) -> ResidentId:
    """Clean one typed ID and say whether it is a valid resident ID."""
    raw_text = None if raw is None else str(raw)
    text = clean(raw)
    if not text:
        return ResidentId(raw_text, "", IdStatus.BLANK)
    was_15 = False
    if _SHAPE15.match(text):
        text = from_15(text)
        was_15 = True
    if not _SHAPE.match(text):
        return ResidentId(raw_text, text, IdStatus.BAD_FORMAT)
    born = birth_date_of(text)
    if born is None or born < EARLIEST_BIRTH or born > (today or dt.date.today()):
        return ResidentId(raw_text, text, IdStatus.BAD_DATE, was_15)
    if check_character(text[:17]) != text[17]:
        return ResidentId(raw_text, text, IdStatus.BAD_CHECK, was_15)
    return ResidentId(raw_text, text, IdStatus.VALID, was_15)


def make_id(area: str, born: dt.date, sequence: int) -> str:
    """Build a valid 18-character ID (used by the sample generator and tests)."""
    if not (len(area) == 6 and area.isdigit()):
        raise ValueError(f"'area' must be 6 digits, got {area!r}")
    if not 0 <= sequence <= 999:
        raise ValueError(f"'sequence' must be between 0 and 999, got {sequence}")
    first17 = f"{area}{born:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)


def mask(text: str | None) -> str:
    """Mask an ID for any document a person reads: first 6 and last 4 characters kept.

    '42010219900101123X' -> '420102********123X'. Anything that is not an
    18-character ID is masked whole except its last 2 characters.
    """
    if not text:
        return ""
    if len(text) == 18:
        return text[:6] + "*" * 8 + text[-4:]
    return "*" * max(len(text) - 2, 0) + text[-2:]


# An 18-character ID anywhere in free text, and a free-standing 15-digit one (full-width digits too).
_ID_IN_TEXT = re.compile(r"[0-9０-９]{17}[0-9Xx０-９ＸｘX]|(?<![0-9０-９])[0-9０-９]{15}(?![0-9０-９])")
# The 8 birth-date digits that an evidence sentence about an invalid ID quotes (X03): beside a
# masked ID (first 6 and last 4 shown) they would give back the whole ID.
_BIRTH_DATE_IN_TEXT = re.compile(r"(出生日期\D{0,3})[0-9０-９]{8}")


def redact_ids(text: str | None) -> str:
    """`text` with every resident ID in it masked through `mask`, and any quoted birth date hidden:
    for error messages, log lines, run records and any sentence a person reads."""
    if not text:
        return ""
    text = _ID_IN_TEXT.sub(lambda m: mask(unicodedata.normalize("NFKC", m.group(0)).upper()), text)
    return _BIRTH_DATE_IN_TEXT.sub(lambda m: m.group(1) + "*" * 8, text)
