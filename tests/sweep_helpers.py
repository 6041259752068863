"""Helpers for tests that run real sweeps and read back what MLflow holds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mlflow.tracking import MlflowClient

from bench import runschema as rs

REPO = Path(__file__).resolve().parent.parent


def readme_section(title: str) -> str:
    """The README's ``## title`` section, up to the next ``## `` heading."""
    text = (REPO / "README.md").read_text()
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


TRIALS = 2  # of the shared smoke sweep (tests/conftest.py)
FOLDS = 2


def smoke_datasets() -> list[str]:
    from bench.datasets import load_catalogue

    return load_catalogue(REPO / "datasets.yaml").suite("smoke")


def sweep_args(runs_dir: Path, *extra: str) -> list[str]:
    return [
        "run",
        "--runs-dir",
        str(runs_dir),
        "--tracking-uri",
        f"sqlite:///{runs_dir / 'mlflow.db'}",
        *extra,
    ]


def run_cli(args: list[str], timeout: float = 600, env: dict | None = None, cwd: Path = REPO):
    """The real CLI in a subprocess, as a user runs it; from ``cwd`` if given (a relative path
    it creates lands there, not in the checkout), still this checkout's code."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("MLFLOW_TRACKING_URI", None)
    if cwd != REPO:
        full_env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )


def popen_cli(args: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    """The real CLI in the background, in its own process group (so a test can kill it all),
    output to ``log``."""
    full_env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bench", *args],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**full_env, **(env or {})},
            start_new_session=True,
        )


def all_runs(tracking_uri: str) -> list:
    """Every active run of every bench experiment."""
    client = MlflowClient(tracking_uri)
    exps = [e for e in client.search_experiments() if rs.EXP_SWEEP in e.tags]
    runs = []
    for exp in exps:
        token = None
        while True:
            page = client.search_runs([exp.experiment_id], "", max_results=1000, page_token=token)
            runs.extend(page)
            token = page.token
            if not token:
                break
    return runs


def parents(runs: list) -> list:
    return [r for r in runs if r.data.tags.get(rs.ROLE) == rs.ROLE_CELL]


def children(runs: list) -> list:
    return [r for r in runs if r.data.tags.get(rs.ROLE) == rs.ROLE_TRIAL]


def export_flags() -> list[str]:
    """Flags for `bench export` of a test's own sweep: CI exports from a clean checkout, and a
    developer's uncommitted edits must not fail the tests (their cells record a dirty tree)."""
    from bench.tracking.environment import git_commit, is_dirty

    return ["--allow-dirty"] if is_dirty(git_commit()) else []
