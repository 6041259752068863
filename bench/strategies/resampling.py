"""Data-level strategies from imbalanced-learn: resample the training rows, train native
cross-entropy on them.

- ``undersample``: ``RandomUnderSampler``;
- ``oversample``: ``RandomOverSampler``;
- ``smote``: ``SMOTE``, ``SMOTENC`` when the data has categorical columns (``SMOTEN`` when it
  has nothing else).

Each tunes ``balance`` in [0.25, 1]: every class count moves geometrically from its own count
towards the target (the smallest class for undersampling, the largest for oversampling),
n_k' = n_k^(1 - balance) * target^balance; 1 balances the classes fully, and the range never
reaches 0, so a resampler always resamples. ``smote`` also tunes ``k_neighbors`` in [1, 10];
when a training part has a class with fewer than k + 1 rows, k is lowered to what the data
allows and the trial records it.

Missing values: SMOTE's neighbour search and interpolation need complete rows, so they run on
a copy with missing values imputed (median of the training part for numeric columns, most
frequent category for categorical ones). The original rows are kept as they are, missing
values included; synthetic rows are interpolated in the imputed copy, so they have none.
Synthetic values of integer columns are rounded to integers; synthetic categories are
SMOTENC's (the most frequent among the neighbours). Resampled rows carry weight 1.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from bench.boosters.base import LossSpec
from bench.strategies.base import Resampled, Strategy, Task

BALANCE_RANGE = (0.25, 1.0)
K_NEIGHBORS_RANGE = (1, 10)


def target_counts(counts: np.ndarray, balance: float, towards: str) -> dict[int, int]:
    """Class -> rows after resampling: n_k^(1 - balance) * target^balance, target the smallest
    (``towards="min"``) or the largest (``"max"``) class count; classes left unchanged are
    left out (imbalanced-learn's dict form)."""
    present = counts > 0
    target = counts[present].min() if towards == "min" else counts[present].max()
    wanted = np.rint(counts.astype(np.float64) ** (1.0 - balance) * float(target) ** balance)
    out = {}
    for k in np.flatnonzero(present):
        n = int(wanted[k])
        n = min(n, int(counts[k])) if towards == "min" else max(n, int(counts[k]))
        if n != counts[k]:
            out[int(k)] = n
    return out


class _Resampling(Strategy):
    """Native cross-entropy on resampled training rows."""

    resamples = True
    towards: ClassVar[str]

    def suggest(self, trial: Any, task: Task) -> dict[str, Any]:
        return {"balance": trial.suggest_float("balance", *BALANCE_RANGE)}

    def loss(self, params: dict[str, Any], y: np.ndarray, n_classes: int) -> LossSpec:
        return LossSpec("ce")

    def _targets(self, y: np.ndarray, params: dict[str, Any]) -> dict[int, int]:
        return target_counts(np.bincount(y), float(params["balance"]), self.towards)


class Undersample(_Resampling):
    name = "undersample"
    towards = "min"

    def resample(
        self, X: pd.DataFrame, y: np.ndarray, params: dict[str, Any], seed: int
    ) -> Resampled:
        from imblearn.under_sampling import RandomUnderSampler

        targets = self._targets(y, params)
        if not targets:
            return Resampled(X, y)
        sampler = RandomUnderSampler(sampling_strategy=targets, random_state=seed)
        sampler.fit_resample(np.zeros((len(y), 1)), y)
        rows = np.sort(sampler.sample_indices_)
        return Resampled(X.iloc[rows], y[rows])


class Oversample(_Resampling):
    name = "oversample"
    towards = "max"

    def resample(
        self, X: pd.DataFrame, y: np.ndarray, params: dict[str, Any], seed: int
    ) -> Resampled:
        from imblearn.over_sampling import RandomOverSampler

        targets = self._targets(y, params)
        if not targets:
            return Resampled(X, y)
        sampler = RandomOverSampler(sampling_strategy=targets, random_state=seed)
        sampler.fit_resample(np.zeros((len(y), 1)), y)
        rows = sampler.sample_indices_  # the originals first, then the repeats
        return Resampled(X.iloc[rows], y[rows])


class Smote(_Resampling):
    name = "smote"
    towards = "max"

    def suggest(self, trial: Any, task: Task) -> dict[str, Any]:
        params = super().suggest(trial, task)
        params["k_neighbors"] = trial.suggest_int("k_neighbors", *K_NEIGHBORS_RANGE)
        return params

    def resample(
        self, X: pd.DataFrame, y: np.ndarray, params: dict[str, Any], seed: int
    ) -> Resampled:
        counts = np.bincount(y)
        targets = {k: n for k, n in self._targets(y, params).items() if counts[k] >= 2}
        if not targets:
            return Resampled(X, y)
        k = int(params["k_neighbors"])
        allowed = min(int(counts[c]) for c in targets) - 1  # a class's own rows minus itself
        notes = {"k_neighbors_used": min(k, allowed)} if allowed < k else {}
        synthetic_X, synthetic_y = _smote(X, y, targets, min(k, allowed), seed)
        synthetic_X.index = pd.RangeIndex(-1, -len(synthetic_X) - 1, -1)
        return Resampled(
            pd.concat([X, synthetic_X]), np.concatenate([y, synthetic_y]).astype(y.dtype), notes
        )


def _smote(
    X: pd.DataFrame, y: np.ndarray, targets: dict[int, int], k: int, seed: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """The synthetic rows SMOTE / SMOTENC / SMOTEN make for ``targets``, as a frame with X's
    columns and dtypes (see the module docstring for missing values)."""
    from imblearn.over_sampling import SMOTE, SMOTEN, SMOTENC

    categorical = [
        i for i, c in enumerate(X.columns) if isinstance(X[c].dtype, pd.CategoricalDtype)
    ]
    matrix = np.empty(X.shape, dtype=np.float64)
    for i, col in enumerate(X.columns):
        series = X[col]
        if i in categorical:
            codes = series.cat.codes.to_numpy().astype(np.float64)
            observed = codes[codes >= 0]
            mode = int(np.bincount(observed.astype(np.int64)).argmax()) if observed.size else 0
            matrix[:, i] = np.where(codes < 0, mode, codes)
        else:
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
            median = float(np.nanmedian(values)) if np.isfinite(values).any() else 0.0
            matrix[:, i] = np.where(np.isnan(values), median, values)
    common = {"sampling_strategy": targets, "k_neighbors": k, "random_state": seed}
    if len(categorical) == X.shape[1]:
        sampler: Any = SMOTEN(**common)
    elif categorical:
        sampler = SMOTENC(categorical_features=categorical, **common)
    else:
        sampler = SMOTE(**common)
    resampled, labels = sampler.fit_resample(matrix, y)
    new = resampled[len(y) :]  # imbalanced-learn returns the originals first, then the new rows
    columns: dict[str, Any] = {}
    for i, col in enumerate(X.columns):
        dtype = X[col].dtype
        if i in categorical:
            codes = np.rint(new[:, i]).astype(np.int64)
            columns[col] = pd.Categorical.from_codes(codes, dtype=dtype)
        elif pd.api.types.is_integer_dtype(dtype):
            columns[col] = np.rint(new[:, i]).astype(dtype)
        elif pd.api.types.is_bool_dtype(dtype):
            columns[col] = new[:, i] >= 0.5
        else:
            columns[col] = new[:, i].astype(
                dtype if pd.api.types.is_float_dtype(dtype) else np.float64
            )
    return pd.DataFrame(columns, columns=X.columns), np.asarray(labels[len(y) :])
