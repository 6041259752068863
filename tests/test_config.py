"""Sweep configuration: YAML + flags, clear errors naming the file and key."""

from __future__ import annotations

import pytest

from bench.config import build_config, config_hash, scientific_settings
from bench.errors import BenchError
from tests.sweep_helpers import REPO, run_cli

pytestmark = pytest.mark.unit


def test_example_sweep_yaml_is_valid_and_flags_override_it():
    cfg = build_config(str(REPO / "examples" / "sweep.yaml"), {"trials": 3, "folds": None})
    assert cfg.trials == 3 and cfg.folds == 5 and cfg.repeats == 2
    assert cfg.focal.hessian == "surrogate"


def test_datasets_flag_replaces_the_suite():
    cfg = build_config(str(REPO / "examples" / "sweep.yaml"), {"datasets": ["pima"]})
    assert cfg.suite is None and cfg.datasets == ["pima"]


def test_hash_ignores_operational_settings_but_not_scientific_ones():
    a = build_config(None, {"workers": 1, "tracking_uri": "sqlite:///x.db"})
    b = build_config(None, {"workers": 2, "runs_dir": "elsewhere"})
    c = build_config(None, {"trials": 9})
    h = lambda cfg: config_hash(scientific_settings(cfg, ["d"]))  # noqa: E731
    assert h(a) == h(b) != h(c)


@pytest.mark.parametrize(
    "text, needle",
    [
        ("trails: 3\n", "unknown key 'trails'"),
        ("folds: 1\n", "key 'folds'"),
        ("inner: {kind: loo}\n", "key 'inner.kind'"),
        ("boosters: [lightgbm, lightgbm]\n", "twice"),
        ("trials: 3\nfolds: [2\nseed: 1\n", "sweep.yaml:3:"),
        ("trials: true\n", "key 'trials': Input should be a valid integer (got True)"),
        ("folds: 2.5\n", "key 'folds': Input should be a valid integer (got 2.5)"),
        ("trials: 3\ntrials: 4\n", "duplicate key 'trials' (first given on line 1)"),
        ("focal: {gamma: [true, 2]}\n", "gamma must be two numbers"),
        ("- a\n- b\n", "mapping"),
    ],
)
def test_bad_sweep_yaml_names_file_and_key(tmp_path, text, needle):
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    with pytest.raises(BenchError) as err:
        build_config(str(path), {})
    assert str(path) in str(err.value) and needle in str(err.value)


def test_missing_sweep_yaml_is_a_clear_cli_error(tmp_path):
    out = run_cli(["run", "--config", str(tmp_path / "nope.yaml")])
    assert out.returncode == 2
    assert "nope.yaml" in out.stderr and "does not exist" in out.stderr
    assert "Traceback" not in out.stderr


def test_unknown_booster_is_a_clear_cli_error_from_a_real_process():
    out = run_cli(["run", "--boosters", "lightgbm", "gbdt"])
    assert out.returncode == 2
    assert "gbdt" in out.stderr and "Traceback" not in out.stderr


def test_a_bad_command_line_value_is_blamed_on_the_command_line_not_the_file(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text("folds: 3\ntrials: 8\n")
    with pytest.raises(BenchError) as err:
        build_config(str(path), {"trials": 0})
    assert str(err.value).startswith("command line: key 'trials'")
    path.write_text("folds: 1\n")
    with pytest.raises(BenchError) as err:
        build_config(str(path), {"trials": 3})
    assert str(err.value).startswith(f"sweep config {path}: key 'folds'")
