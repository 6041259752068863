"""The sweep end to end: real boosters, real Optuna storage, a real MLflow SQLite store."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from bench import runschema as rs
from tests.sweep_helpers import (
    FOLDS,
    TRIALS,
    all_runs,
    children,
    parents,
    popen_cli,
    run_cli,
    smoke_datasets,
    sweep_args,
)

pytestmark = pytest.mark.integration


def test_smoke_sweep_logs_exactly_one_parent_per_cell_and_one_child_per_trial(smoke_sweep):
    runs = smoke_sweep["runs"]
    n_cells = len(smoke_datasets()) * 3 * 3 * FOLDS
    assert len(parents(runs)) == n_cells
    assert len(children(runs)) == n_cells * TRIALS
    assert len(runs) == n_cells * (1 + TRIALS)
    keys = Counter(r.data.tags[rs.TAG_CELL_KEY] for r in parents(runs))
    assert max(keys.values()) == 1
    parent_ids = {r.info.run_id for r in parents(runs)}
    per_parent = Counter(r.data.tags["mlflow.parentRunId"] for r in children(runs))
    assert set(per_parent) == parent_ids and set(per_parent.values()) == {TRIALS}


def test_every_parent_has_tags_metrics_params_and_predictions(smoke_sweep):
    client = MlflowClient(smoke_sweep["uri"])
    required_tags = [
        rs.TAG_DATASET, rs.TAG_BOOSTER, rs.TAG_STRATEGY, rs.TAG_REPEAT, rs.TAG_FOLD,
        rs.TAG_CELL_KEY, rs.TAG_IMBALANCE_RATIO, rs.TAG_TIER, rs.TAG_N_ROWS, rs.TAG_GIT_COMMIT,
        rs.TAG_HOST, rs.TAG_VERSION_PREFIX + "lightgbm", rs.TAG_VERSION_PREFIX + "xgboost",
        rs.TAG_VERSION_PREFIX + "catboost",
    ]  # fmt: skip
    for run in parents(smoke_sweep["runs"]):
        assert run.info.status == "FINISHED"
        for tag in required_tags:
            assert run.data.tags.get(tag), (run.info.run_name, tag)
        for metric in rs.test_metric_names():
            assert metric in run.data.metrics, (run.info.run_name, metric)
        assert 0 < run.data.metrics[rs.M_THRESHOLD] < 1
        assert run.data.metrics[rs.M_N_TRIALS] == TRIALS
        assert "refit_rounds" in run.data.params
        if run.data.tags[rs.TAG_STRATEGY] == "focal":
            assert {"gamma", "alpha_logit"} <= set(run.data.params)
    some = parents(smoke_sweep["runs"])[0]
    artifacts = [a.path for a in client.list_artifacts(some.info.run_id, "predictions")]
    assert artifacts == [rs.PREDICTIONS_ARTIFACT]


def test_every_child_has_params_scores_and_state(smoke_sweep):
    for run in children(smoke_sweep["runs"]):
        assert run.info.status == "FINISHED"
        assert run.data.tags[rs.TAG_TRIAL_STATE] == "COMPLETE"
        assert {"inner_score", "best_iteration", "fit_time_s"} <= set(run.data.metrics)
        assert "learning_rate" in run.data.params


def test_rerunning_the_same_command_adds_nothing(smoke_sweep):
    second = smoke_sweep["second"]
    assert second.returncode == 0, second.stderr[-3000:]
    before = sorted(r.info.run_id for r in smoke_sweep["runs"])
    assert sorted(r.info.run_id for r in smoke_sweep["runs_after_second"]) == before
    assert "0 to run" in second.stderr


def test_summary_table_is_printed(smoke_sweep):
    out = smoke_sweep["first"].stdout + smoke_sweep["first"].stderr
    assert "mean outer-test average_precision" in out
    for name in smoke_datasets():
        assert name in out


def test_sigkill_mid_sweep_then_resume_gives_exact_counts(tmp_path):
    dataset = smoke_datasets()[0]
    args = sweep_args(
        tmp_path, "--datasets", dataset, "--boosters", "lightgbm", "xgboost",
        "--trials", "3", "--folds", "3", "--workers", "2",
    )  # fmt: skip
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = popen_cli(args, tmp_path / "first.log")
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            log = tmp_path / "first.log"
            if "sweep '" not in (log.read_text() if log.exists() else ""):
                continue  # the store's schema is still being created
            try:
                runs = all_runs(uri)
            except Exception:
                continue
            done = [r for r in parents(runs) if r.info.status == "FINISHED"]
            if done and len(children(runs)) > len(done) * 3:
                break
        assert proc.poll() is None, (
            "ended before the kill:\n" + (tmp_path / "first.log").read_text()[-3000:]
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    interrupted = parents(all_runs(uri))
    assert any(r.info.status != "FINISHED" for r in interrupted)

    resumed = run_cli(args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    runs = all_runs(uri)
    n_cells = 2 * 3 * 3
    assert len(parents(runs)) == n_cells
    assert all(r.info.status == "FINISHED" for r in runs)
    assert len(children(runs)) == n_cells * 3
    numbers = Counter(
        (r.data.tags["mlflow.parentRunId"], r.data.tags[rs.TAG_TRIAL_NUMBER])
        for r in children(runs)
    )
    assert max(numbers.values()) == 1


def test_local_store_commits_in_wal_mode(smoke_sweep):
    """The sweep switches its SQLite store to WAL once the schema exists (no fsync a commit)."""
    path = smoke_sweep["uri"].removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_processes_opening_a_new_store_at_once_all_succeed(tmp_path):
    """`mlflow ui` or a second sweep opening a store while its schema is being created must not
    kill either: the loser of the schema race waits for the winner."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code = "import sys; from bench.tracking.client import Tracker; Tracker(sys.argv[1])"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, uri], stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], "\n".join(errors)[-3000:]
    assert all_runs(uri) == []


def test_parent_runs_carry_dataset_inputs_and_a_description(smoke_sweep):
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT, MLFLOW_RUN_NOTE

    client = MlflowClient(smoke_sweep["uri"])
    for run in parents(smoke_sweep["runs"])[:6]:
        inputs = client.get_run(run.info.run_id).inputs.dataset_inputs
        contexts = {
            t.value: i.dataset for i in inputs for t in i.tags if t.key == MLFLOW_DATASET_CONTEXT
        }
        assert set(contexts) == {"train", "test"}
        dataset = run.data.tags[rs.TAG_DATASET]
        assert {d.name for d in contexts.values()} == {dataset}
        assert contexts["train"].digest != contexts["test"].digest
        note = run.data.tags[MLFLOW_RUN_NOTE]
        score = run.data.metrics["test_average_precision"]
        assert note.startswith(f"{dataset} / {run.data.tags[rs.TAG_BOOSTER]} / ")
        assert f"average_precision {score:.4f}" in note


def test_each_worker_writes_a_log_file(smoke_sweep):
    from bench.paths import sweep_log_dir

    runs_dir = Path(smoke_sweep["uri"].removeprefix("sqlite:///")).parent
    exp = next(
        e for e in MlflowClient(smoke_sweep["uri"]).search_experiments() if rs.EXP_SWEEP in e.tags
    )
    logs = list(sweep_log_dir(runs_dir, exp.tags[rs.EXP_SWEEP]).glob("*.log"))
    assert logs, "no worker log file"
    text = "".join(p.read_text() for p in logs)
    assert text.count(": done, average_precision = ") == len(parents(smoke_sweep["runs"]))
