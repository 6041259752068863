"""A strategy of your own, in one file: class-balanced weights by the effective number of
samples (Cui et al., "Class-Balanced Loss Based on Effective Number of Samples", CVPR 2019).

A class with n_k rows counts as (1 - beta^n_k) / (1 - beta) effective samples; its weight is the
inverse, normalised so that the weights sum to the number of classes. beta -> 0 is plain
cross-entropy, beta -> 1 inverse class frequency; beta is tuned in [0.9, 0.9999].

    python -m bench run --suite smoke \\
        --strategies ce examples/strategies/class_balanced.py:ClassBalanced --trials 2 --folds 2
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.boosters.base import LossSpec
from bench.strategies import Strategy, Task


class ClassBalanced(Strategy):
    """Class weights w_k proportional to (1 - beta) / (1 - beta^n_k), beta tuned."""

    name = "class_balanced"

    def suggest(self, trial: Any, task: Task) -> dict[str, Any]:
        # 1 - beta on a log scale: beta in [0.9, 0.9999]
        return {"one_minus_beta": trial.suggest_float("one_minus_beta", 1e-4, 0.1, log=True)}

    def loss(self, params: dict[str, Any], y: np.ndarray, n_classes: int) -> LossSpec:
        beta = 1.0 - float(params["one_minus_beta"])
        counts = np.maximum(np.bincount(y, minlength=n_classes), 1).astype(np.float64)
        weights = (1.0 - beta) / (1.0 - np.power(beta, counts))
        weights *= n_classes / weights.sum()
        return LossSpec("weighted", class_weights=tuple(float(w) for w in weights))
