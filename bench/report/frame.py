"""The tidy results table -> per-dataset matrices, completeness and missing cells.

One row of the tidy table is one cell (dataset x booster x strategy x repeat x fold); only
FINISHED rows are results. Per-dataset values are means over outer folds and repeats.
"""

from __future__ import annotations

import contextlib
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


FAILED = "FAILED"


def dataset_families(df: pd.DataFrame, datasets: list[str]) -> tuple[pd.Series, str | None]:
    """Family per dataset from the family tag; a dataset without one is its own family.

    Returns the mapping and a sentence for the report when any tag was absent."""
    tagged: dict[str, str] = {}
    if "family" in df:
        firsts = df.dropna(subset=["family"]).groupby("dataset")["family"].first()
        tagged = {str(k): str(v) for k, v in firsts.items() if str(v)}
    out = pd.Series({d: tagged.get(d, d) for d in datasets}, dtype=object)
    lacking = [d for d in datasets if d not in tagged]
    if not lacking:
        return out, None
    if len(lacking) == len(datasets):
        return out, "The sweep records no family tag: each dataset counts as its own family."
    return out, (
        f"{len(lacking)} dataset(s) carry no family tag and count as their own family: "
        + ", ".join(lacking[:10])
        + (" ..." if len(lacking) > 10 else "")
        + "."
    )


def skipped_cells(info_skipped: list[dict[str, Any]] | None) -> set[tuple[str, str, str]]:
    """(dataset, booster, strategy) the planner never attempted (not missing, not failed)."""
    out: set[tuple[str, str, str]] = set()
    for item in info_skipped or []:
        for d in item.get("datasets") or []:
            out.add((str(d), str(item["booster"]), str(item["strategy"])))
    return out


def class_counts(rows: pd.DataFrame) -> list[float] | None:
    """A dataset's class counts from its cell tags: exact from ``class_counts`` (recorded since
    the reference sweep), else from n_rows, minority_count, n_classes and imbalance_ratio
    (multiclass: minority and majority exactly, the other classes sharing the rest equally);
    None when they are absent."""
    if "class_counts" in rows:
        recorded = rows["class_counts"].dropna()
        if len(recorded):
            with contextlib.suppress(ValueError):
                return [float(c) for c in str(recorded.iloc[0]).split(",")]

    def first(col: str) -> float | None:
        if col not in rows:
            return None
        vals = pd.to_numeric(rows[col], errors="coerce").dropna()
        return float(vals.iloc[0]) if len(vals) else None

    n, m, k, ratio = (
        first(c) for c in ("n_rows", "minority_count", "n_classes", "imbalance_ratio")
    )
    if n is None or m is None or n <= 0 or m < 0 or m > n:
        return None
    k = int(k) if k is not None and k >= 2 else 2
    if k == 2:
        return [n - m, m]
    major = m * ratio if ratio is not None and ratio >= 1 else None
    if major is None or m + major > n:
        return None
    rest = (n - m - major) / (k - 2)
    return [major, *([rest] * (k - 2)), m]


@dataclass
class UnitScores:
    """Per-unit (family or dataset) values of some (booster, strategy) groups over the datasets
    complete for all of them; ``excluded`` lists the datasets left out for missing cells."""

    values: pd.DataFrame  # units x groups
    datasets: list[str]  # the datasets the values average over
    excluded: list[str]

    @property
    def n(self) -> int:
        return len(self.values)


@dataclass
class Prepared:
    """Everything the report needs about one metric, computed once from the tidy table."""

    metric: str  # column name, e.g. test_average_precision
    lower_is_better: bool
    grid: Grid
    finished: pd.DataFrame  # FINISHED rows only (real results: cost, budget)
    scored: pd.DataFrame  # FINISHED rows plus failed cells scored as the class prior
    tiers: pd.Series  # dataset -> tier
    families: pd.Series  # dataset -> family
    family_note: str | None  # said when family tags were absent
    unit: str  # "family" or "dataset": what tests and ranks count
    failures: str  # "prior" (failed cells scored as the class prior) or "exclude"
    datasets: list[str]  # ordered by tier, imbalance ratio, name
    mean: pd.DataFrame  # datasets x (booster, strategy): mean over folds
    std: pd.DataFrame
    count: pd.DataFrame  # folds with a value (failed ones scored as the prior included)
    failed: pd.DataFrame  # failed cells scored as the prior, per dataset x group
    expected: pd.DataFrame  # folds expected per dataset x group (0 where the planner skipped)
    missing: pd.DataFrame  # expected cells without a FINISHED value of the metric
    skipped: set[tuple[str, str, str]]
    _cache: dict[str, tuple[Any, Any]] = field(default_factory=dict, repr=False)

    def aggregate(self, column: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(mean, count) per dataset x (booster, strategy) of another column (cached)."""
        if column not in self._cache:
            self._cache[column] = _aggregate(self.scored, column, self.datasets, self.grid)
        return self._cache[column]

    def complete(self, column: str | None = None) -> pd.DataFrame:
        """True where a dataset x (booster, strategy) has every expected fold of the metric
        (a failed cell scored as the prior counts; a group the planner skipped never does)."""
        count = self.count if column is None else self.aggregate(column)[1]
        return (count >= self.grid.per_group) & (self.expected > 0)

    def _arrays(self, column: str | None) -> tuple[np.ndarray, np.ndarray]:
        """(means, complete) as arrays, cached: ``scores`` runs hundreds of times a report."""
        key = "\0arrays:" + (column or self.metric)
        if key not in self._cache:
            mean = self.mean if column is None else self.aggregate(column)[0]
            self._cache[key] = (mean.to_numpy(dtype=float), self.complete(column).to_numpy())
        return self._cache[key]

    def to_units(self, by_dataset: pd.DataFrame) -> pd.DataFrame:
        """Rows per dataset -> rows per unit: the mean over a family's datasets (the order of
        first appearance), or unchanged for ``unit == "dataset"``."""
        if self.unit == "dataset" or by_dataset.empty:
            return by_dataset
        fam = self.families.reindex(by_dataset.index)
        grouped = by_dataset.groupby(fam.to_numpy(), sort=False).mean()
        grouped.index.name = "family"
        return grouped

    def scores(
        self,
        columns: list[tuple[str, str]],
        column: str | None = None,
        datasets: list[str] | None = None,
    ) -> UnitScores:
        """Per-unit values of the given groups (of the metric, or of ``column``) over the
        datasets (of ``datasets``, if given) complete for all of them."""
        mean, complete = self._arrays(column)
        cols = np.array([self._column_pos[c] for c in columns], dtype=np.int64)
        wanted = None if datasets is None else set(datasets)
        rows = np.array(
            [i for i, d in enumerate(self.datasets) if wanted is None or d in wanted],
            dtype=np.int64,
        )
        flags = np.asarray(complete[np.ix_(rows, cols)].all(axis=1), dtype=bool).reshape(-1)
        ok = [bool(v) for v in flags] if len(rows) else []
        good = rows[np.array(ok, dtype=bool)] if len(rows) else rows
        used = [self.datasets[i] for i in good]
        excluded = [self.datasets[i] for i, k in zip(rows, ok, strict=True) if not k]
        picked = mean[np.ix_(good, cols)]
        frame = pd.DataFrame(
            picked, index=pd.Index(used, name="dataset"), columns=pd.MultiIndex.from_tuples(columns)
        )
        return UnitScores(self.to_units(frame), used, excluded)

    @property
    def _column_pos(self) -> dict[tuple[str, str], int]:
        return {c: i for i, c in enumerate(self.mean.columns)}

    def n_units(self, datasets: list[str]) -> int:
        return len(set(self.families[datasets])) if self.unit == "family" else len(datasets)

    def unit_phrase(self, datasets: list[str]) -> str:
        """ "12 datasets in 5 families" (or "12 datasets" under --unit dataset)."""
        n = len(datasets)
        if self.unit == "dataset":
            return f"{n} dataset{'s' * (n != 1)}"
        m = self.n_units(datasets)
        return f"{n} dataset{'s' * (n != 1)} in {m} famil{'ies' if m != 1 else 'y'}"

    def failed_cells(self, group: tuple[str, str], datasets: list[str] | None = None) -> int:
        """Failed cells of a group scored as the prior (over ``datasets`` if given)."""
        col = self.failed[group]
        return int(col.sum() if datasets is None else col.reindex(datasets).fillna(0).sum())


def _aggregate(scored: pd.DataFrame, column: str, datasets: list[str], grid: Grid):
    cols = pd.MultiIndex.from_product(
        [grid.boosters, grid.strategies], names=["booster", "strategy"]
    )
    if column not in scored:
        empty = pd.DataFrame(np.nan, index=datasets, columns=cols)
        return empty, empty.fillna(0)
    g = scored.groupby(["dataset", "booster", "strategy"])[column]
    mean = g.mean().unstack(["booster", "strategy"]).reindex(index=datasets, columns=cols)
    count = (
        g.count().unstack(["booster", "strategy"]).reindex(index=datasets, columns=cols).fillna(0)
    )
    return mean.astype(float), count.astype(int)


def _keyed(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(
        repeat=df["repeat"].astype(int),
        fold=df["fold"].astype(int),
        dataset=df["dataset"].astype(str),
        booster=df["booster"].astype(str),
        strategy=df["strategy"].astype(str),
    )


def _prior_rows(df: pd.DataFrame, finished: pd.DataFrame, grid: Grid) -> pd.DataFrame:
    """One row per FAILED cell (without a FINISHED run) scored as the constant class-prior
    predictor on its outer fold (``bench.metrics.prior_metrics``); cells of a dataset whose
    class counts are unknown stay unscored."""
    from bench.metrics import prior_metrics

    status = df["status"].astype(str) if "status" in df else pd.Series(FINISHED, index=df.index)
    failed = _keyed(df[status == FAILED])
    if failed.empty:
        return failed.iloc[0:0]
    done = set(map(tuple, _keyed(finished)[list(KEYS)].itertuples(index=False)))
    failed = failed[[tuple(k) not in done for k in failed[list(KEYS)].itertuples(index=False)]]
    failed = failed.drop_duplicates(list(KEYS))
    metric_cols = [c for c in df.columns if c.startswith(rs.TEST_PREFIX)]
    rows = []
    for name, part in failed.groupby("dataset", sort=False):
        counts = class_counts(df[df["dataset"].astype(str) == name])
        if counts is None:
            continue
        values = {
            rs.TEST_PREFIX + k: v for k, v in prior_metrics(counts, max(2, len(grid.folds))).items()
        }
        part = part.drop(columns=metric_cols).assign(
            **{c: values.get(c, np.nan) for c in metric_cols}
        )
        rows.append(part)
    if not rows:
        return failed.iloc[0:0]
    return pd.concat(rows, ignore_index=True)


def prepare(
    df: pd.DataFrame,
    metric: str,
    config: dict[str, Any] | None = None,
    *,
    unit: str = "family",
    failures: str = "prior",
    skipped: list[dict[str, Any]] | None = None,
) -> Prepared:
    """Aggregate the tidy table for one metric (``brier`` or its column ``test_brier``).

    ``failures="prior"``: a FAILED cell is scored as the constant class-prior predictor would
    score on its outer fold (the AutoML Benchmark's rule), so a strategy's failures count
    against it instead of removing the dataset; cells never run stay missing.
    """
    missing_keys = [k for k in KEYS if k not in df.columns]
    if missing_keys:
        raise ValueError(f"results table lacks key columns {missing_keys}")
    metric = resolve_metric(df, metric)
    status = df["status"] if "status" in df else pd.Series(FINISHED, index=df.index)
    finished = df[status == FINISHED].copy()
    grid = expected_grid(df, config)
    tiers = dataset_tiers(df, grid.datasets)
    families, family_note = dataset_families(df, grid.datasets)
    order = {t: i for i, t in enumerate(tier_order(tiers))}
    ratio = dataset_ratios(df)

    def sort_key(name: str):
        r = float(ratio.get(name, np.nan))
        return (order[tiers[name]], np.inf if np.isnan(r) else r, name)

    datasets = sorted(grid.datasets, key=sort_key)
    imputed = _prior_rows(df, finished, grid) if failures == "prior" else finished.iloc[0:0]
    scored = pd.concat(
        [finished.assign(scored_as_prior=False), imputed.assign(scored_as_prior=True)],
        ignore_index=True,
    )
    mean, count = _aggregate(scored, metric, datasets, grid)
    std = scored.groupby(["dataset", "booster", "strategy"])[metric].std(ddof=1)
    std = std.unstack(["booster", "strategy"]).reindex_like(mean).astype(float)
    failed = (
        imputed.assign(_n=1)
        .groupby(["dataset", "booster", "strategy"])["_n"]
        .sum()
        .unstack(["booster", "strategy"])
        .reindex(index=datasets, columns=mean.columns)
        .fillna(0)
        .astype(int)
        if len(imputed)
        else pd.DataFrame(0, index=datasets, columns=mean.columns)
    )
    skip = skipped_cells(skipped)
    expected = pd.DataFrame(grid.per_group, index=datasets, columns=mean.columns)
    for d, b, s in skip:
        if d in expected.index and (b, s) in expected.columns:
            expected.loc[d, (b, s)] = 0
    missing = _missing_cells(df, finished, metric, grid, skip)
    if len(imputed):
        scored_keys = set(map(tuple, _keyed(imputed)[list(KEYS)].itertuples(index=False)))
        missing["scored_as_prior"] = [
            tuple(k) in scored_keys for k in missing[list(KEYS)].itertuples(index=False)
        ]
    else:
        missing["scored_as_prior"] = False
    return Prepared(
        metric=metric,
        lower_is_better=lower_is_better(metric),
        grid=grid,
        finished=finished,
        scored=scored,
        tiers=tiers[datasets],
        families=families[datasets],
        family_note=family_note,
        unit=unit,
        failures=failures,
        datasets=datasets,
        mean=mean,
        std=std,
        count=count,
        failed=failed,
        expected=expected,
        missing=missing,
        skipped=skip,
    )


def _missing_cells(
    df: pd.DataFrame,
    finished: pd.DataFrame,
    metric: str,
    grid: Grid,
    skipped: set[tuple[str, str, str]],
) -> pd.DataFrame:
    """Expected cells (not skipped by the planner) lacking a FINISHED value of the metric,
    with the reason."""
    expected = grid.frame()
    if skipped:
        trio = list(
            zip(expected["dataset"], expected["booster"], expected["strategy"], strict=True)
        )
        expected = expected[[t not in skipped for t in trio]]
    keyed = _keyed(df)
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
