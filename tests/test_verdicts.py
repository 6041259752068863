"""Which loss for my data: per-dataset verdicts from repeated cross-validation (the Bayesian
correlated t-test and the corrected resampled t-test) against baycomp and a hand computation,
on synthetic tables, and on a real one-dataset sweep with a planted difference."""

from __future__ import annotations

import math
from typing import Any

import baycomp
import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from bench import runschema as rs
from bench.config import build_config
from bench.report import Settings, build_report, load_results, sections, stats
from bench.report.frame import prepare
from bench.report.model import Report
from bench.report.render import to_markdown
from bench.report.verdicts import BETTER, SAME, dataset_verdicts, markers
from bench.strategies import STRATEGIES, register_strategy
from bench.strategies.base import Resampled
from bench.strategies.ce import CrossEntropy
from bench.sweep.driver import run_sweep
from tests.support.synthetic_results import synthetic_results

try:  # the repo's tests package (autorank installs a top-level `tests` that can shadow it)
    from tests.support.browser import open_page, require_chromium
except ImportError:
    from support.browser import open_page, require_chromium

AP = "test_average_precision"
FAST = Settings(nsamples=2000)


# --- the tests themselves --------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize(("folds", "repeats", "shift"), [(5, 3, 0.02), (3, 1, 0.0), (10, 2, -0.01)])
def test_correlated_ttest_equals_baycomp(folds, repeats, shift):
    """Closed form (Student t posterior): equal to baycomp's CorrelatedTTest exactly."""
    rng = np.random.default_rng(folds * 7 + repeats)
    x = rng.uniform(0.5, 0.9, folds * repeats)
    y = x - shift + rng.normal(0, 0.02, x.size)
    for rope in (0.01, 0.005):
        got = stats.correlated_ttest(x, y, folds=folds, rope=rope)
        # baycomp's left is "x better" (its difference is y - x); runs = repeats gives its
        # rho = 1 / (n / runs) = 1 / folds
        left, within, right = baycomp.CorrelatedTTest.probs(x, y, rope, runs=repeats)
        assert got.p_x_better == pytest.approx(left, abs=1e-12)
        assert got.p_rope == pytest.approx(within, abs=1e-12)
        assert got.p_y_better == pytest.approx(right, abs=1e-12)
        mean, var, df = baycomp.CorrelatedTTest.compute_statistics(y, x, runs=repeats)
        assert got.mean_diff == pytest.approx(mean, abs=1e-15)
        low, high = sps.t.interval(0.95, df, mean, math.sqrt(var))
        assert (got.low, got.high) == (pytest.approx(low), pytest.approx(high))


@pytest.mark.unit
def test_corrected_resampled_t_test_by_hand():
    """Nadeau and Bengio: t = mean(d) / sqrt((1/n + n_test/n_train) s^2), n - 1 df."""
    d = np.array([0.03, 0.01, 0.02, -0.01, 0.04, 0.02, 0.00, 0.03, 0.01, 0.02])  # 5 folds x 2
    n, k = 10, 5
    mean = sum(d) / n
    s2 = sum((v - mean) ** 2 for v in d) / (n - 1)
    t = mean / math.sqrt((1 / n + (1 / k) / (1 - 1 / k)) * s2)  # n_test / n_train = 1 / (k-1)
    p = 2 * sps.t.sf(abs(t), n - 1)
    assert stats.corrected_ttest_p(d, k) == pytest.approx(p, rel=1e-12)
    assert t == pytest.approx(0.017 / math.sqrt((0.1 + 0.25) * s2))
    res = stats.correlated_ttest(d + 0.5, np.full(n, 0.5), folds=k, rope=0.01)
    assert res.pvalue == pytest.approx(p, rel=1e-12) and res.n == 10


@pytest.mark.unit
def test_fewer_than_two_paired_scores_is_too_few_folds(tmp_path):
    res = stats.correlated_ttest(np.array([0.7]), np.array([0.6]), folds=5, rope=0.01)
    assert res.skipped and res.skipped.startswith("too few folds") and res.p_x_better is None
    df = synthetic_results(1, folds=2, boosters=("lightgbm",), strategies=("ce", "focal"))
    df = df[~((df.strategy == "focal") & (df.fold == 1))]  # one paired outer score left
    verdicts = dataset_verdicts(prepare(df, AP), FAST)
    assert [v.label for v in verdicts] == ["too few folds"]
    md = build_report(df, out_dir=tmp_path, settings=FAST).markdown.read_text()
    evidence = "2 folds x 1 repeat (1 of 2 paired)"
    assert f"**ds000, lightgbm: focal vs ce** over {evidence}: **Verdict: too few folds**" in md
    assert f"| ds000 | lightgbm | focal | {evidence} |{' – |' * 6} too few folds |" in md


@pytest.mark.unit
def test_verdicts_on_a_table_with_a_planted_difference_and_an_a_a_pair():
    """focal = ce + 0.03 with fold noise; weighted == ce on every fold (an A/A pair)."""
    df = synthetic_results(
        2,
        folds=5,
        repeats=3,
        boosters=("lightgbm",),
        effects={"focal": 0.03},
        strategy_noise=0.005,
        seed=2,
    )
    df.loc[df.strategy == "weighted", AP] = df.loc[df.strategy == "ce", AP].to_numpy()
    prep = prepare(df, AP)
    found = dataset_verdicts(prep, FAST)
    verdicts = {(v.dataset, v.strategy): v for v in found}
    for ds in ("ds000", "ds001"):
        focal, twin = verdicts[(ds, "focal")], verdicts[(ds, "weighted")]
        r = focal.result
        ce = df[(df.dataset == ds) & (df.strategy == "ce")].sort_values(["repeat", "fold"])
        fo = df[(df.dataset == ds) & (df.strategy == "focal")].sort_values(["repeat", "fold"])
        left, _, _ = baycomp.CorrelatedTTest.probs(
            fo[AP].to_numpy(), ce[AP].to_numpy(), 0.01, runs=3
        )
        assert r.p_x_better == pytest.approx(left, abs=1e-12) and r.p_x_better >= 0.95
        assert focal.label == f"focal better with probability {r.p_x_better:.3f}"
        assert focal.marker == BETTER and focal.evidence == "5 folds x 3 repeats"
        assert twin.result.p_rope == 1.0 and twin.marker == SAME
        assert twin.label.startswith("practically equivalent")
    table = to_markdown(Report("t", [sections.main_results(prep, markers(found))]))
    row = next(ln for ln in table.splitlines() if ln.startswith("| ds000"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert (
        cells[3].endswith(SAME) and cells[4].strip("*").endswith(BETTER) and BETTER not in cells[2]
    )


@pytest.mark.unit
def test_a_wide_posterior_suggests_more_repeats(tmp_path):
    df = synthetic_results(
        1,
        folds=3,
        boosters=("lightgbm",),
        strategies=("ce", "focal"),
        effects={"focal": 0.01},
        strategy_noise=0.03,
        seed=4,
    )
    (v,) = dataset_verdicts(prepare(df, AP), FAST)
    assert v.label == "inconclusive" and v.wide
    assert v.result.high - v.result.low > 0.02
    md = build_report(df, out_dir=tmp_path, settings=FAST).markdown.read_text()
    summary = md[md.index("## Summary") : md.index("## Per-dataset verdicts")]
    assert "This sweep has 1 dataset in 1 family: too few for any across-dataset test" in summary
    assert "over 3 folds x 1 repeat = 3 paired outer scores" in summary
    assert "more repeats (--repeats) narrow it" in summary


# --- a real one-dataset sweep with a planted difference --------------------------------------

CATALOGUE = """\
datasets:
  planted:
    source: synthetic
    n_samples: 500
    n_features: 5
    n_informative: 3
    n_redundant: 0
    weights: [0.75, 0.25]
    class_sep: 1.5
    flip_y: 0.0
    seed: 3
suites:
  mine: [planted]
"""


class Handicapped(CrossEntropy):
    """Test only: cross-entropy trained on rows whose informative columns (x0..x2) are
    permuted, so it learns from noise; validation and test rows are untouched."""

    name = "test_handicapped"
    resamples = True

    def resample(self, X: pd.DataFrame, y: np.ndarray, params: dict[str, Any], seed: int):
        rng = np.random.default_rng(seed)
        X = X.copy()
        for col in ("x0", "x1", "x2"):
            X[col] = rng.permutation(X[col].to_numpy())
        return Resampled(X, y)


class Twin(CrossEntropy):
    """Test only: cross-entropy under another name (an A/A pair with ce)."""

    name = "test_twin"


@pytest.fixture(scope="module")
def one_dataset_sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted")
    (root / "datasets.yaml").write_text(CATALOGUE)
    mp = pytest.MonkeyPatch()
    mp.setenv("BENCH_DATA_DIR", str(root / "data"))
    register_strategy(Handicapped)
    register_strategy(Twin)
    try:
        cfg = build_config(
            None,
            {
                "datasets": ["planted"],
                "boosters": ["lightgbm"],
                "strategies": ["ce", Twin.name, Handicapped.name],
                "trials": 1,
                "folds": 5,
                "repeats": 3,
                "workers": 1,
                "threads": 1,
                "runs_dir": str(root / "runs"),
                "tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
                "catalogue": str(root / "datasets.yaml"),
            },
        )
        assert run_sweep(cfg) == 0
        results, info = load_results(cfg.tracking_uri, None)
        paths = build_report(results, info, out_dir=root / "report", settings=FAST)
        yield results, info, paths
    finally:
        STRATEGIES.unregister(Handicapped.name)
        STRATEGIES.unregister(Twin.name)
        mp.undo()


@pytest.mark.integration
def test_one_dataset_sweep_gets_a_verdict(one_dataset_sweep):
    results, info, paths = one_dataset_sweep
    assert len(results) == 3 * 5 * 3 and set(results.status) == {rs.FINISHED}
    verdicts = {v.strategy: v for v in dataset_verdicts(prepare(results, AP), FAST)}
    handicapped, twin = verdicts[Handicapped.name], verdicts[Twin.name]
    assert handicapped.result.n == 15 and handicapped.evidence == "5 folds x 3 repeats"
    assert handicapped.result.p_y_better >= 0.95
    assert handicapped.label == f"ce better with probability {handicapped.result.p_y_better:.3f}"
    assert "better" not in twin.label
    assert twin.label == "inconclusive" or twin.label.startswith("practically equivalent")
    md = paths.markdown.read_text()
    lead = md[md.index("## Summary") : md.index("## Per-dataset verdicts")]
    assert "over 5 folds x 3 repeats = 15 paired outer scores" in lead
    assert f"**Verdict: {handicapped.label}.**" in lead
    assert f"**Verdict: {twin.label}.**" in lead


@pytest.mark.browser
def test_one_dataset_report_renders_in_chromium(one_dataset_sweep, tmp_path):
    require_chromium()
    _, _, paths = one_dataset_sweep
    page = open_page(
        paths.html,
        tmp_path / "report.png",
        evaluate="Array.from(document.images).map(i => [i.complete, i.naturalWidth])",
    )
    assert page.errors == []
    assert ">Per-dataset verdicts</h2>" in page.html
    assert "ce better with probability" in page.text
    assert len(page.evaluated) == len(paths.figures) > 0
    assert all(done and width > 0 for done, width in page.evaluated)
