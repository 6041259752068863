"""Scale-out end to end: a Dask LocalCluster, PostgreSQL Optuna storage, a real MLflow server.

Everything is real: `python -m bench run` in a subprocess, PostgreSQL on 127.0.0.1:5432 (one
database per test, dropped afterwards), an `mlflow server` subprocess, real boosters. Each
sweep is the smallest that proves its point (one smoke dataset, LightGBM, ce and focal).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import optuna
import psutil
import psycopg
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from bench import runschema as rs
from bench.locks import advisory_lock_id, claim, exclusive
from bench.sweep.executors.dask_cluster import (
    LOCAL_CLUSTER_CONFIG,
    _close_cluster,
    _start_client,
)
from tests.support.servers import mlflow_server, postgres_database
from tests.sweep_helpers import REPO, popen_cli, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

DATASET = "synth_smoke"
TRIALS = 2
FOLDS = 2
SWEEP = ["--datasets", DATASET, "--boosters", "lightgbm", "--strategies", "ce", "focal"]
DONE_LINE = re.compile(r"^\[\d+/\d+\] \S+ done\b", re.MULTILINE)


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory) -> Iterator[str]:
    """One `mlflow server` (SQLite backend) shared by the module; each test has its own sweep."""
    root = tmp_path_factory.mktemp("tracking")
    with mlflow_server(f"sqlite:///{root / 'mlflow.db'}", root / "artifacts") as url:
        yield url


@pytest.fixture
def storage() -> Iterator[str]:
    with postgres_database("bench_scale") as url:
        yield url


def sweep_cmd(runs_dir: Path, name: str, storage: str, tracking: str, *extra: str) -> list[str]:
    return [
        "run", "--name", name, "--runs-dir", str(runs_dir), "--storage", storage,
        "--tracking-uri", tracking, *SWEEP, *extra,
    ]  # fmt: skip


def kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def studies_of(storage: str, sweep: str) -> dict[str, list]:
    """study name -> its trials, for the sweep's studies in the PostgreSQL storage."""
    store = optuna.storages.RDBStorage(storage)
    try:
        names = [
            s.study_name
            for s in optuna.get_all_study_summaries(store)
            if s.study_name.startswith(f"{sweep}/")
        ]
        return {n: optuna.load_study(study_name=n, storage=store).trials for n in names}
    finally:
        store.remove_session()
        store.engine.dispose()


def assert_exact_studies(storage: str, sweep: str, n_cells: int, trials: int) -> dict:
    studies = studies_of(storage, sweep)
    assert len(studies) == n_cells
    for name, ts in studies.items():
        states = Counter(t.state for t in ts)
        assert states[TrialState.COMPLETE] == trials, (name, states)
        assert states[TrialState.RUNNING] == 0, (name, states)
    return studies


def sweep_runs(tracking: str, sweep: str) -> list:
    client = MlflowClient(tracking)
    exp = client.get_experiment_by_name(f"bench/{sweep}")
    assert exp is not None, f"no experiment bench/{sweep}"
    return list(client.search_runs([exp.experiment_id], "", max_results=5000))


def logged_numbers(trials: list) -> list[int]:
    """The child runs' trial numbers: the positions of the trials that deserve one (scored,
    pruned or failed by raising) among themselves, so a trial a killed worker left behind and
    the study reaped takes no number (issue 24)."""
    kept = (TrialState.COMPLETE, TrialState.PRUNED)
    return list(range(sum(t.state in kept or "error" in t.user_attrs for t in trials)))


def assert_exact_runs(tracking: str, sweep: str, studies: dict[str, list], trials: int) -> list:
    """One FINISHED parent per cell, one child per logged trial of its study, nothing RUNNING."""
    runs = sweep_runs(tracking, sweep)
    parents = [r for r in runs if r.data.tags.get(rs.ROLE) == rs.ROLE_CELL]
    children = [r for r in runs if r.data.tags.get(rs.ROLE) == rs.ROLE_TRIAL]
    assert len(parents) == len(studies)
    assert {f"{sweep}/{r.data.tags[rs.TAG_CELL_KEY]}" for r in parents} == set(studies)
    assert {r.info.status for r in runs} == {"FINISHED"}
    numbers: dict[str, list[int]] = {r.info.run_id: [] for r in parents}
    for child in children:
        numbers[child.data.tags["mlflow.parentRunId"]].append(
            int(child.data.tags[rs.TAG_TRIAL_NUMBER])
        )
    for parent in parents:
        study = f"{sweep}/{parent.data.tags[rs.TAG_CELL_KEY]}"
        got = sorted(numbers[parent.info.run_id])
        assert got == logged_numbers(studies[study]), (study, got)
        assert len(got) == trials, (study, got)
    assert len(children) == len(studies) * trials
    return parents


# --- claims: the lock that makes every cell exclusive -----------------------------------
HOLD = (
    "import sys, time\n"
    "from bench.locks import claim\n"
    "with claim(sys.argv[1], 'cell-x') as mine:\n"
    "    print(mine, flush=True)\n"
    "    time.sleep(120)\n"
)


def _hold_claim(url: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, url], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "True"
    return proc


@pytest.mark.parametrize("kind", ["postgresql", "postgresql+psycopg", "journal"])
def test_a_claim_is_exclusive_and_dies_with_a_killed_holder(kind, tmp_path):
    if kind == "journal":
        url = str(tmp_path / "optuna.journal")
        _claim_and_kill(url, url)
        return
    with postgres_database("bench_claim") as pg:
        _claim_and_kill(pg, pg.replace("postgresql://", f"{kind}://", 1))


def _claim_and_kill(holder_url: str, other_url: str) -> None:
    holder = _hold_claim(holder_url)
    try:
        with claim(other_url, "cell-x") as mine:
            assert mine is False
        with claim(other_url, "cell-y") as mine:
            assert mine is True
        with pytest.raises(TimeoutError), exclusive(other_url, "cell-x", timeout=0.3):
            pass
    finally:
        holder.kill()  # SIGKILL: no Python clean-up runs
        holder.wait()
    # The kernel / the database released the dead holder's lock; the block now holds it.
    with exclusive(other_url, "cell-x", timeout=10), claim(other_url, "cell-x") as mine:
        assert mine is False


# --- the Dask executor ------------------------------------------------------------------
def test_dask_local_cluster_with_postgres_storage_gives_exact_counts(
    tracking_server, storage, tmp_path
):
    name = f"dask-{uuid.uuid4().hex[:6]}"
    args = sweep_cmd(tmp_path, name, storage, tracking_server, "--trials", str(TRIALS))
    # A terminal-like console shows the live bar, whose trial counter is fed by the events
    # the Dask workers publish (worker.log_event -> client.subscribe_topic).
    t0 = time.monotonic()
    out = run_cli(
        [*args, "--folds", str(FOLDS), "--dask-local", "2"],
        timeout=420,
        env={"FORCE_COLOR": "1", "COLUMNS": "250"},
    )
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    n_cells = 2 * FOLDS
    studies = assert_exact_studies(storage, name, n_cells, TRIALS)
    assert_exact_runs(tracking_server, name, studies, TRIALS)
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", log)
    shown = [int(n) for n in re.findall(r"trials (\d+)", plain)]
    assert shown and shown[-1] == n_cells * TRIALS, plain[-2000:]
    assert "2 worker(s) x 1 thread(s)" in plain
    assert "still alive after" not in plain  # workers exited on their own
    print(f"dask sweep: {n_cells} cells in {time.monotonic() - t0:.0f} s")


def _advisory_locks(storage: str) -> list[tuple[int, int, int]]:
    """(backend pid, client port, lock id) of the advisory locks held in the storage DB."""
    with psycopg.connect(storage, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT l.pid, a.client_port, l.classid::bigint, l.objid::bigint FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database()"
        ).fetchall()
    out = []
    for pid, port, high, low in rows:
        lock = (high << 32) | low
        out.append((pid, port, lock - (1 << 64) if lock >= 1 << 63 else lock))
    return out


def _owner_of_port(root: psutil.Process, port: int) -> psutil.Process | None:
    """The descendant of `root` with a TCP connection from local `port`."""
    for proc in root.children(recursive=True):
        try:
            if any(c.laddr and c.laddr.port == port for c in proc.net_connections("tcp")):
                return proc
        except psutil.Error:
            continue
    return None


def _victim(bench: psutil.Process, storage: str, sweep: str):
    """A Dask worker inside a trial of a cell it holds: (process, backend pid, study name)."""
    for backend, port, lock in _advisory_locks(storage):
        owner = _owner_of_port(bench, port)
        if owner is None or owner.pid == bench.pid:
            continue
        for study, ts in studies_of(storage, sweep).items():
            running = any(t.state == TrialState.RUNNING for t in ts)
            if advisory_lock_id(study.split("/", 1)[1]) == lock and running:
                return owner, backend, study
    return None


def test_a_killed_dask_worker_costs_only_its_unfinished_work(tracking_server, storage, tmp_path):
    name = f"kill-{uuid.uuid4().hex[:6]}"
    trials = 12  # cells long enough (seconds) for the poll below to catch one on a fast machine
    args = sweep_cmd(tmp_path, name, storage, tracking_server, "--trials", str(trials))
    log = tmp_path / "sweep.log"
    proc = popen_cli([*args, "--folds", str(FOLDS), "--dask-local", "2"], log)
    try:
        bench = psutil.Process(proc.pid)
        deadline = time.monotonic() + 300
        victim = None
        while victim is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            victim = _victim(bench, storage, name)
        assert victim is not None, "no worker was caught inside a cell:\n" + log.read_text()[-3000:]
        worker, backend, study = victim
        assert "multiprocessing" in " ".join(worker.cmdline())  # a spawned Dask worker
        worker.send_signal(signal.SIGKILL)
        # The database drops the dead worker's session, and its advisory lock with it.
        deadline = time.monotonic() + 15
        while any(b == backend for b, _, _ in _advisory_locks(storage)):
            assert time.monotonic() < deadline, "the killed worker's advisory lock is still held"
            time.sleep(0.1)
        proc.wait(timeout=420)
    finally:
        kill_group(proc)
    text = log.read_text()
    assert proc.returncode == 0, text[-3000:]
    n_cells = 2 * FOLDS
    studies = assert_exact_studies(storage, name, n_cells, trials)
    assert len(DONE_LINE.findall(text)) == n_cells, text[-3000:]
    assert_exact_runs(tracking_server, name, studies, trials)
    killed = Counter(t.state for t in studies[study])
    print(f"killed worker {worker.pid} in {study}: trial states after resume {dict(killed)}")


def test_two_sweep_processes_share_the_work_exactly(tracking_server, storage, tmp_path):
    name = f"pair-{uuid.uuid4().hex[:6]}"
    args = sweep_cmd(tmp_path, name, storage, tracking_server, "--trials", str(TRIALS))
    args += ["--folds", str(FOLDS), "--workers", "1"]
    # Workaround (see the report): bench.sweep.studies.open_storage lets two processes create
    # Optuna's tables in a new PostgreSQL database at once, and they can collide on
    # pg_type_typname_nsp_index (exit 2). Create the schema before both start.
    optuna.storages.RDBStorage(storage).engine.dispose()
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [popen_cli(args, log) for log in logs]
    try:
        for p in procs:
            p.wait(timeout=420)
    finally:
        for p in procs:
            kill_group(p)
    texts = [log.read_text() for log in logs]
    for p, text in zip(procs, texts, strict=True):
        assert p.returncode == 0, text[-3000:]
    n_cells = 2 * FOLDS
    done = [len(DONE_LINE.findall(t)) for t in texts]
    assert sum(done) == n_cells, (done, texts)
    studies = assert_exact_studies(storage, name, n_cells, TRIALS)
    for study, ts in studies.items():  # nobody tuned a cell twice: no extra, no failed trial
        assert [t.number for t in ts] == list(range(TRIALS)), study
        assert all(t.state == TrialState.COMPLETE for t in ts), study
    assert_exact_runs(tracking_server, name, studies, TRIALS)
    print(f"cells done per process: {done}")


def _worker_settings() -> dict:
    import dask

    return {key: dask.config.get(key) for key in LOCAL_CLUSTER_CONFIG}


def test_the_sweeps_own_local_cluster_runs_without_the_profiler():
    """Its workers share the cores with the cells: the settings must reach the workers."""
    client, cluster = _start_client(None, 1)
    try:
        settings = client.run(_worker_settings)
    finally:
        client.close()
        _close_cluster(cluster)
    assert list(settings.values()) == [LOCAL_CLUSTER_CONFIG]
