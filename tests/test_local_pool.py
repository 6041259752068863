"""The local worker pool: started before the sweep's set-up, workers wait for the store."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bench.sweep.executors.local import LocalPool
from bench.tracking.client import Tracker
from bench.tracking.stores import use_wal_journal
from tests.support.pool_probe import worker_has_tracker
from tests.sweep_helpers import run_cli, smoke_datasets, sweep_args

pytestmark = pytest.mark.integration


def test_workers_open_the_store_only_once_it_is_ready(tmp_path):
    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    pool = LocalPool(2, uri, ["lightgbm"])
    try:
        probe = pool._pool.submit(worker_has_tracker)
        time.sleep(3.0)  # long enough for a worker to import and to touch the store if it would
        assert not probe.done()
        assert not db.exists()
        Tracker(uri).client.search_experiments()  # the parent creates the schema...
        use_wal_journal(uri)
        pool.store_ready()  # ...then lets the workers in
        assert probe.result(timeout=120) is True
    finally:
        pool.close(kill=True)


def test_closing_a_pool_whose_store_never_became_ready_ends_its_workers(tmp_path):
    pool = LocalPool(2, f"sqlite:///{tmp_path / 'mlflow.db'}", [])
    processes = list(pool._pool._processes.values())
    assert len(processes) == 2
    pool.close()
    deadline = time.monotonic() + 30
    while any(p.is_alive() for p in processes) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(p.is_alive() for p in processes)


def test_a_refused_sweep_with_workers_exits_promptly_and_cleanly(tmp_path: Path):
    base = sweep_args(tmp_path, "--datasets", smoke_datasets()[0], "--boosters", "lightgbm")
    base += ["--strategies", "ce", "--folds", "2", "--workers", "2", "--name", "mine"]
    assert run_cli([*base, "--trials", "1"], timeout=300).returncode == 0
    refused = run_cli([*base, "--trials", "2"], timeout=120)  # a hang would time out
    assert refused.returncode == 2
    assert "different configuration" in refused.stderr
    assert "Traceback" not in refused.stderr
