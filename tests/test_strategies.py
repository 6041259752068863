"""The built-in strategies: their search spaces and the losses they ask of a fit."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.trial import FixedTrial

from bench.config import build_config
from bench.objectives import DEFAULT_HESSIAN_GUARD, HESSIAN_GUARDS
from bench.strategies import STRATEGIES, Task, make_strategy
from bench.strategies.focal import alpha_logit_range
from bench.strategies.weighted import WEIGHT_POWER_RANGE

pytestmark = pytest.mark.unit

Y_BINARY = np.array([0] * 90 + [1] * 10)
Y_MULTI = np.array([0] * 60 + [1] * 30 + [2] * 10)
BINARY = Task(2, 9.0)
MULTI = Task(3, 6.0)


def _trial(seed: int = 0):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return study.ask()


def test_the_builtins_are_registered_in_order():
    assert STRATEGIES.names()[:4] == ("ce", "weighted", "focal", "focal-gamma")


def test_ce_tunes_nothing_and_asks_for_native_cross_entropy():
    ce = make_strategy("ce")
    assert ce.suggest(_trial(), BINARY) == {}
    loss = ce.loss({}, Y_BINARY, 2)
    assert loss.kind == "ce" and loss.class_weights is None


@pytest.mark.parametrize("power", [0.25, 1.0, 1.5])
def test_weighted_weights_are_inverse_frequency_to_the_tuned_power(power):
    loss = make_strategy("weighted").loss({"weight_power": power}, Y_MULTI, 3)
    assert loss.kind == "weighted"
    np.testing.assert_allclose(loss.class_weights, [1.0, 2.0**power, 6.0**power])


def test_weighted_space_never_collapses_to_ce():
    for seed in range(20):
        params = make_strategy("weighted").suggest(_trial(seed), BINARY)
        assert WEIGHT_POWER_RANGE[0] <= params["weight_power"] <= WEIGHT_POWER_RANGE[1]
        assert make_strategy("weighted").loss(params, Y_BINARY, 2).class_weights[1] > 1.0


def test_focal_binary_and_multiclass_spaces():
    focal = make_strategy("focal")
    low, high = alpha_logit_range(BINARY.imbalance_ratio)
    for seed in range(20):
        b = focal.suggest(_trial(seed), BINARY)
        assert 0.5 <= b["gamma"] <= 5.0 and low <= b["alpha_logit"] <= high
        m = focal.suggest(_trial(seed), MULTI)
        assert "alpha_power" in m and "alpha_logit" not in m
    alpha = focal.loss({"gamma": 2.0, "alpha_logit": math.log(3.0)}, Y_BINARY, 2).alpha
    assert alpha == pytest.approx(0.75)  # odds 3: the positive class weighs 3x the negative
    loss = focal.loss({"gamma": 2.0, "alpha_power": 1.0}, Y_MULTI, 3)
    assert loss.kind == "focal" and loss.hessian == DEFAULT_HESSIAN_GUARD
    assert np.isclose(np.mean(loss.alpha), 1.0)  # alpha_k ~ n_max / n_k, mean 1
    assert loss.alpha[2] / loss.alpha[0] == pytest.approx(6.0)


def test_focal_alpha_reaches_the_largest_weight_weighted_can_give():
    for ratio in (1.1, 9.0, 130.0, 1000.0):
        low, high = alpha_logit_range(ratio)
        assert low == pytest.approx(math.log(1 / 19))
        assert math.exp(high) >= ratio**1.5 - 1e-9  # the odds alpha / (1 - alpha) reach IR^1.5
        assert math.exp(high) >= 19.0 - 1e-9


def test_pinned_gamma_and_no_alpha_tune_nothing_and_are_cross_entropy():
    cfg = build_config(None, {"focal": {"gamma": [0, 0], "alpha": "none"}})
    focal = make_strategy("focal", cfg)
    assert focal.suggest(_trial(), BINARY) == {} and focal.suggest(_trial(), MULTI) == {}
    loss = focal.loss({}, Y_BINARY, 2)
    assert loss.kind == "focal" and loss.gamma == 0.0 and loss.alpha is None


def test_focal_gamma_ablation_tunes_gamma_only():
    ablation = make_strategy("focal-gamma")
    for task in (BINARY, MULTI):
        params = ablation.suggest(_trial(1), task)
        assert set(params) == {"gamma"}
        assert (
            ablation.loss(params, Y_MULTI if task is MULTI else Y_BINARY, task.n_classes).alpha
            is None
        )


def test_focal_takes_the_sweeps_settings():
    cfg = build_config(None, {"focal": {"hessian": "tune", "gamma": [1, 3], "catboost": "native"}})
    focal = make_strategy("focal", cfg)
    params = focal.suggest(_trial(3), BINARY)
    assert params["hessian"] in HESSIAN_GUARDS and 1.0 <= params["gamma"] <= 3.0
    loss = focal.loss(params, Y_BINARY, 2)
    assert loss.hessian == params["hessian"] and loss.implementation == "native"


def test_a_fixed_trial_replays_the_same_parameters():
    focal = make_strategy("focal")
    params = focal.suggest(_trial(5), BINARY)
    assert focal.suggest(FixedTrial(params), BINARY) == params


# --- data-level strategies ------------------------------------------------------------------
def _frame(n: int, seed: int = 0, missing: float = 0.0, categorical: bool = False):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {"a": rng.normal(size=n), "b": rng.integers(0, 50, n), "c": rng.normal(size=n)}
    )
    if categorical:
        X["cat"] = pd.Categorical(rng.choice(list("xyz"), n))
    if missing:
        X.loc[rng.random(n) < missing, "a"] = np.nan
        if categorical:
            X.loc[rng.random(n) < missing, "cat"] = np.nan
    X.index = np.arange(1000, 1000 + n)  # positions in a larger dataset
    return X


Y_RARE = np.array([0] * 150 + [1] * 20 + [2] * 10)


@pytest.mark.parametrize("balance", [0.25, 0.6, 1.0])
@pytest.mark.parametrize(
    ("name", "towards"), [("undersample", "min"), ("oversample", "max"), ("smote", "max")]
)
def test_resamplers_honour_the_tuned_balance(name, towards, balance):
    counts = np.bincount(Y_RARE)
    target = counts.min() if towards == "min" else counts.max()
    expected = np.rint(counts ** (1 - balance) * float(target) ** balance).astype(int)
    rows = make_strategy(name).resample(
        _frame(len(Y_RARE)), Y_RARE, {"balance": balance, "k_neighbors": 5}, seed=3
    )
    np.testing.assert_array_equal(np.bincount(rows.y), expected)
    assert len(rows.X) == len(rows.y) and list(rows.X.columns) == ["a", "b", "c"]
    if balance == 1.0:
        assert len(set(np.bincount(rows.y))) == 1  # fully balanced


def test_resampled_rows_keep_their_index_and_synthetic_rows_get_negative_ones():
    X = _frame(len(Y_RARE))
    under = make_strategy("undersample").resample(X, Y_RARE, {"balance": 1.0}, 0)
    assert set(under.X.index) <= set(X.index)
    np.testing.assert_array_equal(under.y, Y_RARE[under.X.index - 1000])
    over = make_strategy("oversample").resample(X, Y_RARE, {"balance": 1.0}, 0)
    assert set(over.X.index) <= set(X.index)
    smote = make_strategy("smote").resample(X, Y_RARE, {"balance": 1.0, "k_neighbors": 3}, 0)
    real, synthetic = smote.X[smote.X.index >= 0], smote.X[smote.X.index < 0]
    pd.testing.assert_frame_equal(real, X)  # the originals, untouched and first
    assert len(synthetic) == len(smote.y) - len(Y_RARE) and synthetic.index.is_unique


def test_smote_with_missing_values_and_categories_makes_complete_rows_of_the_same_types():
    X = _frame(len(Y_RARE), missing=0.1, categorical=True)
    rows = make_strategy("smote").resample(X, Y_RARE, {"balance": 1.0, "k_neighbors": 5}, 1)
    synthetic = rows.X[rows.X.index < 0]
    assert not synthetic.isna().any().any()  # interpolated in the imputed copy
    assert (rows.X.dtypes == X.dtypes).all()
    assert set(synthetic["cat"].dropna()) <= {"x", "y", "z"}
    assert (synthetic["b"] == synthetic["b"].round()).all()  # integer columns stay integers
    pd.testing.assert_frame_equal(rows.X[rows.X.index >= 0], X)  # missing values kept there


def test_smote_lowers_k_to_what_the_data_allows_and_says_so():
    y = np.array([0] * 40 + [1] * 4)
    rows = make_strategy("smote").resample(
        _frame(len(y)), y, {"balance": 1.0, "k_neighbors": 10}, 0
    )
    assert rows.notes == {"k_neighbors_used": 3}
    assert np.bincount(rows.y).tolist() == [40, 40]
