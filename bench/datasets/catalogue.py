"""Read and check datasets.yaml, and load its datasets (once per process).

Every mistake in the file becomes one BenchError naming the file, the entry and the key.
"""

from __future__ import annotations

import difflib
import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

import bench
from bench.datasets.dataset import Dataset, DatasetMeta
from bench.datasets.schema import NAME_PATTERN, Entry, catalogue_model
from bench.datasets.sources import SOURCES, spec_model
from bench.errors import BenchError
from bench.yamlfile import read_yaml

CATALOGUE_ENV = "BENCH_CATALOGUE"


@dataclass(frozen=True)
class Catalogue:
    """A checked datasets.yaml: specs by name, suites by name."""

    path: Path
    datasets: dict[str, Entry]
    suites: dict[str, list[str]]

    @property
    def base_dir(self) -> Path:
        """Relative file paths in entries are relative to this directory."""
        return self.path.parent

    def spec(self, name: str) -> Entry:
        if name not in self.datasets:
            raise BenchError(
                f"{self.path}: unknown dataset {name!r}{_suggest(name, self.datasets)}"
            )
        return self.datasets[name]

    def suite(self, name: str) -> list[str]:
        if name not in self.suites:
            known = ", ".join(self.suites) or "(none)"
            raise BenchError(
                f"{self.path}: unknown suite {name!r}{_suggest(name, self.suites)} (known: {known})"
            )
        return list(self.suites[name])

    def family(self, name: str) -> str:
        """The entry's family: its `family` key, else its source's grouping (keel: the
        phenotype), else its own name."""
        spec = self.spec(name)
        if spec.family:
            return spec.family
        from bench.datasets.sources import source_family

        return source_family(spec) or name


def _suggest(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def resolve_catalogue_path(path: str | Path | None) -> Path:
    """The catalogue to use: the argument, else $BENCH_CATALOGUE, else ./datasets.yaml, else
    the datasets.yaml shipped next to the bench package."""
    if path is None:
        path = os.environ.get(CATALOGUE_ENV) or None
    if path is None:
        local = Path("datasets.yaml")
        path = (
            local
            if local.is_file()
            else Path(bench.__file__).resolve().parent.parent / ("datasets.yaml")
        )
    return Path(path).expanduser().resolve()


def _spec_fields(source: str) -> list[str]:
    return list(spec_model(source).model_fields)


def _describe_error(path: Path, raw: Any, err: Any) -> str:
    """One pydantic error as 'FILE: dataset NAME: key KEY: problem'."""
    loc = list(err["loc"])
    kind = err["type"]
    if loc[:1] == ["datasets"] and len(loc) >= 2:
        name = loc[1]
        head = f"{path}: dataset {name!r}"
        rest = loc[2:]
        entry = raw.get("datasets", {}).get(name) if isinstance(raw, dict) else None
        if kind == "union_tag_not_found":
            return f"{head}: missing key 'source' (one of: {', '.join(SOURCES.names())})"
        if kind == "union_tag_invalid":
            given = entry.get("source") if isinstance(entry, dict) else None
            return (
                f"{head}: unknown source {given!r}{_suggest(str(given), SOURCES.names())} "
                f"(known: {', '.join(SOURCES.names())})"
            )
        if kind == "model_attributes_type" or (not rest and kind.endswith("_type")):
            return f"{head}: an entry must be a mapping of keys, got {type(entry).__name__}"
        source = rest[0] if rest and rest[0] in SOURCES else None
        keys = [str(k) for k in (rest[1:] if source else rest)]
        if kind == "extra_forbidden" and keys:
            allowed = _spec_fields(source) if source else []
            return (
                f"{head}: unknown key {keys[0]!r}{_suggest(keys[0], allowed)} "
                f"(allowed for source {source!r}: {', '.join(allowed)})"
            )
        if kind == "missing" and keys:
            return f"{head}: missing required key {keys[0]!r}"
        where = f": key {'.'.join(keys)!r}" if keys else ""
        return f"{head}{where}: {err['msg']}"
    if kind == "extra_forbidden":
        return f"{path}: unknown top-level key {loc[0]!r} (allowed: datasets, suites)"
    if kind == "missing":
        return f"{path}: missing top-level key {loc[0]!r}"
    where = ".".join(str(p) for p in loc)
    return f"{path}: {where}: {err['msg']}"


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Read and check a catalogue (see resolve_catalogue_path for which file)."""
    path = resolve_catalogue_path(path)
    raw = read_yaml(path, "catalogue file")
    if not isinstance(raw, dict):
        raise BenchError(f"{path}: expected a mapping with 'datasets' and 'suites' at the top")
    try:
        model = catalogue_model().model_validate(raw)
    except ValidationError as err:
        errors = err.errors(include_url=False)
        lines = [_describe_error(path, raw, e) for e in errors[:5]]
        more = f"\n(and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise BenchError("\n".join(lines) + more) from None
    for name in model.datasets:
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise BenchError(
                f"{path}: dataset name {name!r} must start with a letter or digit and use only "
                "letters, digits, '_', '-' and '.'"
            )
    for suite, names in model.suites.items():
        seen: set[str] = set()
        for name in names:
            if name not in model.datasets:
                raise BenchError(
                    f"{path}: suite {suite!r}: unknown dataset {name!r}"
                    f"{_suggest(name, model.datasets)}"
                )
            if name in seen:
                raise BenchError(f"{path}: suite {suite!r}: dataset {name!r} listed twice")
            seen.add(name)
    return Catalogue(path=path, datasets=dict(model.datasets), suites=dict(model.suites))


def load_dataset(catalogue: Catalogue, name: str) -> Dataset:
    """Load one dataset, memoised per process on (catalogue path, name, entry): a sweep loads
    each dataset once per worker process, and an edited entry is loaded afresh."""
    spec = catalogue.spec(name)
    return _load_cached(
        str(catalogue.path), name, spec.source, spec.model_dump_json(), catalogue.family(name)
    )


@functools.lru_cache(maxsize=256)
def _load_cached(path: str, name: str, source: str, spec_json: str, family: str) -> Dataset:
    from bench.datasets.cleaning import clean_features
    from bench.datasets.sources import load_source

    spec = spec_model(source).model_validate_json(spec_json)
    dataset = load_source(spec, name=name, family=family, base_dir=Path(path).parent)
    return clean_features(dataset, spec.inf)


def describe(
    catalogue: Catalogue, name: str, *, build: bool = False
) -> tuple[DatasetMeta | None, str]:
    """(metadata, status) for listing. Synthetic sets that are not built are described from
    their spec; OpenML/Zenodo sets that are not cached give (None, 'not cached'). Nothing is
    downloaded or generated unless ``build``."""
    from bench.datasets.sources import READY, availability, spec_meta

    spec = catalogue.spec(name)
    status = availability(spec)
    if status != READY and not build:
        return spec_meta(spec, name=name, family=catalogue.family(name)), status
    if spec.source == "synthetic" and not build:
        return spec_meta(spec, name=name, family=catalogue.family(name)), status
    return load_dataset(catalogue, name).meta, READY
