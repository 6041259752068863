"""The three loss strategies, declared once and booster-agnostic.

A strategy samples its own hyper-parameters (``suggest``) and turns them, together with the
class counts of the data a model is trained on, into a ``LossSpec`` the booster adapters
translate. Every strategy gets the same number of trials; each space is chosen so that it
never collapses into another strategy (weighted always weights, focal always focuses).

- ce:       native cross-entropy, nothing to tune.
- weighted: class weight w_k = (n_max / n_k) ** weight_power, weight_power in [0.25, 1.5]:
            a log scale around the inverse imbalance ratio (power 1 = "balanced"; binary:
            the positive-class weight IR ** power).
- focal:    gamma in [0.5, gamma_max] and alpha (binary: weight of class 1 in [0.05, 0.95];
            multiclass: alpha_k proportional to (n_max / n_k) ** alpha_power, mean 1), plus the
            Hessian guard when the sweep asks to tune it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.boosters.base import LossSpec
from bench.config import FocalConfig
from bench.objectives import DEFAULT_HESSIAN_GUARD, HESSIAN_GUARDS

WEIGHT_POWER_RANGE = (0.25, 1.5)
GAMMA_MIN = 0.5
ALPHA_RANGE = (0.05, 0.95)
ALPHA_POWER_RANGE = (0.0, 1.5)


def suggest(trial: Any, strategy: str, n_classes: int, focal: FocalConfig) -> dict[str, Any]:
    """Sample the strategy's own hyper-parameters from an Optuna trial."""
    if strategy == "ce":
        return {}
    if strategy == "weighted":
        return {"weight_power": trial.suggest_float("weight_power", *WEIGHT_POWER_RANGE)}
    if strategy == "focal":
        params: dict[str, Any] = {
            "gamma": trial.suggest_float("gamma", GAMMA_MIN, focal.gamma_max),
        }
        if n_classes == 2:
            params["alpha"] = trial.suggest_float("alpha", *ALPHA_RANGE)
        else:
            params["alpha_power"] = trial.suggest_float("alpha_power", *ALPHA_POWER_RANGE)
        if focal.hessian == "tune":
            params["hessian"] = trial.suggest_categorical("hessian", list(HESSIAN_GUARDS))
        return params
    raise ValueError(f"unknown strategy {strategy!r}; known: ce, weighted, focal")


def _inverse_frequency(y: np.ndarray, n_classes: int, power: float) -> np.ndarray:
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    counts = np.maximum(counts, 1.0)  # a class absent from a split gets the largest weight
    return (counts.max() / counts) ** power


def loss_spec(
    strategy: str, params: dict[str, Any], y: np.ndarray, n_classes: int, focal: FocalConfig
) -> LossSpec:
    """The LossSpec for training on labels ``y`` (weights follow that data's class counts)."""
    if strategy == "ce":
        return LossSpec("ce")
    if strategy == "weighted":
        w = _inverse_frequency(y, n_classes, params["weight_power"])
        return LossSpec("weighted", class_weights=tuple(float(v) for v in w))
    if strategy == "focal":
        hessian = params.get("hessian") or (
            focal.hessian if focal.hessian not in (None, "tune") else DEFAULT_HESSIAN_GUARD
        )
        if n_classes == 2:
            alpha: float | tuple[float, ...] = float(params["alpha"])
        else:
            a = _inverse_frequency(y, n_classes, params["alpha_power"])
            alpha = tuple(float(v) for v in a / a.mean())
        return LossSpec(
            "focal",
            alpha=alpha,
            gamma=float(params["gamma"]),
            hessian=hessian,
            implementation=focal.catboost,
        )
    raise ValueError(f"unknown strategy {strategy!r}; known: ce, weighted, focal")
