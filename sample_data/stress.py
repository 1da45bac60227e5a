"""The stress profile (issue 19): the realistic stories, plus the cases where linkage breaks.

On top of everything `scenarios.py` plants, `StressScenarios`
1. first renames some households so that their names trip linkage (`rename_households`):
   compound surnames (欧阳, 司马, 诸葛…), surnames with a special reading (曾 zēng, 单 shàn,
   解 xiè, 仇 qiú, 区 ōu) and minority names with a middle dot (买买提·艾力);
2. types every planted identity with the stress deck (`stress_noise.StressDeck`);
3. plants, for each hard class in `TRUE_CLASSES`, members with a finding whose record
   carries exactly that slip: true matches a correct run finds (or, with a blank ID, shows
   as `possible`);
4. plants decoys (`DECOY_KINDS`): records of other people built to resemble a roster
   member, in a registry and month where a wrong link becomes a wrong finding. The answers
   list them as expected=lookalike, with the kind first in `note`.

Every rate is a share of the active households (at least `MINIMUM` each, so that a small
sample has every class), chosen from what registries hold before the matcher ever ran on
this profile. The names are over-sampled on purpose: compound and special-reading surnames
are a few in a thousand in a real city, here a few in a hundred, so that each class has
enough cases to measure.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from sample_data import people, places
from sample_data import stress_noise as sn
from sample_data.roster import Household, Member, Person, World
from sample_data.scenarios import Rec, Scenarios

MINIMUM = 3
# Household renames, as shares of all households.
COMPOUND_SHARE, READING_SHARE, MINORITY_SHARE = 0.03, 0.03, 0.02

# (id_noise, name_noise, share of active households): findings whose record has exactly these slips.
TRUE_CLASSES: tuple[tuple[str, str, float], ...] = (
    ("none", "lookalike_char", 0.02),  # 形近字 with the right ID
    ("none", "separator_dropped", 0.008),
    ("none", "separator_variant", 0.005),
    ("none", "compound_surname", 0.008),
    ("none", "surname_reading", 0.008),
    ("none", "char_missing", 0.006),
    ("none", "char_extra", 0.006),
    ("id15", "none", 0.01),
    ("id15_typo", "none", 0.01),
    ("typo2", "none", 0.006),
    (sn.ROSTER_TYPO, "none", 0.006),
    ("typo", "homophone", 0.008),  # several slips in one record
    ("swap", "homophone", 0.005),
    ("typo", "traditional", 0.005),
    ("swap", "traditional", 0.005),
    ("typo", "lookalike_char", 0.005),
    ("id15_typo", "homophone", 0.004),
    ("blank", "none", 0.006),  # expected=possible
)
DECOY_RATE = 0.008  # per kind
DECOY_KINDS: dict[str, str] = {
    "namesake_same_birth": "namesake_same_birth: same name, birth date and sex, born in another county; "
                           "the registry's ID (one digit mistyped) fails its check",
    "area_and_sequence": "area_and_sequence: same name, birth date and sex; a valid ID with another area code "
                         "and sequence",
    "namesake_id15": "namesake_id15: same name, birth date and sex, born elsewhere; an old 15-digit ID",
    "namesake_other_sex": "namesake_other_sex: same name, birth date and area, the other sex; a valid ID",
    "neighbour_id": "neighbour_id: a look-alike name (形近字) with a valid neighbouring ID (sequence ±2)",
    "relative": "relative: same surname and hukou (address), another given name and birth date",
}
_UNISEX_GIVEN = set("华平林明红军静丽东晶颖斌宇鑫飞波")


def _rename(hh: Household, surname: str) -> None:
    """Give the head's family (head, children, grandchildren sharing the head's surname) `surname`."""
    old = hh.members[0].person.name[0]
    for m in hh.members:
        if m.relation in ("户主", "子女", "孙子女") and m.person.name.startswith(old):
            m.person.name = surname + m.person.name[1:]
            m.roster_name = m.person.name


def rename_households(world: World, rng: np.random.Generator) -> None:
    """Compound, special-reading and minority names for a share of households (see the module doc)."""
    readings = list(sn.SURNAME_READINGS)
    for hh in world.households:
        head = hh.members[0]
        if "·" in head.person.name:
            continue
        draw = rng.random()
        if draw < COMPOUND_SHARE:
            _rename(hh, sn.COMPOUND_SURNAMES[int(rng.integers(len(sn.COMPOUND_SURNAMES)))])
        elif draw < COMPOUND_SHARE + READING_SHARE:
            _rename(hh, readings[int(rng.integers(len(readings)))])
        elif draw < COMPOUND_SHARE + READING_SHARE + MINORITY_SHARE:
            father = None
            for m in hh.members:
                m.person.name = people.minority_name(rng, m.person.male, father if m.relation == "子女" else None)
                m.roster_name = m.person.name
                if m.relation == "户主":
                    father = m.person.name.split("·")[0]


def scenarios(world: World, seed: int) -> StressScenarios:
    """The stress profile's scenarios for a freshly built world (renames its households first)."""
    rename_households(world, np.random.default_rng([seed, 8]))
    return StressScenarios(world, sn.StressDeck(np.random.default_rng([seed, 2])))


@dataclass
class StressScenarios(Scenarios):
    def stories(self, pol) -> None:
        super().stories(pol)
        self.true_classes(pol)
        self.decoys(pol)

    # ---- true matches with hard slips ---------------------------------------------------------
    def _rule_rows(self, age: int, beneficiary: bool, i: int, pol) -> tuple[str, list[dict]]:
        """Rows of a registry where this person's link is a finding: a death, a pension, a vehicle…"""
        fits = {0: beneficiary and age >= 45, 1: age >= 50, 2: 20 <= age <= 75, 3: age >= 25, 4: 22 <= age <= 58}
        options = [k for k, ok in fits.items() if ok] or [2]
        return self._lookalike_rows(options[i % len(options)], pol["lookback.pension_months"])

    def _eligible(self, m: Member, id_kind: str, name_kind: str) -> bool:
        p = m.person
        if not 20 <= self.age(m) <= 85 or m.roster_id != p.id18:
            return False
        if id_kind not in ("none", sn.ROSTER_TYPO) and id_kind not in sn.id_kinds_for(p.id18):
            return False
        return name_kind == "none" or name_kind in sn.name_kinds_for(p.name)

    def true_classes(self, pol) -> None:
        deck = self.deck
        assert isinstance(deck, sn.StressDeck)
        for id_kind, name_kind, share in TRUE_CLASSES:
            members = self.pick(self.k(share, MINIMUM),
                                lambda m, i=id_kind, n=name_kind: self._eligible(m, i, n))
            for j, m in enumerate(members):
                extract, rows = self._rule_rows(self.age(m), m.beneficiary, j, pol)
                if id_kind == sn.ROSTER_TYPO:
                    m.roster_id = sn.with_typo(m.person.id18, self.rng)
                typed_id, typed_name, _, _ = deck.force(m.person.pid, extract, m.person.id18, m.person.name,
                                                        id_kind, name_kind)
                for values in rows:
                    self.recs.append(Rec(extract, {"name": typed_name, "id_number": typed_id, **values},
                                         m.person.pid, id_kind, name_kind, note=f"stress {id_kind}/{name_kind}"))

    # ---- decoys -------------------------------------------------------------------------------
    def _other_area(self, area: str, near: bool) -> str:
        """Another birth area: with `near`, in the same prefecture (or province) when there is one."""
        codes = [a for a, _ in places.BIRTH_AREAS if a != area]
        if near:
            codes = ([a for a in codes if a[:4] == area[:4]] or [a for a in codes if a[:2] == area[:2]] or codes)
        return codes[int(self.rng.integers(len(codes)))]

    def _id(self, area: str, born: dt.date, seq: int) -> str:
        first17 = f"{area}{born:%Y%m%d}{seq:03d}"
        return first17 + sn.check_character(first17)

    def _namesake(self, p: Person, area: str, male: bool) -> Person:
        """A new person with `p`'s name and birth date, born in `area`, whose sequence differs from p's."""
        for _ in range(1000):
            seq = people.sequence_for(self.rng, male)
            cand = self._id(area, p.born, seq)
            if seq != int(p.id18[14:17]) and cand not in self.world.used_ids:
                return self.world.new_person(p.born, male, name=p.name, area=area, id18=cand)
        raise RuntimeError(f"no free sequence for a namesake in {area} {p.born}")

    def _neighbour(self, p: Person) -> Person | None:
        seq = int(p.id18[14:17])
        for step in (2, -2, 4, -4):
            if 0 <= seq + step <= 999 and (cand := self._id(p.area, p.born, seq + step)) not in self.world.used_ids:
                name = sn.apply_name(p.name, "lookalike_char", self.rng)
                return self.world.new_person(p.born, p.male, name=name, area=p.area, id18=cand)
        return None

    def _relative(self, m: Member) -> Person:
        """An older or younger relative in the same hukou: same surname, another given name and birth date."""
        p = m.person
        sur = 2 if p.name[:2] in sn.COMPOUND_SURNAMES else 1
        if self.age(m) < 55 and self.rng.random() < 0.5:  # a parent
            years = int(self.rng.integers(22, 32))
        else:  # an older or younger brother or sister
            years = int(self.rng.integers(2, 9)) * (1 if self.rng.random() < 0.5 else -1)
        born = people.years_before(p.born, years) - dt.timedelta(days=int(self.rng.integers(1, 300)))
        male = bool(self.rng.random() < 0.5)
        hh = self.household(m)
        taken = {x.person.name for x in hh.members}  # brothers and sisters are not named alike
        name = p.name
        while name in taken:
            name = p.name[:sur] + people.random_given(self.rng, male)
        other = self.world.new_person(born, male, name=name, area=p.area)
        self.add_raw("hukou_members", {"name": other.name, "id_number": other.id18, "hukou_no": hh.hukou_no,
                                       "relation": "父母" if years > 20 else "兄弟姐妹"}, other.pid)
        return other

    def _decoy(self, kind: str, m: Member) -> tuple[Person, str, str, str] | None:
        """(the other person, typed ID, id_noise, name_noise) for one decoy of `kind` resembling m."""
        p = m.person
        if kind == "namesake_same_birth":
            other = self._namesake(p, self._other_area(p.area, near=True), p.male)
            return other, sn.with_typo(other.id18, self.rng), "typo", "none"
        if kind == "area_and_sequence":
            other = self._namesake(p, self._other_area(p.area, near=False), p.male)
            return other, other.id18, "none", "none"
        if kind == "namesake_id15":
            other = self._namesake(p, self._other_area(p.area, near=False), p.male)
            return other, sn.id15_of(other.id18), "id15", "none"
        if kind == "namesake_other_sex":
            other = self._namesake(p, p.area, not p.male)
            return other, other.id18, "none", "none"
        if kind == "neighbour_id":
            found = self._neighbour(p)
            return None if found is None else (found, found.id18, "none", "lookalike_char")
        other = self._relative(m)
        return other, other.id18, "none", "none"

    def _decoy_target(self, kind: str, m: Member) -> bool:
        name = m.person.name
        if not m.beneficiary or not 25 <= self.age(m) <= 85 or "·" in name or not 2 <= len(name) <= 4:
            return False
        if kind == "namesake_id15":
            return "id15" in sn.id_kinds_for(m.person.id18)
        if kind == "namesake_other_sex":
            return name[-1] in _UNISEX_GIVEN
        if kind == "neighbour_id":
            return any(ch in sn.LOOKALIKES for ch in name)
        return True

    def decoys(self, pol) -> None:
        for kind in DECOY_KINDS:
            targets = self.pick(self.k(DECOY_RATE, MINIMUM), lambda m, kind=kind: self._decoy_target(kind, m))
            for i, m in enumerate(targets):
                made = self._decoy(kind, m)
                if made is None:
                    continue
                other, typed_id, id_noise, name_noise = made
                extract, rows = self._rule_rows(self.age(m), True, i, pol)
                for values in rows:
                    rec = self.add_raw(extract, {"name": other.name, "id_number": typed_id, **values}, other.pid,
                                       lookalike=kind, resembles=m, note=DECOY_KINDS[kind])
                    rec.id_noise, rec.name_noise = id_noise, name_noise
