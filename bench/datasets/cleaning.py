"""Checks every loaded dataset gets before any CPU is spent on it, whatever its source.

- ``inf`` / ``-inf`` in a feature: refused with the dataset and columns named (XGBoost rejects
  them while LightGBM and CatBoost train, so a comparison would silently lose a booster), or
  read as missing values when the catalogue entry says ``inf: missing``;
- columns with no value at all, and columns with one value in every row, carry nothing a tree
  can split on: they are dropped, and ``datasets show`` says which.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from bench.datasets.dataset import Dataset, make_meta
from bench.errors import BenchError


def _names(columns: list[str], limit: int = 8) -> str:
    shown = ", ".join(repr(c) for c in columns[:limit])
    return shown + (f" and {len(columns) - limit} more" if len(columns) > limit else "")


def clean_features(ds: Dataset, inf: str = "error") -> Dataset:
    """The dataset with inf handled and empty or constant columns dropped (see the module
    docstring); ``ds.notes`` says what was done."""
    X = ds.X
    numeric = [c for c in X.columns if pd.api.types.is_float_dtype(X[c].dtype)]
    with_inf = [c for c in numeric if np.isinf(X[c].to_numpy()).any()]
    notes = list(ds.notes)
    if with_inf and inf != "missing":
        raise BenchError(
            f"dataset {ds.name!r}: column(s) {_names(with_inf)} hold inf or -inf values; fix the "
            "data, or set 'inf: missing' on its catalogue entry to read them as missing values"
        )
    if with_inf:
        X = X.copy()
        for c in with_inf:
            X[c] = X[c].replace([np.inf, -np.inf], np.nan)
        notes.append(f"inf and -inf read as missing in {_names(with_inf)}")
    empty = [c for c in X.columns if X[c].notna().sum() == 0]
    constant = [c for c in X.columns if c not in empty and X[c].nunique(dropna=False) == 1]
    if empty:
        notes.append(f"dropped {len(empty)} column(s) with no values: {_names(empty)}")
    if constant:
        notes.append(f"dropped {len(constant)} constant column(s): {_names(constant)}")
    if not (with_inf or empty or constant):
        return ds
    X = X.drop(columns=empty + constant)
    if X.shape[1] == 0:
        raise BenchError(f"dataset {ds.name!r}: no feature column has two distinct values")
    m = ds.meta
    n_cat = sum(isinstance(X[c].dtype, pd.CategoricalDtype) for c in X.columns)
    meta = make_meta(m.name, m.source, m.family, X.shape[1], m.class_counts, n_cat)
    return dataclasses.replace(ds, X=X, meta=meta, notes=tuple(notes))
