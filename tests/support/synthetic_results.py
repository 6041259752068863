"""A synthetic tidy results table with known effects, for tests and the report benchmark.

Fold noise is shared by the strategies of a (dataset, booster, repeat, fold), so a strategy's
effect shows up exactly in every paired difference: focal = ce + effect on every dataset.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench import runschema as rs
from bench.imbalance import imbalance_tier
from bench.runschema import FINISHED

BOOSTER_ORDER = ("lightgbm", "xgboost", "catboost")
STRATEGY_ORDER = ("ce", "weighted", "focal")


def synthetic_results(
    n_datasets: int = 10,
    *,
    boosters: tuple[str, ...] = BOOSTER_ORDER,
    strategies: tuple[str, ...] = STRATEGY_ORDER,
    repeats: int = 1,
    folds: int = 5,
    effects: dict[str, float] | None = None,
    strategy_noise: float = 0.0,
    seed: int = 0,
    families: list[str] | None = None,
) -> pd.DataFrame:
    """One FINISHED row per cell; ``effects[strategy]`` is added to every higher-is-better
    metric (and subtracted from the losses), ``strategy_noise`` adds unshared noise.
    ``families[i]`` is dataset i's family tag (default: its own name)."""
    effects = effects or {}
    rng = np.random.default_rng(seed)
    names = [f"ds{i:03d}" for i in range(n_datasets)]
    ratio = np.exp(rng.uniform(np.log(1.2), np.log(200.0), n_datasets))
    base = rng.uniform(0.3, 0.85, n_datasets)
    grid = pd.MultiIndex.from_product(
        [
            range(n_datasets),
            range(len(boosters)),
            range(len(strategies)),
            range(repeats),
            range(folds),
        ],
        names=["d", "b", "s", "repeat", "fold"],
    ).to_frame(index=False)
    d, b, s = grid["d"].to_numpy(), grid["b"].to_numpy(), grid["s"].to_numpy()
    shared = rng.normal(0, 0.02, (n_datasets, len(boosters), repeats, folds))
    noise = shared[d, b, grid["repeat"], grid["fold"]]
    noise = noise + rng.normal(0, strategy_noise, len(grid)) if strategy_noise else noise
    effect = np.array([effects.get(x, 0.0) for x in strategies])[s]
    booster_shift = np.linspace(0.0, 0.02, len(boosters))[b]
    quality = base[d] + booster_shift + noise + effect

    out = pd.DataFrame(
        {
            "dataset": np.array(names)[d],
            "booster": np.array(boosters)[b],
            "strategy": np.array(strategies)[s],
            "repeat": grid["repeat"].astype(int),
            "fold": grid["fold"].astype(int),
            "status": FINISHED,
            "run_id": [f"run{i:06d}" for i in range(len(grid))],
            "tier": [imbalance_tier(r) for r in ratio[d]],
            "imbalance_ratio": ratio[d],
            "n_rows": 1000,
            "n_features": 10,
            "n_classes": 2,
            "minority_count": (1000 / (1 + ratio[d])).astype(int),
            "family": np.array(families if families is not None else names)[d],
            "source": "synthetic",
            "git_commit": "0" * 40,
            "host": "synthetic",
            "version.lightgbm": "4.7.0",
        }
    )
    # Offsets keep every value inside its range for the default effects, so no clipping
    # creates ties; losses fall linearly (slope 0.4) as quality rises.
    offsets = np.linspace(-0.12, 0.0, len(rs.test_metric_names()))
    for off, col in zip(offsets, rs.test_metric_names(), strict=True):
        if col.removeprefix(rs.TEST_PREFIX) in rs.LOWER_IS_BETTER:
            out[col] = np.clip(0.05 + 0.4 * (1.2 - quality) - off / 4, 0.0, None)
        else:
            out[col] = np.clip(quality + off, 0.0, 1.0)
    slow = np.where(np.array(strategies)[s] == "focal", 1.3, 1.0)
    out[rs.M_FIT_TIME] = rng.lognormal(0.0, 0.3, len(grid)) * slow * (1 + b)
    out[rs.M_REFIT_TIME] = out[rs.M_FIT_TIME] / 10
    out[rs.M_TUNE_TIME] = out[rs.M_FIT_TIME] * 1.1
    out[rs.M_WALL_TIME] = out[rs.M_FIT_TIME] * 1.2
    out[rs.M_THRESHOLD] = 0.5
    out[rs.M_BEST_ITERATION] = 100.0
    out[rs.M_INNER_SCORE] = quality
    out[rs.M_N_TRIALS] = 10.0
    return out
