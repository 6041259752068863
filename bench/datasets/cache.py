"""Where downloaded and generated data live, and how files get there safely.

Default: ``runs/data`` under the working directory (runs/ is git-ignored); override with
$BENCH_DATA_DIR (e.g. a shared disk for Dask workers). Set BENCH_OFFLINE=1 to forbid any
download attempt.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

DATA_DIR_ENV = "BENCH_DATA_DIR"
OFFLINE_ENV = "BENCH_OFFLINE"
NETWORK_TIMEOUT_S = 5.0


def data_dir() -> Path:
    """Cache directory for downloaded and generated data ($BENCH_DATA_DIR, else runs/data)."""
    return Path(os.environ.get(DATA_DIR_ENV) or Path("runs") / "data").expanduser().resolve()


def offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def reachable(host: str, port: int = 443, timeout: float = NETWORK_TIMEOUT_S) -> bool:
    """One quick TCP connect, so an offline machine fails in seconds rather than retrying."""
    if offline():
        return False
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def atomic_write(target: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` then rename tmp to target, so concurrent workers never read a
    half-written file (the last writer wins; all write identical bytes)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


@contextmanager
def socket_timeout(seconds: float):
    """Bound every blocking socket operation inside (library fetchers set none)."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)
