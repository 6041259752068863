"""The unit of work as the planner and the workers exchange it: a cell, its key, its context
and its result, plus the per-process dataset cache.

Kept apart from ``protocol`` (which imports scikit-learn, Optuna and the boosters, ~1.7 s) so
that a sweep's parent process can plan and hand out cells without importing what only the
workers run.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass

from bench.config import SweepConfig
from bench.datasets import Dataset, load_catalogue, load_dataset


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


@dataclass
class CellResult:
    key: str
    run_name: str
    status: str  # "done" | "skipped" (finished earlier) | "failed" | "busy" (claimed elsewhere)
    score: float | None = None
    trials_run: int = 0
    error: str | None = None
    fit_time: float = 0.0
    wall_time: float = 0.0


@functools.cache
def _catalogue(path: str):
    return load_catalogue(path)


def get_dataset(catalogue_path: str, name: str) -> Dataset:
    """The dataset, loaded once per process (a worker runs many cells of one dataset)."""
    return load_dataset(_catalogue(catalogue_path), name)
