"""The inline executor: cells run one after another in this process (one worker)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.sweep.cells import (
    Cell,
    CellContext,
    CellFinished,
    CellResult,
    CellStarted,
    TrialFinished,
)
from bench.sweep.executors.base import OnEvent

if TYPE_CHECKING:
    from bench.tracking.client import Tracker


class InlineExecutor:
    workers = 1

    def __init__(self) -> None:
        self._tracker: Tracker | None = None

    def run(self, cells: list[Cell], ctx: CellContext, on_event: OnEvent) -> list[CellResult]:
        from bench.sweep.cell import run_cell  # the cell code: only the process that runs cells
        from bench.tracking.client import Tracker

        if self._tracker is None:
            self._tracker = Tracker(ctx.tracking_uri, schema_ready=True)
        tracker = self._tracker
        results = []
        for cell in cells:
            on_event(CellStarted(cell.key, cell.run_name))
            result = run_cell(cell, ctx, tracker, lambda c, n: on_event(TrialFinished(c.key, n)))
            on_event(CellFinished(result))
            results.append(result)
        return results

    def close(self) -> None:
        if self._tracker is not None:
            self._tracker.close()
            self._tracker = None
