"""Opening the DuckDB file: one writer at a time, readable by analysts' tools.

New files are written with storage compatibility v1.4.0, so that the DuckDB CLI and
DBeaver (which lag the Python library) can open them; a second run against a file
that a run holds gets a one-line refusal instead of DuckDB's lock error.

DuckDB's memory limit is `DIBAO_MEMORY_LIMIT` (default 4GB, `dibao run --memory-limit`);
past it DuckDB spills to `<file>.tmp/` beside the database. DuckDB's own default is 80%
of the machine's memory, which at city scale it fills (22.8 GiB on a 24 GiB machine).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import duckdb

from connectors.errors import DibaoError

STORAGE_COMPATIBILITY = "v1.4.0"
DEFAULT_MEMORY_LIMIT = "4GB"


def memory_limit() -> str:
    """The DuckDB memory limit for the run's connections (also its linkage partitions)."""
    return os.environ.get("DIBAO_MEMORY_LIMIT", "").strip() or DEFAULT_MEMORY_LIMIT


class DatabaseBusy(DibaoError):
    """Another process (another dibao run, or an analyst's write session) holds the DuckDB file."""


def open_database(path: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    config: dict[str, str | bool | int | float | list[str]] = (
        {} if read_only or path.exists() else {"storage_compatibility_version": STORAGE_COMPATIBILITY})
    config["memory_limit"] = memory_limit()
    try:
        return duckdb.connect(str(path), read_only=read_only, config=config)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise DatabaseBusy(f"{path}: another process is using this database ({lock_holder(str(exc))}); "
                               "wait for the running dibao run to finish") from None
        if read_only and not path.exists():
            raise DibaoError(f"{path}: no such database file") from None
        raise DibaoError(f"{path}: cannot open the database ({exc})") from None
    except duckdb.ParserException as exc:  # the memory limit is the only value we pass that DuckDB parses
        raise DibaoError(f"memory limit {memory_limit()!r} (DIBAO_MEMORY_LIMIT or --memory-limit): {exc}") from None


def lock_holder(message: str) -> str:
    """'PID 4242 on host db01, started 2026-12-02 15:04:05' from DuckDB's lock error (which names
    the holder's program and PID); the start time read from /proc. DuckDB's lock is a local file
    lock, so the holder runs on this host."""
    import datetime as dt
    import re
    import socket

    found = re.search(r"\(PID (\d+)\)", message)
    if not found:
        return f"host {socket.gethostname()}"
    pid = int(found.group(1))
    started = ""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # field 22 of stat: start time after boot, in clock ticks
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        when = dt.datetime.fromtimestamp(boot + ticks / os.sysconf("SC_CLK_TCK"))
        started = f", started {when:%Y-%m-%d %H:%M:%S}"
    except (OSError, ValueError, IndexError, StopIteration):
        pass
    return f"PID {pid} on host {socket.gethostname()}{started}"


def one_row(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> tuple[Any, ...]:
    """The single row of an aggregate query (which always has one)."""
    row = con.execute(sql, params).fetchone()
    if row is None:
        raise RuntimeError(f"expected one row from: {' '.join(sql.split())[:120]}")
    return row
