"""Hardening (issue 17): every store failure is one line with the right exit code, nothing is
written before the settings are known to work, an interrupted sweep leaves nothing RUNNING."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from bench import runschema as rs
from bench.errors import BenchError
from tests.sweep_helpers import (
    REPO,
    all_runs,
    children,
    export_flags,
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


# --- issue 24: redaction of every URI shape a credential can take ------------------------
SENTINEL = "S3ntinelPw"

_SCHEMES = ["http", "https", "postgresql", "postgresql+psycopg", "mysql+pymysql", "mssql"]
_SECRET_NAMES = ["password", "sslpassword", "PassWord", "api_key", "apiKey", "token",
                 "access_token", "client_secret", "SECRET", "pass"]  # fmt: skip
_PLAIN_NAMES = ["sslmode", "connect_timeout", "application_name", "db", "x"]
_FOLLOWERS = ["", ":", ".", ",", ";", ")", "'", '"', ": cannot open it", " (timeout)", "\n"]
# Raw characters a password may hold: in the userinfo anything but what ends an authority
# ('/', '?', '#'); in a query value anything but what ends a parameter ('&', '#').
_USERINFO_CHARS = "abcXYZ019@:!$&'()*+,;=%-._~"
_QUERY_CHARS = "abcXYZ019@:!$'()*+,;=%-._~/?"


@st.composite
def _secret(draw, chars: str = _USERINFO_CHARS) -> str:
    """The sentinel with raw '@', ':' and other characters a password may hold around it."""
    before = draw(st.text(st.sampled_from(chars), max_size=4))
    after = draw(st.text(st.sampled_from(chars), max_size=4))
    return f"{before}{SENTINEL}{after}"


@st.composite
def _uri(draw) -> tuple[str, list[str]]:
    """(a URI with the sentinel in its userinfo and/or secret parameters, what must remain)."""
    scheme = draw(st.sampled_from(_SCHEMES))
    host = draw(st.sampled_from(["127.0.0.1", "db.example.org", "[::1]", "localhost"]))
    port = draw(st.sampled_from(["", ":5432", ":5077"]))
    user_kind = draw(st.sampled_from(["none", "user", "password", "both"]))
    userinfo = {
        "none": "",
        "user": f"{draw(_secret())}@",
        "password": f"u{draw(st.integers(0, 9))}:{draw(_secret())}@",
        "both": f"{draw(_secret())}:{draw(_secret())}@",
    }[user_kind]
    path = draw(st.sampled_from(["", "/", "/db", "/api/2.0"]))
    params = draw(
        st.lists(
            st.one_of(
                st.tuples(st.sampled_from(_SECRET_NAMES), _secret(_QUERY_CHARS)),
                st.tuples(st.sampled_from(_PLAIN_NAMES), st.sampled_from(["require", "5", "b"])),
            ),
            max_size=4,
        )
    )
    if user_kind == "none" and not any(n in _SECRET_NAMES for n, _ in params):
        params.append(("password", draw(_secret(_QUERY_CHARS))))  # a secret in every URI
    query = "&".join(f"{n}={v}" for n, v in params)
    uri = f"{scheme}://{userinfo}{host}{port}{path}" + (f"?{query}" if query else "")
    kept = [f"{scheme}://", f"{host}{port}{path}"]
    kept += [f"{n}={v}" for n, v in params if n not in _SECRET_NAMES]
    return uri, kept


@pytest.mark.unit
@settings(max_examples=400, deadline=None)
@given(
    uris=st.lists(_uri(), min_size=1, max_size=3),
    joiners=st.lists(st.sampled_from([" ", ", ", " and ", "; ", "\n", ","]), min_size=3),
    prefix=st.sampled_from(["", "error: Optuna storage ", "tracking ", "(", "'"]),
    follower=st.sampled_from(_FOLLOWERS),
)
def test_redact_removes_every_sentinel_and_keeps_the_rest(uris, joiners, prefix, follower):
    from bench.redaction import redact

    text = prefix + "".join(u + j for (u, _), j in zip(uris, joiners, strict=False))
    text = text.rstrip() + follower
    shown = redact(text)
    assert SENTINEL not in shown, (text, shown)
    for _, kept in uris:
        for part in kept:
            assert part in shown, (part, text, shown)
    assert redact(shown) == shown  # idempotent: redacting twice changes nothing


@pytest.mark.unit
@pytest.mark.parametrize(
    "text, shown",
    [
        (
            "Optuna storage postgresql://postgres@127.0.0.1:5499/db?password=S3ntinelPwQ: cannot",
            "Optuna storage postgresql://***@127.0.0.1:5499/db?password=*** cannot",
        ),
        (
            "tracking http://u2:S3nt@inelPwAT1234@127.0.0.1:5077; experiment bench/x",
            "tracking http://***@127.0.0.1:5077; experiment bench/x",
        ),
        ("sqlite:////tmp/runs/mlflow.db and ./runs/optuna.journal", None),
        ("no URI here: user@example.org, key=value", None),
        (
            "a=http://a:b@h,http://c:d@h2/x?sslmode=require&SSLPassword=e#f",
            "a=http://***@h,http://***@h2/x?sslmode=require&SSLPassword=***#f",
        ),
    ],
)
def test_redact_on_the_shapes_the_probe_found(text, shown):
    from bench.redaction import redact

    assert redact(text) == (text if shown is None else shown)


# --- issue 24: bad input is one line, exit 2, and nothing is created ----------------------
TINY = ["--boosters", "lightgbm", "--strategies", "ce", "--folds", "2", "--workers", "1"]
_NAN_CATALOGUE = (
    "datasets:\n  bad: {source: synthetic, n_samples: 300, weights: [.nan, .inf]}\n"
    "suites:\n  s: [bad]\n"
)


@pytest.mark.parametrize(
    "case, files, extra, needle",
    [
        ("seed -1", {"sweep.yaml": b"seed: -1\n"}, ["--config", "sweep.yaml"], "key 'seed'"),
        ("seed 1e26", {"sweep.yaml": b"seed: 99999999999999999999999999\n"},
         ["--config", "sweep.yaml"], "key 'seed'"),
        ("trials 1e23", {"sweep.yaml": b"trials: 100000000000000000000000\n"},
         ["--config", "sweep.yaml"], "key 'trials'"),
        ("a bad file value under a flag", {"sweep.yaml": b"trials: true\n"},
         ["--config", "sweep.yaml", "--trials", "1"], "sweep config sweep.yaml: key 'trials'"),
        ("storage bare word", {}, ["--storage", "notaurl"], "key 'storage'"),
        ("sweep.yaml not UTF-8", {"sweep.yaml": b"trials: 1\nname: caf\xe9\n"},
         ["--config", "sweep.yaml"], "sweep.yaml:2:10: not UTF-8 text (byte 0xe9)"),
        ("catalogue not UTF-8", {"cat.yaml": b"datasets:\n  caf\xe9: {source: keel}\n"},
         ["--catalogue", "cat.yaml"], "cat.yaml:2:6: not UTF-8 text"),
        ("synthetic weights nan inf", {"cat.yaml": _NAN_CATALOGUE.encode()},
         ["--catalogue", "cat.yaml", "--datasets", "bad"], "weights must be finite"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_exit_2_and_creates_no_run(tmp_path, case, files, extra, needle):
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    runs = tmp_path / "runs"
    args = ["run", "--runs-dir", str(runs), "--tracking-uri", f"sqlite:///{runs / 'mlflow.db'}"]
    datasets = [] if "--datasets" in extra else ["--datasets", smoke_datasets()[0]]
    out = run_cli([*args, *datasets, *TINY, "--trials", "1", *extra], timeout=120, cwd=tmp_path)
    assert out.returncode == 2, (case, out.stderr[-3000:])
    line = _one_line(out.stderr)
    assert line.startswith("error: ") and needle in line, line
    assert not runs.exists(), f"{case}: the sweep started"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files), "a file was created"


def _caught_signals(pid: int) -> int:
    """The process's caught-signal mask (/proc/PID/status SigCgt)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return int(line.split()[1], 16)
    return 0


def _children(pid: int) -> list[str]:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return []


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _poll(check, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not _safe(check):
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.005)


@pytest.mark.parametrize("moment", ["imports", "workers starting"])
def test_sigterm_during_start_up_exits_130_with_a_message_and_leaks_nothing(tmp_path, moment):
    args = sweep_args(tmp_path, *ONE, "--trials", "2", "--folds", "2", "--workers", "2")
    log = tmp_path / "sweep.log"
    proc = popen_cli(args, log)
    try:
        if moment == "imports":  # the earliest moment: the handler is in, bench.cli loading
            _poll(lambda: _caught_signals(proc.pid) & (1 << (signal.SIGTERM - 1)))
        else:  # the early-started worker pool exists (its processes are being spawned)
            _poll(lambda: _children(proc.pid))
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=120)
        out = log.read_text()
        assert proc.returncode == 130, out[-3000:]
        assert "sweep '" not in out, "the signal came after the start-up"
        assert out.strip() == "interrupted", out[-3000:]
        time.sleep(1.0)  # the resource tracker reports leaks as it exits, after the CLI
        assert "leaked" not in log.read_text()
        _poll(lambda: not _group_alive(proc.pid), timeout=30)  # no worker left behind
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


# --- issue 24: interrupts, soft-deleted runs and trial numbers agree with the study -------
def _store(tmp_path: Path):
    """A real local MLflow store with one experiment: (tracker, experiment id)."""
    from bench.tracking.client import Tracker

    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}")
    artifacts = (tmp_path / "artifacts").as_uri()
    exp = tracker.client.create_experiment("bench/t", artifacts, {rs.EXP_SWEEP: "t"})
    return tracker, exp


def _parent(tracker, exp: str, key: str):
    tags = {rs.ROLE: rs.ROLE_CELL, rs.TAG_CELL_KEY: key}
    return tracker.client.create_run(exp, tags=tags, run_name=f"d/lightgbm/ce/r0f{key[-1]}")


def _running_child(tracker, exp: str, parent_id: str, number: int):
    """A child run as a worker stopped mid-write leaves it: created, never ended."""
    tags = {MLFLOW_PARENT_RUN_ID: parent_id, rs.ROLE: rs.ROLE_TRIAL,
            rs.TAG_TRIAL_NUMBER: str(number)}  # fmt: skip
    return tracker.client.create_run(exp, tags=tags)


def test_a_deleted_stale_or_duplicate_run_is_not_left_running(tmp_path):
    tracker, exp = _store(tmp_path)
    parent = _parent(tracker, exp, "k0")
    stale = _running_child(tracker, exp, parent.info.run_id, 0)
    assert tracker.reconcile_trials(exp, parent.info.run_id, []) == (0, 1)
    duplicate = _parent(tracker, exp, "k0")  # a retried create_run made a second parent
    tracker.start_cell(exp, "k0", "d/lightgbm/ce/r0f0", {})
    for run in (stale, duplicate):
        info = tracker.client.get_run(run.info.run_id).info
        assert (info.lifecycle_stage, info.status) == ("deleted", "KILLED")


def _study_with_trials(storage_url: str, name: str, complete: int):
    """A cell's study as a stopped worker leaves it: ``complete`` scored trials, one asked and
    never told."""
    from bench.sweep import studies

    study = studies.open_study(studies.open_storage(storage_url), name)
    for i in range(complete):
        trial = study.ask()
        trial.suggest_float("x", 0, 1)
        trial.set_user_attr(rs.M_TRIAL_SCORE, 0.5 + i / 10)
        study.tell(trial, 0.5 + i / 10)
    study.ask()  # RUNNING in the study for good
    return study


def _hold_claim(storage_url: str, key: str) -> subprocess.Popen:
    """Another live sweep process holding a cell's claim."""
    code = ("import sys\nfrom bench.locks import claim\nwith claim(sys.argv[1], sys.argv[2]) as m:\n"
            "    print(m, flush=True)\n    sys.stdin.read()\n")  # fmt: skip
    holder = subprocess.Popen([sys.executable, "-c", code, storage_url, key], cwd=REPO,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "True"
    return holder


def test_interrupt_marks_every_unclaimed_running_parent_and_follows_the_study(tmp_path):
    """The race of issue 24: a parent created just before the workers were stopped (the
    driver never heard the cell had started) is marked KILLED too; a trial the study holds
    COMPLETE keeps a FINISHED child run (written now if the worker had not); a cell another
    live process claims, or that is not one of this process's, is left alone."""
    from bench.config import SweepConfig
    from bench.sweep import studies
    from bench.sweep.cells import CellContext
    from bench.sweep.driver import mark_interrupted

    tracker, exp = _store(tmp_path)
    storage = str(tmp_path / "optuna.journal")
    ctx = CellContext(config=SweepConfig(), sweep="t", experiment_id=exp,
                      tracking_uri=tracker.tracking_uri, storage_url=storage,
                      catalogue_path="", threads=1, log_dir=str(tmp_path))  # fmt: skip
    study = _study_with_trials(storage, studies.study_name("t", "k1"), complete=2)
    mid_cell = _parent(tracker, exp, "k1")
    records = studies.trial_records(study, "d/lightgbm/ce/r0f1")
    tracker.reconcile_trials(exp, mid_cell.info.run_id, records[:1])  # trial 0 written
    _running_child(tracker, exp, mid_cell.info.run_id, 1)  # trial 1 being written
    just_created = _parent(tracker, exp, "k3")  # no study yet, no start event seen
    elsewhere = _parent(tracker, exp, "k2")
    other_shard = _parent(tracker, exp, "k9")  # not a cell of this process
    holder = _hold_claim(storage, "k2")
    try:
        marked = mark_interrupted(tracker, ctx, {"k1", "k2", "k3", "k4"})
    finally:
        holder.communicate("", timeout=30)
    status = {r.info.run_id: r.info.status for r in all_runs(tracker.tracking_uri)}
    assert status[mid_cell.info.run_id] == status[just_created.info.run_id] == "KILLED"
    assert status[elsewhere.info.run_id] == status[other_shard.info.run_id] == "RUNNING"
    kids = [r for r in children(all_runs(tracker.tracking_uri))
            if r.data.tags[MLFLOW_PARENT_RUN_ID] == mid_cell.info.run_id]  # fmt: skip
    assert sorted((r.data.tags[rs.TAG_TRIAL_NUMBER], r.info.status) for r in kids) == [
        ("0", "FINISHED"), ("1", "FINISHED")]  # fmt: skip
    assert marked == 2
    assert studies.existing_study(storage, studies.study_name("t", "k3")) is None


def _journal_trials(path: Path) -> dict[str, list]:
    """study name -> its trials, read from a sweep's journal file as Optuna reads it."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    return {s.study_name: storage.get_all_trials(s._study_id) for s in storage.get_all_studies()}


def _cells(uri: str) -> dict[str, tuple[str, dict[int, dict]]]:
    """cell key -> (best_trial param, {child trial number: params}) of a finished sweep."""
    runs = all_runs(uri)
    assert runs and all(r.info.status == "FINISHED" for r in runs)
    out = {}
    for p in parents(runs):
        kids = [c for c in children(runs) if c.data.tags[MLFLOW_PARENT_RUN_ID] == p.info.run_id]
        numbered = {int(c.data.tags[rs.TAG_TRIAL_NUMBER]): c.data.params for c in kids}
        assert len(numbered) == len(kids)
        assert {c.info.run_name for c in kids} == {f"{p.info.run_name}/t{n}" for n in numbered}
        out[p.data.tags[rs.TAG_CELL_KEY]] = (p.data.params[rs.P_BEST_TRIAL], numbered)
    return out


def test_a_resumed_sweep_numbers_trials_and_best_trial_as_an_uninterrupted_one(tmp_path):
    """kill -9 in the middle of a trial leaves it RUNNING in the study; the resumed study
    reaps it (a FAIL that takes a trial number) and asks for the trials that follow: their
    child runs and the cell's best_trial are numbered as in a sweep never interrupted."""
    from optuna.trial import TrialState

    trials = 5
    sweep = [*ONE[:4], "--strategies", "ce", "--trials", str(trials), "--folds", "2"]
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    log = tmp_path / "killed.log"
    proc = popen_cli(sweep_args(killed, *sweep, "--workers", "1"), log)
    journal = killed / "optuna.journal"

    def mid_trial() -> bool:  # a trial finished, and the next one is being trained
        states = [t.state for ts in _journal_trials(journal).values() for t in ts]
        return TrialState.COMPLETE in states and states[-1] == TrialState.RUNNING

    try:
        _poll(mid_trial, timeout=300)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    resumed = run_cli(sweep_args(killed, *sweep, "--workers", "1"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    reaped = [
        t for ts in _journal_trials(journal).values() for t in ts
        if t.state == TrialState.FAIL and "error" not in t.user_attrs
    ]  # fmt: skip
    assert reaped, "the kill left no trial behind: nothing was tested"
    uninterrupted = run_cli(sweep_args(clean, *sweep, "--workers", "1"))
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]
    got = _cells(f"sqlite:///{killed / 'mlflow.db'}")
    want = _cells(f"sqlite:///{clean / 'mlflow.db'}")
    assert got == want
    assert all(sorted(numbered) == list(range(trials)) for _, numbered in got.values())


def test_sigterm_at_random_moments_leaves_nothing_running_and_resumes_exactly(tmp_path):
    """A few stops of issue 24's acceptance check (benchmarks/sigterm_race.py runs twenty):
    SIGTERM at a random moment, to the process group or the CLI process alone."""
    from tests.support.sigterm_race import stop_at_random

    seed = time.time_ns()
    rng = random.Random(seed)
    runs = tmp_path / "runs"
    sweep = ["--datasets", smoke_datasets()[0], "--boosters", "lightgbm"]
    sweep += ["--strategies", "ce", "focal", "--trials", "2", "--folds", "2", "--workers", "2"]
    args = sweep_args(runs, *sweep)
    stops = [stop_at_random(args, runs, rng, max_delay=4.0) for _ in range(3)]
    assert all(s.clean for s in stops), (seed, stops)
    final = run_cli(args)
    assert final.returncode == 0, final.stderr[-3000:]
    runs_now = all_runs(f"sqlite:///{runs / 'mlflow.db'}")
    assert {r.info.status for r in runs_now} == {"FINISHED"}
    assert len(parents(runs_now)) == 4 and len(children(runs_now)) == 4 * 2


# --- issue 24: store failures during `run` are the same one line as everywhere ------------
@contextlib.contextmanager
def _tmpfs(path: Path, size: str):
    """A small tmpfs mounted at ``path`` (a full disk on demand); skips without the rights."""
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_a_full_disk_stops_the_sweep_in_one_line_without_sqlalchemy_noise(tmp_path):
    with _tmpfs(tmp_path / "disk", "1200k") as disk:  # the new store's schema fits, little more
        runs = disk / "runs"
        args = ["run", "--runs-dir", str(runs), "--tracking-uri", f"sqlite:///{runs}/mlflow.db"]
        args += ["--storage", str(tmp_path / "optuna.journal"), *ONE, "--trials", "6"]
        out = run_cli([*args, "--folds", "3", "--workers", "1"])
    assert out.returncode == 3, out.stderr[-3000:]
    assert "database or disk is full" in out.stderr or "No space left" in out.stderr
    assert "Background on this error" not in out.stderr + out.stdout
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    problems = [
        line for line in out.stderr.splitlines() if not line.startswith(("sweep ", "code:"))
    ]
    assert problems == ["finished cells are kept; re-run the same command to resume"], problems


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="drops root's permission override with setpriv",
)
def test_a_read_only_store_during_run_is_the_line_report_gives(tmp_path):
    from mlflow.tracking import MlflowClient

    archive = tmp_path / "archive"
    archive.mkdir()
    uri = f"sqlite:///{archive / 'mlflow.db'}"
    MlflowClient(uri).search_experiments()  # an existing store (its schema made)
    for path in [*archive.iterdir(), archive]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
            "--inh-caps=-dac_override,-dac_read_search"]  # fmt: skip
    lines = {}
    for command in (["run", "--runs-dir", str(tmp_path / "runs"), *ONE, "--trials", "1"],
                    ["report", "--out", str(tmp_path / "report")]):  # fmt: skip
        out = subprocess.run([*drop, sys.executable, "-m", "bench", *command, "--tracking-uri", uri],
                             cwd=REPO, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert out.returncode == 3, out.stderr[-3000:]
        lines[command[0]] = _one_line(out.stderr)
    assert lines["run"] == lines["report"]
    assert "is read-only, and MLflow writes to a SQLite store even to read it" in lines["run"]
    assert not (tmp_path / "runs" / "locks").exists()


def test_ui_accepts_the_short_loopback_form(tmp_path):
    from mlflow.tracking import MlflowClient

    from bench.ui import stop_process_group, wait_healthy
    from tests.support.servers import free_port

    runs = tmp_path / "runs"
    runs.mkdir()
    MlflowClient(f"sqlite:///{runs / 'mlflow.db'}").search_experiments()
    port, log = free_port(), tmp_path / "ui.log"
    with open(log, "wb") as out:
        ui = subprocess.Popen(
            [sys.executable, "-m", "bench", "ui", "--host", "127.1", "--port", str(port),
             "--runs-dir", str(runs)],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_healthy(f"http://127.0.0.1:{port}", ui, log, timeout=150)
        _poll(lambda: "MLflow UI: http://127.0.0.1:" in log.read_text(), timeout=30)
        ui.send_signal(signal.SIGINT)
        assert ui.wait(timeout=60) == 0, log.read_text()
    finally:
        stop_process_group(ui, timeout=30)
    assert "not a loopback address" not in log.read_text()


# --- issue 24: the probe's sentinels, server and storage down or up ----------------------
QUERY_SECRET = "S3ntinelPwQ"
AT_SECRET = "S3nt@inelPwAT1234"


def _no_sentinel(text: str) -> None:
    assert QUERY_SECRET not in text and "inelPwAT1234" not in text, text[-3000:]


def test_credentials_of_both_shapes_never_print_when_the_stores_are_down(tmp_path):
    from tests.support.servers import free_port

    closed = free_port()
    storage = f"postgresql://postgres@127.0.0.1:{closed}/db?password={QUERY_SECRET}"
    out = run_cli(sweep_args(tmp_path, *ONE, "--storage", storage))
    assert out.returncode == 2
    line = _one_line(out.stderr)
    _no_sentinel(out.stdout + out.stderr)
    assert f"postgresql://***@127.0.0.1:{closed}/db?password=*** cannot open it" in line
    tracking = f"http://u2:{AT_SECRET}@127.0.0.1:{closed}"
    fast = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
    args = ["run", "--runs-dir", str(tmp_path / "runs"), "--tracking-uri", tracking, *ONE]
    out = run_cli(args, env=fast)
    assert out.returncode == 3, out.stderr[-3000:]
    _no_sentinel(out.stdout + out.stderr)
    assert f"MLflow at http://***@127.0.0.1:{closed} failed" in _one_line(out.stderr)
    logs = [p.read_text() for p in (tmp_path / "runs").rglob("*.log")]
    _no_sentinel("".join(logs))


@pytest.mark.postgres
def test_credentials_of_both_shapes_are_nowhere_after_a_sweep_with_the_stores_up(tmp_path):
    """The probe's grep: console, log files, export, the MLflow store and its artifacts, and
    the Optuna storage, after a sweep that logged in with both shapes."""
    import psycopg

    from tests.support.servers import mlflow_server, postgres_database

    with (
        postgres_database("bench_sentinel") as optuna_db,
        mlflow_server(f"sqlite:///{tmp_path / 'server.db'}", tmp_path / "artifacts") as base,
    ):
        tracking = base.replace("http://", f"http://u2:{AT_SECRET}@")
        storage = f"{optuna_db}?password={QUERY_SECRET}"
        runs = tmp_path / "runs"
        sweep = ["run", "--runs-dir", str(runs), "--tracking-uri", tracking]
        sweep += ["--storage", storage, "--datasets", "synth_smoke", "--boosters", "lightgbm"]
        out = run_cli([*sweep, "--strategies", "ce", "--trials", "1", "--folds", "2"])
        assert out.returncode == 0, out.stderr[-3000:]
        assert "tracking http://***@127.0.0.1:" in out.stderr + out.stdout
        exported = ["export", "--tracking-uri", tracking, "--out", str(tmp_path / "export")]
        export = run_cli([*exported, *export_flags()])
        assert export.returncode == 0, export.stderr[-3000:]
        with psycopg.connect(optuna_db) as conn:
            tables = [r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]  # fmt: skip
            dumped = [str(conn.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables]
    assert len(tables) > 5 and "studies" in tables
    _no_sentinel(out.stdout + out.stderr + export.stdout + export.stderr + "".join(dumped))
    for path in [*tmp_path.rglob("*")]:
        if path.is_file():
            data = path.read_bytes()
            assert QUERY_SECRET.encode() not in data and b"inelPwAT1234" not in data, path


@pytest.mark.unit
def test_an_error_line_and_a_logged_traceback_never_carry_a_credential(tmp_path):
    """A cell's or trial's error (a console line, an MLflow tag, an Optuna attribute) and the
    traceback in the worker's log file can quote the URL an error came from."""
    import logging

    from bench import logs
    from bench.errors import one_line

    err = RuntimeError(f"cannot reach postgresql://u:{AT_SECRET}@h/db?password={QUERY_SECRET}")
    assert one_line(err) == "RuntimeError: cannot reach postgresql://***@h/db?password=***"
    root = logging.getLogger(logs.ROOT)
    level, path = root.level, logs.log_to_worker_file(tmp_path)
    try:
        try:
            raise err
        except RuntimeError:
            logging.getLogger("bench.test").exception("cell failed")
    finally:  # this process's logging as it was
        handler, logs._file_handler = logs._file_handler, None
        if handler is not None:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(level)
    text = path.read_text()
    assert "Traceback" in text and "postgresql://***@h/db?password=***" in text
    _no_sentinel(text)
