"""The one Dataset type every source returns, and the label encoding they all share.

Label convention (the sweep and the metrics rely on it):
- binary: label 1 is the positive class, which is the minority class unless the catalogue
  entry names another ``positive`` label; label 0 is the other class;
- multiclass: labels 0..K-1 follow the sorted order of the original class values
  (numbers sorted numerically, strings lexicographically); sklearn sets keep sklearn's order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench.errors import BenchError
from bench.imbalance import imbalance_ratio, imbalance_tier


@dataclass(frozen=True)
class DatasetMeta:
    """What the catalogue table shows and the report groups by; cheap to keep per dataset."""

    name: str
    source: str
    family: str
    n_rows: int
    n_features: int
    n_classes: int
    class_counts: tuple[int, ...]
    minority_count: int
    imbalance_ratio: float
    tier: str
    n_categorical: int


@dataclass(frozen=True)
class Dataset:
    """Features, integer labels 0..K-1 and the names of those labels.

    Loaded datasets are cached per process and shared: treat ``X`` and ``y`` as read-only.
    """

    name: str
    X: pd.DataFrame
    y: np.ndarray
    class_names: tuple[str, ...]
    meta: DatasetMeta
    notes: tuple[str, ...] = ()  # what loading changed (columns dropped, inf read as missing)

    @property
    def categorical_columns(self) -> list[str]:
        return [c for c in self.X.columns if isinstance(self.X[c].dtype, pd.CategoricalDtype)]


def make_meta(
    name: str,
    source: str,
    family: str,
    n_features: int,
    class_counts: Sequence[int],
    n_categorical: int,
) -> DatasetMeta:
    """Metadata from class counts alone (so a synthetic set can be described before it is built)."""
    counts = tuple(int(c) for c in class_counts)
    ratio = imbalance_ratio(counts)
    return DatasetMeta(
        name=name,
        source=source,
        family=family,
        n_rows=sum(counts),
        n_features=int(n_features),
        n_classes=len(counts),
        class_counts=counts,
        minority_count=min(counts),
        imbalance_ratio=ratio,
        tier=imbalance_tier(ratio),
        n_categorical=int(n_categorical),
    )


def _label_name(value: object) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def codes_from_labels(labels: pd.Series | np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Integer codes (-1 where missing) and the sorted, stringified distinct labels."""
    series = pd.Series(labels).reset_index(drop=True)
    present = series.dropna()
    uniques = present.unique()
    try:
        uniques = np.sort(np.asarray(uniques))
    except TypeError:  # mixed types: sort by their text
        uniques = np.asarray(sorted(uniques, key=str), dtype=object)
    codes = pd.Categorical(series, categories=uniques).codes.astype(np.int64)
    return codes, [_label_name(u) for u in uniques]


def to_category(X: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Type text, boolean and listed columns as 'category' (category values kept as text)."""
    X = X.copy()
    for col in X.columns:
        dtype = X[col].dtype
        textual = (
            pd.api.types.is_object_dtype(dtype)
            or pd.api.types.is_string_dtype(dtype)
            or pd.api.types.is_bool_dtype(dtype)
        )
        wanted = columns is not None and col in columns
        if isinstance(dtype, pd.CategoricalDtype):
            continue
        if wanted or (columns is None and textual):
            values = X[col].astype("category")
            names = [_label_name(c) for c in values.cat.categories]
            if len(set(names)) == len(names):  # rename the few categories, not every value
                X[col] = values.cat.rename_categories(names)
            else:  # e.g. 1 and "1" in one column: merge them by their text
                X[col] = X[col].map(_label_name, na_action="ignore").astype("category")
    return X


def build_dataset(
    *,
    name: str,
    source: str,
    family: str,
    X: pd.DataFrame,
    codes: np.ndarray,
    names: Sequence[str],
    positive: object = None,
    where: str,
) -> Dataset:
    """Check the target and encode it by the label convention; ``where`` names the file/column
    for error messages. ``codes`` index ``names`` with -1 for a missing label."""
    codes = np.asarray(codes, dtype=np.int64)
    names = [str(n) for n in names]
    if len(codes) != len(X):
        raise ValueError(f"{len(codes)} labels for {len(X)} rows")
    n_missing = int((codes < 0).sum())
    if n_missing:
        first = int(np.flatnonzero(codes < 0)[0])
        raise BenchError(
            f"dataset '{name}': target {where} has {n_missing} missing value(s) "
            f"(first at row {first}); drop or fill those rows"
        )
    counts = np.bincount(codes, minlength=len(names))
    used = [i for i, c in enumerate(counts) if c > 0]
    if len(used) < 2:
        only = names[used[0]] if used else "(none)"
        raise BenchError(
            f"dataset '{name}': target {where} has one class only ({only!r}); "
            "a classifier needs at least two"
        )
    if positive is not None:
        wanted = _label_name(positive)
        if wanted not in names or counts[names.index(wanted)] == 0:
            raise BenchError(
                f"dataset '{name}': positive label {wanted!r} does not occur in target {where} "
                f"(labels: {', '.join(repr(names[i]) for i in used)})"
            )
        if len(used) > 2:
            raise BenchError(
                f"dataset '{name}': 'positive' applies to binary targets, but {where} has "
                f"{len(used)} classes"
            )
    if len(used) == 2:
        if positive is not None:
            pos = names.index(_label_name(positive))
        else:  # the minority class; on a tie the later label, as in sorted order
            pos = used[1] if counts[used[1]] <= counts[used[0]] else used[0]
        order = [i for i in used if i != pos] + [pos]
    else:
        order = used
    lookup = np.full(len(names), -1, dtype=np.int64)
    lookup[order] = np.arange(len(order))
    y = lookup[codes]
    y.setflags(write=False)
    X = X.reset_index(drop=True)
    X.columns = [str(c) for c in X.columns]
    n_cat = sum(isinstance(X[c].dtype, pd.CategoricalDtype) for c in X.columns)
    class_counts = [int(counts[i]) for i in order]
    meta = make_meta(name, source, family, X.shape[1], class_counts, n_cat)
    return Dataset(name=name, X=X, y=y, class_names=tuple(names[i] for i in order), meta=meta)
