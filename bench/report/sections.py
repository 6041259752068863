"""The report's sections: each turns the prepared results into paragraphs, tables and figures.

Every across-dataset test counts *units*: families (the mean over a family's datasets of their
per-dataset means, the default) or datasets (``--unit dataset``). Every strategy is compared
with the baseline strategy (``--baseline``, default ``ce``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bench import runschema as rs
from bench.redaction import redact

from . import figures, stats, verdicts
from .frame import Prepared, UnitScores, lower_is_better, tier_order
from .load import SweepInfo
from .model import Cell, Code, GroupRow, Section, Table
from .settings import (
    MIN_UNITS,
    ROPE_DEFAULTS,
    TIE_FRACTION,
    VERDICT_PROBABILITY,
    Settings,
    metric_base,
)
from .tables import (
    DASH,
    TOO_FEW,
    fmt,
    fmt_p,
    main_table,
    names_list,
    oriented_diff,
    rank_summary,
    value_counts_text,
    versions_table,
)

THRESHOLD_FREE = ("average_precision", "roc_auc")
TUNED = ("f1_tuned", "mcc_tuned", "gmean_tuned", "balanced_accuracy_tuned")
AT_HALF = ("f1_t050", "mcc_t050")
CALIBRATED = ("log_loss_cal", "brier_cal", "ece_cal")
RAW_CALIBRATION = ("log_loss", "brier", "ece")
FAILED_MARK = "‡"

__all__ = ["Settings"]


def _units_word(prep: Prepared, n: int | None = None) -> str:
    return prep.unit if n == 1 else stats.plural(prep.unit)


def _excluded_note(section: Section, what: str, excluded: list[str]) -> None:
    if excluded:
        section.note(
            f"{what}: {len(excluded)} dataset(s) excluded because a compared group lacks cells "
            f"(not run, or skipped by the planner; see Failed and missing cells): "
            f"{names_list(excluded)}."
        )


# --- comparisons with the baseline -----------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """``strategy`` vs ``baseline`` within ``booster`` over units; ``result`` is None when no
    dataset is complete for both."""

    booster: str
    strategy: str
    baseline: str
    result: stats.PairResult | None
    holm_p: float | None
    scores: UnitScores
    failed: int  # failed cells of the strategy scored as the class prior, in these datasets
    failed_baseline: int
    rope: float
    tie: float
    nsamples: int = stats.BAYES_SAMPLES  # posterior samples behind the probabilities

    @property
    def n(self) -> int:
        return self.result.n_datasets if self.result else 0


def others(prep: Prepared, st: Settings) -> list[str]:
    return [s for s in prep.grid.strategies if s != st.baseline]


def baseline_comparisons(
    prep: Prepared,
    st: Settings,
    *,
    column: str | None = None,
    datasets: list[str] | None = None,
) -> list[Comparison]:
    """Every strategy vs the baseline per booster (of ``column``, default the metric; over
    ``datasets`` if given), Holm's correction over the Wilcoxon tests of this list."""
    col = column or prep.metric
    lower = lower_is_better(col)
    rope, tie = st.rope_for(col), st.tie_for(col)
    rows: list[dict[str, Any]] = []
    for b in prep.grid.boosters:
        for s in others(prep, st):
            us = prep.scores([(b, s), (b, st.baseline)], column, datasets)
            res = None
            if us.n:
                x = stats.orient(us.values[(b, s)].to_numpy(), lower)
                y = stats.orient(us.values[(b, st.baseline)].to_numpy(), lower)
                res = stats.compare_pair(
                    x, y, tie_tol=tie, rope=rope, nsamples=st.nsamples, seed=st.seed, unit=prep.unit
                )
            rows.append(
                {
                    "booster": b,
                    "strategy": s,
                    "baseline": st.baseline,
                    "result": res,
                    "scores": us,
                    "failed": prep.failed_cells((b, s), us.datasets),
                    "failed_baseline": prep.failed_cells((b, st.baseline), us.datasets),
                    "rope": rope,
                    "tie": tie,
                    "nsamples": st.nsamples,
                }
            )
    adjusted = stats.holm([r["result"].wilcoxon_p if r["result"] else None for r in rows])
    return [Comparison(holm_p=p, **r) for r, p in zip(rows, adjusted, strict=True)]


def verdict(c: Comparison, unit_plural: str) -> str:
    """The strength of evidence, never more than the tests support: a Bayesian posterior
    probability >= 0.95 for one side or for the ROPE, else inconclusive."""
    res = c.result
    if res is None:
        return "no comparison: no dataset complete for both"
    if res.p_x_better is None or res.p_rope is None or res.p_y_better is None:
        return f"too few {unit_plural} ({res.n_datasets}) for a test: no verdict"
    if res.p_x_better >= VERDICT_PROBABILITY:
        said = f"{c.strategy} better with probability {fmt(res.p_x_better)}"
    elif res.p_y_better >= VERDICT_PROBABILITY:
        said = f"{c.baseline} better with probability {fmt(res.p_y_better)}"
    elif res.p_rope >= VERDICT_PROBABILITY:
        said = f"practically equivalent (within ±{c.rope:g}) with probability {fmt(res.p_rope)}"
    else:
        said = "inconclusive"
    return said + _borderline_note(c)


def _borderline_note(c: Comparison) -> str:
    """Flags a verdict that Monte-Carlo error of the posterior alone could turn: the largest
    of the three probabilities lies within a few standard errors of the threshold."""
    res = c.result
    if res is None or res.p_x_better is None:
        return ""
    top = max(res.p_x_better, res.p_rope or 0.0, res.p_y_better or 0.0)
    if not stats.borderline(top, VERDICT_PROBABILITY, c.nsamples):
        return ""
    error = stats.monte_carlo_error(VERDICT_PROBABILITY, c.nsamples)
    return (
        f" (borderline: {fmt(top)} is within the posterior's Monte-Carlo error, ±{error:.4f} "
        f"a standard error, of {VERDICT_PROBABILITY})"
    )


def _holm_phrase(c: Comparison, alpha: float) -> str:
    res = c.result
    if res is None or res.wilcoxon_p is None:
        why = res.wilcoxon_skipped if res else "no comparison"
        return f"Wilcoxon signed-rank: too few ({why})"
    sig = "significant" if c.holm_p is not None and c.holm_p < alpha else "not significant"
    return f"Wilcoxon signed-rank, Holm-adjusted p = {fmt_p(c.holm_p)} ({sig} at {alpha})"


def _bayes_phrase(c: Comparison) -> str:
    res = c.result
    if res is None or res.p_x_better is None:
        why = res.bayes_skipped if res else "no comparison"
        return f"Bayesian signed-rank: too few ({why})"
    return (
        f"Bayesian signed-rank: P({c.strategy} better) = {fmt(res.p_x_better)}, "
        f"P(practically equivalent, ±{c.rope:g}) = {fmt(res.p_rope)}, "
        f"P({c.baseline} better) = {fmt(res.p_y_better)}"
    )


def _sentence(prep: Prepared, c: Comparison, st: Settings) -> str:
    res = c.result
    metric = prep.metric.removeprefix(rs.TEST_PREFIX)
    if res is None:
        return f"**{c.booster}, {c.strategy} vs {c.baseline}**: no dataset complete for both."
    failed = ""
    if c.failed or c.failed_baseline:
        failed = (
            f" Failed cells scored as the class prior: {c.strategy} {c.failed}, "
            f"{c.baseline} {c.failed_baseline}."
        )
    return (
        f"**{c.booster}, {c.strategy} vs {c.baseline}** over "
        f"{prep.unit_phrase(c.scores.datasets)}: {c.strategy} better on {res.wins}, tied on "
        f"{res.ties} (|Δ| <= {c.tie:g}), worse on {res.losses} {_units_word(prep, res.n_datasets)}; "
        f"median difference {res.median_diff:+.4f} {metric} (oriented: > 0 favours "
        f"{c.strategy}); {_holm_phrase(c, st.alpha)}; {_bayes_phrase(c)}. "
        f"**Verdict: {verdict(c, stats.plural(prep.unit))}.**{failed}"
    )


COMPARE_COLUMNS = [
    "booster",
    "strategy",
    "units",
    "win/tie/loss",
    "mean Δ",
    "median Δ",
    "Wilcoxon p",
    "Holm p",
    "P(strategy better)",
    "P(rope)",
    "P(baseline better)",
    "failed cells",
    "verdict",
]


def _probabilities(res: stats.PairResult) -> list[str]:
    """The Bayesian signed-rank posterior (strategy better, ROPE, baseline better), or 'too few'
    where the test did not run."""
    values = (res.p_x_better, res.p_rope, res.p_y_better)
    return [TOO_FEW if v is None else fmt(v) for v in values]


def _comparison_cells(c: Comparison, st: Settings, unit_plural: str) -> list[Cell]:
    res = c.result
    failed = Cell(f"{c.failed}/{c.failed_baseline}")
    if res is None:
        return (
            [Cell(c.booster), Cell(c.strategy), Cell("0")]
            + [Cell(DASH)] * 8
            + [
                failed,
                Cell(verdict(c, unit_plural)),
            ]
        )

    wp = TOO_FEW if res.wilcoxon_p is None else fmt_p(res.wilcoxon_p)
    hp = TOO_FEW if c.holm_p is None else fmt_p(c.holm_p)
    return [
        Cell(c.booster),
        Cell(c.strategy),
        Cell(str(res.n_datasets)),
        Cell(f"{res.wins}/{res.ties}/{res.losses}"),
        Cell(fmt(res.mean_diff, 4)),
        Cell(fmt(res.median_diff, 4)),
        Cell(wp),
        Cell(hp, bold=c.holm_p is not None and c.holm_p < st.alpha),
        *map(Cell, _probabilities(res)),
        failed,
        Cell(verdict(c, unit_plural)),
    ]


def _comparison_table(
    prep: Prepared, rows: list[Comparison], st: Settings, what: str, family: str
) -> Table:
    col = rows[0] if rows else None
    rope = col.rope if col else st.rope_for(prep.metric)
    tie = col.tie if col else st.tie_for(prep.metric)
    return Table(
        COMPARE_COLUMNS,
        [],
        caption=f"{what}; Δ = strategy − {st.baseline} per {prep.unit}, oriented so Δ > 0 favours "
        f"the strategy. units: {stats.plural(prep.unit)} compared. Ties: |Δ| <= {tie:g}. Holm "
        f"correction over the {family}; bold: Holm p < {st.alpha}. Bayesian signed-rank "
        f"probabilities with ROPE ±{rope:g}; '{TOO_FEW}': fewer {stats.plural(prep.unit)} than "
        f"the test needs (>= {MIN_UNITS}, Wilcoxon >= {stats.MIN_DATASETS_WILCOXON}), so no number "
        f"is shown. failed cells: of the strategy / of {st.baseline}, scored as the class prior "
        f"({FAILED_MARK}).",
    )


def _skip_notes(sec: Section, prefix: str, rows: list[Comparison]) -> None:
    """One note per reason a test was skipped, naming the comparisons it applies to."""
    reasons: dict[str, list[str]] = {}
    for c in rows:
        where = f"{c.booster} {c.strategy} vs {c.baseline}"
        _excluded_note(sec, f"{prefix}{where}", c.scores.excluded)
        if c.result is None:
            reasons.setdefault("no comparison: no dataset has both groups complete", []).append(
                where
            )
            continue
        for why in (c.result.wilcoxon_skipped, c.result.bayes_skipped):
            if why:
                reasons.setdefault(f"test skipped, shown as '{TOO_FEW}': {why}", []).append(where)
    for why, places in reasons.items():
        which = "every comparison" if len(places) == len(rows) else ", ".join(places)
        sec.note(f"{prefix}{why} ({which}).")


# --- the answer first ------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """What the overview says about the tuning budget and the inner validation."""

    trials: int | None
    startup: str  # "4" or "2-4", with its source
    startup_value: int | None
    below_startup: bool
    inner: str
    minority: str


def tuning_budget(prep: Prepared, info: SweepInfo) -> Budget:
    """Read defensively: cells' metrics first, then the sweep config, else "not recorded"."""
    cfg, f = info.config, prep.finished
    trials = cfg.get("trials") if isinstance(cfg.get("trials"), int) else None
    if trials is None and rs.M_N_TRIALS in f and f[rs.M_N_TRIALS].notna().any():
        trials = int(f[rs.M_N_TRIALS].median())
    sampler = cfg.get("sampler", "tpe") if cfg else None
    startup_value: int | None = None
    if rs.M_STARTUP_TRIALS in f and f[rs.M_STARTUP_TRIALS].notna().any():
        v = f[rs.M_STARTUP_TRIALS].dropna()
        lo, hi = int(v.min()), int(v.max())
        startup_value = hi
        startup = f"{lo}" if lo == hi else f"{lo}-{hi}"
        startup += " (recorded by the cells)"
    elif sampler == "random":
        startup_value = trials
        startup = "all (random sampler)"
    elif "startup_trials" in cfg and trials is not None:
        from bench.config import adaptive_startup_trials

        raw = cfg["startup_trials"]
        startup_value = raw if isinstance(raw, int) else adaptive_startup_trials(trials)
        startup = f"{startup_value} (from the sweep configuration)"
    elif trials is not None and sampler == "tpe":
        startup_value = 10  # Optuna TPESampler's default n_startup_trials, before it was set
        startup = "10 (Optuna TPE's default start-up; the sweep did not record it)"
    else:
        startup = "not recorded"
    below = (
        sampler == "tpe"
        and trials is not None
        and startup_value is not None
        and trials <= startup_value
    )
    if "inner_kind" in f and f["inner_kind"].notna().any():
        inner = value_counts_text(f["inner_kind"])
    elif isinstance(cfg.get("inner"), dict):
        i = cfg["inner"]
        kind = i.get("kind", "holdout")
        inner = (
            f"{kind} ({i.get('folds')} folds)"
            if kind == "kfold"
            else f"{kind} (validation fraction {i.get('valid_fraction')})"
        ) + ", from the sweep configuration"
    else:
        inner = "not recorded"
    if rs.M_INNER_VALID_MINORITY in f and f[rs.M_INNER_VALID_MINORITY].notna().any():
        m = f[rs.M_INNER_VALID_MINORITY].dropna()
        minority = f"min {int(m.min())}, median {fmt(float(m.median()), 1)} rows"
    else:
        minority = "not recorded"
    return Budget(trials, startup, startup_value, below, inner, minority)


def _budget_warning(b: Budget) -> str | None:
    if not b.below_startup:
        return None
    return (
        f"The tuning budget ({b.trials} trials a cell) does not exceed the sampler's random "
        f"start-up ({b.startup}): every trial was random search, TPE never proposed one. "
        "Treat the results as those of random search with this budget."
    )


def summary_section(
    prep: Prepared,
    st: Settings,
    comps: list[Comparison],
    budget: Budget,
    per_dataset: list[verdicts.DatasetVerdict] | None = None,
) -> Section:
    """The answer first. With too few units for an across-dataset test, it leads with the
    per-dataset verdicts (``per_dataset``) instead."""
    sec = Section("Summary", "summary")
    few = per_dataset is not None and verdicts.few_datasets(prep)
    if few:
        verdicts.lead(prep, st, per_dataset or [], sec)
    metric = prep.metric.removeprefix(rs.TEST_PREFIX)
    direction = "lower" if prep.lower_is_better else "higher"
    units = prep.unit_phrase(prep.datasets)
    how = (
        "each family counts once: its value is the mean of its datasets' per-dataset means"
        if prep.unit == "family"
        else "each dataset counts once"
    )
    if not few:
        sec.say(
            f"Each strategy against the baseline **{st.baseline}**, per booster, on "
            f"**{metric}** ({direction} is better), over {units} ({how}). Verdicts come from "
            f"the Bayesian signed-rank test: a side is named only when its posterior "
            f"probability is >= {VERDICT_PROBABILITY}; no test is run on fewer than "
            f"{MIN_UNITS} {stats.plural(prep.unit)}."
        )
    if prep.family_note:
        sec.note(prep.family_note)
    n_failed = int(prep.failed.to_numpy().sum())
    n_missing = int((~prep.missing["scored_as_prior"]).sum())
    if n_failed:
        per = prep.failed.sum(axis=0)
        groups = ", ".join(f"{b}/{s} {int(n)}" for (b, s), n in per.items() if n)
        sec.note(
            f"{n_failed} failed cell(s) are scored as the constant class-prior predictor on their "
            f"outer fold, so they count against the strategy that failed ({groups})."
        )
    if n_missing:
        sec.note(
            f"{n_missing} expected cell(s) were not run or have no value; they are not imputed, "
            "and the datasets concerned leave the comparisons that need them."
        )
    warning = _budget_warning(budget)
    if warning:
        sec.note(warning)
    if not comps:
        sec.note(
            f"The sweep has no strategy besides the baseline {st.baseline}: nothing to compare."
        )
        return sec
    if few:
        sec.note(
            f"Across datasets: {units}, too few for a test (>= {MIN_UNITS} "
            f"{stats.plural(prep.unit)}); the across-dataset verdicts below say 'too few'."
        )
    else:
        for c in comps:
            sec.say(_sentence(prep, c, st))
    table = Table(
        ["booster", "strategy", "units", "win/tie/loss", "median Δ", "Holm p",
         "P(better)", "P(rope)", f"P({st.baseline} better)", "verdict"],
        [],
        caption=f"Verdicts on {metric}, each strategy vs {st.baseline} (details: 'Each strategy "
        f"vs the baseline'). units: {stats.plural(prep.unit)}; P: the Bayesian signed-rank "
        "test's posterior probabilities (the strategy better, practically equivalent, the "
        "baseline better).",
    )  # fmt: skip

    for c in comps:
        res = c.result
        table.add(
            c.booster,
            c.strategy,
            str(c.n),
            f"{res.wins}/{res.ties}/{res.losses}" if res else DASH,
            fmt(res.median_diff, 4) if res else DASH,
            TOO_FEW if c.holm_p is None else fmt_p(c.holm_p),
            *(_probabilities(res) if res else [DASH] * 3),
            verdict(c, stats.plural(prep.unit)),
        )
    sec.blocks.append(table)
    return sec


# --- overview --------------------------------------------------------------------------------


def _widths_text(prep: Prepared, st: Settings) -> str:
    m = prep.metric
    base = metric_base(m)
    source = "set on the command line" if base in st.rope else "default"
    defaults = ", ".join(f"{k} {v:g}" for k, v in ROPE_DEFAULTS.items())
    return (
        f"ROPE for {base}: ±{st.rope_for(m):g} ({source}); tie width ±{st.tie_for(m):g}. "
        f"Default ROPEs per metric (metric units; thresholded metrics share their metric's): "
        f"{defaults}; tie width = {TIE_FRACTION:g} x ROPE. Bounded scores get 1% of their "
        "range; Brier, log loss and ECE, whose values shrink with the minority share, about "
        "1-2% of the class prior's score at a 10% minority. Override with --rope [METRIC=]WIDTH "
        "and --tie [METRIC=]WIDTH."
    )


def overview(prep: Prepared, info: SweepInfo, st: Settings, n_runs: int, budget: Budget) -> Section:
    g = prep.grid
    expected = int(prep.expected.to_numpy().sum())
    n_failed = int(prep.failed.to_numpy().sum())
    n_missing = int((~prep.missing["scored_as_prior"]).sum())
    failed_all = int(prep.missing["reason"].eq("run FAILED").sum())
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
        f"{expected - len(prep.missing)} with a FINISHED value of the metric, {failed_all} failed "
        f"({n_failed} scored as the class prior), {n_missing} not run or without a value."
    )
    if info.joined:
        left = info.joined.get("left_out") or {}
        sec.note(
            f"Joined from several exports on the {len(info.joined.get('datasets', []))} datasets "
            "they all ran"
            + (
                "; left out: "
                + "; ".join(
                    f"{', '.join(names)} (only in {where})" for where, names in left.items()
                )
                if left
                else ""
            )
            + "."
        )
    if prep.skipped:
        sec.note(
            f"{len(prep.skipped)} dataset x booster x strategy combination(s) were not planned "
            "(the booster cannot run the strategy, or no joined sweep planned the pair): never "
            "attempted, so neither missing nor failed; see the configuration."
        )
    sec.say(
        f"Unit of analysis: **{prep.unit}** ({prep.unit_phrase(prep.datasets)}). "
        + (
            "Every test and rank uses one value per family: the mean over its datasets of their "
            "per-dataset means, so near-duplicate derivatives of one source count once "
            "(--unit dataset counts every dataset)."
            if prep.unit == "family"
            else "Every test and rank uses one value per dataset (--unit family counts each "
            "family of related datasets once)."
        )
    )
    if prep.family_note:
        sec.note(prep.family_note)
    facts = Table(["item", "value"], [], caption="Tuning budget and inner validation.")
    facts.add(
        "trials per cell", str(budget.trials) if budget.trials is not None else "not recorded"
    )
    facts.add("of which random start-up", budget.startup)
    facts.add("sampler", str(info.config.get("sampler", "not recorded")))
    facts.add("inner validation scheme", budget.inner)
    facts.add("minority rows in an inner validation part", budget.minority)
    sec.blocks.append(facts)
    warning = _budget_warning(budget)
    if warning:
        sec.note(warning)
    failures = (
        "A failed cell is scored as the constant class-prior predictor would score on its outer "
        "fold (the AutoML Benchmark's rule: the training part's class frequencies as every "
        "row's probabilities; its decisions: the majority class at 0.5, every row positive at "
        "the tuned threshold; multiclass class counts other than the minority and majority are "
        "taken as equal shares), marked ‡ in the tables; cells not run are never imputed, and "
        "a comparison leaves out the datasets where they are missing."
        if prep.failures == "prior"
        else "Failed cells are excluded (--failures exclude): a comparison leaves out every "
        "dataset where a compared group lacks a cell, failed or not run."
    )
    sec.say(
        "Method: each per-dataset value is the mean over outer folds and repeats; statistics "
        "are computed across units (Demsar 2006; Benavoli et al. 2016, 2017). Ranks: 1 = best, "
        "ties share the average rank. Friedman's test with the Iman-Davenport correction; "
        "post-hoc: pairwise Wilcoxon signed-rank tests (zero differences split) with Holm's "
        f"correction, drawn as critical-difference diagrams at alpha = {st.alpha}. Win/tie/loss "
        "counts a difference within the tie width as a tie. Bayesian signed-rank test "
        f"(baycomp's model, prior 0.5, {st.nsamples:,} posterior samples, seed {st.seed}, the "
        "units in the order of their differences so that the answer does not depend on the "
        "order they come in; Monte-Carlo standard error "
        f"{stats.monte_carlo_error(VERDICT_PROBABILITY, st.nsamples):.4f} at P = "
        f"{VERDICT_PROBABILITY}, and a verdict within {stats.BORDERLINE_ERRORS:g} standard "
        "errors of it is marked borderline) with a "
        "region of practical equivalence (ROPE). Evidence thresholds: no Friedman or Bayesian "
        f"test from fewer than {MIN_UNITS} units and no Wilcoxon test from fewer than "
        f"{stats.MIN_DATASETS_WILCOXON} (shown as '{TOO_FEW}'). {failures}"
    )
    sec.say(_widths_text(prep, st))
    sec.say(
        "Metric definitions: binary F1, precision and recall are of class 1; multiclass ones are "
        "macro averages over the labels present in the truth or the decisions (scikit-learn's "
        "convention), G-mean as imbalanced-learn's, multiclass decisions by argmax. Brier score: "
        "half the sum over classes of the squared probability error, mean over rows, in [0, 1] "
        "for any number of classes (the usual (p - y)^2 for binary; scikit-learn's "
        "scale_by_half). ECE: classwise (Kull et al. 2019): for each class the 15-bin "
        "equal-width ECE of its probability, averaged over classes (for binary, the ECE of "
        "P(class 1)). The *_cal metrics are the same after a recalibration map (Platt scaling "
        "for binary, temperature scaling for multiclass) fitted on the best trial's inner "
        "validation predictions."
    )
    return sec


def main_results(prep: Prepared, markers: dict[tuple[str, str, str], str] | None = None) -> Section:
    sec = Section("Main table", "main-table")
    sec.blocks.append(main_table(prep, markers))
    return sec


# --- ranks -----------------------------------------------------------------------------------


def _cd(prep: Prepared, cols: list[tuple[str, str]], label, title: str, sec: Section):
    """Oriented per-unit scores of ``cols`` (complete datasets only), Friedman, ranks.

    A group complete on no dataset at all is left out (said in a note) rather than emptying
    the comparison of every other group."""
    complete = prep.complete()
    empty = [c for c in cols if not complete[c].any()]
    if empty:
        sec.note(f"{title}: left out {', '.join(label(c) for c in empty)}: no complete dataset.")
        cols = [c for c in cols if c not in empty]
    us = prep.scores(cols)
    scores = stats.orient(us.values, prep.lower_is_better)
    scores.columns = [label(c) for c in cols]
    _excluded_note(sec, title, us.excluded)
    fr = stats.friedman(scores, prep.unit)
    ranks = stats.average_ranks(scores) if len(scores) else pd.Series(np.nan, index=scores.columns)
    return scores, fr, ranks, us


def ranks_section(prep: Prepared, st: Settings) -> Section:
    sec = Section("Average ranks, Friedman test and critical differences", "ranks")
    g = prep.grid
    word = stats.plural(prep.unit)
    table = Table(
        columns=["booster", *g.strategies, word, "Friedman chi2", "p", "Iman-Davenport p"],
        rows=[],
        caption=f"Average rank of each strategy within a booster over the {word} complete for "
        f"that booster (1 = best; bold = best rank); {FAILED_MARK}n: n failed cells of that "
        f"strategy scored as the class prior; '{TOO_FEW}': fewer than "
        f"{stats.MIN_DATASETS_FRIEDMAN} {word}.",
    )
    cd_inputs = []
    for b in g.boosters:
        cols = [(b, s) for s in g.strategies]
        scores, fr, ranks, us = _cd(prep, cols, lambda c: c[1], f"Ranks for {b}", sec)
        best = ranks.min()
        r = ranks.reindex(g.strategies)  # a left-out strategy shows as a dash
        row = [Cell(b)]
        for s in g.strategies:
            n_failed = prep.failed_cells((b, s), us.datasets)
            mark = f" {FAILED_MARK}{n_failed}" if n_failed else ""
            row.append(Cell(fmt(float(r[s]), 2) + mark, bold=bool(r[s] == best)))
        skipped = fr.skipped is not None and fr.n_groups >= stats.MIN_GROUPS_FRIEDMAN
        row += [
            Cell(str(fr.n_datasets)),
            Cell(TOO_FEW if skipped else fmt(fr.statistic, 2)),
            Cell(TOO_FEW if skipped else fmt_p(fr.pvalue)),
            Cell(TOO_FEW if skipped else fmt_p(fr.iman_davenport_p)),
        ]
        table.rows.append(row)
        if fr.skipped:
            sec.note(f"{b}: Friedman test skipped: {fr.skipped}.")
        cd_inputs.append((b, scores, ranks))
    sec.blocks.append(table)

    if len(g.boosters) > 1:
        all_cols = [(b, s) for b in g.boosters for s in g.strategies]
        scores, fr, ranks, _ = _cd(prep, all_cols, lambda c: f"{c[0]}/{c[1]}", "All pairs", sec)
        if fr.skipped:
            sec.note(f"All booster x strategy pairs: Friedman test skipped: {fr.skipped}.")
        else:
            sec.say(
                f"All {fr.n_groups} booster x strategy pairs over {fr.n_datasets} {word}: "
                f"Friedman chi2 = {fmt(fr.statistic, 2)}, p = {fmt_p(fr.pvalue)}; Iman-Davenport "
                f"F = {fmt(fr.iman_davenport_f, 2)}, p = {fmt_p(fr.iman_davenport_p)}."
            )
        rt = rank_summary(ranks)
        rt.caption = f"Average rank of every booster x strategy pair over {word} (1 = best)."
        sec.blocks.append(rt)
        cd_inputs.append(("all booster x strategy pairs", scores, ranks))
    small = [label for label, sc, _ in cd_inputs if stats.MIN_DATASETS_FRIEDMAN <= len(sc) < 10]
    if small:
        sec.note(
            f"Fewer than 10 {word} for {', '.join(small)}: Friedman's chi-square approximation "
            "is rough there (Demsar 2006); the Iman-Davenport p is the better guide."
        )

    for label, sc, rk in cd_inputs:
        if sc.shape[1] < 2:
            continue  # one method: nothing to compare
        if len(sc) < stats.MIN_DATASETS_WILCOXON:
            sec.note(
                f"Critical-difference diagram for {label} skipped: the Wilcoxon-Holm post-hoc "
                f"needs >= {stats.MIN_DATASETS_WILCOXON} complete {word}, got {len(sc)}."
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
                caption=f"Critical-difference diagram, {label}, {len(sc)} {word}: average ranks "
                f"(left = better); bars join methods not significantly different (pairwise Wilcoxon "
                f"signed-rank, Holm-adjusted, alpha = {st.alpha}).",
            )
        )
    return sec


# --- strategy vs baseline --------------------------------------------------------------------


def baseline_section(prep: Prepared, st: Settings, comps: list[Comparison]) -> Section:
    sec = Section(f"Each strategy vs the baseline ({st.baseline})", "baseline")
    if not comps:
        sec.note(f"This sweep has no strategy besides {st.baseline}: no comparison.")
        return sec
    table = _comparison_table(prep, comps, st, prep.metric, "tests in this table")
    for c in comps:
        table.rows.append(_comparison_cells(c, st, stats.plural(prep.unit)))
    sec.blocks.append(table)
    _skip_notes(sec, "", comps)
    panels = []
    for c in comps:
        v = c.scores.values
        if len(v):
            panels.append(
                (
                    f"{c.booster}: {c.strategy} vs {c.baseline}",
                    v[(c.booster, c.baseline)].rename(c.baseline),
                    v[(c.booster, c.strategy)].rename(c.strategy),
                )
            )
    if panels:
        better = "below" if prep.lower_is_better else "above"
        sec.blocks.append(
            figures.pair_scatter(
                panels,
                metric=prep.metric.removeprefix(rs.TEST_PREFIX),
                name="baseline_scatter",
                caption=f"Per-{prep.unit} {prep.metric}: each point is a {prep.unit}; points "
                f"{better} the diagonal favour the strategy over {st.baseline}.",
            )
        )
    return sec


def tier_section(prep: Prepared, st: Settings) -> Section:
    sec = Section("By imbalance tier", "tiers")
    if not others(prep, st):
        sec.note(f"This sweep has no strategy besides {st.baseline}: no comparison.")
        return sec
    table = _comparison_table(
        prep,
        [],
        st,
        f"{prep.metric} by imbalance tier (a family's datasets within the tier)",
        "tests of each tier",
    )
    table.columns = ["tier", *COMPARE_COLUMNS]
    for tier in tier_order(prep.tiers):
        members = [d for d in prep.datasets if prep.tiers[d] == tier]
        rows = baseline_comparisons(prep, st, datasets=members)
        table.rows.append(GroupRow(f"tier: {tier} ({prep.unit_phrase(members)})"))
        for c in rows:
            table.rows.append([Cell(tier), *_comparison_cells(c, st, stats.plural(prep.unit))])
        _skip_notes(sec, f"tier {tier}: ", rows)
    sec.blocks.insert(0, table)
    return sec


# --- other metrics ---------------------------------------------------------------------------


def _metric_table(prep: Prepared, names: tuple[str, ...], caption: str) -> tuple[Table, list[str]]:
    """Rows booster/strategy, one column per metric: mean over units (average rank)."""
    g = prep.grid
    present = [m for m in names if rs.TEST_PREFIX + m in prep.scored.columns]
    table = Table(["booster", "strategy", *present], [], caption=caption)
    cells: dict[tuple[str, str], list[Cell]] = {
        (b, s): [Cell(b), Cell(s)] for b in g.boosters for s in g.strategies
    }
    for m in present:
        col = rs.TEST_PREFIX + m
        lower = lower_is_better(col)
        for b in g.boosters:
            cols = [(b, s) for s in g.strategies]
            us = prep.scores(cols, col)
            scores = us.values
            ranks = stats.average_ranks(stats.orient(scores, lower)) if len(scores) else None
            for s in g.strategies:
                if ranks is None:
                    cells[(b, s)].append(Cell(DASH))
                    continue
                best = bool(ranks[(b, s)] == ranks.min())
                mark = FAILED_MARK if prep.failed_cells((b, s), us.datasets) else ""
                cells[(b, s)].append(
                    Cell(
                        f"{fmt(float(scores[(b, s)].mean()))} ({fmt(float(ranks[(b, s)]), 2)})"
                        + mark,
                        bold=best,
                    )
                )
    table.rows = list(cells.values())
    return table, present


def _diff_figure(prep: Prepared, st: Settings, present: list[str], name: str, caption: str):
    diffs: dict[str, dict[str, np.ndarray]] = {}
    for m in present:
        col = rs.TEST_PREFIX + m
        diffs[m] = {}
        for b in prep.grid.boosters:
            for s in others(prep, st):
                v = prep.scores([(b, s), (b, st.baseline)], col).values
                diffs[m][f"{b}: {s}"] = oriented_diff(
                    v[(b, s)], v[(b, st.baseline)], lower_is_better(col)
                )
    return figures.difference_boxes(diffs, name=name, caption=caption)


def metrics_section(prep: Prepared, st: Settings) -> Section:
    sec = Section("Threshold-free and tuned-threshold metrics", "metrics")
    word = stats.plural(prep.unit)
    table, present = _metric_table(
        prep,
        THRESHOLD_FREE + TUNED + AT_HALF,
        f"Mean over {word} (average rank within the booster, bold = best) of threshold-free "
        "metrics, metrics at the threshold tuned on inner validation data (_tuned), and at 0.5 "
        f"(_t050). Each metric uses the {word} complete for that booster; {FAILED_MARK}: failed "
        "cells scored as the class prior contribute.",
    )
    sec.blocks.append(table)
    missing = [m for m in THRESHOLD_FREE + TUNED + AT_HALF if m not in present]
    if missing:
        sec.note(f"Metrics not logged by this sweep: {', '.join(missing)}.")
    if others(prep, st) and present:
        sec.blocks.append(
            _diff_figure(
                prep,
                st,
                [m for m in present if m not in AT_HALF],
                "metric_differences",
                f"Per-{prep.unit} differences strategy − {st.baseline}, oriented so > 0 favours "
                "the strategy, per metric.",
            )
        )
    return sec


def calibration_section(prep: Prepared, st: Settings) -> Section:
    sec = Section("Calibration", "calibration")
    word = stats.plural(prep.unit)
    sec.say(
        "Reweighted losses (class weights, focal loss) move the predicted probabilities by "
        "design: a weighted model is calibrated to the reweighted class prior and focal loss "
        "pulls probabilities towards 0.5, so their raw log loss, Brier score and ECE say how far "
        "the probabilities are from the data's prior, not how good the loss is. The fair "
        "comparison is after recalibration: the *_cal metrics apply a monotone map (Platt "
        "scaling for binary, temperature scaling for multiclass) fitted on the best trial's "
        "inner validation predictions, which leaves the ranking (AP, ROC-AUC) unchanged. The "
        "comparisons below use the recalibrated metrics; the raw ones are shown after them."
    )
    table, present = _metric_table(
        prep,
        CALIBRATED,
        f"Recalibrated log loss, Brier score and ECE (lower is better): mean over {word} "
        f"(average rank within the booster, bold = best); {FAILED_MARK}: failed cells scored "
        "as the class prior contribute.",
    )
    if not present:
        sec.note(
            "This sweep logged no recalibrated metrics (test_log_loss_cal, test_brier_cal, "
            "test_ece_cal): it predates them, so only the raw metrics can be shown."
        )
    else:
        sec.blocks.append(table)
        for m in present:
            comps = baseline_comparisons(prep, st, column=rs.TEST_PREFIX + m)
            if not comps:
                continue
            t = _comparison_table(
                prep, comps, st, f"{m}, each strategy vs {st.baseline}", "tests in this table"
            )
            for c in comps:
                t.rows.append(_comparison_cells(c, st, word))
            sec.blocks.append(t)
    raw, raw_present = _metric_table(
        prep,
        RAW_CALIBRATION,
        f"Raw (not recalibrated) log loss, Brier score and ECE: mean over {word} (average rank). "
        "These penalise reweighted losses by design (see above); shown for completeness.",
    )
    if raw_present:
        sec.blocks.append(raw)
    if others(prep, st) and present:
        sec.blocks.append(
            _diff_figure(
                prep,
                st,
                present,
                "calibration_differences",
                f"Per-{prep.unit} recalibrated differences strategy − {st.baseline}, oriented so "
                "> 0 favours the strategy (i.e. the strategy has the lower loss).",
            )
        )
    return sec


def cost_section(prep: Prepared, st: Settings) -> Section:
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
            f"median vs {st.baseline}",
            "total wall h",
        ],
        [],
        caption=f"{rs.M_FIT_TIME} per FINISHED cell (every trial + refit); {rs.M_WALL_TIME} "
        "total per group.",
    )
    times: dict[str, np.ndarray] = {}
    for b in g.boosters:
        base_med = f.loc[(f.booster == b) & (f.strategy == st.baseline), rs.M_FIT_TIME].median()
        for s in g.strategies:
            t = f.loc[(f.booster == b) & (f.strategy == s), rs.M_FIT_TIME].dropna()
            wall = f.loc[(f.booster == b) & (f.strategy == s)].get(rs.M_WALL_TIME)
            times[f"{b}/{s}"] = t.to_numpy(dtype=float)
            ratio = (
                t.median() / base_med if len(t) and base_med and not np.isnan(base_med) else None
            )
            table.add(
                b,
                s,
                str(len(t)),
                fmt(t.median(), 2),
                fmt(t.mean(), 2),
                fmt(t.sum() / 3600, 3),
                fmt(ratio, 2) + ("x" if ratio else ""),
                fmt(wall.sum() / 3600, 3) if wall is not None else DASH,
            )
    sec.blocks.append(table)
    sec.blocks.append(
        figures.time_boxes(times, name="fit_time", caption="Fit seconds per cell (log scale).")
    )
    return sec


def missing_section(prep: Prepared, limit: int = 200) -> Section:
    sec = Section("Failed and missing cells", "missing")
    miss = prep.missing
    if miss.empty:
        sec.say("None: every expected cell has a FINISHED run with the metric.")
        return sec
    n_prior = int(miss["scored_as_prior"].sum())
    sec.note(
        f"{len(miss)} expected cell(s) have no FINISHED value of {prep.metric}: {n_prior} failed "
        f"and scored as the class prior ({FAILED_MARK} in the tables), {len(miss) - n_prior} not "
        "imputed (not run, or failed where --failures exclude or unknown class counts prevent "
        "scoring). Per-dataset means use the folds present (marked † in the main table), and "
        "every test uses only the datasets complete for the groups it compares; the datasets "
        "excluded are named in each section. The full list is in missing_cells.csv."
    )
    summary = (
        miss.groupby(["booster", "strategy", "reason", "scored_as_prior"])
        .size()
        .reset_index(name="cells")
    )
    t = Table(
        ["booster", "strategy", "reason", "scored as prior", "cells"],
        [],
        caption="Failed and missing cells per group.",
    )
    for row in summary.itertuples(index=False):
        t.add(row.booster, row.strategy, row.reason, "yes" if row.scored_as_prior else "no",
              str(row.cells))  # fmt: skip
    sec.blocks.append(t)
    detail = Table(
        list(miss.columns),
        [],
        caption=f"Failed and missing cells (first {min(limit, len(miss))} of {len(miss)}).",
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
    facts.add("tracking URI", redact(info.tracking_uri) or DASH)
    facts.add("config hash", info.config_hash or DASH)
    facts.add("created", info.created or DASH)
    facts.add("git commit", value_counts_text(df["git_commit"]) if "git_commit" in df else DASH)
    facts.add("hosts", value_counts_text(df["host"]) if "host" in df else DASH)
    facts.add(
        "CPU (decides last bits)",
        value_counts_text(df["cpu"].fillna("not recorded")) if "cpu" in df else "not recorded",
    )
    facts.add(
        "not planned",
        "not recorded"
        if info.skipped is None
        else "; ".join(
            f"{s['booster']} x {s['strategy']} on {len(s['datasets'])} dataset(s): "
            f"{s.get('reason', '')}"
            for s in info.skipped
        )
        or "none",
    )
    sec.blocks.append(facts)
    if "git_commit" in df:
        dirty = df["git_commit"].astype(str).str.endswith("-dirty")
        if dirty.any():
            sec.note(
                f"{int(dirty.sum())} of {len(df)} cells ran from a working tree with uncommitted "
                "changes (commits ending in -dirty): no checkout reproduces them for certain."
            )
        else:
            commits = df["git_commit"].astype(str).nunique()
            sec.say(
                f"Every cell ran from a committed tree ({commits} commit(s)); `python -m bench "
                "verify --results DIR --sample N` re-runs a sample of an export and checks it "
                "bit for bit."
            )
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
