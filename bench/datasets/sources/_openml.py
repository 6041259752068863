"""OpenML sets: fetched once with scikit-learn's fetch_openml, then read from a Parquet copy
in the data directory (no network needed afterwards)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.datasets.cache import atomic_write, data_dir, reachable, socket_timeout
from bench.datasets.dataset import Dataset
from bench.datasets.schema import OpenMLSpec
from bench.datasets.sources._file import frame_to_dataset
from bench.errors import BenchError

HOST = "api.openml.org"
TARGET_COLUMN = "__target__"


def cache_path(spec: OpenMLSpec) -> Path:
    key = f"id{spec.id}" if spec.id is not None else f"{spec.name}-v{spec.version or 'active'}"
    target = f"-{spec.target}" if spec.target else ""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in key + target)
    return data_dir() / "openml" / f"{safe}.parquet"


def _what(spec: OpenMLSpec) -> str:
    return f"OpenML id {spec.id}" if spec.id is not None else f"OpenML name {spec.name!r}"


def _fetch(spec: OpenMLSpec, name: str, target: Path) -> None:
    if not reachable(HOST):
        raise BenchError(
            f"dataset {name!r}: {_what(spec)} is not cached at {target} and {HOST} cannot be "
            f"reached. On a connected machine run `python -m bench datasets show {name}` "
            f"(with the same BENCH_DATA_DIR) and copy {target} here, or set BENCH_DATA_DIR to "
            "a directory that has it"
        )
    from sklearn.datasets import fetch_openml

    kwargs = (
        {"data_id": spec.id}
        if spec.id is not None
        else {"name": spec.name, "version": spec.version or "active"}
    )
    try:
        with socket_timeout(60):
            bunch = fetch_openml(
                **kwargs,
                target_column=spec.target or "default-target",
                as_frame=True,
                data_home=str(data_dir() / "openml" / "sklearn"),
                n_retries=1,
                delay=1.0,
            )
    except Exception as err:  # network, HTTP and "no such dataset" all end up here
        raise BenchError(f"dataset {name!r}: fetching {_what(spec)} failed: {err}") from None
    if not isinstance(bunch.target, pd.Series):
        raise BenchError(f"dataset {name!r}: {_what(spec)} has no single target; set 'target'")
    frame = bunch.data.copy()
    frame[TARGET_COLUMN] = bunch.target.to_numpy()
    atomic_write(target, lambda tmp: frame.to_parquet(tmp, index=False))


def load(spec: OpenMLSpec, *, name: str, family: str, base_dir: Path | None = None) -> Dataset:
    target = cache_path(spec)
    if not target.is_file():
        _fetch(spec, name, target)
    frame = pd.read_parquet(target)
    return frame_to_dataset(
        frame,
        name=name,
        source="openml",
        family=family,
        target=TARGET_COLUMN,
        positive=spec.positive,
        categorical=None,
        drop=spec.drop,
        where=f"{_what(spec)} ({target})",
    )


def is_cached(spec: OpenMLSpec) -> bool:
    return cache_path(spec).is_file()


def availability(spec: OpenMLSpec) -> str:
    return "ready" if is_cached(spec) else "not cached"
