"""DuckDB macros and SQL builders that mirror `matching.ids` in SQL, so that millions of
registry IDs are normalised inside the database. `tests/test_ids.py` and
`tests/test_expectations_ids.py` prove the two agree."""

from __future__ import annotations

import datetime as dt

import duckdb

from connectors.load import quote_ident

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_FULLWIDTH_FROM = "０１２３４５６７８９ＸｘxＸ×"
_FULLWIDTH_TO = "0123456789XXXXX"


def check_character_sql(first17: str) -> str:
    """The check character of a BIGINT holding the first 17 digits, by integer arithmetic.

    Digits are taken with // and % rather than 17 substr/casts: twice as fast on millions of rows.
    """
    terms = " + ".join(f"{w} * (({first17} // {10 ** (16 - i)}) % 10)" for i, w in enumerate(_WEIGHTS))
    return f"substr('10X98765432', CAST(({terms}) % 11 AS INTEGER) + 1, 1)"


MACROS_SQL = f"""
CREATE OR REPLACE MACRO dibao_id_clean(x) AS
    regexp_replace(
        upper(regexp_replace(translate(coalesce(x, ''), '{_FULLWIDTH_FROM}', '{_FULLWIDTH_TO}'),
                             '[\\s\\-_''"`\u3000]+', '', 'g')),
        '^([0-9]{{15,18}})\\.0+$', '\\1');
CREATE OR REPLACE MACRO dibao_id_check(s17) AS {check_character_sql('CAST(s17 AS BIGINT)')};
CREATE OR REPLACE MACRO dibao_id_18(c) AS
    CASE WHEN regexp_full_match(c, '[0-9]{{15}}')
         THEN substr(c, 1, 6) || '19' || substr(c, 7) || dibao_id_check(substr(c, 1, 6) || '19' || substr(c, 7))
         ELSE c END;
"""
# Macros are expanded inline: over millions of rows `with_id_status_sql` below takes one
# projection per step rather than nesting them.


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(MACROS_SQL)


# ---------------------------------------------------------------- ID status and forms, for millions of IDs

ID_SHAPE = "'[0-9]{17}[0-9X]'"
ID_STATUS = "__id_status"  # the column `with_id_status_sql` adds


def date_sql(day: dt.date | None) -> str:
    """A date as SQL: the literal, or `current_date` for None (today, as `matching.ids.normalize`)."""
    return f"DATE '{day.isoformat()}'" if day is not None else "current_date"


def with_id_status_sql(inner: str, column: str, as_of: dt.date | None) -> str:
    """`inner`'s rows plus __id_status, the `matching.ids.IdStatus` value of the typed ID in
    `column` on the day `as_of` (a birth date after it is 'bad_date'), and the steps to it:
    __id_canon, __id_clean, __id_18 (15 digits converted), __id_shape, __id_birth, __id_n.

    An ID already in canonical form (18 characters, digits and X: nearly all of them) skips
    cleaning; the rest go through the macros above (full-width digits, spaces, Excel's
    '.0', 15-digit conversion). One projection per step: nesting it all in one expression
    makes a tree DuckDB takes half a second just to plan. `tests/test_expectations_ids.py`
    proves the result equals `matching.ids.normalize(...).status`.
    """
    c = quote_ident(column)
    canon = f"SELECT *, regexp_full_match({c}, {ID_SHAPE}) AS __id_canon FROM ({inner})"
    # cleaned in a step of its own: a macro repeats its argument's expression wherever it
    # uses it, and dibao_id_18 uses it five times (1.3 s instead of 0.2 s on a city's IDs)
    cleaned = f"SELECT *, CASE WHEN __id_canon THEN {c} ELSE dibao_id_clean({c}) END AS __id_clean FROM ({canon})"
    full = (f"SELECT *, CASE WHEN __id_canon THEN __id_clean ELSE dibao_id_18(__id_clean) END AS __id_18 "
            f"FROM ({cleaned})")
    shaped = (f"SELECT *, coalesce(__id_canon, FALSE) OR regexp_full_match(__id_18, {ID_SHAPE}) AS __id_shape "
              f"FROM ({full})")
    parts = (f"SELECT *, CASE WHEN __id_shape THEN try_strptime(substr(__id_18, 7, 8), '%Y%m%d')::DATE END "
             f"AS __id_birth, CASE WHEN __id_shape THEN TRY_CAST(substr(__id_18, 1, 17) AS BIGINT) END AS __id_n "
             f"FROM ({shaped})")
    status = (f"CASE WHEN __id_18 = '' THEN 'blank' WHEN NOT __id_shape THEN 'bad_format' "
              f"WHEN __id_birth IS NULL OR __id_birth < DATE '1880-01-01' OR __id_birth > {date_sql(as_of)} "
              f"THEN 'bad_date' WHEN {check_character_sql('__id_n')} <> substr(__id_18, 18, 1) THEN 'bad_check' "
              f"ELSE 'valid' END")
    return f"SELECT *, {status} AS {ID_STATUS} FROM ({parts})"


def id_forms_sql(keys: str, as_of: dt.date) -> str:
    """One row per ID text of `keys` (a query with `id_key`, '' for a blank ID): its normalised
    number, whether it was a 15-digit ID, its status, birth date (when the number is usable) and sex.
    The one place a staged ID's number, status, birth date and sex are derived."""
    return f"""
        SELECT id_key, __id_18 AS id_number,
               CASE WHEN __id_canon THEN FALSE ELSE regexp_full_match(__id_clean, '[0-9]{{15}}') END AS id_was_15,
               {ID_STATUS} AS id_status,
               CASE WHEN {ID_STATUS} IN ('valid', 'bad_check') THEN __id_birth END AS birth_date,
               CASE WHEN __id_shape
                    THEN CASE WHEN CAST(substr(__id_18, 17, 1) AS INTEGER) % 2 = 1 THEN 'M' ELSE 'F' END
                    END AS sex
        FROM ({with_id_status_sql(keys, 'id_key', as_of)})"""


def id_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The raw tables with an `id_number` column (every extract that names a person)."""
    return [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_catalog = current_database() AND table_name LIKE 'raw\\_%' ESCAPE '\\' "
        "AND column_name = 'id_number' ORDER BY 1").fetchall()]


def lit(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"
