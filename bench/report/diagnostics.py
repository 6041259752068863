"""Inner validation against outer test: where a refit is not the model that was validated.

Every cell is tuned on inner validation parts and scored once on its outer test part; the two
differ by selection optimism (a few hundredths) and by noise. A booster whose outer-test score
falls far below its own inner score on a dataset where the other boosters' do not is the mark
of a defect between validation and refit (the published sweep's CatBoost refit on categorical
data: inner AP 0.99, outer 0.30, where LightGBM and XGBoost scored 0.95-1.0). The section lists
those first, as a diagnostic to read before any conclusion.
"""

from __future__ import annotations

import pandas as pd

from bench import runschema as rs
from bench.metrics import LOWER_IS_BETTER

from .model import Cell, Section, Table

GAP_FLAG = 0.15  # a booster's gap this much above the other boosters' on the same dataset
LISTED = 25  # flagged (dataset, booster, strategy) groups shown; the rest are counted


def inner_outer_gaps(results: pd.DataFrame, target: str) -> pd.DataFrame | None:
    """One row per FINISHED cell: inner score, outer score and gap (inner - outer), both
    oriented so that higher is better; None when the table lacks what this needs."""
    outer_col = rs.TEST_PREFIX + target
    needed = {"inner_best_score", outer_col, "status", "dataset", "booster", "strategy"}
    if not needed <= set(results.columns):
        return None
    done = results[results["status"] == rs.FINISHED]
    outer = pd.to_numeric(done[outer_col], errors="coerce")
    if target in LOWER_IS_BETTER:  # the inner score is already oriented (higher is better)
        outer = -outer
    frame = done[["dataset", "booster", "strategy"]].copy()
    frame["inner"] = pd.to_numeric(done["inner_best_score"], errors="coerce")
    frame["outer"] = outer
    frame["gap"] = frame["inner"] - frame["outer"]
    return frame.dropna(subset=["gap"])


def flagged_groups(gaps: pd.DataFrame) -> pd.DataFrame:
    """(dataset, booster, strategy) whose mean gap exceeds the other boosters' mean gap on the
    same dataset and strategy by more than ``GAP_FLAG``, largest excess first."""
    groups = gaps.groupby(["dataset", "strategy", "booster"], as_index=False)[
        ["inner", "outer", "gap"]
    ].mean()
    rows = []
    for _, same in groups.groupby(["dataset", "strategy"]):
        for _, row in same.iterrows():
            rest = same[same["booster"] != row["booster"]]
            if rest.empty:
                continue
            excess = row["gap"] - rest["gap"].median()
            if excess > GAP_FLAG:
                rows.append(
                    {**row.to_dict(), "others_outer": rest["outer"].median(), "excess": excess}
                )
    columns = ["dataset", "strategy", "booster", "inner", "outer", "gap", "others_outer", "excess"]
    return pd.DataFrame(rows, columns=columns).sort_values("excess", ascending=False)


def inner_outer_section(results: pd.DataFrame, target: str) -> Section | None:
    """Per booster: the mean and median inner-minus-outer gap of the tuning target; then the
    (dataset, booster, strategy) groups whose gap stands out against the other boosters'."""
    gaps = inner_outer_gaps(results, target)
    if gaps is None or gaps.empty:
        return None
    sec = Section("Inner validation vs outer test (diagnostic)", "inner-outer")
    sec.say(
        f"Gap = a cell's best inner validation {target} minus its outer-test {target} (oriented: "
        "> 0 means the outer test scored worse). Selecting the best of many trials makes it "
        "positive by a few hundredths; a booster whose gap on a dataset exceeds the other "
        f"boosters' by more than {GAP_FLAG} trained or scored something other than what it "
        "validated (or the dataset is too small to tell): read those rows before any conclusion."
    )
    per_booster = Table(["booster", "cells", "mean gap", "median gap", "cells with gap > 0.2"], [])
    for booster, g in gaps.groupby("booster", sort=False):
        per_booster.add(
            str(booster),
            str(len(g)),
            f"{g['gap'].mean():+.4f}",
            f"{g['gap'].median():+.4f}",
            str(int((g["gap"] > 0.2).sum())),
        )
    sec.blocks.append(per_booster)
    flagged = flagged_groups(gaps)
    if flagged.empty:
        sec.say(
            f"No booster's gap exceeds the other boosters' on the same dataset and strategy by "
            f"more than {GAP_FLAG}."
        )
        return sec
    table = Table(
        ["dataset", "strategy", "booster", "inner", "outer", "gap", "other boosters' outer"],
        [],
        caption=f"{len(flagged)} dataset x strategy x booster group(s) whose mean gap over folds "
        f"exceeds the other boosters' by more than {GAP_FLAG}"
        + (f"; the {LISTED} largest shown" if len(flagged) > LISTED else ""),
    )
    for _, r in flagged.head(LISTED).iterrows():
        table.add(
            str(r["dataset"]),
            str(r["strategy"]),
            Cell(str(r["booster"]), bold=True),
            f"{r['inner']:.3f}",
            f"{r['outer']:.3f}",
            f"{r['gap']:+.3f}",
            f"{r['others_outer']:.3f}",
        )
    sec.blocks.append(table)
    by_booster = flagged["booster"].value_counts()
    sec.note(
        "Flagged groups by booster: "
        + ", ".join(f"{b} {n}" for b, n in by_booster.items())
        + ". A defect concentrates on one booster and on datasets that share a trait "
        "(categorical columns, size); noise spreads over all."
    )
    return sec
