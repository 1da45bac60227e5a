"""The one-edit ID neighbourhood, computed on integer codes, is the set of IDs the edits give."""

from __future__ import annotations

import duckdb
import pytest

from matching.blocking import id_code_sql, id_variants_sql

IDS = [
    "420106197908185484",  # a valid ID
    "42098419980510329X",  # X as its check character
    "110101190001011111",  # repeated digits: swaps of equal neighbours give nothing
    "420111200802059522",  # the 17th digit equals the check digit
    "420111200802059527",  # the 17th digit and the check digit differ: that swap is an edit
]


def _edits(text: str) -> set[str]:
    """What the string edits give: one character replaced (X only as the 18th) or two adjacent swapped."""
    out = set()
    for p in range(18):
        for c in "0123456789X":
            if c != text[p] and (c != "X" or p == 17):
                out.add(text[:p] + c + text[p + 1:])
    for p in range(17):
        if text[p] != text[p + 1]:
            out.add(text[:p] + text[p + 1] + text[p] + text[p + 2:])
    return {v for v in out if v[:17].isdigit()}  # an X before the 18th is no ID's code


@pytest.mark.parametrize("id_number", IDS)
def test_variants_are_the_codes_of_the_edited_ids(id_number: str) -> None:
    con = duckdb.connect()
    con.execute(id_variants_sql("v", f"SELECT 'k' AS key, '{id_number}' AS id_number"))
    got = [row[0] for row in con.execute("SELECT variant FROM v").fetchall()]
    expected = _edits(id_number)
    codes = con.execute(f"SELECT list({id_code_sql('x')}) FROM unnest(?) t(x)", [sorted(expected)]).fetchall()[0][0]
    assert len(got) == len(set(got))  # each neighbour once
    assert set(got) == set(codes)
    assert len(set(codes)) == len(expected)  # the code tells different IDs apart
    own = con.execute(f"SELECT {id_code_sql('x')} FROM (SELECT ? AS x)", [id_number]).fetchall()[0][0]
    assert own not in set(got)


def test_an_id_that_is_not_18_characters_has_no_neighbourhood() -> None:
    con = duckdb.connect()
    con.execute(id_variants_sql("v", "SELECT 'k' AS key, '42010619790818548' AS id_number "
                                     "UNION ALL SELECT 'j', '4201061979081854XX'"))
    assert con.execute("SELECT count(*) FROM v").fetchall()[0][0] == 0
