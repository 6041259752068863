"""Booster adapters and their registry: one way to train every loss with each library.

Each registry entry names the adapter class by import path (the library is imported only when
the adapter is first asked for, so planning a sweep loads no booster) and says what the library
can do, so the planner skips a booster x strategy x dataset combination the library cannot run
instead of failing it. Adding a booster is one adapter module plus one ``register_booster``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from bench.boosters.base import BoosterAdapter, FittedBooster, LossSpec, StoppingRule
from bench.registry import Registry


@dataclass(frozen=True)
class BoosterInfo:
    """A registered booster: how to build its adapter and what it supports.

    ``adapter`` is ``"module:Class"`` (imported on first use) or a zero-argument callable
    returning a :class:`BoosterAdapter`.
    """

    name: str
    adapter: str | Callable[[], BoosterAdapter]
    custom_objective: bool = True  # accepts a Python (gradient, Hessian) objective
    multiclass: bool = True  # trains K > 2 classes
    categorical: bool = True  # takes pandas category columns as they are

    def lacks(self, *, custom_objective: bool = False, multiclass: bool = False) -> str | None:
        """Why this booster cannot run what is asked, or None when it can."""
        if custom_objective and not self.custom_objective:
            return f"{self.name} has no custom objective"
        if multiclass and not self.multiclass:
            return f"{self.name} has no multiclass objective"
        return None


BOOSTERS: Registry[BoosterInfo] = Registry("booster")


def register_booster(info: BoosterInfo, *, replace: bool = False) -> BoosterInfo:
    return BOOSTERS.register(info.name, info, replace=replace)


register_booster(BoosterInfo("lightgbm", "bench.boosters._lightgbm:LightGBMAdapter"))
register_booster(BoosterInfo("xgboost", "bench.boosters._xgboost:XGBoostAdapter"))
register_booster(BoosterInfo("catboost", "bench.boosters._catboost:CatBoostAdapter"))


def get_adapter(name: str) -> BoosterAdapter:
    """The adapter for ``name``; the library is imported only when first asked for."""
    factory = BOOSTERS.get(name).adapter
    if callable(factory):
        return factory()
    module, _, cls = factory.partition(":")
    return getattr(importlib.import_module(module), cls)()


__all__ = [
    "BOOSTERS",
    "BoosterAdapter",
    "BoosterInfo",
    "FittedBooster",
    "LossSpec",
    "StoppingRule",
    "get_adapter",
    "register_booster",
]
