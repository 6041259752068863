"""The Dask executor: one cell is one Dask task, on a remote scheduler or a LocalCluster.

Same contract as the local executor (run these cells, emit progress events, return one
CellResult per cell, stop on a tracking failure). A worker that dies is replaced by Dask and
its cell rescheduled (up to ``distributed.scheduler.allowed-failures`` deaths, default 3;
after that the cell is reported failed); the cell's claim (bench.claims) died with the
worker, so the retry resumes the study from the shared Optuna storage and reuses the cell's
MLflow parent run. A cell another sweep process holds ("busy") is resubmitted here after a
pause, so the cluster is started once per sweep.

Resources (the rule): a Dask worker runs one cell at a time per Dask thread, and a booster
fit inside it uses ``--threads`` threads, by default the worker host's usable cores divided
by the cells that host runs at once (the Dask threads of all its workers), so a machine is
never oversubscribed. Containers on one machine look like separate hosts and see all its
cores: pass ``--threads`` there (docker-compose.yml does). Memory: a LocalCluster gives each
worker an explicit ``memory_limit`` of the machine's RAM / N (Dask's nanny restarts a worker
above 95% of it and the cell is retried).
A cell needs about 6x the in-memory size of its dataset (the cached frame, the outer- and
inner-training copies, the booster's own float matrix); datasets stay cached per worker.
The largest ``scale`` set, synth_10m, is ~0.75 GB in memory (74 B/row measured on
synth_100k), so give each worker >= 5 GB for the scale suite: N <= RAM / 5 GB.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import queue
import time
import uuid
from collections import Counter
from collections.abc import Callable

from bench.cells import Cell, CellContext, CellResult
from bench.errors import BenchError
from bench.processes import BUSY_RETRY_S, die_with_parent, queued_now, usable_cores
from bench.protocol import run_cell
from bench.tracking import Tracker, TrackingError

TOPIC = "bench-progress"
CLOSE_TIMEOUT_S = 30.0  # a worker that imported the boosters needs seconds to exit on a busy host

# The sweep's own LocalCluster shares the cores with the cells it runs, so Dask's background
# sampling is turned down: the statistical profiler walks every thread's stack each 10 ms
# (nobody reads it without a dashboard), and the event-loop health check, system monitor and
# the nannies' memory checks run at 20 ms / 500 ms / 100 ms. A cluster of your own keeps its
# settings: set DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False there (docker-compose does).
LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "500ms",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "1s",
}

_trackers: dict[str, Tracker] = {}  # one per worker process and tracking URI


def _tracker(uri: str) -> Tracker:
    if uri not in _trackers:
        _trackers[uri] = Tracker(uri)
    return _trackers[uri]


def _close_trackers() -> None:
    """Stop the background MLflow writers so workers shut down promptly."""
    while _trackers:
        _trackers.popitem()[1].close()


def worker_memory_limit(n_workers: int) -> int:
    """Bytes per LocalCluster worker: this machine's RAM shared evenly."""
    import psutil

    return max(1, psutil.virtual_memory().total // max(1, n_workers))


def threads_per_host(workers_info: dict[str, dict]) -> dict[str, int]:
    """host -> cells that host runs at once (the Dask threads of all its workers)."""
    per_host: Counter[str] = Counter()
    for info in workers_info.values():
        per_host[str(info.get("host"))] += int(info.get("nthreads") or 1)
    return dict(per_host)


def run_cell_task(cell: Cell, ctx: CellContext, cells_per_host: dict[str, int]) -> CellResult:
    """Runs on a Dask worker; progress goes back through the scheduler's event log."""
    from distributed import get_worker

    worker = get_worker()
    die_with_parent()  # its nanny, or the CLI running a LocalCluster
    if ctx.config.threads is None:  # the rule: host cores // cells the host runs at once
        concurrent = cells_per_host.get(worker.ip) or worker.state.nthreads or 1
        ctx = dataclasses.replace(ctx, threads=max(1, usable_cores() // concurrent))

    def emit(*event) -> None:
        worker.log_event(TOPIC, event)

    emit("start", cell.key, cell.run_name)
    tracker = _tracker(ctx.tracking_uri)
    try:
        return run_cell(cell, ctx, tracker, lambda c, n: emit("trial", c.key, n))
    finally:
        tracker.flush()


def _start_client(scheduler: str | None, n_local: int | None):
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout="20s"), None
        except (OSError, TimeoutError) as err:
            raise BenchError(f"--scheduler {scheduler}: cannot connect ({err})") from None
    import dask

    n = n_local or 1
    with dask.config.set(LOCAL_CLUSTER_CONFIG):  # copied into each worker by its nanny
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,  # one cell at a time per worker process
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            memory_limit=worker_memory_limit(n),
        )
    return Client(cluster), cluster


def _close_cluster(cluster) -> None:
    """Let workers exit on their own (Dask's default 4 s kills them on a loaded host)."""

    async def close_workers() -> None:
        nannies = list(cluster.workers.values())
        await asyncio.gather(*(w.close(timeout=CLOSE_TIMEOUT_S) for w in nannies))

    with contextlib.suppress(Exception):
        cluster.sync(close_workers)
    cluster.close()


def run_dask(
    cells: list[Cell],
    ctx: CellContext,
    scheduler: str | None,
    n_local: int | None,
    on_event: Callable[[tuple], None],
) -> list[CellResult]:
    from distributed import wait

    client, cluster = _start_client(scheduler, n_local)
    events: queue.Queue = queue.Queue()  # filled on the client's event-loop thread
    finished: set[str] = set()

    def drain() -> None:
        for event in queued_now(events):
            if event[0] == "start" and event[1] in finished:
                continue  # a late event of a cell whose result is already in
            on_event(event)

    try:
        client.subscribe_topic(TOPIC, lambda event: events.put(tuple(event[1])))
        client.wait_for_workers(1, timeout=300 if scheduler else None)
        cells_per_host = threads_per_host(client.scheduler_info(n_workers=-1)["workers"])
        run_id = uuid.uuid4().hex[:8]
        attempt = Counter[str]()

        def submit(i: int):
            cell = cells[i]
            attempt[cell.key] += 1
            key = f"bench-{cell.key}-{run_id}-{attempt[cell.key]}"
            return client.submit(run_cell_task, cell, ctx, cells_per_host, key=key, pure=False)

        futures = {submit(i): i for i in range(len(cells))}
        pending = set(futures)
        retry_at: dict[int, float] = {}
        results: list[CellResult | None] = [None] * len(cells)
        try:
            while pending or retry_at:
                for i, when in list(retry_at.items()):
                    if time.monotonic() >= when:
                        del retry_at[i]
                        fut = submit(i)
                        futures[fut] = i
                        pending.add(fut)
                done: set = set()
                if pending:
                    with contextlib.suppress(TimeoutError):
                        done, pending = wait(pending, timeout=0.2, return_when="FIRST_COMPLETED")
                else:
                    time.sleep(0.2)
                drain()
                for fut in done:
                    i = futures.pop(fut)
                    result = _result(fut, cells[i])
                    if result.status == "busy":
                        retry_at[i] = time.monotonic() + BUSY_RETRY_S
                    else:
                        finished.add(result.key)
                    on_event(("done", result))
                    results[i] = result
            drain()
        except BaseException:
            client.cancel(list(futures))
            raise
        return [r for r in results if r is not None]
    finally:
        with contextlib.suppress(Exception):
            client.unsubscribe_topic(TOPIC)
        with contextlib.suppress(Exception):
            client.run(_close_trackers)
        client.close()
        if cluster is not None:
            _close_cluster(cluster)


def _result(fut, cell: Cell) -> CellResult:
    """The task's CellResult; a task Dask gave up on (e.g. its workers kept dying) is a
    failed cell, while a tracking failure stops the sweep."""
    try:
        return fut.result()
    except TrackingError:
        raise
    except Exception as err:
        first = str(err).strip().splitlines()
        message = f"{type(err).__name__}: {first[0] if first else ''}"[:2000]
        return CellResult(cell.key, cell.run_name, "failed", error=message)
