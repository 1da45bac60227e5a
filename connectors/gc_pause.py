"""No full garbage collections while a run works: `full_collections_paused()`.

Python's cyclic collector, in a full (oldest-generation) collection, visits every
container object of the process, and it runs one whenever the objects that survived two
younger collections have grown by a quarter. On this machine (2 cores, 24 GiB) visiting
objects is slow and grows faster than their number: a `gc.collect()` over 100,000 small
dicts and lists took 0.10 s, over 300,000 1.0 s (2026-11-29). What a run keeps alive
(Prefect, Great Expectations, pandas, pypinyin's dictionaries: half a million objects)
made each full collection of a city run take 0.2 to 3.4 s, holding the interpreter lock,
for almost nothing freed (0 to 306 objects until the worklists). Six of them took 9.4 s of
a 120-second run: 3.7 s while loading (Great Expectations being imported in its thread)
and 5.7 s while the worklists were built.

Inside `full_collections_paused()` only the younger generations are collected (the
oldest one's threshold is set out of reach), so cycles that die young are still freed;
garbage that outlives them waits for the first full collection after the pause. The
pause nests and may be entered from several threads: the thresholds come back when the
last one leaves. It is also a decorator (`@full_collections_paused()`).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

OUT_OF_REACH = 1 << 30  # younger collections before a full one: never, within a run

_lock = threading.Lock()
_depth = 0
_saved: tuple[int, int, int] | None = None


@contextmanager
def full_collections_paused() -> Iterator[None]:
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(_saved[0], _saved[1], OUT_OF_REACH)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                _saved = None
