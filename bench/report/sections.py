"""The report's sections: each turns the prepared results into paragraphs, tables and figures."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from bench import runschema as rs

from . import figures, stats
from .frame import Prepared, lower_is_better, tier_order
from .load import SweepInfo
from .model import Cell, Code, GroupRow, Section, Table
from .tables import (
    fmt,
    fmt_p,
    main_table,
    names_list,
    oriented_diff,
    rank_summary,
    value_counts_text,
    versions_table,
)

FOCAL = "focal"
THRESHOLD_FREE = ("average_precision", "roc_auc")
TUNED = ("f1_tuned", "mcc_tuned", "gmean_tuned", "balanced_accuracy_tuned")
AT_HALF = ("f1_t050", "mcc_t050")
CALIBRATION = ("brier", "ece", "log_loss")


@dataclass(frozen=True)
class Settings:
    """Statistical choices, stated in the report."""

    rope: float = 0.01  # region of practical equivalence, metric units
    tie_tol: float = 0.001  # |per-dataset mean difference| <= tie_tol counts as a tie
    alpha: float = 0.05
    nsamples: int = 50000  # posterior samples of the Bayesian signed-rank test
    seed: int = 0


def _excluded_note(section: Section, what: str, excluded: list[str]) -> None:
    if excluded:
        section.note(
            f"{what}: {len(excluded)} dataset(s) excluded because a compared group lacks folds "
            f"(see Missing cells): {names_list(excluded)}."
        )


def overview(prep: Prepared, info: SweepInfo, st: Settings, n_runs: int) -> Section:
    g = prep.grid
    expected = len(g.datasets) * len(g.boosters) * len(g.strategies) * g.per_group
    sec = Section("Overview", "overview")
    direction = "lower" if prep.lower_is_better else "higher"
    sec.say(
        f"Sweep **{info.name}**"
        + (
            f" (MLflow experiment {info.experiment_name}, id {info.experiment_id})"
            if info.experiment_id
            else ""
        )
        + f". Metric compared: **{prep.metric}** ({direction} is better). "
        f"{len(g.datasets)} datasets x {len(g.boosters)} boosters ({', '.join(g.boosters)}) x "
        f"{len(g.strategies)} strategies ({', '.join(g.strategies)}) x {len(g.repeats)} repeats x "
        f"{len(g.folds)} outer folds = {expected} expected cells; {n_runs} cell runs read, "
        f"{expected - len(prep.missing)} with a FINISHED value of the metric, {len(prep.missing)} missing."
    )
    sec.say(
        "Method: each per-dataset value is the mean over outer folds and repeats; statistics are "
        "computed across datasets (Demsar 2006; Benavoli et al. 2016, 2017). Ranks: 1 = best, ties "
        "share the average rank. Friedman's test with the Iman-Davenport correction; post-hoc: "
        "pairwise Wilcoxon signed-rank tests (zero differences split) with Holm's correction, drawn "
        f"as critical-difference diagrams at alpha = {st.alpha}. Win/tie/loss: a per-dataset "
        f"difference within ±{st.tie_tol} counts as a tie. Bayesian signed-rank test (baycomp's "
        f"model, prior 0.5, {st.nsamples} posterior samples, seed {st.seed}) with a region of "
        f"practical equivalence (ROPE) of ±{st.rope} in metric units. For multiclass datasets "
        "the metric names hold macro averages."
    )
    return sec


def main_results(prep: Prepared) -> Section:
    sec = Section("Main table", "main-table")
    sec.blocks.append(main_table(prep))
    return sec


def _cd(prep: Prepared, cols: list[tuple[str, str]], label, title: str, sec: Section):
    """Oriented per-dataset scores of ``cols`` (complete datasets only), Friedman, ranks.

    A group complete on no dataset at all is left out (said in a note) rather than emptying
    the comparison of every other group."""
    complete = prep.complete()
    empty = [c for c in cols if not complete[c].any()]
    if empty:
        sec.note(f"{title}: left out {', '.join(label(c) for c in empty)}: no complete dataset.")
        cols = [c for c in cols if c not in empty]
    scores, excluded = prep.scores(cols)
    scores = stats.orient(scores, prep.lower_is_better)
    scores.columns = [label(c) for c in cols]
    _excluded_note(sec, title, excluded)
    fr = stats.friedman(scores)
    ranks = stats.average_ranks(scores) if len(scores) else pd.Series(np.nan, index=scores.columns)
    return scores, fr, ranks


def ranks_section(prep: Prepared, st: Settings) -> Section:
    sec = Section("Average ranks, Friedman test and critical differences", "ranks")
    g = prep.grid
    table = Table(
        columns=["booster", *g.strategies, "datasets", "Friedman chi2", "p", "Iman-Davenport p"],
        rows=[],
        caption="Average rank of each strategy within a booster over datasets complete for that "
        "booster (1 = best; bold = best rank).",
    )
    cd_inputs = []
    for b in g.boosters:
        cols = [(b, s) for s in g.strategies]
        scores, fr, ranks = _cd(prep, cols, lambda c: c[1], f"Ranks for {b}", sec)
        best = ranks.min()
        r = ranks.reindex(g.strategies)  # a left-out strategy shows as a dash
        row = [Cell(b)] + [Cell(fmt(float(r[s]), 2), bold=bool(r[s] == best)) for s in g.strategies]
        row += [
            Cell(str(fr.n_datasets)),
            Cell(fmt(fr.statistic, 2)),
            Cell(fmt_p(fr.pvalue)),
            Cell(fmt_p(fr.iman_davenport_p)),
        ]
        table.rows.append(row)
        if fr.skipped:
            sec.note(f"{b}: Friedman test skipped: {fr.skipped}.")
        cd_inputs.append((b, scores, ranks))
    sec.blocks.append(table)

    if len(g.boosters) > 1:
        all_cols = [(b, s) for b in g.boosters for s in g.strategies]
        scores, fr, ranks = _cd(prep, all_cols, lambda c: f"{c[0]}/{c[1]}", "All pairs", sec)
        if fr.skipped:
            sec.note(f"All booster x strategy pairs: Friedman test skipped: {fr.skipped}.")
        else:
            sec.say(
                f"All {fr.n_groups} booster x strategy pairs over {fr.n_datasets} datasets: "
                f"Friedman chi2 = {fmt(fr.statistic, 2)}, p = {fmt_p(fr.pvalue)}; Iman-Davenport "
                f"F = {fmt(fr.iman_davenport_f, 2)}, p = {fmt_p(fr.iman_davenport_p)}."
            )
        rt = rank_summary(ranks)
        rt.caption = "Average rank of every booster x strategy pair (1 = best)."
        sec.blocks.append(rt)
        cd_inputs.append(("all booster x strategy pairs", scores, ranks))
    small = [label for label, sc, _ in cd_inputs if 0 < len(sc) < 10]
    if small:
        sec.note(
            f"Fewer than 10 datasets for {', '.join(small)}: Friedman's chi-square approximation "
            "is rough there (Demsar 2006); the Iman-Davenport p is the better guide."
        )

    for label, sc, rk in cd_inputs:
        if sc.shape[1] < 2:
            continue  # one method: nothing to compare
        if len(sc) < stats.MIN_DATASETS_WILCOXON:
            sec.note(
                f"Critical-difference diagram for {label} skipped: the Wilcoxon-Holm post-hoc "
                f"needs >= {stats.MIN_DATASETS_WILCOXON} complete datasets, got {len(sc)}."
            )
            continue
        sig = stats.pairwise_wilcoxon_holm(sc)
        name = "cd_" + label.split()[0] if label in g.boosters else "cd_all"
        sec.blocks.append(
            figures.cd_diagram(
                rk,
                sig,
                name=name,
                alpha=st.alpha,
                caption=f"Critical-difference diagram, {label}, {len(sc)} datasets: average ranks "
                f"(left = better); bars join methods not significantly different (pairwise Wilcoxon "
                f"signed-rank, Holm-adjusted, alpha = {st.alpha}).",
            )
        )
    return sec


def _opponents(prep: Prepared) -> list[str]:
    return (
        [s for s in ("ce", "weighted") if s in prep.grid.strategies]
        if FOCAL in prep.grid.strategies
        else []
    )


class Comparison(NamedTuple):
    """focal vs ``other`` within ``booster``; ``result`` is None when no dataset is complete."""

    booster: str
    other: str
    result: stats.PairResult | None
    excluded: list[str]
    holm_p: float | None


def focal_comparisons(
    prep: Prepared, st: Settings, datasets: list[str] | None = None
) -> list[Comparison]:
    """focal vs ce and vs weighted per booster (restricted to ``datasets`` if given), with
    Holm's correction over the Wilcoxon tests of this family."""
    out: list[tuple[str, str, stats.PairResult | None, list[str]]] = []
    for b in prep.grid.boosters:
        for other in _opponents(prep):
            scores, excluded = prep.scores([(b, FOCAL), (b, other)])
            if datasets is not None:
                scores = scores.loc[[d for d in scores.index if d in set(datasets)]]
                excluded = [d for d in excluded if d in set(datasets)]
            if len(scores) == 0:
                out.append((b, other, None, excluded))
                continue
            x = stats.orient(scores[(b, FOCAL)].to_numpy(), prep.lower_is_better)
            y = stats.orient(scores[(b, other)].to_numpy(), prep.lower_is_better)
            res = stats.compare_pair(
                x, y, tie_tol=st.tie_tol, rope=st.rope, nsamples=st.nsamples, seed=st.seed
            )
            out.append((b, other, res, excluded))
    adjusted = stats.holm([r.wilcoxon_p if r else None for _, _, r, _ in out])
    return [Comparison(*row, p) for row, p in zip(out, adjusted, strict=True)]


COMPARE_COLUMNS = [
    "booster",
    "focal vs",
    "datasets",
    "win/tie/loss",
    "mean Δ",
    "median Δ",
    "Wilcoxon p",
    "Holm p",
    "P(focal better)",
    "P(rope)",
    "P(other better)",
]


def _comparison_cells(b: str, other: str, res, holm_p, alpha: float) -> list[Cell]:
    if res is None:
        return [Cell(b), Cell(other), Cell("0")] + [Cell("–")] * 8
    return [
        Cell(b),
        Cell(other),
        Cell(str(res.n_datasets)),
        Cell(f"{res.wins}/{res.ties}/{res.losses}"),
        Cell(fmt(res.mean_diff, 4)),
        Cell(fmt(res.median_diff, 4)),
        Cell(fmt_p(res.wilcoxon_p)),
        Cell(fmt_p(holm_p), bold=holm_p is not None and holm_p < alpha),
        Cell(fmt(res.p_x_better)),
        Cell(fmt(res.p_rope)),
        Cell(fmt(res.p_y_better)),
    ]


def _skip_notes(sec: Section, prefix: str, rows: list[Comparison]) -> None:
    """One note per reason a test was skipped, naming the comparisons it applies to."""
    reasons: dict[str, list[str]] = {}
    for b, other, res, excluded, _ in rows:
        where = f"{b} focal vs {other}"
        _excluded_note(sec, f"{prefix}{where}", excluded)
        if res is None:
            reasons.setdefault("no comparison: no dataset has both groups complete", []).append(
                where
            )
            continue
        for why in (res.wilcoxon_skipped, res.bayes_skipped):
            if why:
                reasons.setdefault(f"test skipped: {why}", []).append(where)
    for why, places in reasons.items():
        which = "every comparison" if len(places) == len(rows) else ", ".join(places)
        sec.note(f"{prefix}{why} ({which}).")


def _compare_caption(prep: Prepared, st: Settings, family: str) -> str:
    return (
        f"{prep.metric}; Δ = focal − other per dataset, oriented so Δ > 0 favours focal. Ties: "
        f"|Δ| <= {st.tie_tol}. Holm correction over the {family}; bold: Holm p < {st.alpha}. "
        f"Bayesian signed-rank probabilities with ROPE ±{st.rope}."
    )


def focal_section(prep: Prepared, st: Settings) -> Section:
    sec = Section("Focal loss vs cross-entropy and class weighting", "focal")
    if not _opponents(prep):
        sec.note("This sweep has no focal strategy together with ce or weighted: no comparison.")
        return sec
    rows = focal_comparisons(prep, st, None)
    table = Table(COMPARE_COLUMNS, [], caption=_compare_caption(prep, st, "tests in this table"))
    for b, other, res, _, p in rows:
        table.rows.append(_comparison_cells(b, other, res, p, st.alpha))
    sec.blocks.append(table)
    _skip_notes(sec, "", rows)
    panels = []
    for b in prep.grid.boosters:
        for other in _opponents(prep):
            scores, _ = prep.scores([(b, other), (b, FOCAL)])
            if len(scores):
                panels.append(
                    (
                        f"{b}: focal vs {other}",
                        scores[(b, other)].rename(other),
                        scores[(b, FOCAL)].rename(FOCAL),
                    )
                )
    if panels:
        better = "below" if prep.lower_is_better else "above"
        sec.blocks.append(
            figures.pair_scatter(
                panels,
                metric=prep.metric.removeprefix(rs.TEST_PREFIX),
                name="focal_scatter",
                caption=f"Per-dataset {prep.metric}: each point is a dataset; points {better} the "
                "diagonal favour focal.",
            )
        )
    return sec


def tier_section(prep: Prepared, st: Settings) -> Section:
    sec = Section("Focal comparison by imbalance tier", "tiers")
    if not _opponents(prep):
        sec.note("This sweep has no focal strategy together with ce or weighted: no comparison.")
        return sec
    table = Table(
        ["tier", *COMPARE_COLUMNS], [], caption=_compare_caption(prep, st, "tests of each tier")
    )
    for tier in tier_order(prep.tiers):
        members = [d for d in prep.datasets if prep.tiers[d] == tier]
        rows = focal_comparisons(prep, st, members)
        table.rows.append(GroupRow(f"tier: {tier} ({len(members)} dataset(s))"))
        for b, other, res, _, p in rows:
            table.rows.append([Cell(tier), *_comparison_cells(b, other, res, p, st.alpha)])
        _skip_notes(sec, f"tier {tier}: ", rows)
    sec.blocks.insert(0, table)
    return sec


def _metric_table(prep: Prepared, names: tuple[str, ...], caption: str) -> tuple[Table, list[str]]:
    """Rows booster/strategy, one column per metric: mean over datasets (average rank)."""
    g = prep.grid
    present = [m for m in names if rs.TEST_PREFIX + m in prep.finished.columns]
    table = Table(["booster", "strategy", *present], [], caption=caption)
    cells: dict[tuple[str, str], list[Cell]] = {
        (b, s): [Cell(b), Cell(s)] for b in g.boosters for s in g.strategies
    }
    for m in present:
        col = rs.TEST_PREFIX + m
        lower = lower_is_better(col)
        for b in g.boosters:
            cols = [(b, s) for s in g.strategies]
            scores, _ = prep.scores(cols, col)
            ranks = stats.average_ranks(stats.orient(scores, lower)) if len(scores) else None
            for s in g.strategies:
                if ranks is None:
                    cells[(b, s)].append(Cell("–"))
                    continue
                best = bool(ranks[(b, s)] == ranks.min())
                cells[(b, s)].append(
                    Cell(
                        f"{fmt(float(scores[(b, s)].mean()))} ({fmt(float(ranks[(b, s)]), 2)})",
                        bold=best,
                    )
                )
    table.rows = list(cells.values())
    return table, present


def _diff_figure(prep: Prepared, present: list[str], name: str, caption: str):
    diffs: dict[str, dict[str, np.ndarray]] = {}
    for m in present:
        col = rs.TEST_PREFIX + m
        diffs[m] = {}
        for b in prep.grid.boosters:
            for other in _opponents(prep):
                scores, _ = prep.scores([(b, FOCAL), (b, other)], col)
                diffs[m][f"{b} vs {other}"] = oriented_diff(
                    scores[(b, FOCAL)], scores[(b, other)], lower_is_better(col)
                )
    return figures.difference_boxes(diffs, name=name, caption=caption)


def metrics_section(prep: Prepared) -> Section:
    sec = Section("Threshold-free and tuned-threshold metrics", "metrics")
    table, present = _metric_table(
        prep,
        THRESHOLD_FREE + TUNED + AT_HALF,
        "Mean over datasets (average rank within the booster, bold = best) of threshold-free "
        "metrics, metrics at the threshold tuned on inner validation data (_tuned), and at 0.5 "
        "(_t050). Each metric uses the datasets complete for that booster.",
    )
    sec.blocks.append(table)
    missing = [m for m in THRESHOLD_FREE + TUNED + AT_HALF if m not in present]
    if missing:
        sec.note(f"Metrics not logged by this sweep: {', '.join(missing)}.")
    if _opponents(prep) and present:
        sec.blocks.append(
            _diff_figure(
                prep,
                [m for m in present if m not in AT_HALF],
                "metric_differences",
                "Per-dataset differences focal − other, oriented so > 0 favours focal, per metric.",
            )
        )
    return sec


def calibration_section(prep: Prepared) -> Section:
    sec = Section("Calibration", "calibration")
    table, present = _metric_table(
        prep,
        CALIBRATION,
        "Brier score, expected calibration error and log loss (lower is better): mean over datasets "
        "(average rank within the booster, bold = best). Focal loss reshapes probabilities, so a "
        "cost here is expected even when ranking metrics improve.",
    )
    sec.blocks.append(table)
    if _opponents(prep) and present:
        sec.blocks.append(
            _diff_figure(
                prep,
                present,
                "calibration_differences",
                "Per-dataset calibration differences focal − other, oriented so > 0 favours focal "
                "(i.e. focal has the lower loss).",
            )
        )
    return sec


def cost_section(prep: Prepared) -> Section:
    sec = Section("Cost: fit time", "cost")
    g, f = prep.grid, prep.finished
    if rs.M_FIT_TIME not in f:
        sec.note(f"The cell runs hold no {rs.M_FIT_TIME} metric: no cost table.")
        return sec
    table = Table(
        [
            "booster",
            "strategy",
            "cells",
            "median fit s",
            "mean fit s",
            "total fit h",
            "median vs ce",
            "total wall h",
        ],
        [],
        caption=f"{rs.M_FIT_TIME} per cell (every trial + refit); {rs.M_WALL_TIME} total per group.",
    )
    times: dict[str, np.ndarray] = {}
    for b in g.boosters:
        ce_med = f.loc[(f.booster == b) & (f.strategy == "ce"), rs.M_FIT_TIME].median()
        for s in g.strategies:
            t = f.loc[(f.booster == b) & (f.strategy == s), rs.M_FIT_TIME].dropna()
            wall = f.loc[(f.booster == b) & (f.strategy == s)].get(rs.M_WALL_TIME)
            times[f"{b}/{s}"] = t.to_numpy(dtype=float)
            ratio = t.median() / ce_med if len(t) and ce_med and not np.isnan(ce_med) else None
            table.add(
                b,
                s,
                str(len(t)),
                fmt(t.median(), 2),
                fmt(t.mean(), 2),
                fmt(t.sum() / 3600, 3),
                fmt(ratio, 2) + ("x" if ratio else ""),
                fmt(wall.sum() / 3600, 3) if wall is not None else "–",
            )
    sec.blocks.append(table)
    sec.blocks.append(
        figures.time_boxes(times, name="fit_time", caption="Fit seconds per cell (log scale).")
    )
    return sec


def missing_section(prep: Prepared, limit: int = 200) -> Section:
    sec = Section("Missing cells", "missing")
    miss = prep.missing
    if miss.empty:
        sec.say("None: every expected cell has a FINISHED run with the metric.")
        return sec
    sec.note(
        f"{len(miss)} expected cell(s) have no FINISHED value of {prep.metric}. Nothing is imputed: "
        "per-dataset means use the folds present (marked † in the main table), and every rank test "
        "and comparison uses only the datasets complete for the groups it compares; the datasets "
        "excluded are named in each section. The full list is in missing_cells.csv."
    )
    summary = miss.groupby(["booster", "strategy", "reason"]).size().reset_index(name="cells")
    t = Table(["booster", "strategy", "reason", "cells"], [], caption="Missing cells per group.")
    for row in summary.itertuples(index=False):
        t.add(*map(str, row))
    sec.blocks.append(t)
    detail = Table(
        list(miss.columns),
        [],
        caption=f"Missing cells (first {min(limit, len(miss))} of {len(miss)}).",
    )
    for row in miss.head(limit).itertuples(index=False):
        detail.add(*map(str, row))
    sec.blocks.append(detail)
    return sec


def reproducibility_section(df: pd.DataFrame, info: SweepInfo) -> Section:
    sec = Section("Configuration and reproducibility", "reproduce")
    sec.say("Command that reproduces the sweep:")
    sec.blocks.append(
        Code(info.command or "(not recorded: experiment tag bench.command is absent)")
    )
    facts = Table(["item", "value"], [])
    facts.add("sweep", info.name)
    facts.add("tracking URI", info.tracking_uri or "–")
    facts.add("config hash", info.config_hash or "–")
    facts.add("created", info.created or "–")
    facts.add("git commit", value_counts_text(df["git_commit"]) if "git_commit" in df else "–")
    facts.add("hosts", value_counts_text(df["host"]) if "host" in df else "–")
    sec.blocks.append(facts)
    versions = versions_table(df)
    versions.caption = "Library versions recorded by the cell runs."
    if versions.rows:
        sec.blocks.append(versions)
    else:
        sec.note("The cell runs record no library versions (tags bench.version.*).")
    sec.say("Sweep configuration:")
    sec.blocks.append(
        Code(
            json.dumps(info.config, indent=2, sort_keys=True, default=str)
            if info.config
            else "(not recorded)"
        )
    )
    return sec
