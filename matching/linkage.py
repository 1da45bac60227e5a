"""The linkage engine: blocking → comparison levels → Fellegi–Sunter scores → classes.

One engine links any two staged person views: registry persons to roster members
(`link_pairs`, what the rules read), roster members to each other (duplicate
enrolment, X02), and staff to household-registration persons (X01). Stages are SQL
built by `*_sql` functions and run as tables prefixed `link_`. A registry person is one
row per registry and typed (name, ID) (`matching.staging`); each side of a job carries
`n`, the records a row stands for, and what is found is written once per record.

Classes: `exact` (an equal ID and a consistent name), `probable` and `possible` from the match
probability (policy knobs `linkage.*`), within the safety rules of `matching.safety`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

from matching.blocking import (
    BLOCKING_RULES,
    LEFT_FAILING_IDS,
    LEFT_VALID_IDS,
    RIGHT_FAILING_IDS,
    blocked_sql,
    candidates_sql,
    id_variants_sql,
)
from matching.comparisons import (
    CONSISTENT_NAME_LEVELS,
    ID_COMPARISON,
    ID_DIFF_SQL,
    MATCH_PROBABILITY_LABEL,
    NAME_COMPARISON,
    Comparison,
)
from matching.model import FLOOR, ComparisonParams, Model, em_single, smoothed
from matching.name_levels import FORM_COLUMNS, cross_level_counts, level_frame
from matching.policy import Policy
from matching.safety import class_sql
from matching.staging import PERSONS, RECORDS, REGISTRY_KEY, same_person_sql

log = logging.getLogger(__name__)

PERSON_COLUMNS = ("name", "name_clean", "name_simplified", "name_pinyin", "surname_pinyin",
                  "id_number", "id_status", "id_was_15", "birth_date", "sex")
ESTIMATION_SAMPLE_ROWS = 300_000  # registry rows the model is fitted on at city scale
U_SAMPLE_ROWS = 2000  # rows drawn from each side for the random-pair u estimate (2000² pairs)
# Starting values of the estimates (not thresholds): EM and the random-pair counts move
# away from them as far as the data supports; a small roster stays near them.
M_NAME_START = {"exact": 0.82, "simplified": 0.03, "homophone": 0.05, "separator": 0.005, "lookalike": 0.01,
                "char_missing": 0.01, "given_char": 0.02, "one_char": 0.01, "similar": 0.02, "different": 0.025}
M_ID_START = {"exact": 0.8, "exact_15": 0.03, "one_substitution": 0.04, "transposition": 0.03,
              "id15_typo": 0.005, "two_substitutions": 0.005, "different": 0.09}
U_ID_START = {"null": 0.05, "exact": 1e-7, "exact_15": 1e-8, "roster_typo": 1e-8, "one_substitution": 1e-6,
              "transposition": 1e-7, "id15_typo": 1e-7, "two_substitutions": 1e-7, "different": 0.95}
U_NAME_START = {"null": 0.01, "exact": 2e-4, "simplified": 1e-5, "homophone": 1e-4, "separator": 1e-6,
                "lookalike": 1e-4, "char_missing": 1e-3, "given_char": 2e-3, "one_char": 2e-3, "similar": 5e-3,
                "different": 0.98}
# m of the roster's own ID mistyped: never trained (the ID's m is fitted on members whose ID is
# valid), so it is the one-substitution start, the same slip made on the other side.
M_ROSTER_TYPO = 0.04
U_PSEUDO = 100_000.0  # pseudo-pairs behind the u starting values


@dataclass
class LinkResult:
    job: str
    candidates_by_rule: dict[str, int]
    compared: int
    linked: dict[str, int] = field(default_factory=dict)


def views_sql(left_sql: str, right_sql: str) -> str:
    return f"CREATE OR REPLACE TEMP VIEW L AS {left_sql};\nCREATE OR REPLACE TEMP VIEW R AS {right_sql};"


NAME_PAIRS = "link_name_pairs"  # (l_clean, r_clean, name_level): the candidates' distinct pairs of names


def name_pairs_sql(pairs: str = "link_candidates") -> str:
    """The distinct pairs of name forms of the candidate pairs in `pairs` (l_key, r_key)."""
    forms = ", ".join(f"{side}.name_{form} AS {side}_{form}" for side in "lr" for form in FORM_COLUMNS)
    return f"SELECT DISTINCT {forms} FROM {pairs} c JOIN L l ON l.key = c.l_key JOIN R r ON r.key = c.r_key"


def build_name_levels(con: duckdb.DuckDBPyConnection, jw_threshold: float, pairs: str = "link_candidates") -> None:
    """`link_name_pairs`: the name level of every distinct pair of names among the candidates,
    computed by `matching.name_levels` (rapidfuzz) and joined back by `compared_sql`. Every
    name form is a function of the cleaned name, so the pair of cleaned names is the key."""
    frame = level_frame(con.sql(name_pairs_sql(pairs)).pl(), jw_threshold)
    con.register("_name_pairs_in", frame.select("l_clean", "r_clean", "name_level").to_arrow())
    con.execute(f"CREATE OR REPLACE TEMP TABLE {NAME_PAIRS} AS SELECT * FROM _name_pairs_in")
    con.unregister("_name_pairs_in")


def compared_sql(exclude: str | None = None) -> str:
    """Every candidate pair with its comparison levels and the ID positions that differ
    (`build_name_levels` has levelled the candidates' names)."""
    extra = f"WHERE NOT ({exclude})" if exclude else ""
    return f"""
CREATE OR REPLACE TEMP TABLE link_compared AS
SELECT c.l_key, c.r_key, l.n AS l_n, r.n AS r_n, c.block_rule, l.name AS l_name, r.name AS r_name,
       l.name_pinyin AS l_pinyin, id_diff,
       {ID_COMPARISON.level_sql()} AS id_level,
       coalesce(nl.name_level, 'null') AS name_level,
       r.id_status AS r_id_status, r.id_was_15 AS r_id_was_15, r.id_number AS r_id_number,
       l.id_number AS l_id_number
FROM link_candidates c JOIN L l ON l.key = c.l_key JOIN R r ON r.key = c.r_key
     LEFT JOIN {NAME_PAIRS} nl ON nl.l_clean IS NOT DISTINCT FROM l.name_clean
                              AND nl.r_clean IS NOT DISTINCT FROM r.name_clean,
     LATERAL (SELECT {ID_DIFF_SQL} AS id_diff) d
{extra}"""


def _levels_select(pairs: str) -> str:
    """ID levels of the pairs in a FROM clause that exposes `l` and `r` (used for random pairs)."""
    return f"""
SELECT {ID_COMPARISON.level_sql()} AS id_level
FROM {pairs}, LATERAL (SELECT {ID_DIFF_SQL} AS id_diff) d"""


def _name_counts(con: duckdb.DuckDBPyConnection, side_sql: str) -> pl.DataFrame:
    """The distinct name forms of a sample, with how many of its rows carry each."""
    return con.sql(f"SELECT name_clean AS clean, name_simplified AS simplified, name_pinyin AS pinyin, "
                   f"count(*) AS n FROM ({side_sql}) GROUP BY ALL ORDER BY ALL").pl()


def sample_sql(source: str, rows: int, seed: int) -> str:
    """A deterministic pseudo-random sample: the rows whose seeded key hash is smallest.
    (DuckDB's REPEATABLE reservoir sample is not repeatable across threads, and a re-run of a
    month must give the same model.)"""
    return f"SELECT * FROM {source} ORDER BY hash(key || '#{seed}') LIMIT {rows}"


def _counts(con, sql: str, params: dict) -> dict[str, float]:
    """Level -> count, in level order: EM sums over the levels, and floating-point sums taken
    in the order a parallel GROUP BY happens to return moved the fitted m in its last bit
    (a re-run's match scores then differed by 2e-16)."""
    return {k: float(v) for k, v in sorted(con.execute(sql, params).fetchall())}


NAME_BLOCKED_SAMPLE_ROWS = 200_000  # registry rows whose name-blocked pairs give m for the ID


def name_blocked_id_levels_sql(seed: int) -> str:
    """ID levels, with their counts, of every pair (member with a valid ID, sampled registry row
    with a usable ID) whose names have the same pinyin; the pairs themselves are never listed.

    Common names make these pairs many (26 million at city scale), and nearly all are
    'different'. Every other level needs equal IDs or a registry ID that fails its check, so
    the levels are computed for those pairs only, and 'different' gets the rest of the total
    (the sum over names of members × rows). `tests/test_linkage_estimate.py` proves the counts
    equal those of levelling every pair."""
    return f"""
WITH lv AS MATERIALIZED (SELECT * FROM L WHERE id_status = 'valid'),
     rs AS MATERIALIZED (SELECT r.* FROM ({sample_sql('R', NAME_BLOCKED_SAMPLE_ROWS, seed)}) r,
                              (SELECT 'valid' AS id_status) l  -- beside a valid member: not at the 'null' level
                         WHERE NOT coalesce({ID_COMPARISON.level('null').condition}, FALSE)),
     total AS (SELECT coalesce(sum(nl * nr), 0) AS n
               FROM (SELECT name_pinyin, count(*) AS nl FROM lv GROUP BY 1) a
               JOIN (SELECT name_pinyin, count(*) AS nr FROM rs GROUP BY 1) b ON b.name_pinyin = a.name_pinyin),
     notable AS ({_levels_select("lv l JOIN rs r ON r.name_pinyin = l.name_pinyin AND r.id_number = l.id_number")}
                 UNION ALL
                 {_levels_select("lv l JOIN (SELECT * FROM rs WHERE id_status <> 'valid' OR id_was_15) r "
                                 "ON r.name_pinyin = l.name_pinyin AND r.id_number <> l.id_number")})
SELECT id_level, sum(n) FROM (
    SELECT id_level, count(*) AS n FROM notable GROUP BY 1
    UNION ALL
    SELECT 'different', (SELECT n FROM total) - (SELECT count(*) FROM notable))
GROUP BY 1"""


def estimate_model(con: duckdb.DuckDBPyConnection, policy: Policy, seed: int = 20260101) -> Model:
    """Fit u on random pairs and m by EM on candidate pairs (see module `matching.model`)."""
    left, right = sample_sql('L', U_SAMPLE_ROWS, seed), sample_sql('R', U_SAMPLE_ROWS, seed)
    con.execute(f"CREATE OR REPLACE TEMP TABLE link_random AS {_levels_select(f'({left}) l, ({right}) r')}")
    # A valid ID is one person's (GB 11643): random pairs that share one are the same person,
    # so they are no evidence of how often two different people agree (at a small roster they
    # were 24 of 4 million random pairs, and made an equal ID look 30 times weaker than it is).
    u_id = smoothed({level: n for level, n in _counts(con, "SELECT id_level, count(*) FROM link_random GROUP BY 1",
                                                      {}).items() if level not in ("exact", "exact_15")},
                    U_ID_START, U_PSEUDO)
    # the same pairs' name levels, from the two samples' distinct names (rapidfuzz's cdist)
    random_names = cross_level_counts(_name_counts(con, left), _name_counts(con, right),
                                      float(policy["linkage.name_jaro_winkler"]))
    u_name = smoothed(dict(sorted(random_names.items())), U_NAME_START, U_PSEUDO)

    # m for the name: pairs blocked by equal ID (the name played no part in finding them).
    name_counts = _counts(con, "SELECT name_level, count(*) FROM link_compared WHERE id_level IN ('exact', 'exact_15') "
                               "AND name_level <> 'null' GROUP BY 1", {})
    for code in M_NAME_START:
        name_counts.setdefault(code, 0.0)
    m_name, _, it_name = em_single(name_counts, u_name, M_NAME_START, lam_start=0.9)

    # m for the ID: pairs whose names sound the same (the ID played no part in finding them).
    id_counts = _counts(con, name_blocked_id_levels_sql(seed), {})
    for code in M_ID_START:
        id_counts.setdefault(code, 0.0)
    # Among name-blocked pairs the share of true matches is fixed from a deterministic rule:
    # pairs whose IDs are equal are matches, and they are the share M_ID_START says equal IDs
    # have among matches. Left free, EM drifted to λ≈1 and m(exact)≈0 at city scale
    # (measured by the linkage benchmark: recall 0.96 instead of 0.99).
    total = sum(id_counts.values()) or 1.0
    equal = id_counts.get("exact", 0.0) + id_counts.get("exact_15", 0.0)
    lam_id = min(max(equal / total / (M_ID_START["exact"] + M_ID_START["exact_15"]), 1e-6), 0.99)
    m_id, _, it_id = em_single(id_counts, u_id, M_ID_START, lam_start=lam_id, fix_lambda=True)
    m_id["roster_typo"] = M_ROSTER_TYPO

    n_left = con.execute("SELECT count(*) FROM L").fetchall()[0][0] or 1
    n_right = con.execute("SELECT count(*) FROM R").fetchall()[0][0] or 1
    exact_consistent = con.execute(
        "SELECT count(*) FROM link_compared WHERE id_level IN ('exact', 'exact_15') AND name_level IN "
        f"({', '.join(repr(c) for c in CONSISTENT_NAME_LEVELS)})").fetchall()[0][0]
    share_exact = max(m_id.get("exact", 0) + m_id.get("exact_15", 0), 0.05)
    expected_matches = max(exact_consistent / share_exact, 1.0)
    prior = min(max(expected_matches / (n_left * n_right), FLOOR * FLOOR), 0.5)
    return Model(
        prior=prior,
        comparisons={
            "id": ComparisonParams(m_id, u_id, null_levels=("null",)),
            "name": ComparisonParams(m_name, u_name, null_levels=("null",)),
        },
        em_iterations={"id": it_id, "name": it_name},
    )


def _weights_table(con: duckdb.DuckDBPyConnection, model: Model) -> None:
    rows = []
    for name, comparison in (("id", ID_COMPARISON), ("name", NAME_COMPARISON)):
        params = model.comparisons[name]
        for level in comparison.levels:
            rows.append((name, level.code, params.m.get(level.code, FLOOR), params.u.get(level.code, FLOOR),
                         params.weight(level.code), level.tf_adjusted, level.is_null))
    con.execute("CREATE OR REPLACE TEMP TABLE link_weights (comparison VARCHAR, level VARCHAR, m DOUBLE, u DOUBLE, "
                "weight DOUBLE, tf_adjusted BOOLEAN, is_null BOOLEAN)")
    con.executemany("INSERT INTO link_weights VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


def tf_sql() -> str:
    """Frequency of each name's pinyin over both sides' records (a registry person counts once
    per record, `n`): the u of 'names agree' for that name."""
    return """
CREATE OR REPLACE TEMP TABLE link_tf AS
SELECT name_pinyin, sum(n) / sum(sum(n)) OVER () AS tf
FROM (SELECT name_pinyin, n FROM L UNION ALL SELECT name_pinyin, n FROM R)
WHERE name_pinyin IS NOT NULL AND name_pinyin <> ''
GROUP BY 1"""


def tf_weight_sql(m: str, tf: str) -> str:
    """A term-frequency-adjusted name weight: the name's frequency is its u."""
    return f"log2(greatest({m}, {FLOOR}) / greatest({tf}, {FLOOR}))"


def open_names_sql(model: Model, policy: Policy) -> str:
    """`link_name_open`: the name pinyins under which a record with no usable ID can still
    reach `possible`, so that `name_pinyin_no_id` blocks only those (an exact bound, no loss).

    Such a pair's ID level is 'null' (weight 0) and its name level, the pinyins being equal,
    one of the term-frequency-adjusted levels; its weight is at most
    prior + log2(max m / tf(name)), the same expression `scored_sql` evaluates. At city
    scale this keeps a few thousand of some forty million name-only pairs: a blank-ID
    王秀英 among hundreds of 王秀英 is nobody's lead."""
    possible = float(policy["linkage.possible_threshold"])
    params = model.comparisons["name"]
    m_max = max(params.m.get(level.code, FLOOR) for level in NAME_COMPARISON.levels if level.tf_adjusted)
    need = math.log2(possible / (1 - possible))  # the weight whose posterior is `possible`
    return f"""
CREATE OR REPLACE TEMP TABLE link_name_open AS
SELECT name_pinyin FROM link_tf
WHERE {model.prior_weight!r} + {tf_weight_sql(repr(m_max), 'tf')} >= {need!r} - 1e-9"""


NO_NAMES_OPEN = "CREATE OR REPLACE TEMP TABLE link_name_open (name_pinyin VARCHAR)"


def _label_sql(comparison: Comparison, level_col: str) -> str:
    whens = " ".join(f"WHEN '{lv.code}' THEN '{lv.label}'" for lv in comparison.levels)
    template = f"CASE {level_col} {whens} END"
    return (f"replace(replace(replace({template}, '{{pos}}', array_to_string(id_diff, '、')), "
            f"'{{r_name}}', coalesce(r_name, '')), '{{l_name}}', coalesce(l_name, ''))")


def scored_sql(model: Model) -> str:
    """Weights, posterior probability, safety caps and the class of every compared pair."""
    return f"""
CREATE OR REPLACE TEMP TABLE link_scored AS
WITH w AS (
    SELECT c.*,
           wi.weight AS id_weight,
           CASE WHEN wn.tf_adjusted AND tf.tf IS NOT NULL THEN {tf_weight_sql('wn.m', 'tf.tf')} ELSE wn.weight END
               AS name_weight
    FROM link_compared c
    JOIN link_weights wi ON wi.comparison = 'id' AND wi.level = c.id_level
    JOIN link_weights wn ON wn.comparison = 'name' AND wn.level = c.name_level
    LEFT JOIN link_tf tf ON tf.name_pinyin = c.l_pinyin
), s AS (
    SELECT *, {model.prior_weight!r} + id_weight + name_weight AS total_weight,
           1 / (1 + pow(2, -greatest(least({model.prior_weight!r} + id_weight + name_weight, 60), -60)))
               AS probability
    FROM w
)
SELECT *,
    {class_sql()} AS match_class,
    {_label_sql(ID_COMPARISON, 'id_level')} || '；' || {_label_sql(NAME_COMPARISON, 'name_level')}
        || '；{MATCH_PROBABILITY_LABEL}' || printf('%.3f', probability) AS evidence
FROM s"""


def best_sql() -> str:
    """Keep, for each registry row, only the best-scoring person; a tie between different people is 'possible'."""
    return """
CREATE OR REPLACE TEMP TABLE link_best AS
WITH k AS (
    SELECT *, max(probability) OVER (PARTITION BY r_key) AS best,
           count(DISTINCT l_id_number) FILTER (WHERE match_class IN ('exact', 'probable'))
               OVER (PARTITION BY r_key, probability) AS rivals
    FROM link_scored WHERE match_class IS NOT NULL
)
SELECT * REPLACE (CASE WHEN match_class = 'probable' AND rivals > 1 THEN 'possible' ELSE match_class END AS match_class)
FROM k WHERE probability = best OR match_class = 'exact'"""


def candidates_and_compare(con: duckdb.DuckDBPyConnection, left_sql: str, right_sql: str, policy: Policy,
                           exclude: str | None = None, variants_ready: bool = False,
                           neighbourhood: str = "left") -> dict[str, int]:
    """Views L and R, blocking (pairs counted per rule) and comparison levels: `link_compared`.

    `neighbourhood`: the side whose one-edit ID variants are built ('left' or 'right', see
    `matching.blocking.id_variants_sql`); the other side's table is left empty.
    `variants_ready`: the left side's ID neighbourhood (`link_id_variants`) was built for
    this same left view already (each registry scored against the same members)."""
    con.execute(views_sql(left_sql, right_sql))
    if neighbourhood == "right":
        con.execute(id_variants_sql("link_id_variants", f"{LEFT_VALID_IDS} LIMIT 0"))
        con.execute(id_variants_sql("link_id_variants_r", RIGHT_FAILING_IDS))
    else:
        if not variants_ready:
            con.execute(id_variants_sql("link_id_variants", LEFT_VALID_IDS))
        con.execute(id_variants_sql("link_id_variants_r", f"{RIGHT_FAILING_IDS} LIMIT 0"))
    con.execute(id_variants_sql("link_id_variants_lf", LEFT_FAILING_IDS))
    con.execute(f"CREATE OR REPLACE TEMP TABLE link_blocked AS {blocked_sql()}")
    counts = dict.fromkeys((rule.name for rule in BLOCKING_RULES), 0)
    # pairs of records: a pair of persons stands for n × n of them
    counts.update({rule: int(n) for rule, n in con.execute(
        "SELECT b.block_rule, sum(l.n * r.n) FROM link_blocked b JOIN L l ON l.key = b.l_key "
        "JOIN R r ON r.key = b.r_key GROUP BY 1").fetchall()})
    con.execute(f"CREATE OR REPLACE TEMP TABLE link_candidates AS {candidates_sql()}")
    con.execute("DROP TABLE link_blocked")
    build_name_levels(con, float(policy["linkage.name_jaro_winkler"]))
    con.execute(compared_sql(exclude))
    return counts


SAMPLE_MARGIN = 2  # the hash prefilter of `registry_sample_sql` keeps this many times the rows wanted, on average


def registry_sample_sql(rows: int, seed: int, total: int = 0) -> str:
    """`sample_sql` over `REGISTRY_SQL`, the same rows, drawn from the registry rows alone
    (`stg_registry_records`) and joined to their persons' forms afterwards: ordering 23
    million whole staged rows to keep 300,000 took 8.5 s of a city run.

    With `total` (the registry rows), only rows whose hash is below a bound that about
    `SAMPLE_MARGIN` × `rows` of them pass are ordered. Every row with a smaller hash than a
    row that passes passes too, so when at least `rows` pass they are the same rows;
    `estimate` draws again without the bound when fewer do."""
    bound = ""
    if total > rows:
        limit = min(int(SAMPLE_MARGIN * rows / total * 2.0 ** 64), 2 ** 64 - 1)
        bound = f"WHERE hash({REGISTRY_KEY} || '#{seed}') < {limit}::UBIGINT "
    return (f"SELECT r.key, r.source, r.record_id, 1 AS n, {_person_cols('p.')} "
            f"FROM (SELECT *, {REGISTRY_KEY} AS key FROM {RECORDS} {bound}"
            f"ORDER BY hash({REGISTRY_KEY} || '#{seed}') LIMIT {rows}) r "
            f"JOIN {PERSONS} p ON p.source = r.source AND {same_person_sql('r', 'p')}")


def estimate(con: duckdb.DuckDBPyConnection, left_sql: str, right_sql: str, policy: Policy,
             sample_rows: int = ESTIMATION_SAMPLE_ROWS, right_sample: Callable[[int, int, int], str] | None = None,
             right_rows: int | None = None) -> Model:
    """Fit the model on all right-side rows, or a seeded sample of them when there are more
    than `sample_rows` (the prior is per pair, so it does not depend on the sample's size).
    `right_sample(rows, seed, total)`, when given, is a faster query for the rows `sample_sql`
    draws, which may hold fewer rows when given the total (then it is asked again with 0).
    `right_rows`: the right side's rows, when the caller knows them without counting."""
    n_right = right_rows if right_rows is not None else con.execute(f"SELECT count(*) FROM ({right_sql})").fetchall()[0][0]
    if n_right > sample_rows:  # kept as a table: the fit reads R many times
        sample = right_sample(sample_rows, 7, n_right) if right_sample else sample_sql(f"({right_sql})", sample_rows, 7)
        con.execute(f"CREATE OR REPLACE TEMP TABLE link_fit_sample AS {sample}")
        if right_sample and con.execute("SELECT count(*) FROM link_fit_sample").fetchall()[0][0] < sample_rows:
            con.execute(f"CREATE OR REPLACE TEMP TABLE link_fit_sample AS {right_sample(sample_rows, 7, 0)}")
        right_sql = "SELECT * FROM link_fit_sample"
    con.execute(NO_NAMES_OPEN)  # name-only pairs carry nothing the fit uses
    candidates_and_compare(con, left_sql, right_sql, policy)
    return estimate_model(con, policy)


def score(con: duckdb.DuckDBPyConnection, job: str, left_sql: str, right_sql: str, policy: Policy,
          model: Model, exclude: str | None = None, own_tf: bool = True,
          variants_ready: bool = False, neighbourhood: str = "left") -> LinkResult:
    """Link the right view to the left view with a fitted model; leaves the result in `link_best`.

    Name frequencies (`link_tf`) come from L and R, unless `own_tf` is false: then the
    caller has built `link_tf` over everything (each registry scored apart must see the
    city's name frequencies, not its own)."""
    con.execute(views_sql(left_sql, right_sql))  # the name frequencies and the open names read them
    if own_tf:
        con.execute(tf_sql())
    con.execute(open_names_sql(model, policy))
    counts = candidates_and_compare(con, left_sql, right_sql, policy, exclude, variants_ready, neighbourhood)
    _weights_table(con, model)
    con.execute(scored_sql(model), {"possible": policy["linkage.possible_threshold"],
                                    "probable": policy["linkage.probable_threshold"]})
    con.execute(best_sql())
    # counted in pairs of records, as `link_pairs` holds them
    linked = {c: int(n) for c, n in con.execute("SELECT match_class, sum(l_n * r_n) FROM link_best GROUP BY 1").fetchall()}
    compared = int(con.execute("SELECT coalesce(sum(l_n * r_n), 0) FROM link_compared").fetchall()[0][0])
    result = LinkResult(job, counts, compared, linked)
    log.info("linkage %s: candidates %s, compared %d, linked %s", job, counts, compared, linked)
    return result


def run_job(con: duckdb.DuckDBPyConnection, job: str, left_sql: str, right_sql: str, policy: Policy,
            model: Model | None = None, exclude: str | None = None,
            neighbourhood: str = "left") -> tuple[LinkResult, Model]:
    """Estimate (unless a model is given) and score one linkage job; leaves the result in `link_best`."""
    if model is None:
        model = estimate(con, left_sql, right_sql, policy)
    return score(con, job, left_sql, right_sql, policy, model, exclude, neighbourhood=neighbourhood), model


def _person_cols(prefix: str = "") -> str:
    return ", ".join(f"{prefix}{c}" for c in PERSON_COLUMNS)


# Every side of a job has `key`, the person columns and `n`, the records it stands for.
MEMBERS_SQL = (f"SELECT member_key AS key, household_id, 1 AS n, {_person_cols()} FROM stg_members "
               "WHERE run_month = '{month}'")
# Registry rows one by one (the model is fitted on a sample of them; tests and the benchmark read them).
REGISTRY_SQL = f"SELECT {REGISTRY_KEY} AS key, source, record_id, 1 AS n, {_person_cols()} FROM stg_registry"
# Registry persons (what is scored): `key` is the source and the person's first record id.
PERSONS_SQL = f"SELECT key, source, id_raw, n, {_person_cols()} FROM {PERSONS}"
# What one registry's scoring found, per person; `_store_part` writes it once per record.
PART_SQL = """SELECT r.source, r.name, r.id_raw, b.l_key, b.match_class, b.probability, b.id_level, b.name_level,
                     b.block_rule, b.evidence
              FROM link_best b JOIN R r ON r.key = b.r_key"""


def records_of_sql(source: str) -> str:
    """One registry's rows (record_id, name, id_raw) of the month, to expand its persons by
    (the source is written in: DuckDB then reads that registry's raw table alone)."""
    if not source.replace("_", "").isalnum():
        raise ValueError(f"not a registry name: {source!r}")
    return f"(SELECT record_id, name, id_raw FROM {RECORDS} WHERE source = '{source}')"

# One registry's linkage as a pure function of Arrow tables, so that a task runner can
# send it to another thread, process or Dask worker: it opens its own in-memory DuckDB.
PartitionMapper = Callable[[Callable[..., Any], list[tuple[Any, ...]]], list[Any]]


def link_partition(members: pa.Table, registry: pa.Table, name_tf: pa.Table, model: Model,
                   policy_values: dict[str, Any], memory_limit: str | None = None) -> tuple[pa.Table, LinkResult]:
    con = duckdb.connect(config={"memory_limit": memory_limit} if memory_limit else {})
    try:
        con.register("members_in", members)
        con.register("registry_in", registry)
        con.register("link_tf", name_tf)
        source = registry["source"][0].as_py() if registry.num_rows else "registry"
        result = score(con, source, "SELECT * FROM members_in", "SELECT * FROM registry_in",
                       Policy(policy_values), model, own_tf=False)
        return con.sql(PART_SQL).to_arrow_table(), result
    finally:
        con.close()


def link_month(con: duckdb.DuckDBPyConnection, run_month: str, policy: Policy,
               mapper: PartitionMapper | None = None,
               on_source: Callable[[str, LinkResult], None] | None = None) -> dict[str, LinkResult]:
    """Run every linkage job of the month and store `link_pairs`, `link_member_pairs`,
    `link_staff_hukou`, `link_model` and `link_blocking` (rows of that month replaced).

    The model is fitted once on all registries (a sample at city scale); then each
    registry is scored on its own: in this connection, or, with `mapper`, as
    `link_partition` tasks that a Prefect task runner may run concurrently or on Dask.
    """
    _ensure_tables(con)
    for table in ("link_pairs", "link_member_pairs", "link_staff_hukou", "link_model", "link_blocking"):
        con.execute(f"DELETE FROM {table} WHERE run_month = ?", [run_month])
    members = MEMBERS_SQL.format(month=run_month)
    results: dict[str, LinkResult] = {}

    total = int(con.execute(f"SELECT coalesce(sum(n), 0) FROM {PERSONS}").fetchall()[0][0])
    model = estimate(con, members, REGISTRY_SQL, policy, right_sample=registry_sample_sql, right_rows=total)
    for comparison, level, m, u, weight in model.rows():
        con.execute("INSERT INTO link_model VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [run_month, comparison, level, m, u, weight, model.prior])
    sources = [r[0] for r in con.execute(f"SELECT DISTINCT source FROM {PERSONS} ORDER BY 1").fetchall()]
    con.execute(views_sql(members, PERSONS_SQL))
    con.execute(tf_sql())  # the city's name frequencies, kept while each registry is scored
    if mapper is None:
        for source in sources:
            # `estimate` built the members' ID neighbourhood (`link_id_variants`) already
            res = score(con, source, members, f"{PERSONS_SQL} WHERE source = '{source}'", policy, model,
                        own_tf=False, variants_ready=True)
            con.execute(f"CREATE OR REPLACE TEMP TABLE link_part AS {PART_SQL}")
            _store_part(con, run_month, source)
            results[source] = res
            if on_source:
                on_source(source, res)
    else:
        members_arrow = con.sql(members).to_arrow_table()
        name_tf = con.sql("SELECT * FROM link_tf").to_arrow_table()
        limit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]  # each partition's too
        work = [(members_arrow, con.sql(f"{PERSONS_SQL} WHERE source = $s", params={"s": s}).to_arrow_table(),
                 name_tf, model, policy.as_dict(), limit) for s in sources]
        for source, (part, res) in zip(sources, mapper(link_partition, work), strict=True):
            con.register("link_part", part)
            _store_part(con, run_month, source)
            con.unregister("link_part")
            results[source] = res
            if on_source:
                on_source(source, res)

    # Duplicate enrolment: active members against active members of other households.
    active = MEMBERS_SQL.format(month=run_month) + " AND active"
    # The ID neighbourhood on the right: both sides are the same members, and the right's
    # failing IDs are a few hundred where the left's valid ones are 150,000 (2.7 s at city scale).
    res, _ = run_job(con, "members", active, active, policy, model,
                     exclude="l.household_id = r.household_id OR l.key >= r.key", neighbourhood="right")
    results["members"] = res
    con.execute("""
        INSERT INTO link_member_pairs
        SELECT $m, b.l_key, b.r_key, b.match_class, b.probability, b.id_level, b.name_level, b.evidence
        FROM link_best b""", {"m": run_month})

    # Staff against household-registration rows (for X01).
    hukou = f"{PERSONS_SQL} WHERE source = 'hukou_members'"
    staff = f"{PERSONS_SQL} WHERE source = 'staff'"
    # The ID neighbourhood is built on the staff side (a thousand rows; household registration
    # is millions): a staff ID the staff list mistyped is still found, as `probable`.
    # (named apart from the staff list's own job against the roster, which is `staff`)
    res, _ = run_job(con, "staff_hukou", hukou, staff, policy, model, neighbourhood="right")
    results["staff_hukou"] = res
    # each pair of persons is every pair of their records
    con.execute(f"""
        INSERT INTO link_staff_hukou
        SELECT $m, s.record_id, h.record_id, b.match_class, b.probability, b.evidence
        FROM link_best b JOIN L lp ON lp.key = b.l_key JOIN R rp ON rp.key = b.r_key
        JOIN {records_of_sql('hukou_members')} h ON {same_person_sql('h', 'lp')}
        JOIN {records_of_sql('staff')} s ON {same_person_sql('s', 'rp')}""", {"m": run_month})

    for job, res in results.items():
        for rule, n in res.candidates_by_rule.items():
            con.execute("INSERT INTO link_blocking VALUES (?, ?, ?, ?)", [run_month, job, rule, n])
    return results


def _store_part(con: duckdb.DuckDBPyConnection, run_month: str, source: str) -> None:
    """`link_part` (one registry's links, per person) into `link_pairs`, one row per record."""
    con.execute(f"""
        INSERT INTO link_pairs
        SELECT $m, p.source, x.record_id, p.l_key, m.household_id, m.id_number, p.match_class, p.probability,
               p.id_level, p.name_level, p.block_rule, p.evidence
        FROM link_part p JOIN {records_of_sql(source)} x ON {same_person_sql('x', 'p')}
        JOIN stg_members m ON m.member_key = p.l_key AND m.run_month = $m
    """, {"m": run_month})


def _ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("""CREATE TABLE IF NOT EXISTS link_pairs (
        run_month VARCHAR, source VARCHAR, source_record_id VARCHAR, member_key VARCHAR, household_id VARCHAR,
        id_number VARCHAR, match_class VARCHAR, match_score DOUBLE, id_level VARCHAR, name_level VARCHAR,
        block_rule VARCHAR, evidence VARCHAR)""")
    con.execute("""CREATE TABLE IF NOT EXISTS link_member_pairs (
        run_month VARCHAR, member_key_a VARCHAR, member_key_b VARCHAR, match_class VARCHAR, match_score DOUBLE,
        id_level VARCHAR, name_level VARCHAR, evidence VARCHAR)""")
    con.execute("""CREATE TABLE IF NOT EXISTS link_staff_hukou (
        run_month VARCHAR, staff_record_id VARCHAR, hukou_record_id VARCHAR, match_class VARCHAR,
        match_score DOUBLE, evidence VARCHAR)""")
    con.execute("""CREATE TABLE IF NOT EXISTS link_model (
        run_month VARCHAR, comparison VARCHAR, level VARCHAR, m DOUBLE, u DOUBLE, weight DOUBLE, prior DOUBLE)""")
    con.execute("""CREATE TABLE IF NOT EXISTS link_blocking (
        run_month VARCHAR, job VARCHAR, rule VARCHAR, candidate_pairs BIGINT)""")
