"""Which MLflow store a command talks to, and where its artifacts go (no MLflow import here, so
the parent process can decide before it loads MLflow)."""

from __future__ import annotations

import os
from pathlib import Path

from bench.errors import BenchError
from bench.redaction import redact

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
SQLITE_PREFIX = "sqlite:///"


def default_tracking_uri(runs_dir: str | Path) -> str:
    """The embedded local store under the runs directory."""
    return f"{SQLITE_PREFIX}{Path(runs_dir).resolve() / 'mlflow.db'}"


def resolve_tracking_uri(explicit: str | None, runs_dir: str | Path = "runs") -> str:
    """--tracking-uri, else $MLFLOW_TRACKING_URI, else the local store under ``runs_dir``."""
    return explicit or os.environ.get(TRACKING_URI_ENV) or default_tracking_uri(runs_dir)


def require_existing_store(tracking_uri: str) -> str:
    """Readers (report, export, ui) refuse a local store that does not exist (MLflow would
    silently create an empty one) or that cannot be written: MLflow opens a SQLite store for
    writing even to read it (its schema check; a WAL journal's shared memory), and retried
    for about 100 s before failing."""
    if tracking_uri.startswith(SQLITE_PREFIX) and ":memory:" not in tracking_uri:
        path = Path(tracking_uri.removeprefix(SQLITE_PREFIX))
        if not path.exists():
            raise BenchError(
                f"no MLflow store at {path} (tracking URI {redact(tracking_uri)}): no sweep has "
                "been run yet; run `python -m bench run` first or pass --tracking-uri"
            )
        refuse_read_only_store(tracking_uri)
    return tracking_uri


def refuse_read_only_store(tracking_uri: str) -> None:
    """An existing local store that cannot be written is one line (exit 3) for every command,
    readers and sweeps alike, instead of whichever OSError MLflow or a lock file meets first."""
    if not tracking_uri.startswith(SQLITE_PREFIX) or ":memory:" in tracking_uri:
        return
    path = Path(tracking_uri.removeprefix(SQLITE_PREFIX))
    if path.exists() and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
        from bench.tracking.errors import TrackingError

        raise TrackingError(
            f"MLflow at {redact(tracking_uri)} cannot be opened: the store or its directory "
            "is read-only, and MLflow writes to a SQLite store even to read it; copy the "
            "store to a writable directory (with its -wal and -shm files) and point "
            "--tracking-uri at the copy"
        )


def is_remote(tracking_uri: str) -> bool:
    return tracking_uri.startswith(("http://", "https://", "databricks"))


def artifact_location(tracking_uri: str, runs_dir: str | Path) -> str | None:
    """Local stores keep artifacts under runs/; a server decides for itself."""
    if is_remote(tracking_uri):
        return None
    return (Path(runs_dir).resolve() / "artifacts").as_uri()
