"""The Tracker against a real SQLite store, where several worker processes write at once."""

from __future__ import annotations

import multiprocessing as mp

import pytest

pytestmark = pytest.mark.integration


def _log_same_datasets(uri: str, experiment_id: str, start, n: int) -> None:
    """Log ``n`` cells whose dataset inputs every worker logs too, in lock-step."""
    from bench.tracking.client import CellOutcome, DatasetRef, Tracker
    from bench.tracking.stores import configure_process

    configure_process()
    tracker = Tracker(uri, schema_ready=True)
    for i in range(n):
        start.wait()  # all workers log dataset i at the same moment
        run_id, _ = tracker.start_cell(experiment_id, f"key-{mp.current_process().name}-{i}",
                                       f"run{i}", {})  # fmt: skip
        datasets = [DatasetRef("glass1", f"digest{i}", "keel:glass1", c) for c in ("train", "test")]
        tracker.finish_cell(run_id, CellOutcome({}, {"m": 1.0}, "row\n0\n", datasets=datasets))


def test_workers_logging_the_same_dataset_at_once_do_not_collide(tmp_path):
    """Strategies of one outer fold share its dataset inputs; MLflow inserts a dataset after
    looking it up, so two workers can race on its unique key (seen: a sweep stopped)."""
    from bench.tracking.client import Tracker
    from bench.tracking.stores import configure_process, use_wal_journal

    configure_process()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    artifacts = (tmp_path / "artifacts").as_uri()  # not MLflow's default, ./mlruns in the repo
    experiment_id = Tracker(uri).ensure_experiment("race", "h", {}, "cmd", artifacts)
    use_wal_journal(uri)
    context = mp.get_context("spawn")
    start = context.Barrier(3, timeout=60)  # a worker that fails breaks it for the others
    workers = [
        context.Process(target=_log_same_datasets, args=(uri, experiment_id, start, 15))
        for _ in range(3)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=180)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    assert (tmp_path / "artifacts").is_dir()
