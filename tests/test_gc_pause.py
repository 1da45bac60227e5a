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
        return fn(*args)

    with pytest.raises(monthly.InjectedFailure):
        monthly.run_monthly(SAMPLE, tmp_path / "d.duckdb", "2026-10", call=call, fail_after="load")
    assert seen == [(700, 10, OUT_OF_REACH)]
    assert gc.get_threshold() == (700, 10, 10)


def test_the_command_is_paused_from_its_first_import(tmp_path, monkeypatch):
    seen: list[tuple[int, int, int]] = []
    monkeypatch.setattr(cli, "_run", lambda *args: seen.append(gc.get_threshold()))
    cli.run(data=SAMPLE, db=tmp_path / "d.duckdb", month="2026-10")
    assert seen == [(700, 10, OUT_OF_REACH)]
    assert gc.get_threshold() == (700, 10, 10)
