"""One module per source; this package dispatches on the spec's `source`.

``peek`` answers "what is this dataset?" without building or downloading anything, which is
what `python -m bench datasets list` needs (a 10M-row synthetic set is described from its
spec, an OpenML set that was never fetched says so).
"""

from __future__ import annotations

from pathlib import Path

from bench.datasets.dataset import Dataset, DatasetMeta
from bench.datasets.schema import DatasetSpec
from bench.errors import BenchError

# status values shown by `datasets list`
READY, NOT_BUILT, NOT_CACHED = "ready", "not built", "not cached"


def load_source(spec: DatasetSpec, *, name: str, family: str, base_dir: Path) -> Dataset:
    """Build the Dataset of one catalogue entry (no caching here; see load_dataset)."""
    if spec.source == "keel":
        from bench.datasets.sources import _keel

        return _keel.load(spec, name=name, family=family)
    if spec.source == "sklearn":
        from bench.datasets.sources import _sklearn

        return _sklearn.load(spec, name=name, family=family)
    if spec.source == "file":
        from bench.datasets.sources import _file

        return _file.load(spec, name=name, family=family, base_dir=base_dir)
    if spec.source == "openml":
        from bench.datasets.sources import _openml

        return _openml.load(spec, name=name, family=family)
    if spec.source == "zenodo":
        from bench.datasets.sources import _zenodo

        return _zenodo.load(spec, name=name, family=family)
    if spec.source == "synthetic":
        from bench.datasets.sources import _synthetic

        return _synthetic.load(spec, name=name, family=family)
    raise BenchError(f"dataset {name!r}: unknown source {spec.source!r}")


def availability(spec: DatasetSpec) -> str:
    """READY when loading needs no download or generation, else NOT_BUILT / NOT_CACHED."""
    if spec.source == "synthetic":
        from bench.datasets.sources import _synthetic

        return READY if _synthetic.is_built(spec) else NOT_BUILT
    if spec.source == "openml":
        from bench.datasets.sources import _openml

        return READY if _openml.is_cached(spec) else NOT_CACHED
    if spec.source == "zenodo":
        from bench.datasets.sources import _zenodo

        return READY if _zenodo.is_cached(spec) else NOT_CACHED
    return READY


def spec_meta(spec: DatasetSpec, *, name: str, family: str) -> DatasetMeta | None:
    """Metadata known from the spec alone (synthetic sets), else None."""
    if spec.source == "synthetic":
        from bench.datasets.sources import _synthetic

        return _synthetic.spec_meta(spec, name=name, family=family)
    return None
