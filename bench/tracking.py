"""MLflow bookkeeping: one experiment per sweep, one parent run per cell, one child per trial.

Writes are batched (create_run + log_batch + set_terminated: three requests a run) and child
runs are written by a background thread so that logging overlaps with training. Every write
is idempotent by key (cell key tag on parents, trial number tag on children) and
``reconcile_trials`` makes the children match the Optuna study exactly, which is what makes a
killed sweep resume without duplicates.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import posixpath
import queue
import re
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
from sqlalchemy import event
from sqlalchemy.engine import Engine

from bench import claims
from bench import runschema as rs
from bench.errors import BenchError

# MLflow's own HTTP retries (connection errors and 5xx, exponential backoff) with a window
# of about 30 s instead of its default of about 4 minutes: a restarting server is waited
# for, a dead one stops the sweep promptly. Users can still set these variables.
# MLflow also prints "View run ... at: <tracking URI>" for every finished run over HTTP,
# user:password included: never print it.
for _var, _value in (
    ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "5"),
    ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"),
    ("MLFLOW_HTTP_REQUEST_TIMEOUT", "60"),
    ("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true"),
    # MLflow 3's usage telemetry: a benchmark harness does not phone home, and it cost ~18 ms
    # a run here (no network to reach).
    ("MLFLOW_DISABLE_TELEMETRY", "true"),
):
    os.environ.setdefault(_var, _value)


_PARAM_MAX = 6000
_BATCH_MAX = 100  # params + tags per log_batch


@event.listens_for(Engine, "connect")
def _sqlite_commit_without_fsync(dbapi_connection, _record) -> None:
    """In WAL mode, commit without fsync (SQLite's own recommendation, synchronous=NORMAL).

    Safe against a crashed or killed process; a power cut may lose the last commits but never
    corrupts the store, and a resumed sweep rewrites whatever the Optuna study holds that
    MLflow lost. Stores not in WAL mode keep SQLite's default (FULL).
    """
    if isinstance(dbapi_connection, sqlite3.Connection):
        mode = dbapi_connection.execute("PRAGMA journal_mode").fetchone()
        if mode and str(mode[0]).lower() == "wal":
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def use_wal_journal(tracking_uri: str) -> None:
    """Switch a local SQLite store to WAL journaling (persistent; a no-op for other stores).

    Call it only once the schema exists: a fresh store's migrations failed here under WAL
    ("no such column: spans.dimension_attributes"). WAL lets the workers' readers and the
    single writer overlap and, with synchronous=NORMAL, drops an fsync from every commit
    (MLflow's log_batch on SQLite: 45 -> 18 ms here). Not for a store on a network file
    system, where WAL's shared memory does not work; point those sweeps at a server.
    """
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix) or tracking_uri == prefix + ":memory:":
        return
    try:
        with contextlib.closing(sqlite3.connect(tracking_uri[len(prefix) :], timeout=30)) as db:
            db.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as err:
        raise TrackingError(
            f"MLflow at {redact(tracking_uri)} failed while switching to WAL journaling: {err}"
        ) from err


def preload_store(tracking_uri: str) -> None:
    """Import the MLflow store code this URI will need (SQLAlchemy and alembic, ~0.5 s, for a
    database), without opening the store: lets a worker do it while the store is being made."""
    from mlflow.store.db.db_types import DATABASE_ENGINES  # the schemes MLflow stores in SQL

    scheme = tracking_uri.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme in DATABASE_ENGINES:
        import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
    elif scheme in ("http", "https"):
        import mlflow.store.tracking.rest_store  # noqa: F401


class TrackingError(BenchError):
    """MLflow could not be written; the sweep stops (results already logged are kept)."""


def redact(uri: str | None) -> str:
    """A URI with any user:password removed, safe to print or log."""
    if not uri:
        return ""
    return re.sub(r"(?<=://)[^/@\s]+@", "***@", uri)


def _now_ms() -> int:
    return int(time.time() * 1000)


@functools.cache
def git_commit() -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        if out.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@functools.cache
def environment_tags() -> dict[str, str]:
    """Library versions, git commit and host: enough to say what produced a number."""
    import catboost
    import lightgbm
    import mlflow
    import numpy
    import optuna
    import pandas
    import sklearn
    import xgboost

    import bench

    tags = {
        rs.TAG_GIT_COMMIT: git_commit(),
        rs.TAG_HOST: socket.gethostname(),
        rs.TAG_VERSION_PREFIX + "python": platform.python_version(),
    }
    for mod in (bench, numpy, pandas, sklearn, lightgbm, xgboost, catboost, optuna, mlflow):
        tags[rs.TAG_VERSION_PREFIX + mod.__name__] = str(mod.__version__)
    return tags


def _keep_first(parents: list) -> tuple[Any, list]:
    """Of one cell's parent runs, the one to keep (FINISHED first, then the oldest) and the rest."""
    ordered = sorted(parents, key=lambda r: (r.info.status != "FINISHED", r.info.start_time or 0))
    return ordered[0], ordered[1:]


def _params(values: Mapping[str, Any]) -> list[Param]:
    return [Param(k, str(v)[:_PARAM_MAX]) for k, v in values.items()]


def _tags(values: Mapping[str, Any]) -> list[RunTag]:
    return [RunTag(k, str(v)) for k, v in values.items()]


def _metrics(values: Mapping[str, float], ts: int) -> list[Metric]:
    return [Metric(k, float(v), ts, 0) for k, v in values.items() if v is not None]


def _open_client(tracking_uri: str, schema_ready: bool, attempts: int = 4) -> MlflowClient:
    """An MlflowClient whose store is usable, surviving a concurrent schema creation.

    Opening a new database store creates its schema, and two processes doing that at once
    break each other ("table ... already exists", alembic's "expected to match one row").
    Bench processes take turns through a lock beside the store; anything else opening it
    meanwhile (``mlflow ui``) makes the loser retry once the schema is complete. With
    ``schema_ready`` (a sweep's workers, opened after the sweep created it) there is nothing to
    wait for: the workers then check the schema version side by side.
    """
    needs_lock = (
        not schema_ready
        and tracking_uri.startswith(("sqlite:///", "postgresql"))
        and ":memory:" not in tracking_uri
    )
    for attempt in range(attempts):
        try:
            with (
                claims.exclusive(tracking_uri, "mlflow-schema")
                if needs_lock
                else contextlib.nullcontext()
            ):
                client = MlflowClient(tracking_uri)
                client.search_experiments(max_results=1)  # the store is opened lazily
            return client
        except Exception as err:
            racing = any(s in str(err) for s in ("already exists", "alembic", "migration"))
            if not racing or attempt == attempts - 1:
                raise
            time.sleep(2.0 * (attempt + 1))
    raise AssertionError("unreachable")


class Tracker:
    """All MLflow writes of one process. Thread-safe for the background child writer."""

    def __init__(self, tracking_uri: str, schema_ready: bool = False):
        self.tracking_uri = tracking_uri
        self.client = self._call("opening the store", _open_client, tracking_uri, schema_ready)
        self._artifact_uris: dict[str, str] = {}  # run id -> artifact URI, for finish_cell
        self._queue: queue.Queue = queue.Queue()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    # -- helpers --------------------------------------------------------------------------
    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as err:  # MLflow raises many types for a dead server
            raise TrackingError(
                f"MLflow at {redact(self.tracking_uri)} failed while {what}: "
                f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}"
            ) from err

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

    def _log_batch(self, run_id: str, params=(), tags=(), metrics=()) -> None:
        params, tags, metrics = list(params), list(tags), list(metrics)
        while params or tags or metrics:
            p, params = params[:_BATCH_MAX], params[_BATCH_MAX:]
            t, tags = tags[: _BATCH_MAX - len(p)], tags[_BATCH_MAX - len(p) :]
            m, metrics = metrics[:1000], metrics[1000:]
            self._call("logging a batch", self.client.log_batch, run_id, m, p, t)

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
        """cell key -> the parent run to keep for it (see ``_keep_first``).

        With ``delete_duplicates`` the others are deleted: a request retried after its
        response was lost can create a second parent, and the sweep's last act removes it.
        """
        runs = self.search(experiment_id, f"tags.`{rs.ROLE}` = '{rs.ROLE_CELL}'")
        by_key: dict[str, list] = {}
        for run in runs:
            by_key.setdefault(run.data.tags.get(rs.TAG_CELL_KEY), []).append(run)
        best: dict[str, Any] = {}
        for key, group in by_key.items():
            keep, extras = _keep_first(group)
            best[key] = keep
            if delete_duplicates:
                for extra in extras:
                    self._call(
                        "deleting a duplicate run", self.client.delete_run, extra.info.run_id
                    )
        return best

    # -- cell level -----------------------------------------------------------------------
    def start_cell(
        self, experiment_id: str, cell_key: str, run_name: str, tags: dict[str, str]
    ) -> tuple[str, str]:
        """(parent run id, state): state "finished" (skip the cell), "reopened" (an earlier
        attempt's unfinished parent, reused; stray duplicates deleted) or "new"."""
        runs = self.search(experiment_id, f"tags.`{rs.TAG_CELL_KEY}` = '{cell_key}'")
        parents = [r for r in runs if r.data.tags.get(rs.ROLE) == rs.ROLE_CELL]
        if parents:
            run, extras = _keep_first(parents)
            for extra in extras:
                self._call("deleting a duplicate run", self.client.delete_run, extra.info.run_id)
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

    def finish_cell(
        self,
        run_id: str,
        params: dict[str, Any],
        metrics: dict[str, float],
        tags: dict[str, str],
        predictions_csv: str,
    ) -> None:
        self.flush()
        self._call("uploading predictions", self._log_text, run_id, predictions_csv)
        self._log_batch(run_id, _params(params), _tags(tags), _metrics(metrics, _now_ms()))
        self._call("finishing a run", self.client.set_terminated, run_id, "FINISHED")

    def fail_cell(self, run_id: str, error: str) -> None:
        self._artifact_uris.pop(run_id, None)
        self.flush()
        self._log_batch(run_id, tags=_tags({rs.TAG_ERROR: error[:5000]}))
        self._call("marking a run failed", self.client.set_terminated, run_id, "FAILED")

    # -- trials ---------------------------------------------------------------------------
    def log_trial(self, experiment_id: str, parent_id: str, record: dict[str, Any]) -> None:
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

    def _write_trial(self, experiment_id: str, parent_id: str, record: dict[str, Any]) -> None:
        tags = {
            MLFLOW_PARENT_RUN_ID: parent_id,
            rs.ROLE: rs.ROLE_TRIAL,
            rs.TAG_TRIAL_NUMBER: str(record["number"]),
            rs.TAG_TRIAL_STATE: record["state"],
            **record.get("tags", {}),
        }
        run = self._call(
            "creating a trial run",
            self.client.create_run,
            experiment_id,
            start_time=record.get("start_ms"),
            tags=tags,
            run_name=record["run_name"],
        )
        run_id = run.info.run_id
        self._log_batch(
            run_id,
            _params(record["params"]),
            [],
            _metrics(record["metrics"], record.get("end_ms") or _now_ms()),
        )
        status = "FINISHED" if record["state"] in ("COMPLETE", "PRUNED") else "FAILED"
        self._call(
            "finishing a trial run",
            self.client.set_terminated,
            run_id,
            status,
            record.get("end_ms"),
        )

    def reconcile_trials(
        self,
        experiment_id: str,
        parent_id: str,
        records: Iterable[dict[str, Any]],
        new_parent: bool = False,
    ) -> tuple[int, int]:
        """Make the parent's children exactly one per finished trial record.

        Deletes children of trials the study does not hold as finished and duplicates;
        writes the missing ones. Returns (written, deleted). ``new_parent``: the parent was
        just created, so it has no children and the search for them is skipped.
        """
        self.flush()
        wanted = {int(r["number"]): r for r in records}
        children = (
            []
            if new_parent
            else self.search(experiment_id, f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent_id}'")
        )
        seen: set[int] = set()
        deleted = 0
        for run in sorted(children, key=lambda r: r.info.start_time or 0):
            number = int(run.data.tags.get(rs.TAG_TRIAL_NUMBER, -1))
            terminal = run.info.status in ("FINISHED", "FAILED", "KILLED")
            if number not in wanted or number in seen or not terminal:
                self._call("deleting a stale run", self.client.delete_run, run.info.run_id)
                deleted += 1
                continue
            seen.add(number)
        missing = [r for n, r in wanted.items() if n not in seen]
        for record in missing:
            self._write_trial(experiment_id, parent_id, record)
        return len(missing), deleted
