"""bench.focal.FocalLoss through each library's own training API, the README section and the
breast-cancer example script.

The reference for every objective is the library's native one: with gamma = 0 focal loss is
cross-entropy, so a model trained with ``FocalLoss(gamma=0)``'s objective, start margin and link
must predict what the native objective predicts. One thread per fit, small data, few rounds.
"""

from __future__ import annotations

import doctest
import json
import re
import runpy
import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.metrics import log_loss

import bench.focal.loss
from bench.focal import FocalLoss
from tests.sweep_helpers import REPO, readme_section

pytestmark = pytest.mark.integration

ROUNDS = 20
LR = 0.2
FOCAL0 = FocalLoss(gamma=0.0, hessian="exact")


def _data(n_classes: int, n: int = 600):
    X, y = make_classification(
        n,
        6,
        n_informative=4,
        n_redundant=1,
        n_classes=n_classes,
        weights=[0.85] if n_classes == 2 else [0.6, 0.3, 0.1],
        random_state=0,
    )
    return X[:400], y[:400], X[400:], y[400:]


def _two_columns(p: np.ndarray) -> np.ndarray:
    return np.column_stack([1 - p, p]) if p.ndim == 1 else p


def _lightgbm(n_classes: int):
    """(native probabilities, public-API probabilities, last validation metric, its truth)."""
    import lightgbm as lgb

    X, y, Xv, yv = _data(n_classes)
    params = {"learning_rate": LR, "num_threads": 1, "deterministic": True, "verbosity": -1,
              "force_row_wise": True, "seed": 0, "metric": "None"}  # fmt: skip
    if n_classes > 2:
        params["num_class"] = n_classes
    native_obj = "binary" if n_classes == 2 else "multiclass"
    native = lgb.train({**params, "objective": native_obj}, lgb.Dataset(X, y), ROUNDS).predict(X)

    train = lgb.Dataset(X, y, init_score=FOCAL0.init_rows(y))
    valid = lgb.Dataset(Xv, yv, init_score=FOCAL0.init_rows(y, len(Xv)), reference=train)
    history: dict = {}
    booster = lgb.train(
        {**params, "objective": FOCAL0.lightgbm_objective()},
        train,
        ROUNDS,
        valid_sets=[valid],
        valid_names=["valid"],
        feval=FOCAL0.lightgbm_metric(),
        callbacks=[lgb.record_evaluation(history)],
    )
    start = FOCAL0.init_score(y)
    proba = FOCAL0.predict_proba(booster.predict(X, raw_score=True), init_score=start)
    proba_v = FOCAL0.predict_proba(booster.predict(Xv, raw_score=True), init_score=start)
    return _two_columns(native), proba, history["valid"]["focal_loss"][-1], log_loss(yv, proba_v)


def _xgboost(n_classes: int):
    import xgboost as xgb

    X, y, Xv, yv = _data(n_classes)
    params: dict = {"tree_method": "hist", "learning_rate": LR, "nthread": 1, "seed": 0}
    if n_classes > 2:
        params["num_class"] = n_classes
    # the same start for both: XGBoost's own intercept estimate is float32, ~1e-7 off
    start = FOCAL0.init_rows(y)
    native_obj = "binary:logistic" if n_classes == 2 else "multi:softprob"
    native = xgb.train(
        {**params, "objective": native_obj}, xgb.DMatrix(X, y, base_margin=start), ROUNDS
    ).predict(xgb.DMatrix(X, base_margin=start))

    dvalid = xgb.DMatrix(Xv, yv, base_margin=FOCAL0.init_rows(y, len(Xv)))
    history: dict = {}
    booster = xgb.train(
        {**params, "disable_default_eval_metric": 1},
        xgb.DMatrix(X, y, base_margin=start),
        ROUNDS,
        obj=FOCAL0.xgboost_objective(),
        evals=[(dvalid, "valid")],
        custom_metric=FOCAL0.xgboost_metric(),
        evals_result=history,
        verbose_eval=False,
    )
    proba = FOCAL0.predict_proba(
        booster.predict(xgb.DMatrix(X, base_margin=start), output_margin=True)
    )
    proba_v = FOCAL0.predict_proba(booster.predict(dvalid, output_margin=True))
    return _two_columns(native), proba, history["valid"]["focal_loss"][-1], log_loss(yv, proba_v)


def _catboost(n_classes: int):
    import catboost as cb

    X, y, Xv, yv = _data(n_classes)
    # CatBoost's native losses take several Newton steps per leaf and an automatic learning
    # rate by default; a Python objective matches them only with the same leaf estimation.
    params = {"iterations": ROUNDS, "learning_rate": LR, "random_seed": 0, "thread_count": 1,
              "logging_level": "Silent", "allow_writing_files": False,
              "boost_from_average": False, "leaf_estimation_method": "Newton",
              "leaf_estimation_iterations": 1, "leaf_estimation_backtracking": "No",
              "bootstrap_type": "No"}  # fmt: skip
    start = FOCAL0.init_rows(y)
    native = cb.CatBoost({**params, "loss_function": "Logloss" if n_classes == 2 else "MultiClass"})
    native.fit(cb.Pool(X, y, baseline=start))
    native_p = native.predict(cb.Pool(X, baseline=start), prediction_type="Probability")

    custom = {
        "loss_function": FOCAL0.catboost_objective(n_classes),
        "eval_metric": FOCAL0.catboost_metric(n_classes),
    }
    if n_classes > 2:
        custom["classes_count"] = n_classes
    model = cb.CatBoost({**params, **custom})
    model.fit(
        cb.Pool(X, y, baseline=start),
        eval_set=cb.Pool(Xv, yv, baseline=FOCAL0.init_rows(y, len(Xv))),
    )
    init = FOCAL0.init_score(y)
    proba = FOCAL0.predict_proba(model.predict(X, prediction_type="RawFormulaVal"), init)
    proba_v = FOCAL0.predict_proba(model.predict(Xv, prediction_type="RawFormulaVal"), init)
    last = model.get_evals_result()["validation"]["FocalLossMetric"][-1]
    return native_p, proba, last, log_loss(yv, proba_v)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("library", ["lightgbm", "xgboost", "catboost"])
def test_gamma0_objective_reproduces_the_native_objective(library, n_classes):
    native, proba, metric_last, metric_truth = {
        "lightgbm": _lightgbm, "xgboost": _xgboost, "catboost": _catboost
    }[library](n_classes)  # fmt: skip
    assert proba.shape == native.shape == (400, n_classes)
    assert np.abs(proba - native).max() <= 1e-6
    assert np.ptp(native[:, -1]) > 0.3  # the models did learn something
    # the metric form sees margins with the start included: at gamma = 0 it is the log loss
    assert metric_last == pytest.approx(metric_truth, rel=1e-5)


def test_sample_weights_are_applied_as_native_objectives_apply_them():
    import lightgbm as lgb
    import xgboost as xgb

    X, y, _, _ = _data(2)
    w = np.random.default_rng(0).uniform(0.2, 3.0, len(y))
    start = np.full(len(y), 0.3)
    params = {"learning_rate": LR, "num_threads": 1, "deterministic": True, "verbosity": -1,
              "force_row_wise": True}  # fmt: skip
    lgb_native = lgb.train(
        {**params, "objective": "binary"}, lgb.Dataset(X, y, weight=w, init_score=start), ROUNDS
    ).predict(X, raw_score=True)
    lgb_focal = lgb.train(
        {**params, "objective": FOCAL0.lightgbm_objective()},
        lgb.Dataset(X, y, weight=w, init_score=start),
        ROUNDS,
    ).predict(X, raw_score=True)
    np.testing.assert_allclose(lgb_focal, lgb_native, atol=1e-9)

    xparams = {"tree_method": "hist", "learning_rate": LR, "nthread": 1}
    dm = xgb.DMatrix(X, y, weight=w, base_margin=start)
    xgb_native = xgb.train({**xparams, "objective": "binary:logistic"}, dm, ROUNDS)
    xgb_focal = xgb.train(xparams, dm, ROUNDS, obj=FOCAL0.xgboost_objective())
    dp = xgb.DMatrix(X, base_margin=start)
    np.testing.assert_allclose(
        xgb_focal.predict(dp, output_margin=True),
        xgb_native.predict(dp, output_margin=True),
        atol=1e-5,  # float32 margins
    )


def test_focal_objective_learns_with_rare_positives_and_its_start_is_focal_optimal():
    import lightgbm as lgb

    X, y = make_classification(2000, 6, n_informative=4, weights=[0.97], random_state=3)
    fl = FocalLoss(alpha=0.25, gamma=2.0)
    start = fl.init_score(y)
    # the start minimises the summed focal loss over constant margins
    grid = start + np.linspace(-0.5, 0.5, 11)
    totals = [fl.loss(y, np.full(len(y), z)).sum() for z in grid]
    assert int(np.argmin(totals)) == 5
    booster = lgb.train(
        {"objective": fl.lightgbm_objective(), "verbosity": -1, "num_threads": 1},
        lgb.Dataset(X, y, init_score=fl.init_rows(y)),
        30,
    )
    p = fl.predict_proba(booster.predict(X, raw_score=True), init_score=start)[:, 1]
    assert np.ptp(p) > 0.5


def test_docstring_examples_run():
    result = doctest.testmod(bench.focal.loss)
    assert result.attempted >= 8 and result.failed == 0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"alpha": 1.5}, "alpha"),
        ({"alpha": 0.0}, "alpha"),  # a zero class weight: no finite start
        ({"alpha": 1.0}, "alpha"),
        ({"alpha": float("nan")}, "alpha"),
        ({"alpha": "0.25"}, "alpha"),
        ({"alpha": (0.5, 0.5)}, "alpha"),  # binary takes one float
        ({"alpha": (1.0, -1.0, 1.0)}, "alpha"),
        ({"gamma": -1.0}, "gamma"),
        ({"gamma": float("inf")}, "gamma"),
        ({"hessian": "newton"}, "hessian"),
    ],
)
def test_bad_arguments_are_value_errors_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        FocalLoss(**kwargs)


def test_alpha_must_fit_the_number_of_classes():
    y3 = np.array([0, 1, 2, 0, 1, 2])
    with pytest.raises(ValueError, match=r"^alpha: 3 classes need 3 weights"):
        FocalLoss(alpha=0.25).init_score(y3)
    with pytest.raises(ValueError, match=r"^alpha: 3 classes need 3 weights"):
        FocalLoss(alpha=(1.0, 2.0, 3.0, 4.0)).init_score(y3)
    with pytest.raises(ValueError, match=r"^alpha: binary labels take one float"):
        FocalLoss(alpha=(1.0, 2.0, 3.0)).catboost_objective(2)
    assert FocalLoss(alpha=[1.0, 2.0, 3.0]).alpha == (1.0, 2.0, 3.0)


def test_labels_with_one_class_are_refused_naming_y():
    with pytest.raises(ValueError, match=r"^y:"):
        FocalLoss().init_score(np.zeros(10, dtype=int))
    with pytest.raises(ValueError, match=r"^y:"):
        FocalLoss().init_rows(["a", "b"])  # encode labels first
    with pytest.raises(ValueError, match=r"^n_classes:"):
        FocalLoss().catboost_metric(1)


def test_importing_bench_focal_loads_no_booster_and_no_sklearn():
    probe = (
        "import sys, json, bench.focal\nfrom bench.focal import FocalLoss\n"
        "FocalLoss(alpha=0.3).init_score([0, 1, 1])\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sklearn', 'lightgbm', 'xgboost', 'catboost', 'mlflow', 'optuna'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def _readme_block() -> str:
    section = readme_section("Use focal loss in your own code")
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "the README section has no python code block"
    return blocks[0]


def test_readme_section_runs_in_a_fresh_file(tmp_path, capsys, monkeypatch):
    script = tmp_path / "focal_readme.py"
    script.write_text(_readme_block())
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(script), run_name="__main__")  # in-process: the imports are warm
    scores = [float(v) for v in re.findall(r"average precision ([0-9.]+)", capsys.readouterr().out)]
    assert len(scores) == 2 and min(scores) > 0.9


def test_breast_cancer_example_logs_every_trial_under_one_parent(tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = subprocess.run(
        [sys.executable, str(REPO / "examples" / "breast_cancer_focal.py"),
         "--trials", "3", "--tracking-uri", uri],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "test_mcc" in out.stdout and not (tmp_path / "mlruns").exists()
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("breast-cancer-focal")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 3
    parent = parents[0]
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parent.info.run_id}
    assert all(r.info.status == "FINISHED" for r in runs)
    assert all("cv_average_precision" in r.data.metrics for r in children)
    metrics = parent.data.metrics
    assert metrics["test_average_precision"] > 0.9 and metrics["test_mcc"] > 0.7
    assert 0.0 < metrics["threshold"] < 1.0
