"""Booster adapters: one way to train ce / weighted / focal per library (see base.py)."""

from __future__ import annotations

from bench.boosters.base import BoosterAdapter, FittedBooster, LossSpec, StoppingRule

BOOSTER_NAMES: tuple[str, ...] = ("lightgbm", "xgboost", "catboost")

__all__ = [
    "BOOSTER_NAMES",
    "BoosterAdapter",
    "FittedBooster",
    "LossSpec",
    "StoppingRule",
    "get_adapter",
]


def get_adapter(name: str) -> BoosterAdapter:
    """The adapter for ``name``; the library is imported only when first asked for."""
    if name == "lightgbm":
        from bench.boosters._lightgbm import LightGBMAdapter

        return LightGBMAdapter()
    if name == "xgboost":
        from bench.boosters._xgboost import XGBoostAdapter

        return XGBoostAdapter()
    if name == "catboost":
        from bench.boosters._catboost import CatBoostAdapter

        return CatBoostAdapter()
    raise ValueError(f"unknown booster {name!r}; known boosters: {', '.join(BOOSTER_NAMES)}")
