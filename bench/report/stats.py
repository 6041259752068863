"""Statistics across datasets (Demsar 2006; Benavoli et al. 2016, 2017), pure functions of
per-dataset score matrices (rows: datasets, columns: methods), with no I/O.

Every input is *oriented*: higher is better (callers negate lower-is-better metrics with
:func:`orient`). Every test says why it was skipped instead of returning a silent NaN.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats as sps

# Fewest units (datasets or families) for each test: no p-value or posterior probability from
# fewer than 5. With n = 5 the smallest exact two-sided Wilcoxon p-value is 2 / 2**5 = 0.0625,
# so it can never reject at 0.05: 6 is the least that can.
MIN_DATASETS_WILCOXON = 6
MIN_DATASETS_FRIEDMAN = 5
MIN_GROUPS_FRIEDMAN = 3
MIN_DATASETS_BAYES = 5
MIN_SAMPLES_BAYES = 2  # bayes_signed_rank itself: the model needs two differences


def plural(unit: str) -> str:
    """ "dataset" -> "datasets", "family" -> "families"."""
    return unit[:-1] + "ies" if unit.endswith("y") else unit + "s"


def orient(scores: pd.DataFrame | np.ndarray, lower_is_better: bool):
    """Scores where higher is better (negated for losses), so every test reads one way."""
    return -scores if lower_is_better else scores


def average_ranks(scores: pd.DataFrame) -> pd.Series:
    """Mean rank per column over the rows (1 = best; ties share the average rank)."""
    return scores.rank(axis=1, ascending=False, method="average").mean(axis=0)


@dataclass(frozen=True)
class FriedmanResult:
    n_datasets: int
    n_groups: int
    statistic: float | None = None
    pvalue: float | None = None
    iman_davenport_f: float | None = None
    iman_davenport_p: float | None = None
    skipped: str | None = None  # why no test was run


def friedman(scores: pd.DataFrame, unit: str = "dataset") -> FriedmanResult:
    """Friedman's chi-square test plus the Iman-Davenport F correction Demsar recommends."""
    n, k = scores.shape
    if k < MIN_GROUPS_FRIEDMAN:
        return FriedmanResult(
            n, k, skipped=f"Friedman needs >= {MIN_GROUPS_FRIEDMAN} methods, got {k}"
        )
    if n < MIN_DATASETS_FRIEDMAN:
        return FriedmanResult(
            n,
            k,
            skipped=f"Friedman needs >= {MIN_DATASETS_FRIEDMAN} complete {plural(unit)}, got {n}",
        )
    values = scores.to_numpy(dtype=float)
    if np.all(values == values[:, :1]):
        return FriedmanResult(n, k, 0.0, 1.0, 0.0, 1.0, skipped=None)
    chi2, p = sps.friedmanchisquare(*values.T)
    denom = n * (k - 1) - chi2
    if denom <= 0:  # every dataset ranks the methods identically: F is infinite
        f, pf = float("inf"), 0.0
    else:
        f = (n - 1) * chi2 / denom
        pf = float(sps.f.sf(f, k - 1, (k - 1) * (n - 1)))
    return FriedmanResult(n, k, float(chi2), float(p), float(f), pf)


def holm(pvalues: list[float | None]) -> list[float | None]:
    """Holm-adjusted p-values over the family of tests that ran (None = not run).

    Equal to statsmodels' multipletests(method="holm") (checked in the tests), which is not
    used because it runs gc.collect() on every call (0.2 s each in a process holding MLflow).
    """
    ran = {i: float(p) for i, p in enumerate(pvalues) if p is not None}
    out: list[float | None] = [None] * len(pvalues)
    m = len(ran)
    running = 0.0
    for rank, i in enumerate(sorted(ran, key=ran.__getitem__)):
        running = max(running, min(1.0, (m - rank) * ran[i]))
        out[i] = running
    return out


def wilcoxon_p(
    x: np.ndarray, y: np.ndarray, unit: str = "dataset"
) -> tuple[float | None, str | None]:
    """Two-sided Wilcoxon signed-rank p-value of x vs y, or (None, why it was skipped).

    Zero differences are split between the signs (zero_method="zsplit", Demsar 2006). Exact
    null distribution for up to 50 untied differences, else the normal approximation with tie
    correction (scipy's permutation fallback for ties takes ~1 s per test).
    """
    d = np.asarray(x, dtype=float) - np.asarray(y, dtype=float)
    if d.size < MIN_DATASETS_WILCOXON:
        return None, f"Wilcoxon needs >= {MIN_DATASETS_WILCOXON} {plural(unit)}, got {d.size}"
    if not np.any(d):
        return 1.0, None  # identical scores: no evidence of any difference
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        absd = np.abs(d)
        tied = not np.all(d) or np.unique(absd).size < d.size
        method = "approx" if tied or d.size > 50 else "exact"
        res = sps.wilcoxon(x, y, zero_method="zsplit", method=method)
    return float(res.pvalue), None


def pairwise_wilcoxon_holm(scores: pd.DataFrame) -> pd.DataFrame:
    """Symmetric matrix of Holm-adjusted pairwise Wilcoxon p-values (diagonal 1).

    Used as the significance matrix of the critical-difference diagram (Benavoli et al. 2016
    advise pairwise Wilcoxon-Holm over mean-rank post-hoc tests such as Nemenyi).
    """
    cols = list(scores.columns)
    pairs = list(combinations(range(len(cols)), 2))
    raw = [
        wilcoxon_p(scores.iloc[:, i].to_numpy(), scores.iloc[:, j].to_numpy())[0] for i, j in pairs
    ]
    adj = holm(raw)
    mat = pd.DataFrame(np.ones((len(cols), len(cols))), index=cols, columns=cols)
    for (i, j), p in zip(pairs, adj, strict=True):
        mat.iloc[i, j] = mat.iloc[j, i] = 1.0 if p is None else p
    return mat


# Posterior samples of the Bayesian signed-rank test: the Monte-Carlo standard error of a
# probability p is sqrt(p (1 - p) / n), 0.00049 at p = 0.95 and at most 0.0011 (p = 0.5).
BAYES_SAMPLES = 200_000
# A verdict whose probability lies within this many standard errors of the threshold is flagged.
BORDERLINE_ERRORS = 3.0


def monte_carlo_error(p: float, nsamples: int = BAYES_SAMPLES) -> float:
    """Standard error of a posterior probability estimated from ``nsamples`` draws."""
    return float(np.sqrt(max(p * (1.0 - p), 0.0) / nsamples))


def borderline(p: float, threshold: float, nsamples: int = BAYES_SAMPLES) -> bool:
    """Whether Monte-Carlo error alone could put ``p`` on the other side of ``threshold``
    (within ``BORDERLINE_ERRORS`` standard errors, at least one sample's worth)."""
    margin = max(BORDERLINE_ERRORS * monte_carlo_error(threshold, nsamples), 1.0 / nsamples)
    return abs(p - threshold) <= margin


def bayes_signed_rank(
    x: np.ndarray,
    y: np.ndarray,
    rope: float,
    *,
    nsamples: int = BAYES_SAMPLES,
    seed: int = 0,
    prior: float = 0.5,
) -> tuple[float, float, float]:
    """P(x better), P(|diff| within rope), P(y better) under the Bayesian signed-rank test.

    The same model, prior pseudo-observation and Dirichlet draws as
    ``baycomp.SignedRankTest`` (random_state=seed) given the units in the order of their
    differences, which the tests check. baycomp matches draws to units by position, so its
    answer moves with the order the units come in (0.949 or 0.9505 for one comparison); sorting
    them first makes the answer a function of the differences alone. Vectorised because baycomp
    loops over samples in Python (about 1.2 s per call at 100 datasets).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or x.size < MIN_SAMPLES_BAYES:
        raise ValueError(
            f"bayes_signed_rank needs two equal 1-d arrays of >= 2 scores, got "
            f"{x.shape} and {y.shape}"
        )
    if rope < 0:
        raise ValueError(f"rope must be >= 0, got {rope}")
    diff = np.concatenate(([0.0], np.sort(y - x)))  # canonical order: see the docstring
    sums = diff[:, None] + diff[None, :]
    below = (sums < -2 * rope) + 0.5 * (sums == -2 * rope)
    above = (sums > 2 * rope) + 0.5 * (sums == 2 * rope)
    draws = _dirichlet(diff.size, prior, nsamples, seed)
    both = draws @ np.hstack([below, above])  # one BLAS call for both quadratic forms
    p_below = np.einsum("ij,ij->i", both[:, : diff.size], draws)
    p_above = np.einsum("ij,ij->i", both[:, diff.size :], draws)
    if rope > 0:
        samples = np.column_stack([p_below, 1 - p_below - p_above, p_above])
    else:  # baycomp's no-rope model: ties count as half above
        samples = np.column_stack([1 - p_above, np.zeros(nsamples), p_above])
    winners = np.argmax(samples, axis=1)
    probs = np.bincount(winners, minlength=3) / nsamples
    return float(probs[0]), float(probs[1]), float(probs[2])


@lru_cache(maxsize=2)
def _dirichlet(size: int, prior: float, nsamples: int, seed: int) -> np.ndarray:
    """baycomp's posterior draws (weights 1, first = prior), shared by the comparisons of a
    report that have the same number of datasets: drawing dominates the test's cost."""
    weights = np.ones(size)
    weights[0] = prior
    draws = np.random.RandomState(seed).dirichlet(weights, nsamples)
    draws.flags.writeable = False
    return draws


@dataclass(frozen=True)
class PairResult:
    """x vs y over datasets: counts, effect, frequentist and Bayesian evidence."""

    n_datasets: int
    wins: int
    ties: int
    losses: int
    mean_diff: float
    median_diff: float
    wilcoxon_p: float | None
    wilcoxon_skipped: str | None
    p_x_better: float | None
    p_rope: float | None
    p_y_better: float | None
    bayes_skipped: str | None


def compare_pair(
    x: np.ndarray,
    y: np.ndarray,
    *,
    tie_tol: float,
    rope: float,
    nsamples: int = BAYES_SAMPLES,
    seed: int = 0,
    unit: str = "dataset",
) -> PairResult:
    """Win/tie/loss (|diff| <= tie_tol is a tie), Wilcoxon p and Bayesian signed-rank of x vs y
    over units (datasets or families)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    d = x - y
    n = int(d.size)
    wins = int(np.sum(d > tie_tol))
    losses = int(np.sum(d < -tie_tol))
    p, why = wilcoxon_p(x, y, unit)
    bx: float | None = None
    br: float | None = None
    by: float | None = None
    bwhy: str | None = None
    if n >= MIN_DATASETS_BAYES:
        bx, br, by = bayes_signed_rank(x, y, rope, nsamples=nsamples, seed=seed)
    else:
        bwhy = f"Bayesian signed-rank needs >= {MIN_DATASETS_BAYES} {plural(unit)}, got {n}"
    return PairResult(
        n_datasets=n,
        wins=wins,
        ties=n - wins - losses,
        losses=losses,
        mean_diff=float(d.mean()) if n else float("nan"),
        median_diff=float(np.median(d)) if n else float("nan"),
        wilcoxon_p=p,
        wilcoxon_skipped=why,
        p_x_better=bx,
        p_rope=br,
        p_y_better=by,
        bayes_skipped=bwhy,
    )


# --- one dataset: repeated cross-validation (Nadeau and Bengio 2003; Benavoli et al. 2017) ---

MIN_FOLD_SCORES = 2  # paired outer scores a per-dataset test needs (a variance needs two)


@dataclass(frozen=True)
class FoldResult:
    """x vs y on one dataset over paired outer folds x repeats; d = x - y (oriented).

    ``p_x_better`` / ``p_rope`` / ``p_y_better``: the Bayesian correlated t-test's posterior
    probabilities (baycomp's ``CorrelatedTTest``, closed form); ``pvalue``: the corrected
    resampled t-test's two-sided p; ``low`` / ``high``: the posterior's 95% interval of the
    mean difference. All None, with ``skipped`` saying why, under ``MIN_FOLD_SCORES``."""

    n: int
    folds: int
    mean_diff: float
    p_x_better: float | None = None
    p_rope: float | None = None
    p_y_better: float | None = None
    pvalue: float | None = None
    low: float | None = None
    high: float | None = None
    skipped: str | None = None


def _corrected(d: np.ndarray, folds: int) -> tuple[float, float, int]:
    """Mean, corrected variance of the mean and degrees of freedom of fold differences:
    var(d) (1/n + rho / (1 - rho)) with rho = 1/folds, i.e. 1/n + n_test/n_train = 1/n +
    1/(folds - 1) (Nadeau and Bengio's correction for overlapping training sets)."""
    n = d.size
    rho = 1.0 / folds
    return float(d.mean()), float(d.var(ddof=1) * (1.0 / n + rho / (1.0 - rho))), n - 1


def corrected_ttest_p(d: np.ndarray, folds: int) -> float:
    """Two-sided p of the corrected resampled t-test (Nadeau and Bengio 2003) on fold
    differences of ``repeats x folds`` outer scores."""
    mean, var, df = _corrected(np.asarray(d, dtype=float), folds)
    if var == 0:
        return 1.0 if mean == 0 else 0.0
    return float(2 * sps.t.sf(abs(mean) / np.sqrt(var), df))


def correlated_ttest(
    x: np.ndarray, y: np.ndarray, *, folds: int, rope: float, credible: float = 0.95
) -> FoldResult:
    """Bayesian correlated t-test of x vs y (higher is better) over the paired outer scores of
    repeated ``folds``-fold cross-validation: the posterior of the mean difference is Student
    t(n - 1, mean, corrected variance) (Benavoli et al. 2017; baycomp's CorrelatedTTest with
    rho = 1/folds), with P(x better) = P(diff > rope), P(y better) = P(diff < -rope)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"correlated_ttest needs two equal 1-d arrays, got {x.shape}, {y.shape}")
    if folds < 2:
        raise ValueError(f"folds must be >= 2, got {folds}")
    d = x - y
    n = int(d.size)
    if n < MIN_FOLD_SCORES:
        return FoldResult(
            n,
            folds,
            float(d.mean()) if n else float("nan"),
            skipped=f"too few folds: the test needs >= {MIN_FOLD_SCORES} paired outer scores "
            f"(folds x repeats), got {n}",
        )
    mean, var, df = _corrected(d, folds)
    if var == 0:  # every fold the same difference: the posterior is a point (as baycomp)
        px, py = float(mean > rope), float(mean < -rope)
        low = high = mean
    else:
        scale = float(np.sqrt(var))
        px = float(sps.t.sf(rope, df, mean, scale))
        py = float(sps.t.cdf(-rope, df, mean, scale))
        low, high = (float(v) for v in sps.t.interval(credible, df, mean, scale))
    return FoldResult(
        n,
        folds,
        mean,
        p_x_better=px,
        p_rope=max(0.0, 1.0 - px - py),
        p_y_better=py,
        pvalue=corrected_ttest_p(d, folds),
        low=low,
        high=high,
    )
