"""The protocol's guarantees, checked in-process on real boosters with instrumented adapters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bench.sweep.cell as cell_module
import bench.sweep.driver as driver
from bench import runschema as rs
from bench.cli import main
from bench.config import build_config
from bench.sweep import protocol
from bench.sweep.cells import get_dataset
from tests.sweep_helpers import REPO, all_runs, children, parents, smoke_datasets

pytestmark = pytest.mark.integration


def _config(tmp_path, **overrides):
    base = {
        "datasets": [smoke_datasets()[0]],
        "boosters": ["lightgbm"],
        "strategies": ["ce", "weighted", "focal"],
        "trials": 2,
        "folds": 3,
        "workers": 1,
        "threads": 1,
        "runs_dir": str(tmp_path),
        "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "catalogue": str(REPO / "datasets.yaml"),
    }
    base.update(overrides)
    return build_config(None, base)


class Recorder:
    """Wraps a real adapter and records which rows reach fit, early stopping and predict."""

    def __init__(self, inner, log, fail_first: bool = False):
        self.inner, self.log, self.fail_first = inner, log, fail_first
        self.name = inner.name
        self.calls = 0

    def suggest_params(self, trial, rows=None):
        return self.inner.suggest_params(trial, rows)

    def default_params(self, rows=None):
        return self.inner.default_params(rows)

    def fit(self, X, y, **kw):
        self.calls += 1
        if self.fail_first and self.calls == 1:
            raise RuntimeError("injected booster failure")
        valid = kw.get("valid")
        self.log.append(("fit", set(X.index), set(valid[0].index) if valid else set()))
        model = self.inner.fit(X, y, **kw)
        log = self.log

        class Recorded:
            best_iteration = model.best_iteration

            def predict_proba(self, X_pred: pd.DataFrame):
                log.append(("predict", set(X_pred.index), set()))
                return model.predict_proba(X_pred)

        return Recorded()


@pytest.fixture
def record(monkeypatch):
    log: list = []
    cells: list = []
    real_get = cell_module.get_adapter
    real_run_cell = cell_module.run_cell

    def run_cell(cell, *a, **kw):
        log.append(("cell", cell, None))
        cells.append(cell)
        return real_run_cell(cell, *a, **kw)

    def install(fail_first=False):
        monkeypatch.setattr(
            cell_module, "get_adapter", lambda name: Recorder(real_get(name), log, fail_first)
        )
        monkeypatch.setattr(
            cell_module, "run_cell", run_cell
        )  # the inline executor imports it per call
        return log

    return install


def test_outer_test_rows_reach_the_booster_only_in_the_final_predict(tmp_path, record):
    log = record()
    cfg = _config(tmp_path)
    assert driver.run_sweep(cfg) == 0
    dataset = get_dataset(str(REPO / "datasets.yaml"), cfg.datasets[0])
    by_cell: dict = {}
    current = None
    for kind, rows, valid in log:
        if kind == "cell":
            current = rows
            by_cell[current] = []
        else:
            by_cell[current].append((kind, rows, valid))
    assert len(by_cell) == 3 * cfg.folds
    for cell, events in by_cell.items():
        train_idx, test_idx = protocol.outer_split(
            dataset.y, cfg.folds, cfg.repeats, cfg.seed, cell.repeat, cell.fold
        )
        test = set(test_idx)
        fits = [e for e in events if e[0] == "fit"]
        predicts = [e for e in events if e[0] == "predict"]
        assert len(fits) >= cfg.trials + 1
        for _, rows, valid in fits:
            assert not rows & test, "outer-test rows were trained on"
            assert not valid & test, "outer-test rows were used for early stopping"
        # Every predict but the last is on inner validation rows (trial scores, threshold).
        for _, rows, _ in predicts[:-1]:
            assert not rows & test
        assert predicts[-1][1] == test
        # The refit is the last fit: the whole outer-training part, no validation set.
        assert fits[-1][1] == set(train_idx) and fits[-1][2] == set()


def test_same_seed_gives_identical_outer_test_metrics(tmp_path):
    def sweep(path):
        cfg = _config(
            path,
            boosters=["lightgbm", "xgboost", "catboost"],
            strategies=["ce", "focal"],
            folds=2,
        )
        assert driver.run_sweep(cfg) == 0
        runs = parents(all_runs(cfg.tracking_uri))
        return {r.data.tags[rs.TAG_CELL_KEY]: r.data.metrics for r in runs}

    first, second = sweep(tmp_path / "a"), sweep(tmp_path / "b")
    assert first.keys() == second.keys() and len(first) == 3 * 2 * 2
    for key, metrics in first.items():
        for name in rs.test_metric_names():
            assert metrics[name] == second[key][name] or (
                np.isnan(metrics[name]) and np.isnan(second[key][name])
            ), name


def test_a_booster_that_raises_fails_the_trial_not_the_sweep(tmp_path, record):
    record(fail_first=True)
    cfg = _config(tmp_path, strategies=["focal"], folds=2)
    assert driver.run_sweep(cfg) == 0
    runs = all_runs(cfg.tracking_uri)
    failed = [r for r in children(runs) if r.info.status == "FAILED"]
    assert len(failed) == cfg.folds  # the first fit of each cell raises
    for run in failed:
        assert run.data.tags[rs.TAG_TRIAL_STATE] == "FAIL"
        assert "injected booster failure" in run.data.tags[rs.TAG_ERROR]
    ok = [r for r in children(runs) if r.info.status == "FINISHED"]
    assert len(ok) == cfg.trials * cfg.folds
    assert all(r.info.status == "FINISHED" for r in parents(runs))


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--boosters", "lightgbm", "lgbm"], "boosters"),
        (["--strategies", "focal", "dice"], "strategies"),
        (["--datasets", "no_such_dataset"], "no_such_dataset"),
        (["--trials", "0"], "trials"),
        (["--folds", "1"], "folds"),
        (["--suite", "no_such_suite"], "no_such_suite"),
    ],
)
def test_bad_input_is_a_clear_error_with_exit_code_2(tmp_path, capsys, extra, message):
    code = main(["run", "--runs-dir", str(tmp_path), *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err


def test_changed_config_under_the_same_name_is_refused(tmp_path, capsys):
    args = ["run", "--runs-dir", str(tmp_path), "--tracking-uri", f"sqlite:///{tmp_path}/m.db"]
    args += ["--datasets", smoke_datasets()[0], "--boosters", "lightgbm", "--strategies", "ce"]
    args += ["--folds", "2", "--workers", "1", "--name", "mine"]
    assert main([*args, "--trials", "1"]) == 0
    capsys.readouterr()
    assert main([*args, "--trials", "2"]) == 2
    assert "different configuration" in capsys.readouterr().err


def test_minority_smaller_than_folds_is_refused_with_the_dataset_named(tmp_path, capsys):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=40), "label": ["a"] * 37 + ["b"] * 3})
    frame.to_csv(tmp_path / "tiny.csv", index=False)
    (tmp_path / "datasets.yaml").write_text(
        "datasets:\n  tiny3:\n    source: file\n    path: tiny.csv\n    target: label\n"
        "suites:\n  smoke: [tiny3]\n"
    )
    code = main(
        ["run", "--runs-dir", str(tmp_path), "--catalogue", str(tmp_path / "datasets.yaml"),
         "--datasets", "tiny3", "--folds", "5"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "tiny3" in err and "folds" in err


def test_a_failed_cell_names_its_log_file_which_holds_the_traceback(tmp_path, record):
    from pathlib import Path

    record(fail_first=True)
    cfg = _config(tmp_path, strategies=["ce"], folds=2, max_failed_trials=0)
    assert driver.run_sweep(cfg) == 1
    failed = [r for r in parents(all_runs(cfg.tracking_uri)) if r.info.status == "FAILED"]
    assert len(failed) == cfg.folds  # the first fit of each cell raises
    log_file = Path(failed[0].data.tags[rs.TAG_LOG_FILE])
    assert log_file.is_relative_to(tmp_path / "logs")
    text = log_file.read_text()
    assert "Traceback" in text and "injected booster failure" in text
    assert "1 trials failed (max_failed_trials=0)" in failed[0].data.tags[rs.TAG_ERROR]


def test_a_resampler_sees_only_training_rows(tmp_path, record, monkeypatch):
    """Data-level strategies resample the inner-training parts and, at the refit, the
    outer-training part: never an inner-validation or an outer-test row."""
    log = record()
    real_make = cell_module.make_strategy

    def make_strategy(name, config=None):
        strategy = real_make(name, config)
        inner = strategy.resample

        def resample(X, y, params, seed):
            log.append(("resample", set(X.index), set()))
            return inner(X, y, params, seed)

        strategy.resample = resample  # type: ignore[method-assign]
        return strategy

    monkeypatch.setattr(cell_module, "make_strategy", make_strategy)
    cfg = _config(tmp_path, strategies=["undersample", "smote"], folds=2)
    assert driver.run_sweep(cfg) == 0
    dataset = get_dataset(str(REPO / "datasets.yaml"), cfg.datasets[0])
    by_cell: dict = {}
    for kind, rows, valid in log:
        if kind == "cell":
            by_cell[rows] = []
            current = rows
        else:
            by_cell[current].append((kind, rows, valid))
    assert len(by_cell) == 2 * cfg.folds
    for cell, events in by_cell.items():
        train_idx, test_idx = protocol.outer_split(
            dataset.y, cfg.folds, cfg.repeats, cfg.seed, cell.repeat, cell.fold
        )
        resamples = [i for i, e in enumerate(events) if e[0] == "resample"]
        assert len(resamples) >= cfg.trials + 1
        for i in resamples:
            seen = events[i][1]
            fit = events[i + 1]  # the fit that trains on what the resampler returned
            assert fit[0] == "fit"
            assert not seen & set(test_idx), "the resampler saw outer-test rows"
            assert not seen & fit[2], "the resampler saw the inner-validation rows"
            assert {r for r in fit[1] if r >= 0} <= seen  # real rows come from its input
        refit = events[resamples[-1]]
        assert refit[1] == set(train_idx)  # the refit resamples the whole outer-training part
