"""The ground truth of people and dibao households (the roster), built one household at a time."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from matching.policy import Policy
from sample_data import people, places


@dataclass
class Person:
    pid: int
    name: str
    id18: str
    born: dt.date
    male: bool
    area: str


@dataclass
class Member:
    person: Person
    household_id: str
    relation: str
    beneficiary: bool
    income: float
    roster_id: str  # as typed on the roster
    roster_name: str


@dataclass
class Household:
    hid: str
    community: places.Community
    address: str
    enrolled_on: dt.date
    status: str
    hukou_no: str
    members: list[Member] = field(default_factory=list)
    benefit: float = 0.0

    @property
    def active(self) -> bool:
        return self.status == "在保"


class World:
    """Everything the scenarios and the oracle share: clock, policy, people, households."""

    def __init__(self, seed: int, month: str, policy: Policy) -> None:
        year, mon = people.parse_month(month)
        self.month = month
        self.as_of = people.last_day(year, mon)
        self.month_index = year * 12 + mon - 1
        self.policy = policy
        self.seed = seed
        self.rng = np.random.default_rng([seed, 1])
        self.persons: list[Person] = []
        self.used_ids: set[str] = set()
        self.households: list[Household] = []
        self.communities = places.communities()
        self._area_codes = [a for a, _ in places.BIRTH_AREAS]
        w = np.array([w for _, w in places.BIRTH_AREAS], dtype=float)
        self._area_p = w / w.sum()

    # ---- people ----
    def new_person(self, born: dt.date, male: bool, name: str | None = None, area: str | None = None,
                   id18: str | None = None) -> Person:
        rng = self.rng
        if area is None:
            area = self._area_codes[rng.choice(len(self._area_codes), p=self._area_p)]
        if id18 is None:
            id18 = people.new_id(rng, area, born, male, self.used_ids)
        else:
            self.used_ids.add(id18)
        person = Person(len(self.persons), name or people.random_name(rng, male), id18, born, male, area)
        self.persons.append(person)
        return person

    def person_of_age(self, age: int, male: bool | None = None, **kw) -> Person:
        if male is None:
            male = bool(self.rng.random() < 0.5)
        return self.new_person(people.birth_for_age(self.rng, max(age, 0), self.as_of), male, **kw)

    def lookback(self, months: int) -> list[int]:
        """Month indexes of the run month and the months-1 before it."""
        return [self.month_index - i for i in range(months)]

    def members_of_active(self) -> list[Member]:
        return [m for h in self.households if h.active for m in h.members]


_KINDS = (("single_elder", 20), ("single_adult", 10), ("elder_couple", 12), ("single_parent", 18),
          ("couple_kids", 20), ("three_gen", 12), ("with_parents", 6), ("siblings", 2))


Slot = tuple[str, int, "bool | None"]  # relation, age, male (None: either)


def _composition(rng: np.random.Generator) -> list[Slot]:
    """(relation, age, male or None for any) of each member, the head first."""
    kinds, w = zip(*_KINDS, strict=True)
    kind = kinds[rng.choice(len(kinds), p=np.array(w) / sum(w))]
    r = lambda lo, hi: int(rng.integers(lo, hi + 1))  # noqa: E731
    if kind == "single_elder":
        return [("户主", r(60, 88), None)]
    if kind == "single_adult":
        return [("户主", r(32, 59), None)]
    if kind == "elder_couple":
        head = r(60, 85)
        return [("户主", head, True), ("配偶", max(55, head + r(-6, 3)), False)]
    if kind == "single_parent":
        head = r(28, 55)
        single: list[Slot] = [("户主", head, None)]
        return single + [("子女", max(0, head - r(20, 36)), None) for _ in range(r(1, 2))]
    if kind == "couple_kids":
        head = r(30, 55)
        kids: list[Slot] = [("子女", max(0, head - r(21, 38)), None) for _ in range(r(1, 3))]
        couple: list[Slot] = [("户主", head, True), ("配偶", head + r(-5, 2), False)]
        return couple + kids
    if kind == "three_gen":
        head = r(50, 70)
        child = head - r(22, 32)
        out: list[Slot] = [("户主", head, True)]
        if rng.random() < 0.7:
            out.append(("配偶", head + r(-5, 2), False))
        out.append(("子女", child, None))
        out += [("孙子女", max(0, child - r(20, 32)), None) for _ in range(r(1, 2))]
        return out[:6]
    if kind == "with_parents":
        head = r(30, 52)
        out = [("户主", head, None)]
        out += [("父母", head + r(22, 34), m) for m in (True, False)[: r(1, 2)]]
        if rng.random() < 0.5:
            out.append(("子女", max(0, head - r(22, 35)), None))
        return out
    head = r(40, 65)
    return [("户主", head, None), ("兄弟姐妹", head + r(-8, 8), None)]


def _address(rng: np.random.Generator, community: places.Community) -> str:
    road = places.ROADS[community.district_code][int(rng.integers(len(places.ROADS[community.district_code])))]
    stem = places.ESTATE_STEMS[int(rng.integers(len(places.ESTATE_STEMS)))]
    estate = places.ESTATES[int(rng.integers(len(places.ESTATES)))]
    return (f"{places.CITY}{community.district}{road}{int(rng.integers(1, 400))}号{stem}{estate}"
            f"{int(rng.integers(1, 30))}栋{int(rng.integers(1, 6))}单元{int(rng.integers(1, 28))}"
            f"{int(rng.integers(1, 9)):02d}室")


def _enrolled_on(rng: np.random.Generator, as_of: dt.date) -> dt.date:
    earliest = dt.date(1999, 1, 1)
    span = (as_of - earliest).days
    back = int(rng.exponential(365 * 6))
    if back > span:
        back = int(rng.integers(0, span + 1))
    return as_of - dt.timedelta(days=back)


def build_households(world: World, n: int) -> None:
    """`n` roster households with their members; about 5% are 停保."""
    rng = world.rng
    weights = rng.uniform(0.5, 1.5, size=len(world.communities))
    comm_idx = rng.choice(len(world.communities), size=n, p=weights / weights.sum())
    serial: dict[str, int] = {}
    for i in range(n):
        community = world.communities[int(comm_idx[i])]
        code = community.district_code
        serial[code] = serial.get(code, 0) + 1
        hid = f"DB{code}{serial[code]:05d}"
        status = "停保" if rng.random() < 0.05 else "在保"
        hh = Household(hid, community, _address(rng, community), _enrolled_on(rng, world.as_of), status,
                       hukou_no=f"{code}{700000 + i:07d}")
        comp = _composition(rng)
        minority = i % 40 == 17  # a few families with minority names (买买提·艾力)
        head_person = None
        for relation, age, male in comp:
            if male is None:
                male = bool(rng.random() < 0.5)
            if relation in ("子女", "孙子女") and age < 35 and rng.random() < 0.8:
                area = code  # born in the city
            else:
                area = None
            name = None
            if minority:
                father: str | None = head_person.name.split("·")[0] if head_person and relation == "子女" else None
                name = people.minority_name(rng, male, father)
            elif head_person is not None and relation in ("子女", "孙子女") and "·" not in head_person.name:
                name = head_person.name[0] + people.random_given(rng, male)
            person = world.person_of_age(age, male, name=name, area=area)
            if relation == "户主":
                head_person = person
            typed = person.id18
            if rng.random() < 0.02:  # the roster is clean, but not spotless
                typed = person.id18.lower() if person.id18.endswith("X") else f"{person.id18[:6]} {person.id18[6:]}"
            hh.members.append(Member(person, hid, relation, True, 0.0, typed, person.name))
        _incomes(world, hh)
        world.households.append(hh)


def _incomes(world: World, hh: Household) -> None:
    """Beneficiaries (mostly everyone) and small declared incomes, kept well below the standard."""
    rng = world.rng
    standard = world.policy.standard_for(hh.community.district_code)
    adults = [m for m in hh.members if 18 <= people.age_on(m.person.born, world.as_of) < 60]
    for m in hh.members:
        age = people.age_on(m.person.born, world.as_of)
        if 18 <= age < 60 and rng.random() < 0.4:
            m.income = float(rng.integers(2, 10) * 100)
        elif age >= 60 and rng.random() < 0.25:
            m.income = float(rng.integers(1, 5) * 100)
    if len(hh.members) >= 3 and adults and rng.random() < 0.12:
        worker = adults[int(rng.integers(len(adults)))]
        worker.beneficiary = False
    cap = 0.7 * standard * len(hh.members)
    total = sum(m.income for m in hh.members)
    if total > cap:
        for m in hh.members:
            m.income = float(int(m.income * cap / total / 10) * 10)
    set_benefit(world, hh)


def set_benefit(world: World, hh: Household) -> None:
    standard = world.policy.standard_for(hh.community.district_code)
    n = len(hh.members)
    per_capita = sum(m.income for m in hh.members) / n
    n_ben = sum(m.beneficiary for m in hh.members)
    hh.benefit = float(max(30, round((standard - per_capita) * n_ben)))
