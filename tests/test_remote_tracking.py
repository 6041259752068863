"""Logging to a real `mlflow server` over HTTP, with a PostgreSQL backend store.

Runs are checked through MLflow's REST API with plain HTTP, as any other client would see
them. The server is stopped mid-sweep to prove that a dead server stops the sweep with a
message naming it and that re-running completes without duplicates.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest

from bench import runschema as rs
from tests.support.servers import mlflow_server, postgres_database
from tests.sweep_helpers import export_flags, popen_cli, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

DATASET = "synth_smoke"  # 300 rows: 150 in each outer-test fold with --folds 2
TRIALS = 2
FOLDS = 2
SWEEP = ["--datasets", DATASET, "--boosters", "lightgbm", "--strategies", "ce", "focal"]
SECRET = "pw-" + uuid.uuid4().hex[:12]
ENV_SECRET = "envpw-" + uuid.uuid4().hex[:12]
FAST_FAIL = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}


# --- plain-HTTP view of the server ------------------------------------------------------
def post(base: str, path: str, body: dict) -> dict:
    req = urllib.request.Request(
        f"{base}/api/2.0/mlflow/{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


def experiment(base: str, sweep: str) -> dict:
    found = post(
        base, "experiments/search", {"max_results": 10, "filter": f"name = 'bench/{sweep}'"}
    )
    exps = found.get("experiments", [])
    assert len(exps) == 1, found
    return exps[0]


def search_runs(base: str, experiment_id: str, role: str | None = None) -> list[dict]:
    body: dict = {"experiment_ids": [experiment_id], "max_results": 1000}
    if role:
        body["filter"] = f"tags.`{rs.ROLE}` = '{role}'"
    runs, token = [], None
    while True:
        page = post(base, "runs/search", {**body, **({"page_token": token} if token else {})})
        runs.extend(page.get("runs", []))
        token = page.get("next_page_token")
        if not token:
            return runs


def tags(run: dict) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run["data"].get("tags", [])}


def params(run: dict) -> dict[str, str]:
    return {p["key"]: p["value"] for p in run["data"].get("params", [])}


def check_exact(base: str, sweep: str, n_cells: int, trials: int) -> tuple[list, list]:
    """One FINISHED parent per cell, `trials` FINISHED children 0..N-1 each, nothing else."""
    exp_id = experiment(base, sweep)["experiment_id"]
    everything = search_runs(base, exp_id)
    parents = search_runs(base, exp_id, rs.ROLE_CELL)
    children = search_runs(base, exp_id, rs.ROLE_TRIAL)
    assert len(everything) == len(parents) + len(children)
    assert len(parents) == n_cells
    assert len({tags(r)[rs.TAG_CELL_KEY] for r in parents}) == n_cells
    assert {r["info"]["status"] for r in everything} == {"FINISHED"}
    numbers: dict[str, list[int]] = {r["info"]["run_id"]: [] for r in parents}
    for child in children:
        numbers[tags(child)["mlflow.parentRunId"]].append(int(tags(child)[rs.TAG_TRIAL_NUMBER]))
    assert all(sorted(n) == list(range(trials)) for n in numbers.values()), numbers
    return parents, children


# --- one sweep over HTTP, with credentials in the URI and the environment ----------------
@pytest.fixture(scope="module")
def remote_sweep(tmp_path_factory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("remote")
    with (
        postgres_database("bench_mlflow") as backend,
        mlflow_server(backend, root / "artifacts") as base,
    ):
        name = f"remote-{uuid.uuid4().hex[:6]}"
        with_user = base.replace("http://", f"http://bench:{SECRET}@")
        args = ["run", "--name", name, "--runs-dir", str(root / "runs")]
        args += ["--tracking-uri", with_user, *SWEEP]
        args += ["--trials", str(TRIALS), "--folds", str(FOLDS), "--workers", "2"]
        t0 = time.monotonic()
        env = {"MLFLOW_TRACKING_USERNAME": "bench", "MLFLOW_TRACKING_PASSWORD": ENV_SECRET}
        out = run_cli(args, timeout=420, env=env)
        print(f"remote sweep: {time.monotonic() - t0:.0f} s")
        yield {
            "base": base, "name": name, "out": out, "artifacts": root / "artifacts",
            "uri": with_user, "root": root, "env": env,
        }  # fmt: skip


def test_sweep_over_http_logs_exact_runs_seen_through_the_rest_api(remote_sweep):
    out = remote_sweep["out"]
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    base, name = remote_sweep["base"], remote_sweep["name"]
    exp = experiment(base, name)
    exp_tags = {t["key"]: t["value"] for t in exp.get("tags", [])}
    assert exp_tags[rs.EXP_SWEEP] == name
    parents, children = check_exact(base, name, 2 * FOLDS, TRIALS)
    cells = Counter((tags(r)[rs.TAG_STRATEGY], tags(r)[rs.TAG_FOLD]) for r in parents)
    assert cells == {(s, str(f)): 1 for s in ("ce", "focal") for f in range(FOLDS)}
    for run in parents:
        t = tags(run)
        assert (t[rs.TAG_DATASET], t[rs.TAG_BOOSTER]) == (DATASET, "lightgbm")
        assert t[rs.TAG_TIER] and float(t[rs.TAG_IMBALANCE_RATIO]) > 1
        metrics = {m["key"] for m in run["data"].get("metrics", [])}
        assert set(rs.test_metric_names()) <= metrics
    for run in children:
        assert tags(run)[rs.TAG_TRIAL_STATE] == "COMPLETE"
    # The predictions artifact went through the server's proxy and can be downloaded.
    run = parents[0]
    root = run["info"]["artifact_uri"]
    assert root.startswith("mlflow-artifacts:"), root
    url = root.replace("mlflow-artifacts:", f"{base}/api/2.0/mlflow-artifacts/artifacts", 1)
    with urllib.request.urlopen(f"{url}/{rs.PREDICTIONS_ARTIFACT}", timeout=30) as resp:
        rows = list(csv.DictReader(io.StringIO(resp.read().decode())))
    assert len(rows) == 300 // FOLDS
    assert {"row", "y_true", "p_0", "p_1"} <= set(rows[0])
    assert any(remote_sweep["artifacts"].rglob("test_predictions.csv"))


def test_credentials_are_never_stored_in_runs_or_the_experiment(remote_sweep):
    out = remote_sweep["out"]
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    base, name = remote_sweep["base"], remote_sweep["name"]
    exp = experiment(base, name)
    stored = [json.dumps(exp)]
    for run in search_runs(base, exp["experiment_id"]):
        stored.append(json.dumps({**tags(run), **params(run)}))
    assert len(stored) == 1 + 2 * FOLDS * (1 + TRIALS)
    for secret in (SECRET, ENV_SECRET):
        assert not [s for s in stored if secret in s]


def test_the_cli_shows_the_tracking_uri_redacted(remote_sweep):
    printed = remote_sweep["out"].stdout + remote_sweep["out"].stderr
    assert "tracking http://***@127.0.0.1:" in printed
    assert ENV_SECRET not in printed


def test_credentials_in_the_tracking_uri_are_never_printed(remote_sweep):
    # MLflow itself prints "View run ... at: <tracking URI>" unless told not to.
    printed = remote_sweep["out"].stdout + remote_sweep["out"].stderr
    leaks = [line for line in printed.splitlines() if SECRET in line]
    assert not leaks, leaks[:3]


# --- a server that goes away mid-sweep --------------------------------------------------
def test_server_stopped_mid_sweep_stops_it_and_a_rerun_completes_exactly(tmp_path):
    name = f"outage-{uuid.uuid4().hex[:6]}"
    folds, trials = 3, 3  # 6 cells: enough left to run when the server goes away
    args = ["run", "--name", name, "--runs-dir", str(tmp_path / "runs"), *SWEEP]
    args += ["--trials", str(trials), "--folds", str(folds), "--workers", "1"]
    with postgres_database("bench_outage") as backend:
        with mlflow_server(backend, tmp_path / "artifacts") as base:
            port = int(base.rsplit(":", 1)[1])
            log = tmp_path / "first.log"
            proc = popen_cli([*args, "--tracking-uri", base], log, FAST_FAIL)
            try:
                deadline = time.monotonic() + 300
                while time.monotonic() < deadline and proc.poll() is None:
                    time.sleep(0.3)
                    if _finished_parents(base, name):
                        break
                assert proc.poll() is None, "the sweep ended before the server was stopped"
            except BaseException:
                os.killpg(proc.pid, signal.SIGKILL)
                raise
        # The server is down now (stopped as a process group, its port free).
        try:
            proc.wait(timeout=180)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        first = log.read_text()
        assert proc.returncode not in (0, None), first[-3000:]
        assert f"http://127.0.0.1:{port}" in first, first[-3000:]
        assert "re-run the same command to resume" in first

        with mlflow_server(backend, tmp_path / "artifacts", port=port) as base:
            interrupted = len(_finished_parents(base, name))
            assert 1 <= interrupted < 2 * folds
            again = run_cli([*args, "--tracking-uri", base], timeout=420)
            assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
            assert f"{2 * folds - interrupted} to run" in again.stderr
            check_exact(base, name, 2 * folds, trials)


def _finished_parents(base: str, sweep: str) -> list[dict]:
    found = post(
        base, "experiments/search", {"max_results": 10, "filter": f"name = 'bench/{sweep}'"}
    )
    if not found.get("experiments"):
        return []
    runs = search_runs(base, found["experiments"][0]["experiment_id"], rs.ROLE_CELL)
    return [r for r in runs if r["info"]["status"] == "FINISHED"]


def _files_text(root) -> dict[str, str]:
    """Every file under ``root`` as text (binary files decoded leniently)."""
    return {
        str(p): p.read_bytes().decode("utf-8", "replace") for p in root.rglob("*") if p.is_file()
    }


def test_no_password_in_anything_a_sweep_and_a_report_write(remote_sweep, tmp_path):
    """The sentinel password of the tracking URI (and the one in the environment) appears in
    nothing bench writes: console, log files, report files (also as the summary run's
    artifacts on the server), MLflow params, tags and artifacts, nor in the one-line errors
    when the server is down."""
    uri, root, env = remote_sweep["uri"], remote_sweep["root"], remote_sweep["env"]
    assert remote_sweep["out"].returncode == 0
    written = {"run console": remote_sweep["out"].stdout + remote_sweep["out"].stderr}
    report = run_cli(["report", "--tracking-uri", uri, "--out", str(tmp_path / "report")], env=env)
    assert report.returncode == 0, report.stderr[-3000:]
    written["report console"] = report.stdout + report.stderr
    export = run_cli(
        ["export", "--tracking-uri", uri, "--out", str(tmp_path / "export"), *export_flags()],
        env=env,
    )
    assert export.returncode == 0, export.stderr[-3000:]
    written["export console"] = export.stdout + export.stderr
    written.update(_files_text(root / "runs" / "logs"))  # the workers' log files
    written.update(_files_text(tmp_path))  # report files, the export
    written.update(_files_text(remote_sweep["artifacts"]))  # what the server stores
    assert any("report.html" in k for k in written) and any(".log" in k for k in written)
    assert "tracking URI" in (tmp_path / "report" / "report.md").read_text()
    base, name = remote_sweep["base"], remote_sweep["name"]
    exp = experiment(base, name)
    written["experiment"] = json.dumps(exp)
    for run in search_runs(base, exp["experiment_id"]):
        written[run["info"]["run_id"]] = json.dumps(run)

    # The same password with the server gone: every command fails in one line, exit 3.
    dead = f"http://bench:{SECRET}@127.0.0.1:{_closed_port()}"
    for args in (
        ["report", "--tracking-uri", dead],
        ["export", "--tracking-uri", dead, "--out", str(tmp_path / "x")],
        ["run", "--runs-dir", str(tmp_path / "dead"), "--tracking-uri", dead, *SWEEP,
         "--trials", "1", "--folds", "2", "--workers", "1"],
    ):  # fmt: skip
        down = run_cli(args, env={**env, **FAST_FAIL})
        assert down.returncode == 3, (args[0], down.stderr[-2000:])
        lines = [line for line in down.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "http://***@127.0.0.1" in lines[0], (args[0], lines)
        written[f"{args[0]} with the server down"] = down.stdout + down.stderr
    for where, text in written.items():
        for secret in (SECRET, ENV_SECRET):
            assert secret not in text, where


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
