"""``ce``: the library's native cross-entropy, the baseline every other strategy is judged by."""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.boosters.base import LossSpec
from bench.strategies.base import Strategy, Task


class CrossEntropy(Strategy):
    """Native cross-entropy; nothing of its own to tune."""

    name = "ce"

    def suggest(self, trial: Any, task: Task) -> dict[str, Any]:
        return {}

    def loss(self, params: dict[str, Any], y: np.ndarray, n_classes: int) -> LossSpec:
        return LossSpec("ce")
