"""The known answers: the contract's rules applied to the generator's ground truth.

Independent of `matching/rules` and the linkage on purpose. A registry row is
"linked" to a roster member when it truly is about that person (the generator
knows) and carries an ID; a true row with a blank ID can only be `possible`.
Look-alike rows are about other people and never count.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from matching.ids import IdStatus, normalize
from matching.names import simplified
from sample_data import people
from sample_data.noise import ID_NOISE_ORDER
from sample_data.roster import Household, Member, World
from sample_data.scenarios import Rec

ANSWER_COLUMNS = ("rule", "household_id", "id_number", "expected", "source", "source_record_id",
                  "id_noise", "name_noise", "note")
LOOKALIKE_KINDS = {
    "a": "a: same name, another valid ID",
    "b": "b: neighbouring valid ID, another name",
    "c": "c: this member's ID typed with an unrelated name",
    "d": "d: same name and area, another birth date",
}
TRUTH_COLUMNS = ("source", "record_id", "household_id", "member_index", "member_id_number", "kind", "id_noise",
                 "name_noise")
LOOKALIKE_RULE = {"deaths": "R01", "pensions": "R02", "unemployment": "R03", "housing_fund": "R04",
                  "vehicles": "R05", "properties": "R06", "employment": "R09"}


@dataclass
class Evidence:
    source: str
    record_id: str
    id_noise: str
    name_noise: str
    note: str

    @property
    def blank(self) -> bool:
        return self.id_noise == "blank"


def norm_id(raw: str, as_of: dt.date) -> str:
    return normalize(raw, today=as_of).text


def compute_answers(world: World, recs: list[Rec]) -> list[dict]:
    pol, as_of = world.policy, world.as_of
    ev: dict[tuple[str, str, str], list[Evidence]] = defaultdict(list)
    active = [h for h in world.households if h.active]
    by_pid: dict[int, list[tuple[Household, Member]]] = defaultdict(list)
    for hh in active:
        for m in hh.members:
            by_pid[m.person.pid].append((hh, m))

    def key(rule: str, hh: Household, m: Member | None) -> tuple[str, str, str]:
        return (rule, hh.hid, norm_id(m.roster_id, as_of) if m is not None else "")

    def hit(rule: str, hh: Household, m: Member | None, rec: Rec | None, note: str = "",
            source: str = "") -> None:
        if rec is None:
            ev[key(rule, hh, m)].append(Evidence(source, "", "none", "none", note))
        else:
            ev[key(rule, hh, m)].append(Evidence(rec.extract, rec.record_id, rec.id_noise, rec.name_noise,
                                                 note or rec.note))

    windows = {n: set(world.lookback(pol[n])) for n in (
        "lookback.pension_months", "lookback.unemployment_months", "lookback.housing_fund_months",
        "lookback.employment_months")}
    prefixes = tuple(pol["vehicles.flag_type_prefixes"])
    income: dict[str, float] = defaultdict(float)  # household -> linked monthly pension/benefit
    homes: dict[str, list[Rec]] = defaultdict(list)
    work: dict[tuple[str, int, bool], list[Rec]] = defaultdict(list)  # (hid, pid, blank) -> rows
    hukou_rows: dict[str, set[int]] = defaultdict(set)
    staff_pids, filed_pids = set(), set()
    member_hukou: dict[int, list[Rec]] = defaultdict(list)

    for rec in recs:
        if rec.lookalike or rec.pid is None:
            continue
        v, blank = rec.values, rec.id_noise == "blank"
        if rec.extract == "staff" and not blank:
            staff_pids.add(rec.pid)
        elif rec.extract == "relative_filings" and not blank:
            filed_pids.add(rec.pid)
        elif rec.extract == "hukou_members" and not blank:
            hukou_rows[v["hukou_no"]].add(rec.pid)
            member_hukou[rec.pid].append(rec)
        for hh, m in by_pid.get(rec.pid, ()):
            x = rec.extract
            if x == "deaths" and m.beneficiary and v["death_date"] <= as_of:
                hit("R01", hh, m, rec)
            elif x == "pensions" and people.month_index(v["pay_month"]) in windows["lookback.pension_months"]:
                hit("R02", hh, m, rec)
                if not blank:
                    income[hh.hid] += v["amount"] / pol["lookback.pension_months"]
            elif x == "unemployment" and people.month_index(v["pay_month"]) in windows["lookback.unemployment_months"]:
                hit("R03", hh, m, rec)
                if not blank:
                    income[hh.hid] += v["amount"] / pol["lookback.unemployment_months"]
            elif x == "housing_fund" and people.month_index(v["contribution_month"]) in windows[
                    "lookback.housing_fund_months"]:
                hit("R04", hh, m, rec)
            elif x == "vehicles" and v["status"] == "正常" and v["vehicle_type"].startswith(prefixes):
                hit("R05", hh, m, rec)
            elif x == "properties" and v["status"] == "现势":
                if v["use"] in pol["properties.flag_uses"]:
                    hit("R06", hh, m, rec)
                elif v["use"] == "住宅" and not blank:
                    homes[hh.hid].append(rec)
            elif x == "household_events" and v["event_type"] in ("迁出", "人户分离") and v["event_date"] >= hh.enrolled_on:
                hit("R07", hh, m, rec)
            elif x == "marriages" and v["event_type"] == "离婚" and v["event_date"] >= hh.enrolled_on:
                hit("R07", hh, m, rec)
            elif x == "employment" and people.month_index(v["contribution_month"]) in windows[
                    "lookback.employment_months"]:
                work[(hh.hid, m.person.pid, blank)].append(rec)

    hh_by_id = {h.hid: h for h in active}
    member_by = {(h.hid, m.person.pid): m for h in active for m in h.members}
    for (hid, pid, _blank), rows in work.items():
        hh, m = hh_by_id[hid], member_by[(hid, pid)]
        age = people.age_on(m.person.born, as_of)
        months = {people.month_index(r.values["contribution_month"]) for r in rows}
        if 16 <= age <= pol["graduate_age_max"] and len(months) >= pol["graduate_min_months"]:
            hit("R07", hh, m, rows[0], note=f"graduate employed {len(months)} months")
        away = {people.month_index(r.values["contribution_month"]) for r in rows
                if r.values["city_code"][:4] != hh.community.district_code[:4]}
        if len(away) >= pol["migrant_work_min_months"]:
            hit("R09", hh, m, next(r for r in rows if r.values["city_code"][:4] != hh.community.district_code[:4]),
                note=f"{len(away)} months away")

    for hh in active:
        n = len(hh.members)
        if len({r.record_id for r in homes[hh.hid]}) > pol["properties.max_homes"]:
            hit("R06", hh, None, homes[hh.hid][0], note=f"{len(homes[hh.hid])} homes")
        declared = sum(m.income for m in hh.members)
        per_capita = (declared + income[hh.hid]) / n
        if per_capita >= pol.standard_for(hh.community.district_code) - 1e-9:
            hit("R08", hh, None, None, note=f"per capita {per_capita:.2f}",
                source="pensions" if income[hh.hid] else "roster_members")
        if hh.enrolled_on <= people.years_before(as_of, pol["long_enrolment_years"]):
            hit("R10", hh, None, None, note=f"enrolled {hh.enrolled_on}", source="roster_households")
        if sum(m.beneficiary for m in hh.members) > pol["max_beneficiaries"]:
            hit("R11", hh, None, None, source="roster_members")
        for m in hh.members:
            st = normalize(m.roster_id, today=as_of).status
            if st in (IdStatus.BAD_FORMAT, IdStatus.BAD_DATE, IdStatus.BAD_CHECK):
                hit("X03", hh, m, None, note=st.value, source="roster_members")
            if m.beneficiary and m.person.pid not in filed_pids:
                for hrec in member_hukou.get(m.person.pid, ()):
                    if hukou_rows[hrec.values["hukou_no"]] & (staff_pids - {m.person.pid}):
                        hit("X01", hh, m, hrec)
                        break
            if len(by_pid[m.person.pid]) > 1:
                others = ",".join(h.hid for h, _ in by_pid[m.person.pid] if h.hid != hh.hid)
                hit("X02", hh, m, None, note=f"also in {others}", source="roster_members")

    _complaints(world, recs, active, hit)
    return _rows(ev) + _lookalike_rows(world, recs)


def _complaints(world: World, recs: list[Rec], active: list[Household], hit) -> None:
    as_of = world.as_of
    by_hid = {h.hid: h for h in active}
    by_id: dict[str, list[Household]] = defaultdict(list)
    by_name: dict[tuple[str, str], list[Household]] = defaultdict(list)
    for hh in active:
        for m in hh.members:
            by_id[norm_id(m.roster_id, as_of)].append(hh)
            by_name[(simplified(m.roster_name), hh.community.name)].append(hh)
    for rec in recs:
        if rec.extract != "complaints" or rec.values["received_on"] > as_of:
            continue
        v = rec.values
        hid, raw_id = (v.get("household_id") or "").strip(), v.get("id_number") or ""
        named: list[Household] = []
        if hid:
            named += [by_hid[hid]] if hid in by_hid else []
        ident = normalize(raw_id, today=as_of)
        if ident.is_valid:
            named += by_id.get(ident.text, [])
        if not hid and ident.status is IdStatus.BLANK and v.get("name"):
            named += by_name.get((simplified(v["name"]), v.get("community") or ""), [])
        for hh in {h.hid: h for h in named}.values():
            hit("R12", hh, None, rec)


def _rows(ev: dict[tuple[str, str, str], list[Evidence]]) -> list[dict]:
    out = []
    for (rule, hid, idn), items in ev.items():
        linked = [e for e in items if not e.blank]
        expected = "finding" if linked else "possible"
        best = min(linked or items, key=lambda e: (ID_NOISE_ORDER.index(e.id_noise), e.name_noise != "none",
                                                   e.record_id))
        out.append({"rule": rule, "household_id": hid, "id_number": idn, "expected": expected,
                    "source": best.source, "source_record_id": best.record_id, "id_noise": best.id_noise,
                    "name_noise": best.name_noise, "note": best.note})
    return out


def _lookalike_rows(world: World, recs: list[Rec]) -> list[dict]:
    out = []
    for rec in recs:
        if rec.lookalike and rec.resembles is not None:
            m = rec.resembles
            out.append({"rule": LOOKALIKE_RULE.get(rec.extract, ""), "household_id": m.household_id,
                        "id_number": norm_id(m.roster_id, world.as_of), "expected": "lookalike",
                        "source": rec.extract, "source_record_id": rec.record_id, "id_noise": rec.id_noise,
                        "name_noise": rec.name_noise, "note": LOOKALIKE_KINDS.get(rec.lookalike, rec.note)})
    return out


def sort_answers(rows: list[dict]) -> list[dict]:
    order = {"finding": 0, "possible": 1, "lookalike": 2}
    return sorted(rows, key=lambda r: (order[r["expected"]], r["rule"], r["household_id"], r["id_number"],
                                       r["source"], r["source_record_id"]))


def truth_links(world: World, recs: list[Rec]) -> list[dict]:
    """Which planted registry row is about which roster member: the pairs a linkage should find.

    One row per (registry row, roster member) for every household, active or not (a
    person on two rosters gives two rows). `kind` is 'true' (the row is about this
    member and carries an ID, however mistyped), 'blank_id' (about this member, ID
    left blank) or 'lookalike' (about someone else who resembles this member: a
    link to it is wrong). `member_index` is the member's 1-based place in its
    household on the roster (the `#n` of `stg_members.member_key`); `id_noise` and
    `name_noise` say how the row's ID and name were typed (`noise.ID_KINDS`).
    """
    members: dict[int, list[tuple[Household, int, Member]]] = defaultdict(list)
    by_hid = {hh.hid: hh for hh in world.households}
    for hh in world.households:
        for i, m in enumerate(hh.members, start=1):
            members[m.person.pid].append((hh, i, m))
    out = []
    for rec in recs:
        if rec.lookalike:
            if rec.resembles is None:
                continue
            m = rec.resembles
            hh = by_hid[m.household_id]
            targets = [(hh, hh.members.index(m) + 1, m)]
            kind = "lookalike"
        elif rec.pid is not None:
            targets = members.get(rec.pid, [])
            kind = "blank_id" if rec.id_noise == "blank" else "true"
        else:
            continue
        for hh, i, m in targets:
            out.append({"source": rec.extract, "record_id": rec.record_id, "household_id": hh.hid,
                        "member_index": i, "member_id_number": norm_id(m.roster_id, world.as_of), "kind": kind,
                        "id_noise": rec.id_noise, "name_noise": rec.name_noise})
    return sorted(out, key=lambda r: (r["source"], r["record_id"], r["household_id"], r["member_index"]))
