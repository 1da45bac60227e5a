"""Resident IDs: the Python normaliser, its SQL mirror, and masking."""

import datetime as dt

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.ids import IdStatus, birth_date_of, check_character, from_15, make_id, mask, normalize
from matching.sql_macros import id_forms_sql, install_macros

AREAS = ["420102", "420106", "110105", "310115", "440305", "421003"]
births = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2025, 12, 31))
valid_ids = st.builds(make_id, st.sampled_from(AREAS), births, st.integers(0, 999))


@given(valid_ids)
def test_valid_ids_round_trip(text):
    result = normalize(text)
    assert result.status is IdStatus.VALID
    assert result.text == text
    assert normalize(result.text) == result.__class__(result.text, text, IdStatus.VALID)


@given(valid_ids, st.integers(0, 17), st.integers(1, 10))
def test_every_single_character_change_fails(text, position, shift):
    alphabet = "0123456789X" if position == 17 else "0123456789"
    current = alphabet.index(text[position])
    changed = text[:position] + alphabet[(current + shift) % len(alphabet)] + text[position + 1:]
    if changed == text:
        return
    assert normalize(changed).status is not IdStatus.VALID


@given(valid_ids, st.integers(0, 16))
def test_adjacent_swaps_fail_the_check(text, position):
    swapped = text[:position] + text[position + 1] + text[position] + text[position + 2:]
    if swapped != text:
        assert normalize(swapped).status is not IdStatus.VALID


@given(st.text(alphabet="0123456789xX０１２３４５６７８９ｘ -\u3000", max_size=22))
@settings(max_examples=300)
def test_normalising_twice_changes_nothing(raw):
    once = normalize(raw)
    assert normalize(once.text).text == once.text


@pytest.mark.parametrize("raw, text, status", [
    ("４２０１０２１９９００１０１１２３６", "420102199001011236", IdStatus.VALID),  # full-width digits
    ("42010219900101123x", "42010219900101123X", IdStatus.BAD_CHECK),  # lowercase x folded
    (" 4201 0219-9001 0112 36 ", "420102199001011236", IdStatus.VALID),  # spaces and dashes
    ("420102900101123", "420102199001011236", IdStatus.VALID),  # 15 digits converted
    ("420102199001011236.0", "420102199001011236", IdStatus.VALID),  # Excel float text
    ("4.20102E+17", "4.20102E+17", IdStatus.BAD_FORMAT),  # scientific notation lost digits
    ("420102199002301234", "420102199002301234", IdStatus.BAD_DATE),  # 30 February
    ("42010219900101123", "42010219900101123", IdStatus.BAD_FORMAT),  # 17 characters
    ("", "", IdStatus.BLANK),
    (None, "", IdStatus.BLANK),
])
def test_normalize_literal_cases(raw, text, status):
    result = normalize(raw)
    assert (result.text, result.status) == (text, status)


def test_wuhan_jiangan_before_1983_is_valid():
    # stdnum's ric.validate rejects these (area code checked against birth year); we do not.
    text = make_id("420102", dt.date(1975, 6, 1), 17)
    assert normalize(text).is_valid


def test_check_character_refuses_wrong_length():
    with pytest.raises(ValueError, match="17 digits"):
        check_character("42010219900101123X")


def test_from_15_assumes_19xx():
    assert from_15("420102900101123")[6:10] == "1990"


@given(st.one_of(valid_ids, st.text(alphabet="0123456789xX０１２ -", max_size=20)))
@settings(max_examples=200, deadline=None)
def test_sql_id_forms_agree_with_python(raw):
    con = _macro_con()
    today = dt.date.today()
    text, was_15, status, born, sex = con.execute(
        f"SELECT id_number, id_was_15, id_status, birth_date, sex FROM ({id_forms_sql('SELECT ? AS id_key', today)})",
        [raw]).fetchone()
    expected = normalize(raw, today)
    assert (text, status) == (expected.text, expected.status.value)
    assert was_15 == expected.was_15
    usable = expected.status.value in ("valid", "bad_check")
    assert born == (birth_date_of(expected.text) if usable else None)
    if len(expected.text) == 18 and expected.text[:17].isdigit():
        assert sex == ("M" if int(expected.text[16]) % 2 else "F")
    else:
        assert sex is None


_CON = None


def _macro_con():
    global _CON
    if _CON is None:
        _CON = duckdb.connect()
        install_macros(_CON)
    return _CON


def test_mask_keeps_area_and_last_four():
    assert mask("42010219900101123X") == "420102********123X"
    assert mask("") == ""
    assert "1990" not in mask("4201021990010112")
