"""``weighted``: native cross-entropy with inverse-frequency class weights."""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.boosters.base import LossSpec
from bench.strategies.base import Strategy, Task, inverse_frequency

WEIGHT_POWER_RANGE = (0.25, 1.5)


class ClassWeighted(Strategy):
    """Class weight w_k = (n_max / n_k) ** weight_power, weight_power in [0.25, 1.5]: a log scale
    around the inverse imbalance ratio (power 1 = "balanced"; binary: the positive-class weight
    IR ** power). The space never reaches 0, so weighted always weights."""

    name = "weighted"

    def suggest(self, trial: Any, task: Task) -> dict[str, Any]:
        return {"weight_power": trial.suggest_float("weight_power", *WEIGHT_POWER_RANGE)}

    def loss(self, params: dict[str, Any], y: np.ndarray, n_classes: int) -> LossSpec:
        w = inverse_frequency(y, n_classes, params["weight_power"])
        return LossSpec("weighted", class_weights=tuple(float(v) for v in w))
