"""Full garbage collections wait while a run works (connectors/gc_pause.py), and come back after."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest

from connectors.gc_pause import OUT_OF_REACH, full_collections_paused
from flows import cli, monthly

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "sample"


@pytest.fixture(autouse=True)
def usual_thresholds():
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


def test_the_pause_nests_across_threads_and_the_last_one_out_restores():
    entered, release = threading.Event(), threading.Event()

    def other_run() -> None:
        with full_collections_paused():
            entered.set()
            release.wait(10)

    with full_collections_paused():
        assert gc.get_threshold() == (700, 10, OUT_OF_REACH)
        thread = threading.Thread(target=other_run)
        thread.start()
        assert entered.wait(10)
    assert gc.get_threshold() == (700, 10, OUT_OF_REACH)  # the other run still works
    release.set()
    thread.join(10)
    assert gc.get_threshold() == (700, 10, 10)


def test_a_run_loads_with_full_collections_paused_and_a_failed_one_restores_them(tmp_path):
    seen: list[tuple[int, int, int]] = []

    def call(fn, *args):
        seen.append(gc.get_threshold())
        if fn is monthly.step_gate:
            raise _Stop("failure injected after stage 'load'")
        return fn(*args)

    with pytest.raises(_Stop):
        monthly.run_monthly(SAMPLE, tmp_path / "d.duckdb", "2026-10", call=call)
    assert seen == [(700, 10, OUT_OF_REACH)] * 2
    assert gc.get_threshold() == (700, 10, 10)


class _Stop(Exception):
    pass


def test_the_command_is_paused_from_its_first_import(tmp_path, monkeypatch):
    """`dibao run` holds the pause from its first step (its imports of Prefect and GX come after)."""
    from flows import prefect_env

    seen: list[tuple[int, int, int]] = []

    def first_step(*args, **kwargs):
        seen.append(gc.get_threshold())
        raise _Stop

    monkeypatch.setattr(prefect_env, "configure", first_step)
    with pytest.raises(_Stop):
        cli.run(data=SAMPLE, db=tmp_path / "d.duckdb", month="2026-10")
    assert seen == [(700, 10, OUT_OF_REACH)]
    assert gc.get_threshold() == (700, 10, 10)


def test_the_api_server_freezes_what_it_imported_before_prefect_builds_its_app(monkeypatch):
    """Prefect's `create_app(final=True)` runs a full collection itself: by then the server's
    imports are frozen, so it does not visit them (`flows.api_server.create_app`)."""
    import sys
    import types

    from flows import api_server

    built: list[tuple[int, dict]] = []
    fake = types.ModuleType("prefect.server.api.server")
    fake.create_app = lambda **kwargs: built.append((gc.get_freeze_count(), kwargs)) or "app"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "prefect.server.api.server", fake)
    gc.unfreeze()
    try:
        assert api_server.create_app() == "app"
    finally:
        gc.unfreeze()
    assert built and built[0][0] > 0 and built[0][1] == {"ephemeral": True, "final": True}
    assert gc.get_threshold() == (700, 10, 10)
