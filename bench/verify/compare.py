"""Cell by cell, are two runs of the same cells the same? Everything a cell's result is made
of (outer-test metrics, best parameters, refit rounds, threshold, inner score, trial counts and
every outer-test prediction) must be bit-identical; timings, run ids, hosts and commits may
differ and are not compared."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench import runschema as rs
from bench.export import files

# Result columns besides test_* and param.*: what the cell decided or measured, not when/where.
RESULT_COLUMNS = (
    "status",
    "threshold",
    "best_iteration",
    "inner_best_score",
    "inner_best_iteration",
    "loss_scale",
    "n_trials_complete",
    "n_trials_startup",
    "inner_valid_minority",
    "inner_kind",
)


# Largest relative difference still read as floating-point rounding: the same code on another
# CPU takes other BLAS kernels (OpenBLAS picks them per CPU) and other vectorised maths, which
# moves the last bits of sums and of TPE's proposals; a real change moves far more.
ROUNDING = 1e-9


@dataclass(frozen=True)
class Difference:
    """How far apart two values are: absolute and relative (to the larger magnitude)."""

    absolute: float
    relative: float

    def __str__(self) -> str:
        return f"{self.absolute:.3g}"


@dataclass
class CellComparison:
    """One cell: identical, or which columns differ and by how much at most."""

    key: str
    run_name: str
    differences: dict[str, Difference | str] = field(default_factory=dict)
    missing: str | None = None  # why the cell could not be compared

    @property
    def identical(self) -> bool:
        return not self.differences and self.missing is None

    @property
    def rounding_only(self) -> bool:
        """Not identical, but every difference is numeric and within ``ROUNDING``."""
        return (
            bool(self.differences)
            and self.missing is None
            and all(
                isinstance(d, Difference) and d.relative <= ROUNDING
                for d in self.differences.values()
            )
        )

    @property
    def verdict(self) -> str:
        if self.missing:
            return f"not compared ({self.missing})"
        if self.identical:
            return "identical"
        parts = ", ".join(f"{col} ({how})" for col, how in sorted(self.differences.items()))
        if self.rounding_only:
            worst = max(d.relative for d in self.differences.values() if isinstance(d, Difference))
            return f"rounding only (relative <= {worst:.1g}): {parts}"
        return f"different: {parts}"

    def describe(self) -> str:
        return f"{self.run_name}: {self.verdict}"


def run_name(row: pd.Series) -> str:
    return f"{row['dataset']}/{row['booster']}/{row['strategy']}/r{row['repeat']}f{row['fold']}"


def compared_columns(frame: pd.DataFrame) -> list[str]:
    return [
        c
        for c in frame.columns
        if c.startswith(rs.TEST_PREFIX) or c.startswith("param.") or c in RESULT_COLUMNS
    ]


def _numeric_difference(x: np.ndarray, y: np.ndarray) -> Difference:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    gap = np.abs(x - y)
    scale = np.maximum(np.abs(x), np.abs(y))
    relative = np.divide(gap, scale, out=np.zeros_like(gap), where=scale > 0)
    return Difference(float(np.nanmax(gap)), float(np.nanmax(relative)))


def _difference(a: object, b: object) -> Difference | str | None:
    """None when equal (NaN equals NaN); else how far apart, or 'a -> b' for text."""
    if pd.isna(a) and pd.isna(b):
        return None
    x, y = pd.to_numeric(pd.Series([a, b]), errors="coerce")
    if not (pd.isna(x) or pd.isna(y)):
        return None if x == y else _numeric_difference(np.array([x]), np.array([y]))
    return None if str(a) == str(b) else f"{a} -> {b}"


def compare_cells(
    published: pd.DataFrame,
    published_predictions: pd.DataFrame,
    rerun: pd.DataFrame,
    rerun_predictions: pd.DataFrame,
    keys: list[str],
) -> list[CellComparison]:
    """Compare the cells ``keys`` of a published table with a re-run of them."""
    old = published.set_index(files.CELL_KEY)
    new = rerun.set_index(files.CELL_KEY)
    columns = sorted(set(compared_columns(published)) | set(compared_columns(rerun)))
    old_preds = dict(tuple(published_predictions.groupby(files.CELL_KEY, sort=False)))
    new_preds = dict(tuple(rerun_predictions.groupby(files.CELL_KEY, sort=False)))
    out = []
    for key in keys:
        name = run_name(old.loc[key])
        result = CellComparison(key, name)
        out.append(result)
        if key not in new.index:
            result.missing = "the re-run did not produce it"
            continue
        a, b = old.loc[key], new.loc[key]
        for col in columns:
            how = _difference(a.get(col), b.get(col))
            if how is not None:
                result.differences[col] = how
        how = _prediction_difference(old_preds.get(key), new_preds.get(key))
        if how is not None:
            result.differences["predictions"] = how
    return out


def _prediction_difference(
    a: pd.DataFrame | None, b: pd.DataFrame | None
) -> Difference | str | None:
    """Max |difference| of the class probabilities over the cell's test rows (same rows and
    labels required), None when bit-identical."""
    if a is None and b is None:
        return None
    if a is None or b is None:
        return "missing on one side"
    a, b = a.sort_values("row"), b.sort_values("row")
    if not np.array_equal(a["row"].to_numpy(), b["row"].to_numpy()) or not np.array_equal(
        a["y_true"].to_numpy(), b["y_true"].to_numpy()
    ):
        return "other rows or labels"
    cols = sorted(c for c in set(a.columns) & set(b.columns) if c.startswith("p_"))
    x, y = a[cols].to_numpy(dtype=np.float64), b[cols].to_numpy(dtype=np.float64)
    if np.array_equal(x, y, equal_nan=True):
        return None
    return _numeric_difference(x, y)
