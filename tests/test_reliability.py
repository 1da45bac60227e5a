"""Issue 21: the run as one unit on a bad day. Each test reproduces a case of the issue.

One run, one outcome (workbooks staged, swapped in, then the commit); settings the validator
refuses or takes at both ends of each range; clean stops on signals; privacy at rest; the
smaller import and worklist cases. Runs are on the committed sample (or a 40-household one),
mostly in this process or with --no-prefect, to keep the module fast.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import duckdb
import openpyxl
import pytest

import flows.monthly
from connectors.errors import DibaoError
from flows.monthly import run_monthly
from flows.outputs import STAGING_PREFIX
from matching.policy import KNOBS, PolicyError, load_policy

DIBAO = str(Path(sys.executable).parent / "dibao")
SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "sample"
MONTH = "2026-10"


def dibao(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([DIBAO, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def error_lines(stderr: str) -> list[str]:
    """What the command said, without the structured stage lines of a piped run."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith("INFO dibao.run:")]


def roster_ids() -> set[str]:
    rows = list(csv.reader((SAMPLE / "roster_members.csv").read_bytes().decode("gb18030").splitlines()))
    col = next(i for i, h in enumerate(rows[0]) if "身份证" in h or h.strip() == "id_number")
    return {r[col].strip().upper() for r in rows[1:] if len(r[col].strip()) == 18}


def snapshot_db(db: Path) -> dict[str, list]:
    """Every table but `runs`, rows sorted (worklist_items included)."""
    with duckdb.connect(str(db), read_only=True) as con:
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                            "WHERE table_type = 'BASE TABLE' AND table_name <> 'runs'").fetchall()]
        return {t: sorted(map(repr, con.execute(f'SELECT * FROM "{t}"').fetchall())) for t in tables}


def snapshot_dir(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def runs_of(db: Path) -> list[tuple[str, str]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT status, message FROM runs ORDER BY started_at").fetchall()


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    """The sample run once for MONTH with worklists; tests copy its database and folder."""
    root = tmp_path_factory.mktemp("good")
    run_monthly(SAMPLE, root / "d.duckdb", MONTH, out_dir=root / "out")
    return root


@pytest.fixture
def previous(good_run, tmp_path):
    """A copy of the good run: (db, out); the month's workbooks are 'the previous ones'."""
    shutil.copy2(good_run / "d.duckdb", tmp_path / "d.duckdb")
    shutil.copytree(good_run / "out", tmp_path / "out")
    return tmp_path / "d.duckdb", tmp_path / "out"


def copy_sample(tmp_path: Path, households=None, name: str = "data") -> Path:
    """The sample in a folder of its own; `households(rows)` may change roster_households
    (written back as CSV with the contract's English headers)."""
    data = tmp_path / name
    shutil.copytree(SAMPLE, data)
    if households is not None:
        wb = openpyxl.load_workbook(data / "roster_households.xlsx", read_only=True)
        rows = [list(r) for r in wb.worksheets[0].iter_rows(values_only=True)]
        wb.close()
        (data / "roster_households.xlsx").unlink()
        header, body = rows[0], rows[1:]
        households(header, body)
        with open(data / "roster_households.csv", "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(["" if v is None else str(v) for v in r] for r in body)
    return data


def drop_header_row(data: Path) -> None:
    """roster_members.csv as a department sends it when its export forgets the header row."""
    lines = (data / "roster_members.csv").read_bytes().splitlines(keepends=True)
    (data / "roster_members.csv").write_bytes(b"".join(lines[1:]))


def _community_col(header) -> int:
    return next(i for i, h in enumerate(header) if str(h).strip() in ("社区", "community"))


def _status_col(header) -> int:
    return next(i for i, h in enumerate(header) if str(h).strip() in ("保障状态", "status"))


# ------------------------------------------------------------------ 1. one run, one outcome

def _assert_nothing_changed(db: Path, out: Path, db_before, out_before, reason: str) -> None:
    assert snapshot_db(db) == db_before  # worklist_items and flags too
    assert snapshot_dir(out) == out_before  # the previous workbooks, byte for byte
    assert not [p for p in out.iterdir() if p.name.startswith(STAGING_PREFIX)]
    status, message = runs_of(db)[-1]
    assert status == "failed" and reason in message, (status, message)


def _long_community(header, body):
    col, status = _community_col(header), _status_col(header)
    active = next(r for r in body if str(r[status]).strip() == "在保")
    active[col] = "社" * 300


def _clashing_communities(header, body):
    col, status = _community_col(header), _status_col(header)
    street = next(i for i, h in enumerate(header) if str(h).strip() in ("街道", "street"))
    active = [r for r in body if str(r[status]).strip() == "在保"]
    first = active[0]
    other = next(r for r in active if r[street] == first[street] and r[col] != first[col])
    # a file name folds ':' and '/' to '_': '东:湖' and '东/湖' of one street map to one file
    name = str(first[col])
    first[col], other[col] = name[:1] + ":" + name[1:], name[:1] + "/" + name[1:]


@pytest.mark.parametrize("case, change, reason", [
    ("a file where the month's folder should be", None, "is not a folder"),
    ("a 300-character community name", _long_community, "worklists not written"),
    ("two community names mapping to one file", _clashing_communities, "的清单文件名相同"),
])
def test_a_failure_at_the_worklists_leaves_database_and_workbooks_as_before(previous, tmp_path, case, change, reason):
    db, out = previous
    data = copy_sample(tmp_path, change) if change else SAMPLE
    if change is None:
        shutil.rmtree(out / MONTH)
        (out / MONTH).write_text("not a folder")
    db_before, out_before = snapshot_db(db), snapshot_dir(out)
    run = dibao("run", "--data", str(data), "--db", str(db), "--month", MONTH, "--out", str(out), "--no-prefect",
                cwd=tmp_path)
    assert run.returncode == 2, run.stderr[-2000:]
    lines = error_lines(run.stderr)
    assert len(lines) == 1 and lines[0].startswith("dibao: error:") and reason in lines[0], (case, lines)
    assert "Traceback" not in run.stderr + run.stdout
    _assert_nothing_changed(db, out, db_before, out_before, reason)


def test_a_read_only_out_leaves_everything_as_before(previous, monkeypatch):
    """The file system refuses a workbook (as a read-only --out does; root ignores modes, so
    the refusal is injected where the workbooks are written)."""
    import reports.worklists

    db, out = previous
    db_before, out_before = snapshot_db(db), snapshot_dir(out)

    def refused(path, *args):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(reports.worklists, "write_workbook", refused)
    with pytest.raises(DibaoError, match="worklists not written: Permission denied"):
        run_monthly(SAMPLE, db, MONTH, out_dir=out)
    _assert_nothing_changed(db, out, db_before, out_before, "Permission denied")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_a_read_only_out_folder_is_refused(previous, tmp_path):
    db, out = previous
    db_before, out_before = snapshot_db(db), snapshot_dir(out)
    out.chmod(0o555)
    try:
        with pytest.raises(DibaoError, match="not writable"):
            run_monthly(SAMPLE, db, MONTH, out_dir=out)
    finally:
        out.chmod(0o755)
    _assert_nothing_changed(db, out, db_before, out_before, "not writable")


def test_a_failure_after_the_swap_puts_the_previous_workbooks_back(previous, monkeypatch):
    """The workbooks are in place but the database has not committed: both go back."""
    db, out = previous
    db_before, out_before = snapshot_db(db), snapshot_dir(out)
    real = flows.monthly.record_run

    def failing(con, outcome, started, status, *args):
        if status == "succeeded":
            assert (out / MONTH).is_dir() and outcome.workbooks  # swapped in already
            raise OSError(28, "No space left on device")
        return real(con, outcome, started, status, *args)

    monkeypatch.setattr(flows.monthly, "record_run", failing)
    with pytest.raises(OSError):
        run_monthly(SAMPLE, db, MONTH, out_dir=out)
    assert snapshot_db(db) == db_before
    assert snapshot_dir(out) == out_before
    assert not [p for p in out.iterdir() if p.name.startswith(STAGING_PREFIX)]


def test_a_successful_run_replaces_the_folder_and_worklist_items_describe_it(previous):
    db, out = previous
    (out / MONTH / "stale-from-an-old-run.xlsx").write_bytes(b"old")
    (out / f"{STAGING_PREFIX}killed" / MONTH).mkdir(parents=True)  # what a kill -9 while writing leaves
    (out / f"{STAGING_PREFIX}killed" / MONTH / "half.xlsx").write_bytes(b"half")
    outcome = run_monthly(SAMPLE, db, MONTH, out_dir=out)
    # the month's folder holds the communities' workbooks, the street offices' in 街道/ and 汇总/
    files = {p.relative_to(out / MONTH).as_posix() for p in (out / MONTH).rglob("*") if p.is_file()}
    assert "stale-from-an-old-run.xlsx" not in files
    written = {p.relative_to(out / MONTH).as_posix() for p in outcome.workbooks}
    assert written <= files and all(f in written or f.startswith("汇总/") for f in files)
    assert not [p for p in out.iterdir() if p.name.startswith(STAGING_PREFIX)]
    with duckdb.connect(str(db), read_only=True) as con:
        sent = {r[0] for r in con.execute("SELECT DISTINCT sent_file FROM worklist_items WHERE run_month = ?",
                                          [MONTH]).fetchall()}
    assert sent and sent <= files


# ------------------------------------------------------------------ 2. settings

def _policy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text, key", [
    ("[linkage]\npossible_threshold = 0.0\n", "linkage.possible_threshold"),
    ("[linkage]\npossible_threshold = 1.0\nprobable_threshold = 1.0\n", "linkage.possible_threshold"),
    ("[standard]\ndefault = inf\n", "standard.default"),
    ("[standard]\ndefault = 1e400\n", "standard.default"),
    ("[standard]\ndefault = nan\n", "standard.default"),
    ('[standard]\nby_district = { "420102" = inf }\n', "standard.by_district"),
    ('[standard]\nby_district = { "420102" = 1e400 }\n', "standard.by_district"),
    ("[standard]\ndefault = " + "9" * 300 + "\n", "standard.default"),
    ('[standard]\nby_district = { "420102" = ' + "9" * 300 + " }\n", "standard.by_district"),
])
def test_settings_that_crashed_the_run_are_refused_naming_the_key(tmp_path, text, key):
    with pytest.raises(PolicyError) as info:
        load_policy(_policy(tmp_path, text))
    message = str(info.value)
    assert f"'{key}'" in message and "\n" not in message and len(message) < 300


def test_a_policy_that_is_a_folder_is_refused_in_one_line(tmp_path):
    (tmp_path / "policy").mkdir()
    run = dibao("run", "--data", str(SAMPLE), "--db", str(tmp_path / "d.duckdb"), "--month", MONTH,
                "--policy", str(tmp_path / "policy"), "--no-prefect", cwd=tmp_path)
    assert run.returncode == 2
    lines = error_lines(run.stderr)
    assert len(lines) == 1 and "must be a policy file, this is a folder" in lines[0], lines


def _bound(knob, end: int):
    """The knob's value at one end of its range (lists and tables: the smallest and a large one)."""
    if knob.key == "standard.by_district":
        return {} if end == 0 else {"420102": 100_000, "420106": 1}
    if knob.key in ("vehicles.flag_type_prefixes", "properties.flag_uses"):
        return [] if end == 0 else [*knob.default, "X"]
    if knob.key == "quality.severity":
        return {} if end == 0 else {k: "warning" for k in knob.default}
    if knob.key == "worklists.street_desk_rules":
        return [] if end == 0 else ["X01", "X02", "R12"]
    if knob.key == "notice.objection_phone":
        return "" if end == 0 else "027-8888 8888 转 1234"
    lo, hi = (float(x) for x in re.findall(r"between (\S+) and (\S+)", knob.allowed)[0])
    value = lo if end == 0 else hi
    return int(value) if knob.kind is int else value


def _toml(values: dict) -> str:
    lines = []
    for key, value in values.items():
        if isinstance(value, dict):
            inner = ", ".join(f'"{k}" = {v!r}'.replace("'", '"') for k, v in value.items())
            lines.append(f'"{key}" = {{ {inner} }}')
        elif isinstance(value, list):
            lines.append(f'"{key}" = [' + ", ".join(f'"{v}"' for v in value) + "]")
        else:
            lines.append(f'"{key}" = {value!r}')
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from sample_data.generator import generate

    data = tmp_path_factory.mktemp("tiny") / "data"
    generate(data, households=40, seed=7, month=MONTH)
    return data


@pytest.mark.parametrize("end", [0, 1], ids=["every knob at its lower bound", "every knob at its upper bound"])
def test_the_run_takes_every_knob_at_both_ends_of_its_range(tiny, tmp_path, end):
    """Each knob's declared range is one the pipeline runs with: the run finishes, or a quality
    gate stops it with its one line (a floor of 100% valid IDs, say); it never crashes."""
    values = {k.key: _bound(k, end) for k in KNOBS}
    if end == 0:  # possible may not exceed probable
        values["linkage.probable_threshold"] = max(values["linkage.probable_threshold"],
                                                   values["linkage.possible_threshold"])
    path = _policy_file(tmp_path, values)
    policy = load_policy(path)
    assert all(policy[k] == v for k, v in values.items())
    try:
        outcome = run_monthly(tiny, tmp_path / "d.duckdb", MONTH, path, out_dir=tmp_path / "out")
    except DibaoError as exc:  # a gate may stop it, in one line (a floor of 100% valid IDs, say) ...
        assert "quality gate" in str(exc), exc
        # ... then the rest of the pipeline runs at the bounds, the gate's knobs at their defaults
        rest = {k: v for k, v in values.items() if not k.startswith("quality.")}
        outcome = run_monthly(tiny, tmp_path / "d.duckdb", MONTH, _policy_file(tmp_path, rest),
                              out_dir=tmp_path / "out")
    assert outcome.rules is not None and outcome.workbooks


def _policy_file(tmp_path: Path, values: dict) -> Path:
    """A policy.toml setting `values` (dotted keys written as tables)."""
    pieces = []
    for key, value in values.items():
        *table, leaf = key.split(".")
        pieces.append((".".join(table), _toml({leaf: value})))
    body = "".join(t for s, t in pieces if not s)
    for section in dict.fromkeys(s for s, _ in pieces if s):
        body += f"[{section}]\n" + "".join(t for s, t in pieces if s == section)
    path = tmp_path / "policy.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_a_header_that_looks_like_markup_is_printed_as_text(tmp_path):
    data = copy_sample(tmp_path)
    text = (data / "unemployment.csv").read_text(encoding="utf-8-sig").splitlines()
    text[0] = "[/bold]," + text[0].split(",", 1)[1]
    (data / "unemployment.csv").write_text("\n".join(text) + "\n", encoding="utf-8")
    run = dibao("run", "--data", str(data), "--db", str(tmp_path / "d.duckdb"), "--month", MONTH, "--no-prefect",
                cwd=tmp_path)
    assert run.returncode == 2, run.stderr[-2000:]
    lines = error_lines(run.stderr)
    assert len(lines) == 1 and "[/bold]" in lines[0] and "Traceback" not in run.stderr, lines


# ------------------------------------------------------------------ 3. clean stops

def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.mark.parametrize("signum, code, with_prefect, stage", [
    (signal.SIGTERM, 143, False, "load"), (signal.SIGINT, 130, False, "load"), (signal.SIGTERM, 143, True, "link")])
def test_a_signal_ends_the_run_in_seconds_with_one_line(previous, tmp_path, prefect_home, signum, code,
                                                        with_prefect, stage):
    db, out = previous
    db_before, out_before = snapshot_db(db), snapshot_dir(out)
    env = {**os.environ, "PREFECT_HOME": str(prefect_home(tmp_path / ".prefect"))}
    proc = subprocess.Popen([DIBAO, "run", "--data", str(SAMPLE), "--db", str(db), "--month", MONTH, "--out",
                             str(out), *([] if with_prefect else ["--no-prefect"])], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    seen = ""
    while f"stage={stage} event=start" not in seen:  # the run is under way
        line = proc.stderr.readline()
        assert line, f"the run ended before it started stage {stage}: {seen[-2000:]}"
        seen += line
    servers = _children(proc.pid)
    proc.send_signal(signum)
    sent = time.monotonic()
    rest = proc.communicate(timeout=30)[1]
    took = time.monotonic() - sent
    assert proc.returncode == code, rest[-2000:]
    assert took < 6, took
    lines = error_lines(rest)
    assert lines == [f"dibao: stopped by {signal.Signals(signum).name}; nothing was committed, "
                     "the database is as it was"], lines
    assert snapshot_db(db) == db_before and snapshot_dir(out) == out_before
    assert runs_of(db)[-1][0] in ("failed", "succeeded")  # recorded failed when it could be, never half
    assert not Path(str(db) + ".tmp").exists()
    assert _wait_for(lambda: not any(_alive(p) for p in servers), 10), servers  # Prefect's server too


def test_a_signal_that_duckdb_reports_as_query_interrupted_is_still_the_stop(monkeypatch):
    """A signal landing in a DuckDB query comes back as DuckDB's RuntimeError('Query
    interrupted'), not as the exception the handler raised: it is still said as the stop."""
    from flows import stops
    from flows.monthly import as_interruption, failure_message

    monkeypatch.setitem(stops._STOPPED, "signum", int(signal.SIGTERM))
    stop = as_interruption(RuntimeError("Query interrupted"))
    assert isinstance(stop, stops.RunInterrupted) and stop.exit_code == 143
    assert failure_message(RuntimeError("Query interrupted")).startswith("stopped by SIGTERM")
    monkeypatch.delitem(stops._STOPPED, "signum")
    assert isinstance(as_interruption(RuntimeError("a bug")), RuntimeError)


def test_the_prefect_server_dies_with_a_killed_run(tmp_path, prefect_home):
    """`kill -9` of `dibao run` takes its temporary Prefect API server along (parent-death signal)."""
    home = prefect_home(tmp_path / ".prefect")
    proc = subprocess.Popen([DIBAO, "run", "--data", str(SAMPLE), "--db", str(tmp_path / "d.duckdb"), "--month",
                             MONTH], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PREFECT_HOME": str(home)})
    try:
        assert _wait_for(lambda: bool(_children(proc.pid)), 30)
        servers = _children(proc.pid)
    finally:
        proc.kill()
        proc.wait(30)
    assert _wait_for(lambda: not any(_alive(p) for p in servers), 10), servers


def test_with_prefect_a_stopped_run_logs_no_traceback_and_no_id(tmp_path, prefect_home):
    """Not on a terminal, an expected stop (a roster without its header row) is one line:
    Prefect logs no traceback, and neither the console nor Prefect's database holds an ID."""
    home = prefect_home(tmp_path / ".prefect")
    data = copy_sample(tmp_path)
    drop_header_row(data)
    run = dibao("run", "--data", str(data), "--db", str(tmp_path / "d.duckdb"), "--month", MONTH, "--out",
                str(tmp_path / "out"), cwd=tmp_path, env={"PREFECT_HOME": str(home)})
    assert run.returncode == 2, run.stderr[-3000:]
    assert "Traceback" not in run.stderr + run.stdout
    lines = error_lines(run.stderr)
    assert len(lines) == 1 and lines[0].startswith("dibao: error:") and "roster_members" in lines[0], lines
    _assert_no_whole_id(tmp_path, extra_text=run.stderr + run.stdout)


def test_an_unexpected_error_is_one_line_and_a_log_file(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from flows import cli

    some_id = sorted(roster_ids())[0]

    def bug(*args):
        raise ZeroDivisionError(f"a bug while ranking {some_id}")

    monkeypatch.setattr(flows.monthly, "step_rules", bug)
    # (conftest puts back the signal handlers and umask that the command sets in this process)
    result = CliRunner().invoke(cli.app, ["run", "--data", str(SAMPLE), "--db", str(tmp_path / "d.duckdb"),
                                          "--month", MONTH, "--no-prefect"])
    assert result.exit_code == 1, result.output
    said = [line for line in result.output.splitlines() if line.startswith("dibao:")]
    assert len(said) == 1 and "ZeroDivisionError" in said[0] and some_id not in result.output
    log = Path(re.search(r"the traceback is in (\S+\.log)", said[0]).group(1))
    text = log.read_text()
    assert "Traceback" in text and "bug" in text and some_id not in text and some_id[:6] + "********" in text
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


# ------------------------------------------------------------------ 4. privacy at rest

def _texts(path: Path) -> list[str]:
    """The text a file holds: a workbook's XML parts unzipped, anything else as bytes."""
    if path.suffix == ".xlsx":
        with zipfile.ZipFile(path) as z:
            return [z.read(n).decode("utf-8", "replace") for n in z.namelist()]
    return [path.read_bytes().decode("utf-8", "replace")]


def _assert_no_whole_id(root: Path, extra_text: str = "") -> None:
    """No roster ID, whole, in any file under root but the DuckDB file (the analysts' interface,
    owner-only), nor in `extra_text` (what the command printed)."""
    ids = roster_ids()
    pattern = re.compile(r"\d{17}[\dX]")
    checked = 0
    for path in root.rglob("*"):
        if not path.is_file() or path.name.endswith((".duckdb", ".duckdb.wal")) or "data" in path.relative_to(
                root).parts[:1]:
            continue
        for text in _texts(path):
            leaked = set(pattern.findall(text)) & ids
            assert not leaked, (path, sorted(leaked)[:3])
        checked += 1
    assert checked > 0
    assert not set(pattern.findall(extra_text)) & ids


def test_no_whole_id_in_any_file_a_run_writes_and_outputs_are_owner_only(tmp_path, prefect_home):
    """Success through Prefect: workbooks, Prefect's database and logs hold no whole ID; the
    database, the folders and the workbooks are owner-only."""
    home = prefect_home(tmp_path / ".prefect")
    run = dibao("run", "--data", str(SAMPLE), "--db", str(tmp_path / "d.duckdb"), "--month", MONTH, "--out",
                str(tmp_path / "out"), cwd=tmp_path, env={"PREFECT_HOME": str(home)})
    assert run.returncode == 0, run.stderr[-3000:]
    _assert_no_whole_id(tmp_path, extra_text=run.stderr + run.stdout)
    assert stat.S_IMODE((tmp_path / "d.duckdb").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "out" / MONTH).stat().st_mode) == 0o700
    books = list((tmp_path / "out" / MONTH).glob("*.xlsx"))
    assert books and {stat.S_IMODE(b.stat().st_mode) for b in books} == {0o600}
    assert not Path(str(tmp_path / "d.duckdb") + ".tmp").exists()


def test_group_read_is_a_setting(tmp_path):
    run = dibao("run", "--data", str(SAMPLE), "--db", str(tmp_path / "d.duckdb"), "--month", MONTH, "--out",
                str(tmp_path / "out"), "--no-prefect", "--group-read", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert stat.S_IMODE((tmp_path / "d.duckdb").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "out" / MONTH).stat().st_mode) == 0o750
    assert {stat.S_IMODE(b.stat().st_mode) for b in (tmp_path / "out" / MONTH).glob("*.xlsx")} == {0o640}


def test_failure_paths_write_no_whole_id(previous, tmp_path):
    """A header-less roster, a bad policy, a clash of file names: nothing printed or written holds an ID."""
    db, out = previous
    data = copy_sample(tmp_path, _clashing_communities)
    for args in (["--data", str(data)], ["--data", str(data), "--policy", str(_policy(tmp_path, "max_beneficiaries = 0\n"))]):
        run = dibao("run", *args, "--db", str(db), "--month", MONTH, "--out", str(out), "--no-prefect", cwd=tmp_path)
        assert run.returncode == 2
        _assert_no_whole_id(tmp_path, extra_text=run.stderr + run.stdout)
    drop_header_row(data)
    run = dibao("run", "--data", str(data), "--db", str(db), "--month", MONTH, "--out", str(out), "--no-prefect",
                cwd=tmp_path)
    assert run.returncode == 2 and "roster_members" in run.stderr
    _assert_no_whole_id(tmp_path, extra_text=run.stderr + run.stdout)
    with duckdb.connect(str(db), read_only=True) as con:
        messages = " ".join(m or "" for (m,) in con.execute("SELECT message FROM runs").fetchall())
    assert not set(re.findall(r"\d{17}[\dX]", messages)) & roster_ids()


def test_the_spill_folder_is_owner_only_and_gone_after_every_run(tmp_path, monkeypatch):
    db = tmp_path / "d.duckdb"
    spill = Path(str(db) + ".tmp")
    spill.mkdir(mode=0o755)
    (spill / "duckdb_temp_storage-0.tmp").write_text("left by a run killed with kill -9")
    modes = []
    real = flows.monthly.step_link

    def watching(*args):
        modes.append(stat.S_IMODE(spill.stat().st_mode))
        assert not (spill / "duckdb_temp_storage-0.tmp").exists()
        return real(*args)

    monkeypatch.setattr(flows.monthly, "step_link", watching)
    run_monthly(SAMPLE, db, MONTH)
    assert modes == [0o700] and not spill.exists()

    def broken(*args):
        raise RuntimeError("injected")

    monkeypatch.setattr(flows.monthly, "step_rules", broken)
    with pytest.raises(RuntimeError):
        run_monthly(SAMPLE, db, MONTH)
    assert not spill.exists()


def test_masked_x03_evidence_never_shows_the_birth_date(good_run):
    from matching.ids import redact_ids

    assert redact_ids("身份证号无效：张三 身份证号中的出生日期19900231不存在") == "身份证号无效：张三 身份证号中的出生日期********不存在"
    with duckdb.connect(str(good_run / "d.duckdb"), read_only=True) as con:
        bad_dates = [r[0] for r in con.execute("SELECT id_number FROM flags WHERE rule = 'X03' AND evidence LIKE '%出生日期%'"
                                               ).fetchall()]
    texts = "".join(t for book in (good_run / "out" / MONTH).glob("*.xlsx") for t in _texts(book))
    for id_number in bad_dates:
        assert id_number[6:14] not in texts, id_number


# ------------------------------------------------------------------ 5. smaller

def test_a_link_to_a_file_outside_the_data_folder_is_refused(tmp_path):
    data = copy_sample(tmp_path)
    secret = tmp_path / "elsewhere.csv"
    secret.write_text("record_id,name,id_number,death_date\nSECRET-CONTENT,x,y,z\n", encoding="utf-8")
    (data / "deaths.xlsx").unlink()
    (data / "deaths.csv").symlink_to(secret)
    run = dibao("run", "--data", str(data), "--db", str(tmp_path / "d.duckdb"), "--month", MONTH, "--no-prefect",
                cwd=tmp_path)
    assert run.returncode == 2
    lines = error_lines(run.stderr)
    assert len(lines) == 1 and "deaths.csv" in lines[0] and "outside the data folder" in lines[0], lines
    assert "SECRET" not in run.stderr + run.stdout


# The lock refusal (PID, host and start time): tests/test_end_to_end.py,
# test_a_second_run_on_a_busy_file_refuses_in_one_line.


def test_a_40000_character_complaint_keeps_every_finding_of_the_household(tmp_path):
    from reports.styles import MAX_ROW_HEIGHT

    data = copy_sample(tmp_path)
    # a household with an R12 finding and others, and the complaint behind its R12
    base = tmp_path / "base.duckdb"
    run_monthly(SAMPLE, base, MONTH)
    with duckdb.connect(str(base), read_only=True) as con:
        household, n = con.execute("""SELECT household_id, count(*) FROM flags WHERE run_month = ? AND rule = 'R12'
                                      AND household_id IN (SELECT household_id FROM flags WHERE rule <> 'R12'
                                                           AND match_class IN ('exact', 'probable'))
                                      GROUP BY 1 ORDER BY 1 LIMIT 1""", [MONTH]).fetchone()
        record = con.execute("SELECT source_record_id FROM flags WHERE household_id = ? AND rule = 'R12'",
                             [household]).fetchone()[0]
    rows = list(csv.reader((data / "complaints.csv").read_bytes().decode("gb18030").splitlines()))
    head = rows[0]
    content = next(i for i, h in enumerate(head) if h.strip() in ("举报内容", "content"))
    rid = next(i for i, h in enumerate(head) if h.strip() in ("记录编号", "record_id"))
    row = next(r for r in rows[1:] if r[rid] in (record or "").split("|") or r[rid] == record)
    row[content] = "长" * 40_000
    with open(data / "complaints.csv", "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    outcome = run_monthly(data, tmp_path / "d.duckdb", MONTH, out_dir=tmp_path / "out")
    with duckdb.connect(str(tmp_path / "d.duckdb"), read_only=True) as con:
        rules = {r for (r,) in con.execute("SELECT DISTINCT rule FROM flags WHERE household_id = ? AND run_month = ? "
                                           "AND match_class IN ('exact', 'probable')", [household, MONTH]).fetchall()}
        full = con.execute("SELECT max(length(evidence)) FROM flags WHERE household_id = ? AND rule = 'R12'",
                           [household]).fetchone()[0]
    assert full > 40_000  # the whole text stays in the database
    cells: list[str] = []  # the household's 疑点 cells: one row per finding (issue 20)
    for book in outcome.workbooks:
        wb = openpyxl.load_workbook(book)
        if "核查清单" not in wb.sheetnames:
            continue
        ws = wb["核查清单"]
        for row_cells in ws.iter_rows(min_row=2):
            values = [c.value for c in row_cells]
            if household not in values:
                continue
            cells += [v for v in values if isinstance(v, str) and v.startswith("【")]
            height = ws.row_dimensions[row_cells[0].row].height
            assert height is not None and height <= MAX_ROW_HEIGHT
    long = [c for c in cells if c.startswith("【R12")]
    assert long and all(len(c) <= 32_767 and "已截断" in c for c in long)
    assert len(rules) >= 2
    for rule in rules:
        assert any(c.startswith(f"【{rule}") for c in cells), rule


def test_fit_cell_shortens_every_piece_visibly_and_drops_none():
    from reports.common import fit_cell, shorten

    assert shorten("短") == "短"
    long = shorten("长" * 40_000)
    assert len(long) <= 1000 and "已截断" in long and "40000" in long
    pieces = [f"{i}. " + "x" * 5000 for i in range(10)]
    cell = fit_cell(pieces)
    assert len(cell) <= 32_767 and all(f"{i}. " in cell for i in range(10)) and cell.count("已截断") == 10
