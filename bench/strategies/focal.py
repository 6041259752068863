"""``focal`` and ``focal-gamma``: focal loss as the training objective (exact gradients,
focal-optimal start margin).

- gamma in ``focal.gamma`` = [low, high] (default [0.5, 5]; pinned when low == high).
- alpha, binary: the positive class's weight relative to the negative one is tuned on a
  log-odds scale, alpha_logit in [log(1/19), max(log 19, 1.5 log IR)] (IR of the dataset), so
  focal reaches the largest class-weight ratio ``weighted`` can give (IR ** 1.5) and still the
  down-weighting of Lin et al.'s alpha = 0.25. Multiclass: alpha_k proportional to
  (n_max / n_k) ** alpha_power, alpha_power in [0, 1.5], mean 1 (``weighted``'s top power too).
- ``focal.alpha: none`` (and the ablation strategy ``focal-gamma``): no alpha, focusing only.
- the Hessian guard is tuned too when the sweep asks for ``focal.hessian: tune``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.boosters.base import LossSpec
from bench.objectives import DEFAULT_HESSIAN_GUARD, HESSIAN_GUARDS
from bench.strategies.base import Strategy, Task, inverse_frequency

if TYPE_CHECKING:
    from bench.config import FocalConfig

ALPHA_LOGIT_LOW = math.log(1.0 / 19.0)  # alpha = 0.05
ALPHA_LOGIT_HIGH_MIN = math.log(19.0)  # alpha = 0.95
WEIGHT_POWER_MAX = 1.5  # weighted's top power: the positive class weight IR ** 1.5
ALPHA_POWER_RANGE = (0.0, WEIGHT_POWER_MAX)


def alpha_logit_range(imbalance_ratio: float) -> tuple[float, float]:
    """The binary alpha's log-odds range for a dataset of this imbalance ratio."""
    top = max(ALPHA_LOGIT_HIGH_MIN, WEIGHT_POWER_MAX * math.log(max(imbalance_ratio, 1.0)))
    return ALPHA_LOGIT_LOW, top


class Focal(Strategy):
    """Focal loss with gamma and alpha tuned (see the module docstring)."""

    name = "focal"
    needs_custom_objective = True
    tunes_alpha = True

    def _settings(self) -> FocalConfig:
        from bench.config import FocalConfig

        return self.config.focal if self.config is not None else FocalConfig()

    def _alpha(self) -> bool:
        return self.tunes_alpha and self._settings().alpha == "tuned"

    def suggest(self, trial: Any, task: Task) -> dict[str, Any]:
        focal = self._settings()
        low, high = focal.gamma
        params: dict[str, Any] = {}
        if low < high:
            params["gamma"] = trial.suggest_float("gamma", low, high)
        if self._alpha() and task.n_classes == 2:
            params["alpha_logit"] = trial.suggest_float(
                "alpha_logit", *alpha_logit_range(task.imbalance_ratio)
            )
        elif self._alpha():
            params["alpha_power"] = trial.suggest_float("alpha_power", *ALPHA_POWER_RANGE)
        if focal.hessian == "tune":
            params["hessian"] = trial.suggest_categorical("hessian", list(HESSIAN_GUARDS))
        return params

    def loss(self, params: dict[str, Any], y: np.ndarray, n_classes: int) -> LossSpec:
        focal = self._settings()
        hessian = params.get("hessian") or (
            focal.hessian if focal.hessian not in (None, "tune") else DEFAULT_HESSIAN_GUARD
        )
        alpha: float | tuple[float, ...] | None = None
        if "alpha_logit" in params:
            alpha = 1.0 / (1.0 + math.exp(-float(params["alpha_logit"])))
        elif "alpha_power" in params:
            a = inverse_frequency(y, n_classes, params["alpha_power"])
            alpha = tuple(float(v) for v in a / a.mean())
        return LossSpec(
            "focal",
            alpha=alpha,
            gamma=float(params.get("gamma", focal.gamma[0])),
            hessian=hessian,
            implementation=focal.catboost,
        )


class FocalGamma(Focal):
    """The ablation: focusing only (gamma tuned), no alpha."""

    name = "focal-gamma"
    tunes_alpha = False
