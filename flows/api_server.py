"""Prefect's API for one `dibao run`: a temporary server started at the command's first moment.

Prefect runs a flow only against an API. With none configured it starts a temporary
server itself when the flow makes its first client: it first imports its whole server
package into this process (1.5 s of Python) to start the same server in a subprocess
(2.4 s more), all after the command's own imports, so a city run began loading 6.8 s
after the command started. Started here instead, as the command's first step, the
subprocess comes up on the other core while this process imports the pipeline, and the
flow finds it through PREFECT_API_URL (set before Prefect reads its settings).

It is the server Prefect would start (`prefect.server.api.server.create_app` with
`ephemeral=True`: no UI, no background services), on a port of 127.0.0.1 that this
process binds and hands over (no other process can take it meanwhile), with the run's
PREFECT_HOME database. `stop()` ends it; `atexit` does too if the command does not, and
the kernel does if the command is killed (`die_with_parent`: a parent-death signal).
When PREFECT_API_URL is already set (a served Prefect, as under `dibao serve`), no
server is started and the run reports to that one.
"""

from __future__ import annotations

import atexit
import functools
import gc
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from connectors.errors import DibaoError
from connectors.gc_pause import full_collections_paused
from flows.schedule import health_url, server_is_healthy, stop_server

START_TIMEOUT = 60.0  # seconds; it came up in 2.4 s here, on a busy machine it may take far longer


class ServerDidNotStart(DibaoError):
    """Prefect's temporary API server for this run did not answer."""


def create_app() -> Any:
    """The uvicorn factory: Prefect's API as its temporary server runs it (no UI, no services).

    Importing it is most of the server's start. It imports with full garbage collections
    paused (`connectors.gc_pause`), then freezes what it imported (`gc.freeze`): those
    objects live as long as the server, and no later collection visits them, including the
    one Prefect runs once the app is built (`final=True`). The server then answered in
    6.9–8.1 s instead of 10.7–11.4 s (2026-11-29, a slow hour)."""
    with full_collections_paused():
        from prefect.server.api.server import create_app as prefect_app
    gc.freeze()
    return prefect_app(ephemeral=True, final=True)


def die_with_parent(parent: int) -> None:
    """In the server's process, before it execs: ask the kernel for SIGTERM when the thread that
    started it dies (`PR_SET_PDEATHSIG`), so a `dibao run` killed with `kill -9` takes its server
    along instead of leaving it holding `prefect.db`. The run starts it from its main thread."""
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the atexit handler still stops it on a normal exit
        return
    if os.getppid() != parent:  # the run died before the request took effect
        os._exit(1)


def server_command(fd: int) -> list[str]:
    """uvicorn serving `create_app` on the listening socket `fd` (inherited), with this interpreter."""
    return [sys.executable, "-m", "uvicorn", "--factory", "flows.api_server:create_app", "--fd", str(fd),
            "--log-level", "error", "--lifespan", "on"]


class TemporaryServer:
    """A Prefect API server in a subprocess, for this process's flow runs only."""

    def __init__(self) -> None:
        # The socket is bound here and handed to the server, so its port is known at once
        # and no other process can take it while the server imports.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            sock.listen(128)
            self.port = int(sock.getsockname()[1])
            self.api_url = f"http://127.0.0.1:{self.port}/api"
            self.log = Path(os.environ.get("PREFECT_HOME", ".")) / "temporary-server.log"
            with open(self.log, "wb") as log:
                self.process: subprocess.Popen[bytes] | None = subprocess.Popen(
                    server_command(sock.fileno()), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    pass_fds=(sock.fileno(),), preexec_fn=functools.partial(die_with_parent, os.getpid()))
        os.environ["PREFECT_API_URL"] = self.api_url
        atexit.register(self.stop)

    def wait(self, timeout: float = START_TIMEOUT) -> None:
        """Return when the server answers /api/health; raise `ServerDidNotStart` if it exits or times out."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process is None or self.process.poll() is not None:
                raise ServerDidNotStart(f"Prefect's temporary API server exited before answering: {self._last_line()}")
            if server_is_healthy(self.api_url, timeout=1.0):
                return
            if time.monotonic() > deadline:
                self.stop()
                raise ServerDidNotStart(f"Prefect's temporary API server did not answer at {health_url(self.api_url)} "
                                        f"within {timeout:.0f} s; run with --no-prefect, or serve Prefect and set "
                                        "PREFECT_API_URL")
            time.sleep(0.05)

    @contextmanager
    def serving(self) -> Iterator[None]:
        """Wait for the server, then hold Prefect's settings for a flow run on it: no flow-run
        heartbeats. Heartbeats let a served Prefect's services mark a crashed run; this server
        runs no services and ends with the command, and the heartbeat thread, which sleeps in
        one-second steps, held each run's end up to 1 s while the flow stopped it."""
        self.wait()
        from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            yield

    def _last_line(self) -> str:
        """The last line the server wrote (its log is in PREFECT_HOME), or its exit code."""
        code = self.process.returncode if self.process is not None else None
        try:
            lines = self.log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        except OSError:
            lines = []
        return (lines[-1] if lines else f"exit code {code}") + f" (log: {self.log})"

    def stop(self) -> None:
        process, self.process = self.process, None
        stop_server(process)


def start_for_run() -> TemporaryServer | None:
    """Start the run's temporary server now, unless PREFECT_API_URL names a served Prefect."""
    if os.environ.get("PREFECT_API_URL"):
        return None
    return TemporaryServer()
