"""Prefect's settings for a command-line run, applied before Prefect is imported.

- PREFECT_HOME defaults to `.prefect/` beside the DuckDB file, where the user can see
  it (its own SQLite database of flow runs and its logs), not `~/.prefect`.
- Analytics off: this machine is offline, and with analytics on Prefect 3.9
  intermittently printed a `database is locked` traceback from its telemetry write.
- Its console logging is kept to warnings; dibao prints its own progress.
- A server Prefect starts by itself may take 90 s to answer, not 20.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def configure(db_path: str | Path | None = None, verbose: bool = False) -> Path:
    home = os.environ.get("PREFECT_HOME")
    if not home:
        base = Path(db_path).resolve().parent if db_path else Path.cwd()
        home = str(base / ".prefect")
        os.environ["PREFECT_HOME"] = home
    defaults = {
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "INFO" if verbose else "WARNING",
        "PREFECT_LOGGING_LOG_PRINTS": "false",
        "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
        "PREFECT_UI_ENABLED": "false",
        "GX_ANALYTICS_ENABLED": "false",
        # A server Prefect starts itself (a Dask worker's, when no API is named) gets 20 s by
        # default; on a busy two-core machine that was not enough. dibao's own allows 60 s.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    Path(home).mkdir(parents=True, exist_ok=True)
    return Path(home)


def create_database(home: str | Path) -> Path:
    """Create and migrate Prefect's database in `home`, as a server does on its first start
    (that start then took 9.3 s to answer instead of 3.9 s). For the benchmark and the tests;
    a `dibao run` creates it itself on the first month. Returns the database file."""
    prefect = Path(sys.executable).with_name("prefect")
    subprocess.run([str(prefect), "server", "database", "upgrade", "-y"], check=True, timeout=300,
                   env={**os.environ, "PREFECT_HOME": str(home)}, capture_output=True)
    return Path(home) / "prefect.db"
