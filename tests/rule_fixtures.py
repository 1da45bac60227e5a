"""A tiny in-memory world for rule tests: build raw tables row by row, then run the pipeline."""

from __future__ import annotations

import datetime as dt
import itertools

import duckdb

from connectors.load import ensure_tables
from connectors.schemas import EXTRACTS
from matching.ids import make_id
from matching.linkage import link_month
from matching.policy import Policy, default_policy
from matching.rules import RunContext, run_rules
from matching.staging import stage

MONTH = "2026-10"
_seq = itertools.count(100)


def person_id(born: dt.date = dt.date(1960, 5, 6), area: str = "420102") -> str:
    return make_id(area, born, next(_seq))


class World:
    def __init__(self, month: str = MONTH) -> None:
        self.month = month
        self.con = duckdb.connect()
        ensure_tables(self.con)
        self.rows = 0
        self.present: set[str] = {"roster_households", "roster_members"}

    def add(self, extract: str, **values) -> str:
        self.rows += 1
        schema = EXTRACTS[extract]
        if "record_id" in schema.names and "record_id" not in values:
            values["record_id"] = f"{extract[:3].upper()}{self.rows:05d}"
        cols = ["run_month", *values, "_source_file", "_row_number"]
        self.con.execute(f"INSERT INTO raw_{extract} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                         [self.month, *values.values(), f"{extract}.csv", self.rows + 1])
        self.present.add(extract)
        return values.get("record_id", "")

    def household(self, hid: str, members: list[tuple[str, str]], *, community: str = "花园社区",
                  district: str = "420102", enrolled: dt.date = dt.date(2025, 1, 1), status: str = "在保",
                  incomes: list[float] | None = None, beneficiaries: list[bool] | None = None) -> None:
        self.add("roster_households", household_id=hid, district_code=district, street="一元街道",
                 community=community, address="解放大道1号", enrolled_on=enrolled, benefit_monthly=500.0,
                 status=status)
        for i, (name, pid) in enumerate(members):
            self.add("roster_members", household_id=hid, name=name, id_number=pid,
                     relation="户主" if i == 0 else "子女",
                     is_beneficiary=True if beneficiaries is None else beneficiaries[i],
                     monthly_income=0.0 if incomes is None else incomes[i])

    def run(self, policy: Policy | None = None, present: set[str] | None = None) -> list[tuple]:
        policy = policy or default_policy()
        ctx = RunContext(self.month, policy, frozenset(present or self.present | set(
            e for e in EXTRACTS if EXTRACTS[e].required)))
        stage(self.con, self.month, ctx.as_of.isoformat())
        link_month(self.con, self.month, policy)
        run_rules(self.con, ctx)
        return self.con.execute(
            "SELECT rule, household_id, id_number, match_class FROM flags ORDER BY rule, household_id").fetchall()

    def findings(self, rule: str) -> list[tuple[str, str | None]]:
        return self.con.execute(
            "SELECT household_id, id_number FROM flags WHERE rule = ? AND match_class IN ('exact', 'probable') "
            "ORDER BY 1, 2 NULLS FIRST", [rule]).fetchall()
