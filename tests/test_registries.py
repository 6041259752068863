"""Registries are the one source of every name: registering a throwaway strategy and booster
touches nothing but the registry call, the planner skips what a booster cannot run, and an
unknown name lists the registered ones."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bench import runschema as rs
from bench.boosters import BOOSTERS, BoosterInfo, LossSpec, get_adapter, register_booster
from bench.cli import main
from bench.config import build_config
from bench.datasets.sources import SOURCES
from bench.errors import BenchError
from bench.registry import Registry, UnknownName
from bench.strategies import STRATEGIES, Strategy, Task, make_strategy, register_strategy
from bench.sweep.driver import run_sweep
from bench.sweep.plan import plan_sweep
from tests.sweep_helpers import REPO, all_runs, parents, smoke_datasets


class HalfWeight(Strategy):
    """A throwaway strategy: the positive class weighted by a tuned factor in [1, 2]."""

    name = "throwaway_weight"

    def suggest(self, trial: Any, task: Task) -> dict[str, Any]:
        return {"factor": trial.suggest_float("factor", 1.0, 2.0)}

    def loss(self, params: dict[str, Any], y: np.ndarray, n_classes: int) -> LossSpec:
        weights = [1.0] * n_classes
        weights[-1] = params["factor"]
        return LossSpec("weighted", class_weights=tuple(weights))


def _native_only_lightgbm():
    """A throwaway booster: LightGBM that declares it takes no custom objective."""
    return get_adapter("lightgbm")


@pytest.fixture
def throwaways():
    register_strategy(HalfWeight)
    register_booster(BoosterInfo("throwaway_gbm", _native_only_lightgbm, custom_objective=False))
    try:
        yield
    finally:
        STRATEGIES.unregister(HalfWeight.name)
        BOOSTERS.unregister("throwaway_gbm")


def _config(tmp_path, **overrides: Any):
    base: dict[str, Any] = {
        "datasets": [smoke_datasets()[0]],
        "boosters": ["throwaway_gbm"],
        "strategies": ["ce", HalfWeight.name, "focal"],
        "trials": 1,
        "folds": 2,
        "workers": 1,
        "threads": 1,
        "runs_dir": str(tmp_path),
        "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "catalogue": str(REPO / "datasets.yaml"),
    }
    base.update(overrides)
    return build_config(None, base)


@pytest.mark.integration
def test_registered_throwaways_plan_skip_and_run(throwaways, tmp_path, capsys):
    cfg = _config(tmp_path)
    plan = plan_sweep(cfg)
    assert {c.strategy for c in plan.cells} == {"ce", HalfWeight.name}
    assert plan.skipped_lines() == [
        "skipped: throwaway_gbm x focal: throwaway_gbm has no custom objective"
    ]
    assert run_sweep(cfg) == 0
    err = capsys.readouterr().err
    assert err.count("throwaway_gbm has no custom objective") == 1  # reported once
    runs = parents(all_runs(cfg.tracking_uri))
    assert len(runs) == 2 * cfg.folds  # focal never attempted
    strategies = {r.data.tags[rs.TAG_STRATEGY] for r in runs}
    assert strategies == {"ce", HalfWeight.name}
    for run in runs:
        if run.data.tags[rs.TAG_STRATEGY] == HalfWeight.name:
            assert 1.0 <= float(run.data.params["factor"]) <= 2.0


@pytest.mark.unit
def test_unknown_names_list_the_registered_ones():
    with pytest.raises(UnknownName, match=r"unknown booster 'lgbm'; registered: lightgbm, xgboost"):
        get_adapter("lgbm")
    with pytest.raises(UnknownName, match=r"unknown strategy 'dice'; registered: ce, weighted"):
        make_strategy("dice")
    with pytest.raises(BenchError, match=r"unknown booster 'gbdt'; registered: lightgbm"):
        build_config(None, {"boosters": ["gbdt"]})
    with pytest.raises(BenchError, match=r"unknown strategy 'dice'; registered: ce"):
        build_config(None, {"strategies": ["ce", "dice"]})


@pytest.mark.unit
def test_cli_unknown_strategy_lists_registered_names(tmp_path, capsys):
    assert main(["run", "--runs-dir", str(tmp_path), "--strategies", "dice"]) == 2
    err = capsys.readouterr().err
    assert "unknown strategy 'dice'" in err and "ce, weighted, focal" in err
    assert "Traceback" not in err


@pytest.mark.unit
def test_unknown_source_lists_registered_sources(tmp_path):
    from bench.datasets import load_catalogue

    path = tmp_path / "datasets.yaml"
    path.write_text("datasets:\n  x: {source: kaggle, ref: a/b}\n")
    with pytest.raises(BenchError) as err:
        load_catalogue(path)
    assert "unknown source 'kaggle'" in str(err.value)
    assert ", ".join(SOURCES.names()) in str(err.value)


@pytest.mark.unit
def test_registry_refuses_a_name_twice_and_keeps_order():
    reg: Registry[int] = Registry("thing")
    reg.register("b", 1)
    reg.register("a", 2)
    assert reg.names() == ("b", "a") and "a" in reg and len(reg) == 2
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a", 3)
    reg.register("a", 3, replace=True)
    assert reg.get("a") == 3


@pytest.mark.unit
def test_report_orders_columns_by_the_registries():
    from bench.report.frame import expected_grid
    from tests.support.synthetic_results import synthetic_results

    df = synthetic_results(
        2, strategies=("focal", "ce", "weighted"), boosters=("catboost", "lightgbm")
    )
    grid = expected_grid(df, {})
    assert grid.strategies == ["ce", "weighted", "focal"]
    assert grid.boosters == ["lightgbm", "catboost"]
