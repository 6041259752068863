"""Optuna plumbing: storages, one study per cell, exact trial budgets, stale-trial reaping.

A study's COMPLETE trials are the budget: failed trials are retried (up to a limit) so every
strategy gets exactly the same number of scored trials. The study is the source of truth for
trials; MLflow child runs are derived from it (``trial_record``).
"""

from __future__ import annotations

import fcntl
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from bench import runschema as rs
from bench.errors import BenchError, one_line
from bench.redaction import redact
from bench.sweep.protocol import derive_seed
from bench.tracking.client import TrialRecord

ERROR_ATTR = "error"  # set on trials that failed by raising (they get a FAILED child run)


def default_storage_url(runs_dir: str | Path) -> str:
    return str(Path(runs_dir).resolve() / "optuna.journal")


@functools.cache
def open_storage(url: str) -> BaseStorage:
    """A journal file (local, safe for several processes on one host) or an RDB URL
    (PostgreSQL for several machines).

    No Optuna heartbeats: they only work with ``Study.optimize``, not with the ask/tell loop
    that keeps budgets exact. A dead worker's trials are reaped instead by whoever next
    claims its cell (``bench.locks``), which works for every storage.
    """
    if "://" in url:
        from bench.locks import exclusive

        try:
            # Processes creating the schema of a new database at once collide on
            # PostgreSQL's type catalogue; one at a time, the others find it made.
            with exclusive(url, "optuna-schema"):
                return RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
        except Exception as err:
            raise BenchError(
                f"Optuna storage {redact(url)}: cannot open it ({redact(one_line(err, 300))})"
            ) from None
    path = Path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(UnsyncedJournalFileBackend(str(path)))


class UnsyncedJournalFileBackend(JournalFileBackend):
    """Optuna's journal file without an fsync per append, appends serialised by ``flock``.

    The fsync made up about a quarter of a small cell's time (570 of them for 10 cells).
    A killed process loses nothing without it (written data is in the page cache); only an
    OS crash could drop the journal's tail, and then the lost trials are simply run again
    (MLflow follows the study: ``Tracker.reconcile_trials``).
    """

    def __init__(self, file_path: str):
        super().__init__(file_path)
        self._append_path = file_path
        self._flock_path = file_path + ".flock"

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        data = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs).encode()
        with open(self._flock_path, "ab") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                with open(self._append_path, "ab") as f:
                    f.write(data)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


STARTUP_ATTR = "startup"  # user attribute of a trial the start-up phase proposed: its index
NOTE_PREFIX = "note."  # user attributes recorded on the trial's child run as bench.note.* tags


def make_sampler(kind: str, seed: int, n_startup: int) -> optuna.samplers.BaseSampler:
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup)


def study_name(sweep: str, cell_key: str) -> str:
    """The Optuna study of one cell of a sweep."""
    return f"{sweep}/{cell_key}"


def existing_study(storage_url: str, name: str) -> optuna.Study | None:
    """The study if it exists, without creating it (None otherwise): for readers, such as the
    clean-up after an interrupt, that must not leave an empty study behind."""
    try:
        return optuna.load_study(study_name=name, storage=open_storage(storage_url))
    except KeyError:
        return None


def open_study(storage: BaseStorage, name: str) -> optuna.Study:
    """The cell's study (created on first use). Its sampler is set anew before every trial
    (``ask``), so nothing about the sampler is stored or replayed."""
    return optuna.create_study(
        storage=storage,
        study_name=name,
        direction="maximize",
        load_if_exists=True,
    )


def reap_stale(study: optuna.Study) -> int:
    """Mark trials left RUNNING by a dead process as FAIL. Only called by the one worker
    that owns the cell, so a RUNNING trial here cannot belong to a live process."""
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING))
    for t in stale:
        study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
    return len(stale)


def logical_index(study: optuna.Study) -> int:
    """The position the next trial takes in the study's history: trials that count (scored,
    pruned, or failed by raising). A trial a killed process left behind (reaped, see
    ``reap_stale``) does not count, so a resumed study asks exactly what an uninterrupted one
    asks next."""
    return sum(
        t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        or (t.state == TrialState.FAIL and ERROR_ATTR in t.user_attrs)
        for t in study.get_trials(deepcopy=False)
    )


def ask(
    study: optuna.Study,
    sampler_kind: str,
    seed: int,
    n_startup: int,
    startup_params: Callable[[int], dict[str, Any]],
) -> optuna.trial.Trial:
    """The next trial, reproducibly: trial i of the history gets a sampler seeded by (seed, i),
    so an interrupted and resumed study proposes exactly what an uninterrupted one does (a
    sampler rebuilt with the study's seed would replay its first draws). The first
    ``n_startup`` trials are ``startup_params(i)`` (enqueued just before they are asked)."""
    i = logical_index(study)
    study.sampler = make_sampler(sampler_kind, derive_seed(seed, "trial", i), n_startup)
    if i < n_startup:
        study.enqueue_trial(startup_params(i), user_attrs={STARTUP_ATTR: i})
    return study.ask()


def startup_count(study: optuna.Study) -> int:
    """COMPLETE trials the start-up phase proposed."""
    return sum(
        STARTUP_ATTR in t.user_attrs
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    )


def random_draw(seed: int, suggest: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """What ``suggest`` proposes from a trial of a throwaway in-memory study sampled at random
    with ``seed``: one draw of a start-up stream."""
    scratch = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return suggest(scratch.ask())


def counts(study: optuna.Study) -> tuple[int, int]:
    """(COMPLETE trials, trials that failed by raising)."""
    trials = study.get_trials(deepcopy=False)
    complete = sum(t.state == TrialState.COMPLETE for t in trials)
    failed = sum(t.state == TrialState.FAIL and ERROR_ATTR in t.user_attrs for t in trials)
    return complete, failed


def logged_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Trials that deserve a child run: scored, pruned, or failed by raising. Their positions
    in this list are their *logical* numbers (see ``logical_index``)."""
    return [
        t
        for t in study.get_trials(deepcopy=False)
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        or (t.state == TrialState.FAIL and ERROR_ATTR in t.user_attrs)
    ]


def logical_number(study: optuna.Study, trial: FrozenTrial) -> int:
    """A trial's position among the trials that count: what Optuna's ``number`` would be had
    no killed process left a trial behind (a reaped trial takes a number of its own), so a
    resumed study names its trials, and its best trial, as an uninterrupted one does."""
    numbers = [t.number for t in logged_trials(study)]
    return numbers.index(trial.number) if trial.number in numbers else trial.number


def trial_records(study: optuna.Study | None, run_name: str) -> list[TrialRecord]:
    """The child runs a cell's study calls for, numbered logically."""
    trials = logged_trials(study) if study is not None else []
    return [trial_record(t, run_name, number) for number, t in enumerate(trials)]


def last_error(study: optuna.Study) -> str:
    """The error text of the study's most recent trial that failed by raising."""
    failed = [
        t for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
        if ERROR_ATTR in t.user_attrs
    ]  # fmt: skip
    return str(failed[-1].user_attrs[ERROR_ATTR]) if failed else "unknown"


def _ms(dt: Any) -> int | None:
    return int(dt.timestamp() * 1000) if dt is not None else None


def trial_record(trial: FrozenTrial, run_name: str, number: int) -> TrialRecord:
    """What the trial's MLflow child run holds, derived from the study alone; ``number`` is the
    trial's logical number (``logical_number``)."""
    attrs = trial.user_attrs
    tags = {rs.TAG_ERROR: str(attrs[ERROR_ATTR])[:5000]} if ERROR_ATTR in attrs else {}
    tags.update(
        {
            rs.TAG_NOTE_PREFIX + k.removeprefix(NOTE_PREFIX): str(v)
            for k, v in attrs.items()
            if k.startswith(NOTE_PREFIX)
        }
    )
    return TrialRecord(
        number=number,
        state=trial.state.name,
        run_name=f"{run_name}/t{number}",
        params=dict(trial.params),
        metrics={k: float(attrs[k]) for k in rs.TRIAL_METRICS if k in attrs},
        tags=tags,
        start_ms=_ms(trial.datetime_start),
        end_ms=_ms(trial.datetime_complete),
    )
