"""policy.toml: defaults, overrides, and one-line errors naming the key."""

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from matching.policy import KNOBS, PolicyError, default_policy, load_policy

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "sample"


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_the_contracts():
    p = default_policy()
    assert p["standard.default"] == 800 and p["standard.by_district"] == {}
    assert (p["lookback.pension_months"], p["lookback.unemployment_months"]) == (6, 6)
    assert (p["lookback.housing_fund_months"], p["lookback.employment_months"]) == (12, 12)
    assert p["vehicles.flag_type_prefixes"] == ["K", "H", "Q", "Z"]
    assert p["properties.flag_uses"] == ["商业", "商服", "营业", "车库", "车位", "仓储", "仓库", "办公", "工业"]
    assert (p["properties.max_homes"], p["long_enrolment_years"], p["max_beneficiaries"]) == (1, 3, 3)
    assert (p["migrant_work_min_months"], p["graduate_age_max"]) == (6, 30)


def test_overrides_and_district_standard(tmp_path):
    p = load_policy(write(tmp_path, '[standard]\ndefault = 900\nby_district = { "420106" = 950 }\n'
                                    "[lookback]\npension_months = 3\n"))
    assert p.standard_for("420106") == 950 and p.standard_for("420102") == 900
    assert p["lookback.pension_months"] == 3 and p["lookback.housing_fund_months"] == 12


@pytest.mark.parametrize("text, fragment", [
    ("[lookback]\npension_month = 6\n", "unknown key 'lookback.pension_month'"),
    ("max_beneficiaries = 'three'\n", "'max_beneficiaries' must be int"),
    ("max_beneficiaries = 0\n", "'max_beneficiaries' must be between 1 and 50"),
    ("[linkage]\nprobable_threshold = 1.5\n", "'linkage.probable_threshold' must be between 0.5 and 1"),
    ('[standard]\nby_district = { "4201" = 900 }\n', "'standard.by_district' must be a table of 6-digit"),
    ("[vehicles]\nflag_type_prefixes = 'K'\n", "'vehicles.flag_type_prefixes' must be list"),
    ("this is not toml\n", "not a valid TOML file"),
])
def test_bad_policies_name_the_key(tmp_path, text, fragment):
    with pytest.raises(PolicyError) as info:
        load_policy(write(tmp_path, text))
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_every_knob_has_a_meaning_and_a_valid_default():
    for knob in KNOBS:
        assert knob.meaning
        assert knob.check is None or knob.check(knob.default), knob.key


def test_run_stops_on_a_bad_policy_and_stores_the_resolved_one(tmp_path):
    dibao = str(Path(sys.executable).parent / "dibao")
    bad = write(tmp_path, "[lookback]\npension_months = 99\n")
    run = subprocess.run([dibao, "run", "--data", str(SAMPLE), "--db", str(tmp_path / "d.duckdb"), "--month",
                          "2026-10", "--policy", str(bad), "--no-prefect"], capture_output=True, text=True)
    assert run.returncode == 2
    assert "'lookback.pension_months' must be between 1 and 60" in run.stderr
    good = write(tmp_path, "max_beneficiaries = 4\n")
    run = subprocess.run([dibao, "run", "--data", str(SAMPLE), "--db", str(tmp_path / "d.duckdb"), "--month",
                          "2026-10", "--policy", str(good), "--no-prefect"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    con = duckdb.connect(str(tmp_path / "d.duckdb"), read_only=True)
    stored = json.loads(con.execute("SELECT policy FROM runs WHERE status = 'succeeded'").fetchone()[0])
    assert stored["max_beneficiaries"] == 4 and stored["standard.default"] == 800
