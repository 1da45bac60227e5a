"""The city-scale benchmark (`make bench`): one whole monthly run, timed per stage, against a plain scan.

    python -m flows.bench [--households 60000] [--seed 7] [--month 2026-10] [--cache DIR] [--keep]
                          [--duckdb-setting "memory_limit='6GB'" ...] [--partitions] [--skip-scan] [--scans 3]
                          [--no-cli] [--json FILE]

1. Generates the bench-profile city once, cached in `bench/cache/<households>-<seed>/`
   (git-ignored; reused while its `sample.json` says the same month). 60,000 households
   give about 150,000 roster members and 23 million registry rows.
2. Runs `run_monthly` (no Prefect) in a child process, so the peak RSS printed is the
   run's own (`getrusage(RUSAGE_SELF).ru_maxrss` in the child), with per-stage seconds.
3. The baseline, also in a child: a fresh in-memory DuckDB reads every input once
   (`read_csv(all_varchar)` into a table, `read_parquet` likewise; xlsx with openpyxl in
   read-only mode, as DuckDB's excel extension is not installable offline). DuckDB's CSV
   reader knows UTF-8, UTF-16 and Latin-1 only, so GB18030 files are first transcoded to
   UTF-8 with `iconv`; that time is shown apart and the ratio is given both without and with it.
   The scan is taken `--scans` times (3: before the run, between the run and `dibao run`,
   after `dibao run`) and the ratio uses the median: a shared machine's speed drifts over
   the minutes a bench takes (the three scans of one bench took 5.7, 7.3 and 7.4 s, of
   another 8.7, 9.9 and 13.4 s), and one scan caught it at one moment.
4. Runs the command an operator runs, `dibao run` (through Prefect, with its temporary API
   server), on the same city into a second database: its wall time and peak RSS (`os.wait4`,
   the largest of its processes) are printed beside `run_monthly`'s (`--no-cli` skips it).
5. Prints one markdown table, the gate's share and the ratio whole run / scan, and checks
   the targets (peak memory under 8 GiB; run within 10x a scan; the gate at most a third).

The run's database and worklists go to a temporary folder, deleted afterwards unless
`--keep` (then `<cache>/<households>-<seed>-run/`). Not used by the product. By default
the run is exactly `run_monthly` with the product's settings; `--duckdb-setting` SETs
options on the run's connection and `--partitions` passes a serial `mapper` (each registry
linked in its own in-memory DuckDB); the table says when either was used.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

STAGES = ("load", "gate", "link", "rules", "reports")
TARGET_MEMBERS, TARGET_REGISTRY_ROWS = 150_000, 20_000_000
TARGET_PEAK_GIB, TARGET_RATIO, TARGET_GATE_SHARE = 8.0, 10.0, 1 / 3
DEFAULT_CACHE = Path(__file__).resolve().parent.parent / "bench" / "cache"


# ------------------------------------------------------------------ child processes


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def child_generate(data_dir: Path, households: int, seed: int, month: str) -> dict[str, Any]:
    from sample_data.generator import generate

    summary = generate(data_dir, households, seed, month, profile="bench")
    return {"seconds": summary["seconds"], "peak_rss": _peak_rss_bytes()}


def _serial(fn: Any, work: list[tuple[Any, ...]]) -> list[Any]:
    """The linkage partitions (`matching.linkage.link_partition`) one after another, in this process."""
    return [fn(*args) for args in work]


def child_run(data_dir: Path, db: Path, out: Path, month: str, settings: list[str],
              partitions: bool = False) -> dict[str, Any]:
    from flows import monthly
    from flows.database import open_database

    if settings:  # bench-only DuckDB settings (e.g. memory_limit='6GB'), applied to the run's connection
        def opened(path: str | Path, read_only: bool = False) -> Any:
            con = open_database(path, read_only)
            for setting in settings:
                con.execute(f"SET {setting}")
            return con

        monthly.open_database = opened  # type: ignore[assignment]
    from flows.progress import LogLines

    run_monthly = monthly.run_monthly
    t0 = time.perf_counter()
    monthly.preload_gx()  # as `dibao run` does
    outcome = run_monthly(data_dir, db, month, None, out, mapper=_serial if partitions else None,
                          progress=LogLines())
    wall = time.perf_counter() - t0
    rules = outcome.rules
    return {
        "wall": round(wall, 3), "stages": outcome.stage_seconds, "settings": settings, "partitions": partitions,
        "peak_rss": _peak_rss_bytes(),
        "findings": sum(v for k, v in rules.findings.items() if not k.startswith("_")) if rules else None,
        "workbooks": len(outcome.workbooks), "db_bytes": db.stat().st_size,
        "rows_loaded": {n: e.rows_loaded for n, e in outcome.load.extracts.items()} if outcome.load else {},
        "rows_quarantined": sum(e.rows_quarantined for e in outcome.load.extracts.values()) if outcome.load else 0,
    }


def _csv_encoding(path: Path) -> str:
    """'utf-8' or 'gb18030', the way the loader tells them (a file that is valid UTF-8 is UTF-8)."""
    from connectors.encoding import _scan

    return "utf-8" if _scan(path, "utf-8", None) is None else "gb18030"


def _count(con: Any, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def child_scan(data_dir: Path, files: list[str]) -> dict[str, Any]:
    """Read every input once into a fresh in-memory DuckDB (xlsx: openpyxl), timing each file."""
    import duckdb

    per_file: dict[str, dict[str, Any]] = {}
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    with tempfile.TemporaryDirectory(prefix="dibao-bench-") as tmp:
        for name in files:
            path = data_dir / name
            entry: dict[str, Any] = {"transcode": 0.0}
            table = "t_" + path.stem
            if path.suffix == ".csv":
                source = path
                if _csv_encoding(path) == "gb18030":
                    source = Path(tmp) / path.name
                    t0 = time.perf_counter()
                    with open(source, "wb") as dst:
                        subprocess.run(["iconv", "-f", "GB18030", "-t", "UTF-8", str(path)], stdout=dst, check=True)
                    entry["transcode"] = round(time.perf_counter() - t0, 3)
                    entry["encoding"] = "gb18030"
                t0 = time.perf_counter()
                con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_csv('{source}', all_varchar = true, "
                            "header = true, strict_mode = false, null_padding = true)")
                entry["scan"] = round(time.perf_counter() - t0, 3)
                entry["rows"] = _count(con, table)
                if source != path:
                    source.unlink()
            elif path.suffix == ".parquet":
                t0 = time.perf_counter()
                con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet('{path}')")
                entry["scan"] = round(time.perf_counter() - t0, 3)
                entry["rows"] = _count(con, table)
            else:  # xlsx
                import openpyxl

                t0 = time.perf_counter()
                wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
                rows = sum(1 for _ in wb.worksheets[0].iter_rows(values_only=True)) - 1
                wb.close()
                entry["scan"] = round(time.perf_counter() - t0, 3)
                entry["rows"] = rows
                entry["reader"] = "openpyxl"
            con.execute(f"DROP TABLE IF EXISTS {table}")
            per_file[name] = entry
    con.close()
    return {"files": per_file, "peak_rss": _peak_rss_bytes()}


def _child_main(args: argparse.Namespace) -> int:
    import logging

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="  [child] %(message)s")
    for noisy in ("great_expectations", "py4j"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.child == "generate":
        result = child_generate(args.data, args.households, args.seed, args.month)
    elif args.child == "run":
        result = child_run(args.data, args.db, args.out, args.month, args.duckdb_setting, args.partitions)
    else:
        result = child_scan(args.data, args.files)
    args.result.write_text(json.dumps(result, ensure_ascii=False, default=str), encoding="utf-8")
    return 0


def spawn(mode: str, result: Path, *extra: str) -> tuple[dict[str, Any] | None, float, int]:
    """Run `python -m flows.bench --child MODE ...`; (its JSON result or None, wall seconds, exit code)."""
    cmd = [sys.executable, "-m", "flows.bench", "--child", mode, "--result", str(result), *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=Path(__file__).resolve().parent.parent)
    wall = time.perf_counter() - t0
    if proc.returncode != 0 or not result.exists():
        return None, wall, proc.returncode
    return json.loads(result.read_text(encoding="utf-8")), wall, 0


# ------------------------------------------------------------------ the parent


def ensure_sample(cache: Path, households: int, seed: int, month: str) -> tuple[Path, dict[str, Any]]:
    data = cache / f"{households}-{seed}"
    marker = data / "sample.json"
    if marker.exists():
        summary = json.loads(marker.read_text(encoding="utf-8"))
        if summary.get("month") == month and summary.get("profile") == "bench":
            return data, summary
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    _say(f"generating {households:,} households (seed {seed}, {month}, bench profile) into {data} …")
    res, wall, rc = spawn("generate", data / ".generate.json", "--data", str(data), "--households",
                          str(households), "--seed", str(seed), "--month", month)
    if res is None:
        raise SystemExit(f"bench: the generator failed (exit {rc})")
    (data / ".generate.json").unlink()
    _say(f"generated in {wall:.0f} s, generator peak RSS {_gib(res['peak_rss']):.1f} GiB")
    return data, json.loads(marker.read_text(encoding="utf-8"))


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _gib(n: float) -> float:
    return n / (1 << 30)


def _input_files(summary: dict[str, Any]) -> list[str]:
    return [e["file"] for e in summary["extracts"].values()]


def time_cli(data: Path, work: Path, month: str) -> dict[str, Any]:
    """`dibao run` as an operator runs it (through Prefect): wall seconds, peak RSS, exit code.

    Prefect's own database (in PREFECT_HOME, beside the DuckDB file) is created first, untimed:
    a month's run finds it there from the second month on, and creating it took 3 to 4 s."""
    dibao = Path(sys.executable).with_name("dibao")
    cmd = [str(dibao), "run", "--data", str(data), "--db", str(work / "cli.duckdb"), "--month", month,
           "--out", str(work / "cli-out")]
    env = {**os.environ, "PREFECT_HOME": str(work / ".prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    from flows.prefect_env import create_database

    create_database(work / ".prefect")
    with open(work / "cli.log", "wb") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; Popen must not wait again
    from flows.progress import stage_seconds

    stages = stage_seconds((work / "cli.log").read_text(encoding="utf-8", errors="replace"))
    return {"wall": round(wall, 3), "peak_rss": usage.ru_maxrss * 1024, "rc": proc.returncode,
            "log": str(work / "cli.log"), "stages": stages}


def report(summary: dict[str, Any], data: Path, run: dict[str, Any], scan: dict[str, Any],
           cli: dict[str, Any] | None = None) -> str:
    files = _input_files(summary)
    disk = sum((data / f).stat().st_size for f in files)
    stages = run["stages"]
    total = run["wall"]
    scan_s = _scan_total(scan)
    transcode = sum(e["transcode"] for e in scan["files"].values())
    gate_share = stages.get("gate", 0.0) / total if total else 0.0
    by_format: dict[str, int] = {}
    for e in summary["extracts"].values():
        by_format[e["format"]] = by_format.get(e["format"], 0) + 1
    fmt = ", ".join(f"{n} {k}" for k, n in sorted(by_format.items()))
    lines = [
        "| measure | value |",
        "|---|---|",
        f"| input | {summary['households']:,} households, {summary['members']:,} roster members, "
        f"{summary['registry_rows']:,} registry rows in {len(files)} files ({fmt}) |",
        f"| input size on disk | {disk / 1e9:.2f} GB |",
        f"| rows quarantined | {run['rows_quarantined']:,} |",
    ]
    for name in STAGES:
        if name in stages:
            lines.append(f"| {name} | {stages[name]:,.1f} s ({stages[name] / total:.0%}) |")
    lines += [
        f"| whole run (`run_monthly`, wall) | {total:,.1f} s |",
        f"| DuckDB settings set by the bench | {', '.join(run.get('settings') or []) or 'none (product defaults)'} |",
        f"| linkage partitions (`mapper`) | {'serial, one in-memory DuckDB per registry' if run.get('partitions') else 'no'} |",
        f"| peak memory (RSS of the run's process) | {_gib(run['peak_rss']):.2f} GiB |",
        f"| DuckDB file after the run | {run['db_bytes'] / 1e9:.2f} GB |",
        f"| baseline: one scan of every input (DuckDB read_csv/read_parquet into tables, xlsx by openpyxl) "
        f"| {scan_s:,.1f} s (+ {transcode:,.1f} s iconv GB18030→UTF-8){_repeats(scan)} |",
        f"| whole run / scan | {total / scan_s:.1f}× ({total / (scan_s + transcode):.1f}× with transcoding) |",
        f"| gate share of the run | {gate_share:.1%} |",
    ]
    if cli is not None:
        lines += [
            f"| `dibao run` itself (CLI through Prefect, wall; Prefect's database already created) "
            f"| {cli['wall']:,.1f} s |",
            f"| `dibao run`: its stages, and the rest (Prefect's API server, the flow run's calls, exit) "
            f"| {sum(cli['stages'].values()):,.1f} s + {cli['wall'] - sum(cli['stages'].values()):,.1f} s |",
            f"| peak memory of `dibao run` (largest of its processes) | {_gib(cli['peak_rss']):.2f} GiB |",
            f"| `dibao run` / scan | {cli['wall'] / scan_s:.1f}× ({cli['wall'] / (scan_s + transcode):.1f}× with "
            "transcoding) |",
        ]
    checks = [
        ("peak memory under 8 GiB", _gib(run["peak_rss"]) < TARGET_PEAK_GIB),
        ("whole run within 10× a scan (transcoding counted in the scan)", total <= TARGET_RATIO * (scan_s + transcode)),
        ("whole run within 10× a scan (DuckDB scan alone)", total <= TARGET_RATIO * scan_s),
        ("the gate at most a third of the run", gate_share <= TARGET_GATE_SHARE),
    ]
    if cli is not None:
        checks += [
            ("`dibao run` peak memory under 8 GiB", _gib(cli["peak_rss"]) < TARGET_PEAK_GIB),
            ("`dibao run` within 10× a scan (DuckDB scan alone)", cli["wall"] <= TARGET_RATIO * scan_s),
        ]
    lines.append("")
    lines += [f"target: {text}: {'met' if ok else 'NOT met'}" for text, ok in checks]
    lines.append("")
    lines.append("| file | rows | scan s | transcode s |")
    lines.append("|---|---|---|---|")
    for name, e in sorted(scan["files"].items(), key=lambda kv: -kv[1]["scan"]):
        lines.append(f"| {name} | {e['rows']:,} | {e['scan']:.2f} | {e['transcode']:.2f} |")
    return "\n".join(lines)


def _scan_total(scan: dict[str, Any]) -> float:
    return sum(e["scan"] for e in scan["files"].values())


def _repeats(scan: dict[str, Any]) -> str:
    totals = scan.get("repeats") or []
    if len(totals) < 2:
        return ""
    return f"; the median of {len(totals)} scans: " + ", ".join(f"{t:.1f}" for t in totals) + " s"


def median_scan(scans: list[dict[str, Any]]) -> dict[str, Any]:
    """The scan whose total is the median (the lower one of an even number), with every total in
    `repeats` in the order they ran."""
    ranked = sorted(scans, key=_scan_total)
    return {**ranked[(len(ranked) - 1) // 2], "repeats": [round(_scan_total(s), 3) for s in scans]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--households", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--month", default="2026-10")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where generated cities are kept")
    parser.add_argument("--keep", action="store_true", help="keep the run's DuckDB file and worklists in <cache>/<households>-<seed>-run")
    parser.add_argument("--skip-scan", action="store_true", help="time the run only")
    parser.add_argument("--scans", type=int, default=3,
                        help="scans of the input to take the median of: one before the run, one between it and "
                             "`dibao run`, the rest after (default 3)")
    parser.add_argument("--no-cli", action="store_true", help="do not also time `dibao run` itself")
    parser.add_argument("--duckdb-setting", action="append", default=[], metavar="NAME=VALUE",
                        help="SET this on the run's DuckDB connection (repeatable), e.g. \"memory_limit='6GB'\"; "
                             "the product sets only memory_limit (DIBAO_MEMORY_LIMIT, default 4GB)")
    parser.add_argument("--partitions", action="store_true",
                        help="link each registry in its own in-memory DuckDB (run_monthly's `mapper`, run serially)")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure to this file")
    hidden = argparse.SUPPRESS
    parser.add_argument("--child", choices=("generate", "run", "scan"), help=hidden)
    parser.add_argument("--result", type=Path, help=hidden)
    parser.add_argument("--data", type=Path, help=hidden)
    parser.add_argument("--db", type=Path, help=hidden)
    parser.add_argument("--out", type=Path, help=hidden)
    parser.add_argument("--files", nargs="*", default=[], help=hidden)
    args = parser.parse_args(argv)
    if args.child:
        return _child_main(args)
    if args.scans < 1:
        parser.error(f"'--scans' must be at least 1, got {args.scans}")
    if not 20 <= args.households <= 1_000_000:
        parser.error(f"'--households' must be between 20 and 1000000, got {args.households}")

    data, summary = ensure_sample(args.cache, args.households, args.seed, args.month)
    _say(f"city: {summary['households']:,} households, {summary['members']:,} members, "
         f"{summary['registry_rows']:,} registry rows ({data})")
    if summary["members"] < TARGET_MEMBERS or summary["registry_rows"] < TARGET_REGISTRY_ROWS:
        _say(f"note: below the city-scale target ({TARGET_MEMBERS:,} members, {TARGET_REGISTRY_ROWS:,} registry "
             "rows); raise --households")

    keep_dir = args.cache / f"{args.households}-{args.seed}-run"
    work = keep_dir if args.keep else Path(tempfile.mkdtemp(prefix="dibao-bench-run-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        scans: list[dict[str, Any]] = []

        def take_scan() -> bool:
            _say(f"baseline: scan {len(scans) + 1} of {args.scans}: every input once in a fresh in-memory DuckDB …")
            res, _, rc = spawn("scan", work / "scan.json", "--data", str(data), "--files", *_input_files(summary))
            if res is None:
                _say(f"bench: the scan failed (exit {rc})")
                return False
            scans.append(res)
            _say(f"scan: {_scan_total(res):.1f} s")
            return True

        # The scans are spread over the bench (a shared machine's speed drifts over minutes),
        # and the ratio uses their median.
        if not args.skip_scan and not take_scan():
            return 1
        _say("running the monthly verification in a child process …")
        run, wall, rc = spawn("run", work / "run.json", "--data", str(data), "--db", str(work / "dibao.duckdb"),
                              "--out", str(work / "out"), "--month", args.month,
                              *(f"--duckdb-setting={s}" for s in args.duckdb_setting),
                              *(["--partitions"] if args.partitions else []))
        if run is None:
            _say(f"bench: the run failed (exit {rc}{', killed: out of memory?' if rc in (-9, 137) else ''}) "
                 f"after {wall:.0f} s; stage times so far are in the log above")
            return 1
        _say(f"run finished: {run['wall']:.1f} s, peak RSS {_gib(run['peak_rss']):.2f} GiB")
        if not args.skip_scan and args.scans > 1 and not take_scan():
            return 1
        cli = None
        if not args.no_cli:
            _say("`dibao run` itself (through Prefect) on the same city …")
            cli = time_cli(data, work, args.month)
            if cli["rc"] != 0:
                _say(f"bench: `dibao run` failed (exit {cli['rc']}); see {cli['log']}")
                return 1
            _say(f"`dibao run` finished: {cli['wall']:.1f} s, peak RSS {_gib(cli['peak_rss']):.2f} GiB")
        while not args.skip_scan and len(scans) < args.scans:
            if not take_scan():
                return 1
        scan: dict[str, Any] = median_scan(scans) if scans else {"files": {}, "peak_rss": 0}
        table = report(summary, data, run, scan, cli) if scan["files"] else json.dumps(run, indent=2)
        _say("")
        _say(table)
        if args.json:
            figures = {"sample": summary, "run": run, "scan": scan, "cli": cli}
            args.json.write_text(json.dumps(figures, ensure_ascii=False, indent=2), encoding="utf-8")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
