"""SIGTERM at random moments of a real sweep, and what MLflow and Optuna hold after each stop.

Issue 24's acceptance: whenever a signal lands (start-up, a worker opening a cell, a trial
being written), the sweep exits 130 with nothing RUNNING in MLflow (not even a deleted run),
and every parent's child runs are exactly the trials its Optuna study holds as finished.
tests/test_hardening.py runs a few stops; benchmarks/sigterm_race.py runs twenty.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from bench import runschema as rs
from tests.sweep_helpers import popen_cli

OUTPUT_PROBLEMS = ("Traceback", "leaked semaphore", "leaked shared_memory")


@dataclass
class Stop:
    """One sweep stopped by one SIGTERM, and what it left behind."""

    delay: float  # seconds after the anchor
    anchor: str  # "start" (of the command) or "cells" (its header printed: cells about to run)
    whole_group: bool  # the process group (a terminal, Slurm) or the CLI process only
    returncode: int
    running: list[str] = field(default_factory=list)  # runs still RUNNING (any lifecycle)
    mismatched: list[str] = field(default_factory=list)  # parents whose children != study
    output: list[str] = field(default_factory=list)  # tracebacks, leak warnings

    @property
    def clean(self) -> bool:
        return self.returncode in (0, 130) and not (self.running or self.mismatched or self.output)


def stop_at_random(args: list[str], runs_dir: Path, rng: random.Random, max_delay: float) -> Stop:
    """Start the sweep, SIGTERM it a random delay after its start or after its header (half
    of the stops each: start-up is slow on a busy machine), wait, and check the stores."""
    log = runs_dir.parent / f"{runs_dir.name}-{time.monotonic_ns()}.log"
    delay, whole_group = rng.uniform(0.0, max_delay), rng.random() < 0.5
    anchor = rng.choice(["start", "cells"])
    proc = popen_cli(args, log)
    try:
        while anchor == "cells" and proc.poll() is None and "sweep '" not in log.read_text():
            time.sleep(0.01)
        time.sleep(delay)
        if whole_group:
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=180)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    text = log.read_text(errors="replace")
    stop = Stop(delay, anchor, whole_group, proc.returncode)
    stop.output = [p for p in OUTPUT_PROBLEMS if p in text]
    stop.running, stop.mismatched = check_stores(f"sqlite:///{runs_dir / 'mlflow.db'}", runs_dir)
    return stop


def check_stores(uri: str, runs_dir: Path) -> tuple[list[str], list[str]]:
    """(runs still RUNNING, deleted ones included; parents whose active children are not
    exactly their study's finished trials, by logical number and status). Reads the study with
    Optuna itself, so the check does not depend on the code it checks."""
    if not (runs_dir / "mlflow.db").exists():
        return [], []
    client = MlflowClient(uri)
    runs = []
    for exp in client.search_experiments():
        if rs.EXP_SWEEP in exp.tags:
            runs += client.search_runs([exp.experiment_id], "", ViewType.ALL, 50_000)
    running = [r.info.run_name or r.info.run_id for r in runs if r.info.status == "RUNNING"]
    active = [r for r in runs if r.info.lifecycle_stage == "active"]
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(runs_dir / "optuna.journal")))
    mismatched = []
    for parent in (r for r in active if r.data.tags.get(rs.ROLE) == rs.ROLE_CELL):
        got = sorted(
            (int(c.data.tags[rs.TAG_TRIAL_NUMBER]), c.info.status)
            for c in active
            if c.data.tags.get(MLFLOW_PARENT_RUN_ID) == parent.info.run_id
        )
        want = _finished_trials(storage, parent.data.tags[rs.TAG_STUDY])
        if got != want:
            mismatched.append(f"{parent.info.run_name} ({parent.info.status}): {got} != {want}")
    return running, mismatched


def _finished_trials(storage: optuna.storages.BaseStorage, name: str) -> list[tuple[int, str]]:
    """(logical number, run status) of the trials a study holds as finished: scored, pruned,
    or failed by raising (a trial a stopped process left RUNNING, or reaped, does not count)."""
    try:
        trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
    except KeyError:  # the parent was created, its study not yet
        return []
    done = (TrialState.COMPLETE, TrialState.PRUNED)
    counted = [t for t in trials if t.state in done or "error" in t.user_attrs]
    return [(i, "FINISHED" if t.state in done else "FAILED") for i, t in enumerate(counted)]
