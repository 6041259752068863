"""Which loss for *this* dataset: per-dataset verdicts from repeated cross-validation.

For every dataset, booster and strategy against the baseline, the paired outer-test scores
(one per repeat x outer fold) go through the Bayesian correlated t-test (Benavoli et al. 2017;
baycomp's ``CorrelatedTTest``, correlation rho = 1/folds for the overlap of training sets, the
metric's ROPE) and the corrected resampled t-test (Nadeau and Bengio 2003). A side is named
only when its posterior probability is >= 0.95."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from bench import runschema as rs

from . import stats
from .frame import Prepared
from .model import Cell, Section, Table
from .settings import VERDICT_PROBABILITY, Settings
from .tables import DASH, fmt, fmt_p

BETTER, WORSE, SAME = "▲", "▼", "≈"  # main-table markers: the strategy vs the baseline


@dataclass(frozen=True)
class DatasetVerdict:
    dataset: str
    booster: str
    strategy: str
    baseline: str
    repeats: int  # repeats with at least one paired fold
    folds: int  # outer folds per repeat (the configured k: rho = 1/k)
    expected: int  # repeats x folds the sweep should have
    rope: float
    result: stats.FoldResult

    @property
    def label(self) -> str:
        r = self.result
        if r.skipped or r.p_x_better is None or r.p_y_better is None or r.p_rope is None:
            return "too few folds"
        if r.p_x_better >= VERDICT_PROBABILITY:
            return f"{self.strategy} better with probability {fmt(r.p_x_better)}"
        if r.p_y_better >= VERDICT_PROBABILITY:
            return f"{self.baseline} better with probability {fmt(r.p_y_better)}"
        if r.p_rope >= VERDICT_PROBABILITY:
            return (
                f"practically equivalent (within ±{self.rope:g}) with probability {fmt(r.p_rope)}"
            )
        return "inconclusive"

    @property
    def marker(self) -> str | None:
        r = self.result
        if r.p_x_better is not None and r.p_x_better >= VERDICT_PROBABILITY:
            return BETTER
        if r.p_y_better is not None and r.p_y_better >= VERDICT_PROBABILITY:
            return WORSE
        if r.p_rope is not None and r.p_rope >= VERDICT_PROBABILITY:
            return SAME
        return None

    @property
    def wide(self) -> bool:
        """No verdict and a posterior wider than the ROPE: more repeats would help."""
        r = self.result
        if self.marker is not None or r.low is None or r.high is None:
            return False
        return r.high - r.low > 2 * self.rope

    @property
    def evidence(self) -> str:
        """ "5 folds x 3 repeats = 15 paired outer scores" (and how many of those expected)."""
        n, e = self.result.n, self.expected
        of = "" if n == e else f" ({n} of {e} paired)"
        return f"{self.folds} folds x {self.repeats} repeat{'s' * (self.repeats != 1)}{of}"


def dataset_verdicts(prep: Prepared, st: Settings) -> list[DatasetVerdict]:
    """Every dataset x booster x strategy vs the baseline, on the compared metric, over the
    outer cells both have (FINISHED, or failed and scored as the class prior)."""
    col, lower = prep.metric, prep.lower_is_better
    g = prep.grid
    folds = max(2, len(g.folds))
    rope = st.rope_for(col)
    if st.baseline not in g.strategies or col not in prep.scored:
        return []
    wide = prep.scored.pivot_table(
        index=["dataset", "booster", "repeat", "fold"],
        columns="strategy",
        values=col,
        aggfunc="first",
    )
    out: list[DatasetVerdict] = []
    for ds in prep.datasets:
        for b in g.boosters:
            try:
                part = wide.loc[(ds, b)]
            except KeyError:
                part = pd.DataFrame()
            for s in g.strategies:
                if s == st.baseline or (ds, b, s) in prep.skipped:
                    continue
                if s in part and st.baseline in part:
                    pair = part[[s, st.baseline]].dropna()
                else:
                    pair = pd.DataFrame(columns=[s, st.baseline], dtype=float)
                x = stats.orient(pair[s].to_numpy(dtype=float), lower)
                y = stats.orient(pair[st.baseline].to_numpy(dtype=float), lower)
                repeats = len(set(pair.index.get_level_values(0))) if len(pair) else 0
                out.append(
                    DatasetVerdict(
                        dataset=ds,
                        booster=b,
                        strategy=s,
                        baseline=st.baseline,
                        repeats=repeats,
                        folds=folds,
                        expected=g.per_group,
                        rope=rope,
                        result=stats.correlated_ttest(x, y, folds=folds, rope=rope),
                    )
                )
    return out


def markers(verdicts: list[DatasetVerdict]) -> dict[tuple[str, str, str], str]:
    return {(v.dataset, v.booster, v.strategy): v.marker for v in verdicts if v.marker}


def _wide_text(v: DatasetVerdict) -> str:
    r = v.result
    return (
        f"The posterior is wide (95% interval of the difference [{r.low:+.4f}, {r.high:+.4f}], "
        f"ROPE ±{v.rope:g}): more repeats (--repeats) narrow it, down to a floor set by the "
        "overlap of the folds' training sets."
    )


def sentence(prep: Prepared, v: DatasetVerdict) -> str:
    r = v.result
    metric = prep.metric.removeprefix(rs.TEST_PREFIX)
    head = f"**{v.dataset}, {v.booster}: {v.strategy} vs {v.baseline}** over {v.evidence}"
    if r.skipped:
        return f"{head}: **Verdict: too few folds** ({r.skipped})."
    text = (
        f"{head} = {r.n} paired outer scores: mean difference {r.mean_diff:+.4f} {metric} "
        f"(oriented: > 0 favours {v.strategy}; 95% interval [{r.low:+.4f}, {r.high:+.4f}]); "
        f"corrected resampled t-test p = {fmt_p(r.pvalue)}; Bayesian correlated t-test: "
        f"P({v.strategy} better) = {fmt(r.p_x_better)}, P(practically equivalent, "
        f"±{v.rope:g}) = {fmt(r.p_rope)}, P({v.baseline} better) = {fmt(r.p_y_better)}. "
        f"**Verdict: {v.label}.**"
    )
    if v.wide:
        text += " " + _wide_text(v)
    return text


def few_datasets(prep: Prepared) -> bool:
    """Too few units for any across-dataset test: the report leads with per-dataset verdicts."""
    from .settings import MIN_UNITS

    return prep.n_units(prep.datasets) < MIN_UNITS


def lead(prep: Prepared, st: Settings, verdicts: list[DatasetVerdict], sec: Section) -> None:
    """The summary's opening for a sweep of one or a few datasets."""
    n = len(prep.datasets)
    sec.say(
        f"This sweep has {prep.unit_phrase(prep.datasets)}: too few for any across-dataset "
        f"test, so the answer is per dataset. Each verdict below compares a strategy with "
        f"**{st.baseline}** on one dataset and booster over its repeated outer cross-validation "
        "(the Bayesian correlated t-test, which accounts for the overlap of training sets; a "
        f"side is named only at posterior probability >= {VERDICT_PROBABILITY})."
        + (" Across-dataset comparisons follow, marked 'too few'." if n > 1 else "")
    )
    if not verdicts:
        sec.note(f"No strategy besides {st.baseline}: nothing to compare.")
    for v in verdicts:
        sec.say(sentence(prep, v))


def section(prep: Prepared, st: Settings, verdicts: list[DatasetVerdict]) -> Section:
    sec = Section("Per-dataset verdicts", "per-dataset")
    if not verdicts:
        sec.note(f"No strategy besides {st.baseline}: no per-dataset comparison.")
        return sec
    folds = verdicts[0].folds
    rope = verdicts[0].rope
    sec.say(
        f"Each strategy vs **{st.baseline}** on each dataset and booster, from the paired "
        f"outer-test {prep.metric} of every repeat x fold. Bayesian correlated t-test "
        f"(Benavoli et al. 2017; baycomp's CorrelatedTTest): the mean difference has a Student "
        f"t posterior whose variance is inflated by rho/(1 - rho) with rho = 1/folds = "
        f"1/{folds}, for the overlap of the folds' training sets; ROPE ±{rope:g}. p: the "
        f"corrected resampled t-test (Nadeau and Bengio 2003), the same correction. Marked in "
        f"the main table: {BETTER} the strategy better, {WORSE} {st.baseline} better, {SAME} "
        f"practically equivalent (each at probability >= {VERDICT_PROBABILITY}). Fewer than "
        f"{stats.MIN_FOLD_SCORES} paired outer scores: 'too few folds'. These verdicts are "
        "about each dataset alone; what generalises across datasets is in the sections on "
        "ranks and comparisons."
    )
    table = Table(
        [
            "dataset",
            "booster",
            "strategy",
            "folds x repeats",
            "mean Δ",
            "95% interval",
            "corrected t p",
            "P(strategy better)",
            "P(rope)",
            "P(baseline better)",
            "verdict",
        ],
        [],
        caption=f"{prep.metric}; Δ = strategy − {st.baseline} per outer fold, oriented so "
        f"Δ > 0 favours the strategy.",
    )
    for v in verdicts:
        r = v.result
        if r.skipped:
            table.rows.append(
                [Cell(v.dataset), Cell(v.booster), Cell(v.strategy), Cell(v.evidence)]
                + [Cell(DASH)] * 6
                + [Cell("too few folds")]
            )
            continue
        table.rows.append(
            [
                Cell(v.dataset),
                Cell(v.booster),
                Cell(v.strategy),
                Cell(v.evidence),
                Cell(fmt(r.mean_diff, 4)),
                Cell(f"[{r.low:+.4f}, {r.high:+.4f}]"),
                Cell(fmt_p(r.pvalue)),
                Cell(fmt(r.p_x_better)),
                Cell(fmt(r.p_rope)),
                Cell(fmt(r.p_y_better)),
                Cell(v.label, bold=v.marker in (BETTER, WORSE)),
            ]
        )
    sec.blocks.append(table)
    wide = [v for v in verdicts if v.wide]
    if wide:
        sec.note(
            f"{len(wide)} comparison(s) are inconclusive with a posterior wider than the ROPE "
            f"(e.g. {wide[0].dataset}, {wide[0].booster}: {wide[0].strategy}): more repeats "
            "(--repeats) narrow the posterior, down to a floor set by the overlap of the "
            "folds' training sets."
        )
    too_few = [v for v in verdicts if v.result.skipped]
    if too_few:
        sec.note(
            f"{len(too_few)} comparison(s) rest on fewer than {stats.MIN_FOLD_SCORES} paired "
            "outer scores: 'too few folds', no number shown."
        )
    return sec
