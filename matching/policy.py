"""The policy file (`policy.toml`): every number a rule, the linkage or a quality gate uses.

Each knob is declared once in `KNOBS` with its type, default and allowed range.
`load_policy` reads a TOML file over the defaults and stops with one line naming
the key for an unknown key, a wrong type or an out-of-range value. The resolved
policy (`Policy.as_dict()`) is stored with each run.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.errors import DibaoError


class PolicyError(DibaoError):
    """The policy file is unreadable, or names an unknown key, a wrong type or an out-of-range value."""


@dataclass(frozen=True)
class Knob:
    key: str  # dotted path, e.g. "lookback.pension_months"
    kind: type | tuple[type, ...]
    default: Any
    meaning: str
    check: Callable[[Any], bool] | None = None
    allowed: str = ""  # human statement of the allowed range, used in the error


def _between(lo: float, hi: float) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: lo <= v <= hi), f"between {lo:g} and {hi:g}"


def _knob(key: str, kind, default, meaning: str, rng: tuple[float, float] | None = None) -> Knob:
    check, allowed = _between(*rng) if rng else (None, "")
    return Knob(key, kind, default, meaning, check, allowed)


_STR_LIST = list
MAX_AMOUNT = 100_000  # yuan per person per month: any standard above is a typing error
KNOBS: tuple[Knob, ...] = (
    _knob("standard.default", (int, float), 800, "保障标准, yuan per person per month", (1, MAX_AMOUNT)),
    Knob("standard.by_district", dict, {}, "district_code -> yuan, overrides the default",
         lambda d: all(isinstance(k, str) and len(k) == 6 and k.isdigit() and isinstance(v, int | float)
                       and not isinstance(v, bool) and 1 <= v <= MAX_AMOUNT for k, v in d.items()),
         f"a table of 6-digit district codes to amounts between 1 and {MAX_AMOUNT:,}"),
    _knob("lookback.pension_months", int, 6, "R02/R08: months of pension payments that count", (1, 60)),
    _knob("lookback.unemployment_months", int, 6, "R03/R08: months of unemployment payments that count", (1, 60)),
    _knob("lookback.housing_fund_months", int, 12, "R04: months of housing-fund contributions that count", (1, 60)),
    _knob("lookback.employment_months", int, 12, "R07/R09: months of employment contributions that count", (1, 60)),
    Knob("vehicles.flag_type_prefixes", _STR_LIST, ["K", "H", "Q", "Z"],
         "R05: GA 24.4 vehicle-type prefixes that flag", lambda v: all(isinstance(x, str) and x for x in v),
         "a list of non-empty strings"),
    Knob("properties.flag_uses", _STR_LIST, ["商业", "商服", "营业", "车库", "车位", "仓储", "仓库", "办公", "工业"],
         "R06: property uses that flag", lambda v: all(isinstance(x, str) and x for x in v), "a list of non-empty strings"),
    _knob("properties.max_homes", int, 1, "R06: more active 住宅 than this across the household flags", (0, 100)),
    _knob("long_enrolment_years", int, 3, "R10: years on dibao that flag", (1, 50)),
    _knob("max_beneficiaries", int, 3, "R11: flags more beneficiaries than this", (1, 50)),
    _knob("migrant_work_min_months", int, 6, "R09: months of contributions outside the prefecture", (1, 60)),
    _knob("graduate_age_max", int, 30, "R07: members aged 16 to this with 3+ months of employment", (16, 100)),
    _knob("graduate_min_months", int, 3, "R07: distinct months of employment that flag a young member", (1, 60)),
    # Linkage (issue 3): posterior match probability thresholds.
    # Posterior probabilities: the linkage turns `possible` into a weight, log2(p / (1 - p)), so
    # it must lie strictly inside (0, 1); below 0.001 every common name would be opened to
    # name-only comparison (issue 21 ran the pipeline at both ends of each range).
    _knob("linkage.probable_threshold", float, 0.8, "a fuzzy link at or above this is 'probable' (a finding)",
          (0.5, 1)),
    _knob("linkage.possible_threshold", float, 0.01, "a fuzzy link at or above this is 'possible' (review list)",
          (0.001, 0.99)),
    _knob("linkage.name_jaro_winkler", float, 0.88, "name similarity level threshold", (0, 1)),
    # --- worklists (issue 20, reports/): where findings go and when they come back ---
    _knob("worklists.return_day", int, 20, "worklists come back by this day of the month after the run month",
          (1, 28)),
    Knob("worklists.street_desk_rules", _STR_LIST, ["X01"],
         "rules whose findings name a staff member: sent to the street office's own workbook, never the community's",
         lambda v: all(isinstance(x, str) and len(x) == 3 and x[0] in "RX" and x[1:].isdigit() for x in v),
         "a list of rule codes such as 'X01'"),
    _knob("notice.period_days", int, 7, "公示期: days a public notice stays posted, from the day it is written",
          (1, 60)),
    Knob("notice.objection_phone", str, "", "the phone number a public notice gives for objections ('' = none given)",
         lambda v: len(v) <= 40 and all(c.isdigit() or c in " -()（）转" for c in v),
         "a phone number of at most 40 characters (digits, spaces, dashes, brackets, 转)"),
    # --- quality gate (issue 5, expectations/): floors, ceilings, drift limits, severities ---
    _knob("quality.min_valid_id_share", float, 0.70, "share of non-blank 身份证号 that must be valid", (0, 1)),
    _knob("quality.max_blank_id_share", float, 0.50, "share of rows whose 身份证号 may be blank", (0, 1)),
    _knob("quality.max_quarantine_share", float, 0.05, "share of an extract's input rows the loader may quarantine",
          (0, 1)),
    _knob("quality.max_shrink_share", float, 0.30, "an extract may shrink by at most this share vs its previous run",
          (0, 1)),
    _knob("quality.max_growth_share", float, 1.00, "an extract may grow by at most this share vs its previous run",
          (0, 1000)),
    _knob("quality.max_id_share_rise", float, 0.10,
          "blank or invalid 身份证号 share may rise by at most this (absolute) vs the previous run", (0, 1)),
    _knob("quality.escalate_bad_share", float, 0.20,
          "a row-level warning failing on more than this share of rows becomes critical", (0, 1)),
    Knob("quality.severity", dict, {
        "present": "warning", "has_rows": "critical", "columns_present": "critical", "not_blank": "warning",
        "id_valid_share": "critical", "id_blank_share": "warning", "date_in_range": "warning",
        "in_set": "warning", "pattern": "warning", "unique": "warning", "roster_households.unique": "critical",
        "member_household_exists": "warning", "one_head": "warning", "has_beneficiary": "warning",
        "quarantine_share": "critical", "row_count_shrink": "critical", "row_count_growth": "warning",
        "blank_id_drift": "warning", "invalid_id_drift": "warning",
    }, "expectation kind (or 'extract.kind') -> 'critical' (stops the run) or 'warning'; keys not given keep "
       "their default",
         lambda d: all(isinstance(k, str) and v in ("critical", "warning") for k, v in d.items()),
         "a table of expectation kinds to 'critical' or 'warning'"),
    # --- end quality gate ---
)

_BY_KEY = {k.key: k for k in KNOBS}


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and path not in _BY_KEY:
            out.update(_flatten(value, path + "."))
        else:
            out[path] = value
    return out


class Policy:
    """The resolved policy: defaults overlaid by the file. Read with `policy["lookback.pension_months"]`."""

    def __init__(self, values: dict[str, Any], source: str = "defaults") -> None:
        self._values = values
        self.source = source

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def standard_for(self, district_code: str) -> float:
        return float(self._values["standard.by_district"].get(district_code, self._values["standard.default"]))

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def to_json(self) -> str:
        return json.dumps(self._values, ensure_ascii=False, sort_keys=True)


def _finite(value: Any) -> bool:
    """A number DuckDB and Python's float can both hold: not inf or nan (TOML's 1e400 is inf),
    no integer wider than a float."""
    if isinstance(value, bool):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, int):
        return abs(value) < 2 ** 53
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


def _shown(value: Any) -> str:
    """The offending value for the one-line error, cut short when it is long (a 300-digit amount)."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}… ({len(text)} characters)"


def _check(knob: Knob, value: Any, where: str) -> None:
    ok_type = isinstance(value, knob.kind) and not (isinstance(value, bool) and knob.kind is not bool)
    if knob.kind == (int, float) and isinstance(value, int | float) and not isinstance(value, bool):
        ok_type = True
    if knob.kind is float and isinstance(value, int) and not isinstance(value, bool):
        ok_type = True
    if not ok_type:
        names = knob.kind.__name__ if isinstance(knob.kind, type) else " or ".join(t.__name__ for t in knob.kind)
        raise PolicyError(f"{where}: '{knob.key}' must be {names}, got {_shown(value)}")
    if not _finite(value):
        raise PolicyError(f"{where}: '{knob.key}' must be a finite number{' ' + knob.allowed if knob.allowed else ''}, "
                          f"got {_shown(value)}")
    if knob.check is not None and not knob.check(value):
        raise PolicyError(f"{where}: '{knob.key}' must be {knob.allowed}, got {_shown(value)}")


def default_policy() -> Policy:
    return Policy({k.key: k.default for k in KNOBS})


def load_policy(path: str | Path | None) -> Policy:
    """Defaults, overlaid by the TOML file at `path` when given."""
    values = {k.key: k.default for k in KNOBS}
    if path is None:
        return Policy(values)
    path = Path(path)
    if path.is_dir():
        raise PolicyError(f"{path}: '--policy' must be a policy file, this is a folder")
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError(f"{path}: policy file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: not a valid TOML file ({exc})") from None
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read the policy file ({exc.strerror})") from None
    for key, value in _flatten(table).items():
        knob = _BY_KEY.get(key)
        if knob is None:
            raise PolicyError(f"{path}: unknown key '{key}' (known keys: see README, section Policy)")
        _check(knob, value, str(path))
        values[key] = float(value) if knob.kind is float else value
    if values["linkage.possible_threshold"] > values["linkage.probable_threshold"]:
        raise PolicyError(f"{path}: 'linkage.possible_threshold' must not exceed 'linkage.probable_threshold'")
    return Policy(values, str(path))
