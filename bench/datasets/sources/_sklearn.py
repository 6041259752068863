"""scikit-learn's bundled sets, with an optional seeded subsample of the positive class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import datasets as skd

from bench.datasets.dataset import Dataset, build_dataset
from bench.datasets.schema import SklearnSpec
from bench.errors import BenchError


def load(spec: SklearnSpec, *, name: str, family: str, base_dir: Path | None = None) -> Dataset:
    bunch = getattr(skd, f"load_{spec.loader}")(as_frame=True)
    X: pd.DataFrame = bunch.data
    codes = np.asarray(bunch.target, dtype=np.int64)
    names = [str(n) for n in bunch.target_names]
    where = f"of sklearn load_{spec.loader}"
    dataset = build_dataset(
        name=name,
        source="sklearn",
        family=family,
        X=X,
        codes=codes,
        names=names,
        positive=spec.positive,
        where=where,
    )
    if spec.minority_fraction is None:
        return dataset
    if dataset.meta.n_classes != 2:
        raise BenchError(f"dataset {name!r}: minority_fraction applies to binary sets only")
    y = dataset.y
    n_neg = int((y == 0).sum())
    pos_idx = np.flatnonzero(y == 1)
    keep = round(spec.minority_fraction * n_neg / (1 - spec.minority_fraction))
    if keep >= len(pos_idx):
        raise BenchError(
            f"dataset {name!r}: minority_fraction {spec.minority_fraction} asks for {keep} "
            f"positive rows but sklearn {spec.loader} has only {len(pos_idx)}"
        )
    if keep < 2:
        raise BenchError(
            f"dataset {name!r}: minority_fraction {spec.minority_fraction} leaves "
            f"{keep} positive row(s)"
        )
    rng = np.random.default_rng(spec.seed)
    kept = np.sort(
        np.concatenate([np.flatnonzero(y == 0), rng.choice(pos_idx, keep, replace=False)])
    )
    return build_dataset(
        name=name,
        source="sklearn",
        family=family,
        X=dataset.X.iloc[kept],
        codes=y[kept],
        names=dataset.class_names,
        positive=dataset.class_names[1],
        where=where,
    )
