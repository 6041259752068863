"""Real servers for tests: a throw-away PostgreSQL database and `mlflow server` subprocesses.

The helpers are context managers usable outside pytest (benchmarks, a REPL); the fixtures at
the bottom wrap them for tests. Every server binds 127.0.0.1 on a free port, runs in its own
process group and is stopped as a group, so a failing test leaves no process and no port
behind. Starting and stopping the group is bench.ui's job; this module only adds ports,
temporary log files and the PostgreSQL database.
"""

from __future__ import annotations

import os
import secrets
import socket
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from bench.ui import (
    log_tail,
    mlflow_server_argv,
    start_server,
    stop_process_group,
    wait_healthy,
)
from bench.ui import wait_port_free as _wait_port_free

PG_HOST = os.environ.get("BENCH_TEST_PGHOST", "127.0.0.1")
PG_PORT = int(os.environ.get("BENCH_TEST_PGPORT", "5432"))
PG_USER = os.environ.get("BENCH_TEST_PGUSER", "postgres")
LOCALHOST = "127.0.0.1"


def in_ci() -> bool:
    """True on CI, where a missing service is a failure rather than a skip."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def free_port(host: str = LOCALHOST) -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_port_free(port: int, host: str = LOCALHOST, timeout: float = 15.0) -> None:
    """Wait until host:port can be bound again; TimeoutError names the port otherwise."""
    if not _wait_port_free(host, port, timeout):
        raise TimeoutError(
            f"{host}:{port} is still in use {timeout:.0f} s after the server stopped"
        )


def _admin_connection() -> psycopg.Connection:
    """Autocommit connection to the maintenance database (CREATE/DROP DATABASE need it)."""
    return psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True,
        connect_timeout=5,
    )  # fmt: skip


@contextmanager
def postgres_database(prefix: str = "bench_test") -> Iterator[str]:
    """Create an empty database, yield its SQLAlchemy URL, drop it (even on failure).

    Skips the test when PostgreSQL is unreachable, except on CI where that fails it.
    """
    try:
        admin = _admin_connection()
    except psycopg.OperationalError as err:
        msg = f"PostgreSQL not reachable at {PG_USER}@{PG_HOST}:{PG_PORT}: {err}".strip()
        if in_ci():
            pytest.fail(msg)
        pytest.skip(msg)
    name = f"{prefix}_{secrets.token_hex(6)}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
        finally:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextmanager
def server_process(
    argv: Sequence[str],
    health_url: str,
    port: int,
    *,
    env: Mapping[str, str] | None = None,
    startup_timeout: float = 120.0,
) -> Iterator[Path]:
    """Run any server command until the block ends, once GET `health_url` answers 200.

    Yields the log file. On exit the whole process group gets SIGTERM, then SIGKILL, and
    `port` must be free again.
    """
    with tempfile.TemporaryDirectory(prefix="server-") as logs:
        log_path = Path(logs) / "server.log"
        proc = start_server(argv, log_path, env)
        try:
            wait_healthy(health_url.removesuffix("/health"), proc, log_path, startup_timeout)
            yield log_path
        finally:
            stop_process_group(proc)
            try:
                wait_port_free(port)
            except TimeoutError as err:
                raise TimeoutError(f"{err}; server log:\n{log_tail(log_path)}") from None


@contextmanager
def mlflow_server(
    backend_store_uri: str,
    artifacts_dir: str | Path,
    workers: int = 1,
    *,
    port: int | None = None,
    allowed_hosts: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    startup_timeout: float = 120.0,
) -> Iterator[str]:
    """Run `mlflow server` on 127.0.0.1 until the block ends; yields its base URL.

    `port` lets a test restart a server on the same address; by default a free port is used.
    """
    port = free_port() if port is None else port
    base_url = f"http://{LOCALHOST}:{port}"
    argv = mlflow_server_argv(
        backend_store_uri=backend_store_uri,
        artifacts_destination=str(artifacts_dir),
        host=LOCALHOST,
        port=port,
        workers=workers,
        allowed_hosts=allowed_hosts,
    )
    with server_process(argv, f"{base_url}/health", port, env=env, startup_timeout=startup_timeout):
        yield base_url


# --- pytest fixtures (the lead imports these into tests/conftest.py) ----------------------


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty PostgreSQL database, dropped after the test."""
    with postgres_database() as url:
        yield url


@pytest.fixture
def mlflow_sqlite_server(tmp_path: Path) -> Iterator[str]:
    """Base URL of an `mlflow server` over a fresh SQLite store in tmp_path."""
    with mlflow_server(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "artifacts") as url:
        yield url


@pytest.fixture
def mlflow_postgres_server(postgres_url: str, tmp_path: Path) -> Iterator[str]:
    """Base URL of an `mlflow server` over a fresh PostgreSQL database (artifacts in tmp_path)."""
    with mlflow_server(postgres_url, tmp_path / "artifacts") as url:
        yield url
