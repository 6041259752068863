"""A user's CSV or Parquet file: one target column, other columns are features."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.datasets.dataset import Dataset, build_dataset, codes_from_labels, to_category
from bench.datasets.schema import FileSpec
from bench.errors import BenchError


def resolve_path(spec: FileSpec, base_dir: Path) -> Path:
    path = Path(spec.path).expanduser()
    return path if path.is_absolute() else (base_dir / path)


def read_table(path: Path, fmt: str | None, name: str) -> pd.DataFrame:
    """Read CSV/Parquet, turning I/O and parse failures into errors that name the file."""
    suffixes = [s.lower() for s in path.suffixes]
    fmt = fmt or ("parquet" if suffixes and suffixes[-1] in (".parquet", ".pq") else "csv")
    if not path.is_file():
        raise BenchError(f"dataset {name!r}: file {path} does not exist")
    try:
        return pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path)
    except Exception as err:  # parser errors differ by engine; all mean "bad file"
        raise BenchError(f"dataset {name!r}: cannot read {fmt} file {path}: {err}") from None


def frame_to_dataset(
    frame: pd.DataFrame,
    *,
    name: str,
    source: str,
    family: str,
    target: str,
    positive: object,
    categorical: list[str] | None,
    drop: list[str],
    where: str,
) -> Dataset:
    """Split a table into features and target, type categoricals, encode the labels."""
    frame.columns = [str(c) for c in frame.columns]
    if target not in frame.columns:
        raise BenchError(
            f"dataset {name!r}: target column {target!r} not in {where} "
            f"(columns: {', '.join(frame.columns[:20])}{', ...' if frame.shape[1] > 20 else ''})"
        )
    for key, cols in (("drop", drop), ("categorical", categorical or [])):
        absent = [c for c in cols if c not in frame.columns]
        if absent:
            raise BenchError(f"dataset {name!r}: {key} column(s) {absent} not in {where}")
    if target in drop or target in (categorical or []):
        raise BenchError(f"dataset {name!r}: the target {target!r} cannot be dropped or a feature")
    labels = frame[target]
    X = frame.drop(columns=[target, *drop])
    if X.shape[1] == 0:
        raise BenchError(f"dataset {name!r}: no feature columns left in {where}")
    X = to_category(X, categorical)
    bad = [
        c
        for c in X.columns
        if not (
            isinstance(X[c].dtype, pd.CategoricalDtype) or pd.api.types.is_numeric_dtype(X[c].dtype)
        )
    ]
    if bad:
        raise BenchError(
            f"dataset {name!r}: columns {bad} of {where} are neither numeric nor categorical; "
            "list them under 'categorical' or 'drop'"
        )
    codes, names = codes_from_labels(labels)
    return build_dataset(
        name=name,
        source=source,
        family=family,
        X=X,
        codes=codes,
        names=names,
        positive=positive,
        where=f"column {target!r} of {where}",
    )


def load(spec: FileSpec, *, name: str, family: str, base_dir: Path) -> Dataset:
    path = resolve_path(spec, base_dir)
    frame = read_table(path, spec.format, name)
    return frame_to_dataset(
        frame,
        name=name,
        source="file",
        family=family,
        target=spec.target,
        positive=spec.positive,
        categorical=spec.categorical,
        drop=spec.drop,
        where=str(path),
    )
