"""What the quality gate expects of each extract: declared here, run by `expectations.runner`.

This module says *what* is checked, never *how*: no SQL, no Great Expectations. Each
`Expectation` is a small frozen object naming its extract, its kind, the column it
looks at and its parameters (a value set, a pattern, a date range). Suites are
derived from the declared extract schemas (`connectors.schemas`), so a new column
gets its presence, blank and date checks without touching this file; value sets,
patterns and roster integrity are listed explicitly below.

Severity is not declared here: it is a policy knob (`quality.severity`, see
`matching.policy`), so a street office can harden or soften a check without code.
Thresholds (floors, ceilings, drift limits) are knobs too; `THRESHOLD_KNOB` names
the knob each kind reads.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from connectors.schemas import (
    EXTRACTS,
    HOUSEHOLD_EVENT_TYPES,
    HOUSEHOLD_STATUSES,
    MARRIAGE_EVENT_TYPES,
    PROPERTY_STATUSES,
    PROPERTY_USES,
    RELATIONS,
    STAFF_ROLES,
    VEHICLE_STATUSES,
    Extract,
    Kind,
)


class CheckKind(StrEnum):
    """Every kind of expectation the gate knows. The value is the key used in `quality.severity`."""

    PRESENT = "present"  # an optional extract that had rows last run has none now
    HAS_ROWS = "has_rows"  # a required extract has at least one usable row
    COLUMNS_PRESENT = "columns_present"  # the raw table has every contract column
    NOT_BLANK = "not_blank"  # a required text/ID column is never blank
    ID_VALID_SHARE = "id_valid_share"  # share of non-blank IDs that are valid >= floor
    ID_BLANK_SHARE = "id_blank_share"  # share of blank IDs <= ceiling
    DATE_IN_RANGE = "date_in_range"  # dates lie between a declared earliest and the run month
    IN_SET = "in_set"  # values in the contract's vocabulary
    PATTERN = "pattern"  # values match a regular expression (GA 24.4 vehicle type, area codes)
    UNIQUE = "unique"  # the extract's key is unique
    MEMBER_HOUSEHOLD_EXISTS = "member_household_exists"  # every member's household is on the roster
    ONE_HEAD = "one_head"  # every active household has exactly one 户主
    HAS_BENEFICIARY = "has_beneficiary"  # every active household has a beneficiary
    QUARANTINE_SHARE = "quarantine_share"  # share of input rows the loader quarantined <= ceiling
    ROW_COUNT_SHRINK = "row_count_shrink"  # rows fell by no more than a share vs the previous run
    ROW_COUNT_GROWTH = "row_count_growth"  # rows grew by no more than a share vs the previous run
    BLANK_ID_DRIFT = "blank_id_drift"  # blank-ID share rose by no more than some points
    INVALID_ID_DRIFT = "invalid_id_drift"  # invalid-ID share rose by no more than some points


# Kinds whose measure is "the share of rows that fail a per-row test". Any failing row
# fails the expectation; when the share exceeds `quality.escalate_bad_share` a
# warning is raised to critical (a column broken as a whole, not a few typos).
ROW_KINDS: frozenset[CheckKind] = frozenset({
    CheckKind.NOT_BLANK, CheckKind.DATE_IN_RANGE, CheckKind.IN_SET, CheckKind.PATTERN, CheckKind.UNIQUE,
    CheckKind.MEMBER_HOUSEHOLD_EXISTS, CheckKind.ONE_HEAD, CheckKind.HAS_BENEFICIARY,
})

# Kinds compared with the previous run of the same extract; skipped on a first run.
DRIFT_KINDS: frozenset[CheckKind] = frozenset({
    CheckKind.ROW_COUNT_SHRINK, CheckKind.ROW_COUNT_GROWTH, CheckKind.BLANK_ID_DRIFT, CheckKind.INVALID_ID_DRIFT,
})

# The policy knob holding each kind's threshold (kinds not listed have a fixed bound).
THRESHOLD_KNOB: dict[CheckKind, str] = {
    CheckKind.ID_VALID_SHARE: "quality.min_valid_id_share",
    CheckKind.ID_BLANK_SHARE: "quality.max_blank_id_share",
    CheckKind.QUARANTINE_SHARE: "quality.max_quarantine_share",
    CheckKind.ROW_COUNT_SHRINK: "quality.max_shrink_share",
    CheckKind.ROW_COUNT_GROWTH: "quality.max_growth_share",
    CheckKind.BLANK_ID_DRIFT: "quality.max_id_share_rise",
    CheckKind.INVALID_ID_DRIFT: "quality.max_id_share_rise",
}


class Bound(StrEnum):
    """The latest plausible date of a column, relative to the run month."""

    MONTH_END = "month_end"  # an event date: on or before the last day of the run month (as-of)
    MONTH_START = "month_start"  # a month column (stored as its first day): not after the run month


ACTIVE_STATUS = HOUSEHOLD_STATUSES[0]  # 在保: only active households are checked
HEAD_RELATION = RELATIONS[0]  # 户主
EARLIEST_DATE = dt.date(1900, 1, 1)
# 城市低保 was set up nationwide from 1997 (国发〔1997〕29号); an earlier first payment is a typo.
EARLIEST_ENROLMENT = dt.date(1997, 1, 1)


@dataclass(frozen=True)
class Expectation:
    """One declared expectation on one extract."""

    extract: str
    kind: CheckKind
    column: str | None = None
    values: tuple[str, ...] = ()  # IN_SET
    pattern: str | None = None  # PATTERN: a full-match regular expression
    earliest: dt.date | None = None  # DATE_IN_RANGE
    latest: Bound | None = None  # DATE_IN_RANGE

    @property
    def name(self) -> str:
        """Stable identifier, stored in `quality_results.expectation`: 'kind' or 'kind:column'."""
        return f"{self.kind.value}:{self.column}" if self.column else self.kind.value

    @property
    def header(self) -> str:
        """The column as a department knows it (its Chinese header), or the extract's title."""
        spec = EXTRACTS[self.extract]
        if self.column and self.column in spec.names:
            return spec.column(self.column).chinese
        return self.column or spec.title

    def describe(self) -> str:
        """What is expected, in one phrase (English with the department's Chinese header)."""
        h = self.header
        k = self.kind
        if k is CheckKind.DATE_IN_RANGE:
            latest = "the run month's end" if self.latest is Bound.MONTH_END else "the run month"
            return f"{h} between {self.earliest} and {latest}"
        if k is CheckKind.IN_SET:
            return f"{h} in {{{', '.join(self.values)}}}"
        if k is CheckKind.PATTERN:
            return f"{h} matches {self.pattern}"
        return _DESCRIPTIONS[k].format(h=h)


_DESCRIPTIONS: dict[CheckKind, str] = {
    CheckKind.PRESENT: "extract present when it was present last run",
    CheckKind.HAS_ROWS: "at least one usable row",
    CheckKind.COLUMNS_PRESENT: "every contract column present",
    CheckKind.NOT_BLANK: "{h} never blank",
    CheckKind.ID_VALID_SHARE: "{h} valid share at or above the floor",
    CheckKind.ID_BLANK_SHARE: "{h} blank share at or below the ceiling",
    CheckKind.UNIQUE: "{h} unique",
    CheckKind.MEMBER_HOUSEHOLD_EXISTS: "every member's 低保户编号 on roster_households",
    CheckKind.ONE_HEAD: "every active (在保) household has exactly one 户主",
    CheckKind.HAS_BENEFICIARY: "every active (在保) household has at least one beneficiary",
    CheckKind.QUARANTINE_SHARE: "quarantined share of input rows at or below the ceiling",
    CheckKind.ROW_COUNT_SHRINK: "row count not shrunk beyond the limit vs the previous run",
    CheckKind.ROW_COUNT_GROWTH: "row count not grown beyond the limit vs the previous run",
    CheckKind.BLANK_ID_DRIFT: "{h} blank share not risen beyond the limit vs the previous run",
    CheckKind.INVALID_ID_DRIFT: "{h} invalid share not risen beyond the limit vs the previous run",
}


@dataclass(frozen=True)
class Suite:
    """Every expectation on one extract, in the order the report lists them."""

    extract: str
    expectations: tuple[Expectation, ...]

    @property
    def spec(self) -> Extract:
        return EXTRACTS[self.extract]

    @property
    def id_column(self) -> str | None:
        return "id_number" if "id_number" in self.spec.names else None


# Vocabularies and patterns, by (extract, column).
VALUE_SETS: dict[tuple[str, str], tuple[str, ...]] = {
    ("roster_households", "status"): HOUSEHOLD_STATUSES,
    ("roster_members", "relation"): RELATIONS,
    ("vehicles", "status"): VEHICLE_STATUSES,
    ("properties", "use"): PROPERTY_USES,
    ("properties", "status"): PROPERTY_STATUSES,
    ("household_events", "event_type"): HOUSEHOLD_EVENT_TYPES,
    ("marriages", "event_type"): MARRIAGE_EVENT_TYPES,
    ("staff", "role"): STAFF_ROLES,
}
PATTERNS: dict[tuple[str, str], str] = {
    ("vehicles", "vehicle_type"): r"^[A-Z][0-9A-Z]{2}$",  # GA 24.4: K33, H11, M21 …
    ("roster_households", "district_code"): r"^[0-9]{6}$",
    ("employment", "city_code"): r"^[0-9]{6}$",
}
# A date column's earliest plausible value, where it differs from EARLIEST_DATE.
EARLIEST: dict[tuple[str, str], dt.date] = {
    ("roster_households", "enrolled_on"): EARLIEST_ENROLMENT,
}
# Extracts whose id_number is mostly blank by nature (a complaint rarely quotes an ID).
NO_BLANK_ID_CEILING: frozenset[str] = frozenset({"complaints"})


def build_suite(extract: Extract) -> Suite:
    """Derive one extract's suite from its declared schema and the tables above."""
    name = extract.name
    out: list[Expectation] = []
    # A required extract must have rows; an optional one is only expected while it keeps coming.
    out.append(Expectation(name, CheckKind.HAS_ROWS if extract.required else CheckKind.PRESENT))
    out.append(Expectation(name, CheckKind.COLUMNS_PRESENT))
    out.append(Expectation(name, CheckKind.QUARANTINE_SHARE))
    for col in extract.columns:
        if col.required and col.kind in (Kind.TEXT, Kind.ID):
            out.append(Expectation(name, CheckKind.NOT_BLANK, col.name))
    if "id_number" in extract.names:
        out.append(Expectation(name, CheckKind.ID_VALID_SHARE, "id_number"))
        if name not in NO_BLANK_ID_CEILING:
            out.append(Expectation(name, CheckKind.ID_BLANK_SHARE, "id_number"))
    for col in extract.columns:
        if col.kind in (Kind.DATE, Kind.MONTH):
            out.append(Expectation(
                name, CheckKind.DATE_IN_RANGE, col.name,
                earliest=EARLIEST.get((name, col.name), EARLIEST_DATE),
                latest=Bound.MONTH_END if col.kind is Kind.DATE else Bound.MONTH_START,
            ))
        if (name, col.name) in VALUE_SETS:
            out.append(Expectation(name, CheckKind.IN_SET, col.name, values=VALUE_SETS[(name, col.name)]))
        if (name, col.name) in PATTERNS:
            out.append(Expectation(name, CheckKind.PATTERN, col.name, pattern=PATTERNS[(name, col.name)]))
    if extract.key:
        out.append(Expectation(name, CheckKind.UNIQUE, extract.key))
    if name == "roster_members":
        out.append(Expectation(name, CheckKind.MEMBER_HOUSEHOLD_EXISTS, "household_id"))
    if name == "roster_households":
        out.append(Expectation(name, CheckKind.ONE_HEAD))
        out.append(Expectation(name, CheckKind.HAS_BENEFICIARY))
    out.append(Expectation(name, CheckKind.ROW_COUNT_SHRINK))
    out.append(Expectation(name, CheckKind.ROW_COUNT_GROWTH))
    if "id_number" in extract.names:
        out.append(Expectation(name, CheckKind.BLANK_ID_DRIFT, "id_number"))
        out.append(Expectation(name, CheckKind.INVALID_ID_DRIFT, "id_number"))
    return Suite(name, tuple(out))


SUITES: dict[str, Suite] = {name: build_suite(spec) for name, spec in EXTRACTS.items()}
