"""`python -m bench report`: statistics on synthetic tables with known outcomes, the full
report files, an MLflow round trip through a real SQLite store, and the HTML in headless
Chromium."""

from __future__ import annotations

import argparse
import json
import time

import baycomp
import numpy as np
import pandas as pd
import pytest
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from bench import runschema as rs
from bench.cli import main as cli_main
from bench.errors import BenchError
from bench.report import (
    Settings,
    SweepInfo,
    build_report,
    list_sweeps,
    load_results,
    report_command,
    sections,
    stats,
    verdicts,
)
from bench.report.build import make_report
from bench.report.frame import prepare
from bench.report.model import Report
from bench.report.render import to_markdown
from bench.report.sections import baseline_comparisons
from bench.report.settings import ROPE_DEFAULTS, parse_widths
from tests.support.synthetic_results import synthetic_results

try:  # the repo's tests package (autorank installs a top-level `tests` that can shadow it)
    from tests.support.browser import open_page, require_chromium
except ImportError:
    from support.browser import open_page, require_chromium

AP = "test_average_precision"
FAST = Settings(nsamples=5000)


@pytest.fixture(scope="module")
def known() -> pd.DataFrame:
    """12 datasets, each its own family: focal = ce + 0.05 on every fold; weighted == ce."""
    return synthetic_results(12, folds=3, effects={"focal": 0.05})


@pytest.fixture(scope="module")
def small_report(known, tmp_path_factory):
    return build_report(known, out_dir=tmp_path_factory.mktemp("small"), settings=FAST)


def _family_means(df: pd.DataFrame, booster: str, strategy: str, metric: str = AP) -> pd.Series:
    """Computed here independently of bench.report: per-dataset means over folds, then the
    mean over each family's datasets."""
    rows = df[(df.booster == booster) & (df.strategy == strategy) & (df.status == "FINISHED")]
    per_dataset = rows.groupby("dataset")[metric].mean()
    family = rows.groupby("dataset")["family"].first()
    return per_dataset.groupby(family).mean()


def _md(df, st=FAST, info=None, parts=("summary",)) -> str:
    """Markdown of some sections only, built as bench.report.build does (no figures drawn
    unless a section asked for has one: most tests need numbers, not pictures)."""
    info = info or SweepInfo(name="t")
    prep = prepare(df, AP, info.config, unit=st.unit, failures=st.failures, skipped=info.skipped)
    budget = sections.tuning_budget(prep, info)
    comps = sections.baseline_comparisons(prep, st)
    make = {
        "summary": lambda: sections.summary_section(
            prep, st, comps, budget, verdicts.dataset_verdicts(prep, st)
        ),
        "overview": lambda: sections.overview(prep, info, st, len(df), budget),
        "main": lambda: sections.main_results(prep),
        "ranks": lambda: sections.ranks_section(prep, st),
        "baseline": lambda: sections.baseline_section(prep, st, comps),
    }
    return to_markdown(Report("t", [make[name]() for name in parts]))


def _section(md: str, title: str) -> str:
    start = md.index(f"## {title}")
    end = md.find("\n## ", start + 3)
    return md[start : end if end > 0 else None]


# --- statistics with known outcomes ---------------------------------------------------------


@pytest.mark.unit
def test_ranks_friedman_and_posthoc_on_known_outcome(known):
    prep = prepare(known, AP)
    for booster in prep.grid.boosters:
        cols = [(booster, s) for s in ("ce", "weighted", "focal")]
        us = prep.scores(cols)
        scores = us.values
        assert us.excluded == [] and len(scores) == 12
        ranks = stats.average_ranks(scores)
        assert ranks[(booster, "focal")] == 1.0
        assert ranks[(booster, "ce")] == ranks[(booster, "weighted")] == 2.5
        fr = stats.friedman(scores)
        assert fr.skipped is None and fr.pvalue < 0.001
        scores.columns = ["ce", "weighted", "focal"]
        sig = stats.pairwise_wilcoxon_holm(scores)
        assert sig.loc["focal", "ce"] < 0.01 and sig.loc["focal", "weighted"] < 0.01
        assert sig.loc["ce", "weighted"] == 1.0


@pytest.mark.unit
def test_baseline_comparisons_win_tie_loss_wilcoxon_bayes(known):
    rows = baseline_comparisons(prepare(known, AP), FAST)
    assert [(c.booster, c.strategy) for c in rows] == [
        (b, s) for b in ("lightgbm", "xgboost", "catboost") for s in ("weighted", "focal")
    ]
    for c in rows:
        res = c.result
        if c.strategy == "focal":
            assert (res.wins, res.ties, res.losses) == (12, 0, 0)
            assert res.mean_diff == pytest.approx(0.05)
            assert res.wilcoxon_p < 0.01 and c.holm_p < 0.05
            assert res.p_x_better > 0.99 and res.p_rope < 0.01
        else:
            assert (res.wins, res.ties, res.losses) == (0, 12, 0) and res.p_rope > 0.99


@pytest.mark.unit
def test_bayesian_posteriors_do_not_depend_on_the_order_of_the_units():
    """baycomp's answer moves with the order it is given the units in; bench's must not (the
    published LightGBM smote verdict read 0.949 or 0.9505 with the families reordered)."""
    from bench.report import stats

    rng = np.random.default_rng(11)
    x = rng.uniform(0.5, 1.0, 41)
    y = x - rng.normal(0.004, 0.01, 41)
    first = stats.bayes_signed_rank(x, y, 0.01, nsamples=20000)
    by_position = []
    for _ in range(10):
        order = rng.permutation(41)
        assert stats.bayes_signed_rank(x[order], y[order], 0.01, nsamples=20000) == first
        by_position.append(baycomp.SignedRankTest.probs(x[order], y[order], 0.01, nsamples=4000))
    assert len({round(p[0], 6) for p in by_position}) > 1  # baycomp itself does move


@pytest.mark.unit
def test_a_verdict_within_monte_carlo_error_of_the_threshold_is_flagged():
    from bench.report import stats
    from bench.report.sections import Comparison, verdict

    def said(p_better: float, nsamples: int = 200_000) -> str:
        res = stats.PairResult(41, 20, 1, 20, 0.01, 0.01, 0.5, None, p_better,
                               1 - p_better, 0.0, None)  # fmt: skip
        c = Comparison("lightgbm", "smote", "ce", res, 1.0, None, 0, 0, 0.01, 0.001, nsamples)  # type: ignore[arg-type]
        return verdict(c, "families")

    assert stats.monte_carlo_error(0.95) == pytest.approx(np.sqrt(0.95 * 0.05 / 200_000))
    assert said(0.9505).startswith("smote better with probability 0.951 (borderline")
    assert said(0.949).startswith("inconclusive (borderline: 0.949")
    assert "borderline" not in said(0.96) and "borderline" not in said(0.94)
    assert "borderline" in said(0.96, nsamples=400)  # few samples: a wide error


@pytest.fixture(scope="module")
def noisy() -> pd.DataFrame:
    """16 datasets in 8 families of two, unshared noise, focal +0.03, weighted -0.004."""
    return synthetic_results(
        16,
        folds=3,
        effects={"focal": 0.03, "weighted": -0.004},
        strategy_noise=0.02,
        seed=5,
        families=[f"fam{i // 2}" for i in range(16)],
    )


@pytest.mark.unit
@pytest.mark.parametrize("unit", ["family", "dataset"])
def test_summary_numbers_equal_scipy_statsmodels_and_baycomp(noisy, tmp_path, unit):
    """Every number of the summary against values computed here from the raw table."""
    st = Settings(nsamples=4000, seed=3, unit=unit)
    prep = prepare(noisy, AP, unit=unit)
    comps = baseline_comparisons(prep, st)
    raw_p, expected = [], []
    for c in comps:
        if unit == "family":
            x = _family_means(noisy, c.booster, c.strategy)
            y = _family_means(noisy, c.booster, "ce")
        else:
            r = noisy[noisy.booster == c.booster]
            x = r[r.strategy == c.strategy].groupby("dataset")[AP].mean()
            y = r[r.strategy == "ce"].groupby("dataset")[AP].mean()
        order = c.scores.values.index
        x, y = x.reindex(order).to_numpy(), y.reindex(order).to_numpy()
        assert len(x) == (8 if unit == "family" else 16) == c.n
        d = x - y
        wilcoxon = sps.wilcoxon(x, y, zero_method="zsplit").pvalue
        # baycomp matches its draws to units by position; bench feeds them sorted by difference
        by_diff = np.argsort(y - x, kind="stable")
        bayes = baycomp.SignedRankTest.probs(
            x[by_diff], y[by_diff], 0.01, nsamples=4000, random_state=3
        )
        res = c.result
        assert (res.wins, res.losses) == (int((d > 0.001).sum()), int((d < -0.001).sum()))
        assert res.median_diff == pytest.approx(np.median(d), abs=1e-12)
        assert res.wilcoxon_p == pytest.approx(wilcoxon, rel=1e-9)
        assert np.allclose([res.p_x_better, res.p_rope, res.p_y_better], bayes, atol=1e-12)
        raw_p.append(wilcoxon)
        expected.append(bayes)
    holm = multipletests(raw_p, method="holm")[1]
    assert np.allclose([c.holm_p for c in comps], holm, atol=1e-12)
    # the rendered summary states those numbers and the verdict they support
    md = _md(noisy, st)
    summary = _section(md, "Summary")
    words = "16 datasets in 8 families" if unit == "family" else "over 16 datasets"
    assert words in summary
    for c, p, probs in zip(comps, holm, expected, strict=True):
        line = next(ln for ln in summary.splitlines() if f"{c.booster}, {c.strategy} vs ce" in ln)
        assert f"p = {p:.3f}" in line or f"p = {p:.2e}" in line
        res = c.result
        assert f"P({c.strategy} better) = {res.p_x_better:.3f}" in line
        assert f"P(ce better) = {res.p_y_better:.3f}" in line
        if probs[0] >= 0.95:
            assert f"Verdict: {c.strategy} better with probability {res.p_x_better:.3f}" in line
        elif probs[2] >= 0.95:
            assert f"Verdict: ce better with probability {res.p_y_better:.3f}" in line
        elif probs[1] >= 0.95:
            assert "Verdict: practically equivalent" in line
        else:
            assert "Verdict: inconclusive" in line
        # the headline table carries the same probabilities (the README quotes it)
        row = next(
            ln for ln in summary.splitlines() if ln.startswith(f"| {c.booster} | {c.strategy} |")
        )
        assert " | ".join(f"{v:.3f}" for v in probs) in row
    verdicts = {c.strategy for c in comps if "better with" in c_line(summary, c)}
    assert "focal" in verdicts  # the planted effect is found somewhere


def c_line(summary: str, c) -> str:
    return next(ln for ln in summary.splitlines() if f"{c.booster}, {c.strategy} vs ce" in ln)


@pytest.mark.unit
def test_a_family_of_three_identical_datasets_counts_once():
    """ds000..ds002 are one dataset thrice (family A): under --unit family they are one unit,
    so every statistic equals the per-dataset one without the two copies."""
    base = synthetic_results(
        8,
        folds=2,
        effects={"focal": 0.01},
        strategy_noise=0.02,
        seed=11,
        families=["A", "A", "A", "d3", "d4", "d5", "d6", "d7"],
    )
    copy = base[base.dataset == "ds000"]
    df = pd.concat(
        [base[~base.dataset.isin(["ds001", "ds002"])]]
        + [copy.assign(dataset=name) for name in ("ds001", "ds002")],
        ignore_index=True,
    )
    by_family = baseline_comparisons(prepare(df, AP, unit="family"), FAST)
    without_copies = df[~df.dataset.isin(["ds001", "ds002"])]
    by_dataset = baseline_comparisons(prepare(without_copies, AP, unit="dataset"), FAST)
    with_copies = baseline_comparisons(prepare(df, AP, unit="dataset"), FAST)
    for fam, one, three in zip(by_family, by_dataset, with_copies, strict=True):
        assert fam.n == one.n == 6 and three.n == 8
        for field in ("wins", "ties", "losses", "wilcoxon_p", "p_x_better", "p_rope"):
            assert getattr(fam.result, field) == pytest.approx(getattr(one.result, field))
        assert fam.result.median_diff == pytest.approx(one.result.median_diff, abs=1e-12)
        assert fam.holm_p == pytest.approx(one.holm_p)
    assert prepare(df, AP).unit_phrase(sorted(set(df.dataset))) == "8 datasets in 6 families"


@pytest.mark.unit
def test_a_strategy_failing_on_its_three_worst_datasets_ranks_lower(tmp_path):
    df = synthetic_results(10, folds=3, effects={"focal": 0.05}, boosters=("lightgbm",))
    df["minority_count"] = 20  # a 2% minority: the prior's AP (0.02) is below every model's
    focal = df[df.strategy == "focal"].groupby("dataset")[AP].mean()
    worst = list(focal.nsmallest(3).index)
    failing = df.copy()
    failing.loc[failing.dataset.isin(worst) & (failing.strategy == "focal"), "status"] = "FAILED"

    def focal_rank(table, failures="prior"):
        prep = prepare(table, AP, unit="dataset", failures=failures)
        us = prep.scores([("lightgbm", s) for s in ("ce", "weighted", "focal")])
        return stats.average_ranks(us.values)[("lightgbm", "focal")], us.n, prep

    ok_rank, ok_n, _ = focal_rank(df)
    fail_rank, fail_n, prep = focal_rank(failing)
    old_rank, old_n, _ = focal_rank(failing, "exclude")
    assert ok_rank == 1.0 and ok_n == 10
    assert fail_n == 10 and fail_rank == pytest.approx((7 * 1 + 3 * 3) / 10)  # last on those 3
    assert old_n == 7 and old_rank == 1.0  # the old behaviour hid the failures
    for d in worst:  # scored as the constant prior: AP = the minority share
        assert prep.mean.loc[d, ("lightgbm", "focal")] == pytest.approx(20 / 1000)
        assert prep.failed.loc[d, ("lightgbm", "focal")] == 3
    md = _md(failing, Settings(nsamples=2000, unit="dataset"), parts=("summary", "main"))
    assert "9 failed cell(s) are scored as the constant class-prior predictor" in md
    assert "lightgbm/focal 9" in md and "0.020 ± 0.000 ‡3" in md
    line = next(ln for ln in _section(md, "Summary").splitlines() if "focal vs ce" in ln)
    assert "focal better on 7, tied on 0 (|Δ| <= 0.001), worse on 3" in line
    assert "Failed cells scored as the class prior: focal 9, ce 0" in line


@pytest.mark.unit
def test_skipped_tests_are_shown_as_too_few_never_as_numbers(tmp_path):
    df = synthetic_results(4, folds=2, effects={"focal": 0.05})  # 4 families < 5
    md = _md(df, parts=("summary", "ranks", "baseline"))
    summary = _section(md, "Summary")
    verdict = "too few families (4) for a test: no verdict"
    assert sum(ln.startswith("| ") and verdict in ln for ln in summary.splitlines()) == 6
    assert "Bayesian signed-rank: P(" not in summary and "Holm-adjusted p =" not in summary
    assert "This sweep has 4 datasets in 4 families: too few for any across-dataset test" in summary
    rows = [ln for ln in summary.splitlines() if ln.startswith("| lightgbm | focal")]
    assert rows == [
        "| lightgbm | focal | 4 | 4/0/0 | 0.0500 | too few | too few | too few | too few "
        "| too few families (4) for a test: no verdict |"
    ]
    table = _section(md, "Each strategy vs the baseline (ce)")
    row = next(ln for ln in table.splitlines() if ln.startswith("| catboost | focal"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[6:11] == ["too few"] * 5  # Wilcoxon, Holm, three probabilities
    assert "Bayesian signed-rank needs >= 5 families, got 4" in table
    ranks = _section(md, "Average ranks, Friedman test and critical differences")
    assert "| lightgbm | 2.50 | 2.50 | **1.00** | 4 | too few | too few | too few |" in ranks
    # five units: the Bayesian test runs, Wilcoxon still cannot
    five = baseline_comparisons(prepare(synthetic_results(5, folds=2), AP), FAST)
    assert all(c.result.p_rope is not None and c.result.wilcoxon_p is None for c in five)


@pytest.mark.unit
def test_calibration_compares_the_recalibrated_metrics(known, small_report):
    md = small_report.markdown.read_text()
    cal = _section(md, "Calibration")
    for m in ("log_loss_cal", "brier_cal", "ece_cal"):
        assert f"*{m}, each strategy vs ce;" in cal
        rope = ROPE_DEFAULTS[m]
        assert f"ROPE ±{rope:g}" in cal.split(f"*{m}, each strategy vs ce;")[1].split("\n")[0]
    assert "Raw (not recalibrated) log loss" in cal
    prep = prepare(known, AP)
    st = FAST
    comps = baseline_comparisons(prep, st, column="test_brier_cal")
    focal = next(c for c in comps if c.strategy == "focal")  # lower Brier is better for focal
    assert focal.result.wins == 12 and focal.rope == 0.002


@pytest.mark.unit
def test_another_baseline_compares_everything_with_it(known, tmp_path):
    st = Settings(nsamples=2000, baseline="weighted")
    comps = baseline_comparisons(prepare(known, AP), st)
    assert {(c.strategy, c.baseline) for c in comps} == {("ce", "weighted"), ("focal", "weighted")}
    md = _md(known, st)
    assert "Each strategy against the baseline **weighted**" in md
    with pytest.raises(
        BenchError,
        match=r"--baseline 'nope' is not a strategy of this sweep; choose one of: ce, weighted, focal",
    ):
        build_report(known, out_dir=tmp_path, settings=Settings(baseline="nope"))


@pytest.mark.unit
def test_bad_unit_failures_and_widths_are_one_line_errors():
    with pytest.raises(
        BenchError, match=r"^--unit 'team' is unknown; choose one of: family, dataset$"
    ):
        Settings(unit="team")
    with pytest.raises(BenchError, match=r"choose one of: prior, exclude"):
        Settings(failures="drop")
    with pytest.raises(BenchError, match=r"--rope 'x=abc': expected WIDTH or METRIC=WIDTH"):
        parse_widths("--rope", ["x=abc"], AP)
    widths = parse_widths("--rope", ["0.03", "test_brier_cal=0.001", "f1_tuned=0.05"], AP)
    assert widths == {"average_precision": 0.03, "brier_cal": 0.001, "f1": 0.05}
    st = Settings(rope=widths, tie={"f1": 0.002})
    assert st.rope_for(AP) == 0.03 and st.tie_for(AP) == pytest.approx(0.003)
    assert st.rope_for("test_f1_t050") == 0.05 and st.tie_for("test_f1_tuned") == 0.002
    assert st.rope_for("test_mcc_tuned") == 0.02 and st.rope_for("test_log_loss") == 0.005


@pytest.mark.unit
def test_no_family_tag_means_one_family_per_dataset_and_says_so(tmp_path):
    df = synthetic_results(6, folds=2, boosters=("lightgbm",)).drop(columns="family")
    prep = prepare(df, AP)
    assert prep.n_units(prep.datasets) == 6
    md = _md(df, parts=("summary", "overview"))
    assert "The sweep records no family tag: each dataset counts as its own family." in md
    assert "6 datasets in 6 families" in md


@pytest.mark.unit
def test_budget_below_the_samplers_start_up_is_warned(known, tmp_path):
    inner = {"kind": "holdout", "valid_fraction": 0.25}
    old = SweepInfo(name="old", config={"trials": 4, "sampler": "tpe", "inner": inner})
    md = _md(known, info=old, parts=("summary", "overview"))
    assert "| of which random start-up | 10 (Optuna TPE's default start-up" in md
    assert "does not exceed the sampler's random start-up" in md
    assert "| inner validation scheme | holdout (validation fraction 0.25)" in md
    recorded = known.assign(
        **{rs.M_STARTUP_TRIALS: 4.0, rs.M_INNER_VALID_MINORITY: 7.0, "inner_kind": "kfold"}
    )
    recorded.loc[recorded.index[:10], rs.M_INNER_VALID_MINORITY] = 3.0
    new = SweepInfo(name="new", config={"trials": 10, "sampler": "tpe", "startup_trials": None})
    md = _md(recorded, info=new, parts=("summary", "overview"))
    assert "| of which random start-up | 4 (recorded by the cells) |" in md
    assert "| minority rows in an inner validation part | min 3, median 7.0 rows |" in md
    assert "| inner validation scheme | kfold (324 cells) |" in md
    assert "does not exceed the sampler's random start-up" not in md


# --- degradation -----------------------------------------------------------------------------


@pytest.mark.unit
def test_too_few_datasets_and_missing_cells_are_stated(tmp_path):
    df = synthetic_results(3, folds=2, effects={"focal": 0.02})
    gone = (
        (df.dataset == "ds000")
        & (df.booster == "lightgbm")
        & (df.strategy == "ce")
        & (df.fold == 1)
    )
    failed = (df.dataset == "ds002") & (df.booster == "catboost") & (df.strategy == "focal")
    absent = (df.booster == "xgboost") & (df.strategy == "weighted")  # a whole group never ran
    df = df[~gone & ~absent].copy()
    df.loc[failed, "status"] = "FAILED"
    paths = build_report(df, out_dir=tmp_path, settings=FAST)
    md = paths.markdown.read_text()
    assert "Wilcoxon needs >= 6 families, got" in md
    assert "Critical-difference diagram for lightgbm skipped" in md
    assert "ds000" in md and "† (1/2)" in md  # the incomplete group is marked in the main table
    assert "‡2" in md  # the failed group is marked
    assert "excluded because a compared group lacks cells" in md
    missing = pd.read_csv(paths.missing_csv)
    assert len(missing) == 1 + 2 + 6
    assert missing.scored_as_prior.sum() == 2
    assert "Ranks for xgboost: left out weighted: no complete dataset" in md
    assert set(missing.reason) == {"no run", "run FAILED"}


@pytest.mark.unit
def test_skipped_pairs_are_neither_missing_nor_failed(tmp_path):
    df = synthetic_results(3, folds=2, boosters=("lightgbm", "xgboost"))
    df = df[~((df.booster == "xgboost") & (df.strategy == "focal"))]
    info = SweepInfo(
        name="s",
        config={"folds": 2, "repeats": 1},
        skipped=[
            {
                "booster": "xgboost",
                "strategy": "focal",
                "datasets": ["ds000", "ds001", "ds002"],
                "reason": "no custom objective",
            }
        ],
    )
    paths = build_report(df, info, out_dir=tmp_path, settings=FAST)
    assert len(pd.read_csv(paths.missing_csv)) == 0
    md = paths.markdown.read_text()
    assert (
        "= 30 expected cells" in md
        and "3 dataset x booster x strategy combination(s) were not planned" in md
    )
    assert "xgboost x focal on 3 dataset(s): no custom objective" in md


@pytest.mark.unit
def test_unknown_metric_lists_available(known, tmp_path):
    with pytest.raises(BenchError, match="available metrics: average_precision, roc_auc"):
        build_report(known, out_dir=tmp_path, metric="accuracy")


# --- full report -----------------------------------------------------------------------------


@pytest.mark.unit
def test_hundred_dataset_report_builds(tmp_path):
    families = [f"fam{i // 3}" for i in range(100)]
    df = synthetic_results(
        100, folds=5, effects={"focal": 0.01}, strategy_noise=0.01, families=families
    )
    start = time.perf_counter()
    paths = build_report(df, out_dir=tmp_path)
    print(f"100 x 3 x 3 x 5 report built in {time.perf_counter() - start:.1f} s")
    for p in paths.all():
        assert p.stat().st_size > 0, p
    assert len(pd.read_parquet(paths.parquet)) == 4500
    assert len(pd.read_csv(paths.csv)) == 4500
    assert len(paths.figures) == 8
    assert paths.html.read_text().count("data:image/png;base64,") == 8
    assert "100 datasets in 34 families" in paths.markdown.read_text()


# --- MLflow round trip -----------------------------------------------------------------------

TAGS = {
    "dataset": rs.TAG_DATASET,
    "booster": rs.TAG_BOOSTER,
    "strategy": rs.TAG_STRATEGY,
    "repeat": rs.TAG_REPEAT,
    "fold": rs.TAG_FOLD,
    "tier": rs.TAG_TIER,
    "imbalance_ratio": rs.TAG_IMBALANCE_RATIO,
    "n_rows": rs.TAG_N_ROWS,
    "git_commit": rs.TAG_GIT_COMMIT,
}
METRICS = [*rs.test_metric_names(), rs.M_FIT_TIME, rs.M_THRESHOLD]


def _write_sweep(client: MlflowClient, name: str, df: pd.DataFrame, artifacts, created: str) -> str:
    config = {
        "target": "average_precision",
        "folds": 2,
        "repeats": 1,
        "boosters": sorted(set(df.booster)),
    }
    exp = client.create_experiment(
        f"bench-{name}",
        artifact_location=artifacts.as_uri(),
        tags={
            rs.EXP_SWEEP: name,
            rs.EXP_CONFIG: json.dumps(config),
            rs.EXP_CONFIG_HASH: "abc123",
            rs.EXP_COMMAND: f"python -m bench run --name {name}",
            rs.EXP_CREATED: created,
        },
    )
    now = int(time.time() * 1000)
    for i, row in enumerate(df.itertuples(index=False)):
        tags = {rs.ROLE: rs.ROLE_CELL, rs.TAG_VERSION_PREFIX + "lightgbm": "4.7.0"}
        tags.update({tag: str(getattr(row, col)) for col, tag in TAGS.items()})
        run = client.create_run(exp, tags=tags)
        if row.status == "FINISHED":
            client.log_batch(
                run.info.run_id, [Metric(m, float(getattr(row, m)), now, 0) for m in METRICS]
            )
        if i < 2:  # a few child trial runs, which the report must ignore
            trial = client.create_run(
                exp, tags={rs.ROLE: rs.ROLE_TRIAL, "mlflow.parentRunId": run.info.run_id}
            )
            client.set_terminated(trial.info.run_id)
        client.set_terminated(run.info.run_id, row.status)
    return exp


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri)
    df = synthetic_results(2, boosters=("lightgbm", "xgboost"), folds=2, effects={"focal": 0.02})
    df = df[[*TAGS, "status", *METRICS]].copy()
    df.loc[df.index[-1], "status"] = "FAILED"
    _write_sweep(client, "older", df.head(4), root / "a1", "2026-01-01T00:00:00")
    exp = _write_sweep(client, "quick-abc", df, root / "a2", "2026-02-01T00:00:00")
    return uri, exp, df


@pytest.mark.integration
def test_load_results_reads_the_sweep_back_exactly(store):
    uri, exp, src = store
    assert list_sweeps(uri) == ["older", "quick-abc"]
    df, info = load_results(uri, None)  # the latest sweep
    assert info.name == "quick-abc" and info.experiment_id == exp
    assert info.config["target"] == "average_precision" and info.command.endswith("quick-abc")
    assert len(df) == len(src) and "run_id" in df
    keys = ["dataset", "booster", "strategy", "repeat", "fold"]
    got = df.sort_values(keys).reset_index(drop=True)
    want = src.sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(
        got[[*TAGS, "status"]], want[[*TAGS, "status"]], check_dtype=False
    )
    done = want.status == "FINISHED"
    assert np.array_equal(
        got.loc[done, METRICS].to_numpy(float), want.loc[done, METRICS].to_numpy(float)
    )
    assert got.loc[~done, METRICS].isna().all(axis=None)
    assert set(got["version.lightgbm"]) == {"4.7.0"}


@pytest.mark.integration
def test_unknown_sweep_lists_sweeps(store):
    uri, _, _ = store
    with pytest.raises(BenchError, match="sweeps found: quick-abc, older"):
        load_results(uri, "nope")
    assert cli_main(["report", "--tracking-uri", uri, "--sweep", "nope"]) == 2


@pytest.mark.integration
def test_no_local_store_says_no_sweep_yet(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BenchError, match="no sweep has been run yet"):
        report_command(argparse.Namespace(sweep=None, tracking_uri=None, metric=None, out=None))
    assert not (tmp_path / "runs").exists()


@pytest.mark.integration
def test_report_command_logs_one_summary_run(store, tmp_path, capsys):
    uri, exp, _ = store
    args = argparse.Namespace(
        sweep="quick-abc", tracking_uri=uri, metric="roc_auc", out=str(tmp_path / "r")
    )
    assert report_command(args) == 0
    assert report_command(args) == 0  # again: replaces the summary run
    out = capsys.readouterr().out
    assert "report.html" in out and "results.parquet" in out
    client = MlflowClient(uri)
    summaries = client.search_runs([exp], f"tags.`{rs.ROLE}` = '{rs.ROLE_SUMMARY}'")
    assert len(summaries) == 1
    names = {a.path for a in client.list_artifacts(summaries[0].info.run_id, "report")}
    assert {
        "report/report.html",
        "report/report.md",
        "report/results.csv",
        "report/results.parquet",
        "report/missing_cells.csv",
    } <= names
    md = (tmp_path / "r" / "report.md").read_text()
    assert (
        "test_roc_auc" in md and "run FAILED" in md and "python -m bench run --name quick-abc" in md
    )


# --- the HTML in a real browser --------------------------------------------------------------


@pytest.mark.browser
def test_html_renders_in_headless_chromium(small_report, tmp_path):
    require_chromium()
    page = open_page(
        small_report.html,
        tmp_path / "report.png",
        evaluate="Array.from(document.images).map(i => [i.complete, i.naturalWidth])",
    )
    assert page.errors == []
    assert page.screenshot.stat().st_size > 10_000
    headers = [
        "Summary",
        "Overview",
        "Main table",
        "Average ranks, Friedman test and critical differences",
        "Each strategy vs the baseline (ce)",
        "By imbalance tier",
        "Threshold-free and tuned-threshold metrics",
        "Calibration",
        "Cost: fit time",
        "Failed and missing cells",
        "Configuration and reproducibility",
    ]
    for h in headers:
        assert f">{h}</h2>" in page.html, h
    assert "Verdict: focal better with probability 1.000" in page.text and "tier: " in page.text
    assert len(page.evaluated) == len(small_report.figures) == 8
    assert all(done and width > 0 for done, width in page.evaluated)


@pytest.mark.unit
def test_a_refit_defect_stands_out_in_the_inner_outer_diagnostic(tmp_path):
    """One booster's outer test falls far below its inner validation on one dataset (the
    published CatBoost refit defect's signature): the diagnostic lists exactly those groups,
    with the gaps computed here."""
    table = synthetic_results(8, strategies=("ce", "weighted"), folds=3, seed=4)
    bad = (table["dataset"] == "ds003") & (table["booster"] == "catboost")
    table.loc[bad, AP] = 0.3
    report, _ = make_report(table, SweepInfo("t", config={"target": "average_precision"}),
                            AP, FAST)  # fmt: skip
    sec = next(s for s in report.sections if s.anchor == "inner-outer")
    per_booster, flagged = [b for b in sec.blocks if hasattr(b, "rows")]
    means = {r[0].text: float(r[2].text) for r in per_booster.rows}
    done = table.assign(gap=table["inner_best_score"] - table[AP])
    for booster, gap in done.groupby("booster")["gap"].mean().items():
        assert means[booster] == pytest.approx(gap, abs=5e-5)
    listed = [(r[0].text, r[1].text, r[2].text, float(r[5].text)) for r in flagged.rows]
    expected = done[bad].groupby("strategy")["gap"].mean()
    assert sorted(listed) == sorted(
        ("ds003", s, "catboost", pytest.approx(g, abs=5e-4)) for s, g in expected.items()
    )


@pytest.mark.unit
def test_the_threshold_effect_counts_gains_at_half_that_tuning_removes(tmp_path):
    """A strategy planted +0.1 on every metric at 0.5 and equal to ce once tuned: the section
    counts it ahead in every comparison at 0.5 and in none tuned, with the medians computed
    here."""
    from bench.report.thresholds import THRESHOLDED, threshold_section

    table = synthetic_results(8, strategies=("ce", "weighted"), folds=3, seed=2)
    at_half = [rs.TEST_PREFIX + m + rs.AT_HALF for m in THRESHOLDED]
    table.loc[table["strategy"] == "weighted", at_half] += 0.1
    prep = prepare(table, AP, {}, unit="dataset")
    sec = threshold_section(prep, FAST)
    headline = sec.blocks[0].text
    assert "at 0.5, a strategy is ahead of ce by median in 15 of 15" in headline
    assert "better with posterior probability >= 0.95 in 15" in headline
    assert "tuned, a strategy is ahead of ce by median in 0 of 15" in headline
    grid = sec.blocks[-1]
    for row in grid.rows:
        booster = row[0].text
        rows = table[table["booster"] == booster]
        for m, cell in zip(THRESHOLDED, row[2::2], strict=True):
            col = rs.TEST_PREFIX + m + rs.AT_HALF
            means = rows.groupby(["strategy", "dataset"])[col].mean()
            expected = (means["weighted"] - means["ce"]).median()
            assert float(cell.text) == pytest.approx(expected, abs=5e-4) and cell.bold
