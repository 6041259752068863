"""MLflow bookkeeping: one experiment per sweep, one parent run per cell, one child per trial.

Writes are batched (create_run + log_batch + set_terminated: three requests a run) and child
runs are written by a background thread so that logging overlaps with training. Every write
is idempotent by key (cell key tag on parents, trial number tag on children) and
``reconcile_trials`` makes the children match the Optuna study exactly, which is what makes a
killed sweep resume without duplicates.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import queue
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT, MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NOTE

from bench import runschema as rs
from bench.errors import BenchError
from bench.tracking.errors import TrackingError, store_failure
from bench.tracking.stores import open_client

__all__ = ["CellOutcome", "DatasetRef", "Tracker", "TrackingError", "TrialRecord"]

_PARAM_MAX = 6000
_BATCH_MAX = 100  # params + tags per log_batch


@dataclass(frozen=True)
class TrialRecord:
    """What a trial's MLflow child run holds; derived from the Optuna study alone."""

    number: int
    state: str  # COMPLETE | PRUNED | FAIL
    run_name: str
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    start_ms: int | None = None
    end_ms: int | None = None


@dataclass(frozen=True)
class DatasetRef:
    """A dataset as MLflow's inputs show it: the UI's Dataset column and its filters."""

    name: str
    digest: str
    source: str
    context: str  # "train" | "test"
    source_type: str = "bench"


@dataclass
class CellOutcome:
    """What a finished cell logs on its parent run."""

    params: dict[str, Any]
    metrics: dict[str, float]
    predictions_csv: str
    tags: dict[str, str] = field(default_factory=dict)
    datasets: list[DatasetRef] = field(default_factory=list)
    description: str = ""


_SQLITE = "sqlite:///"


def _file_identity(tracking_uri: str) -> tuple[int, int] | None:
    """(device, inode) of a local SQLite store's file; None for other stores or no file."""
    if not tracking_uri.startswith(_SQLITE) or ":memory:" in tracking_uri:
        return None
    try:
        st = os.stat(tracking_uri.removeprefix(_SQLITE))
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _run_status(record: TrialRecord) -> str:
    """The MLflow status of a trial's child run."""
    return "FINISHED" if record.state in ("COMPLETE", "PRUNED") else "FAILED"


def _matches(run: Any, record: TrialRecord | None) -> bool:
    """Whether a child run is its trial's: it ended as the trial did (one left RUNNING, or
    marked KILLED by an interrupt while it was being written, is written again) and started
    when the trial did (a run numbered by an older numbering that counted a reaped trial is
    another trial's)."""
    if record is None or _run_status(record) != run.info.status:
        return False
    return record.start_ms is None or run.info.start_time == record.start_ms


def _now_ms() -> int:
    return int(time.time() * 1000)


def _params(values: Mapping[str, Any]) -> list[Param]:
    return [Param(k, str(v)[:_PARAM_MAX]) for k, v in values.items()]


def _tags(values: Mapping[str, Any]) -> list[RunTag]:
    return [RunTag(k, str(v)) for k, v in values.items()]


def _metrics(values: Mapping[str, float], ts: int) -> list[Metric]:
    return [Metric(k, float(v), ts, 0) for k, v in values.items() if v is not None]


class Tracker:
    """All MLflow writes of one process. Thread-safe for the background child writer."""

    def __init__(self, tracking_uri: str, schema_ready: bool = False):
        self.tracking_uri = tracking_uri
        self.client = self._call("opening the store", open_client, tracking_uri, schema_ready)
        self._artifact_uris: dict[str, str] = {}  # run id -> artifact URI, for finish_cell
        self._queue: queue.Queue = queue.Queue()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._identity = _file_identity(tracking_uri)

    def check_store(self) -> None:
        """Stop at once if a local store is no longer the file this tracker opened (deleted or
        replaced): SQLite would go on writing into the unlinked file, and every cell after
        would be lost."""
        if self._identity is None:
            return
        now = _file_identity(self.tracking_uri)
        if now != self._identity:
            path = self.tracking_uri.removeprefix(_SQLITE)
            what = "was deleted" if now is None else "was replaced by another file"
            raise TrackingError(
                f"MLflow store {path} {what} while the sweep ran; the cells it held are gone "
                "with it (the Optuna studies are kept): restore the file, or re-run to redo them",
                kept=False,
            )

    # -- helpers --------------------------------------------------------------------------
    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as err:  # MLflow raises many types for a dead server
            raise store_failure(self.tracking_uri, what, err) from err

    def _log_text(self, run_id: str, text: str) -> None:
        """The predictions artifact, to the artifact URI the run was created (or reopened) with:
        ``MlflowClient.log_text`` would first fetch the whole run to find it (a request)."""
        uri = self._artifact_uris.pop(run_id, None)
        if uri is None or self.tracking_uri.startswith("databricks"):  # MLflow adds a profile
            self.client.log_text(run_id, text, rs.PREDICTIONS_ARTIFACT)
            return
        folder, name = posixpath.split(rs.PREDICTIONS_ARTIFACT)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_text(text, encoding="utf-8")
            repo = get_artifact_repository(uri, tracking_uri=self.tracking_uri)
            repo.log_artifact(str(path), folder or None)

    def _log_inputs(self, run_id: str, inputs: list[DatasetInput], attempts: int = 4) -> None:
        """``log_inputs``, retried when another process created the same dataset meanwhile:
        MLflow looks a dataset up and then inserts it, so two workers logging one dataset
        (strategies of one fold share it) can both insert and one hits the unique key."""
        for attempt in range(attempts):
            try:
                self.client.log_inputs(run_id, inputs)
                return
            except Exception as err:
                text = str(err).lower()
                racing = "unique" in text or "duplicate key" in text or "integrity" in text
                if not racing or attempt == attempts - 1:
                    raise
                time.sleep(0.1 * (attempt + 1))

    def _log_batch(self, run_id: str, params=(), tags=(), metrics=()) -> None:
        params, tags, metrics = list(params), list(tags), list(metrics)
        while params or tags or metrics:
            p, params = params[:_BATCH_MAX], params[_BATCH_MAX:]
            t, tags = tags[: _BATCH_MAX - len(p)], tags[_BATCH_MAX - len(p) :]
            m, metrics = metrics[:1000], metrics[1000:]
            self._call("logging a batch", self.client.log_batch, run_id, m, p, t)

    def _delete(self, run: Any, what: str) -> None:
        """Soft-delete a run, ending it first if it is RUNNING: a deleted run keeps its status,
        and one left RUNNING would count as in progress for good to whoever reads the store."""
        if run.info.status == "RUNNING":
            self._call(what, self.client.set_terminated, run.info.run_id, "KILLED")
        self._call(what, self.client.delete_run, run.info.run_id)

    def search(self, experiment_id: str, filter_string: str) -> list:
        runs, token = [], None
        while True:
            page = self._call(
                "searching runs",
                self.client.search_runs,
                [experiment_id],
                filter_string,
                max_results=1000,
                page_token=token,
            )
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    # -- sweep level ----------------------------------------------------------------------
    def ensure_experiment(
        self,
        sweep: str,
        config_hash: str,
        settings: dict[str, Any],
        command: str,
        artifact_location: str | None,
        extra_tags: dict[str, str] | None = None,
    ) -> str:
        """The sweep's experiment, created on first use; a changed config under the same
        name is refused rather than mixed into old results."""
        name = f"bench/{sweep}"
        exp = self._call("reading the experiment", self.client.get_experiment_by_name, name)
        if exp is None:
            tags = {
                rs.EXP_SWEEP: sweep,
                rs.EXP_CONFIG_HASH: config_hash,
                rs.EXP_CONFIG: json.dumps(settings, sort_keys=True),
                rs.EXP_COMMAND: command,
                rs.EXP_CREATED: time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                **(extra_tags or {}),
            }
            try:
                return self.client.create_experiment(name, artifact_location, tags)
            except Exception:
                exp = self._call("reading the experiment", self.client.get_experiment_by_name, name)
                if exp is None:
                    raise
        old = exp.tags.get(rs.EXP_CONFIG_HASH)
        if old != config_hash:
            raise BenchError(
                f"sweep '{sweep}' already exists with a different configuration "
                f"(config hash {str(old)[:8]}, now {config_hash[:8]}): pass a new --name, or "
                f"the original settings to resume it"
            )
        if exp.lifecycle_stage != "active":
            raise BenchError(f"sweep '{sweep}': its MLflow experiment '{name}' is deleted")
        return exp.experiment_id

    def cell_runs(self, experiment_id: str, delete_duplicates: bool = False) -> dict[str, Any]:
        """cell key -> the parent run that counts for it (``runschema.preferred_parent``).

        With ``delete_duplicates`` the others are deleted: a request retried after its
        response was lost can create a second parent, and the sweep's last act removes it.
        """
        runs = self.search(experiment_id, f"tags.`{rs.ROLE}` = '{rs.ROLE_CELL}'")
        by_key: dict[str, list] = {}
        for run in runs:
            by_key.setdefault(run.data.tags.get(rs.TAG_CELL_KEY), []).append(run)
        best: dict[str, Any] = {}
        for key, group in by_key.items():
            keep, extras = rs.preferred_parent(group)
            best[key] = keep
            if delete_duplicates:
                for extra in extras:
                    self._delete(extra, "deleting a duplicate run")
        return best

    def running_parents(self, experiment_id: str) -> list:
        """The sweep's parent runs still RUNNING (cells in progress, or left by a stopped
        process)."""
        return self.search(
            experiment_id,
            f"tags.`{rs.ROLE}` = '{rs.ROLE_CELL}' and attributes.status = 'RUNNING'",
        )

    def kill_run_tree(self, experiment_id: str, parent_id: str) -> int:
        """Mark a parent run and its RUNNING child runs KILLED (an interrupted cell; a resumed
        sweep reopens the parent and reconciles the children). Returns how many were marked."""
        self.flush_quietly()
        children = self.search(experiment_id, f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent_id}'")
        running = [c.info.run_id for c in children if c.info.status == "RUNNING"]
        for run_id in [*running, parent_id]:
            self._call("marking a run killed", self.client.set_terminated, run_id, "KILLED")
        return len(running) + 1

    def flush_quietly(self) -> None:
        """Wait for queued child runs, ignoring a writer error (already being reported)."""
        with contextlib.suppress(Exception):
            self.flush()

    # -- cell level -----------------------------------------------------------------------
    def start_cell(
        self, experiment_id: str, cell_key: str, run_name: str, tags: dict[str, str]
    ) -> tuple[str, str]:
        """(parent run id, state): state "finished" (skip the cell), "reopened" (an earlier
        attempt's unfinished parent, reused; stray duplicates deleted) or "new"."""
        runs = self.search(experiment_id, f"tags.`{rs.TAG_CELL_KEY}` = '{cell_key}'")
        parents = [r for r in runs if r.data.tags.get(rs.ROLE) == rs.ROLE_CELL]
        if parents:
            run, extras = rs.preferred_parent(parents)
            for extra in extras:
                self._delete(extra, "deleting a duplicate run")
            if run.info.status == "FINISHED":
                return run.info.run_id, "finished"
            self._call("reopening a run", self.client.update_run, run.info.run_id, "RUNNING")
            self._artifact_uris[run.info.run_id] = run.info.artifact_uri
            return run.info.run_id, "reopened"
        all_tags = {**tags, rs.ROLE: rs.ROLE_CELL, rs.TAG_CELL_KEY: cell_key}
        run = self._call(
            "creating a run",
            self.client.create_run,
            experiment_id,
            tags=all_tags,
            run_name=run_name,
        )
        self._artifact_uris[run.info.run_id] = run.info.artifact_uri
        return run.info.run_id, "new"

    def finish_cell(self, run_id: str, outcome: CellOutcome) -> None:
        """Predictions, dataset inputs, params, metrics and a one-line description; then
        FINISHED (last, so a parent is FINISHED only with everything on it)."""
        self.flush()
        self._call("uploading predictions", self._log_text, run_id, outcome.predictions_csv)
        if outcome.datasets:
            inputs = [
                DatasetInput(
                    Dataset(d.name, d.digest, d.source_type, d.source),
                    [InputTag(MLFLOW_DATASET_CONTEXT, d.context)],
                )
                for d in outcome.datasets
            ]
            self._call("logging dataset inputs", self._log_inputs, run_id, inputs)
        tags = dict(outcome.tags)
        if outcome.description:
            tags[MLFLOW_RUN_NOTE] = outcome.description
        self._log_batch(
            run_id, _params(outcome.params), _tags(tags), _metrics(outcome.metrics, _now_ms())
        )
        self._call("finishing a run", self.client.set_terminated, run_id, "FINISHED")

    def fail_cell(self, run_id: str, error: str, tags: Mapping[str, str] | None = None) -> None:
        self._artifact_uris.pop(run_id, None)
        self.flush()
        all_tags = {**(tags or {}), rs.TAG_ERROR: error[:5000]}
        self._log_batch(run_id, tags=_tags(all_tags))
        self._call("marking a run failed", self.client.set_terminated, run_id, "FAILED")

    # -- trials ---------------------------------------------------------------------------
    def log_trial(self, experiment_id: str, parent_id: str, record: TrialRecord) -> None:
        """Queue a finished trial's child run; the background writer sends it."""
        if self._error is not None:
            raise self._error
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._drain, name="mlflow-writer", daemon=True)
            self._thread.start()
        self._queue.put((experiment_id, parent_id, record))

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            if item is not None and self._error is None:
                try:
                    self._write_trial(*item)
                except BaseException as err:  # surfaced by flush()
                    self._error = err
            self._queue.task_done()
            if item is None:
                return

    def flush(self) -> None:
        """Wait for queued child runs; raise the writer's error if one happened."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.join()
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    def close(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=60)

    def _write_trial(self, experiment_id: str, parent_id: str, record: TrialRecord) -> None:
        tags = {
            MLFLOW_PARENT_RUN_ID: parent_id,
            rs.ROLE: rs.ROLE_TRIAL,
            rs.TAG_TRIAL_NUMBER: str(record.number),
            rs.TAG_TRIAL_STATE: record.state,
            **record.tags,
        }
        run = self._call(
            "creating a trial run",
            self.client.create_run,
            experiment_id,
            start_time=record.start_ms,
            tags=tags,
            run_name=record.run_name,
        )
        run_id = run.info.run_id
        self._log_batch(
            run_id, _params(record.params), [], _metrics(record.metrics, record.end_ms or _now_ms())
        )
        self._call(
            "finishing a trial run",
            self.client.set_terminated,
            run_id,
            _run_status(record),
            record.end_ms,
        )

    def reconcile_trials(
        self,
        experiment_id: str,
        parent_id: str,
        records: Iterable[TrialRecord],
        new_parent: bool = False,
    ) -> tuple[int, int]:
        """Make the parent's children exactly one per finished trial record.

        Deletes children of trials the study does not hold as finished and duplicates;
        writes the missing ones. Returns (written, deleted). ``new_parent``: the parent was
        just created, so it has no children and the search for them is skipped.
        """
        self.flush()
        wanted = {r.number: r for r in records}
        children = (
            []
            if new_parent
            else self.search(experiment_id, f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent_id}'")
        )
        seen: set[int] = set()
        deleted = 0
        for run in sorted(children, key=lambda r: r.info.start_time or 0):
            number = int(run.data.tags.get(rs.TAG_TRIAL_NUMBER, -1))
            if not _matches(run, wanted.get(number)) or number in seen:
                self._delete(run, "deleting a stale run")
                deleted += 1
                continue
            seen.add(number)
        missing = [r for n, r in wanted.items() if n not in seen]
        for record in missing:
            self._write_trial(experiment_id, parent_id, record)
        return len(missing), deleted
