"""Loss strategies and their registry: the one source of every strategy name.

- ``ce``: native cross-entropy (the baseline);
- ``weighted``: native cross-entropy with inverse-frequency class weights;
- ``focal``: focal loss as the training objective (gamma and alpha tuned);
- ``focal-gamma``: the ablation, focusing only (gamma tuned, no alpha);
- ``undersample``, ``oversample``, ``smote``: imbalanced-learn's resamplers on the training
  rows, native cross-entropy on what they return.

How a fit's loss is scaled so that regularisation means the same for every strategy is said in
``bench.strategies.base``.

Adding a strategy is one module with a :class:`Strategy` subclass plus one
``register_strategy`` line (or, for a user's own strategy, nothing here at all: see
``bench.strategies.plugins``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.registry import Registry
from bench.strategies.base import Resampled, Strategy, Task
from bench.strategies.ce import CrossEntropy
from bench.strategies.focal import Focal, FocalGamma
from bench.strategies.resampling import Oversample, Smote, Undersample
from bench.strategies.weighted import ClassWeighted

if TYPE_CHECKING:
    from bench.config import SweepConfig

STRATEGIES: Registry[type[Strategy]] = Registry("strategy")
BASELINE = "ce"  # what every other strategy is compared with unless the report is told otherwise
# What `bench run` compares unless told otherwise: the baseline and the two loss-level remedies.
# Ablations and data-level strategies are asked for by name (--strategies).
DEFAULT_STRATEGIES: tuple[str, ...] = ("ce", "weighted", "focal")


def register_strategy(cls: type[Strategy], *, replace: bool = False) -> type[Strategy]:
    """Register a Strategy subclass under its ``name``."""
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise TypeError(f"register_strategy takes a Strategy subclass, got {cls!r}")
    return STRATEGIES.register(cls.name, cls, replace=replace)


for _cls in (CrossEntropy, ClassWeighted, Focal, FocalGamma, Undersample, Oversample, Smote):
    register_strategy(_cls)


def make_strategy(name: str, config: SweepConfig | None = None) -> Strategy:
    """An instance of the registered strategy ``name`` for a sweep's configuration."""
    return STRATEGIES.get(name)(config)


__all__ = [
    "BASELINE",
    "DEFAULT_STRATEGIES",
    "Resampled",
    "STRATEGIES",
    "Strategy",
    "Task",
    "make_strategy",
    "register_strategy",
]
