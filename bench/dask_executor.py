"""The Dask executor: one cell is one Dask task, on a remote scheduler or a LocalCluster.

Same contract as the local executor (run these cells, emit progress events, return one
CellResult per cell, stop on a tracking failure). A worker that dies is replaced by Dask and
its cell rescheduled; the cell's claim (bench.claims) died with the worker, so the retry
resumes the study from the shared Optuna storage and reuses the cell's MLflow parent run.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from bench.errors import BenchError
from bench.protocol import Cell, CellContext, CellResult, run_cell
from bench.tracking import Tracker

TOPIC = "bench-progress"


_trackers: dict[str, Tracker] = {}  # one per worker process and tracking URI


def _tracker(uri: str) -> Tracker:
    if uri not in _trackers:
        _trackers[uri] = Tracker(uri)
    return _trackers[uri]


def _close_trackers() -> None:
    """Stop the background MLflow writers so workers shut down promptly."""
    while _trackers:
        _trackers.popitem()[1].close()


def run_cell_task(cell: Cell, ctx: CellContext) -> CellResult:
    """Runs on a Dask worker; progress goes back through the scheduler's event log."""
    from distributed import get_worker

    worker = get_worker()

    def emit(*event) -> None:
        worker.log_event(TOPIC, event)

    emit("start", cell.key, cell.run_name)
    tracker = _tracker(ctx.tracking_uri)
    try:
        return run_cell(cell, ctx, tracker, lambda c, n: emit("trial", c.key, n))
    finally:
        tracker.flush()


def run_dask(
    cells: list[Cell],
    ctx: CellContext,
    scheduler: str | None,
    n_local: int | None,
    on_event: Callable[[tuple], None],
) -> list[CellResult]:
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    try:
        if scheduler:
            client = Client(scheduler, timeout="20s")
        else:
            cluster = LocalCluster(
                n_workers=n_local or 1,
                threads_per_worker=1,  # one cell at a time per worker process
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            )
            client = Client(cluster)
    except (OSError, TimeoutError) as err:
        raise BenchError(f"Dask scheduler {scheduler or 'local'}: cannot connect ({err})") from None
    try:
        client.subscribe_topic(TOPIC, lambda event: on_event(tuple(event[1])))
        run_id = uuid.uuid4().hex[:8]
        futures = {
            client.submit(run_cell_task, cell, ctx, key=f"bench-{cell.key}-{run_id}", pure=False): i
            for i, cell in enumerate(cells)
        }
        results: list[CellResult | None] = [None] * len(cells)
        try:
            for fut in as_completed(list(futures)):
                result = fut.result()  # TrackingError propagates and stops the sweep
                on_event(("done", result))
                results[futures[fut]] = result
        except BaseException:
            client.cancel(list(futures))
            raise
        return [r for r in results if r is not None]
    finally:
        client.unsubscribe_topic(TOPIC)
        client.run(_close_trackers)
        client.close()
        if cluster is not None:
            cluster.close()
