"""Local worker processes for a sweep, started before the sweep's own set-up.

A worker's imports (pandas, scikit-learn, MLflow, Optuna and the boosters) take ~2.5 s, and
the parent's set-up (its own imports, planning, creating a new MLflow store) about as long.
Started one after the other, both cores sat idle for several seconds of every sweep (about
5% of the quick suite's machine time). So the pool is started first, its workers import while
the parent prepares, and each worker opens the store only once the parent says it is ready
(``store_ready``): its schema exists and its journal mode is final.

This module imports nothing heavy itself, so the CLI can start the pool before it imports the
rest of the sweep.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import signal
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from bench.sweep.cells import CellFinished, CellStarted, TrialFinished
from bench.sweep.executors.processes import die_with_parent, queued_now, usable_cores

if TYPE_CHECKING:
    from bench.config import SweepConfig
    from bench.sweep.cells import Cell, CellContext, CellResult
    from bench.sweep.executors.base import OnEvent

_events: Any = None
_tracking_uri: str | None = None


def _init_worker(
    events: Any, tracking_uri: str, boosters: tuple[str, ...], store_ready: Any
) -> None:
    """Import everything a cell needs, then wait for the store and open it."""
    global _events, _tracking_uri
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    from bench.sweep.executors.base import worker_tracker
    from bench.tracking.stores import configure_process, preload_store

    configure_process()
    preload_cell_code(boosters)
    preload_store(tracking_uri)
    store_ready.wait()  # should the parent die first, die_with_parent ends this wait
    worker_tracker(tracking_uri)
    _events, _tracking_uri = events, tracking_uri


def preload_cell_code(boosters: Sequence[str]) -> None:
    """Import now what a cell imports on first use, while the parent still prepares the store:
    the cell code, scikit-learn's metrics and the booster libraries (~1.5 s, plus 0.2-0.7 s a
    booster) that would otherwise delay the first cell."""
    import sklearn.metrics  # noqa: F401

    import bench.sweep.cell  # noqa: F401
    from bench.boosters import get_adapter

    for name in boosters:
        with contextlib.suppress(ValueError):  # an unknown name: the parent's plan reports it
            get_adapter(name)


def _started() -> None:
    """A no-op task: submitting one per worker makes the pool start them all now."""


def _run_in_worker(cell: Cell, ctx: CellContext) -> CellResult:
    from bench.sweep.cell import run_cell
    from bench.sweep.executors.base import worker_tracker
    from bench.tracking.client import TrackingError

    tracker = worker_tracker(ctx.tracking_uri)
    _events.put(CellStarted(cell.key, cell.run_name))
    try:
        return run_cell(cell, ctx, tracker, lambda c, n: _events.put(TrialFinished(c.key, n)))
    finally:
        with contextlib.suppress(TrackingError):
            tracker.flush()


def start_for(cfg: SweepConfig) -> LocalPool | None:
    """The pool a sweep on this machine will use, started now; None when its cells run in
    this process (one worker) or on Dask."""
    from bench.tracking.uris import resolve_tracking_uri

    if cfg.scheduler or cfg.dask_local:
        return None
    workers = cfg.workers or usable_cores()
    if workers < 2:
        return None
    return LocalPool(workers, resolve_tracking_uri(cfg.tracking_uri, cfg.runs_dir), cfg.boosters)


_started_pools: list[LocalPool] = []  # not closed yet: see close_started_pools
KILL_WAIT_S = 10.0  # for a killed worker to be gone (its claims released, its writes over)


def close_started_pools() -> None:
    """Close every pool this process started and has not closed: an interrupt while one was
    being started or handed over leaves no reference to it, and its workers, waiting for a
    store that will never be ready, would keep the interpreter from exiting."""
    for pool in list(_started_pools):
        pool.close()


class LocalPool:
    """``workers`` spawned processes that run cells; see the module docstring."""

    def __init__(self, workers: int, tracking_uri: str, boosters: Sequence[str]) -> None:
        _started_pools.append(self)
        context = mp.get_context("spawn")
        self.workers = workers
        self._events = context.Queue()
        self._store_ready = context.Event()
        try:
            self._pool = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=context,
                initializer=_init_worker,
                initargs=(self._events, tracking_uri, tuple(boosters), self._store_ready),
            )
            for _ in range(workers):  # the pool spawns a worker per task it cannot place
                self._pool.submit(_started)
        except BaseException:  # an interrupt while spawning: no half-started pool is left
            self.close()
            raise

    def store_ready(self) -> None:
        """The store's schema and journal mode are final: workers may open it."""
        self._store_ready.set()

    def run(self, cells: list[Cell], ctx: CellContext, on_event: OnEvent) -> list[CellResult]:
        """One CellResult per cell, in the order of ``cells``; a TrackingError stops all."""
        results: list[CellResult | None] = [None] * len(cells)
        index = {self._pool.submit(_run_in_worker, cell, ctx): i for i, cell in enumerate(cells)}
        pending = set(index)
        try:
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                self._drain(on_event)
                for fut in done:
                    result = fut.result()  # TrackingError propagates and stops the sweep
                    on_event(CellFinished(result))
                    results[index[fut]] = result
            self._drain(on_event)
        except BaseException:
            self.close(kill=True)
            raise
        return [r for r in results if r is not None]

    def _drain(self, on_event: OnEvent) -> None:
        for event in queued_now(self._events):
            on_event(event)

    def close(self, kill: bool = True) -> None:
        """Shut the pool down without waiting. ``kill`` ends the workers at once: after an
        error or Ctrl-C (mid-cell: the cell resumes next time), or once the sweep is done (each
        worker flushed its writes before returning its last cell, and a clean exit costs the
        sweep another ~0.5 s). A pool whose store never became ready is always killed."""
        if self in _started_pools:
            _started_pools.remove(self)
        pool = getattr(self, "_pool", None)
        if pool is None:  # interrupted before the executor existed
            return
        manager = getattr(pool, "_executor_manager_thread", None)
        killed = kill or not self._store_ready.is_set()  # else they would wait for it forever
        if killed:
            processes = list((getattr(pool, "_processes", None) or {}).values())
            for proc in processes:
                proc.kill()
            for proc in processes:  # gone before anyone marks the cells they were running
                proc.join(KILL_WAIT_S)
        pool.shutdown(wait=False, cancel_futures=True)
        if killed and manager is not None:
            # Its end closes the pool's wake-up pipe; at exit, Python 3.11 writes to that pipe
            # without the lock and, racing a manager still ending, printed "Bad file descriptor".
            manager.join(KILL_WAIT_S)
