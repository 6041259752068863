"""The executor contract, and what every executor's workers share.

An executor runs cells somewhere (this process, local worker processes, a Dask cluster; a
Slurm or Ray executor would be one more module here) and honours one contract:

- ``run(cells, ctx, on_event)`` returns one :class:`CellResult` per cell, in order, and calls
  ``on_event`` with the progress events of the cells as they run;
- a :class:`~bench.tracking.client.TrackingError` raised by a cell stops the whole run (the
  store itself is failing); any other failure is a failed cell;
- a cell whose claim another process holds comes back ``busy``: the driver asks again later
  (its one retry loop), so an executor may be ``run`` several times before ``close``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from bench.sweep.cells import Cell, CellContext, CellResult, Event

if TYPE_CHECKING:
    from bench.tracking.client import Tracker

OnEvent = Callable[[Event], None]


class Executor(Protocol):
    """Runs cells; see the module docstring."""

    workers: int  # cells it runs at once

    def run(self, cells: list[Cell], ctx: CellContext, on_event: OnEvent) -> list[CellResult]: ...

    def close(self) -> None: ...


_trackers: dict[str, Tracker] = {}  # per worker process: one per tracking URI


def worker_tracker(tracking_uri: str, schema_ready: bool = True) -> Tracker:
    """This worker process's Tracker for ``tracking_uri`` (made once, reused by every cell)."""
    if tracking_uri not in _trackers:
        from bench.tracking.client import Tracker

        _trackers[tracking_uri] = Tracker(tracking_uri, schema_ready=schema_ready)
    return _trackers[tracking_uri]


def has_worker_tracker() -> bool:
    return bool(_trackers)


def close_worker_trackers() -> None:
    """Stop the background MLflow writers, so a worker shuts down promptly."""
    while _trackers:
        _trackers.popitem()[1].close()
