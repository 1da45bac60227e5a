"""The sample generator: deterministic, every extract in its declared shape, honest answers."""

from __future__ import annotations

import csv
import io
import unicodedata
from pathlib import Path

import numpy as np
import openpyxl
import pyarrow.parquet as pq
import pytest

from connectors.schemas import EXTRACTS, REGISTRIES, Kind
from matching.ids import IdStatus, normalize
from matching.names import pinyin, simplified
from matching.policy import default_policy
from sample_data import noise, people
from sample_data.background import population
from sample_data.generator import generate
from sample_data.oracle import compute_answers
from sample_data.roster import World, build_households
from sample_data.scenarios import Scenarios

HOUSEHOLDS, SEED, MONTH = 120, 11, "2026-10"


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("sample")
    return out, generate(out, HOUSEHOLDS, SEED, MONTH)


@pytest.fixture(scope="module")
def truth():
    """The generator's ground truth, rebuilt in-process with the same seed."""
    world = World(SEED, MONTH, default_policy())
    build_households(world, HOUSEHOLDS)
    scen = Scenarios(world, noise.NoiseDeck(np.random.default_rng([SEED, 2])))
    return world, scen.build(), scen


def _read_answers(folder: Path) -> list[dict]:
    with open(folder / "answers.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _rows(folder: Path, name: str, summary: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows of an extract file, as text, whatever its format."""
    info = summary["extracts"][name]
    path = folder / info["file"]
    if path.suffix == ".csv":
        enc = info["format"].split(":")[1]
        rows = list(csv.reader(io.StringIO(path.read_bytes().decode(enc), newline="")))
        return rows[0], rows[1:]
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        cols = [table.column(i).to_pylist() for i in range(table.num_columns)]
        return table.column_names, [["" if v is None else v for v in row] for row in zip(*cols, strict=True)]
    ws = openpyxl.load_workbook(path, read_only=True).worksheets[0]
    rows = [["" if v is None else v for v in r] for r in ws.iter_rows(values_only=True)]
    return [str(h) for h in rows[0]], rows[1:]


def _clean_header(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def test_same_seed_gives_the_same_bytes(sample, tmp_path):
    folder, _ = sample
    again = tmp_path / "again"
    generate(again, HOUSEHOLDS, SEED, MONTH)
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(p.name for p in again.iterdir())
    for name in names:
        assert (folder / name).read_bytes() == (again / name).read_bytes(), name


def test_another_seed_gives_other_answers(sample, tmp_path):
    folder, _ = sample
    generate(tmp_path, HOUSEHOLDS, SEED + 1, MONTH)
    assert (tmp_path / "answers.csv").read_bytes() != (folder / "answers.csv").read_bytes()


def test_every_extract_once_with_contract_headers(sample):
    folder, summary = sample
    stems = [p.stem for p in folder.iterdir() if p.suffix in (".csv", ".xlsx", ".parquet") and p.stem != "answers"]
    assert sorted(stems) == sorted(EXTRACTS)
    for name, extract in EXTRACTS.items():
        header, rows = _rows(folder, name, summary)
        header = [_clean_header(h) for h in header]
        assert header in ([c.chinese for c in extract.columns], extract.names), (name, header)
        assert rows, name


def test_formats_and_encodings_really_used(sample):
    folder, summary = sample
    labels = {info["format"] for info in summary["extracts"].values()}
    assert {"csv:gb18030", "csv:utf-8-sig", "csv:utf-8", "xlsx", "parquet"} <= labels
    names = {r[1] for r in _rows(folder, "roster_members", summary)[1]}
    for name, info in summary["extracts"].items():
        data = (folder / info["file"]).read_bytes()
        if info["format"] == "csv:gb18030":
            with pytest.raises(UnicodeDecodeError):
                data.decode("utf-8")
            text = data.decode("gb18030")
            if name == "roster_members":
                assert sum(n in text for n in names) == len(names)
        elif info["format"] == "csv:utf-8-sig":
            assert data.startswith(b"\xef\xbb\xbf")
        elif info["format"] == "csv:utf-8":
            assert not data.startswith(b"\xef\xbb\xbf")
            data.decode("utf-8")


def test_xlsx_ids_are_text_and_dates_mixed(sample):
    folder, summary = sample
    for name, info in summary["extracts"].items():
        if info["format"] != "xlsx":
            continue
        ws = openpyxl.load_workbook(folder / info["file"]).worksheets[0]
        extract = EXTRACTS[name]
        for c, col in enumerate(extract.columns, start=1):
            cells = [ws.cell(r, c) for r in range(2, ws.max_row + 1)]
            if col.kind is Kind.ID:
                assert all(cell.data_type == "s" for cell in cells if cell.value is not None), (name, col.name)
            if col.kind is Kind.DATE and len(cells) > 20:
                kinds = {cell.data_type for cell in cells if cell.value is not None}
                assert kinds == {"s", "d"}, (name, col.name, kinds)


def test_date_month_and_yes_no_styles_are_mixed(sample):
    folder, summary = sample
    _, rows = _rows(folder, "properties", summary)
    dates = [r[6] for r in rows if r[6]]
    assert any("-" in d for d in dates) and any("/" in d for d in dates) and any(d.isdigit() for d in dates)
    _, rows = _rows(folder, "employment", summary)
    months = {len(r[5]) for r in rows}
    assert months == {6, 7}
    _, rows = _rows(folder, "roster_members", summary)
    values = {r[4] for r in rows}
    assert {"是", "Y", "1", "true"} <= values <= {"是", "否", "Y", "N", "1", "0", "true", "false"}
    assert len(values & {"否", "N", "0", "false"}) >= 3


def test_answers_reference_the_roster(sample):
    folder, summary = sample
    _, hh_rows = _rows(folder, "roster_households", summary)
    active = {r[0] for r in hh_rows if r[7] == "在保"}
    _, m_rows = _rows(folder, "roster_members", summary)
    members = {(r[0], normalize(r[2]).text) for r in m_rows}
    answers = _read_answers(folder)
    assert answers
    for a in answers:
        assert a["household_id"] in active, a
        if a["id_number"]:
            assert (a["household_id"], a["id_number"]) in members, a
        assert a["id_noise"] in noise.ID_KINDS and a["name_noise"] in noise.NAME_KINDS
    keys = [(a["rule"], a["household_id"], a["id_number"]) for a in answers if a["expected"] != "lookalike"]
    assert len(keys) == len(set(keys)), "one row per key"


def test_every_rule_lookalike_kind_and_noise_kind_present(sample):
    folder, summary = sample
    answers = _read_answers(folder)
    rules = {a["rule"] for a in answers if a["expected"] == "finding"}
    assert rules == {f"R{i:02d}" for i in range(1, 13)} | {"X01", "X02", "X03"}
    assert {a["note"][0] for a in answers if a["expected"] == "lookalike"} == set("abcd")
    assert any(a["expected"] == "possible" for a in answers)
    assert {a["id_noise"] for a in answers if a["expected"] == "finding"} & {"typo", "swap"}
    planted = summary["planted_identities"]
    assert set(planted["id_noise"]) == set(noise.ID_KINDS)
    assert set(planted["name_noise"]) == set(noise.NAME_KINDS)


def test_lookalikes_in_the_files_are_what_they_claim(sample):
    folder, summary = sample
    _, m_rows = _rows(folder, "roster_members", summary)
    names = {(r[0], normalize(r[2]).text): r[1] for r in m_rows}
    for a in (a for a in _read_answers(folder) if a["expected"] == "lookalike"):
        _, rows = _rows(folder, a["source"], summary)
        row = next(r for r in rows if r[0] == a["source_record_id"])
        member_name, member_id, other_id = names[(a["household_id"], a["id_number"])], a["id_number"], row[2]
        assert normalize(other_id).is_valid
        kind = a["note"][0]
        if kind == "a":
            assert row[1] == member_name and other_id != member_id
        elif kind == "b":
            assert row[1] != member_name and sum(x != y for x, y in zip(other_id, member_id, strict=True)) == 2
            assert other_id[:14] == member_id[:14]
        elif kind == "c":
            assert other_id == member_id and not set(row[1]) & set(member_name)
        else:
            assert row[1] == member_name and other_id[:6] == member_id[:6] and other_id[6:14] != member_id[6:14]


def test_ids_valid_except_deliberate_noise(truth):
    world, recs, _ = truth
    assert all(normalize(p.id18).is_valid for p in world.persons)
    for rec in recs:
        if rec.extract == "complaints" or rec.lookalike or rec.pid is None:
            continue
        person = world.persons[rec.pid]
        typed = normalize(rec.values["id_number"])
        if rec.id_noise in noise.CLEAN_ID_KINDS:
            assert typed.is_valid and typed.text == person.id18, rec
        elif rec.id_noise in noise.NOISY_ID_KINDS:
            assert not typed.is_valid, rec
        else:
            assert typed.status is IdStatus.BLANK
    pop = population(np.random.default_rng(1), 2000, world.as_of, world.used_ids)
    assert all(normalize(t).is_valid for t in pop["id18"])
    assert not set(pop["id18"]) & world.used_ids


def test_near_misses_are_not_findings(truth):
    world, recs, scen = truth
    answers = compute_answers(world, recs)
    found = {(a["rule"], a["household_id"], a["id_number"]) for a in answers if a["expected"] == "finding"}
    hh_of = {m.person.pid: (h, m) for h in world.households for m in h.members}
    checked = 0
    for rec in recs:
        if " near miss" not in rec.note or rec.pid not in hh_of:
            continue
        rule = rec.note[:3]
        hh, m = hh_of[rec.pid]
        assert (rule, hh.hid, normalize(m.roster_id).text) not in found, rec.note
        if rule in ("R06", "R08"):
            assert (rule, hh.hid, "") not in found, rec.note
        checked += 1
    assert checked >= 15
    r08 = {hid for rule, hid, _ in found if rule == "R08"}
    notes = scen.household_notes
    assert {h for h, n in notes.items() if "near miss" in n} and not {h for h, n in notes.items() if "near miss" in n} & r08
    assert {h for h, n in notes.items() if "near miss" not in n} <= r08  # at and above the standard


def test_noise_tables_are_real_variants():
    for a, b in noise.HOMOPHONES.items():
        assert pinyin(a) == pinyin(b) and a != b, (a, b)
    for simp, trad in noise.TRADITIONAL.items():
        assert simplified(trad) == simp and trad != simp, (simp, trad)
    rng = np.random.default_rng(0)
    valid = people.new_id(rng, "420102", people.birth_for_age(rng, 40, world_day()), True, set())
    for kind in noise.ID_KINDS:
        typed = noise.apply_id(valid, kind, rng)
        result = normalize(typed)
        if kind in noise.CLEAN_ID_KINDS and (kind != "lowercase_x" or valid.endswith("X")):
            assert result.text == valid and result.is_valid, kind
        elif kind in noise.NOISY_ID_KINDS:
            assert not result.is_valid, kind
    assert pinyin(noise.apply_name("张伟", "homophone", rng)) == pinyin("张伟")
    assert simplified(noise.apply_name("陈红", "traditional", rng)) == "陈红"


def world_day():
    import datetime as dt

    return dt.date(2026, 10, 31)


def test_vectorised_ids_match_make_id():
    from matching.ids import make_id

    area = np.array([420102, 110105]), np.array([19900101, 20000229]), np.array([123, 8])
    out = people.ids_vectorised(*area).to_list()
    import datetime as dt

    assert out == [make_id("420102", dt.date(1990, 1, 1), 123), make_id("110105", dt.date(2000, 2, 29), 8)]


def test_summary_counts_match_files(sample):
    folder, summary = sample
    for name in REGISTRIES:
        _, rows = _rows(folder, name, summary)
        assert len(rows) == summary["extracts"][name]["rows"], name


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="'month'"):
        generate(tmp_path, 50, 1, "2026-13")
    with pytest.raises(ValueError, match="'households'"):
        generate(tmp_path, 5, 1, "2026-10")
    with pytest.raises(ValueError, match="'profile'"):
        generate(tmp_path, 50, 1, "2026-10", profile="huge")
