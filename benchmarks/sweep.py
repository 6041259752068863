"""Harness overhead of `python -m bench run`: wall time vs. time spent inside the boosters.

Runs the same sweep (default: the default sweep, i.e. the quick suite) twice, side by side
in one invocation: once on the local SQLite store, once against a local `mlflow server`
over HTTP. For each it prints the wall time, the summed booster fit+predict time of all
cells (trials and refits, from the parent runs' fit_time_s), and the harness overhead

    overhead = 1 - summed fit time / (wall time x workers)

i.e. the share of the machine's worker time not spent in a booster (planning, imports,
dataset slicing, Optuna, MLflow logging, metrics, process start-up), then splits that overhead
into start-up, tail, time inside cells and time between them (``breakdown``).

It then prints the floor that the required work alone puts under the overhead (``floor``):
re-logging a sample of the sweep's own cells (parent run, one child run per trial, the
predictions artifact) through bench's Tracker, CPU of this process plus the MLflow server's,
scaled to all cells; the same cells' Optuna studies replayed into a scratch journal, as a cell
drives them (ask, user attributes, tell, the counts it checks); the CPU of importing what the
parent and each worker need; and, for a new SQLite store, creating its schema. On 2 cores a
server and the workers share the CPU, so the server's work counts, overlapped with training
or not.

    python benchmarks/sweep.py                 # the default sweep (minutes)
    python benchmarks/sweep.py --suite smoke --trials 2 --folds 3   # a quick look
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mlflow
import optuna
import psutil
from mlflow.tracking import MlflowClient

from bench import runschema as rs
from bench import ui
from bench.sweep import studies
from bench.tracking.client import Tracker
from bench.tracking.stores import use_wal_journal
from bench.tracking.uris import artifact_location
from bench.ui import mlflow_server_argv

REPO = Path(__file__).resolve().parent.parent


def start_server(store: Path, workers: int):
    """A local `mlflow server` as `bench ui` starts it (job runner off), SQLite backend."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    argv = mlflow_server_argv(
        backend_store_uri=f"sqlite:///{store / 'server.db'}",
        artifacts_destination=str(store / "server-artifacts"),
        host="127.0.0.1",
        port=port,
        workers=workers,
    )
    log = store / "server.log"
    proc = ui.start_server(argv, log)
    url = f"http://127.0.0.1:{port}"
    ui.wait_healthy(url, proc, log)
    return proc, url


def cell_runs(tracking_uri: str) -> list:
    client = MlflowClient(tracking_uri)
    runs = []
    for exp in client.search_experiments():
        if "bench.sweep" in exp.tags:
            runs += client.search_runs(
                [exp.experiment_id], "tags.`bench.role` = 'cell'", max_results=50000
            )
    return runs


def breakdown(runs: list, started: float, ended: float, workers: int) -> dict[str, float]:
    """Where the machine's worker-seconds went, from the parent runs' own timestamps.

    start-up: launch to the first cell of each worker; tail: each worker's last cell to exit;
    in cells: a cell's run span minus its booster time (logging, Optuna, metrics, splits);
    between cells: what is left (claims, dataset loading, the pool handing out work).
    """
    starts = sorted(r.info.start_time / 1000 for r in runs)[:workers]
    ends = sorted(r.info.end_time / 1000 for r in runs)[-workers:]
    span = sum((r.info.end_time - r.info.start_time) / 1000 for r in runs)
    fit = sum(r.data.metrics.get("fit_time_s", 0.0) for r in runs)
    parts = {
        "start-up": sum(s - started for s in starts),
        "tail": sum(ended - e for e in ends),
        "in cells": span - fit,
    }
    parts["between cells"] = (ended - started) * workers - fit - sum(parts.values())
    return parts


def _tree_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) of a process and its children; 0 without one."""
    if pid is None:
        return 0.0
    total = 0.0
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        try:
            total += sum(proc.cpu_times()[:2])
        except psutil.NoSuchProcess:
            continue
    return total


def _trial_records(client: MlflowClient, parent) -> list[dict]:
    children = client.search_runs(
        [parent.info.experiment_id],
        f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'",
        max_results=1000,
    )
    return [
        {
            "number": int(c.data.tags.get(rs.TAG_TRIAL_NUMBER, 0)),
            "state": c.data.tags.get(rs.TAG_TRIAL_STATE, "COMPLETE"),
            "run_name": c.info.run_name,
            "params": c.data.params,
            "metrics": c.data.metrics,
            "tags": {},
            "start_ms": c.info.start_time,
            "end_ms": c.info.end_time,
        }
        for c in children
    ]


def logging_cpu_per_cell(run: tuple[str, Path, int | None], runs: list, sample: int) -> float:
    """CPU seconds (this process + the server) that logging one of these cells costs.

    Copies ``sample`` of the sweep's cells into a scratch experiment, as a worker logs them
    (its artifacts beside the sweep's, as ``bench run`` places them).
    """
    tracking_uri, runs_dir, server_pid = run
    client = MlflowClient(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"  # one bar per artifact read
    cells = []
    for parent in runs[:sample]:
        csv = mlflow.artifacts.load_text(f"{parent.info.artifact_uri}/{rs.PREDICTIONS_ARTIFACT}")
        cells.append((parent, _trial_records(client, parent), csv))
    tracker = Tracker(tracking_uri, schema_ready=True)
    artifacts = artifact_location(tracking_uri, str(runs_dir))
    exp = tracker.ensure_experiment("logging-floor", "0", {}, "benchmark", artifacts)
    cpu0, server0 = time.process_time(), _tree_cpu(server_pid)
    for i, (parent, trials, csv) in enumerate(cells):
        run_id, _ = tracker.start_cell(exp, f"floor-{i}", parent.info.run_name, parent.data.tags)
        for record in trials:
            tracker.log_trial(exp, run_id, record)
        tracker.flush()
        tracker.finish_cell(run_id, parent.data.params, parent.data.metrics, {}, csv)
    used = time.process_time() - cpu0 + _tree_cpu(server_pid) - server0
    tracker.close()
    return used / len(cells)


def optuna_cpu_per_cell(storage_url: str, runs: list, sample: int) -> float:
    """CPU seconds one cell's study costs, from replaying ``sample`` of the sweep's studies."""
    source = studies.open_storage(storage_url)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = studies.open_storage(str(Path(tmp) / "floor.journal"))
        originals = []
        for parent in runs[:sample]:
            name = parent.data.tags[rs.TAG_STUDY]
            trials = optuna.load_study(study_name=name, storage=source).get_trials()
            originals.append((name, sorted(trials, key=lambda t: t.number)))
        cpu0 = time.process_time()
        for name, trials in originals:
            study = studies.open_study(scratch, name, "tpe", 0)
            studies.reap_stale(study)
            studies.logged_trials(study)
            for original in trials:
                studies.counts(study)
                trial = study.ask(fixed_distributions=original.distributions)
                for key, value in original.user_attrs.items():
                    trial.set_user_attr(key, value)
                if original.state == optuna.trial.TrialState.COMPLETE:
                    frozen = study.tell(trial, original.value)
                else:
                    frozen = study.tell(trial, state=original.state)
                studies.trial_record(frozen, name, frozen.number)
            studies.counts(study)
            study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            _ = study.best_trial
        return (time.process_time() - cpu0) / len(originals)


def _import_cpu(code: str) -> float:
    """CPU seconds of a fresh interpreter running ``code`` (imports), children included."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


PARENT_IMPORTS = "import bench.cli, bench.sweep.driver"
WORKER_IMPORTS = "import bench.sweep.executors.local as p; p.preload_cell_code(['lightgbm', 'xgboost', 'catboost'])"


def schema_cpu() -> float:
    """CPU seconds for creating a new SQLite store's schema (MLflow's migrations)."""
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/schema.db"
        cpu0 = time.process_time()
        Tracker(uri).close()
        use_wal_journal(uri)
        return time.process_time() - cpu0


def floor(
    runs: list, run: tuple[str, Path, int | None], wall: float, workers: int, new_store: bool
):
    """The overhead the required work alone puts under this sweep, by part."""
    _, runs_dir, _ = run
    sample = min(30, len(runs))
    per_cell = logging_cpu_per_cell(run, runs, sample)
    per_study = optuna_cpu_per_cell(studies.default_storage_url(runs_dir), runs, sample)
    parts = {
        f"MLflow logging ({1e3 * per_cell:.0f} ms CPU a cell)": per_cell * len(runs),
        f"Optuna ({1e3 * per_study:.0f} ms a cell)": per_study * len(runs),
        "imports": _import_cpu(PARENT_IMPORTS) + workers * _import_cpu(WORKER_IMPORTS),
    }
    if new_store:
        parts["new store schema"] = schema_cpu()
    machine = wall * workers
    total = sum(parts.values())
    print(
        "  floor, CPU-seconds (share of wall x workers): "
        + ", ".join(f"{k} {v:.1f} ({v / machine:.1%})" for k, v in parts.items())
        + f"; together {total / machine:.1%}",
        flush=True,
    )


def one_sweep(label: str, runs_dir: Path, tracking_uri: str, extra: list[str], workers: int):
    cmd = [sys.executable, "-m", "bench", "run", "--runs-dir", str(runs_dir)]
    cmd += ["--tracking-uri", tracking_uri, "--workers", str(workers), *extra]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    started = time.time()
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
    ended = time.time()
    wall = ended - started
    if out.returncode != 0:
        print(out.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"{label}: sweep failed with exit code {out.returncode}")
    runs = cell_runs(tracking_uri)
    fit = sum(r.data.metrics.get("fit_time_s", 0.0) for r in runs)
    overhead = 1 - fit / (wall * workers)
    print(
        f"{label:<14} cells={len(runs):<4} wall={wall:7.1f}s  fit+predict={fit:7.1f}s  "
        f"workers={workers}  overhead={overhead:6.1%}",
        flush=True,
    )
    machine = wall * workers
    parts = breakdown(runs, started, ended, workers)
    print(
        "  overhead, worker-seconds (share of wall x workers): "
        + ", ".join(f"{k} {v:.1f} ({v / machine:.1%})" for k, v in parts.items()),
        flush=True,
    )
    return wall, runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--server-workers", type=int, default=1)
    parser.add_argument("--skip-http", action="store_true")
    args, extra = parser.parse_known_args()
    print(f"sweep args: {extra or '(defaults: the quick suite)'}; {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        local = tmp / "local"
        uri = f"sqlite:///{local / 'mlflow.db'}"
        wall, runs = one_sweep("local sqlite", local, uri, extra, args.workers)
        floor(runs, (uri, local, None), wall, args.workers, new_store=True)
        if not args.skip_http:
            server_dir = tmp / "server"
            server_dir.mkdir()
            proc, url = start_server(server_dir, args.server_workers)
            try:
                label = f"http ({args.server_workers}w)"
                wall, runs = one_sweep(label, tmp / "http", url, extra, args.workers)
                floor(runs, (url, tmp / "http", proc.pid), wall, args.workers, new_store=False)
            finally:
                ui.stop_process_group(proc)


if __name__ == "__main__":
    main()
