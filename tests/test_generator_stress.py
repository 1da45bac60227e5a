"""The stress profile: every hard class and decoy kind is planted, is what it says, and a run accepts it.

No linkage score is asserted here: the profile is the measure, not the measured.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from opencc import OpenCC
from pypinyin import lazy_pinyin

from matching.policy import default_policy
from sample_data import noise, stress
from sample_data import stress_noise as sn
from sample_data.generator import generate
from sample_data.roster import World, build_households

HOUSEHOLDS, SEED, MONTH = 600, 19, "2026-09"
STRESS_ID = {"id15", "id15_typo", "typo2", "roster_typo", "typo", "swap"}
STRESS_NAME = {"lookalike_char", "separator_dropped", "separator_variant", "compound_surname", "surname_reading",
               "char_missing", "char_extra", "homophone", "traditional"}


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("stress")
    return out, generate(out, HOUSEHOLDS, SEED, MONTH, profile="stress")


@pytest.fixture(scope="module")
def truth():
    """The ground truth of the same sample, rebuilt in-process the way `generate` builds it."""
    world = World(SEED, MONTH, default_policy())
    build_households(world, HOUSEHOLDS)
    scen = stress.scenarios(world, SEED)
    return world, scen.build()


def _answers(folder: Path) -> list[dict]:
    with open(folder / "answers.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _kind(answer: dict) -> str:
    return answer["note"].split(":")[0]


def _diff(a: str, b: str) -> int:
    return sum(x != y for x, y in zip(a, b, strict=True))


def _one_removed(short: str, long: str) -> bool:
    return len(long) == len(short) + 1 and any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def test_every_class_and_decoy_kind_is_in_the_answers(sample):
    folder, summary = sample
    answers = _answers(folder)
    findings = [a for a in answers if a["expected"] == "finding"]
    ids, names = Counter(a["id_noise"] for a in findings), Counter(a["name_noise"] for a in findings)
    assert STRESS_ID <= set(ids), ids
    assert STRESS_NAME <= set(names), names
    pairs = {(a["id_noise"], a["name_noise"]) for a in findings}
    for combined in [("typo", "homophone"), ("swap", "homophone"), ("typo", "traditional"),
                     ("swap", "traditional"), ("typo", "lookalike_char"), ("id15_typo", "homophone")]:
        assert combined in pairs, combined
    assert any(a["expected"] == "possible" and a["id_noise"] == "blank" for a in answers)
    kinds = Counter(_kind(a) for a in answers if a["expected"] == "lookalike")
    assert set(stress.DECOY_KINDS) | set("abcd") <= set(kinds), kinds
    assert all(kinds[k] >= stress.MINIMUM for k in stress.DECOY_KINDS), kinds
    assert summary["profile"] == "stress"
    assert set(summary["answers"]["lookalike"]) == set(kinds)


def test_decoys_are_lookalikes_and_never_evidence(sample):
    folder, _ = sample
    answers = _answers(folder)
    decoy_rows = {(a["source"], a["source_record_id"]) for a in answers if _kind(a) in stress.DECOY_KINDS}
    assert all(a["expected"] == "lookalike" for a in answers if _kind(a) in stress.DECOY_KINDS)
    evidence = {(a["source"], a["source_record_id"]) for a in answers if a["expected"] != "lookalike"}
    assert decoy_rows and not decoy_rows & evidence


def test_decoys_are_what_they_claim(truth):
    world, recs = truth
    hukou = {(r.values["hukou_no"], r.pid) for r in recs if r.extract == "hukou_members"}
    households = {h.hid: h for h in world.households}
    seen = Counter()
    for rec in (r for r in recs if r.lookalike in stress.DECOY_KINDS):
        m, other, typed = rec.resembles, world.persons[rec.pid], rec.values["id_number"]
        mine = m.person.id18
        assert other.pid not in {x.person.pid for h in world.households for x in h.members}
        if rec.lookalike == "namesake_same_birth":
            assert not sn.passes_check(typed) and _diff(typed, other.id18) == 1
            assert rec.values["name"] == m.person.name and other.born == m.person.born
            assert other.male == m.person.male and other.area != m.person.area
        elif rec.lookalike == "area_and_sequence":
            assert sn.passes_check(typed) and rec.values["name"] == m.person.name
            assert typed[6:14] == mine[6:14] and typed[:6] != mine[:6] and typed[14:17] != mine[14:17]
        elif rec.lookalike == "namesake_id15":
            assert len(typed) == 15 and rec.values["name"] == m.person.name
            full = sn.id18_of(typed)
            assert full[6:14] == mine[6:14] and full[:6] != mine[:6] and full[14:17] != mine[14:17]
        elif rec.lookalike == "namesake_other_sex":
            assert sn.passes_check(typed) and typed[:14] == mine[:14]
            assert int(typed[16]) % 2 != int(mine[16]) % 2 and rec.values["name"] == m.person.name
        elif rec.lookalike == "neighbour_id":
            assert sn.passes_check(typed) and typed[:14] == mine[:14]
            assert abs(int(typed[14:17]) - int(mine[14:17])) in (2, 4)
            typed_name, name = rec.values["name"], m.person.name
            assert len(typed_name) == len(name) and _diff(typed_name, name) == 1
            i = next(i for i in range(len(name)) if typed_name[i] != name[i])
            assert typed_name[i] in sn.LOOKALIKES[name[i]]
        else:
            assert rec.lookalike == "relative"
            sur = 2 if m.person.name[:2] in sn.COMPOUND_SURNAMES else 1
            assert rec.values["name"][:sur] == m.person.name[:sur] and rec.values["name"] != m.person.name
            assert other.born != m.person.born and sn.passes_check(typed)
            assert (households[m.household_id].hukou_no, other.pid) in hukou
        seen[rec.lookalike] += 1
    assert set(seen) == set(stress.DECOY_KINDS)


def test_noise_is_what_it_says(truth):
    world, recs = truth
    roster = {m.person.pid: m for h in world.households for m in h.members}
    t2s = OpenCC("t2s")
    seen = Counter()
    for rec in recs:
        if rec.lookalike or rec.pid is None or rec.extract == "complaints":
            continue
        person, typed, typed_name = world.persons[rec.pid], rec.values["id_number"], rec.values["name"]
        kind, name = rec.id_noise, person.name
        if kind == "id15_typo":
            assert len(typed) == 15 and typed.isdigit() and _diff(typed, sn.id15_of(person.id18)) == 1
        elif kind == "typo2":
            assert len(typed) == 18 and _diff(typed, person.id18) == 2
        elif kind == "roster_typo":
            member = roster[rec.pid]
            assert typed == person.id18 and _diff(member.roster_id, person.id18) == 1
            assert not sn.passes_check(member.roster_id)
        elif kind == "id15":
            assert typed == sn.id15_of(person.id18)
        elif kind in ("typo", "swap"):
            assert len(typed) == 18 and not sn.passes_check(typed)
        elif kind == "blank":
            assert typed == ""
        seen[kind] += 1
        nk = rec.name_noise
        if nk == "lookalike_char":
            assert len(typed_name) == len(name) and _diff(typed_name, name) == 1
            assert any(b in sn.LOOKALIKES.get(a, ()) for a, b in zip(name, typed_name, strict=True) if a != b)
        elif nk == "separator_dropped":
            assert "·" in name and typed_name == name.replace("·", "")
        elif nk == "separator_variant":
            assert any(typed_name == name.replace("·", sep) for sep in sn.SEPARATORS)
        elif nk == "compound_surname":
            assert name[:2] in sn.COMPOUND_SURNAMES and typed_name in (name[0] + name[2:], name[1:])
        elif nk == "surname_reading":
            assert typed_name[1:] == name[1:] and typed_name[0] in sn.SURNAME_READINGS[name[0]][1]
        elif nk == "char_missing":
            assert _one_removed(typed_name, name)
        elif nk == "char_extra":
            assert _one_removed(name, typed_name)
        elif nk == "homophone":
            assert typed_name != name and lazy_pinyin(typed_name) == lazy_pinyin(name)
        elif nk == "traditional":
            assert typed_name != name and t2s.convert(typed_name) == name
        seen[nk] += 1
    assert set(sn.ID_KINDS) <= set(seen) and set(sn.STRESS_NAME_KINDS) <= set(seen), seen


def test_tables_are_real_variants():
    for a, others in sn.LOOKALIKES.items():
        for b in others:  # alike in shape, not in sound: else it would be a homophone
            assert a != b and lazy_pinyin(a) != lazy_pinyin(b), (a, b)
            assert sn.HOMOPHONES.get(a) != b and noise.TRADITIONAL.get(a) != b, (a, b)
    for a, b in sn.HOMOPHONES.items():
        assert a != b and lazy_pinyin(a) == lazy_pinyin(b), (a, b)
    for surname, (reading, typed) in sn.SURNAME_READINGS.items():
        assert all(lazy_pinyin(ch) == [reading] for ch in typed), surname
    rng = np.random.default_rng(0)
    first17 = "42010219800101123"
    assert sn.passes_check(first17 + sn.check_character(first17))
    assert sn.id18_of(sn.id15_of(first17 + sn.check_character(first17))) == first17 + sn.check_character(first17)
    assert all(not sn.passes_check(sn.with_typo(first17 + sn.check_character(first17), rng)) for _ in range(50))


def test_same_arguments_same_bytes(tmp_path):
    for folder in ("one", "two"):
        generate(tmp_path / folder, 120, 7, MONTH, profile="stress")
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "two").iterdir())
    for name in names:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


def test_dibao_run_accepts_a_stress_sample(tmp_path):
    data = tmp_path / "data"
    generate(data, 120, 5, MONTH, profile="stress")  # smaller: two deaths after as-of are over 20%, the gate stops
    dibao = str(Path(sys.executable).parent / "dibao")
    result = subprocess.run([dibao, "run", "--no-prefect", "--data", str(data), "--db", str(tmp_path / "s.duckdb"),
                             "--month", MONTH, "--out", str(tmp_path / "out")],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "out" / MONTH).is_dir()
