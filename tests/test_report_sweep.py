"""The report built from a real sweep (the shared smoke sweep), through the real CLI."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from bench import runschema as rs
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
    assert "Friedman" in html and "Wilcoxon" in html and "ROPE" in html
    assert (out / "report.md").exists() and (out / "results.parquet").exists()
    rows = (out / "results.csv").read_text().strip().splitlines()
    assert len(rows) - 1 == len(smoke_datasets()) * 3 * 3 * 2  # one row per cell
    client = MlflowClient(smoke_sweep["uri"])
    exp = next(e for e in client.search_experiments() if rs.EXP_SWEEP in e.tags)
    summaries = client.search_runs([exp.experiment_id], f"tags.`{rs.ROLE}` = '{rs.ROLE_SUMMARY}'")
    assert len(summaries) == 1
    paths = [a.path for a in client.list_artifacts(summaries[0].info.run_id, "report")]
    assert "report/report.html" in paths


def test_report_for_an_unknown_sweep_lists_the_sweeps(smoke_sweep):
    result = run_cli(["report", "--tracking-uri", smoke_sweep["uri"], "--sweep", "nope"])
    assert result.returncode == 2
    assert "nope" in result.stderr and "smoke-" in result.stderr
    assert "Traceback" not in result.stderr
