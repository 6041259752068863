"""The report built from a real sweep (the shared smoke sweep), through the real CLI."""

from __future__ import annotations

import baycomp
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from bench import runschema as rs
from bench.cli import main as cli_main
from tests.sweep_helpers import run_cli, smoke_datasets

pytestmark = pytest.mark.integration
AP = "test_average_precision"


def test_report_from_a_real_smoke_sweep(smoke_sweep, tmp_path):
    out = tmp_path / "report"
    result = run_cli(["report", "--tracking-uri", smoke_sweep["uri"], "--out", str(out)])
    assert result.returncode == 0, result.stderr[-3000:]
    html = (out / "report.html").read_text()
    for name in smoke_datasets():
        assert name in html
    for booster in ("lightgbm", "xgboost", "catboost"):
        assert booster in html
    assert (out / "report.md").exists() and (out / "results.parquet").exists()
    results = pd.read_csv(out / "results.csv")
    assert len(results) == len(smoke_datasets()) * 3 * 3 * 2  # one row per cell
    # recalibrated metrics on every cell; recalibration lowers weighted's log loss on average
    for m in rs.CALIBRATED:
        assert results[rs.TEST_PREFIX + m].notna().all(), m
    weighted = results[results.strategy == "weighted"]
    assert weighted["test_log_loss_cal"].mean() < weighted["test_log_loss"].mean()
    # three datasets: too few for an across-dataset test, so the summary leads with the
    # per-dataset verdicts, whose numbers are baycomp's on the folds of results.csv
    md = (out / "report.md").read_text()
    families = results.groupby("dataset")["family"].first().nunique()
    n = len(smoke_datasets())
    summary = md[md.index("## Summary") : md.index("## Per-dataset verdicts")]
    assert f"This sweep has {n} datasets in {families} families: too few for any" in summary
    verdict = f"too few families ({families}) for a test: no verdict"
    assert sum(ln.startswith("| ") and verdict in ln for ln in summary.splitlines()) == 6
    assert "Bayesian signed-rank: P(" not in summary
    for name in smoke_datasets():
        cells = results[(results.dataset == name) & (results.booster == "lightgbm")]
        pair = cells.pivot_table(index=["repeat", "fold"], columns="strategy", values=AP)
        left, within, right = baycomp.CorrelatedTTest.probs(
            pair["focal"].to_numpy(), pair["ce"].to_numpy(), 0.01, runs=1
        )
        line = next(ln for ln in summary.splitlines() if f"{name}, lightgbm: focal vs ce" in ln)
        assert "over 2 folds x 1 repeat = 2 paired outer scores" in line
        assert f"P(focal better) = {left:.3f}" in line and f"P(ce better) = {right:.3f}" in line
    client = MlflowClient(smoke_sweep["uri"])
    exp = next(e for e in client.search_experiments() if rs.EXP_SWEEP in e.tags)
    summaries = client.search_runs([exp.experiment_id], f"tags.`{rs.ROLE}` = '{rs.ROLE_SUMMARY}'")
    assert len(summaries) == 1
    paths = [a.path for a in client.list_artifacts(summaries[0].info.run_id, "report")]
    assert "report/report.html" in paths


def test_report_by_dataset_and_another_baseline(smoke_sweep, tmp_path):
    out = tmp_path / "by-dataset"
    result = run_cli(
        [
            "report",
            "--tracking-uri",
            smoke_sweep["uri"],
            "--out",
            str(out),
            "--unit",
            "dataset",
            "--baseline",
            "weighted",
            "--rope",
            "0.02",
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    md = (out / "report.md").read_text()
    n = len(smoke_datasets())
    assert f"Unit of analysis: **dataset** ({n} datasets)" in md
    assert "ROPE for average_precision: ±0.02 (set on the command line); tie width ±0.002" in md
    assert f"**{smoke_datasets()[0]}, lightgbm: ce vs weighted** over 2 folds x 1 repeat" in md
    assert "| lightgbm | ce | 3 | " in md  # across datasets: three units


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--unit", "team", "error: --unit 'team' is unknown; choose one of: family, dataset"),
        (
            "--failures",
            "drop",
            "error: --failures 'drop' is unknown; choose one of: prior, exclude",
        ),
        (
            "--baseline",
            "nope",
            "error: --baseline 'nope' is not a strategy of this sweep; choose one of: ce, "
            "weighted, focal",
        ),
        ("--rope", "ap=x", "error: --rope 'ap=x': expected WIDTH or METRIC=WIDTH"),
    ],
)
def test_bad_report_flags_are_one_line_errors(smoke_sweep, tmp_path, capsys, flag, value, message):
    """In-process (the CLI's error path is the same; a subprocess each would cost seconds)."""
    args = ["report", "--tracking-uri", smoke_sweep["uri"], "--out", str(tmp_path), flag, value]
    assert cli_main(args) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), err
    assert "Traceback" not in err


def test_report_for_an_unknown_sweep_lists_the_sweeps(smoke_sweep):
    result = run_cli(["report", "--tracking-uri", smoke_sweep["uri"], "--sweep", "nope"])
    assert result.returncode == 2
    assert "nope" in result.stderr and "smoke-" in result.stderr
    assert "Traceback" not in result.stderr
