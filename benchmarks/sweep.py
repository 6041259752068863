"""Harness overhead of `python -m bench run`: wall time vs. time spent inside the boosters.

Runs the same sweep (default: the default sweep, i.e. the quick suite) twice, side by side
in one invocation: once on the local SQLite store, once against a local `mlflow server`
over HTTP. For each it prints the wall time, the summed booster fit+predict time of all
cells (trials and refits, from the parent runs' fit_time_s), and the harness overhead

    overhead = 1 - summed fit time / (wall time x workers)

i.e. the share of the machine's worker time not spent in a booster (planning, imports,
dataset slicing, Optuna, MLflow logging, metrics, process start-up), then splits that overhead
into start-up, tail, time inside cells and time between them (``breakdown``).

    python benchmarks/sweep.py                 # the default sweep (minutes)
    python benchmarks/sweep.py --suite smoke --trials 2 --folds 3   # a quick look
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

from bench import ui
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
    return wall, fit, overhead


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
        one_sweep("local sqlite", local, f"sqlite:///{local / 'mlflow.db'}", extra, args.workers)
        if not args.skip_http:
            server_dir = tmp / "server"
            server_dir.mkdir()
            proc, url = start_server(server_dir, args.server_workers)
            try:
                one_sweep(f"http ({args.server_workers}w)", tmp / "http", url, extra, args.workers)
            finally:
                ui.stop_process_group(proc)


if __name__ == "__main__":
    main()
