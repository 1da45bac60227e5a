"""The schedule: which month a scheduled run verifies, the deployment it is served as, and the persistent
server `dibao serve` finds or starts."""

from __future__ import annotations

import datetime as dt
import os
from zoneinfo import ZoneInfo

import pytest

from connectors.errors import DibaoError
from flows.monthly import BadArgument
from flows.schedule import (
    CRON,
    TIMEZONE,
    ServerUnavailable,
    deployment_parameters,
    ensure_server,
    health_url,
    previous_month,
    resolve_month,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(("now", "expected"), [
    (dt.datetime(2026, 11, 1, 2, 0, tzinfo=SHANGHAI), "2026-10"),       # the scheduled moment
    (dt.datetime(2026, 1, 1, 2, 0, tzinfo=SHANGHAI), "2025-12"),        # across the year
    (dt.datetime(2026, 3, 31, 23, 59), "2026-02"),                      # naive: taken as Shanghai time
    (dt.datetime(2026, 10, 31, 18, 30, tzinfo=dt.UTC), "2026-10"),      # 02:30 on 1 Nov in Shanghai
    (dt.datetime(2026, 10, 31, 15, 59, tzinfo=dt.UTC), "2026-09"),      # 23:59 on 31 Oct in Shanghai
])
def test_previous_month(now, expected):
    assert previous_month(now) == expected


def test_resolve_month_keeps_an_explicit_month_and_checks_it():
    assert resolve_month("2026-05", dt.datetime(2026, 11, 1)) == "2026-05"
    assert resolve_month(None, dt.datetime(2026, 11, 1, 2, 0)) == "2026-10"
    with pytest.raises(BadArgument):
        resolve_month("2026/05")


def test_deployment_parameters_are_absolute_and_leave_month_open(tmp_path):
    params = deployment_parameters("data", tmp_path / "x.duckdb", "out")
    assert params["month"] is None and params["policy_path"] is None
    assert all(os.path.isabs(params[k]) for k in ("data_dir", "db_path", "out_dir"))


@pytest.fixture()
def deployment_home(tmp_path, monkeypatch):
    """A PREFECT_HOME and dibao's run settings, for building deployments without a server."""
    from flows import prefect_env

    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / ".prefect"))
    prefect_env.configure(tmp_path / "x.duckdb")
    return tmp_path


def test_build_deployment_carries_cron_timezone_and_parameters(deployment_home):
    from flows.schedule import build_deployment

    home = deployment_home
    policy = home / "policy.toml"
    deployment = build_deployment(home / "data", home / "x.duckdb", home / "out", policy)
    assert len(deployment.schedules) == 1
    schedule = deployment.schedules[0].schedule
    assert (schedule.cron, schedule.timezone) == (CRON, TIMEZONE) == ("0 2 1 * *", "Asia/Shanghai")
    assert deployment.schedules[0].active
    assert deployment.parameters == {"data_dir": str(home / "data"), "db_path": str(home / "x.duckdb"),
                                     "month": None, "policy_path": str(policy), "out_dir": str(home / "out")}
    assert deployment.entrypoint == "flows.schedule.scheduled_monthly"


def test_the_entrypoint_loads_the_scheduled_flow(deployment_home):
    from prefect.flows import load_flow_from_entrypoint

    from flows.schedule import scheduled_flow

    loaded = load_flow_from_entrypoint("flows.schedule.scheduled_monthly")
    assert loaded is scheduled_flow()
    assert loaded.name == "monthly-verification-scheduled"
    assert list(loaded.parameters.properties) == ["data_dir", "db_path", "month", "policy_path", "out_dir"]


def test_build_deployment_rejects_an_unknown_timezone(deployment_home):
    from flows.schedule import build_deployment

    with pytest.raises(DibaoError, match="Mars"):
        build_deployment("data", "x.duckdb", timezone="Mars/Olympus")


def test_build_deployment_takes_another_cron_and_rejects_a_bad_one(deployment_home):
    from flows.schedule import build_deployment

    deployment = build_deployment("data", "x.duckdb", cron="* * * * *", timezone="UTC")
    assert (deployment.schedules[0].schedule.cron, deployment.schedules[0].schedule.timezone) == ("* * * * *", "UTC")
    with pytest.raises(DibaoError, match="'--cron' '61 \\* \\* \\* \\*' is not a cron expression"):
        build_deployment("data", "x.duckdb", cron="61 * * * *")


def test_ensure_server_refuses_an_explicit_url_that_does_not_answer(monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert health_url("http://127.0.0.1:9/api/") == "http://127.0.0.1:9/api/health"
    with pytest.raises(ServerUnavailable, match="127.0.0.1:9/api/health"):
        ensure_server("http://127.0.0.1:9/api")


def test_ensure_server_starts_a_persistent_server_then_finds_it(tmp_path, monkeypatch, prefect_home):
    """With no URL given and no server answering, `ensure_server` starts `prefect server start` and
    waits until it answers; asked again, it finds that one and starts none. (On a free port in
    place of the default 4200.)"""
    import socket

    from flows import schedule

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api"
    monkeypatch.setattr(schedule, "DEFAULT_API_URL", url)
    monkeypatch.setenv("PREFECT_HOME", str(prefect_home(tmp_path / ".prefect")))  # conftest: a migrated copy
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    log = tmp_path / "server.log"
    found, process = ensure_server(log_file=log)
    second = None
    try:
        assert found == url and process is not None and schedule.server_is_healthy(url)
        assert os.environ["PREFECT_API_URL"] == url
        monkeypatch.delenv("PREFECT_API_URL")
        again, second = ensure_server(log_file=log)
        assert (again, second) == (url, None)
    finally:
        schedule.stop_server(second)
        schedule.stop_server(process)
    assert process.poll() is not None and not schedule.server_is_healthy(url, timeout=0.5)
