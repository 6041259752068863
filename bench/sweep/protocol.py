"""The nested cross-validation protocol's pieces: outer and inner splits and seeds.

cell = dataset x booster x strategy x repeat x outer fold:
1. take the outer split (repeated stratified k-fold);
2. tune with Optuna inside the outer-training part only: every trial trains on inner training
   parts and is scored (and early-stopped) on inner validation parts;
3. choose the decision threshold on the best trial's inner validation predictions;
4. refit the best trial on the whole outer-training part for its early-stopped rounds;
5. score the outer-test part once.
The outer-test rows reach the booster exactly once: in the final ``predict_proba``
(``bench.sweep.cell`` runs these steps).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.config import InnerConfig

Split = tuple[np.ndarray, np.ndarray]  # (training positions, validation or test positions)


def derive_seed(*parts: Any) -> int:
    """A 32-bit seed from any JSON-able parts: the same parts always give the same seed."""
    digest = hashlib.sha256(json.dumps(parts).encode()).hexdigest()
    return int(digest[:8], 16)


def outer_split(
    y: np.ndarray, folds: int, repeats: int, seed: int, repeat: int, fold: int
) -> Split:
    from sklearn.model_selection import RepeatedStratifiedKFold

    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    for i, (train, test) in enumerate(splitter.split(np.zeros(len(y)), y)):
        if i == repeat * folds + fold:
            return train, test
    raise ValueError(f"no outer split repeat={repeat} fold={fold}")


def inner_splits(y: np.ndarray, inner: InnerConfig, seed: int) -> list[Split]:
    """Positions (within the outer-training part) of the inner train/validation parts."""
    from sklearn.model_selection import StratifiedKFold, train_test_split

    positions = np.arange(len(y))
    if inner.kind == "kfold":
        splitter = StratifiedKFold(n_splits=inner.folds, shuffle=True, random_state=seed)
        return list(splitter.split(positions, y))
    train, valid = train_test_split(
        positions, test_size=inner.valid_fraction, stratify=y, random_state=seed
    )
    return [(np.sort(train), np.sort(valid))]


@dataclass
class InnerOutcome:
    """One trial's result on the inner splits."""

    score: float  # the tuning target, higher is better (mean over inner splits)
    best_iteration: int  # early-stopped rounds (mean over inner splits)
    fit_time: float
    valid_positions: np.ndarray  # positions within the outer-training part
    valid_proba: np.ndarray  # their predictions (out-of-fold under inner k-fold)
