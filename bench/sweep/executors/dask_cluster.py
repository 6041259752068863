"""The Dask executor: one cell is one Dask task, on a remote scheduler or a LocalCluster.

Same contract as the local executor (run these cells, emit progress events, return one
CellResult per cell, stop on a tracking failure). A worker that dies is replaced by Dask and
its cell rescheduled (up to ``distributed.scheduler.allowed-failures`` deaths, default 3;
after that the cell is reported failed); the cell's claim (bench.locks) died with the
worker, so the retry resumes the study from the shared Optuna storage and reuses the cell's
MLflow parent run. A cell another sweep process holds comes back "busy" and the driver
resubmits it after a pause; the client and cluster stay up between those runs, so the
cluster is started once per sweep.

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
import uuid
from collections import Counter
from typing import Any

from bench.errors import BenchError, one_line
from bench.sweep.cell import run_cell
from bench.sweep.cells import (
    Cell,
    CellContext,
    CellFinished,
    CellResult,
    CellStarted,
    Event,
    TrialFinished,
)
from bench.sweep.executors.base import OnEvent, close_worker_trackers, worker_tracker
from bench.sweep.executors.processes import die_with_parent, queued_now, usable_cores
from bench.tracking.client import TrackingError

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


# Progress events cross the scheduler as plain (kind, fields) pairs: Dask's event log carries
# msgpack-able data, not our dataclasses.
def _to_wire(event: Event) -> tuple[str, dict[str, Any]]:
    return type(event).__name__, dataclasses.asdict(event)


def _from_wire(kind: str, fields: dict[str, Any]) -> Event:
    if kind == "CellStarted":
        return CellStarted(**fields)
    if kind == "TrialFinished":
        return TrialFinished(**fields)
    raise ValueError(f"unexpected progress event {kind!r}")


def run_cell_task(cell: Cell, ctx: CellContext, cells_per_host: dict[str, int]) -> CellResult:
    """Runs on a Dask worker; progress goes back through the scheduler's event log."""
    from distributed import get_worker

    from bench.tracking.stores import configure_process

    worker = get_worker()
    die_with_parent()  # its nanny, or the CLI running a LocalCluster
    configure_process()
    if ctx.config.threads is None:  # the rule: host cores // cells the host runs at once
        concurrent = cells_per_host.get(worker.ip) or worker.state.nthreads or 1
        ctx = dataclasses.replace(ctx, threads=max(1, usable_cores() // concurrent))

    def emit(event: Event) -> None:
        worker.log_event(TOPIC, _to_wire(event))

    emit(CellStarted(cell.key, cell.run_name))
    tracker = worker_tracker(ctx.tracking_uri, schema_ready=False)
    try:
        return run_cell(cell, ctx, tracker, lambda c, n: emit(TrialFinished(c.key, n)))
    finally:
        tracker.flush()


def _start_client(scheduler: str | None, n_local: int | None) -> tuple[Any, Any]:
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


def _close_cluster(cluster: Any) -> None:
    """Let workers exit on their own (Dask's default 4 s kills them on a loaded host)."""

    async def close_workers() -> None:
        nannies = list(cluster.workers.values())
        await asyncio.gather(*(w.close(timeout=CLOSE_TIMEOUT_S) for w in nannies))

    with contextlib.suppress(Exception):
        cluster.sync(close_workers)
    cluster.close()


class DaskExecutor:
    """One cell is one Dask task; the client (and a LocalCluster) live until ``close``."""

    def __init__(self, scheduler: str | None, n_local: int | None, workers: int) -> None:
        self.scheduler, self.n_local, self.workers = scheduler, n_local, workers
        self._client: Any = None
        self._cluster: Any = None
        self._events: queue.Queue = queue.Queue()  # filled on the client's event-loop thread
        self._cells_per_host: dict[str, int] = {}
        self._run_id = uuid.uuid4().hex[:8]
        self._attempt: Counter[str] = Counter()

    def _connect(self) -> Any:
        if self._client is None:
            self._client, self._cluster = _start_client(self.scheduler, self.n_local)
            self._client.subscribe_topic(TOPIC, lambda event: self._events.put(event[1]))
            self._client.wait_for_workers(1, timeout=300 if self.scheduler else None)
            info = self._client.scheduler_info(n_workers=-1)["workers"]
            self._cells_per_host = threads_per_host(info)
        return self._client

    def run(self, cells: list[Cell], ctx: CellContext, on_event: OnEvent) -> list[CellResult]:
        from distributed import wait

        client = self._connect()
        finished: set[str] = set()

        def drain() -> None:
            for kind, fields in queued_now(self._events):
                event = _from_wire(kind, fields)
                if isinstance(event, CellStarted) and event.key in finished:
                    continue  # a late event of a cell whose result is already in
                on_event(event)

        def submit(i: int) -> Any:
            cell = cells[i]
            self._attempt[cell.key] += 1
            key = f"bench-{cell.key}-{self._run_id}-{self._attempt[cell.key]}"
            return client.submit(
                run_cell_task, cell, ctx, self._cells_per_host, key=key, pure=False
            )

        futures = {submit(i): i for i in range(len(cells))}
        pending = set(futures)
        results: list[CellResult | None] = [None] * len(cells)
        try:
            while pending:
                done: set = set()
                with contextlib.suppress(TimeoutError):
                    done, pending = wait(pending, timeout=0.2, return_when="FIRST_COMPLETED")
                drain()
                for fut in done:
                    i = futures[fut]
                    result = _result(fut, cells[i])
                    if result.status != "busy":
                        finished.add(result.key)
                    on_event(CellFinished(result))
                    results[i] = result
            drain()
        except BaseException:
            client.cancel(list(futures))
            raise
        return [r for r in results if r is not None]

    def close(self) -> None:
        if self._client is None:
            return
        with contextlib.suppress(Exception):
            self._client.unsubscribe_topic(TOPIC)
        with contextlib.suppress(Exception):
            self._client.run(close_worker_trackers)
        self._client.close()
        if self._cluster is not None:
            _close_cluster(self._cluster)
        self._client = self._cluster = None


def _result(fut: Any, cell: Cell) -> CellResult:
    """The task's CellResult; a task Dask gave up on (e.g. its workers kept dying) is a
    failed cell, while a tracking failure stops the sweep."""
    try:
        return fut.result()
    except TrackingError:
        raise
    except Exception as err:
        return CellResult(cell.key, cell.run_name, "failed", error=one_line(err))
