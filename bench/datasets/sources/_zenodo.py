"""imbalanced-learn's 27-set benchmark (Zenodo record 61452) via its own fetcher, cached in
the data directory; labels there are -1/1 with 1 the minority."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.datasets.cache import data_dir, reachable, socket_timeout
from bench.datasets.dataset import Dataset, build_dataset, codes_from_labels
from bench.datasets.schema import ZenodoSpec
from bench.errors import BenchError

HOST = "zenodo.org"


def home() -> Path:
    return data_dir() / "imblearn"


def cache_file(spec: ZenodoSpec) -> Path:
    from imblearn.datasets._zenodo import MAP_NAME_ID, POST_FILENAME, PRE_FILENAME

    return home() / "zenodo" / f"{PRE_FILENAME}{MAP_NAME_ID[spec.name]}{POST_FILENAME}"


def is_cached(spec: ZenodoSpec) -> bool:
    return cache_file(spec).is_file()


def load(spec: ZenodoSpec, *, name: str, family: str, base_dir: Path | None = None) -> Dataset:
    from imblearn.datasets import fetch_datasets

    cached = is_cached(spec)
    if not cached and not reachable(HOST):
        raise BenchError(
            f"dataset {name!r}: imbalanced-learn set {spec.name!r} is not cached at "
            f"{cache_file(spec)} and {HOST} cannot be reached. On a connected machine run "
            f"`python -m bench datasets show {name}` (with the same BENCH_DATA_DIR) and copy "
            f"{home()} here, or set BENCH_DATA_DIR to a directory that has it"
        )
    try:
        with socket_timeout(120):
            bunch = fetch_datasets(
                data_home=str(home()), filter_data=(spec.name,), download_if_missing=not cached
            )[spec.name]
    except Exception as err:
        raise BenchError(
            f"dataset {name!r}: fetching imbalanced-learn {spec.name!r} failed: {err}"
        ) from None
    data = np.asarray(bunch.data)
    X = pd.DataFrame(data, columns=[f"x{i}" for i in range(data.shape[1])])
    codes, names = codes_from_labels(np.asarray(bunch.target))
    return build_dataset(
        name=name,
        source="zenodo",
        family=family,
        X=X,
        codes=codes,
        names=names,
        positive="1" if "1" in names else None,
        where=f"of imbalanced-learn {spec.name!r}",
    )


def availability(spec: ZenodoSpec) -> str:
    return "ready" if is_cached(spec) else "not cached"
