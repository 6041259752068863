"""A user's own strategy in one file, and the data-level strategies, through the real CLI."""

from __future__ import annotations

import shutil
from collections import Counter

import pytest

from bench import runschema as rs
from bench.config import build_config
from bench.errors import BenchError
from bench.strategies import STRATEGIES
from bench.sweep.plan import plan_sweep
from tests.sweep_helpers import (
    REPO,
    all_runs,
    children,
    parents,
    run_cli,
    smoke_datasets,
    sweep_args,
)

PLUGIN = REPO / "examples" / "strategies" / "class_balanced.py"


@pytest.mark.integration
def test_resampling_strategies_sweep_the_smoke_suite_with_exact_counts(tmp_path):
    strategies = ["ce", "undersample", "oversample", "smote"]
    out = run_cli(
        sweep_args(tmp_path, "--suite", "smoke", "--strategies", *strategies, "--trials", "3",
                   "--folds", "2")
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    runs = all_runs(f"sqlite:///{tmp_path / 'mlflow.db'}")
    n_cells = len(smoke_datasets()) * 3 * len(strategies) * 2
    assert len(parents(runs)) == n_cells
    assert all(r.info.status == "FINISHED" for r in parents(runs))
    complete = [c for c in children(runs) if c.data.tags[rs.TAG_TRIAL_STATE] == "COMPLETE"]
    assert len(complete) == n_cells * 3
    by_strategy = Counter(r.data.tags[rs.TAG_STRATEGY] for r in parents(runs))
    assert set(by_strategy) == set(strategies) and len(set(by_strategy.values())) == 1
    for run in parents(runs):  # the categorical, missing-value synthetic set included
        if run.data.tags[rs.TAG_STRATEGY] == "smote":
            assert 0.25 <= float(run.data.params["balance"]) <= 1.0
            assert 1 <= int(run.data.params["k_neighbors"]) <= 10
    report = run_cli(["report", "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
                      "--out", str(tmp_path / "report")])  # fmt: skip
    assert report.returncode == 0, report.stderr[-3000:]
    import pandas as pd

    table = pd.read_csv(tmp_path / "report" / "results.csv")
    assert set(table["strategy"]) == set(strategies)


@pytest.mark.integration
def test_a_plugin_strategy_runs_like_a_built_in_one(tmp_path):
    spec = f"{PLUGIN.relative_to(REPO)}:ClassBalanced"
    out = run_cli(
        sweep_args(tmp_path, "--suite", "smoke", "--strategies", "ce", spec, "--trials", "2",
                   "--folds", "2")
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    runs = parents(all_runs(f"sqlite:///{tmp_path / 'mlflow.db'}"))
    assert len(runs) == len(smoke_datasets()) * 3 * 2 * 2
    assert {r.data.tags[rs.TAG_STRATEGY] for r in runs} == {"ce", "class_balanced"}
    for run in runs:
        if run.data.tags[rs.TAG_STRATEGY] == "class_balanced":
            assert 1e-4 <= float(run.data.params["one_minus_beta"]) <= 0.1


@pytest.mark.unit
def test_changing_one_character_of_a_plugin_makes_a_new_sweep(tmp_path):
    copy = tmp_path / "cb.py"
    shutil.copy(PLUGIN, copy)

    def sweep_name() -> str:
        cfg = build_config(
            None,
            {"suite": "smoke", "strategies": ["ce", f"{copy}:ClassBalanced"],
             "catalogue": str(REPO / "datasets.yaml")},
        )  # fmt: skip
        return plan_sweep(cfg).name

    try:
        first = sweep_name()
        assert first == sweep_name()
        copy.write_text(copy.read_text().replace("beta is tuned", "beta is Tuned"))
        from bench.strategies import plugins

        plugins._loaded.clear()  # a new process would load the changed file
        STRATEGIES.unregister("class_balanced")
        assert sweep_name() != first
    finally:
        STRATEGIES.unregister("class_balanced")
        plugins._loaded.clear()


BAD_PLUGINS = {
    "unimportable": ("import no_such_package_xyz\n", "cannot import"),
    "missing": (
        "from bench.strategies import Strategy\n"
        "class Mine(Strategy):\n    name = 'mine'\n    def suggest(self, trial, task):\n"
        "        return {}\n",
        "does not implement loss",
    ),
    "one_class": (
        "from bench.strategies import Resampled, Strategy\n"
        "from bench.boosters.base import LossSpec\n"
        "class Mine(Strategy):\n    name = 'mine'\n    resamples = True\n"
        "    def suggest(self, trial, task):\n        return {}\n"
        "    def loss(self, params, y, n_classes):\n        return LossSpec('ce')\n"
        "    def resample(self, X, y, params, seed):\n"
        "        keep = y == 0\n        return Resampled(X[keep], y[keep])\n",
        "its resampler returned a single class",
    ),
}


@pytest.mark.unit
@pytest.mark.parametrize("kind", sorted(BAD_PLUGINS))
def test_a_bad_plugin_is_one_line_naming_it_before_any_cell_runs(tmp_path, kind):
    source, problem = BAD_PLUGINS[kind]
    path = tmp_path / f"{kind}.py"
    path.write_text(source)
    spec = f"{path}:Mine"
    out = run_cli(sweep_args(tmp_path, "--suite", "smoke", "--strategies", "ce", spec))
    assert out.returncode == 2
    lines = [line for line in out.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and spec in lines[0] and problem in lines[0], out.stderr
    assert not (tmp_path / "mlflow.db").exists()  # refused before anything was written


@pytest.mark.unit
def test_an_unknown_plugin_module_or_class_is_named():
    with pytest.raises(BenchError, match=r"'no_such_mod:X'.*cannot import no_such_mod"):
        build_config(None, {"strategies": ["no_such_mod:X"]})
    with pytest.raises(BenchError, match=r"has no attribute 'Nope'"):
        build_config(None, {"strategies": [f"{PLUGIN}:Nope"]})
