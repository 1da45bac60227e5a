"""DuckDB macros that mirror `matching.ids` in SQL, so that millions of registry IDs
are normalised inside the database. `tests/test_ids.py` proves the two agree."""

from __future__ import annotations

import duckdb

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_FULLWIDTH_FROM = "０１２３４５６７８９ＸｘxＸ×"
_FULLWIDTH_TO = "0123456789XXXXX"


def _check_sql(arg: str) -> str:
    terms = " + ".join(f"{w} * CAST(substr({arg}, {i + 1}, 1) AS INTEGER)" for i, w in enumerate(_WEIGHTS))
    return f"substr('10X98765432', (({terms}) % 11) + 1, 1)"


MACROS_SQL = f"""
CREATE OR REPLACE MACRO dibao_id_clean(x) AS
    regexp_replace(
        upper(regexp_replace(translate(coalesce(x, ''), '{_FULLWIDTH_FROM}', '{_FULLWIDTH_TO}'),
                             '[\\s\\-_''"`\u3000]+', '', 'g')),
        '^([0-9]{{15,18}})\\.0+$', '\\1');
CREATE OR REPLACE MACRO dibao_id_check(s17) AS {_check_sql('s17')};
CREATE OR REPLACE MACRO dibao_id_18(c) AS
    CASE WHEN regexp_full_match(c, '[0-9]{{15}}')
         THEN substr(c, 1, 6) || '19' || substr(c, 7) || dibao_id_check(substr(c, 1, 6) || '19' || substr(c, 7))
         ELSE c END;
CREATE OR REPLACE MACRO dibao_id_birth(t) AS
    CASE WHEN regexp_full_match(t, '[0-9]{{17}}[0-9X]') THEN try_strptime(substr(t, 7, 8), '%Y%m%d')::DATE END;
CREATE OR REPLACE MACRO dibao_id_status_born(t, born, as_of) AS
    CASE WHEN t = '' THEN 'blank'
         WHEN NOT regexp_full_match(t, '[0-9]{{17}}[0-9X]') THEN 'bad_format'
         WHEN born IS NULL OR born < DATE '1880-01-01' OR born > as_of THEN 'bad_date'
         WHEN dibao_id_check(substr(t, 1, 17)) <> substr(t, 18, 1) THEN 'bad_check'
         ELSE 'valid' END;
CREATE OR REPLACE MACRO dibao_id_status(t, as_of) AS dibao_id_status_born(t, dibao_id_birth(t), as_of);
"""
# Macros are expanded inline: over millions of rows, compute `dibao_id_clean`, `dibao_id_18`
# and `dibao_id_birth` once each in a subquery and pass the birth date to
# `dibao_id_status_born` (matching.staging does) rather than nesting `dibao_id_status`.


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(MACROS_SQL)
