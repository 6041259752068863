"""Plan a sweep's cells and run them: in this process, in local worker processes, or on Dask.

Every executor honours one contract: run these cells, report progress events, return one
CellResult per cell, and stop the sweep (non-zero exit) when tracking itself fails. Resume
is the same code path as a first run: finished cells are skipped by key, unfinished studies
continue from the Optuna storage.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.cells import Cell, CellContext, CellResult, cell_key, get_dataset
from bench.config import SweepConfig, config_hash, resolve_tracking_uri, scientific_settings
from bench.errors import BenchError
from bench.local_pool import Event, LocalPool, start_for
from bench.processes import BUSY_RETRY_S, usable_cores
from bench.progress import SweepProgress, print_summary
from bench.studies import default_storage_url, open_storage
from bench.tracking import Tracker, TrackingError, redact, use_wal_journal


@dataclass(frozen=True)
class SweepPlan:
    name: str
    config: SweepConfig
    settings: dict[str, Any]
    config_hash: str
    catalogue_path: str
    cells: list[Cell]


# ---------------------------------------------------------------------------------------
# planning
# ---------------------------------------------------------------------------------------
def _unknown(kind: str, names: list[str], known: list[str]) -> None:
    bad = [n for n in names if n not in known]
    if bad:
        raise BenchError(f"unknown {kind} {', '.join(map(repr, bad))}; known: {', '.join(known)}")


def plan_sweep(cfg: SweepConfig) -> SweepPlan:
    """Resolve names and check every dataset can be split as asked, before any work starts."""
    from bench.datasets import describe, load_catalogue

    catalogue = load_catalogue(cfg.catalogue)
    if cfg.datasets:
        for name in cfg.datasets:
            catalogue.spec(name)  # raises BenchError naming the unknown dataset
        datasets = list(cfg.datasets)
    else:
        datasets = catalogue.suite(cfg.suite or "quick")
    catalogue_path = str(Path(catalogue.path).resolve())
    metas = {}
    for name in datasets:
        # Synthetic sets are described from their spec: the planner never builds 10M rows.
        meta = describe(catalogue, name)[0] or get_dataset(catalogue_path, name).meta
        metas[name] = meta
        if meta.minority_count < cfg.folds:
            raise BenchError(
                f"dataset '{name}': its smallest class has {meta.minority_count} rows, fewer than "
                f"folds={cfg.folds}; use --folds {max(2, meta.minority_count)} or drop the dataset"
            )
        per_inner = meta.minority_count * (cfg.folds - 1) // cfg.folds
        if per_inner < 2 * (cfg.inner.folds if cfg.inner.kind == "kfold" else 1):
            raise BenchError(
                f"dataset '{name}': only {per_inner} minority rows remain for tuning inside an "
                f"outer fold; too few for an inner validation split"
            )
    settings = scientific_settings(cfg, datasets)
    digest = config_hash(settings)
    name = cfg.name or f"{cfg.suite if not cfg.datasets else 'custom'}-{digest[:8]}"
    cells = [
        Cell(d, b, s, r, f, cell_key(digest, d, b, s, r, f))
        for d in datasets
        for b in cfg.boosters
        for s in cfg.strategies
        for r in range(cfg.repeats)
        for f in range(cfg.folds)
    ]
    # Slowest first, so that the workers run out of work together (results do not depend
    # on the order: every cell has its own seeds).
    cells.sort(key=lambda c: -estimated_cost(c.booster, c.strategy, metas[c.dataset]))
    return SweepPlan(name, cfg, settings, digest, catalogue_path, cells)


def estimated_cost(booster: str, strategy: str, meta) -> float:
    """A rough relative cost of a cell, only used to order the work.

    Rows x classes, times the known outliers: CatBoost calls a Python multiclass objective
    once per row (about 100x native, see FOCAL_NOTES) and a binary one in small blocks (~2x).
    """
    cost = float(meta.n_rows) * max(1, meta.n_classes - 1)
    if booster == "catboost" and strategy == "focal":
        cost *= 100.0 if meta.n_classes > 2 else 2.0
    return cost


def artifact_location(tracking_uri: str, runs_dir: str) -> str | None:
    """Local stores keep artifacts under runs/; a server decides for itself."""
    if tracking_uri.startswith(("http://", "https://", "databricks")):
        return None
    return (Path(runs_dir).resolve() / "artifacts").as_uri()


def threads_per_worker(workers: int, threads: int | None) -> int:
    """Never oversubscribe: workers x threads <= cores unless the user asks for more."""
    return threads or max(1, usable_cores() // workers)


# ---------------------------------------------------------------------------------------
# in-process executor (one worker; several run in bench.local_pool)
# ---------------------------------------------------------------------------------------
def run_inline(
    cells: list[Cell], ctx: CellContext, on_event: Callable[[Event], None]
) -> list[CellResult]:
    from bench.protocol import run_cell  # the cell code: only the process that runs cells

    tracker = Tracker(ctx.tracking_uri)
    results = []
    try:
        for cell in cells:
            on_event(("start", cell.key, cell.run_name))
            result = run_cell(cell, ctx, tracker, lambda c, n: on_event(("trial", c.key, n)))
            on_event(("done", result))
            results.append(result)
    finally:
        tracker.close()
    return results


# ---------------------------------------------------------------------------------------
# the sweep
# ---------------------------------------------------------------------------------------
def _command_line(cfg: SweepConfig, plan: SweepPlan) -> str:
    parts = ["python", "-m", "bench", "run", "--name", plan.name]
    if cfg.datasets:
        parts += ["--datasets", *cfg.datasets]
    else:
        parts += ["--suite", cfg.suite or "quick"]
    parts += ["--boosters", *cfg.boosters, "--strategies", *cfg.strategies]
    parts += ["--trials", str(cfg.trials), "--folds", str(cfg.folds)]
    parts += ["--repeats", str(cfg.repeats), "--seed", str(cfg.seed), "--target", cfg.target]
    return shlex.join(parts)


def run_sweep(cfg: SweepConfig, console=None, pool: LocalPool | None = None) -> int:
    """Plan, prepare the stores, run every unfinished cell, print the summary.

    ``pool``: local workers the caller started early (``start_for``) so their
    imports overlapped its own; started here otherwise. It is closed here either way.
    """
    pool = pool or start_for(cfg)
    try:
        return _run_sweep(cfg, console, pool)
    finally:
        if pool is not None:
            pool.close(kill=True)  # after an error; a no-op after the close in _run_sweep


def _run_sweep(cfg: SweepConfig, console, pool: LocalPool | None) -> int:
    plan = plan_sweep(cfg)
    runs_dir = Path(cfg.runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    tracking_uri = resolve_tracking_uri(cfg)
    storage_url = cfg.storage or default_storage_url(runs_dir)
    tracker = Tracker(tracking_uri)
    # Creating the experiment also creates a new store's schema, once, before any worker.
    experiment_id = tracker.ensure_experiment(
        plan.name,
        plan.config_hash,
        plan.settings,
        _command_line(cfg, plan),
        artifact_location(tracking_uri, cfg.runs_dir),
    )
    use_wal_journal(tracking_uri)  # a local store, now that its schema exists
    open_storage(storage_url)  # the same for the Optuna schema
    finished = {
        key
        for key, run in tracker.cell_runs(experiment_id).items()
        if run.info.status == "FINISHED"
    }
    todo = [c for c in plan.cells if c.key not in finished]
    if pool is not None and todo:
        pool.store_ready()
        workers = min(pool.workers, len(todo))
    elif pool is not None:
        pool.close(kill=True)  # nothing to run: do not wait for its imports
        pool, workers = None, 1
    elif cfg.scheduler or cfg.dask_local:
        workers = cfg.dask_local or cfg.workers or max(1, min(usable_cores(), len(todo)))
    else:
        workers = 1
    threads = threads_per_worker(workers, cfg.threads)
    ctx = CellContext(
        config=cfg,
        sweep=plan.name,
        experiment_id=experiment_id,
        tracking_uri=tracking_uri,
        storage_url=storage_url,
        catalogue_path=plan.catalogue_path,
        threads=threads,
    )
    progress = SweepProgress(
        sweep=plan.name,
        total_cells=len(plan.cells),
        already_done=len(plan.cells) - len(todo),
        trials_per_cell=cfg.trials,
        console=console,
    )
    progress.header(
        f"sweep '{plan.name}': {len(plan.cells)} cells ({len(todo)} to run), "
        f"{cfg.trials} trials each, {workers} worker(s) x {threads} thread(s); "
        f"tracking {redact(tracking_uri)}; experiment bench/{plan.name}"
    )
    if cfg.scheduler or cfg.dask_local:
        from bench.dask_executor import run_dask

        def execute(cells: list[Cell]) -> list[CellResult]:
            return run_dask(cells, ctx, cfg.scheduler, cfg.dask_local, progress.on_event)
    elif pool is not None:

        def execute(cells: list[Cell]) -> list[CellResult]:
            return pool.run(cells, ctx, progress.on_event)
    else:

        def execute(cells: list[Cell]) -> list[CellResult]:
            return run_inline(cells, ctx, progress.on_event)

    try:
        with progress:
            results = execute(todo)
            # Cells another process holds are retried until that process finishes them
            # (they are then skipped) or lets them go (they are then run here).
            while busy := [c for c, r in zip(todo, results, strict=True) if r.status == "busy"]:
                time.sleep(BUSY_RETRY_S)
                retried = {r.key: r for r in execute(busy)}
                results = [retried.get(r.key, r) for r in results]
        if pool is not None:
            pool.close(kill=True)  # idle now, and every cell's writes were flushed
        parents = tracker.cell_runs(experiment_id, delete_duplicates=True)
    except TrackingError as err:
        progress.error(f"sweep stopped: {err}")
        progress.error("finished cells are kept; re-run the same command to resume")
        return 3
    finally:
        tracker.close()
    print_summary(list(parents.values()), cfg.target, progress.console)
    failed = [r for r in results if r.status == "failed"]
    for r in failed:
        progress.error(f"cell {r.run_name} failed: {r.error.splitlines()[0] if r.error else ''}")
    if failed:
        progress.error(f"{len(failed)} cell(s) failed; re-run the same command to retry them")
        return 1
    return 0
