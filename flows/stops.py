"""Clean stops for `dibao run`: SIGINT and SIGTERM end a run in seconds, with one line.

The first signal raises `RunInterrupted` in the main thread (DuckDB checks for it while a
query runs, so the query is cancelled); the run's transaction rolls back, the failed run is
recorded, and the command exits 130 (SIGINT) or 143 (SIGTERM). Should the run not have
ended `GRACE_SECONDS` later (a thread deep in native code, a process pool), or on a second
signal, the process ends there with the same line and code: nothing was committed, so the
database is as it was, and the next run removes what was left (`flows.outputs`).

Prefect swaps its own SIGTERM handler in while a flow runs; the flow calls `install()`
again at its start, so the handling is the same with Prefect or without.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable

GRACE_SECONDS = 5.0
_STOPPED: dict[str, int] = {}
_ON_HARD_EXIT: list[Callable[[], None]] = []


class RunInterrupted(KeyboardInterrupt):
    """The run was stopped by a signal (Ctrl-C, `kill`, systemd stopping the service)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}; nothing was committed")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def stop_line(signum: int) -> str:
    return f"dibao: stopped by {signal.Signals(signum).name}; nothing was committed, the database is as it was"


def _hard_exit(signum: int) -> None:
    for fn in list(_ON_HARD_EXIT):
        try:
            fn()
        except Exception:  # noqa: BLE001, S110 - ending anyway; the server also dies with us (PDEATHSIG)
            pass
    try:
        sys.stderr.write(stop_line(signum) + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(128 + signum)


PREFECT_SERVICE_LOGGERS = ("EventsWorker", "APILogWorker", "QueueService", "BatchedQueueService")


def quiet_prefect() -> None:
    """Silence Prefect's loggers: a signal may land while Prefect's engine is between states
    (creating a task run, say), and it would log the interruption as a crash, with a traceback;
    the stop is said once, by the command."""
    for name in list(logging.Logger.manager.loggerDict):
        if name == "prefect" or name.startswith("prefect."):
            logging.getLogger(name).disabled = True
    # Prefect's background queue services log under their class names, outside "prefect.":
    # after a stop the events worker said "Still processing items: 1 items remaining..."
    for name in PREFECT_SERVICE_LOGGERS:
        logging.getLogger(name).disabled = True


def _handler(signum: int, frame: object) -> None:
    if "signum" in _STOPPED:  # a second signal: end now
        _hard_exit(_STOPPED["signum"])
    _STOPPED["signum"] = signum
    quiet_prefect()
    timer = threading.Timer(GRACE_SECONDS, _hard_exit, [signum])
    timer.daemon = True
    timer.start()
    raise RunInterrupted(signum)


def install(on_hard_exit: Callable[[], None] | None = None) -> None:
    """Handle SIGINT and SIGTERM as above (only from the main thread; elsewhere a no-op)."""
    if on_hard_exit is not None and on_hard_exit not in _ON_HARD_EXIT:
        _ON_HARD_EXIT.append(on_hard_exit)
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _handler)


def stopped_by() -> int | None:
    """The signal that stopped the run, if one did."""
    return _STOPPED.get("signum")
