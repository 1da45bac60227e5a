"""The seeded sample generator: every extract of the contract, plus the known answers.

`generate(out_dir, households, seed, month)` writes one file per extract (mixed
formats and encodings, see `formats.PLAN`), `answers.csv` (what a correct run must
find, see `oracle.py`) and `sample.json` (a summary). The same arguments give the
same bytes. The `stress` profile adds the cases where linkage breaks and decoys
(`stress.py`). With `truth=True` it also writes `truth_links.parquet`, which registry
row is about which roster member (`oracle.truth_links`), for benchmarking linkage.

Steps: the roster (`roster.py`), planted registry rows about roster members
(`scenarios.py`), a vectorised background population several times the roster
size with its own registry rows (`background.py`), each extract shuffled and
numbered, the answers computed from the ground truth, then the files written.
"""

from __future__ import annotations

import csv
import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from connectors.schemas import EXTRACTS, REGISTRIES, Kind
from matching.policy import default_policy
from sample_data import formats, stress
from sample_data.background import Background, population
from sample_data.noise import NoiseDeck
from sample_data.oracle import ANSWER_COLUMNS, TRUTH_COLUMNS, compute_answers, sort_answers, truth_links
from sample_data.roster import World, build_households
from sample_data.scenarios import Rec, Scenarios

RECORD_PREFIX = {
    "deaths": "SW", "pensions": "YL", "unemployment": "SY", "housing_fund": "GJJ", "vehicles": "JDC",
    "properties": "BDC", "household_events": "HJBD", "marriages": "HY", "employment": "SB",
    "complaints": "JB", "staff": "GB", "hukou_members": "HK", "relative_filings": "BA",
}
BOOL_STYLES = (("是", "否"), ("Y", "N"), ("1", "0"), ("true", "false"))


@dataclass(frozen=True)
class Profile:
    name: str
    background_factor: float  # background people per roster member
    history_months: int  # months covered by the monthly registries
    bench: bool  # large extracts never as xlsx
    stress: bool = False  # hard linkage cases and decoys on top of the realistic stories (`stress.py`)


PROFILES = {
    "realistic": Profile("realistic", 4.0, 14, bench=False),
    "bench": Profile("bench", 13.0, 18, bench=True),
    "stress": Profile("stress", 4.0, 14, bench=False, stress=True),
}


def generate(out_dir: Path, households: int, seed: int, month: str, profile: str = "realistic",
             truth: bool = False) -> dict:
    """Write a sample data folder with known answers; return (and save as sample.json) its summary.

    `truth=True` also writes `truth_links.parquet` (not read by the loader)."""
    started = time.perf_counter()
    if profile not in PROFILES:
        raise ValueError(f"'profile' must be one of {', '.join(PROFILES)}, got {profile!r}")
    if not 20 <= households <= 1_000_000:
        raise ValueError(f"'households' must be between 20 and 1000000, got {households}")
    prof = PROFILES[profile]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    world = World(seed, month, default_policy())
    build_households(world, households)
    scen: Scenarios
    if prof.stress:
        scen = stress.scenarios(world, seed)
    else:
        scen = Scenarios(world, NoiseDeck(np.random.default_rng([seed, 2])))
    recs = scen.build()
    n_members = sum(len(h.members) for h in world.households)
    pop = population(np.random.default_rng([seed, 3]), int(n_members * prof.background_factor), world.as_of,
                     world.used_ids)
    bg = Background(np.random.default_rng([seed, 4]), pop, world.as_of, world.month_index, prof.history_months)

    files: dict[str, dict] = {}
    by_extract: dict[str, list[Rec]] = {name: [] for name in REGISTRIES}
    for rec in recs:
        by_extract[rec.extract].append(rec)
    for i, name in enumerate(REGISTRIES):
        planted = by_extract[name]
        df = _planted_frame(name, planted)
        if hasattr(bg, name):
            df = pl.concat([df, _conform(getattr(bg, name)(), name)], how="vertical")
        df = _shuffle_and_number(df, name, np.random.default_rng([seed, 5, i]))
        gt = df.filter(pl.col("_gt") >= 0).select("_gt", "record_id")
        for idx, rid in gt.iter_rows():
            planted[idx].record_id = rid
        files[name] = _write(df.drop("_gt"), name, out_dir, prof, seed, i)
        del df

    households_df, members_df = _roster_frames(world, np.random.default_rng([seed, 6]))
    files["roster_households"] = _write(households_df, "roster_households", out_dir, prof, seed, 20)
    files["roster_members"] = _write(members_df, "roster_members", out_dir, prof, seed, 21)

    answers = sort_answers(compute_answers(world, recs))
    with open(out_dir / "answers.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=ANSWER_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(answers)

    if truth:
        schema = {"member_index": pl.Int32()} | {c: pl.Utf8() for c in TRUTH_COLUMNS if c != "member_index"}
        pl.DataFrame(truth_links(world, recs), schema=schema).select(TRUTH_COLUMNS).write_parquet(
            out_dir / "truth_links.parquet")

    summary = _summary(world, prof, seed, pop.height, files, answers, recs)
    (out_dir / "sample.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return {**summary, "seconds": round(time.perf_counter() - started, 1)}


def _dtype(kind: Kind) -> pl.DataType:
    return {Kind.DATE: pl.Date(), Kind.MONTH: pl.Date(), Kind.DECIMAL: pl.Float64()}.get(kind, pl.Utf8())


def _planted_frame(name: str, recs: list[Rec]) -> pl.DataFrame:
    cols = [c for c in EXTRACTS[name].columns if c.name != "record_id"]
    data = {c.name: pl.Series(c.name, [r.values.get(c.name) for r in recs], dtype=_dtype(c.kind)) for c in cols}
    return pl.DataFrame({**data, "_gt": pl.Series("_gt", range(len(recs)), dtype=pl.Int64)})


def _conform(df: pl.DataFrame, name: str) -> pl.DataFrame:
    cols = [c for c in EXTRACTS[name].columns if c.name != "record_id"]
    return df.select([pl.col(c.name).cast(_dtype(c.kind)) if c.name in df.columns
                      else pl.lit(None, dtype=_dtype(c.kind)).alias(c.name) for c in cols]).with_columns(
        pl.lit(-1, dtype=pl.Int64).alias("_gt"))


def _shuffle_and_number(df: pl.DataFrame, name: str, rng: np.random.Generator) -> pl.DataFrame:
    df = df[rng.permutation(df.height)]
    width = max(7, len(str(df.height)))
    rid = pl.concat_str(pl.lit(RECORD_PREFIX[name]), pl.int_range(1, df.height + 1).cast(pl.Utf8).str.zfill(width))
    return df.with_columns(rid.alias("record_id")).select(["record_id", *[c for c in df.columns]])


def _write(df: pl.DataFrame, name: str, out_dir: Path, prof: Profile, seed: int, i: int) -> dict:
    fmt = formats.format_for(name, df.height, prof.bench)
    for suffix in ("csv", "xlsx", "parquet"):
        stale = out_dir / f"{name}.{suffix}"
        if suffix != fmt.suffix and stale.exists():  # never two files claiming one extract
            stale.unlink()
    path = formats.write_extract(df.select(EXTRACTS[name].names), name, out_dir, fmt,
                                 np.random.default_rng([seed, 7, i]))
    return {"file": path.name, "format": fmt.label, "headers": fmt.headers, "rows": df.height}


def _roster_frames(world: World, rng: np.random.Generator) -> tuple[pl.DataFrame, pl.DataFrame]:
    hh_rows, m_rows = [], []
    n_no = 0
    for hh in world.households:
        c = hh.community
        hh_rows.append({"household_id": hh.hid, "district_code": c.district_code, "street": c.street,
                        "community": c.name, "address": hh.address, "enrolled_on": hh.enrolled_on,
                        "benefit_monthly": hh.benefit, "status": hh.status})
        for m in hh.members:
            yes, no = BOOL_STYLES[rng.choice(4, p=(0.55, 0.15, 0.15, 0.15))]
            if not m.beneficiary:  # few rows say "no": cycle through the styles so that each appears
                no, n_no = BOOL_STYLES[n_no % len(BOOL_STYLES)][1], n_no + 1
            income = m.income if (m.income or rng.random() < 0.5) else None  # blank = 0
            m_rows.append({"household_id": hh.hid, "name": m.roster_name, "id_number": m.roster_id,
                           "relation": m.relation, "is_beneficiary": yes if m.beneficiary else no,
                           "monthly_income": income})
    schema_h = {c.name: _dtype(c.kind) for c in EXTRACTS["roster_households"].columns}
    schema_m = {c.name: (pl.Utf8() if c.kind is Kind.BOOL else _dtype(c.kind))
                for c in EXTRACTS["roster_members"].columns}
    return pl.DataFrame(hh_rows, schema=schema_h), pl.DataFrame(m_rows, schema=schema_m)


def _summary(world: World, prof: Profile, seed: int, n_background: int, files: dict, answers: list[dict],
             recs: list[Rec]) -> dict:
    findings = Counter(a["rule"] for a in answers if a["expected"] == "finding")
    planted = [r for r in recs if not r.lookalike and r.extract != "complaints"]
    identities = {(r.pid, r.extract): (r.id_noise, r.name_noise) for r in planted}
    return {
        "seed": seed, "month": world.month, "as_of": world.as_of.isoformat(), "profile": prof.name,
        "households": len(world.households), "households_active": sum(h.active for h in world.households),
        "members": sum(len(h.members) for h in world.households), "background_people": n_background,
        "extracts": {name: files[name] for name in EXTRACTS},
        "registry_rows": sum(files[name]["rows"] for name in REGISTRIES),
        "answers": {
            "finding": dict(sorted(findings.items())),
            "possible": sum(a["expected"] == "possible" for a in answers),
            "lookalike": dict(sorted(Counter(a["note"].split(":")[0] for a in answers if a["expected"] == "lookalike").items())),
        },
        "planted_identities": {
            "id_noise": dict(sorted(Counter(v[0] for v in identities.values()).items())),
            "name_noise": dict(sorted(Counter(v[1] for v in identities.values()).items())),
        },
    }
