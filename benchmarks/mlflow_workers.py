"""Runs per second logged over HTTP to a local `mlflow server`, by --workers and client threads.

Why: `bench ui` and the docker-compose MLflow service need a --workers value, and request
latency over HTTP depends on it (../shared/OPS_NOTES.md). One "run" is what a bench trial
costs the server: create_run + log_batch (15 params, 10 metrics, 3 tags) + set_terminated.

    python benchmarks/mlflow_workers.py                  # SQLite backend, ~2-3 minutes
    python benchmarks/mlflow_workers.py --backend postgres

Prints a table (median runs/s over --repeats timed windows). Not a test: nothing is asserted.

Measured 2026-11 (mlflow 3.17, 2 shared cores, load ~4-7), runs/s:
    SQLite   workers 1/2/4, 1 client thread: 5.1 / 2.6 / 2.8;  4 threads: 7.4 / 4.8 / 6.0
    Postgres workers 1/4,   1 client thread: 6.0 / 3.8;        8 threads: 9.5 / 14.4
-> `bench ui` (one person browsing, one local sweep): --workers 1.
-> docker-compose (many Dask workers logging at once): --workers 4 (MLFLOW_WORKERS).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # one line per run

from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric, Param, RunTag  # noqa: E402

from tests.support.servers import mlflow_server, postgres_database  # noqa: E402


def log_one_run(client: MlflowClient, experiment_id: str, i: int) -> None:
    """One bench-like trial run: 3 HTTP requests."""
    run = client.create_run(experiment_id, run_name=f"r{i}")
    now = int(time.time() * 1000)
    client.log_batch(
        run.info.run_id,
        params=[Param(f"p{k}", str(k * 0.1)) for k in range(15)],
        metrics=[Metric(f"m{k}", k / 10, now, 0) for k in range(10)],
        tags=[RunTag(f"t{k}", "x") for k in range(3)],
    )
    client.set_terminated(run.info.run_id)


def runs_per_second(base_url: str, threads: int, seconds: float) -> float:
    """Runs completed per second by `threads` clients logging for about `seconds`."""
    client = MlflowClient(tracking_uri=base_url)
    exp = client.create_experiment(f"bench-{threads}-{time.time_ns()}")
    for i in range(3):  # warm up connections and server caches
        log_one_run(client, exp, -i)
    done = [0] * threads
    stop = time.monotonic() + seconds

    def worker(t: int) -> None:
        c = MlflowClient(tracking_uri=base_url)
        while time.monotonic() < stop:
            log_one_run(c, exp, t * 100_000 + done[t])
            done[t] += 1

    start = time.monotonic()
    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    return sum(done) / (time.monotonic() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--seconds", type=float, default=5.0, help="length of one timed window")
    ap.add_argument("--repeats", type=int, default=1, help="timed windows per cell (median)")
    args = ap.parse_args()

    rows = []
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
            if args.backend == "postgres":
                backend = stack.enter_context(postgres_database("bench_bm"))
            else:
                backend = f"sqlite:///{tmp}/mlflow.db"
            t0 = time.monotonic()
            url = stack.enter_context(mlflow_server(backend, f"{tmp}/artifacts", workers=workers))
            startup = time.monotonic() - t0
            for threads in args.threads:
                rates = [runs_per_second(url, threads, args.seconds) for _ in range(args.repeats)]
                rows.append((workers, threads, statistics.median(rates), startup))
                print(
                    f"  workers={workers} threads={threads}: {rows[-1][2]:.1f} runs/s", flush=True
                )

    print(f"\nbackend={args.backend}; run = create_run + log_batch(15p,10m,3t) + set_terminated")
    print(f"{'workers':>7} {'threads':>7} {'runs/s':>8} {'req/s':>7} {'startup s':>9}")
    for workers, threads, rate, startup in rows:
        print(f"{workers:>7} {threads:>7} {rate:>8.1f} {3 * rate:>7.1f} {startup:>9.1f}")


if __name__ == "__main__":
    main()
