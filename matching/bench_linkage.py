"""Side-by-side linkage benchmark (`make bench-linkage`): this engine against Splink 5 (DuckDB backend).

    python -m matching.bench_linkage [--households 62000] [--registry-rows 5000000] [--cache DIR]
                                     [--seed 20260101] [--month 2026-10] [--u-pairs 1e8] [--timeout 1800]

1. Data, made once and cached in `<cache>/` (git-ignored `bench/cache/`): the bench-profile
   generator with `truth=True` (`truth_links.parquet`: which registry row is about which roster
   member); 62,000 households give about 156,000 roster members and 23 million registry rows.
   `connectors.load.load_extracts` loads them into DuckDB; the person registries are then cut
   to `--registry-rows` rows: every row named in the truth file is kept (true rows, blank-ID rows
   and look-alikes), the rest is the background rows with the smallest seeded hash of
   (source, record_id), so every registry keeps its share. `matching.staging.stage` then builds
   `stg_members` and `stg_registry`; its time is printed apart, as both engines start from it.
2. Each engine runs in its own child process on a fresh in-memory DuckDB holding a copy of the
   two staged tables (copy time not counted); peak RSS is the child's `ru_maxrss` (`os.wait4`).
   - ours: `matching.linkage.link_month` (fit, then score every registry; it also runs the small
     duplicate-enrolment and staff jobs, timed apart from the log);
   - Splink: `splink_settings()` below, trained as Splink's docs recommend (u by random
     sampling, the prior from a deterministic rule, m by EM on two blocking rules), predicted at
     match probability >= 0.05, the best member kept per registry row (ties kept).
3. Both engines' links are scored against the truth: a finding is `exact`/`probable` for ours and
   match probability >= 0.95 for Splink (our `linkage.probable_threshold`). Recall is over true
   pairs whose row carries an ID; blank-ID pairs are reported apart (linked at any level, i.e.
   our `possible` or Splink >= 0.05 = `linkage.possible_threshold`); a look-alike linked is a
   false positive.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb

from matching.policy import default_policy
from matching.staging import PERSONS, RECORDS, persons_from_records_sql

DEFAULT_CACHE = Path(__file__).resolve().parent.parent / "bench" / "cache"
PERSON_COLUMNS = ("name_clean", "name_simplified", "name_pinyin", "surname_pinyin", "id_number", "id_status",
                  "id_was_15", "birth_date", "sex")
FINDING_PROBABILITY = float(default_policy()["linkage.probable_threshold"])  # Splink judged at our threshold
POSSIBLE_PROBABILITY = 0.05  # Splink's review cut-off (our linkage.possible_threshold is 0.01)
SUBSAMPLE_SEED = 17


# ------------------------------------------------------------------ data


def prepare(cache: Path, households: int, seed: int, month: str, registry_rows: int,
            profile: str = "bench") -> tuple[Path, Path, dict]:
    """Generate (once), load, cut to `registry_rows` and stage; returns (database, truth file, info).
    `profile`: the generator's `bench` (the standard noise in fast formats) or `stress` (written
    apart from this engine: look-alike characters, namesakes and the rest, `sample_data/stress.py`)."""
    from connectors.load import load_extracts
    from matching.staging import PERSON_SOURCES, stage

    tag = "" if profile == "bench" else f"-{profile}"
    gen_dir = cache / f"gen{tag}-h{households}-s{seed}"
    summary_file = gen_dir / "sample.json"
    if not (gen_dir / "truth_links.parquet").exists() or json.loads(summary_file.read_text())["month"] != month:
        from sample_data.generator import generate

        _say(f"generating {households:,} households ({profile} profile) into {gen_dir} ...")
        generate(gen_dir, households, seed, month, profile=profile, truth=True)
    truth = gen_dir / "truth_links.parquet"
    db = cache / f"linkage{tag}-h{households}-s{seed}-r{registry_rows}.duckdb"
    info_file = db.with_suffix(".json")
    if db.exists() and info_file.exists():
        return db, truth, json.loads(info_file.read_text())
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    t0 = time.perf_counter()
    _say("loading extracts ...")
    load_extracts(con, gen_dir, month)
    t1 = time.perf_counter()
    generated = subsample(con, truth, month, registry_rows, [s for s in PERSON_SOURCES])
    t2 = time.perf_counter()
    _say("staging ...")
    counts = stage(con, month, _as_of(month), persist=True)  # the engines read it from the file
    t3 = time.perf_counter()
    con.execute("CHECKPOINT")
    con.close()
    info = {"load_seconds": round(t1 - t0, 1), "subsample_seconds": round(t2 - t1, 1),
            "stage_seconds": round(t3 - t2, 1), "registry_rows_generated": generated, **counts}
    info_file.write_text(json.dumps(info, indent=2) + "\n")
    return db, truth, info


def subsample_sql(sources: list[str], month: str, registry_rows: int) -> str:
    """`bench_keep`: every truth row plus the background rows with the smallest seeded hash."""
    union = " UNION ALL ".join(f"SELECT '{s}' AS source, record_id FROM raw_{s} WHERE run_month = '{month}'"
                               for s in sources)
    return f"""
CREATE OR REPLACE TEMP TABLE bench_keep AS
WITH u AS ({union}),
t AS (SELECT DISTINCT source, record_id FROM bench_truth),
marked AS (SELECT u.*, t.record_id IS NOT NULL AS in_truth FROM u LEFT JOIN t USING (source, record_id))
SELECT source, record_id FROM marked
QUALIFY in_truth OR row_number() OVER (PARTITION BY in_truth ORDER BY hash(source || '|' || record_id || '#{SUBSAMPLE_SEED}'))
    <= {registry_rows} - (SELECT count(*) FROM marked WHERE in_truth)"""


def subsample(con: duckdb.DuckDBPyConnection, truth: Path, month: str, registry_rows: int,
              sources: list[str]) -> int:
    """Cut the person registries to `registry_rows` rows, keeping every truth row. Returns rows before."""
    present = [s for s in sources if con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [f"raw_{s}"]).fetchall()[0][0]]
    before = sum(con.execute(f"SELECT count(*) FROM raw_{s} WHERE run_month = ?", [month]).fetchall()[0][0]
                 for s in present)
    if before <= registry_rows:
        return before
    con.execute(f"CREATE OR REPLACE TEMP TABLE bench_truth AS SELECT * FROM read_parquet('{truth}')")
    con.execute(subsample_sql(present, month, registry_rows))
    for s in present:
        con.execute(f"""CREATE OR REPLACE TABLE raw_{s} AS SELECT * FROM raw_{s} r
                        WHERE r.run_month <> '{month}' OR r.record_id IN
                            (SELECT record_id FROM bench_keep WHERE source = '{s}')""")
    return before


def _as_of(month: str) -> str:
    import calendar

    year, mon = (int(x) for x in month.split("-"))
    return f"{month}-{calendar.monthrange(year, mon)[1]:02d}"


def _copy_staged(db: Path, month: str) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB with the month's staged tables copied in."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{db}' AS src (READ_ONLY)")
    con.execute("CREATE TABLE stg_members AS SELECT * FROM src.stg_members WHERE run_month = ?", [month])
    con.execute("CREATE TABLE stg_registry AS SELECT * FROM src.stg_registry")
    con.execute("DETACH src")
    return con


def _stage_persons(con: duckdb.DuckDBPyConnection) -> None:
    """What staging builds beside `stg_registry` and linkage reads: the registry rows and the persons."""
    con.execute(f"CREATE VIEW {RECORDS} AS SELECT source, record_id, name, id_raw FROM stg_registry")
    con.execute(f"CREATE TABLE {PERSONS} AS {persons_from_records_sql('SELECT * FROM stg_registry')}")


# ------------------------------------------------------------------ engines (each in a child process)


def run_ours(db: Path, month: str, out: Path) -> dict[str, Any]:
    from matching.linkage import link_month
    from matching.policy import default_policy

    con = _copy_staged(db, month)
    marks: list[tuple[float, str]] = []

    class _Marks(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            marks.append((time.perf_counter(), record.getMessage()))

    log = logging.getLogger("matching.linkage")
    log.addHandler(_Marks())
    log.setLevel(logging.INFO)
    t0 = time.perf_counter()
    _stage_persons(con)  # timed with ours: Splink starts from the rows as they are
    results = link_month(con, month, default_policy())
    wall = time.perf_counter() - t0
    side_jobs = ("members", "staff_hukou")
    # The duplicate-enrolment and staff jobs run after every registry: time them from the log.
    done = [t for t, msg in marks if any(msg.startswith(f"linkage {j}:") for j in side_jobs)]
    last_registry = max((t for t, msg in marks if msg.startswith("linkage ")
                         and not any(msg.startswith(f"linkage {j}:") for j in side_jobs)), default=None)
    side = (max(done) - last_registry) if done and last_registry else None
    con.execute(f"""COPY (SELECT source || '|' || source_record_id AS r_key, member_key AS l_key,
                                match_class IN ('exact', 'probable') AS finding, match_score AS probability
                         FROM link_pairs WHERE run_month = '{month}') TO '{out}' (FORMAT parquet)""")
    return {
        "seconds": round(wall, 1), "side_job_seconds": round(side, 1) if side is not None else None,
        "candidate_pairs": sum(r.compared for job, r in results.items() if job not in side_jobs),
        "candidates_by_rule": {job: r.candidates_by_rule for job, r in results.items() if job not in side_jobs},
    }


def splink_settings() -> Any:
    """The Splink model: the same two comparisons as ours, written with Splink's level library."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on
    from splink.blocking_rule_library import CustomRule

    id_comparison = cl.CustomComparison([
        cll.CustomLevel("id_number_r IS NULL OR id_status_r = 'bad_format' OR id_status_l <> 'valid'",
                        "ID missing or unusable").configure(is_null_level=True),
        cll.CustomLevel("id_number_l = id_number_r AND NOT id_was_15_r", "ID equal"),
        cll.CustomLevel("id_number_l = id_number_r AND id_was_15_r", "ID equal after 15->18"),
        cll.CustomLevel("id_status_r <> 'valid' AND length(id_number_l) = length(id_number_r) "
                        "AND hamming(id_number_l, id_number_r) = 1", "one substitution, check fails"),
        cll.CustomLevel("id_status_r <> 'valid' AND length(id_number_l) = length(id_number_r) "
                        "AND damerau_levenshtein(id_number_l, id_number_r) = 1", "adjacent swap, check fails"),
        cll.CustomLevel("id_status_r <> 'valid' AND birth_date_l = birth_date_r AND sex_l = sex_r",
                        "same birth date and sex, check fails"),
        cll.ElseLevel(),
    ], output_column_name="id_number")
    name_comparison = cl.CustomComparison([
        cll.CustomLevel("name_clean_l IS NULL OR name_clean_r IS NULL", "name blank").configure(is_null_level=True),
        cll.ExactMatchLevel("name_clean", term_frequency_adjustments=True),
        cll.ExactMatchLevel("name_simplified", term_frequency_adjustments=True),
        cll.ExactMatchLevel("name_pinyin", term_frequency_adjustments=True),
        cll.CustomLevel("length(name_simplified_l) = length(name_simplified_r) AND length(name_simplified_l) >= 2 "
                        "AND hamming(name_simplified_l, name_simplified_r) = 1", "one character different"),
        cll.JaroWinklerLevel("name_pinyin", 0.88),
        cll.ElseLevel(),
    ], output_column_name="name")
    return SettingsCreator(
        link_type="link_only",
        comparisons=[id_comparison, name_comparison],
        blocking_rules_to_generate_predictions=[
            block_on("id_number"),
            # A single substitution or an adjacent swap leaves one of these parts of the ID intact.
            block_on("substr(id_number, 10, 9)"),
            block_on("substr(id_number, 1, 6)", "substr(id_number, 15, 4)"),
            block_on("birth_date", "sex", "surname_pinyin"),
            CustomRule("l.name_pinyin = r.name_pinyin "
                       "AND (r.id_status IN ('blank', 'bad_format') OR l.id_status <> 'valid')", "duckdb"),
        ],
        retain_matching_columns=False,
    )


SPLINK_INPUT_SQL = """
CREATE TABLE {table} AS
SELECT {key} AS unique_id, name_clean, name_simplified, name_pinyin, surname_pinyin,
       nullif(id_number, '') AS id_number, id_status, id_was_15, birth_date, sex
FROM {source}"""


def run_splink(db: Path, month: str, out: Path, u_pairs: float, em_pairs: float, seed: int) -> dict[str, Any]:
    from splink import DuckDBAPI, Linker, block_on
    from splink.blocking_analysis import count_comparisons_from_blocking_rules

    from matching.linkage import REGISTRY_KEY

    con = _copy_staged(db, month)
    t0 = time.perf_counter()
    # Blank IDs become NULL so that no blocking rule joins '' to ''; the dataset names order members left.
    con.execute(SPLINK_INPUT_SQL.format(table="a_members", key="member_key", source="stg_members"))
    con.execute(SPLINK_INPUT_SQL.format(table="b_registry", key=REGISTRY_KEY, source="stg_registry"))  # our key
    db_api = DuckDBAPI(con)
    left = db_api.register("a_members", dataset_display_name="a_members")
    right = db_api.register("b_registry", dataset_display_name="b_registry")
    settings = splink_settings()
    linker = Linker([left, right], settings, log_level=logging.WARNING)
    phases = {}
    t = time.perf_counter()
    linker.training.estimate_probability_two_random_records_match(
        ["l.id_number = r.id_number AND l.name_pinyin = r.name_pinyin"], recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=u_pairs, seed=seed)
    phases["u_and_prior"] = time.perf_counter() - t
    t = time.perf_counter()
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("id_number"))  # trains the name
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("name_pinyin"),
                                                                       max_pairs=em_pairs)  # trains the ID
    phases["em"] = time.perf_counter() - t
    t = time.perf_counter()
    pred = linker.inference.predict(threshold_match_probability=POSSIBLE_PROBABILITY)
    con.execute(f"""COPY (
        SELECT unique_id_r AS r_key, unique_id_l AS l_key, match_probability >= {FINDING_PROBABILITY} AS finding,
               match_probability AS probability
        FROM {pred.physical_name}
        QUALIFY rank() OVER (PARTITION BY unique_id_r ORDER BY match_probability DESC) = 1
    ) TO '{out}' (FORMAT parquet)""")
    phases["predict"] = time.perf_counter() - t
    wall = time.perf_counter() - t0
    sides = con.execute(f"SELECT DISTINCT source_dataset_l, source_dataset_r FROM {pred.physical_name}").fetchall()
    model = linker.misc.save_model_to_json(str(out.with_suffix(".model.json")), overwrite=True)
    counts = count_comparisons_from_blocking_rules(
        [left, right], blocking_rules=settings.blocking_rules_to_generate_predictions, link_type="link_only",
        record_sample_proportion=1.0)
    return {
        "seconds": round(wall, 1), "phases": {k: round(v, 1) for k, v in phases.items()},
        "candidate_pairs": int(counts[-1]["cumulative_comparison_count"]),
        "candidates_by_rule": [int(c["marginal_comparison_count"]) for c in counts],
        "sides": sides, "prior": model.get("probability_two_random_records_match"),
    }


def _child(args: argparse.Namespace) -> None:
    out = Path(args.child_out)
    if args.engine == "ours":
        stats = run_ours(Path(args.db), args.month, out)
    else:
        stats = run_splink(Path(args.db), args.month, out, args.u_pairs, args.em_pairs, args.seed)
    out.with_suffix(".json").write_text(json.dumps(stats, indent=2, default=str) + "\n")


def run_child(engine: str, db: Path, month: str, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Run one engine in a child process; add its wall time and peak RSS (os.wait4)."""
    cmd = [sys.executable, "-m", "matching.bench_linkage", "--engine", engine, "--db", str(db), "--month", month,
           "--child-out", str(out), "--u-pairs", str(args.u_pairs), "--em-pairs", str(args.em_pairs),
           "--seed", str(args.seed)]
    _say(f"running {engine} ...")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd)
    deadline = t0 + args.timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            return {"failed": f"timed out after {args.timeout} s", "peak_rss": usage.ru_maxrss * 1024}
        time.sleep(0.5)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        return {"failed": f"exit code {os.waitstatus_to_exitcode(status)}", "peak_rss": usage.ru_maxrss * 1024}
    stats = json.loads(out.with_suffix(".json").read_text())
    return {**stats, "process_seconds": round(wall, 1), "peak_rss": usage.ru_maxrss * 1024}


# ------------------------------------------------------------------ scoring


def evaluate_sql(links: Path, truth: Path) -> str:
    """One row of counts for one engine's links against the truth (tables staged in `src`)."""
    return f"""
WITH t AS (
    SELECT DISTINCT t.source || '|' || t.record_id AS r_key, t.household_id || '#' || t.member_index AS l_key,
           t.kind, t.id_noise, m.id_status AS member_id_status
    FROM read_parquet('{truth}') t
    JOIN src.stg_members m ON m.member_key = t.household_id || '#' || t.member_index
    SEMI JOIN src.stg_registry r ON r.source = t.source AND r.record_id = t.record_id),
k AS (SELECT DISTINCT r_key, l_key, finding FROM read_parquet('{links}')),
j AS (SELECT k.*, t.kind, t.id_noise FROM k LEFT JOIN t USING (r_key, l_key))
SELECT
    (SELECT count(*) FROM j WHERE finding) AS predicted,
    (SELECT count(*) FROM j WHERE finding AND kind = 'true') AS tp,
    (SELECT count(*) FROM j WHERE finding AND kind IN ('true', 'blank_id')) AS correct,
    (SELECT count(*) FROM t WHERE kind = 'true') AS true_pairs,
    (SELECT count(*) FROM j WHERE finding AND kind = 'lookalike') AS lookalikes_finding,
    (SELECT count(*) FROM j WHERE kind = 'lookalike') AS lookalikes_any,
    (SELECT count(*) FROM t WHERE kind = 'lookalike') AS lookalike_pairs,
    (SELECT count(*) FROM j WHERE finding AND kind = 'blank_id') AS blank_finding,
    (SELECT count(*) FROM j WHERE kind = 'blank_id') AS blank_any,
    (SELECT count(*) FROM t WHERE kind = 'blank_id') AS blank_pairs,
    (SELECT count(*) FROM j WHERE finding AND kind = 'true' AND id_noise IN ('typo', 'swap')) AS tp_mistyped,
    (SELECT count(*) FROM t WHERE kind = 'true' AND id_noise IN ('typo', 'swap')) AS true_mistyped,
    (SELECT count(*) FROM j JOIN t USING (r_key, l_key) WHERE finding AND t.kind = 'true'
        AND t.member_id_status <> 'valid') AS tp_member_bad_id,
    (SELECT count(*) FROM t WHERE kind = 'true' AND member_id_status <> 'valid') AS true_member_bad_id"""


def evaluate(db: Path, links: Path, truth: Path) -> dict[str, Any]:
    con = duckdb.connect()
    con.execute(f"ATTACH '{db}' AS src (READ_ONLY)")
    cur = con.execute(evaluate_sql(links, truth))
    row = dict(zip([d[0] for d in cur.description], cur.fetchall()[0], strict=True))
    con.close()
    p = row["correct"] / row["predicted"] if row["predicted"] else 0.0
    r = row["tp"] / row["true_pairs"] if row["true_pairs"] else 0.0
    return {**row, "precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def table(results: dict[str, dict], scores: dict[str, dict]) -> str:
    names = {"ours": "dibao engine", "splink": "Splink 5.0.0 (DuckDB)"}
    lines = ["| engine | wall (s) | peak RSS (GiB) | candidate pairs | precision | recall | F1 "
             "| look-alikes linked | blank-ID pairs linked (any level) | mistyped-ID recall |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for engine, res in results.items():
        rss = f"{res['peak_rss'] / 2**30:.2f}"
        if "failed" in res:
            lines.append(f"| {names[engine]} | {res['failed']} | {rss} | | | | | | | |")
            continue
        s = scores[engine]
        lines.append(
            f"| {names[engine]} | {res['seconds']:.1f} | {rss} | {res['candidate_pairs']:,} | {s['precision']:.4f} "
            f"| {s['recall']:.4f} | {s['f1']:.4f} | {s['lookalikes_finding']} of {s['lookalike_pairs']} "
            f"| {s['blank_any']} of {s['blank_pairs']} | {s['tp_mistyped']} of {s['true_mistyped']} |")
    return "\n".join(lines)


def _say(msg: str) -> None:
    sys.stderr.write(f"[bench-linkage] {msg}\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", choices=("bench", "stress"), default="bench",
                    help="the generator's profile: the standard noise, or the stress profile")
    ap.add_argument("--households", type=int, default=62_000)
    ap.add_argument("--registry-rows", type=int, default=5_000_000)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--seed", type=int, default=20260101)
    ap.add_argument("--month", default="2026-10")
    ap.add_argument("--u-pairs", type=float, default=1e8, help="Splink's u sample (max_pairs)")
    ap.add_argument("--em-pairs", type=float, default=5e6, help="Splink's EM sample on the name-pinyin block")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds allowed per engine")
    ap.add_argument("--engines", default="ours,splink")
    ap.add_argument("--engine", choices=("ours", "splink"), help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    ap.add_argument("--child-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.engine:
        _child(args)
        return
    if args.registry_rows < 1:
        ap.error(f"'--registry-rows' must be at least 1, got {args.registry_rows}")
    args.cache.mkdir(parents=True, exist_ok=True)
    db, truth, info = prepare(args.cache, args.households, args.seed, args.month, args.registry_rows, args.profile)
    _say(f"profile: {args.profile}")
    _say(f"data: {info['members']:,} roster members, {info['registry_rows']:,} staged registry rows "
         f"(cut from {info['registry_rows_generated']:,}); staging {info['stage_seconds']} s")
    results, scores = {}, {}
    for engine in args.engines.split(","):
        out = args.cache / f"links-{engine}-{db.stem}.parquet"
        results[engine] = run_child(engine, db, args.month, out, args)
        if "failed" not in results[engine]:
            scores[engine] = evaluate(db, out, truth)
    report = {"data": info, "results": results, "scores": scores}
    (args.cache / f"report-{db.stem}.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    text = [table(results, scores)]
    if "ours" in scores and "splink" in scores and "failed" not in results["splink"]:
        text.append(f"\nTime ratio ours/Splink: {results['ours']['seconds'] / results['splink']['seconds']:.2f}")
    sys.stdout.write("\n".join(text) + "\n")


if __name__ == "__main__":
    main()
