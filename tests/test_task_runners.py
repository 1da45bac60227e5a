"""The per-registry linkage tasks under Prefect's task runners, including an existing Dask cluster."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from flows import prefect_env
from flows.monthly import BadArgument, make_task_runner, run_monthly

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "sample"
PAIRS = "SELECT source, source_record_id, member_key, match_class, match_score FROM link_pairs ORDER BY ALL"


def test_dask_runner_needs_an_address():
    with pytest.raises(BadArgument, match="--dask-address"):
        make_task_runner("dask")
    with pytest.raises(BadArgument, match="one of thread, dask, none"):
        make_task_runner("ray")


def test_linkage_partitions_on_threads_and_a_local_dask_cluster_match_the_single_connection_run(
        tmp_path, monkeypatch, prefect_home):
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("prefect_dask")
    # a home of this test's own with a migrated database: a server on the session's home
    # could meet one an earlier test left behind
    monkeypatch.setenv("PREFECT_HOME", str(prefect_home(tmp_path / "prefect")))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    prefect_env.configure(tmp_path / "x.duckdb")
    from flows.api_server import TemporaryServer
    from flows.monthly import prefect_flow

    direct = tmp_path / "direct.duckdb"
    run_monthly(SAMPLE, direct, "2026-10")
    on_dask = tmp_path / "dask.duckdb"
    # The product's temporary server (it dies with this process), for the flow and the worker
    # process: left to itself the worker starts its own, which outlives the killed worker.
    # It sets PREFECT_API_URL, which the worker process inherits.
    server = TemporaryServer()
    threads = tmp_path / "thread.duckdb"
    from prefect.settings import PREFECT_API_URL, temporary_settings

    try:
        # this process's Prefect may have read its settings before this test
        with server.serving(), temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True,
                                          dashboard_address=None) as cluster:
                prefect_flow("dask", cluster.scheduler_address)(str(SAMPLE), str(on_dask), "2026-10", None, None)
            # on the same server: left without one, Prefect would start a second for this run
            prefect_flow("thread")(str(SAMPLE), str(threads), "2026-10", None, None)
    finally:
        server.stop()
    a = duckdb.connect(str(direct), read_only=True).execute(PAIRS).fetchall()
    b = duckdb.connect(str(on_dask), read_only=True).execute(PAIRS).fetchall()
    c = duckdb.connect(str(threads), read_only=True).execute(PAIRS).fetchall()
    assert len(a) > 1000
    assert a == b == c
