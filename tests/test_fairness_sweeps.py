"""A fair fight (issue 14), end to end on real boosters: the A/A test and an exact resume."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections import defaultdict

import pytest

from bench import runschema as rs
from tests.sweep_helpers import (
    all_runs,
    children,
    parents,
    popen_cli,
    run_cli,
    smoke_datasets,
    sweep_args,
)

pytestmark = pytest.mark.integration


def test_a_a_focal_with_gamma_zero_and_no_alpha_equals_ce(tmp_path):
    """ce against focal pinned to gamma = 0 without alpha (cross-entropy through the focal code
    path: custom objective, loss scale, start margin): sampling, start-up configurations, early
    stopping and the refit must treat the two alike, so the outer-test scores agree."""
    config = tmp_path / "aa.yaml"
    config.write_text("focal: {gamma: [0, 0], alpha: none}\n")
    args = sweep_args(
        tmp_path, "--config", str(config), "--suite", "smoke", "--boosters", "lightgbm",
        "xgboost", "--strategies", "ce", "focal", "--trials", "6", "--folds", "3",
    )  # fmt: skip
    out = run_cli(args)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "6 trials each (3 start-up, 3 TPE)" in out.stderr
    cells: dict[tuple, dict[str, float]] = defaultdict(dict)
    for run in parents(all_runs(f"sqlite:///{tmp_path / 'mlflow.db'}")):
        tags = run.data.tags
        key = (tags[rs.TAG_DATASET], tags[rs.TAG_BOOSTER], tags[rs.TAG_REPEAT], tags[rs.TAG_FOLD])
        cells[key][tags[rs.TAG_STRATEGY]] = run.data.metrics["test_average_precision"]
        assert run.data.metrics[rs.M_STARTUP_TRIALS] == 3
        assert tags[rs.TAG_INNER_KIND] in ("holdout", "kfold")
    assert len(cells) == len(smoke_datasets()) * 2 * 3
    equal = [abs(v["ce"] - v["focal"]) <= 1e-6 for v in cells.values()]
    assert sum(equal) >= 0.9 * len(equal), {k: v for k, v in cells.items()}


def _trials_by_cell(uri: str) -> tuple[dict, dict]:
    runs = all_runs(uri)
    by_parent = {r.info.run_id: r.data.tags[rs.TAG_CELL_KEY] for r in parents(runs)}
    trials: dict[str, list] = defaultdict(list)
    for child in sorted(children(runs), key=lambda r: int(r.data.tags[rs.TAG_TRIAL_NUMBER])):
        if child.data.tags[rs.TAG_TRIAL_STATE] == "COMPLETE":
            cell = by_parent[child.data.tags["mlflow.parentRunId"]]
            trials[cell].append(dict(child.data.params))
    scores = {
        r.data.tags[rs.TAG_CELL_KEY]: {m: r.data.metrics[m] for m in rs.test_metric_names()}
        for r in parents(runs)
    }
    return dict(trials), scores


def test_a_killed_and_resumed_sweep_proposes_and_scores_exactly_as_an_uninterrupted_one(tmp_path):
    base = [
        "--datasets", smoke_datasets()[0], "--boosters", "lightgbm", "--strategies", "focal",
        "--trials", "8", "--folds", "2", "--workers", "1", "--threads", "1", "--name", "resume",
    ]  # fmt: skip
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    out = run_cli(sweep_args(whole, *base))
    assert out.returncode == 0, out.stderr[-3000:]

    uri = f"sqlite:///{killed / 'mlflow.db'}"
    proc = popen_cli(sweep_args(killed, *base), tmp_path / "killed.log")
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            with contextlib.suppress(Exception):
                runs = all_runs(uri)
                unfinished = [p for p in parents(runs) if p.info.status != "FINISHED"]
                if unfinished and len(children(runs)) >= 3:
                    break  # mid-study: some trials of a cell logged, the cell not finished
        assert proc.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    resumed = run_cli(sweep_args(killed, *base))
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    trials_whole, scores_whole = _trials_by_cell(f"sqlite:///{whole / 'mlflow.db'}")
    trials_killed, scores_killed = _trials_by_cell(uri)
    assert trials_killed.keys() == trials_whole.keys() and len(trials_whole) == 2
    for cell, proposed in trials_whole.items():
        assert len(proposed) == 8
        assert trials_killed[cell] == proposed  # trial by trial, the same parameters
    assert scores_killed == scores_whole  # the same outer-test metrics, to the bit
