"""The unit of work as the planner and the workers exchange it: a cell, its key, its context,
its result and the progress events, plus the per-process dataset cache.

Kept apart from ``bench.sweep.cell`` (which imports scikit-learn, Optuna and the boosters,
~1.7 s) so that a sweep's parent process can plan and hand out cells without importing what only
the workers run.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Literal

from bench.config import SweepConfig
from bench.datasets import Catalogue, Dataset, load_catalogue, load_dataset


@dataclass(frozen=True)
class Cell:
    dataset: str
    booster: str
    strategy: str
    repeat: int
    fold: int
    key: str

    @property
    def run_name(self) -> str:
        return f"{self.dataset}/{self.booster}/{self.strategy}/r{self.repeat}f{self.fold}"


def cell_key(
    config_hash: str, dataset: str, booster: str, strategy: str, repeat: int, fold: int
) -> str:
    blob = json.dumps([config_hash, dataset, booster, strategy, repeat, fold])
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class CellContext:
    """Everything a worker needs besides the cell; small and picklable."""

    config: SweepConfig
    sweep: str
    experiment_id: str
    tracking_uri: str
    storage_url: str
    catalogue_path: str
    threads: int
    log_dir: str  # where each worker process writes its log file
    git_commit: str = ""  # read once by the driver at the start (may end in -dirty)


CellStatus = Literal["done", "skipped", "failed", "busy"]


@dataclass
class CellResult:
    """How a cell ended: "done", "skipped" (finished earlier), "failed", or "busy" (another
    process holds its claim; the driver asks again later)."""

    key: str
    run_name: str
    status: CellStatus
    score: float | None = None
    trials_run: int = 0
    error: str | None = None
    fit_time: float = 0.0


# --- progress events, from whoever runs a cell to the sweep's progress display ------------
@dataclass(frozen=True)
class CellStarted:
    key: str
    run_name: str


@dataclass(frozen=True)
class TrialFinished:
    key: str
    trials_run: int  # trials this attempt at the cell has run so far


@dataclass(frozen=True)
class CellFinished:
    result: CellResult


Event = CellStarted | TrialFinished | CellFinished


@functools.cache
def _catalogue(path: str) -> Catalogue:
    return load_catalogue(path)


def get_dataset(catalogue_path: str, name: str) -> Dataset:
    """The dataset, loaded once per process (a worker runs many cells of one dataset)."""
    return load_dataset(_catalogue(catalogue_path), name)
