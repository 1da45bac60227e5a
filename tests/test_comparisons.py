"""Comparison levels as tables of literal pairs (STYLE.md): left value, right value, expected level."""

import datetime as dt

import duckdb
import pytest

from matching import names
from matching.ids import make_id, normalize
from matching.linkage import build_name_levels, compared_sql
from matching.sql_macros import install_macros

A = make_id("420102", dt.date(1950, 3, 4), 123)
B = make_id("420106", dt.date(1988, 11, 30), 456)


def _person(key: str, name: str, raw_id: str) -> dict:
    rid = normalize(raw_id)
    return {
        "key": key, "n": 1, "name": name, "name_clean": names.clean(name), "name_simplified": names.simplified(name),
        "name_pinyin": names.pinyin(name), "surname_pinyin": names.surname_pinyin(name), "id_number": rid.text,
        "id_status": rid.status.value, "id_was_15": rid.was_15, "birth_date": rid.birth_date, "sex": rid.sex,
    }


def levels(l_name: str, l_id: str, r_name: str, r_id: str) -> tuple[str, str]:
    con = duckdb.connect()
    install_macros(con)
    cols = "key VARCHAR, n BIGINT, name VARCHAR, name_clean VARCHAR, name_simplified VARCHAR, name_pinyin VARCHAR, " \
           "surname_pinyin VARCHAR, id_number VARCHAR, id_status VARCHAR, id_was_15 BOOLEAN, birth_date DATE, sex VARCHAR"
    for table, row in (("L", _person("l", l_name, l_id)), ("R", _person("r", r_name, r_id))):
        con.execute(f"CREATE TEMP TABLE {table} ({cols})")
        con.execute(f"INSERT INTO {table} VALUES ({', '.join('?' * len(row))})", list(row.values()))
    con.execute("CREATE TEMP TABLE link_candidates AS SELECT 'l' AS l_key, 'r' AS r_key, 'test' AS block_rule")
    build_name_levels(con, 0.88)
    con.execute(compared_sql())
    return con.execute("SELECT id_level, name_level FROM link_compared").fetchone()


def swap(text: str, i: int) -> str:
    return text[:i] + text[i + 1] + text[i] + text[i + 2:]


def typo(text: str, i: int) -> str:
    return text[:i] + str((int(text[i]) + 1) % 10) + text[i + 1:]


A15 = A[:6] + A[8:17]  # the same person's old 15-digit ID
# another 张伟 born the same day in another county (its own valid ID), typed with one slip
NAMESAKE = typo(make_id("420106", dt.date(1950, 3, 4), 871), 3)

ID_CASES = [
    (A, A, "exact"),
    (A, A.lower(), "exact"),
    (A, " ".join(A), "exact"),
    (A, A.translate(str.maketrans("0123456789", "０１２３４５６７８９")), "exact"),
    (A, A15, "exact_15"),
    (A, typo(A, 10), "one_substitution"),
    (A, A[:17] + ("0" if A[17] != "0" else "1"), "one_substitution"),  # the check character
    (A, swap(A, 14), "transposition"),
    (A, typo(A15, 9), "id15_typo"),  # an old ID's slip: converted, it passes a check it never had
    (A, swap(A15, 10), "id15_typo"),
    (typo(A, 10), A, "roster_typo"),  # the roster mistyped, the registry right
    (swap(A, 12), A, "roster_typo"),
    (A, typo(typo(A, 14), 16), "two_substitutions"),  # two slips in the sequence, same sex digit
    (A, typo(typo(A, 2), 9), "two_substitutions"),  # one in the area code, one in the birth date
    (A, typo(typo(A, 2), 15), "different"),  # area code and sequence: how a namesake differs
    (A, NAMESAKE, "different"),
    (A, typo(typo(typo(A, 2), 9), 12), "different"),  # three slips
    (A, B, "different"),
    (A, make_id("420102", dt.date(1950, 3, 4), 125), "different"),  # a real neighbouring ID: someone else
    (A, "", "null"),
    (A, "4.20102E+17", "null"),
    (typo(A, 10), typo(A, 10), "null"),  # both fail their check: neither vouches for the other
]


@pytest.mark.parametrize("l_id, r_id, expected", ID_CASES)
def test_id_levels(l_id, r_id, expected):
    assert levels("张伟", l_id, "张伟", r_id)[0] == expected


NAME_CASES = [
    ("张伟", "张伟", "exact"),
    ("张伟", "张 伟", "exact"),
    ("买买提·艾力", "买买提•艾力", "exact"),
    ("买买提·艾力", "买买提.艾力", "exact"),
    ("陈红", "陳红", "simplified"),
    ("张伟", "章伟", "homophone"),
    ("王芳", "汪芳", "homophone"),
    ("张伟", "张纬", "homophone"),
    ("曾志强", "增志强", "homophone"),  # 曾 read zēng as a surname, heard and typed as 增
    ("单丽", "善丽", "homophone"),  # 单 shàn
    ("解红", "谢红", "homophone"),  # 解 xiè
    ("买买提·艾力", "买买提艾力", "separator"),  # the separator dropped
    ("阿依古丽·买买提", "阿依古丽 买买提", "separator"),  # a space for the dot: spaces are folded away
    ("李未", "李末", "lookalike"),  # a handwritten form read by a clerk
    ("陈己", "陈已", "lookalike"),
    ("宋佳", "宗佳", "lookalike"),
    ("栗军", "粟军", "one_char"),  # a look-alike the shape data misses (matching.shapes)
    ("欧阳娜娜", "欧娜娜", "char_missing"),  # a compound surname half typed
    ("欧阳娜娜", "阳娜娜", "char_missing"),
    ("刘德华", "刘德", "char_missing"),  # a given-name character dropped
    ("刘德", "刘德华", "char_missing"),
    ("张伟明", "伟明", "different"),  # the surname gone is not a slip
    ("张伟", "张强", "given_char"),
    ("张伟明", "张伟强", "given_char"),  # a slip the shape data misses, or two brothers
    ("张伟明", "李伟明", "one_char"),  # the surname replaced
    ("陈丽", "程辉", "similar"),
    ("张伟", "李娜", "different"),
    ("张伟", "", "null"),
]


@pytest.mark.parametrize("l_name, r_name, expected", NAME_CASES)
def test_name_levels(l_name, r_name, expected):
    assert levels(l_name, A, r_name, A)[1] == expected
