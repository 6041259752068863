"""The strategy contract: what a loss strategy tunes and what it asks of a fit.

A strategy is one class. ``suggest`` samples its own hyper-parameters from an Optuna trial (the
booster's parameters are sampled separately, the same way for every strategy); ``loss`` turns
them, with the class counts of the rows a model is trained on, into a
:class:`~bench.boosters.base.LossSpec` every booster adapter can train; ``resample``
(optional) transforms the rows a model trains on: the inner-training parts and, at the refit,
the outer-training part; never a validation or test part. Every strategy gets the same trial
budget.

Loss scale: tree boosters regularise in Hessian units (a leaf's value is -G / (H + lambda); a
split needs a minimum child Hessian), and the losses' Hessians differ by orders of magnitude
(focal's are 0.02-0.2x cross-entropy's at the start; class weights make them larger). By
default (``loss_scale: hessian``) the sweep multiplies every fit's gradients and Hessians (for
``weighted``: its sample weights) by the one constant that gives the booster cross-entropy's
summed start Hessian on the same rows (``bench.strategies.scale``). That is the same as dividing
lambda and the minimum child Hessian by that constant, so every strategy's regularisation ranges
mean the same thing. ``ce`` is the reference (scale 1), and focal with gamma = 0 and no alpha is
cross-entropy exactly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from bench.boosters.base import LossSpec

if TYPE_CHECKING:
    from bench.config import SweepConfig


@dataclass(frozen=True)
class Task:
    """What a strategy may know when it builds its search space: the same for every trial and
    outer fold of a dataset (an Optuna study's distributions may not change between trials)."""

    n_classes: int
    imbalance_ratio: float  # majority / minority count of the whole dataset (>= 1)


@dataclass
class Resampled:
    """Training rows after a strategy's ``resample``: the booster trains on these (each row
    weight 1 unless the loss weights classes). Original rows keep their index; synthetic rows
    get negative index values, so they can never be taken for a dataset row. ``notes`` are
    recorded on the trial (e.g. a SMOTE neighbour count lowered to what the data allows)."""

    X: pd.DataFrame
    y: np.ndarray
    notes: dict[str, Any] = field(default_factory=dict)


class Strategy(ABC):
    """One way of handling class imbalance, tuned with its own parameters.

    Subclasses set ``name`` (what tables, tags and the CLI call it) and, when their loss is a
    Python objective, ``needs_custom_objective`` (the planner then skips boosters without one).
    A data-level strategy sets ``resamples`` and overrides ``resample``.
    ``config`` is the sweep's configuration (None outside a sweep: library defaults).
    """

    name: ClassVar[str]
    needs_custom_objective: ClassVar[bool] = False
    resamples: ClassVar[bool] = False

    def __init__(self, config: SweepConfig | None = None) -> None:
        self.config = config

    @abstractmethod
    def suggest(self, trial: Any, task: Task) -> dict[str, Any]:
        """Sample this strategy's own parameters from an Optuna trial (or a FixedTrial)."""

    @abstractmethod
    def loss(self, params: dict[str, Any], y: np.ndarray, n_classes: int) -> LossSpec:
        """The loss to train on labels ``y`` (class weights follow that data's class counts)."""

    def resample(
        self, X: pd.DataFrame, y: np.ndarray, params: dict[str, Any], seed: int
    ) -> Resampled:
        """The rows to train on, made once per fit from a training part (and only from one).
        The default trains on the rows as they are."""
        return Resampled(X, y)


def inverse_frequency(y: np.ndarray, n_classes: int, power: float) -> np.ndarray:
    """(n_max / n_k) ** power per class; a class absent from ``y`` gets the largest weight."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    counts = np.maximum(counts, 1.0)
    return (counts.max() / counts) ** power
