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
from statsmodels.stats.multitest import multipletests

from bench import runschema as rs
from bench.cli import main as cli_main
from bench.errors import BenchError
from bench.report import Settings, build_report, list_sweeps, load_results, report_command, stats
from bench.report.frame import prepare
from bench.report.sections import focal_comparisons
from tests.support.synthetic_results import synthetic_results

try:  # the repo's tests package (autorank installs a top-level `tests` that can shadow it)
    from tests.support.browser import open_page, require_chromium
except ImportError:
    from support.browser import open_page, require_chromium

AP = "test_average_precision"
FAST = Settings(nsamples=5000)


@pytest.fixture(scope="module")
def known() -> pd.DataFrame:
    """12 datasets: focal = ce + 0.05 on every fold; weighted == ce exactly."""
    return synthetic_results(12, folds=3, effects={"focal": 0.05})


@pytest.fixture(scope="module")
def small_report(known, tmp_path_factory):
    return build_report(known, out_dir=tmp_path_factory.mktemp("small"), settings=FAST)


# --- statistics with known outcomes ---------------------------------------------------------


@pytest.mark.unit
def test_ranks_friedman_and_posthoc_on_known_outcome(known):
    prep = prepare(known, AP)
    for booster in prep.grid.boosters:
        cols = [(booster, s) for s in ("ce", "weighted", "focal")]
        scores, excluded = prep.scores(cols)
        assert excluded == [] and len(scores) == 12
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
def test_focal_comparisons_win_tie_loss_wilcoxon_bayes(known):
    rows = focal_comparisons(prepare(known, AP), FAST)
    assert len(rows) == 6
    for row in rows:
        res = row.result
        assert (res.wins, res.ties, res.losses) == (12, 0, 0)
        assert res.mean_diff == pytest.approx(0.05)
        assert res.wilcoxon_p < 0.01 and row.holm_p < 0.05
        assert res.p_x_better > 0.99 and res.p_rope < 0.01


@pytest.mark.unit
def test_equal_pair_is_all_ties_and_lower_is_better_orients(known):
    prep = prepare(known, "brier")  # a loss: focal has the lower Brier score here
    scores, _ = prep.scores([("xgboost", "weighted"), ("xgboost", "ce"), ("xgboost", "focal")])
    x, y, f = (stats.orient(scores.iloc[:, i].to_numpy(), True) for i in range(3))
    eq = stats.compare_pair(x, y, tie_tol=0.001, rope=0.01, nsamples=5000)
    assert (eq.wins, eq.ties, eq.losses) == (0, 12, 0) and eq.wilcoxon_p == 1.0
    assert eq.p_rope > 0.99
    better = stats.compare_pair(f, y, tie_tol=0.001, rope=0.01, nsamples=5000)
    assert better.wins == 12 and better.p_x_better > 0.99
    assert stats.average_ranks(stats.orient(scores, True))[("xgboost", "focal")] == 1.0


@pytest.mark.unit
def test_noisy_equal_pair_gives_large_p():
    rng = np.random.default_rng(3)
    x = rng.uniform(0.4, 0.8, 30)
    y = x + rng.normal(0, 0.003, 30)
    res = stats.compare_pair(x, y, tie_tol=0.001, rope=0.01, nsamples=5000)
    assert res.wilcoxon_p > 0.05 and res.p_rope > 0.9 and res.ties > 0


@pytest.mark.unit
def test_holm_and_bayes_match_the_reference_libraries():
    p = [0.01, 0.04, None, 0.03, 0.5]
    ref = multipletests([0.01, 0.04, 0.03, 0.5], method="holm")[1]
    got = stats.holm(p)
    assert got[2] is None
    assert np.allclose([got[i] for i in (0, 1, 3, 4)], ref)
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 0.9, 15)
    y = x + rng.normal(0.004, 0.01, 15)
    ours = stats.bayes_signed_rank(x, y, 0.005, nsamples=4000, seed=7)
    theirs = baycomp.SignedRankTest.probs(x, y, 0.005, nsamples=4000, random_state=7)
    assert np.allclose(ours, theirs)


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
    assert "Wilcoxon needs >= 6 datasets, got" in md
    assert "Critical-difference diagram for lightgbm skipped" in md
    assert "Friedman test skipped" not in md or "complete datasets" in md
    assert "ds000" in md and "† (1/2)" in md  # the incomplete group is marked in the main table
    assert "excluded because a compared group lacks folds" in md
    missing = pd.read_csv(paths.missing_csv)
    assert len(missing) == 1 + 2 + 6
    assert "Ranks for xgboost: left out weighted: no complete dataset" in md
    assert set(missing.reason) == {"no run", "run FAILED"}


@pytest.mark.unit
def test_one_dataset_skips_friedman_and_bayes(tmp_path):
    df = synthetic_results(1, boosters=("lightgbm",), folds=2)
    paths = build_report(df, out_dir=tmp_path, settings=FAST)
    md = paths.markdown.read_text()
    assert "Friedman needs >= 2 complete datasets, got 1" in md
    assert "Bayesian signed-rank needs >= 2 datasets, got 1" in md


@pytest.mark.unit
def test_unknown_metric_lists_available(known, tmp_path):
    with pytest.raises(BenchError, match="available metrics: average_precision, roc_auc"):
        build_report(known, out_dir=tmp_path, metric="accuracy")


# --- full report -----------------------------------------------------------------------------


@pytest.mark.unit
def test_hundred_dataset_report_builds(tmp_path):
    df = synthetic_results(100, folds=5, effects={"focal": 0.01}, strategy_noise=0.01)
    start = time.perf_counter()
    paths = build_report(df, out_dir=tmp_path)
    print(f"100 x 3 x 3 x 5 report built in {time.perf_counter() - start:.1f} s")
    for p in paths.all():
        assert p.stat().st_size > 0, p
    assert len(pd.read_parquet(paths.parquet)) == 4500
    assert len(pd.read_csv(paths.csv)) == 4500
    assert len(paths.figures) == 8
    assert paths.html.read_text().count("data:image/png;base64,") == 8


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
        "Main table",
        "Average ranks, Friedman test and critical differences",
        "Focal loss vs cross-entropy and class weighting",
        "Focal comparison by imbalance tier",
        "Threshold-free and tuned-threshold metrics",
        "Calibration",
        "Cost: fit time",
        "Missing cells",
        "Configuration and reproducibility",
    ]
    for h in headers:
        assert f">{h}</h2>" in page.html, h
    assert "P(focal better)" in page.text and "tier: " in page.text
    assert len(page.evaluated) == len(small_report.figures) == 8
    assert all(done and width > 0 for done, width in page.evaluated)
