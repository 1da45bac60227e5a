"""The monthly schedule: a Prefect deployment that verifies the month just ended.

- `previous_month(now)` / `resolve_month(month, now)` are pure: a scheduled run has no
  `month` parameter, so it verifies the calendar month before "now" in Asia/Shanghai
  (a run at 02:00 on 1 November, Beijing time, verifies October).
- `scheduled_flow()` wraps the monthly flow (`flows.monthly.prefect_flow()`, run as a
  subflow) in a flow whose `month` defaults to None. It is built lazily (importing
  Prefect costs seconds); the module attribute `scheduled_monthly` resolves to it, which
  is the deployment's entrypoint (`flows.schedule.scheduled_monthly`).
- `build_deployment(...)` builds the deployment object (cron `0 2 1 * *`, Asia/Shanghai)
  without talking to a server, so a test can inspect it.
- `ensure_server(...)` finds or starts a persistent Prefect server: Prefect refuses to
  schedule on its ephemeral one ("Cannot schedule flows on an ephemeral server").
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from connectors.errors import DibaoError

CRON = "0 2 1 * *"  # 02:00 on the 1st of every month
TIMEZONE = "Asia/Shanghai"
DEPLOYMENT_NAME = "monthly"
FLOW_NAME = "monthly-verification-scheduled"
DEFAULT_API_URL = "http://127.0.0.1:4200/api"
SERVER_START_TIMEOUT = 60.0  # seconds; Prefect 3.9's server took about 11 s to come up here


class BadSchedule(DibaoError):
    """A cron expression or time zone that cannot be used."""


class ServerUnavailable(DibaoError):
    """No Prefect server answers at the API URL, and none could be started."""


# ------------------------------------------------------------------ which month a scheduled run verifies

def previous_month(now: dt.datetime | None = None, timezone: str = TIMEZONE) -> str:
    """The calendar month before `now` (default: the current time), as YYYY-MM, in `timezone`.

    A naive `now` is taken to be in `timezone` already; an aware one is converted.
    """
    zone = ZoneInfo(timezone)
    if now is None:
        local = dt.datetime.now(zone)
    elif now.tzinfo is None:
        local = now.replace(tzinfo=zone)
    else:
        local = now.astimezone(zone)
    first = local.date().replace(day=1)
    last_of_previous = first - dt.timedelta(days=1)
    return f"{last_of_previous.year:04d}-{last_of_previous.month:02d}"


def resolve_month(month: str | None, now: dt.datetime | None = None, timezone: str = TIMEZONE) -> str:
    """`month` itself when given (checked as YYYY-MM), else the month just ended."""
    from flows.monthly import check_month

    if month:
        return check_month(month)
    return previous_month(now, timezone)


# ------------------------------------------------------------------ the flow and its deployment

@cache
def scheduled_flow():
    """The Prefect flow a schedule triggers: resolves `month`, then runs the monthly flow as a subflow."""
    from prefect import flow

    from flows.monthly import prefect_flow

    def scheduled_monthly(data_dir: str, db_path: str, month: str | None = None, policy_path: str | None = None,
                          out_dir: str | None = None) -> dict[str, Any]:
        run_month = resolve_month(month)
        result = prefect_flow()(data_dir, db_path, run_month, policy_path, out_dir)
        return {"run_month": run_month, **result}

    scheduled_monthly.__module__ = __name__
    scheduled_monthly.__qualname__ = "scheduled_monthly"
    return flow(name=FLOW_NAME, log_prints=False, persist_result=False, validate_parameters=False)(scheduled_monthly)


def __getattr__(name: str) -> Any:
    # The deployment's entrypoint `flows.schedule.scheduled_monthly` loads the flow through here.
    if name == "scheduled_monthly":
        return scheduled_flow()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def deployment_parameters(data_dir: str | Path, db_path: str | Path, out_dir: str | Path | None = None,
                          policy_path: str | Path | None = None) -> dict[str, Any]:
    """The parameters every scheduled run gets: absolute paths (the runner's cwd may differ), no month."""
    def absolute(p: str | Path | None) -> str | None:
        return str(Path(p).resolve()) if p is not None else None

    return {"data_dir": absolute(data_dir), "db_path": absolute(db_path), "month": None,
            "policy_path": absolute(policy_path), "out_dir": absolute(out_dir)}


def build_deployment(data_dir: str | Path, db_path: str | Path, out_dir: str | Path | None = None,
                     policy_path: str | Path | None = None, name: str = DEPLOYMENT_NAME, cron: str = CRON,
                     timezone: str = TIMEZONE):
    """The RunnerDeployment for `prefect.serve`: built locally, no server contacted."""
    from prefect.schedules import Cron
    from prefect.types.entrypoint import EntrypointType

    try:
        ZoneInfo(timezone)
    except (ValueError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise BadSchedule(f"'--timezone' {timezone!r} is not a time zone (e.g. Asia/Shanghai)") from exc
    try:
        schedule = Cron(cron, timezone=timezone)
    except ValueError as exc:
        raise BadSchedule(f"'--cron' {cron!r} is not a cron expression (minute hour day month weekday, "
                          "e.g. '0 2 1 * *')") from exc
    return scheduled_flow().to_deployment(
        name=name,
        schedules=[schedule],
        parameters=deployment_parameters(data_dir, db_path, out_dir, policy_path),
        description="Verify the roster as of the last day of the month just ended (Asia/Shanghai).",
        tags=["dibao"],
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


# ------------------------------------------------------------------ a persistent Prefect server

def health_url(api_url: str) -> str:
    return api_url.rstrip("/") + "/health"


def server_is_healthy(api_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(health_url(api_url), timeout=timeout) as response:  # noqa: S310
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def server_command(api_url: str = DEFAULT_API_URL) -> list[str]:
    """`prefect server start` for the host and port in `api_url`, with this interpreter's Prefect."""
    parsed = urllib.parse.urlparse(api_url)
    prefect_bin = Path(sys.executable).with_name("prefect")
    head = [str(prefect_bin)] if prefect_bin.exists() else [sys.executable, "-m", "prefect"]
    return [*head, "server", "start", "--host", parsed.hostname or "127.0.0.1", "--port", str(parsed.port or 4200)]


def ensure_server(api_url: str | None = None, log_file: Path | None = None,
                  timeout: float = SERVER_START_TIMEOUT) -> tuple[str, subprocess.Popen | None]:
    """The API URL of a running Prefect server, and the process if this call started it.

    An explicit `api_url` (or PREFECT_API_URL) must answer; otherwise a server already
    listening on the default address is used, or `prefect server start` is started
    (with the current PREFECT_HOME) and polled until /api/health answers.
    Sets PREFECT_API_URL in the environment, before Prefect reads its settings.
    """
    explicit = api_url or os.environ.get("PREFECT_API_URL")
    if explicit:
        if not server_is_healthy(explicit):
            raise ServerUnavailable(f"no Prefect server answers at {health_url(explicit)}; "
                                    "start one with `prefect server start` or leave out --api-url")
        os.environ["PREFECT_API_URL"] = explicit
        return explicit, None
    url = DEFAULT_API_URL
    if server_is_healthy(url):
        os.environ["PREFECT_API_URL"] = url
        return url, None
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    process = subprocess.Popen(server_command(url), stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerUnavailable(f"`prefect server start` exited with code {process.returncode}"
                                    + (f"; see {log_file}" if log_file else ""))
        if server_is_healthy(url):
            os.environ["PREFECT_API_URL"] = url
            return url, process
        time.sleep(0.5)
    stop_server(process)
    raise ServerUnavailable(f"the Prefect server did not answer at {health_url(url)} within {timeout:.0f} s")


def stop_server(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def serve(data_dir: Path, db_path: Path, out_dir: Path | None, policy_path: Path | None,
          api_url: str | None = None, cron: str = CRON, timezone: str = TIMEZONE) -> None:
    """Serve the monthly deployment until interrupted (blocks). Starts a server if none is given or running."""
    import signal

    # systemd stops a service with SIGTERM: exit through `finally`, so a server started here stops too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    home = Path(os.environ.get("PREFECT_HOME", ".prefect"))
    _, process = ensure_server(api_url, log_file=home / "server.log")
    try:
        from prefect import serve as prefect_serve

        prefect_serve(build_deployment(data_dir, db_path, out_dir, policy_path, cron=cron, timezone=timezone),
                      print_starting_message=False)
    finally:
        stop_server(process)


__all__ = ["CRON", "TIMEZONE", "build_deployment", "ensure_server", "previous_month", "resolve_month",
           "scheduled_flow", "serve"]
