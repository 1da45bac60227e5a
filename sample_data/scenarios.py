"""Registry rows about roster members (and their look-alikes), written one at a time.

For each rule this module plants rows that should trigger it, near misses that
must not, and look-alike records of other people. It decides nothing about the
answers: `oracle.py` applies the contract's rules to whatever was planted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from matching.ids import check_character, make_id
from sample_data import people, places
from sample_data.noise import CLEAN_ID_KINDS, ID_KINDS, NoiseDeck, apply_id, apply_name, id_kinds_for
from sample_data.roster import Household, Member, Person, World, set_benefit

NO_BLANK = tuple(k for k in ID_KINDS if k != "blank")


@dataclass
class Rec:
    """One planted registry row with its ground truth."""

    extract: str
    values: dict  # the extract's columns except record_id (name and id_number as typed)
    pid: int | None  # the true person the row is about (None: nobody we model)
    id_noise: str = "none"
    name_noise: str = "none"
    lookalike: str = ""  # a/b/c/d (or a stress decoy kind, `stress.DECOY_KINDS`) when the row imitates a member
    resembles: Member | None = None
    record_id: str = ""
    note: str = ""


@dataclass
class Scenarios:
    world: World
    deck: NoiseDeck
    recs: list[Rec] = field(default_factory=list)
    used: set[int] = field(default_factory=set)  # pids given a planted story
    reserved: set[str] = field(default_factory=set)  # household ids kept out of member stories
    staff: list[Person] = field(default_factory=list)
    household_notes: dict[str, str] = field(default_factory=dict)  # household-level stories (R08)

    # ---- helpers -----------------------------------------------------------------------------
    @property
    def rng(self) -> np.random.Generator:
        return self.world.rng

    def k(self, rate: float, minimum: int) -> int:
        n_active = sum(h.active for h in self.world.households)
        return max(minimum, int(round(rate * n_active)))

    def age(self, m: Member) -> int:
        return people.age_on(m.person.born, self.world.as_of)

    def household(self, m: Member) -> Household:
        return self._hh[m.household_id]

    def pick(self, k: int, pred=lambda m: True, active: bool = True, mark: bool = True) -> list[Member]:
        pool = [m for h in self.world.households if h.active == active and h.hid not in self.reserved
                for m in h.members if m.person.pid not in self.used and pred(m)]
        order = self.rng.permutation(len(pool))
        out = [pool[i] for i in order[:k]]
        if mark:
            self.used.update(m.person.pid for m in out)
        return out

    def pick_households(self, k: int, pred=lambda h: True, active: bool = True) -> list[Household]:
        pool = [h for h in self.world.households if h.active == active and h.hid not in self.reserved
                and all(m.person.pid not in self.used for m in h.members) and pred(h)]
        order = self.rng.permutation(len(pool))
        out = [pool[i] for i in order[:k]]
        self.reserved.update(h.hid for h in out)
        return out

    def add(self, extract: str, person: Person, values: dict, id_allowed: tuple[str, ...] = ID_KINDS,
            name_noise: bool = True, note: str = "") -> Rec:
        typed_id, typed_name, id_kind, name_kind = self.deck.typed(
            person.pid, extract, person.id18, person.name, id_allowed, name_noise)
        rec = Rec(extract, {"name": typed_name, "id_number": typed_id, **values}, person.pid, id_kind, name_kind,
                  note=note)
        self.recs.append(rec)
        return rec

    def add_raw(self, extract: str, values: dict, pid: int | None, lookalike: str = "",
                resembles: Member | None = None, note: str = "") -> Rec:
        rec = Rec(extract, values, pid, lookalike=lookalike, resembles=resembles, note=note)
        self.recs.append(rec)
        return rec

    def month(self, back: int) -> dt.date:
        return people.month_date(self.world.month_index - back)

    def day_back(self, lo: int, hi: int) -> dt.date:
        return self.world.as_of - dt.timedelta(days=int(self.rng.integers(lo, hi + 1)))

    def set_age(self, m: Member, age: int) -> None:
        """Give a member a new birth date (and so a new ID) before any row names them."""
        p = m.person
        self.world.used_ids.discard(p.id18)
        p.born = people.birth_for_age(self.rng, age, self.world.as_of)
        p.id18 = people.new_id(self.rng, p.area, p.born, p.male, self.world.used_ids)
        m.roster_id = p.id18

    # ---- the plan ----------------------------------------------------------------------------
    def build(self) -> list[Rec]:
        self._hh = {h.hid: h for h in self.world.households}
        self.stories(self.world.policy)
        self.other_staff(); self.everyday(); self.hukou()  # noqa: E702
        return self.recs

    def stories(self, pol) -> None:
        """Every planted story; a profile that plants more (`stress.py`) adds its own after these."""
        self.boundaries(pol)
        self.x01(); self.x02(); self.x03(); self.r08(pol)  # noqa: E702
        self.r01(); self.r02(pol); self.r03(pol); self.r04(pol); self.r05(pol); self.r06(pol)  # noqa: E702
        self.r07(pol); self.r09(pol); self.lookalikes(pol); self.r12()  # noqa: E702

    def boundaries(self, pol) -> None:
        """R10 and R07/R11 edge cases that need a specific date, age or beneficiary count."""
        as_of = self.world.as_of
        years = pol["long_enrolment_years"]
        hhs = self.pick_households(2)
        if len(hhs) == 2:
            hhs[0].enrolled_on = people.years_before(as_of, years)  # exactly on the limit: a finding
            hhs[1].enrolled_on = people.years_before(as_of, years) + dt.timedelta(days=1)  # one day short
        self.reserved.difference_update(h.hid for h in hhs)
        big = self.pick_households(1, lambda h: len(h.members) >= 5)
        for hh in big:  # 5+ members but only max_beneficiaries beneficiaries: no R11
            for m in hh.members[pol["max_beneficiaries"]:]:
                m.beneficiary = False
            set_benefit(self.world, hh)
        self.reserved.difference_update(h.hid for h in big)

    # ---- member-level rules ---------------------------------------------------------------------
    def r01(self) -> None:
        for m in self.pick(self.k(0.02, 3), lambda m: m.beneficiary and self.age(m) >= 45):
            self.add("deaths", m.person, {"death_date": self.day_back(0, 700)}, note="R01 death")
        for m in self.pick(2, lambda m: m.beneficiary and self.age(m) >= 45):  # reported after as-of
            self.add("deaths", m.person, {"death_date": self.world.as_of + dt.timedelta(days=int(self.rng.integers(1, 20)))},
                     note="R01 near miss: death after as-of")
        for m in self.pick(1, lambda m: not m.beneficiary):
            self.add("deaths", m.person, {"death_date": self.day_back(10, 300)}, note="R01 near miss: not a beneficiary")
        for m in self.pick(1, lambda m: m.beneficiary, active=False):
            self.add("deaths", m.person, {"death_date": self.day_back(10, 300)}, note="R01 near miss: 停保 household")

    def _monthly(self, extract: str, person: Person, months: list[int], make, **kw) -> None:
        for back in months:
            self.add(extract, person, make(self.month(back)), **kw)

    def r02(self, pol) -> None:
        n = pol["lookback.pension_months"]
        for m in self.pick(self.k(0.03, 3), lambda m: self.age(m) >= 50):
            amount = float(self.rng.integers(150, 420) * 10)
            last = int(self.rng.integers(0, min(3, n)))
            self._monthly("pensions", m.person, list(range(last, last + int(self.rng.integers(2, 10)))),
                          lambda mo, amount=amount: {"pay_month": mo, "amount": amount}, note="R02 pension")
        for m in self.pick(2, lambda m: self.age(m) >= 50):  # stopped just before the look-back
            amount = float(self.rng.integers(150, 420) * 10)
            self._monthly("pensions", m.person, list(range(n, n + 4)),
                          lambda mo, amount=amount: {"pay_month": mo, "amount": amount}, note="R02 near miss: pension before look-back")

    def r03(self, pol) -> None:
        n = pol["lookback.unemployment_months"]
        for m in self.pick(self.k(0.02, 2), lambda m: 20 <= self.age(m) <= 58):
            amount = float(self.rng.integers(150, 190) * 10)
            last = int(self.rng.integers(0, n))
            self._monthly("unemployment", m.person, list(range(last, last + int(self.rng.integers(1, 7)))),
                          lambda mo, amount=amount: {"pay_month": mo, "amount": amount}, note="R03 unemployment")
        for m in self.pick(1, lambda m: 20 <= self.age(m) <= 58):
            self._monthly("unemployment", m.person, list(range(n, n + 3)),
                          lambda mo: {"pay_month": mo, "amount": 1650.0}, note="R03 near miss: before look-back")

    def r04(self, pol) -> None:
        n = pol["lookback.housing_fund_months"]
        employers = places.LOCAL_EMPLOYERS
        for m in self.pick(self.k(0.03, 3), lambda m: 22 <= self.age(m) <= 58):
            employer = employers[int(self.rng.integers(len(employers)))]
            amount = float(self.rng.integers(20, 200) * 10)
            last = int(self.rng.integers(0, n))
            self._monthly("housing_fund", m.person, list(range(last, last + int(self.rng.integers(1, 13)))),
                          lambda mo, employer=employer, amount=amount: {"employer": employer, "contribution_month": mo,
                                                                        "amount": amount},
                          note="R04 housing fund")
        for m in self.pick(2, lambda m: 31 <= self.age(m) <= 58):
            self._monthly("housing_fund", m.person, list(range(n, n + 6)),
                          lambda mo: {"employer": employers[0], "contribution_month": mo, "amount": 300.0},
                          note="R04 near miss: before look-back")

    def _vehicle(self, vtype: str, status: str) -> dict:
        plate = "鄂A" + "".join(self.rng.choice(list("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"), size=5))
        return {"plate": plate, "vehicle_type": vtype, "registered_on": self.day_back(200, 5000), "status": status}

    def r05(self, pol) -> None:
        flagged = ("K33", "K31", "K32", "H31", "H11", "Q11", "Z11")
        for i, m in enumerate(self.pick(self.k(0.03, 3), lambda m: 20 <= self.age(m) <= 75)):
            self.add("vehicles", m.person, self._vehicle(flagged[i % len(flagged)], "正常"), note="R05 vehicle")
        near = (("K33", "注销"), ("H31", "报废"), ("M21", "正常"), ("N11", "正常"), ("T11", "正常"))
        for (vtype, status), m in zip(near, self.pick(len(near), lambda m: 20 <= self.age(m) <= 75), strict=False):
            self.add("vehicles", m.person, self._vehicle(vtype, status), note=f"R05 near miss: {vtype} {status}")

    def _property(self, use: str, status: str) -> dict:
        year = int(self.rng.integers(2005, self.world.as_of.year + 1))
        return {"certificate_no": f"鄂({year})武汉市不动产权第{int(self.rng.integers(1, 9999999)):07d}号",
                "use": use, "area": float(self.rng.integers(300, 1500)) / 10 if use == "住宅" else
                float(self.rng.integers(120, 900)) / 10,
                "registered_on": self.day_back(100, 6000), "status": status}

    def r06(self, pol) -> None:
        uses = pol["properties.flag_uses"]
        for i, m in enumerate(self.pick(self.k(0.02, 2), lambda m: self.age(m) >= 25)):
            self.add("properties", m.person, self._property(uses[i % len(uses)], "现势"), note="R06 business property")
        for m in self.pick(1, lambda m: self.age(m) >= 25):
            self.add("properties", m.person, self._property("商业", "注销"), note="R06 near miss: 注销 shop")
        limit = pol["properties.max_homes"]
        for hh in self.pick_households(self.k(0.02, 2), lambda h: any(people.age_on(m.person.born, self.world.as_of)
                                                                          >= 25 for m in h.members)):
            owners = [m for m in hh.members if self.age(m) >= 25]
            for j in range(limit + 1):
                owner = owners[j % len(owners)]
                self.add("properties", owner.person, self._property("住宅", "现势"), id_allowed=NO_BLANK,
                         note="R06 homes")
        for hh in self.pick_households(1, lambda h: any(people.age_on(m.person.born, self.world.as_of)
                                                            >= 25 for m in h.members)):
            owner = next(m for m in hh.members if self.age(m) >= 25)
            self.add("properties", owner.person, self._property("住宅", "现势"), id_allowed=NO_BLANK,
                     note="R06 near miss: one current home")
            for _ in range(limit):
                self.add("properties", owner.person, self._property("住宅", "注销"), id_allowed=NO_BLANK,
                         note="R06 near miss: the other home is 注销")

    def _employment(self, person: Person, months: list[int], city: str, note: str) -> None:
        employers = places.AWAY_EMPLOYERS.get(city, places.LOCAL_EMPLOYERS)
        employer = employers[int(self.rng.integers(len(employers)))]
        self._monthly("employment", person, months,
                      lambda mo: {"employer": employer, "city_code": city, "contribution_month": mo}, note=note)

    def _local_city(self) -> str:
        return places.LOCAL_CITY_CODES[int(self.rng.integers(len(places.LOCAL_CITY_CODES)))]

    def r07(self, pol) -> None:
        as_of = self.world.as_of
        for i, m in enumerate(self.pick(self.k(0.015, 2), lambda m: self.age(m) >= 16)):
            start = self.household(m).enrolled_on
            when = start if i == 0 else start + dt.timedelta(days=int(self.rng.integers(0, (as_of - start).days + 1)))
            self.add("household_events", m.person, {"event_type": ("迁出", "人户分离")[i % 2], "event_date": when},
                     note="R07 moved")
        for m in self.pick(1, lambda m: self.age(m) >= 30):
            when = self.household(m).enrolled_on - dt.timedelta(days=int(self.rng.integers(30, 1500)))
            self.add("household_events", m.person, {"event_type": "人户分离", "event_date": when},
                     note="R07 near miss: before enrolment")
        for m in self.pick(self.k(0.015, 2), lambda m: self.age(m) >= 25):
            start = self.household(m).enrolled_on
            when = start + dt.timedelta(days=int(self.rng.integers(0, (as_of - start).days + 1)))
            self._marriage(m, "离婚", when, "R07 divorce")
        for m in self.pick(2, lambda m: self.age(m) >= 30):
            when = self.household(m).enrolled_on - dt.timedelta(days=int(self.rng.integers(30, 2000)))
            self._marriage(m, "离婚", when, "R07 near miss: divorce before enrolment")
        for m in self.pick(1, lambda m: self.age(m) >= 25):
            self._marriage(m, "结婚", self.day_back(0, 300), "R07 near miss: marriage, not divorce")
        # graduates now employed
        lookback = pol["lookback.employment_months"]
        need = pol["graduate_min_months"]
        top = pol["graduate_age_max"]
        young = self.pick(self.k(0.02, 2), lambda m: 16 <= self.age(m) <= top)
        edge = self.pick(2, lambda m: top - 2 <= self.age(m) <= top + 3 and m.relation in ("子女", "户主"))
        if edge:
            self.set_age(edge[0], top)  # exactly the top age: still a finding
            young.append(edge[0])
        for m in young:
            months = sorted(self.rng.choice(lookback, size=int(self.rng.integers(need, lookback + 1)), replace=False))
            self._employment(m.person, [int(x) for x in months], self._local_city(), "R07 graduate employed")
        if len(edge) > 1:
            self.set_age(edge[1], top + 1)  # one year older: no finding
            self._employment(edge[1].person, list(range(0, 8)), self._local_city(), "R07 near miss: aged over graduate max")
        for m in self.pick(1, lambda m: 16 <= self.age(m) <= top):
            self._employment(m.person, list(range(need - 1)), self._local_city(), "R07 near miss: too few months")

    def _marriage(self, m: Member, kind: str, when: dt.date, note: str) -> None:
        spouse = self.world.person_of_age(self.age(m) + int(self.rng.integers(-4, 5)), not m.person.male)
        self.add("marriages", m.person, {"event_type": kind, "event_date": when, "spouse_name": spouse.name,
                                         "spouse_id_number": spouse.id18}, note=note)

    def r09(self, pol) -> None:
        lookback = pol["lookback.employment_months"]
        need = pol["migrant_work_min_months"]
        away = places.AWAY_CITY_CODES
        for m in self.pick(self.k(0.015, 2), lambda m: pol["graduate_age_max"] < self.age(m) <= 55):
            months = sorted(self.rng.choice(lookback, size=int(self.rng.integers(need, lookback + 1)), replace=False))
            self._employment(m.person, [int(x) for x in months], away[int(self.rng.integers(len(away)))],
                             "R09 working away")
        for m in self.pick(2, lambda m: pol["graduate_age_max"] < self.age(m) <= 55):
            city = away[int(self.rng.integers(len(away)))]
            self._employment(m.person, list(range(need - 1)) + list(range(lookback, lookback + 3)), city,
                             "R09 near miss: one month short of working away")

    def r08(self, pol) -> None:
        """Declared income at, above and just below the standard (no pension or benefit in these households)."""
        hhs = self.pick_households(self.k(0.02, 2) + 3)
        for i, hh in enumerate(hhs):
            standard = self.world.policy.standard_for(hh.community.district_code)
            n = len(hh.members)
            if i == 0:
                total, note = standard * n, "R08 exactly at the standard"
            elif i in (1, 2):
                total, note = standard * n - 1, "R08 near miss: just below the standard"
            else:
                total, note = float(int(standard * n * self.rng.uniform(1.0, 1.6) / 10) * 10), "R08 above the standard"
            head = hh.members[0]
            for m in hh.members[1:]:
                m.income = min(m.income, 0.0 if i < 3 else m.income)
            head.income = float(total - sum(m.income for m in hh.members[1:]))
            set_benefit(self.world, hh)
            self.household_notes[hh.hid] = note
            for m in hh.members:
                self.used.add(m.person.pid)

    # ---- cross-checks ------------------------------------------------------------------------------
    def _staff_row(self, person: Person, hh_comm: places.Community) -> None:
        role = ("低保经办人员", "社区干部")[int(self.rng.integers(2))]
        org = f"{hh_comm.street}办事处" if role == "低保经办人员" else f"{hh_comm.name}居民委员会"
        self.add("staff", person, {"org": org, "role": role}, id_allowed=CLEAN_ID_KINDS)
        self.staff.append(person)

    def x01(self) -> None:
        near = max(2, self.k(0.012, 2) // 3)
        chosen = self.pick_households(self.k(0.012, 2) + near)
        for i, hh in enumerate(chosen):
            staff = self.world.person_of_age(int(self.rng.integers(25, 55)))
            self._staff_row(staff, hh.community)
            self.add("hukou_members", staff, {"hukou_no": hh.hukou_no, "relation": "其他"}, id_allowed=CLEAN_ID_KINDS)
            if i < near:  # near miss: every beneficiary of the household is on file
                for m in hh.members:
                    if m.beneficiary:
                        self.add("relative_filings", m.person,
                                 {"staff_id_number": staff.id18, "staff_name": staff.name,
                                  "filed_on": hh.enrolled_on}, id_allowed=CLEAN_ID_KINDS,
                                 note="X01 near miss: relative on file")
        self._x01_households = {h.hid for h in chosen}

    def other_staff(self) -> None:
        """Street-office and community staff elsewhere; some filed relatives who are not in their hukou."""
        for comm in self.world.communities[:: max(1, len(self.world.communities) // 25)]:
            for _ in range(2):
                self._staff_row(self.world.person_of_age(int(self.rng.integers(24, 58))), comm)
        staff = self.staff[-3:]
        for person, m in zip(staff, self.pick(len(staff), lambda m: m.beneficiary, mark=False), strict=False):
            self.add("relative_filings", m.person, {"staff_id_number": person.id18, "staff_name": person.name,
                                                    "filed_on": self.day_back(100, 2000)},
                     id_allowed=CLEAN_ID_KINDS, note="filed relative, staff not in the hukou")

    def x02(self) -> None:
        """The same person on two active households' rosters (typed differently on the second)."""
        k = self.k(0.008, 2)
        for j, p in enumerate(self.pick(k + 1, lambda m: 20 <= self.age(m) <= 70)):
            others = self.pick_households(1, lambda h, p=p: h.hid != p.household_id, active=(j < k))
            if not others:
                continue
            target = others[0]
            kinds = [x for x in ("id15", "spaces", "fullwidth") if x != "id15" or "id15" in id_kinds_for(p.person.id18)]
            typed = apply_id(p.person.id18, kinds[j % len(kinds)], self.rng)
            name = apply_name(p.person.name, "traditional", self.rng) if j % 2 else p.person.name
            target.members.append(Member(p.person, target.hid, "其他", True, 0.0, typed, name))
            set_benefit(self.world, target)
            self.reserved.add(p.household_id)

    def x03(self) -> None:
        """Roster IDs that are not valid: bad check character, impossible birth date, wrong length."""
        for i, m in enumerate(self.pick(self.k(0.012, 3))):
            text = m.person.id18
            if i % 3 == 0:
                good = text[17]
                m.roster_id = text[:17] + next(c for c in "0123456789X" if c != good)
            elif i % 3 == 1:
                first17 = text[:10] + ("0230" if text[10:14] != "0230" else "1332") + text[14:17]
                m.roster_id = first17 + check_character(first17)
            else:
                m.roster_id = text[:9] + text[10:]
            self.reserved.add(m.household_id)

    def r12(self) -> None:
        as_of = self.world.as_of
        contents = ("反映该户家中有人在外务工收入较高", "反映该户购买了小轿车", "反映该户家庭成员已去世仍在领取低保",
                    "反映该户有多套住房", "反映该户长期不在本社区居住")
        hhs = [h for h in self.world.households if h.active and h.hid not in self.reserved]
        order = self.rng.permutation(len(hhs))
        k = self.k(0.02, 3)
        for i, idx in enumerate(order[:k]):
            hh = hhs[int(idx)]
            m = hh.members[int(self.rng.integers(len(hh.members)))]
            base = {"received_on": self.day_back(0, 500), "content": contents[i % len(contents)],
                    "community": hh.community.name}
            if i % 3 == 0:
                row = {"name": m.roster_name, "id_number": "", "household_id": hh.hid, **base}
            elif i % 3 == 1:
                row = {"name": m.person.name, "id_number": m.person.id18, "household_id": "", **base}
            else:
                row = {"name": m.person.name, "id_number": "", "household_id": "", **base}
            self.add_raw("complaints", row, m.person.pid, note="R12 complaint")
        # near misses: a same-name person in another community; received after as-of; a 停保 household
        if k < len(order):
            hh = hhs[int(order[k])]
            m = hh.members[0]
            other = next(c for c in self.world.communities if c.name != hh.community.name)
            stranger = self.world.person_of_age(self.age(m), m.person.male, name=m.person.name)
            self.add_raw("complaints", {"name": m.person.name, "id_number": "", "household_id": "",
                                        "received_on": self.day_back(0, 300), "community": other.name,
                                        "content": contents[0]}, stranger.pid,
                         note="R12 near miss: same name, another community")
        if k + 1 < len(order):
            hh = hhs[int(order[k + 1])]
            self.add_raw("complaints", {"name": hh.members[0].person.name, "id_number": "", "household_id": hh.hid,
                                        "received_on": as_of + dt.timedelta(days=3), "community": hh.community.name,
                                        "content": contents[1]}, hh.members[0].person.pid,
                         note="R12 near miss: received after as-of")
        stopped = [h for h in self.world.households if not h.active]
        if stopped:
            hh = stopped[0]
            self.add_raw("complaints", {"name": hh.members[0].person.name, "id_number": "", "household_id": hh.hid,
                                        "received_on": self.day_back(0, 300), "community": hh.community.name,
                                        "content": contents[2]}, hh.members[0].person.pid,
                         note="R12 near miss: 停保 household")

    # ---- look-alikes ---------------------------------------------------------------------------
    def lookalikes(self, pol) -> None:
        """Records of other people that resemble a roster member (kinds a-d, see the module doc)."""
        pm = pol["lookback.pension_months"]
        targets = self.pick(self.k(0.04, 8), lambda m: m.beneficiary and self.age(m) >= 25)
        for i, m in enumerate(targets):
            kind = "abcd"[i % 4]
            p = m.person
            if kind == "a":
                other = self.world.person_of_age(self.age(m) + int(self.rng.integers(-15, 16)), p.male, name=p.name)
                typed_id, typed_name = other.id18, p.name
            elif kind == "b":
                seq = int(p.id18[14:17])
                for step in (2, -2, 4, -4, 6):
                    nseq = seq + step
                    cand = make_id(p.id18[:6], p.born, nseq) if 0 <= nseq <= 999 else ""
                    if cand and cand[:16] == p.id18[:16] and cand not in self.world.used_ids:
                        break
                else:
                    continue
                other = self.world.new_person(p.born, p.male, area=p.area, id18=cand,
                                              name=_unrelated_name(self.rng, p.name, p.male))
                typed_id, typed_name = other.id18, other.name
            elif kind == "c":
                other = self.world.person_of_age(self.age(m) + int(self.rng.integers(-20, 20)), not p.male,
                                                 name=_unrelated_name(self.rng, p.name, not p.male))
                typed_id, typed_name = p.id18, other.name
            else:
                shift = int(self.rng.integers(1, 12)) * (1 if self.rng.random() < 0.5 else -1)
                born = people.years_before(p.born, shift) - dt.timedelta(days=int(self.rng.integers(1, 200)))
                other = self.world.new_person(born, p.male, name=p.name, area=p.area)
                typed_id, typed_name = other.id18, p.name
            extract, rows = self._lookalike_rows(i, pm)
            for values in rows:
                self.add_raw(extract, {"name": typed_name, "id_number": typed_id, **values}, other.pid,
                             lookalike=kind, resembles=m, note=f"lookalike {kind}")

    def _lookalike_rows(self, i: int, pm: int) -> tuple[str, list[dict]]:
        choice = i % 5
        if choice == 0:
            return "deaths", [{"death_date": self.day_back(5, 400)}]
        if choice == 1:
            return "pensions", [{"pay_month": self.month(b), "amount": 2600.0} for b in range(min(pm, 3))]
        if choice == 2:
            return "vehicles", [self._vehicle("K33", "正常")]
        if choice == 3:
            return "properties", [self._property("商业", "现势")]
        return "housing_fund", [{"employer": places.LOCAL_EMPLOYERS[1], "contribution_month": self.month(b),
                                 "amount": 800.0} for b in range(2)]

    # ---- everyday rows that trigger nothing ------------------------------------------------------------
    def everyday(self) -> None:
        rng, as_of = self.rng, self.world.as_of
        homes = {r.pid for r in self.recs if r.extract == "properties"}
        for hh in self.world.households:
            if hh.hid in self.reserved:
                continue
            free = [m for m in hh.members if m.person.pid not in self.used]
            head = hh.members[0]
            if head.person.pid not in homes and head in free and rng.random() < 0.35:
                self.add("properties", head.person, self._property("住宅", "现势"), id_allowed=NO_BLANK)
            spouse = next((m for m in hh.members if m.relation == "配偶"), None)
            if spouse is not None and head in free and spouse in free and rng.random() < 0.3:
                when = min(hh.enrolled_on, as_of) - dt.timedelta(days=int(rng.integers(400, 9000)))
                self.add("marriages", head.person, {"event_type": "结婚", "event_date": when,
                                                    "spouse_name": spouse.person.name,
                                                    "spouse_id_number": spouse.person.id18})
            for m in free:
                age = self.age(m)
                if 31 <= age <= 59 and rng.random() < 0.12:
                    months = sorted(rng.choice(12, size=int(rng.integers(2, 12)), replace=False))
                    self._employment(m.person, [int(x) for x in months], self._local_city(), "local work, over 30")
                if 18 <= age <= 70 and rng.random() < 0.04:
                    self.add("vehicles", m.person, self._vehicle("M22", "正常"))

    def hukou(self) -> None:
        """Every roster person in the population register, in their household's hukou."""
        seen: set[int] = {r.pid for r in self.recs if r.extract == "hukou_members" and r.pid is not None}
        x01: set[str] = getattr(self, "_x01_households", set())
        for hh in self.world.households:
            for m in hh.members:
                if m.person.pid in seen:
                    continue
                seen.add(m.person.pid)
                allowed = CLEAN_ID_KINDS if hh.hid in x01 else ID_KINDS
                self.add("hukou_members", m.person, {"hukou_no": hh.hukou_no, "relation": m.relation},
                         id_allowed=allowed)
        for i, person in enumerate(self.staff):
            if person.pid not in seen:
                seen.add(person.pid)
                self.add("hukou_members", person, {"hukou_no": f"4201{90000000 + i:08d}", "relation": "户主"},
                         id_allowed=CLEAN_ID_KINDS)


def _unrelated_name(rng: np.random.Generator, name: str, male: bool) -> str:
    """A name sharing no character and no surname sound with `name`."""
    from matching.names import surname_pinyin

    for _ in range(100):
        cand = people.random_name(rng, male)
        if not set(cand) & set(name) and surname_pinyin(cand) != surname_pinyin(name):
            return cand
    return "欧阳" + people.random_given(rng, male)
