"""`python -m bench ui`: a real MLflow server over a temporary store, seen in headless Chromium."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
import requests

from bench.ui import _live_group_members, stop_process_group, wait_healthy
from tests.support.browser import open_page, require_chromium
from tests.support.servers import free_port, wait_port_free
from tests.sweep_helpers import parents

pytestmark = [pytest.mark.integration, pytest.mark.browser]


@pytest.fixture(scope="module")
def store(smoke_sweep) -> tuple[Path, str]:
    """(runs_dir, experiment id) of the shared real smoke sweep (none of these tests writes runs)."""
    runs_dir = Path(smoke_sweep["uri"].removeprefix("sqlite:///")).parent
    exp_ids = {r.info.experiment_id for r in parents(smoke_sweep["runs"])}
    assert len(exp_ids) == 1
    return runs_dir, exp_ids.pop()


@pytest.fixture(scope="module")
def newest_parent_names(smoke_sweep) -> list[str]:
    """Names of the last parent runs the sweep started: the top of the UI's run list."""
    runs = sorted(parents(smoke_sweep["runs"]), key=lambda r: r.info.start_time, reverse=True)
    return [r.info.run_name for r in runs[:3]]


def bench_ui(runs_dir: Path, port: int, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run `bench ui` to completion (for the cases that must refuse to start)."""
    return subprocess.run(
        [sys.executable, "-m", "bench", "ui", "--port", str(port), "--runs-dir", str(runs_dir)]
        + list(extra),
        capture_output=True,
        text=True,
        timeout=60,
    )


def start_bench_ui(
    runs_dir: Path, port: int, log: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `bench ui` in the background (its own session, so a test can always kill it)."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bench", "ui", "--port", str(port), "--runs-dir", str(runs_dir)]
            + list(extra),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )


def server_child(pid: int, timeout: float = 60.0) -> int:
    """Pid of the `mlflow server` that `bench ui` (pid) started; it leads its own group."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat[stat.rfind(")") + 2 :].split()[1]) == pid:
                    return int(entry.name)
        time.sleep(0.1)
    raise AssertionError(f"bench ui (pid {pid}) started no server in {timeout} s")


def cleanup(ui: subprocess.Popen[bytes], server_pid: int | None) -> None:
    """Safety net when a test fails half-way: stop bench ui and the server group."""
    stop_process_group(ui, timeout=30)
    if server_pid is not None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if _live_group_members(server_pid):
                os.killpg(server_pid, sig)
                time.sleep(3)


def test_ui_shows_parent_runs_and_stops_cleanly_on_ctrl_c(
    store: tuple[Path, str], newest_parent_names: list[str], tmp_path: Path
) -> None:
    require_chromium()
    runs_dir, exp_id = store
    port = free_port()
    log = tmp_path / "bench-ui.out"
    ui = start_bench_ui(runs_dir, port, log)
    server_pid = None
    try:
        server_pid = server_child(ui.pid)
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, ui, log, timeout=150)
        page = open_page(
            f"{base}/#/experiments/{exp_id}?workflowType=machine_learning",
            tmp_path / "experiment.png",
            wait_for=f"text={newest_parent_names[0]}",
            timeout_ms=60_000,
        )
        for name in newest_parent_names:
            assert name in page.text, f"{name} not on the experiment page:\n{page.text[:2000]}"
        png = page.screenshot.read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000

        ui.send_signal(signal.SIGINT)
        assert ui.wait(timeout=60) == 0, log.read_text()
        out = log.read_text()
        assert f"MLflow UI: {base}" in out and "stopping" in out
        assert _live_group_members(server_pid) == [], "mlflow server processes left behind"
        wait_port_free(port)
    finally:
        cleanup(ui, server_pid)


def test_sigterm_during_startup_leaves_no_process(store: tuple[Path, str], tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "bench-ui.out"
    ui = start_bench_ui(store[0], port, log)
    server_pid = None
    try:
        server_pid = server_child(ui.pid)
        ui.send_signal(signal.SIGTERM)
        assert ui.wait(timeout=60) == 0, log.read_text()
        assert _live_group_members(server_pid) == [], "mlflow server processes left behind"
        wait_port_free(port)
        assert "MLflow UI:" not in log.read_text()
    finally:
        cleanup(ui, server_pid)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.org"])
def test_non_loopback_host_needs_allow_remote(store: tuple[Path, str], host: str) -> None:
    result = bench_ui(store[0], free_port(), "--host", host)
    assert result.returncode == 2
    assert f"--host {host}" in result.stderr and "--allow-remote" in result.stderr
    assert "Traceback" not in result.stderr and "MLflow UI:" not in result.stdout


def test_missing_store_is_named(tmp_path: Path) -> None:
    result = bench_ui(tmp_path / "nowhere", free_port())
    assert result.returncode == 2
    assert str(tmp_path / "nowhere" / "mlflow.db") in result.stderr
    assert "python -m bench run" in result.stderr
    assert not (tmp_path / "nowhere").exists()


def test_port_in_use_is_refused(store: tuple[Path, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = bench_ui(store[0], port)
    assert result.returncode == 2
    assert f"--port {port}" in result.stderr and "already in use" in result.stderr


def auth_env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    return {**base, **extra}


def copy_store(store: tuple[Path, str], to: Path) -> Path:
    """A private copy, because --basic-auth writes its user database next to the store.

    SQLite's backup API, not a file copy: the only consistent copy of a live database."""
    with (
        closing(sqlite3.connect(store[0] / "mlflow.db")) as src,
        closing(sqlite3.connect(to / "mlflow.db")) as dst,
    ):
        src.backup(dst)
    return to


def test_basic_auth_names_what_is_missing(store: tuple[Path, str], tmp_path: Path) -> None:
    runs_dir = copy_store(store, tmp_path)
    cmd = [sys.executable, "-m", "bench", "ui", "--runs-dir", str(runs_dir), "--basic-auth",
           "--port", str(free_port())]  # fmt: skip
    no_key = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=auth_env())
    assert no_key.returncode == 2
    assert "MLFLOW_FLASK_SERVER_SECRET_KEY" in no_key.stderr
    no_admin = subprocess.run(
        cmd, capture_output=True, text=True, timeout=60,
        env=auth_env(MLFLOW_FLASK_SERVER_SECRET_KEY=secrets.token_hex(16)),
    )  # fmt: skip
    assert no_admin.returncode == 2
    assert "MLFLOW_AUTH_ADMIN_PASSWORD" in no_admin.stderr
    assert str(runs_dir / "basic_auth.db") in no_admin.stderr


def test_basic_auth_requires_a_login(store: tuple[Path, str], tmp_path: Path) -> None:
    runs_dir = copy_store(store, tmp_path)
    password = secrets.token_urlsafe(16)
    port = free_port()
    log = tmp_path / "bench-ui.out"
    env = auth_env(
        MLFLOW_FLASK_SERVER_SECRET_KEY=secrets.token_hex(16), MLFLOW_AUTH_ADMIN_PASSWORD=password
    )
    ui = start_bench_ui(runs_dir, port, log, "--basic-auth", env=env)
    server_pid = None
    try:
        server_pid = server_child(ui.pid)
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, ui, log, timeout=150)
        search = f"{base}/api/2.0/mlflow/experiments/search?max_results=5"
        assert requests.get(search, timeout=10).status_code == 401
        assert requests.get(search, auth=("admin", "wrong"), timeout=10).status_code == 401
        ok = requests.get(search, auth=("admin", password), timeout=10)
        assert ok.status_code == 200 and "bench/smoke-" in ok.text
        assert (runs_dir / "basic_auth.db").is_file()  # next to the store, not in the cwd
        ui.send_signal(signal.SIGTERM)
        assert ui.wait(timeout=60) == 0, log.read_text()
        assert _live_group_members(server_pid) == []
        wait_port_free(port)
    finally:
        cleanup(ui, server_pid)
