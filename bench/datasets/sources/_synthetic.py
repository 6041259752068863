"""Synthetic imbalanced data in the spirit of sklearn's make_classification, built in chunks.

Why not make_classification itself: it builds the whole float64 matrix in memory (10M x 20 is
1.6 GB before copies) and its class counts move with label noise. Here each chunk of
CHUNK_ROWS rows has its own seeded generator, class counts are exact (so the catalogue can
describe a set without building it), features are float32, and chunks stream into one Parquet
file. Same spec -> same bytes.

Layout: x0.. informative (Gaussian cluster per class around a hypercube vertex, with a random
per-class linear map), then redundant (linear combinations of the informative), then noise;
cat0.. are 4-level categoricals binned from the first informative columns plus noise.
Label noise (flip_y) shuffles the labels of a random fraction of rows, keeping counts.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from bench.datasets.cache import atomic_write, data_dir
from bench.datasets.dataset import Dataset, DatasetMeta, build_dataset, make_meta
from bench.datasets.schema import SyntheticSpec

GENERATOR_VERSION = 1
CHUNK_ROWS = 1 << 18
CATEGORIES = ("a", "b", "c", "d")
_CUTS = np.array([-1.0, 0.0, 1.0], dtype=np.float32)
_GENERATION_KEYS = (
    "n_samples",
    "n_features",
    "n_informative",
    "n_redundant",
    "n_categorical",
    "weights",
    "class_sep",
    "flip_y",
    "missing_fraction",
    "seed",
)


def _allocate(rows: int, weights: list[float]) -> np.ndarray:
    """Split rows over classes by weight, largest remainder first (ties: lower class)."""
    raw = np.asarray(weights, dtype=np.float64) * rows
    counts = np.floor(raw).astype(np.int64)
    short = rows - int(counts.sum())
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[:short]] += 1
    return counts


def _chunks(n: int) -> list[int]:
    full, rest = divmod(n, CHUNK_ROWS)
    return [CHUNK_ROWS] * full + ([rest] if rest else [])


def raw_class_counts(spec: SyntheticSpec) -> np.ndarray:
    counts = np.zeros(len(spec.weights), dtype=np.int64)
    for rows in _chunks(spec.n_samples):
        counts += _allocate(rows, spec.weights)
    return counts


def spec_meta(spec: SyntheticSpec, *, name: str, family: str) -> DatasetMeta:
    """Exactly the metadata the built set will have, without building it."""
    counts = raw_class_counts(spec)
    if len(counts) == 2 and counts[1] > counts[0]:
        counts = counts[::-1]  # label 1 is the minority (see bench.datasets.dataset)
    return make_meta(
        name, "synthetic", family, spec.n_features, counts.tolist(), spec.n_categorical
    )


def cache_path(spec: SyntheticSpec) -> Path:
    params = {k: getattr(spec, k) for k in _GENERATION_KEYS}
    params.update(version=GENERATOR_VERSION, chunk=CHUNK_ROWS)
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    return data_dir() / "synthetic" / f"n{spec.n_samples}-{digest}.parquet"


def is_built(spec: SyntheticSpec) -> bool:
    return cache_path(spec).is_file()


def availability(spec: SyntheticSpec) -> str:
    return "ready" if is_built(spec) else "not built"


def _parameters(spec: SyntheticSpec) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([GENERATOR_VERSION, spec.seed])
    k, d = len(spec.weights), spec.n_informative
    for _ in range(100):
        vertices = rng.choice(np.array([-1.0, 1.0]), size=(k, d))
        if len(np.unique(vertices, axis=0)) == k or 2**d < k:
            break
    return {
        "centroids": (vertices * spec.class_sep).astype(np.float32),
        "maps": rng.uniform(-1, 1, size=(k, d, d)).astype(np.float32),
        "redundant": rng.uniform(-1, 1, size=(d, spec.n_redundant)).astype(np.float32),
    }


def _chunk(spec: SyntheticSpec, index: int, rows: int, p: dict[str, np.ndarray]) -> pd.DataFrame:
    rng = np.random.default_rng([GENERATOR_VERSION, spec.seed, index + 1])
    k = len(spec.weights)
    z = np.repeat(np.arange(k, dtype=np.int16), _allocate(rows, spec.weights))
    rng.shuffle(z)
    informative = rng.standard_normal((rows, spec.n_informative), dtype=np.float32)
    for c in range(k):
        rows_c = z == c
        informative[rows_c] = informative[rows_c] @ p["maps"][c] + p["centroids"][c]
    n_noise = spec.n_features - spec.n_informative - spec.n_redundant - spec.n_categorical
    numeric = np.hstack(
        [
            informative,
            informative @ p["redundant"],
            rng.standard_normal((rows, n_noise), dtype=np.float32),
        ]
    )
    cats = [
        np.digitize(
            informative[:, j] + 0.5 * rng.standard_normal(rows, dtype=np.float32), _CUTS
        ).astype(np.int8)
        for j in range(spec.n_categorical)
    ]
    y = z.copy()
    n_flip = int(round(spec.flip_y * rows))
    if n_flip > 1:
        idx = rng.choice(rows, n_flip, replace=False)
        y[idx] = y[idx][rng.permutation(n_flip)]
    if spec.missing_fraction > 0:
        numeric[rng.random(numeric.shape, dtype=np.float32) < spec.missing_fraction] = np.nan
        for codes in cats:
            codes[rng.random(rows, dtype=np.float32) < spec.missing_fraction] = -1
    columns: dict[str, object] = {f"x{j}": numeric[:, j] for j in range(numeric.shape[1])}
    for j, codes in enumerate(cats):
        columns[f"cat{j}"] = pd.Categorical.from_codes(codes, categories=list(CATEGORIES))
    columns["target"] = y
    return pd.DataFrame(columns)


def build(spec: SyntheticSpec) -> Path:
    """Generate the set chunk by chunk into its cache file (a no-op when already built)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    target = cache_path(spec)
    if target.is_file():
        return target
    params = _parameters(spec)

    def write(tmp: Path) -> None:
        writer = None
        try:
            for i, rows in enumerate(_chunks(spec.n_samples)):
                table = pa.Table.from_pandas(_chunk(spec, i, rows, params), preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()

    return atomic_write(target, write)


def load(spec: SyntheticSpec, *, name: str, family: str, base_dir: Path | None = None) -> Dataset:
    frame = pd.read_parquet(build(spec))
    codes = frame.pop("target").to_numpy().astype(np.int64)
    return build_dataset(
        name=name,
        source="synthetic",
        family=family,
        X=frame,
        codes=codes,
        names=[str(i) for i in range(len(spec.weights))],
        where=f"of {cache_path(spec)}",
    )
