"""The sweep's driver (parent process): plan, prepare the stores, hand the unfinished cells to
an executor, retry busy ones, print the summary.

Resume is the same code path as a first run: finished cells are skipped by key, unfinished
studies continue from the Optuna storage.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from bench import interrupts
from bench import runschema as rs
from bench.config import SweepConfig
from bench.errors import BenchError, one_line
from bench.locks import claim
from bench.paths import sweep_log_dir
from bench.redaction import redact
from bench.sweep import studies
from bench.sweep.cells import CellContext, CellFinished, CellResult, Event
from bench.sweep.executors import make_executor
from bench.sweep.executors.local import start_for
from bench.sweep.executors.processes import usable_cores
from bench.sweep.plan import SweepPlan, command_line, plan_sweep
from bench.sweep.progress import SweepProgress, print_summary
from bench.tracking.client import Tracker, TrackingError
from bench.tracking.environment import git_commit, is_dirty
from bench.tracking.stores import configure_process, use_wal_journal
from bench.tracking.uris import (
    artifact_location,
    refuse_read_only_store,
    resolve_tracking_uri,
)

if TYPE_CHECKING:
    from bench.sweep.executors.local import LocalPool

log = logging.getLogger(__name__)

BUSY_RETRY_S = 2.0  # pause before asking again for a cell another process holds


def threads_per_worker(workers: int, threads: int | None) -> int:
    """Never oversubscribe: workers x threads <= cores unless the user asks for more."""
    return threads or max(1, usable_cores() // workers)


def run_sweep(
    cfg: SweepConfig,
    console: Console | None = None,
    pool: LocalPool | None = None,
    quiet: bool = False,
) -> int:
    """Plan, prepare the stores, run every unfinished cell, print the summary.

    ``pool``: local workers the caller started early (``start_for``) so their imports
    overlapped its own; started here otherwise. It is closed here either way.
    """
    with _interrupts_as_keyboard_interrupt():  # before anything starts
        try:
            configure_process()
            pool = pool or start_for(cfg)
            return _run_sweep(cfg, console, pool, quiet)
        finally:
            if pool is not None:
                pool.close()  # after an error; a no-op after the executor's close


def _run_sweep(
    cfg: SweepConfig, console: Console | None, pool: LocalPool | None, quiet: bool
) -> int:
    plan = plan_sweep(cfg)
    runs_dir = Path(cfg.runs_dir)
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BenchError(f"--runs-dir {runs_dir}: cannot create it ({err.strerror})") from None
    tracking_uri = resolve_tracking_uri(cfg.tracking_uri, cfg.runs_dir)
    storage_url = cfg.storage or studies.default_storage_url(runs_dir)
    # The Optuna storage first: a bad --storage is refused before MLflow holds anything.
    studies.open_storage(storage_url)
    refuse_read_only_store(tracking_uri)
    tracker = Tracker(tracking_uri)
    # Creating the experiment also creates a new store's schema, once, before any worker.
    experiment_id = tracker.ensure_experiment(
        plan.name,
        plan.config_hash,
        plan.settings,
        command_line(plan),
        artifact_location(tracking_uri, cfg.runs_dir),
        extra_tags={rs.EXP_SKIPPED: json.dumps([s.__dict__ for s in plan.skipped])},
    )
    use_wal_journal(tracking_uri)  # a local store, now that its schema exists
    finished = {
        key
        for key, run in tracker.cell_runs(experiment_id).items()
        if run.info.status == rs.FINISHED
    }
    todo = [c for c in plan.cells if c.key not in finished]
    if pool is not None and todo:
        pool.store_ready()
    elif pool is not None:
        pool.close()  # nothing to run: do not wait for its imports
        pool = None
    executor = make_executor(cfg, pool, len(todo))
    workers = min(executor.workers, max(1, len(todo)))
    threads = threads_per_worker(workers, cfg.threads)
    ctx = CellContext(
        config=cfg,
        sweep=plan.name,
        experiment_id=experiment_id,
        tracking_uri=tracking_uri,
        storage_url=storage_url,
        catalogue_path=plan.catalogue_path,
        threads=threads,
        log_dir=str(sweep_log_dir(runs_dir, plan.name)),
        git_commit=git_commit(),
    )
    progress = SweepProgress(
        sweep=plan.name,
        total_cells=len(plan.cells),
        already_done=len(plan.cells) - len(todo),
        trials_per_cell=cfg.trials,
        console=console,
        quiet=quiet,
    )
    progress.header(_header(plan, todo, workers, threads, tracking_uri))
    if is_dirty(ctx.git_commit):
        progress.header(
            f"code: {ctx.git_commit}: the working tree has uncommitted changes, so these cells "
            "cannot be exported for publication without --allow-dirty; commit first"
        )
    for line in plan.skipped_lines():
        progress.header(line)
    for warning in plan.warnings():
        log.warning(warning)

    def on_event(event: Event) -> None:
        progress.on_event(event)
        if isinstance(event, CellFinished):
            tracker.check_store()  # the store deleted or replaced: stop now, not at the end

    try:
        with progress:
            results = executor.run(todo, ctx, on_event)
            # The one retry loop: cells another process holds are asked for again until that
            # process finishes them (they are then skipped) or lets them go (then run here).
            while busy := [c for c, r in zip(todo, results, strict=True) if r.status == "busy"]:
                time.sleep(BUSY_RETRY_S)
                retried = {r.key: r for r in executor.run(busy, ctx, on_event)}
                results = [retried.get(r.key, r) for r in results]
        executor.close()  # idle now, and every cell's writes were flushed
        parents = tracker.cell_runs(experiment_id, delete_duplicates=True)
    except TrackingError as err:
        progress.error(f"sweep stopped: {err}")
        if err.kept:
            progress.error("finished cells are kept; re-run the same command to resume")
        return 3
    except KeyboardInterrupt:  # later signals are ignored now: this clean-up runs to the end
        executor.close()  # the workers are stopped and gone: nothing of theirs is written now
        killed = mark_interrupted(tracker, ctx, {c.key for c in todo})
        progress.error(
            f"interrupted: {killed} run(s) of the cells in progress marked KILLED; finished "
            "cells are kept; re-run the same command to resume"
        )
        raise
    finally:
        executor.close()
        tracker.close()
    print_summary(list(parents.values()), cfg.target, progress.console)
    return _report_failures(results, progress, ctx.log_dir)


@contextlib.contextmanager
def _interrupts_as_keyboard_interrupt() -> Iterator[None]:
    """SIGTERM (a batch scheduler, ``kill``) stops the sweep as Ctrl-C does, and later signals
    do not cut short the clean-up (see ``bench.interrupts``); the caller's handlers are back
    afterwards. ``python -m bench`` installed the same handlers before it started anything;
    this is for a sweep started from Python."""
    previous = interrupts.install()
    try:
        yield
    finally:
        interrupts.restore(previous)


CLAIM_RELEASE_S = 2.0  # a stopped worker's PostgreSQL claim ends when the server notices


def mark_interrupted(tracker: Tracker, ctx: CellContext, cells: Collection[str]) -> int:
    """After an interrupt, with this sweep's workers stopped: mark KILLED every RUNNING parent
    run of the ``cells`` this process was running that no process claims any more, and its
    unfinished child runs.

    Asking the claims, not the cells this process heard had started, is what makes a parent
    created by a worker just before it was stopped (its start event still in the queue) marked
    too, while a cell another live sweep process holds is left alone. Returns how many runs
    were marked."""
    marked = 0
    pending = [
        run
        for run in tracker.running_parents(ctx.experiment_id)
        if run.data.tags.get(rs.TAG_CELL_KEY) in cells
    ]
    deadline = time.monotonic() + CLAIM_RELEASE_S
    while pending:
        held = []
        for run in pending:
            with claim(ctx.storage_url, run.data.tags[rs.TAG_CELL_KEY]) as mine:
                if mine:
                    marked += _kill_orphan(tracker, ctx, run)
                else:
                    held.append(run)
        if not held or time.monotonic() > deadline:
            break
        pending = held
        time.sleep(0.1)
    return marked


def _kill_orphan(tracker: Tracker, ctx: CellContext, parent: Any) -> int:
    """One unclaimed cell: its child runs made to match its study first (a trial Optuna holds
    as finished keeps a finished run, one a stopped worker had not written yet is written),
    then whatever is still RUNNING marked KILLED."""
    key = parent.data.tags.get(rs.TAG_CELL_KEY, "")
    name = parent.info.run_name or key
    try:
        records = studies.trial_records(
            studies.existing_study(ctx.storage_url, studies.study_name(ctx.sweep, key)), name
        )
    except Exception as err:  # the storage is unreachable: kill-mark without the study
        log.warning("cell %s: study not read (%s); runs marked KILLED", name, one_line(err))
        records = None
    if records is not None:
        tracker.reconcile_trials(ctx.experiment_id, parent.info.run_id, records)
    return tracker.kill_run_tree(ctx.experiment_id, parent.info.run_id)


def _header(plan: SweepPlan, todo: list, workers: int, threads: int, tracking_uri: str) -> str:
    cfg = plan.config
    startup = cfg.n_startup_trials
    proposer = "random" if cfg.sampler == "random" else "TPE"
    shard = f" (shard {cfg.shard} of {plan.total_cells} cells)" if cfg.shard_k_n is not None else ""
    if cfg.cells is not None:
        shard = f" (chosen by --cells, of {plan.total_cells}){shard}"
    return (
        f"sweep '{plan.name}': {len(plan.cells)} cells{shard} ({len(todo)} to run), {cfg.trials} "
        f"trials each ({startup} start-up, {cfg.trials - startup} {proposer}), "
        f"{plan.inner_summary()}, loss scale {cfg.loss_scale}; {workers} worker(s) x "
        f"{threads} thread(s); tracking {redact(tracking_uri)}; experiment bench/{plan.name}"
    )


def _report_failures(results: list[CellResult], progress: SweepProgress, log_dir: str) -> int:
    failed = [r for r in results if r.status == "failed"]
    for r in failed:
        progress.error(f"cell {r.run_name} failed: {r.error or ''}")
    if failed:
        progress.error(
            f"{len(failed)} cell(s) failed (tracebacks in {log_dir}); re-run the same command "
            "to retry them"
        )
        return 1
    return 0
