"""Matplotlib figures as PNG bytes, drawn on bare Figure objects (Agg canvas, no pyplot state),
so building a report never needs a display and never leaks open figures."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import scikit_posthocs as sp
from matplotlib.figure import Figure as MplFigure

from .model import Figure

DPI = 100


def _png(fig: MplFigure, *, tight_bbox: bool = False) -> bytes:
    """PNG bytes; ``tight_bbox`` only where text lies outside the axes (it redraws the figure)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight" if tight_bbox else None)
    return buf.getvalue()


def cd_diagram(
    ranks: pd.Series, sig: pd.DataFrame, *, name: str, caption: str, alpha: float
) -> Figure:
    """Critical-difference diagram: average ranks on the axis, bars join methods whose
    pairwise difference is not significant (``sig`` holds adjusted p-values)."""
    fig = MplFigure(figsize=(7.5, 1.2 + 0.3 * len(ranks)))
    ax = fig.add_subplot()
    sp.critical_difference_diagram(ranks, sig, ax=ax, alpha=alpha)
    return Figure(name, _png(fig, tight_bbox=True), caption)


def pair_scatter(
    panels: list[tuple[str, pd.Series, pd.Series]], *, metric: str, name: str, caption: str
) -> Figure:
    """One panel per (title, x scores, y scores) with the diagonal: points above it favour y."""
    cols = min(3, len(panels))
    rows = int(np.ceil(len(panels) / cols))
    fig = MplFigure(figsize=(3.6 * cols, 3.4 * rows))
    for i, (title, x, y) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.scatter(x, y, s=12, alpha=0.7)
        both = pd.concat([x, y])
        lo, hi = (float(both.min()), float(both.max())) if len(both) else (0.0, 1.0)
        ax.plot([lo, hi], [lo, hi], color="grey", lw=1, ls="--")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(f"{x.name} {metric}", fontsize=8)
        ax.set_ylabel(f"{y.name} {metric}", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return Figure(name, _png(fig), caption)


def difference_boxes(diffs: dict[str, dict[str, np.ndarray]], *, name: str, caption: str) -> Figure:
    """Per metric (panel), per comparison (horizontal box): paired per-dataset differences,
    oriented so that > 0 favours the first strategy."""
    metrics = list(diffs)
    labels = list(dict.fromkeys(k for m in metrics for k in diffs[m]))
    cols = min(4, max(1, len(metrics)))
    rows = int(np.ceil(len(metrics) / cols))
    fig = MplFigure(figsize=(3.2 * cols + 1.2, (0.3 * len(labels) + 0.9) * rows))
    for i, metric in enumerate(metrics):
        ax = fig.add_subplot(rows, cols, i + 1)
        data = [diffs[metric].get(k, np.array([])) for k in labels]
        if any(len(v) for v in data):
            ax.boxplot(
                [v if len(v) else [np.nan] for v in data],
                orientation="horizontal",
                tick_labels=labels,
                flierprops={"markersize": 3},
            )
        ax.axvline(0.0, color="grey", lw=1, ls="--")
        ax.invert_yaxis()
        ax.set_title(metric, fontsize=9)
        ax.tick_params(labelsize=7)
        if i % cols:
            ax.set_yticklabels([])
    fig.tight_layout()
    return Figure(name, _png(fig), caption)


def time_boxes(times: dict[str, np.ndarray], *, name: str, caption: str) -> Figure:
    """Fit seconds per cell for each booster/strategy, log scale."""
    fig = MplFigure(figsize=(max(6.0, 0.8 * len(times)), 3.4))
    ax = fig.add_subplot()
    labels = [k for k, v in times.items() if len(v)]
    ax.boxplot([times[k] for k in labels], tick_labels=labels)
    if labels and min(float(np.min(times[k])) for k in labels) > 0:
        ax.set_yscale("log")
    ax.set_ylabel("fit seconds per cell")
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    fig.tight_layout()
    return Figure(name, _png(fig), caption)
