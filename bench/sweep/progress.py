"""What the user sees during a sweep: a live bar on a terminal, plain log lines otherwise,
and the end-of-sweep summary table read back from MLflow."""

from __future__ import annotations

import time

import pandas as pd
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from bench import runschema as rs
from bench.strategies import STRATEGIES
from bench.sweep.cells import CellFinished, CellStarted, Event, TrialFinished


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}"


class SweepProgress:
    """Consumes executor events (``bench.sweep.cells.Event``). ``quiet``: no bar and no line per
    cell (errors and the summary still print)."""

    def __init__(
        self,
        sweep: str,
        total_cells: int,
        already_done: int,
        trials_per_cell: int,
        console: Console | None = None,
        quiet: bool = False,
    ):
        self.console = console or Console(stderr=True)
        self.quiet = quiet
        self.live = self.console.is_terminal and not quiet
        self.total = total_cells
        self.done = already_done
        self.started_with = already_done
        self.trials = 0
        self.trials_per_cell = trials_per_cell
        self.running: dict[str, str] = {}
        self.t0 = time.monotonic()
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def header(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text, highlight=False, markup=False, soft_wrap=True)

    def error(self, text: str) -> None:
        style = "red" if self.live else None
        self.console.print(text, style=style, highlight=False, markup=False, soft_wrap=True)

    def __enter__(self) -> SweepProgress:
        if self.live:
            self._progress = Progress(
                TextColumn("[bold]cells"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("trials {task.fields[trials]}"),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[current]}"),
                console=self.console,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task(
                "sweep", total=self.total, completed=self.done, trials=0, current=""
            )
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def _eta(self) -> str:
        ran = self.done - self.started_with
        if ran == 0:
            return "?"
        per_cell = (time.monotonic() - self.t0) / ran
        return _clock(per_cell * (self.total - self.done))

    def on_event(self, event: Event) -> None:
        if isinstance(event, CellStarted):
            self.running[event.key] = event.run_name
        elif isinstance(event, TrialFinished):
            self.trials += 1
        elif isinstance(event, CellFinished) and event.result.status == "busy":
            self.running.pop(event.result.key, None)
        elif isinstance(event, CellFinished):
            result = event.result
            self.running.pop(result.key, None)
            self.done += 1
            if not self.live and not self.quiet:
                score = f" score={result.score:.4f}" if result.score is not None else ""
                note = f" ERROR {result.error.splitlines()[0]}" if result.error else ""
                self.console.print(
                    f"[{self.done}/{self.total}] {result.run_name} {result.status}{score} "
                    f"trials={result.trials_run} fit={result.fit_time:.1f}s "
                    f"elapsed={_clock(time.monotonic() - self.t0)} eta={self._eta()}{note}",
                    highlight=False,
                    markup=False,
                    soft_wrap=True,
                )
        if self._progress is not None and self._task is not None:
            current = ", ".join(list(self.running.values())[:2])
            self._progress.update(
                self._task, completed=self.done, trials=self.trials, current=current
            )


def summary_frame(runs: list, target: str) -> pd.DataFrame:
    """Mean outer-test target per dataset x (booster, strategy) from finished parent runs."""
    rows = [
        {
            "dataset": r.data.tags.get(rs.TAG_DATASET),
            "booster": r.data.tags.get(rs.TAG_BOOSTER),
            "strategy": r.data.tags.get(rs.TAG_STRATEGY),
            "score": r.data.metrics.get(rs.TEST_PREFIX + target),
        }
        for r in runs
        if r.info.status == "FINISHED"
    ]
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows)
    table = frame.pivot_table(
        index=["dataset", "booster"], columns="strategy", values="score", aggfunc="mean"
    )
    known = [s for s in STRATEGIES if s in table.columns]
    return table[known + sorted(c for c in table.columns if c not in known)]


def print_summary(runs: list, target: str, console: Console) -> None:
    """The summary table of a sweep's parent runs (one per cell; unfinished ones are left out)."""
    table_data = summary_frame(runs, target)
    if table_data.empty:
        console.print("no finished cells yet")
        return
    table = Table(title=f"mean outer-test {target} over folds", show_lines=False)
    table.add_column("dataset")
    table.add_column("booster")
    for strategy in table_data.columns:
        table.add_column(str(strategy), justify="right")
    for (dataset, booster), row in table_data.iterrows():
        table.add_row(str(dataset), str(booster), *("-" if pd.isna(v) else f"{v:.4f}" for v in row))
    console.print(table)
