"""The nested cross-validation protocol's pieces: outer and inner splits and seeds.

cell = dataset x booster x strategy x repeat x outer fold:
1. take the outer split (repeated stratified k-fold);
2. tune with Optuna inside the outer-training part only: every trial trains on inner training
   parts and is scored (and early-stopped) on inner validation parts: a stratified holdout, or
   stratified inner k-fold when a holdout would hold fewer than ``inner.min_minority`` minority
   rows (``inner.kind: auto``; the trial's score is then the mean over folds);
3. choose the decision threshold on the best trial's inner validation predictions (out-of-fold
   under k-fold);
4. refit the best trial on the whole outer-training part, for its early-stopped rounds scaled
   by (outer-training rows / inner-training rows): more rows take more rounds;
5. score the outer-test part once.
The outer-test rows reach the booster exactly once: in the final ``predict_proba``
(``bench.sweep.cell`` runs these steps).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.config import InnerConfig, SweepConfig

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


def inner_scheme(cfg: SweepConfig, minority_count: int) -> str:
    """ "holdout" or "kfold" for a dataset whose smallest class has ``minority_count`` rows.

    ``auto``: the holdout when it would hold at least ``inner.min_minority`` minority rows
    (minority x (folds - 1) / folds x valid_fraction), else k-fold. Decided per dataset, so
    every outer fold and strategy of a dataset is tuned the same way.
    """
    inner = cfg.inner
    if inner.kind != "auto":
        return inner.kind
    expected = minority_count * (cfg.folds - 1) / cfg.folds * inner.valid_fraction
    return "holdout" if expected >= inner.min_minority else "kfold"


def inner_splits(y: np.ndarray, inner: InnerConfig, seed: int, kind: str) -> list[Split]:
    """Positions (within the outer-training part) of the inner train/validation parts."""
    from sklearn.model_selection import StratifiedKFold, train_test_split

    positions = np.arange(len(y))
    if kind == "kfold":
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
    train_rows: float  # inner-training rows (mean over inner splits)
    fit_time: float
    valid_positions: np.ndarray  # positions within the outer-training part
    valid_proba: np.ndarray  # their predictions (out-of-fold under inner k-fold)
    notes: dict[str, Any] = field(default_factory=dict)  # what a resampler had to adapt


def refit_rounds(best_iteration: int, outer_train_rows: int, inner_train_rows: float) -> int:
    """Rounds for the refit on the whole outer-training part: the inner early-stopped rounds
    scaled by how many more rows the refit sees (1 / (1 - valid_fraction) for a holdout,
    k / (k - 1) for inner k-fold)."""
    return max(1, int(round(best_iteration * outer_train_rows / max(inner_train_rows, 1.0))))


def smallest_class_in_validation(y: np.ndarray, splits: list[Split], n_classes: int) -> int:
    """Fewest rows of any class in an inner validation part: what early stopping, the trial's
    score and the threshold rest on."""
    return min(int(np.bincount(y[valid], minlength=n_classes).min()) for _, valid in splits)
