"""The report built from a real sweep (the shared smoke sweep), through the real CLI."""

from __future__ import annotations

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from bench import runschema as rs
from bench.cli import main as cli_main
from tests.sweep_helpers import run_cli, smoke_datasets

pytestmark = pytest.mark.integration


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
    # the summary states the units it rests on and shows no number from too few of them
    md = (out / "report.md").read_text()
    families = results.groupby("dataset")["family"].first().nunique()
    summary = md[md.index("## Summary") : md.index("## Overview")]
    assert f"over {len(smoke_datasets())} datasets in {families} families" in summary
    verdict = f"too few families ({families}) for a test: no verdict"
    assert sum(ln.startswith("| ") and verdict in ln for ln in summary.splitlines()) == 6
    assert "P(focal better) =" not in summary
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
    assert "**lightgbm, ce vs weighted** over 3 datasets" in md


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
