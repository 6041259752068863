"""Exclusive claims on cells, so several sweep processes (or a Dask retry beside a slow
original) never run the same cell at once.

A claim is an OS-level lock that dies with its holder: an advisory lock in PostgreSQL when
the Optuna storage is PostgreSQL (works across machines), else ``flock`` on a file beside
the local storage. A killed worker's claim is released by the kernel or the database, so
its cell can be redone at once; whoever holds the claim may safely reap trials left
RUNNING in the cell's study.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

_PG_PREFIXES = ("postgresql://", "postgresql+psycopg://", "postgres://")


def _lock_id(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


def _pg_dsn(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


@contextlib.contextmanager
def claim(storage_url: str, key: str) -> Iterator[bool]:
    """Yield True while this process holds the cell's claim, False if another one does."""
    if storage_url.startswith(_PG_PREFIXES):
        import psycopg

        with psycopg.connect(_pg_dsn(storage_url), autocommit=True) as conn:
            got = conn.execute("SELECT pg_try_advisory_lock(%s)", (_lock_id(key),)).fetchone()[0]
            try:
                yield bool(got)
            finally:
                if got:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (_lock_id(key),))
        return
    if "://" in storage_url:  # e.g. sqlite:///path/optuna.db
        base = Path(storage_url.split(":///", 1)[-1]).parent
    else:
        base = Path(storage_url).parent
    locks = base / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    fd = os.open(locks / f"{key}.lock", os.O_CREAT | os.O_RDWR, 0o644)
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
