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


# --- issue 24: bounds, storage URLs, and file values a flag overrides ----------------------
@pytest.mark.parametrize(
    "text, needle",
    [
        ("seed: -1\n", "key 'seed': Input should be greater than or equal to 0"),
        ("seed: 99999999999999999999999999\n", "key 'seed': Input should be less than or equal"),
        ("seed: 4294967296\n", "key 'seed': Input should be less than or equal to 4294967295"),
        ("trials: 100000000000000000000000\n", "key 'trials': Input should be less than or equal"),
        ("trials: 1000001\n", "key 'trials': Input should be less than or equal to 1000000"),
    ],
)
def test_seed_and_trials_are_bounded(tmp_path, text, needle):
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    with pytest.raises(BenchError) as err:
        build_config(str(path), {})
    assert str(err.value).startswith(f"sweep config {path}: ") and needle in str(err.value)


def test_the_largest_seed_and_trials_are_accepted():
    cfg = build_config(None, {"seed": 2**32 - 1, "trials": 10**6})
    assert cfg.seed == 2**32 - 1 and cfg.trials == 10**6


@pytest.mark.parametrize(
    "text, flags",
    [
        ("trials: true\n", {"trials": 3}),
        ("seed: -1\n", {"seed": 1}),
        ("folds: 1\n", {"folds": 3}),
        ("storage: notaurl\n", {"storage": "postgresql://u@h/db"}),
        ("suite: [a, b]\n", {"datasets": ["pima"]}),
    ],
)
def test_a_bad_file_value_is_refused_even_when_a_flag_overrides_it(tmp_path, text, flags):
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    key = text.split(":", 1)[0]
    with pytest.raises(BenchError) as err:
        build_config(str(path), flags)
    assert str(err.value).startswith(f"sweep config {path}: key '{key}'"), str(err.value)


def test_a_file_value_valid_alone_is_not_blamed_for_a_flag_it_combines_with(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text("trials: 4\nstartup_trials: 2\n")
    cfg = build_config(str(path), {"trials": 20, "startup_trials": None})
    assert cfg.trials == 20 and cfg.startup_trials == 2


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:5432/db",
        "postgresql+psycopg://u:p@h/db?sslmode=require",
        "mysql+pymysql://u@h/db",
        "sqlite:///runs/optuna.db",
        "runs/optuna.journal",
        "optuna.journal",
        "optuna.log",
        "./notes",
        "/abs/path/to/journal",
    ],
)
def test_storage_urls_and_journal_paths_a_user_means_are_accepted(url):
    assert build_config(None, {"storage": url}).storage == url


@pytest.mark.parametrize(
    "url, needle",
    [
        ("notaurl", "neither a database URL"),
        ("postgres://u@h/db", "unknown database scheme 'postgres'"),
        ("postgresq://u@h/db", "unknown database scheme 'postgresq'"),
        ("http://127.0.0.1:8080", "unknown database scheme 'http'"),
        ("postgresql:/h/db", "has no '//'"),
        ("", "neither a database URL"),
    ],
)
def test_a_storage_that_is_neither_a_database_url_nor_a_journal_path_is_refused(url, needle):
    with pytest.raises(BenchError) as err:
        build_config(None, {"storage": url})
    assert str(err.value).startswith("command line: key 'storage'") and needle in str(err.value)
