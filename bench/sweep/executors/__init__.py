"""Executors: where cells run. One typed contract (``base.Executor``), three implementations:

- ``inline``: in this process, one cell after another;
- ``local``: local worker processes, started before the sweep's own set-up;
- ``dask_cluster``: one Dask task per cell, on a scheduler or a LocalCluster.

A new executor (Slurm, Ray) is one more module here plus a branch in :func:`make_executor`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.sweep.executors.base import Executor, OnEvent
from bench.sweep.executors.processes import usable_cores

if TYPE_CHECKING:
    from bench.config import SweepConfig
    from bench.sweep.executors.local import LocalPool


def make_executor(cfg: SweepConfig, pool: LocalPool | None, cells_to_run: int) -> Executor:
    """The executor a sweep's configuration asks for. ``pool``: local workers started early
    (``local.start_for``); it is the executor when given."""
    if cfg.scheduler or cfg.dask_local:
        from bench.sweep.executors.dask_cluster import DaskExecutor

        workers = cfg.dask_local or cfg.workers or max(1, min(usable_cores(), cells_to_run))
        return DaskExecutor(cfg.scheduler, cfg.dask_local, workers)
    if pool is not None:
        return pool
    from bench.sweep.executors.inline import InlineExecutor

    return InlineExecutor()


__all__ = ["Executor", "OnEvent", "make_executor"]
