"""Shared fixtures: one real smoke sweep for every test that reads a finished sweep."""

from __future__ import annotations

import pytest

from tests.sweep_helpers import FOLDS, REPO, TRIALS, all_runs, run_cli, sweep_args


@pytest.fixture(scope="session", autouse=True)
def nothing_written_to_mlruns_in_the_repo():
    """MLflow's default artifact root is ./mlruns in the working directory: a test (or the code
    under test) that creates an experiment without an artifact location writes into the
    checkout. Every store a test makes keeps its artifacts beside it."""
    before = (REPO / "mlruns").exists()
    yield
    assert before or not (REPO / "mlruns").exists(), "a test wrote MLflow artifacts to ./mlruns"


@pytest.fixture(scope="session")
def smoke_sweep(tmp_path_factory):
    """One full smoke sweep (every booster and strategy), run twice with the same command."""
    runs_dir = tmp_path_factory.mktemp("smoke")
    args = sweep_args(runs_dir, "--suite", "smoke", "--trials", str(TRIALS), "--folds", str(FOLDS))
    first = run_cli(args)
    assert first.returncode == 0, first.stderr[-3000:]
    uri = f"sqlite:///{runs_dir / 'mlflow.db'}"
    runs_after_first = all_runs(uri)
    second = run_cli(args)
    return {
        "uri": uri,
        "first": first,
        "second": second,
        "runs": runs_after_first,
        "runs_after_second": all_runs(uri),  # before other tests add e.g. a report run
    }
