"""The temporary Prefect API server `dibao run` starts at its first moment (flows/api_server.py)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from flows import api_server

DIBAO = str(Path(sys.executable).parent / "dibao")
SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "sample"


def test_with_a_served_prefect_the_run_reports_there_and_starts_none(tmp_path, monkeypatch, prefect_home):
    """`PREFECT_API_URL` set: the flow run is recorded by that server, and no server of the run's own starts."""
    monkeypatch.setenv("PREFECT_HOME", str(prefect_home(tmp_path / "served")))
    monkeypatch.setenv("PREFECT_API_URL", "")
    served = api_server.TemporaryServer()  # stands in for the persistent server of `dibao serve`
    try:
        served.wait()
        home = tmp_path / "run" / ".prefect"
        result = subprocess.run([DIBAO, "run", "--data", str(SAMPLE), "--db", str(tmp_path / "run" / "d.duckdb"),
                                 "--month", "2026-10"], capture_output=True, text=True, timeout=300,
                                env={**_env(), "PREFECT_HOME": str(home), "PREFECT_API_URL": served.api_url})
        assert result.returncode == 0, result.stderr[-2000:]
        request = urllib.request.Request(served.api_url + "/flow_runs/filter", data=b"{}", method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            runs = json.loads(response.read())
        assert [r["state_type"] for r in runs] == ["COMPLETED"]
        assert not (home / "temporary-server.log").exists()
    finally:
        served.stop()


def test_prefect_is_not_imported_before_the_run_starts_its_server():
    """Prefect reads PREFECT_API_URL when first imported: the command must not import it before
    `start_for_run` sets it, or Prefect would start a second server of its own, late."""
    probe = ("import sys; import flows.cli, flows.prefect_env, flows.api_server; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'prefect'))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_server_answers_and_stops(tmp_path, monkeypatch, prefect_home):
    monkeypatch.setenv("PREFECT_HOME", str(prefect_home(tmp_path)))
    monkeypatch.setenv("PREFECT_API_URL", "")  # blank: none configured; the server's own is undone after
    server = api_server.start_for_run()
    assert server is not None
    try:
        import os

        assert os.environ["PREFECT_API_URL"] == server.api_url  # set before Prefect reads its settings
        server.wait()
        assert _servers_of(tmp_path) == [server.process.pid]  # the helper below sees a live one
        with urllib.request.urlopen(server.api_url + "/health", timeout=5) as response:  # noqa: S310
            assert response.status == 200
        from prefect.settings import get_current_settings

        # A flow run's engine reads this setting when it starts: None means no heartbeat thread,
        # whose stop held each run's end up to 1 s; a served Prefect's runs keep the default.
        with server.serving():
            assert get_current_settings().flows.heartbeat_frequency is None
        assert get_current_settings().flows.heartbeat_frequency == 180
        process = server.process
    finally:
        server.stop()
    assert process is not None and process.poll() is not None
    with pytest.raises(OSError):
        urllib.request.urlopen(server.api_url + "/health", timeout=2)  # noqa: S310


def test_a_server_that_exits_is_one_line_naming_its_log(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    monkeypatch.setenv("PREFECT_API_URL", "")  # blank: none configured; the server's own is undone after
    monkeypatch.setattr(api_server, "server_command", lambda fd: [
        sys.executable, "-c", "import sys; print('address already in use'); sys.exit(3)"])
    server = api_server.TemporaryServer()
    with pytest.raises(api_server.ServerDidNotStart, match="address already in use.*temporary-server.log"):
        server.wait(timeout=20)
    server.stop()


def test_a_failed_run_through_prefect_ends_cleanly(tmp_path, prefect_home):
    """The exit skips Python's teardown but not Prefect's own: its log worker is drained while
    the server still answers (else: 'Error logging to API'), and the server is stopped.
    The flow run, on the temporary server, ran without heartbeats: with Prefect's debug logs
    kept by the server, its engine logs 'Started flow run heartbeat context' when it has them."""
    home = prefect_home(tmp_path / ".prefect")
    result = subprocess.run([DIBAO, "run", "--data", str(tmp_path / "absent"), "--db", str(tmp_path / "d.duckdb"),
                             "--month", "2026-10"], capture_output=True, text=True, timeout=300,
                            env={**_env(), "PREFECT_HOME": str(home), "PREFECT_LOGGING_LEVEL": "DEBUG",
                                 "PREFECT_LOGGING_TO_API_LEVEL": "DEBUG"})
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("dibao: error:")]
    assert len(errors) == 1 and "must be a folder of extracts" in errors[0]
    assert "Error logging to API" not in result.stderr
    assert (home / "temporary-server.log").exists()
    assert _servers_of(home) == []
    logged = [m for (m,) in sqlite3.connect(home / "prefect.db").execute("SELECT message FROM log")]
    assert any(m.startswith("Beginning flow run") for m in logged)  # the flow run's logs reached the server
    assert not [m for m in logged if "heartbeat" in m]


def _servers_of(home: Path) -> list[int]:
    """Processes serving `flows.api_server:create_app` with this PREFECT_HOME (Linux /proc)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if b"flows.api_server:create_app" in cmdline and f"PREFECT_HOME={home}".encode() in environ.split(b"\0"):
            found.append(int(proc.name))
    return found


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
