"""The tidy results table -> per-dataset matrices, completeness and missing cells.

One row of the tidy table is one cell (dataset x booster x strategy x repeat x fold); only
FINISHED rows are results. Per-dataset values are means over outer folds and repeats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bench import runschema as rs
from bench.boosters import BOOSTERS
from bench.errors import BenchError
from bench.imbalance import TIER_ORDER, imbalance_tier
from bench.strategies import STRATEGIES

KEYS = ("dataset", "booster", "strategy", "repeat", "fold")
FINISHED = rs.FINISHED
UNKNOWN_TIER = "unknown"


def available_metrics(df: pd.DataFrame) -> list[str]:
    """Outer-test metrics present in the table, named without the ``test_`` prefix."""
    return [c[len(rs.TEST_PREFIX) :] for c in df.columns if c.startswith(rs.TEST_PREFIX)]


def resolve_metric(df: pd.DataFrame, name: str) -> str:
    """The column of a metric given as ``average_precision`` or ``test_average_precision``."""
    for col in (name, rs.TEST_PREFIX + name):
        if col.startswith(rs.TEST_PREFIX) and col in df.columns:
            return col
    have = ", ".join(available_metrics(df)) or "none"
    raise BenchError(f"--metric {name!r} is not in the sweep's results; available metrics: {have}")


def lower_is_better(column: str) -> bool:
    """Direction of a metric column, from runschema.LOWER_IS_BETTER (suffixes stripped)."""
    base = column.removeprefix(rs.TEST_PREFIX)
    for suffix in (rs.AT_HALF, rs.AT_TUNED):
        base = base.removesuffix(suffix)
    return base in rs.LOWER_IS_BETTER


def _ordered(values: Any, canonical: tuple[str, ...]) -> list[str]:
    vals = list(dict.fromkeys(str(v) for v in values))
    return [c for c in canonical if c in vals] + sorted(v for v in vals if v not in canonical)


def _index_range(observed: set[int], count: Any) -> list[int]:
    """Expected repeat/fold indices: 0..n-1 (or 1..n) from the config when the data fits it."""
    if isinstance(count, int) and count > 0:
        for start in (0, 1):
            grid = set(range(start, start + count))
            if observed <= grid:
                return sorted(grid)
    return sorted(observed)


def _str_list(value: Any) -> list[str]:
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    return []


@dataclass
class Grid:
    """The cells a sweep should have: config lists united with what was observed."""

    datasets: list[str]
    boosters: list[str]
    strategies: list[str]
    repeats: list[int]
    folds: list[int]

    @property
    def per_group(self) -> int:
        return len(self.repeats) * len(self.folds)

    def frame(self) -> pd.DataFrame:
        idx = pd.MultiIndex.from_product(
            [self.datasets, self.boosters, self.strategies, self.repeats, self.folds], names=KEYS
        )
        return idx.to_frame(index=False)


def expected_grid(df: pd.DataFrame, config: dict[str, Any] | None) -> Grid:
    config = config or {}
    datasets = list(
        dict.fromkeys(_str_list(config.get("datasets")) + list(df["dataset"].astype(str)))
    )
    boosters = _ordered(_str_list(config.get("boosters")) + list(df["booster"]), BOOSTERS.names())
    strategies = _ordered(
        _str_list(config.get("strategies")) + list(df["strategy"]), STRATEGIES.names()
    )
    repeats = _index_range({int(v) for v in df["repeat"]}, config.get("repeats"))
    folds = _index_range({int(v) for v in df["fold"]}, config.get("folds"))
    return Grid(datasets, boosters, strategies, repeats, folds)


def dataset_tiers(df: pd.DataFrame, datasets: list[str]) -> pd.Series:
    """Tier per dataset from the tier tag, else from the imbalance ratio, else 'unknown'."""
    out = {}
    for name in datasets:
        rows = df[df["dataset"] == name]
        tier = None
        if "tier" in rows and rows["tier"].notna().any():
            tier = str(rows["tier"].dropna().iloc[0])
        elif "imbalance_ratio" in rows and rows["imbalance_ratio"].notna().any():
            tier = imbalance_tier(float(rows["imbalance_ratio"].dropna().iloc[0]))
        out[name] = tier or UNKNOWN_TIER
    return pd.Series(out, dtype=object)


def dataset_ratios(df: pd.DataFrame) -> pd.Series:
    """Imbalance ratio per dataset (NaN where the tag is absent)."""
    if "imbalance_ratio" not in df:
        return pd.Series(dtype=float)
    return pd.to_numeric(df.groupby("dataset")["imbalance_ratio"].first(), errors="coerce")


def tier_order(tiers: pd.Series) -> list[str]:
    present = set(tiers)
    return [t for t in TIER_ORDER if t in present] + sorted(present - set(TIER_ORDER))


@dataclass
class Prepared:
    """Everything the report needs about one metric, computed once from the tidy table."""

    metric: str  # column name, e.g. test_average_precision
    lower_is_better: bool
    grid: Grid
    finished: pd.DataFrame  # FINISHED rows only
    tiers: pd.Series  # dataset -> tier
    datasets: list[str]  # ordered by tier, imbalance ratio, name
    mean: pd.DataFrame  # datasets x (booster, strategy): mean over folds
    std: pd.DataFrame
    count: pd.DataFrame  # folds with a value
    missing: pd.DataFrame  # expected cells without a FINISHED value of the metric
    _cache: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = field(default_factory=dict, repr=False)

    def aggregate(self, column: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(mean, count) per dataset x (booster, strategy) of another column (cached)."""
        if column not in self._cache:
            self._cache[column] = _aggregate(self.finished, column, self.datasets, self.grid)
        return self._cache[column]

    def complete(self, column: str | None = None) -> pd.DataFrame:
        """True where a dataset x (booster, strategy) has every expected fold of the metric."""
        count = self.count if column is None else self.aggregate(column)[1]
        return count >= self.grid.per_group

    def scores(self, columns: list[tuple[str, str]], column: str | None = None):
        """Per-dataset means of the given (booster, strategy) groups over the datasets complete
        for all of them, and the datasets excluded for being incomplete."""
        mean = self.mean if column is None else self.aggregate(column)[0]
        ok = self.complete(column)[columns].all(axis=1)
        return mean.loc[ok, columns], [d for d in mean.index if not ok[d]]


def _aggregate(finished: pd.DataFrame, column: str, datasets: list[str], grid: Grid):
    cols = pd.MultiIndex.from_product(
        [grid.boosters, grid.strategies], names=["booster", "strategy"]
    )
    if column not in finished:
        empty = pd.DataFrame(np.nan, index=datasets, columns=cols)
        return empty, empty.fillna(0)
    g = finished.groupby(["dataset", "booster", "strategy"])[column]
    mean = g.mean().unstack(["booster", "strategy"]).reindex(index=datasets, columns=cols)
    count = (
        g.count().unstack(["booster", "strategy"]).reindex(index=datasets, columns=cols).fillna(0)
    )
    return mean.astype(float), count.astype(int)


def prepare(df: pd.DataFrame, metric: str, config: dict[str, Any] | None = None) -> Prepared:
    """Aggregate the tidy table for one metric (``brier`` or its column ``test_brier``)."""
    missing_keys = [k for k in KEYS if k not in df.columns]
    if missing_keys:
        raise ValueError(f"results table lacks key columns {missing_keys}")
    metric = resolve_metric(df, metric)
    status = df["status"] if "status" in df else pd.Series(FINISHED, index=df.index)
    finished = df[status == FINISHED].copy()
    grid = expected_grid(df, config)
    tiers = dataset_tiers(df, grid.datasets)
    order = {t: i for i, t in enumerate(tier_order(tiers))}
    ratio = dataset_ratios(df)

    def sort_key(name: str):
        r = float(ratio.get(name, np.nan))
        return (order[tiers[name]], np.inf if np.isnan(r) else r, name)

    datasets = sorted(grid.datasets, key=sort_key)
    mean, count = _aggregate(finished, metric, datasets, grid)
    std = finished.groupby(["dataset", "booster", "strategy"])[metric].std(ddof=1)
    std = std.unstack(["booster", "strategy"]).reindex_like(mean).astype(float)
    return Prepared(
        metric=metric,
        lower_is_better=lower_is_better(metric),
        grid=grid,
        finished=finished,
        tiers=tiers[datasets],
        datasets=datasets,
        mean=mean,
        std=std,
        count=count,
        missing=_missing_cells(df, finished, metric, grid),
    )


def _missing_cells(
    df: pd.DataFrame, finished: pd.DataFrame, metric: str, grid: Grid
) -> pd.DataFrame:
    """Expected cells lacking a FINISHED value of the metric, with the reason."""
    expected = grid.frame()
    keyed = df.assign(
        repeat=df["repeat"].astype(int),
        fold=df["fold"].astype(int),
        dataset=df["dataset"].astype(str),
        booster=df["booster"].astype(str),
        strategy=df["strategy"].astype(str),
    )
    status = keyed["status"] if "status" in keyed else pd.Series(FINISHED, index=keyed.index)
    have = keyed.assign(_status=status.astype(str), _value=keyed.get(metric))
    # Prefer the FINISHED run of a cell when it was also tried before.
    have = have.sort_values("_status", key=lambda s: s != FINISHED).drop_duplicates(list(KEYS))
    merged = expected.merge(have[[*KEYS, "_status", "_value"]], on=list(KEYS), how="left")
    reason = np.where(
        merged["_status"].isna(),
        "no run",
        np.where(
            merged["_status"] != FINISHED,
            "run " + merged["_status"].astype(str),
            "metric not logged",
        ),
    )
    merged["reason"] = reason
    bad = merged["_status"].isna() | (merged["_status"] != FINISHED) | merged["_value"].isna()
    return merged.loc[bad, [*KEYS, "reason"]].reset_index(drop=True)
