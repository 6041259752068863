"""Locks between processes: exclusive claims on cells, so several sweep processes (or a Dask
retry beside a slow original) never run the same cell at once, and turns at creating a new
store's schema (``exclusive``).

A claim is an OS-level lock that dies with its holder: an advisory lock in PostgreSQL when
the Optuna storage is PostgreSQL (works across machines), else ``flock`` on a file beside
the local storage (a journal file or SQLite; any other RDB URL gets host-local flock
claims, so use PostgreSQL across machines). A killed worker's claim is released by the
kernel or the database, so its cell can be redone at once; whoever holds the claim may
safely reap trials left RUNNING in the cell's study.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

_PG_PREFIXES = ("postgresql://", "postgresql+", "postgres://")  # any SQLAlchemy PG driver


def advisory_lock_id(key: str) -> int:
    """The bigint PostgreSQL advisory-lock id of a cell key (shown in pg_locks)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


def _pg_dsn(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


def _lock_file(storage_url: str, key: str) -> Path:
    if storage_url.startswith("sqlite:///"):
        base = Path(storage_url.split(":///", 1)[1]).parent
    elif "://" in storage_url:  # another RDB (e.g. MySQL): claims hold on this host only
        digest = hashlib.sha256(storage_url.encode()).hexdigest()[:16]
        base = Path(tempfile.gettempdir()) / f"bench-claims-{digest}"
    else:
        base = Path(storage_url).parent
    locks = base / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    return locks / f"{key}.lock"


@contextlib.contextmanager
def claim(storage_url: str, key: str) -> Iterator[bool]:
    """Yield True while this process holds the cell's claim, False if another one does."""
    if storage_url.startswith(_PG_PREFIXES):
        import psycopg

        with psycopg.connect(_pg_dsn(storage_url), autocommit=True) as conn:
            row = conn.execute(
                "SELECT pg_try_advisory_lock(%s)", (advisory_lock_id(key),)
            ).fetchone()
            got = bool(row and row[0])
            try:
                yield bool(got)
            finally:
                if got:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (advisory_lock_id(key),))
        return
    fd = os.open(_lock_file(storage_url, key), os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def exclusive(storage_url: str, key: str, timeout: float = 120.0) -> Iterator[None]:
    """Wait (up to `timeout` s, else TimeoutError) until no other process is inside a block
    with the same key, e.g. while creating a fresh storage's schema: several processes
    creating Optuna's tables in one new PostgreSQL database at once collide on
    ``pg_type_typname_nsp_index``."""
    deadline = time.monotonic() + timeout
    while True:
        with claim(storage_url, key) as mine:
            if mine:
                yield
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"lock {key!r} on the storage still held after {timeout:.0f} s")
        time.sleep(0.05)
