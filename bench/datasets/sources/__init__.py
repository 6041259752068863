"""Dataset sources and their registry: the one source of every ``source:`` name in
datasets.yaml.

A source is a pydantic spec model (its ``source`` field is ``Literal["<name>"]``; it takes the
keys an entry may use) and a module with ``load(spec, *, name, family, base_dir) -> Dataset``.
A module may also define ``availability(spec) -> str`` (for data that is downloaded or
generated: ``datasets list`` never does either), ``spec_meta(spec, *, name, family)`` (metadata known
without building the data) and ``family(spec)`` (a default family for its entries). Adding a source is one module plus one
``register_source`` line.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.datasets import schema
from bench.datasets.dataset import Dataset, DatasetMeta
from bench.registry import Registry

# status values shown by `datasets list`
READY, NOT_BUILT, NOT_CACHED = "ready", "not built", "not cached"


@dataclass(frozen=True)
class Source:
    """A registered source: its spec model and the module that loads it (imported on use)."""

    name: str
    spec: type[schema.Entry]
    module: str
    needs_preparation: bool = False  # data is downloaded or generated before first use


SOURCES: Registry[Source] = Registry("dataset source")


def register_source(source: Source, *, replace: bool = False) -> Source:
    SOURCES.register(source.name, source, replace=replace)
    schema.catalogue_model.cache_clear()
    return source


for _source in (
    Source("keel", schema.KeelSpec, "bench.datasets.sources._keel"),
    Source("sklearn", schema.SklearnSpec, "bench.datasets.sources._sklearn"),
    Source("file", schema.FileSpec, "bench.datasets.sources._file"),
    Source("openml", schema.OpenMLSpec, "bench.datasets.sources._openml", True),
    Source("zenodo", schema.ZenodoSpec, "bench.datasets.sources._zenodo", True),
    Source("synthetic", schema.SyntheticSpec, "bench.datasets.sources._synthetic", True),
):
    register_source(_source)


def _module(spec: Any) -> ModuleType:
    return importlib.import_module(SOURCES.get(spec.source).module)


def load_source(spec: Any, *, name: str, family: str, base_dir: Path) -> Dataset:
    """Build the Dataset of one catalogue entry (no caching here; see load_dataset)."""
    return _module(spec).load(spec, name=name, family=family, base_dir=base_dir)


def availability(spec: Any) -> str:
    """READY when loading needs no download or generation, else NOT_BUILT / NOT_CACHED."""
    if not SOURCES.get(spec.source).needs_preparation:
        return READY
    return str(_module(spec).availability(spec))


def spec_meta(spec: Any, *, name: str, family: str) -> DatasetMeta | None:
    """Metadata known from the spec alone (e.g. synthetic sets), else None."""
    if not SOURCES.get(spec.source).needs_preparation:
        return None
    describe = getattr(_module(spec), "spec_meta", None)
    return describe(spec, name=name, family=family) if describe else None


def source_family(spec: Any) -> str | None:
    """The family a source assigns an entry without a ``family`` key (module function
    ``family(spec)``, e.g. KEEL's phenotype), else None."""
    module = _module(spec)
    family = getattr(module, "family", None)
    return family(spec) if family else None


def spec_model(source: str) -> type[schema.Entry]:
    return SOURCES.get(source).spec
