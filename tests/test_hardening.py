"""Hardening (issue 17): every store failure is one line with the right exit code, nothing is
written before the settings are known to work, an interrupted sweep leaves nothing RUNNING."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from bench.errors import BenchError
from tests.sweep_helpers import (
    REPO,
    all_runs,
    children,
    parents,
    popen_cli,
    run_cli,
    smoke_datasets,
    sweep_args,
)

pytestmark = pytest.mark.integration

ONE = ["--datasets", smoke_datasets()[0], "--boosters", "lightgbm", "--strategies", "ce", "focal"]


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr[-3000:]
    assert "Traceback" not in stderr
    return lines[0]


def _wait_until(proc: subprocess.Popen, log: Path, ready, timeout: float = 300) -> None:
    """Poll until ``ready()`` holds while the sweep is still running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.3)
        if "sweep '" in (log.read_text() if log.exists() else "") and _safe(ready):
            return
    raise AssertionError("the sweep ended first:\n" + log.read_text()[-3000:])


def _safe(check) -> bool:
    try:
        return bool(check())
    except Exception:
        return False


def test_a_store_deleted_mid_sweep_stops_it_at_once_in_one_line(tmp_path):
    args = sweep_args(tmp_path, *ONE, "--trials", "3", "--folds", "3", "--workers", "1")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    log = tmp_path / "sweep.log"
    proc = popen_cli(args, log)
    try:
        _wait_until(
            proc, log, lambda: [p for p in parents(all_runs(uri)) if p.info.status == "FINISHED"]
        )
        for suffix in ("", "-wal", "-shm"):
            Path(f"{tmp_path / 'mlflow.db'}{suffix}").unlink(missing_ok=True)
        proc.wait(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    out = log.read_text()
    assert proc.returncode == 3, out[-3000:]
    assert "was deleted while the sweep ran" in out and "Traceback" not in out
    assert "finished cells are kept" not in out  # that would be false now
    assert out.count("[") <= 3  # stopped after the cell that noticed, not at the end
    again = run_cli(args)  # the studies are kept: a re-run redoes the sweep into a new store
    assert again.returncode == 0, again.stderr[-3000:]
    assert all(r.info.status == "FINISHED" for r in parents(all_runs(uri)))


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_sweep_leaves_no_run_running_and_resumes_exactly(tmp_path, how):
    trials = 6
    args = sweep_args(tmp_path, *ONE, "--trials", str(trials), "--folds", "2", "--workers", "2")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    log = tmp_path / "sweep.log"
    proc = popen_cli(args, log)
    try:
        _wait_until(
            proc,
            log,
            lambda: (
                [c for c in children(all_runs(uri))]
                and [p for p in parents(all_runs(uri)) if p.info.status == "RUNNING"]
            ),
        )
        os.killpg(proc.pid, how)  # the whole process group, as a terminal or scheduler does
        proc.wait(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    out = log.read_text()
    assert proc.returncode == 130, out[-3000:]
    assert "marked KILLED" in out and "Traceback" not in out
    runs = all_runs(uri)
    assert not [r for r in runs if r.info.status == "RUNNING"]
    assert [r for r in parents(runs) if r.info.status == "KILLED"]
    resumed = run_cli(args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    runs = all_runs(uri)
    assert len(parents(runs)) == 2 * 2 and all(r.info.status == "FINISHED" for r in runs)
    assert len(children(runs)) == 2 * 2 * trials


def test_a_bad_storage_is_refused_before_mlflow_holds_anything(tmp_path):
    out = run_cli(sweep_args(tmp_path, *ONE, "--storage", "postgresql://nobody@127.0.0.1:1/nodb"))
    assert out.returncode == 2
    line = _one_line(out.stderr)
    assert "Optuna storage postgresql://***@127.0.0.1:1/nodb: cannot open it" in line
    assert not (tmp_path / "mlflow.db").exists()


def test_a_runs_dir_that_cannot_be_made_is_one_line(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    out = run_cli(["run", "--runs-dir", str(blocker / "runs"), *ONE, "--workers", "1"])
    assert out.returncode == 2
    assert f"--runs-dir {blocker / 'runs'}: cannot create it" in _one_line(out.stderr)


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="drops root's permission override with setpriv",
)
def test_a_read_only_store_is_one_line_without_a_retry_storm(smoke_sweep, tmp_path):
    archive = tmp_path / "archive"
    archive.mkdir()
    # SQLite's own backup, not a file copy: closing a plain file handle on the live store would
    # drop this process's POSIX locks on it, and the shared store's next reader in this process
    # could see a "malformed" database (sqlite.org/howtocorrupt.html, 2.2). The copy keeps WAL.
    source = smoke_sweep["uri"].removeprefix("sqlite:///")
    with (
        contextlib.closing(sqlite3.connect(source)) as live,
        contextlib.closing(sqlite3.connect(archive / "mlflow.db")) as copy,
    ):
        live.backup(copy)
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    for path in [*archive.iterdir(), archive]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
            "--inh-caps=-dac_override,-dac_read_search"]  # fmt: skip
    t0 = time.monotonic()
    out = subprocess.run(
        [*drop, sys.executable, "-m", "bench", "report", "--tracking-uri",
         f"sqlite:///{archive / 'mlflow.db'}", "--out", str(tmp_path / "report")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 3
    assert "read-only" in _one_line(out.stderr)
    assert time.monotonic() - t0 < 30  # MLflow alone retried for about 100 s


@pytest.mark.unit
def test_a_sweep_whose_cells_all_failed_says_so_not_metric():
    from bench.report.build import choose_metric
    from bench.report.load import SweepInfo

    failed = pd.DataFrame(
        {"dataset": ["d"] * 2, "booster": ["lightgbm"] * 2, "strategy": ["ce"] * 2,
         "repeat": [0, 0], "fold": [0, 1], "status": ["FAILED", "FAILED"]}
    )  # fmt: skip
    with pytest.raises(BenchError) as err:
        choose_metric(failed, None, SweepInfo(name="s"))
    assert "has no finished cell to report on yet (2 failed, 0 unfinished)" in str(err.value)
    assert "--metric" not in str(err.value)
