"""Opening MLflow stores: process settings, the schema lock, WAL journaling, preloading.

Nothing here runs at import time: :func:`configure_process` applies the environment and the
SQLite connection settings, and is called explicitly by the CLI, the sweep driver and each
worker at start-up.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from typing import Any

from bench import locks
from bench.redaction import redact

# MLflow's own HTTP retries (connection errors and 5xx, exponential backoff) with a window
# of about 30 s instead of its default of about 4 minutes: a restarting server is waited
# for, a dead one stops the sweep promptly. Users can still set these variables.
# MLflow also prints "View run ... at: <tracking URI>" for every finished run over HTTP,
# user:password included: never print it.
PROCESS_ENVIRONMENT = (
    ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "5"),
    ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"),
    ("MLFLOW_HTTP_REQUEST_TIMEOUT", "60"),
    ("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true"),
    # no progress bar per downloaded artifact (an export reads one per cell)
    ("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false"),
    # MLflow 3's usage telemetry: a benchmark harness does not phone home, and it cost ~18 ms
    # a run here (no network to reach).
    ("MLFLOW_DISABLE_TELEMETRY", "true"),
)

MLFLOW_DB_LOGGER = "mlflow.store.db.utils"

_configured = False


def configure_process() -> None:
    """Apply the MLflow environment and SQLite commit settings to this process (idempotent).

    Explicit rather than at import, so that importing bench changes nothing in a user's
    process until a bench command or worker asks for it.
    """
    global _configured
    if _configured:
        return
    _configured = True
    for var, value in PROCESS_ENVIRONMENT:
        os.environ.setdefault(var, value)
    import optuna
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    event.listen(Engine, "connect", _sqlite_commit_without_fsync)
    # MLflow logs a database error it caught (a full disk, a locked store) with a traceback and
    # SQLAlchemy's "Background on this error" link, then raises it; bench reports the raised
    # error in one line (bench.tracking.errors), so on the console that record only repeats it.
    logging.getLogger(MLFLOW_DB_LOGGER).setLevel(logging.CRITICAL)


def _sqlite_commit_without_fsync(dbapi_connection: Any, _record: Any) -> None:
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
    from bench.tracking.errors import TrackingError

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


def open_client(tracking_uri: str, schema_ready: bool, attempts: int = 4) -> Any:
    """An MlflowClient whose store is usable, surviving a concurrent schema creation.

    Opening a new database store creates its schema, and two processes doing that at once
    break each other ("table ... already exists", alembic's "expected to match one row").
    Bench processes take turns through a lock beside the store; anything else opening it
    meanwhile (``mlflow ui``) makes the loser retry once the schema is complete. With
    ``schema_ready`` (a sweep's workers, opened after the sweep created it) there is nothing to
    wait for: the workers then check the schema version side by side.
    """
    from mlflow.tracking import MlflowClient

    needs_lock = (
        not schema_ready
        and tracking_uri.startswith(("sqlite:///", "postgresql"))
        and ":memory:" not in tracking_uri
    )
    for attempt in range(attempts):
        try:
            with (
                locks.exclusive(tracking_uri, "mlflow-schema")
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
