"""``focal``: focal loss as the training objective (exact gradients, focal-optimal start)."""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.boosters.base import LossSpec
from bench.objectives import DEFAULT_HESSIAN_GUARD, HESSIAN_GUARDS
from bench.strategies.base import Strategy, inverse_frequency

GAMMA_MIN = 0.5
ALPHA_RANGE = (0.05, 0.95)
ALPHA_POWER_RANGE = (0.0, 1.5)


class Focal(Strategy):
    """gamma in [0.5, gamma_max] and alpha (binary: weight of class 1 in [0.05, 0.95];
    multiclass: alpha_k proportional to (n_max / n_k) ** alpha_power, mean 1), plus the Hessian
    guard when the sweep asks to tune it. gamma never reaches 0, so focal always focuses."""

    name = "focal"
    needs_custom_objective = True

    def _focal(self):
        from bench.config import FocalConfig

        return self.config.focal if self.config is not None else FocalConfig()

    def suggest(self, trial: Any, n_classes: int) -> dict[str, Any]:
        focal = self._focal()
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

    def loss(self, params: dict[str, Any], y: np.ndarray, n_classes: int) -> LossSpec:
        focal = self._focal()
        hessian = params.get("hessian") or (
            focal.hessian if focal.hessian not in (None, "tune") else DEFAULT_HESSIAN_GUARD
        )
        if n_classes == 2:
            alpha: float | tuple[float, ...] = float(params["alpha"])
        else:
            a = inverse_frequency(y, n_classes, params["alpha_power"])
            alpha = tuple(float(v) for v in a / a.mean())
        return LossSpec(
            "focal",
            alpha=alpha,
            gamma=float(params["gamma"]),
            hessian=hessian,
            implementation=focal.catboost,
        )
