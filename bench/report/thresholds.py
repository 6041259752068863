"""The threshold effect: thresholded metrics against the baseline at the fixed 0.5 threshold
and at the threshold tuned on inner validation data, side by side.

Reweighting (class weights, focal alpha) and resampling move the predicted probabilities of
the minority class up, so at a fixed 0.5 they predict it more often and "win" on F1, recall,
G-mean and balanced accuracy against plain cross-entropy, which predicts it too rarely at 0.5.
Once each model's threshold is chosen on validation data, that advantage is the threshold's,
not the loss's: this section measures how much of it is left.
"""

from __future__ import annotations

import pandas as pd

from bench import runschema as rs

from .frame import Prepared
from .model import Cell, Section, Table
from .sections import Comparison, baseline_comparisons, others
from .settings import VERDICT_PROBABILITY, Settings

THRESHOLDED = ("f1", "mcc", "gmean", "recall", "balanced_accuracy")
SETTINGS = ((rs.AT_HALF, "at 0.5"), (rs.AT_TUNED, "tuned"))


def _comparisons(prep: Prepared, st: Settings) -> dict[tuple[str, str], list[Comparison]]:
    """(metric, suffix) -> the baseline comparisons of that thresholded metric."""
    out = {}
    for metric in THRESHOLDED:
        for suffix, _ in SETTINGS:
            column = rs.TEST_PREFIX + metric + suffix
            if column in prep.finished and prep.finished[column].notna().any():
                out[(metric, suffix)] = baseline_comparisons(prep, st, column=column)
    return out


def _count(comps: list[Comparison]) -> tuple[int, int, int, list[float]]:
    """(pairs compared, median Δ > 0, Bayesian 'strategy better' verdicts, median Δs)."""
    results = [c.result for c in comps if c.result is not None]
    medians = [r.median_diff for r in results]
    better = sum(r.p_x_better is not None and r.p_x_better >= VERDICT_PROBABILITY for r in results)
    return len(results), sum(m > 0 for m in medians), better, medians


def _headline(found: dict[tuple[str, str], list[Comparison]], st: Settings) -> str:
    parts = []
    for suffix, label in SETTINGS:
        comps = [c for (_, s), cs in found.items() if s == suffix for c in cs]
        n, ahead, better, medians = _count(comps)
        if not n:
            continue
        spread = f" (median Δ {min(medians):+.3f} to {max(medians):+.3f})" if medians else ""
        parts.append(
            f"{label}, a strategy is ahead of {st.baseline} by median in {ahead} of {n} "
            f"booster x strategy x metric comparisons{spread}, better with posterior "
            f"probability >= {VERDICT_PROBABILITY} in {better}"
        )
    metrics = sorted({m for m, _ in found})
    return (
        f"Thresholded metrics ({', '.join(metrics)}) against {st.baseline}: "
        + "; ".join(parts)
        + ". What a strategy gains at 0.5 and loses once the threshold is tuned is the "
        "threshold's effect, not the loss's."
    )


def threshold_section(prep: Prepared, st: Settings) -> Section | None:
    """Per booster x strategy and metric: median Δ vs the baseline at 0.5 and tuned, with
    the Bayesian verdict marked; None when the sweep has no thresholded metric or no strategy
    besides the baseline."""
    if not others(prep, st):
        return None
    found = _comparisons(prep, st)
    if not found:
        return None
    sec = Section("The threshold effect: at 0.5 and tuned", "thresholds")
    multiclass = "n_classes" in prep.finished and (prep.finished["n_classes"] > 2).any()
    sec.say(_headline(found, st))
    if multiclass:
        sec.note(
            "Multiclass datasets decide by argmax at both settings, so their tuned and 0.5 "
            "values are the same; the contrast comes from the binary datasets."
        )
    metrics = [m for m in THRESHOLDED if (m, rs.AT_HALF) in found or (m, rs.AT_TUNED) in found]
    columns = ["booster", "strategy"] + [
        f"{m} {label}" for m in metrics for suffix, label in SETTINGS if (m, suffix) in found
    ]
    table = Table(
        columns,
        [],
        caption=f"Median Δ = strategy − {st.baseline} per {prep.unit} (> 0 favours the strategy); "
        f"bold: the strategy better with posterior probability >= {VERDICT_PROBABILITY} "
        f"(Bayesian signed-rank), '−' marks {st.baseline} better with that probability.",
    )
    by_pair: dict[tuple[str, str], dict[str, Comparison]] = {}
    for (m, suffix), comps in found.items():
        for c in comps:
            by_pair.setdefault((c.booster, c.strategy), {})[m + suffix] = c
    for (booster, strategy), row in by_pair.items():
        cells: list[str | Cell] = [booster, strategy]
        for m in metrics:
            for suffix, _ in SETTINGS:
                if (m, suffix) in found:
                    cells.append(_cell(row.get(m + suffix)))
        table.add(*cells)
    sec.blocks.append(table)
    return sec


def _cell(c: Comparison | None) -> Cell:
    if c is None or c.result is None or pd.isna(c.result.median_diff):
        return Cell("n/a")
    res = c.result
    text = f"{res.median_diff:+.3f}"
    if res.p_y_better is not None and res.p_y_better >= VERDICT_PROBABILITY:
        return Cell(text + " −")
    return Cell(text, bold=res.p_x_better is not None and res.p_x_better >= VERDICT_PROBABILITY)
