"""The built-in strategies: their search spaces and the losses they ask of a fit."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from optuna.trial import FixedTrial

from bench.config import build_config
from bench.objectives import DEFAULT_HESSIAN_GUARD, HESSIAN_GUARDS
from bench.strategies import STRATEGIES, make_strategy
from bench.strategies.focal import ALPHA_RANGE, GAMMA_MIN
from bench.strategies.weighted import WEIGHT_POWER_RANGE

pytestmark = pytest.mark.unit

Y_BINARY = np.array([0] * 90 + [1] * 10)
Y_MULTI = np.array([0] * 60 + [1] * 30 + [2] * 10)


def _trial(seed: int = 0):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return study.ask()


def test_the_builtins_are_registered_in_order():
    assert STRATEGIES.names()[:3] == ("ce", "weighted", "focal")


def test_ce_tunes_nothing_and_asks_for_native_cross_entropy():
    ce = make_strategy("ce")
    assert ce.suggest(_trial(), 2) == {}
    loss = ce.loss({}, Y_BINARY, 2)
    assert loss.kind == "ce" and loss.class_weights is None


@pytest.mark.parametrize("power", [0.25, 1.0, 1.5])
def test_weighted_weights_are_inverse_frequency_to_the_tuned_power(power):
    loss = make_strategy("weighted").loss({"weight_power": power}, Y_MULTI, 3)
    assert loss.kind == "weighted"
    np.testing.assert_allclose(loss.class_weights, [1.0, 2.0**power, 6.0**power])


def test_weighted_space_never_collapses_to_ce():
    for seed in range(20):
        params = make_strategy("weighted").suggest(_trial(seed), 2)
        assert WEIGHT_POWER_RANGE[0] <= params["weight_power"] <= WEIGHT_POWER_RANGE[1]
        assert make_strategy("weighted").loss(params, Y_BINARY, 2).class_weights[1] > 1.0


def test_focal_binary_and_multiclass_spaces():
    focal = make_strategy("focal")
    for seed in range(20):
        b = focal.suggest(_trial(seed), 2)
        assert GAMMA_MIN <= b["gamma"] <= 5.0 and ALPHA_RANGE[0] <= b["alpha"] <= ALPHA_RANGE[1]
        m = focal.suggest(_trial(seed), 3)
        assert "alpha_power" in m and "alpha" not in m
    loss = focal.loss({"gamma": 2.0, "alpha_power": 1.0}, Y_MULTI, 3)
    assert loss.kind == "focal" and loss.hessian == DEFAULT_HESSIAN_GUARD
    assert np.isclose(np.mean(loss.alpha), 1.0)  # alpha_k ~ n_max / n_k, mean 1
    assert loss.alpha[2] / loss.alpha[0] == pytest.approx(6.0)


def test_focal_takes_the_sweeps_settings():
    cfg = build_config(None, {"focal": {"hessian": "tune", "gamma_max": 3.0, "catboost": "native"}})
    focal = make_strategy("focal", cfg)
    params = focal.suggest(_trial(3), 2)
    assert params["hessian"] in HESSIAN_GUARDS and params["gamma"] <= 3.0
    loss = focal.loss(params, Y_BINARY, 2)
    assert loss.hessian == params["hessian"] and loss.implementation == "native"


def test_a_fixed_trial_replays_the_same_parameters():
    focal = make_strategy("focal")
    params = focal.suggest(_trial(5), 2)
    assert focal.suggest(FixedTrial(params), 2) == params
