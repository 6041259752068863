"""Number formatting and the tables built straight from per-dataset matrices."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .frame import Prepared, dataset_ratios
from .model import Cell, GroupRow, Table

DASH = "–"
TOO_FEW = "too few"  # a test not run for lack of units: never a number


def fmt(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return DASH
    return f"{x:.{digits}f}"


def fmt_p(p: float | None) -> str:
    if p is None or math.isnan(p):
        return DASH
    if p < 1e-16:
        return "< 1e-16"
    return f"{p:.2e}" if p < 1e-3 else f"{p:.3f}"


def names_list(names: list[str], limit: int = 20) -> str:
    """A readable, bounded list of dataset names."""
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f" and {len(names) - limit} more"


def best_mask(values: pd.Series, lower_is_better: bool, digits: int = 3) -> pd.Series:
    """True for the best value(s) as displayed (ties at the shown precision share the bold)."""
    shown = values.round(digits)
    if shown.isna().all():
        return shown.notna()
    best = shown.min() if lower_is_better else shown.max()
    return shown == best


def main_table(prep: Prepared, markers: dict[tuple[str, str, str], str] | None = None) -> Table:
    """Datasets (grouped by tier) x booster x strategy: mean ± std over outer folds, best per
    dataset and booster in bold, † marks a group with folds missing, ‡n one with n failed cells
    scored as the class prior; ``markers[(dataset, booster, strategy)]`` is appended (the
    per-dataset verdict against the baseline)."""
    g = prep.grid
    markers = markers or {}
    table = Table(
        columns=["dataset", "IR", *[s for _ in g.boosters for s in g.strategies]],
        rows=[],
        column_groups=[("", 2), *[(b, len(g.strategies)) for b in g.boosters]],
        caption=f"{prep.metric}: mean ± std over {g.per_group} outer folds x repeats per dataset; "
        f"bold: best strategy per dataset and booster ({'lower' if prep.lower_is_better else 'higher'} "
        "is better); † fewer folds than expected (mean over those present); ‡n: n failed cells "
        "scored as the class-prior predictor.",
    )
    ratio = dataset_ratios(prep.finished if len(prep.finished) else prep.scored)
    tier = None
    for ds in prep.datasets:
        if prep.tiers[ds] != tier:
            tier = prep.tiers[ds]
            table.rows.append(GroupRow(f"tier: {tier}"))
        cells = [Cell(ds), Cell(fmt(float(ratio.get(ds, np.nan)), 1))]
        for b in g.boosters:
            means = prep.mean.loc[ds, b]
            bold = best_mask(means, prep.lower_is_better)
            for s in g.strategies:
                m, sd, n = means[s], prep.std.loc[ds, (b, s)], int(prep.count.loc[ds, (b, s)])
                if n == 0:
                    skipped = (ds, b, s) in prep.skipped
                    cells.append(Cell("skipped" if skipped else DASH))
                    continue
                text = f"{fmt(m)} ± {fmt(sd)}"
                if n < g.per_group:
                    text += f" † ({n}/{g.per_group})"
                failed = int(prep.failed.loc[ds, (b, s)])
                if failed:
                    text += f" ‡{failed}"
                if (ds, b, s) in markers:
                    text += f" {markers[(ds, b, s)]}"
                cells.append(Cell(text, bold=bool(bold[s])))
        table.rows.append(cells)
    return table


def rank_summary(ranks: pd.Series, lower_first: bool = True) -> Table:
    """Average rank per method, best first."""
    table = Table(columns=["method", "average rank"], rows=[])
    ordered = ranks.sort_values(ascending=lower_first)
    for i, (name, r) in enumerate(ordered.items()):
        table.add(Cell(str(name), bold=i == 0), fmt(float(r), 2))
    return table


def versions_table(df: pd.DataFrame) -> Table:
    """Library versions seen in the cell runs (several values mean mixed environments)."""
    table = Table(columns=["library", "versions (cells)"], rows=[])
    for col in sorted(c for c in df.columns if c.startswith("version.")):
        counts = df[col].dropna().astype(str).value_counts()
        table.add(col.removeprefix("version."), ", ".join(f"{v} ({n})" for v, n in counts.items()))
    return table


def value_counts_text(series: pd.Series) -> str:
    counts = series.dropna().astype(str).value_counts()
    return ", ".join(f"{v} ({n} cells)" for v, n in counts.items()) or DASH


def oriented_diff(x: pd.Series, y: pd.Series, lower_is_better: bool) -> np.ndarray:
    d = (x - y).to_numpy(dtype=float)
    return -d if lower_is_better else d
