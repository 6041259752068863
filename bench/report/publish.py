"""Log a built report as the artifacts of the sweep's one summary run (bench.role = summary),
replacing earlier summary runs so reports do not pile up in the experiment."""

from __future__ import annotations

from pathlib import Path

from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from bench import runschema as rs

ARTIFACT_DIR = "report"


def log_summary_run(
    tracking_uri: str, experiment_id: str, sweep: str, out_dir: Path, metric: str
) -> str:
    """Create the new summary run with the report under ``report/``, then delete older ones."""
    client = MlflowClient(tracking_uri)
    query = f"tags.`{rs.ROLE}` = '{rs.ROLE_SUMMARY}'"
    old = client.search_runs([experiment_id], query, ViewType.ACTIVE_ONLY, 1000)
    run = client.create_run(
        experiment_id,
        run_name=f"report-{sweep}",
        tags={rs.ROLE: rs.ROLE_SUMMARY, rs.TAG_SWEEP: sweep, rs.TAG_REPORT_METRIC: metric},
    )
    try:
        client.log_artifacts(run.info.run_id, str(out_dir), ARTIFACT_DIR)
    except Exception:
        client.set_terminated(run.info.run_id, "FAILED")
        raise
    client.set_terminated(run.info.run_id, "FINISHED")
    for r in old:
        client.delete_run(r.info.run_id)
    return run.info.run_id
