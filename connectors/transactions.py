"""Transactions on the one DuckDB connection of a run.

The monthly run holds one transaction from loading to the rules, so that a failure
at any stage leaves the file as it was. Library functions that also run on their
own (importing outcomes, writing worklists, storing quality results) call `begin`,
which opens a transaction only when the caller has not: DuckDB cannot nest them,
and a refused BEGIN would abort the caller's transaction, so we track ownership
here instead of trying.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only (reports.common imports this module)
    import duckdb

_HELD: set[int] = set()  # id() of connections inside an outer transaction


@contextmanager
def outer_transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """The run's transaction: commit on success, roll back on any exception."""
    con.execute("BEGIN TRANSACTION")
    _HELD.add(id(con))
    try:
        yield
    except BaseException:
        _HELD.discard(id(con))
        con.execute("ROLLBACK")
        raise
    _HELD.discard(id(con))
    con.execute("COMMIT")


def begin(con: duckdb.DuckDBPyConnection) -> bool:
    """Start a transaction unless an outer one is held. Returns whether this call owns it."""
    if id(con) in _HELD:
        return False
    con.execute("BEGIN TRANSACTION")
    return True


def commit(con: duckdb.DuckDBPyConnection, owner: bool) -> None:
    if owner:
        con.execute("COMMIT")


def rollback(con: duckdb.DuckDBPyConnection, owner: bool) -> None:
    if owner:
        con.execute("ROLLBACK")
