"""Staging: every person row (roster member or registry record) normalised once.

- `name_forms`: one row per distinct typed name, with its cleaned, simplified and
  pinyin forms (computed in Python once per distinct name, kept across runs).
- `stg_members`: the month's roster members with normalised IDs and name forms.
- `stg_registry_persons`: one row per registry and typed (name, ID) of the month, with
  its normalised forms and `n`, the number of its records. Linkage links persons: every
  record of a person compares with a member exactly as the person does, and at city scale
  23 million registry rows hold 4.3 million persons (a pension register repeats one
  person in every month's payment row). Linkage expands what it finds back to records.
- `stg_registry_records` (view): every registry row of the month (source, record_id,
  name, id_raw); `stg_registry` (view): the same rows with their person's forms.
These are temporary objects of the run's connection: what linkage found is kept in
`link_pairs`. `persist=True` (the linkage benchmark) keeps `stg_registry` in the file.
IDs are normalised in SQL by the macros in `matching.sql_macros`, which mirror
`matching.ids` exactly.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl

from connectors.load import MONTH, quote_ident
from connectors.schemas import EXTRACTS, REGISTRIES
from matching import names
from matching.sql_macros import id_forms_sql, id_tables, install_macros, lit

# Registries whose rows name a person to be linked to the roster.
PERSON_SOURCES: tuple[str, ...] = tuple(r for r in REGISTRIES if EXTRACTS[r].person or r == "complaints")


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = current_schema()",
        [table]).fetchall()[0][0])


def present_sources(con: duckdb.DuckDBPyConnection, run_month: str) -> list[str]:
    """Registries with a raw table holding rows (or at least loaded) for this month."""
    out = []
    for source in PERSON_SOURCES:
        if table_exists(con, f"raw_{source}") and con.execute(
                f"SELECT count(*) > 0 FROM raw_{source} WHERE run_month = ?", [run_month]).fetchall()[0][0]:
            out.append(source)
    return out


def refresh_name_forms(con: duckdb.DuckDBPyConnection, run_month: str, sources: list[str]) -> int:
    """Add the cleaned/simplified/pinyin forms of every name not seen before. Returns names added.
    (`build_id_forms` must have grouped the month's registry rows.)"""
    con.execute("""CREATE TABLE IF NOT EXISTS name_forms (
        name VARCHAR PRIMARY KEY, name_clean VARCHAR, name_simplified VARCHAR,
        name_pinyin VARCHAR, surname_pinyin VARCHAR)""")
    selects = ["SELECT DISTINCT name FROM raw_roster_members WHERE run_month = $m"]
    selects.append(f"SELECT DISTINCT name FROM temp.main.{GROUPS}")  # the registries' names (`build_id_forms`)
    if "marriages" in sources:
        selects.append("SELECT DISTINCT spouse_name FROM raw_marriages WHERE run_month = $m")
    if "relative_filings" in sources:
        selects.append("SELECT DISTINCT staff_name FROM raw_relative_filings WHERE run_month = $m")
    new = con.execute(f"""
        SELECT DISTINCT name FROM ({' UNION ALL '.join(selects)}) t(name)
        WHERE name IS NOT NULL AND name NOT IN (SELECT name FROM name_forms)""", {"m": run_month}).fetchall()
    if not new:
        return 0
    typed = [row[0] for row in new]
    frame = pl.DataFrame({
        "name": typed,
        "name_clean": [names.clean(n) for n in typed],
        "name_simplified": [names.simplified(n) for n in typed],
        "name_pinyin": [names.pinyin(n) for n in typed],
        "surname_pinyin": [names.surname_pinyin(n) for n in typed],
    })
    con.register("_new_name_forms", frame.to_arrow())
    con.execute("INSERT INTO name_forms SELECT * FROM _new_name_forms")
    con.unregister("_new_name_forms")
    return frame.height


RECORDS = "stg_registry_records"  # view: every registry row of the month (source, record_id, name, id_raw)
GROUPS = "stg_registry_groups"  # the registry rows grouped by (source, name, id_raw): first record, count `n`
PERSONS = "stg_registry_persons"  # one row per source and typed (name, ID): its forms and record count `n`
ID_FORMS = "stg_id_forms"  # the month's ID texts, normalised once for the gate and for staging
ID_COUNTS = "stg_id_counts"  # (tbl, id_status, n): the month's rows of each raw table per ID status
STAGED_COLUMNS = ("name", "name_clean", "name_simplified", "name_pinyin", "surname_pinyin",
                  "id_raw", "id_number", "id_was_15", "id_status", "birth_date", "sex")


def _records_select(source: str, run_month: str) -> str:
    return (f"SELECT '{source}' AS source, record_id, name, id_number AS id_raw FROM raw_{source} "
            f"WHERE run_month = '{run_month}'")


def registry_key_sql(record_id: str = "record_id", source: str = "source") -> str:
    """A registry row's key in every linkage job; a person's key is that of its first record."""
    return f"{source} || '|' || {record_id}"


REGISTRY_KEY = registry_key_sql()


def same_person_sql(record: str, person: str) -> str:
    """A registry row belongs to a person of the same registry: the same typed name and ID
    (blank ones too)."""
    return (f"{record}.name IS NOT DISTINCT FROM {person}.name "
            f"AND {record}.id_raw IS NOT DISTINCT FROM {person}.id_raw")


def registry_view_sql(kind: str = "TEMP VIEW") -> str:
    """`stg_registry`: every registry row with its person's staged forms (a view: rules, tests
    and the linkage benchmark read it; linkage itself reads the persons)."""
    cols = ", ".join(f"p.{c}" for c in STAGED_COLUMNS)
    return f"""CREATE OR REPLACE {kind} stg_registry AS
        SELECT r.source, r.record_id, {cols}
        FROM {RECORDS} r JOIN {PERSONS} p ON p.source = r.source AND {same_person_sql('r', 'p')}"""


def persons_from_records_sql(records: str) -> str:
    """The persons of a staged record relation with every column of `stg_registry` (the linkage
    benchmark starts from such a table). Staging builds the same rows from the raw tables."""
    cols = ", ".join(STAGED_COLUMNS)
    return (f"SELECT source, {registry_key_sql('min(record_id)')} AS key, {cols}, count(*) AS n "
            f"FROM ({records}) GROUP BY source, {cols}")


def _records_view(con: duckdb.DuckDBPyConnection, run_month: str, sources: list[str]) -> None:
    if not MONTH.match(run_month):  # the month is written into the view
        raise ValueError(f"'run_month' must be YYYY-MM, got {run_month!r}")
    if sources:
        records = " UNION ALL ".join(_records_select(s, run_month) for s in sources)
    else:
        records = ("SELECT NULL::VARCHAR AS source, NULL::VARCHAR AS record_id, NULL::VARCHAR AS name, "
                   "NULL::VARCHAR AS id_raw WHERE FALSE")
    con.execute(f"CREATE OR REPLACE TEMP VIEW {RECORDS} AS {records}")


def _has_person_columns(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """A loaded registry always has them; a table a test or an older file made may not (the gate still reads it)."""
    return con.execute(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = ? AND table_schema = current_schema() "
        "AND column_name IN ('record_id', 'name', 'id_number')", [table]).fetchall()[0][0] == 3


def build_id_forms(con: duckdb.DuckDBPyConnection, run_month: str, as_of: dt.date) -> int:
    """`stg_id_forms` (a temporary table): every distinct ID text of the month in every raw table,
    normalised once (a pension register repeats one ID in every payment row: 6.8 million rows,
    0.4 million IDs). The gate builds it and staging reuses it within the same run: at city
    scale each took some 3 s to normalise the same 2.6 million IDs. Returns their number.

    Beside it: `stg_registry_groups`, the registry rows grouped by (source, name, typed ID),
    which staging turns into persons; and `stg_id_counts`, each table's rows per ID status,
    which the gate's ID checks read instead of joining every row to its status. Both registry
    scans (the groups, the IDs) are this one: 23 million rows at city scale."""
    install_macros(con)
    sources = [s for s in present_sources(con, run_month) if _has_person_columns(con, f"raw_{s}")]
    _records_view(con, run_month, sources)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {GROUPS} AS
        SELECT source, name, id_raw, min(record_id) AS first_record, count(*) AS n
        FROM {RECORDS} GROUP BY source, name, id_raw""")
    grouped = {f"raw_{source}" for source in sources}
    others = [f"SELECT {lit(t)} AS tbl, coalesce(id_number, '') AS id_key, 1 AS n FROM {quote_ident(t)} "
              f"WHERE run_month = {lit(run_month)}" for t in id_tables(con) if t not in grouped]
    texts = [f"SELECT 'raw_' || source AS tbl, coalesce(id_raw, '') AS id_key, n FROM temp.main.{GROUPS}", *others]
    con.execute(f"CREATE OR REPLACE TEMP TABLE __id_texts AS SELECT tbl, id_key, sum(n) AS n "
                f"FROM ({' UNION ALL '.join(texts)}) GROUP BY tbl, id_key")
    keys = "SELECT DISTINCT id_key FROM temp.main.__id_texts"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {ID_FORMS} AS {id_forms_sql(keys, as_of)}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {ID_COUNTS} AS SELECT t.tbl, f.id_status, sum(t.n) AS n "
                f"FROM temp.main.__id_texts t JOIN {ID_FORMS} f ON f.id_key = t.id_key GROUP BY 1, 2")
    con.execute("DROP TABLE temp.main.__id_texts")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {ID_FORMS}_for AS SELECT ? AS run_month, ?::DATE AS as_of",
                [run_month, as_of])
    return int(con.execute(f"SELECT count(*) FROM {ID_FORMS}").fetchall()[0][0])


_ID_FORMS_TABLES = (ID_FORMS, f"{ID_FORMS}_for", ID_COUNTS, GROUPS)


def id_forms_built_for(con: duckdb.DuckDBPyConnection, run_month: str, as_of: dt.date) -> bool:
    """Whether `stg_id_forms` exists in this connection, built for this month and day. (Asked of
    the catalog: a failed query would abort the run's transaction.)"""
    present = con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary AND list_contains(?, table_name)",
                          [list(_ID_FORMS_TABLES)]).fetchall()[0][0]
    if present != len(_ID_FORMS_TABLES):
        return False
    row = con.execute(f"SELECT run_month, as_of FROM temp.main.{ID_FORMS}_for").fetchall()
    return row == [(run_month, as_of)]


def drop_id_forms(con: duckdb.DuckDBPyConnection) -> None:
    for table in _ID_FORMS_TABLES:
        con.execute(f"DROP TABLE IF EXISTS temp.main.{table}")


def id_status_counts_sql(table: str) -> str:
    """The month's rows of raw `table` per ID status (`build_id_forms` must have run)."""
    return f"SELECT id_status, n FROM temp.main.{ID_COUNTS} WHERE tbl = {lit(table)}"


def stage(con: duckdb.DuckDBPyConnection, run_month: str, as_of: str, persist: bool = False,
          reuse_id_forms: bool = False) -> dict[str, int]:
    """Build `stg_members` and `stg_registry` (temporary unless `persist`) for the month. Returns row counts.

    `reuse_id_forms`: the gate has just built `stg_id_forms` in this connection and nothing has
    been loaded since (the monthly run); it is reused when it was built for this month and day."""
    install_macros(con)
    day = dt.date.fromisoformat(as_of)
    if not (reuse_id_forms and id_forms_built_for(con, run_month, day)):
        build_id_forms(con, run_month, day)
    sources = present_sources(con, run_month)
    refresh_name_forms(con, run_month, sources)
    con.execute("""CREATE TABLE IF NOT EXISTS stg_members (
        run_month VARCHAR, member_key VARCHAR, household_id VARCHAR, active BOOLEAN,
        district_code VARCHAR, community VARCHAR, enrolled_on DATE,
        name VARCHAR, name_clean VARCHAR, name_simplified VARCHAR, name_pinyin VARCHAR, surname_pinyin VARCHAR,
        id_raw VARCHAR, id_number VARCHAR, id_was_15 BOOLEAN, id_status VARCHAR, birth_date DATE, sex VARCHAR,
        relation VARCHAR, is_beneficiary BOOLEAN, monthly_income DOUBLE, _row_number INTEGER)""")
    con.execute("DELETE FROM stg_members WHERE run_month = $m", {"m": run_month})
    con.execute("""
        INSERT INTO stg_members
        SELECT $m, m.household_id || '#' || row_number() OVER (PARTITION BY m.household_id ORDER BY m._row_number),
               m.household_id, h.status = '在保', h.district_code, h.community, h.enrolled_on,
               m.name, nf.name_clean, nf.name_simplified, nf.name_pinyin, nf.surname_pinyin,
               m.id_number, f.id_number, f.id_was_15, f.id_status, f.birth_date, f.sex,
               m.relation, m.is_beneficiary, coalesce(m.monthly_income, 0), m._row_number
        FROM raw_roster_members m JOIN raw_roster_households h ON h.household_id = m.household_id AND h.run_month = $m
        JOIN stg_id_forms f ON f.id_key = coalesce(m.id_number, '')
        LEFT JOIN name_forms nf ON nf.name = m.name
        WHERE m.run_month = $m
    """, {"m": run_month})
    con.execute("DROP VIEW IF EXISTS temp.main.stg_registry")
    database = con.execute("SELECT current_database()").fetchall()[0][0]
    con.execute(f"DROP TABLE IF EXISTS {quote_ident(database)}.main.stg_registry")  # kept by an earlier version or a bench
    # Grouped (by `build_id_forms`) before the forms are joined: 23 million rows hold 4.3
    # million persons at city scale.
    con.execute(f"""
        CREATE OR REPLACE {'TABLE' if persist else 'TEMP TABLE'} {PERSONS} AS
        SELECT g.source, {registry_key_sql('g.first_record', 'g.source')} AS key, g.name,
               nf.name_clean, nf.name_simplified, nf.name_pinyin, nf.surname_pinyin,
               g.id_raw, f.id_number, f.id_was_15, f.id_status, f.birth_date, f.sex, g.n
        FROM temp.main.{GROUPS} g
        LEFT JOIN name_forms nf ON nf.name = g.name
        JOIN stg_id_forms f ON f.id_key = coalesce(g.id_raw, '')""")
    if persist:  # the linkage benchmark copies the staged rows out of the file
        con.execute(registry_view_sql("TABLE").replace("CREATE OR REPLACE TABLE stg_registry AS",
                                                       f"CREATE TABLE {quote_ident(database)}.main.stg_registry AS"))
    else:
        con.execute(registry_view_sql())
    drop_id_forms(con)
    return {
        "members": con.execute("SELECT count(*) FROM stg_members WHERE run_month = $m", {"m": run_month}).fetchall()[0][0],
        "registry_rows": int(con.execute(f"SELECT coalesce(sum(n), 0) FROM {PERSONS}").fetchall()[0][0]),
        "registry_persons": con.execute(f"SELECT count(*) FROM {PERSONS}").fetchall()[0][0],
    }
