"""Booster adapters on real LightGBM / XGBoost / CatBoost, small data, few rounds.

One thread per fit unless a test is about threads: the shared 2-core machine makes OpenMP spin
under contention, and one thread is also what makes the reference comparisons bit-stable.
"""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.datasets import make_classification
from sklearn.metrics import average_precision_score, log_loss

from bench import objectives
from bench.boosters import BOOSTERS, LossSpec, StoppingRule, get_adapter

pytestmark = pytest.mark.integration

BOOSTER_NAMES = BOOSTERS.names()

K3_WEIGHTS = [0.6, 0.3, 0.1]


def _frame(X: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])


def _data(n_classes: int, n: int = 1500, seed: int = 0, flip_y: float = 0.02, pos: float = 0.1):
    weights = [1.0 - pos] if n_classes == 2 else K3_WEIGHTS
    X, y = make_classification(
        n,
        8,
        n_informative=5,
        n_redundant=1,
        n_classes=n_classes,
        weights=weights,
        flip_y=flip_y,
        random_state=seed,
    )
    return _frame(X), y


def _neg_logloss(y: np.ndarray, proba: np.ndarray) -> float:
    return -log_loss(y, proba, labels=np.arange(proba.shape[1]))


def _fit(booster: str, X, y, loss: LossSpec, n_classes: int = 2, rounds: int = 20, **kw):
    kw.setdefault("params", {"learning_rate": 0.2})
    kw.setdefault("n_threads", 1)
    return get_adapter(booster).fit(X, y, n_classes=n_classes, loss=loss, rounds=rounds, **kw)


FOCAL0 = LossSpec("focal", alpha=None, gamma=0.0, hessian="exact")


@pytest.mark.parametrize(
    ("booster", "n_classes"),
    [(b, k) for b in ("lightgbm", "xgboost", "catboost") for k in (2, 3)],
)
def test_focal_gamma0_through_callable_reproduces_native_objective(booster, n_classes):
    """gamma = 0, no alpha, 50 rounds: the custom objective is the native one (CatBoost
    multiclass through its full Hessian)."""
    X, y = _data(n_classes, n=400 if (booster, n_classes) == ("catboost", 3) else 1500)
    native = _fit(booster, X, y, LossSpec("ce"), n_classes, rounds=50).predict_proba(X)
    custom = _fit(booster, X, y, FOCAL0, n_classes, rounds=50).predict_proba(X)
    assert np.abs(custom - native).max() <= 1e-6
    assert np.ptp(native[:, -1]) > 0.1  # the models did learn something


def test_catboost_native_focal_matches_python_focal():
    X, y = _data(2)
    for alpha, gamma in [(0.25, 2.0), (0.7, 1.0)]:
        probas = [
            _fit(
                "catboost",
                X,
                y,
                LossSpec("focal", alpha=alpha, gamma=gamma, hessian="exact", implementation=impl),
            ).predict_proba(X)
            for impl in ("native", "python")
        ]
        assert np.abs(probas[0] - probas[1]).max() <= 1e-5


@pytest.mark.parametrize("booster", BOOSTER_NAMES)
def test_focal_with_rare_positives_learns_and_keeps_its_start(booster):
    X, y = _data(2, n=5000, seed=3, pos=0.03, flip_y=0.0)
    Xtr, ytr, Xte, yte = X.iloc[:3000], y[:3000], X.iloc[3000:], y[3000:]
    loss = LossSpec("focal", alpha=None, gamma=2.0, hessian=objectives.DEFAULT_HESSIAN_GUARD)
    model = _fit(booster, Xtr, ytr, loss, rounds=50, params={"learning_rate": 0.1})
    p = model.predict_proba(Xte)[:, 1]
    assert np.ptp(p) > 0.1  # trees were grown: the predictions are not constant
    assert average_precision_score(yte, p) > 3 * yte.mean()  # a constant scores the base rate
    # With an almost-zero learning rate the model is its start: the focal-optimal constant.
    tiny = _fit(booster, Xtr, ytr, loss, rounds=1, params={"learning_rate": 1e-6})
    start = objectives.focal_start(ytr, 2, alpha=None, gamma=2.0)
    assert start < -1.0  # far from margin 0 (p = 0.5), so dropping the start would show
    np.testing.assert_allclose(tiny.predict_proba(Xte)[:, 1], expit(start), rtol=1e-3)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("strategy", ["ce", "weighted", "focal"])
@pytest.mark.parametrize("booster", BOOSTER_NAMES)
def test_every_strategy_returns_probabilities(booster, strategy, n_classes):
    slow = booster == "catboost" and strategy == "focal" and n_classes == 3  # per-row objective
    X, y = _data(n_classes, n=300 if slow else 800)
    loss = {
        "ce": LossSpec("ce"),
        "weighted": LossSpec("weighted", class_weights=tuple(range(1, n_classes + 1))),
        "focal": LossSpec(
            "focal", alpha=0.25 if n_classes == 2 else (1.0, 2.0, 3.0), gamma=2.0, hessian="clip"
        ),
    }[strategy]
    model = _fit(booster, X, y, loss, n_classes, rounds=10)
    proba = model.predict_proba(X.iloc[:50])
    assert proba.shape == (50, n_classes)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    assert model.best_iteration == 10  # no validation set: exactly `rounds` rounds


@pytest.mark.parametrize(
    ("booster", "strategy", "n_classes"),
    [(b, s, 2) for b in BOOSTER_NAMES for s in ("ce", "focal")]
    + [("lightgbm", "focal", 3), ("xgboost", "focal", 3), ("catboost", "ce", 3)],
)
def test_early_stopping_keeps_the_best_round_on_probabilities(booster, strategy, n_classes):
    X, y = _data(n_classes, n=1200, flip_y=0.3, seed=1)  # noisy labels: fast trees overfit
    Xtr, ytr, Xv, yv = X.iloc[:800], y[:800], X.iloc[800:], y[800:]
    scores: list[float] = []

    def metric(yt: np.ndarray, proba: np.ndarray) -> float:
        assert proba.shape == (len(yt), n_classes)
        value = _neg_logloss(yt, proba)
        if len(yt) == len(yv):  # CatBoost also scores its eval_metric on the learn set
            scores.append(value)
        return value

    loss = LossSpec("ce") if strategy == "ce" else LossSpec("focal", gamma=1.0)
    rounds = 200
    model = _fit(
        booster,
        Xtr,
        ytr,
        loss,
        n_classes,
        rounds=rounds,
        params={"learning_rate": 0.5},
        valid=(Xv, yv),
        stopping=StoppingRule(metric, "neg_logloss", patience=5),
    )
    assert model.best_iteration < rounds
    assert model.best_iteration == int(np.argmax(scores)) + 1
    # predict uses the kept rounds, start included: it scores exactly the best value seen
    assert _neg_logloss(yv, model.predict_proba(Xv)) == pytest.approx(max(scores), abs=1e-6)


@pytest.mark.parametrize("booster", BOOSTER_NAMES)
def test_same_seed_gives_identical_probabilities(booster):
    X, y = _data(2, n=800)
    row_sampling = {
        "lightgbm": {"bagging_fraction": 0.7, "feature_fraction": 0.7},
        "xgboost": {"subsample": 0.7, "colsample_bytree": 0.7},
        "catboost": {"subsample": 0.7, "rsm": 0.7},
    }[booster]
    loss = LossSpec("focal", alpha=0.25, gamma=2.0, hessian="clip")

    def fit(seed: int) -> np.ndarray:
        return _fit(booster, X, y, loss, params=row_sampling, seed=seed, n_threads=2).predict_proba(
            X
        )

    first = fit(7)
    np.testing.assert_array_equal(first, fit(7))
    assert not np.array_equal(first, fit(8))  # the seed does reach the sampling


def _categorical_frame(n: int = 1000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue"], size=n).astype(object)
    colour[rng.random(n) < 0.1] = np.nan
    x = rng.normal(size=n)
    x[rng.random(n) < 0.1] = np.nan
    logit = np.where(colour == "red", 1.5, -2.0) + np.nan_to_num(x)
    y = (rng.random(n) < expit(logit)).astype(int)
    X = pd.DataFrame({"colour": pd.Categorical(colour), "x": x, "z": rng.normal(size=n)})
    return X, y


@pytest.mark.parametrize("strategy", ["ce", "focal"])
@pytest.mark.parametrize("booster", BOOSTER_NAMES)
def test_categorical_columns_and_nan(booster, strategy):
    X, y = _categorical_frame()
    loss = LossSpec("ce") if strategy == "ce" else LossSpec("focal", alpha=0.5, gamma=2.0)
    model = _fit(booster, X, y, loss, rounds=30, params={"learning_rate": 0.2})
    proba = model.predict_proba(X)
    assert np.isfinite(proba).all()
    red = (X["colour"] == "red").to_numpy()
    assert proba[red, 1].mean() > proba[~red, 1].mean() + 0.2  # the category is used
    # a frame with only some of the categories present and NaN everywhere still predicts
    sub = X.iloc[:5].copy()
    sub["x"] = np.nan
    assert np.isfinite(model.predict_proba(sub)).all()


@pytest.mark.parametrize("booster", BOOSTER_NAMES)
def test_heavier_minority_weight_raises_minority_probability(booster):
    X, y = _data(2, n=800)
    means = [
        _fit(booster, X, y, LossSpec("weighted", class_weights=(1.0, w)))
        .predict_proba(X)[:, 1]
        .mean()
        for w in (1.0, 10.0)
    ]
    assert means[1] > 1.2 * means[0]


@pytest.mark.parametrize("booster", BOOSTER_NAMES)
def test_suggested_params_are_deterministic_and_trainable(booster):
    adapter = get_adapter(booster)

    def suggest(seed: int) -> dict:
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        return adapter.suggest_params(study.ask())

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    params = suggest(0)
    assert params == suggest(0)
    assert params != suggest(1)
    X, y = _data(2, n=400)
    model = _fit(booster, X, y, LossSpec("ce"), rounds=5, params=params)
    assert model.predict_proba(X).shape == (400, 2)


def test_unknown_booster_is_named():
    with pytest.raises(ValueError, match=r"'lgbm'.*lightgbm, xgboost, catboost"):
        get_adapter("lgbm")


@pytest.mark.parametrize("alpha, gamma", [(0.25, 0.0), (None, 2.0), (1.0, 2.0)])
def test_catboost_native_focal_rejects_what_catboost_cannot_train(alpha, gamma):
    X, y = _data(2, n=200)
    loss = LossSpec("focal", alpha=alpha, gamma=gamma, implementation="native")
    with pytest.raises(ValueError, match="native Focal"):
        _fit("catboost", X, y, loss, rounds=2)


@pytest.mark.parametrize("booster", BOOSTER_NAMES)
def test_bad_arguments_are_rejected_by_name(booster):
    X, y = _data(2, n=200)
    with pytest.raises(ValueError, match="objective|loss_function"):
        key = {"lightgbm": "objective", "xgboost": "objective", "catboost": "loss_function"}
        _fit(booster, X, y, LossSpec("ce"), params={key[booster]: "x"})
    with pytest.raises(ValueError, match="class_weights"):
        _fit(booster, X, y, LossSpec("weighted"))
    with pytest.raises(ValueError, match="labels outside"):
        _fit(booster, X, y + 1, LossSpec("ce"))
    with pytest.raises(ValueError, match=r"class\(es\) \[1\] never occur"):
        _fit(booster, X, np.zeros_like(y), LossSpec("weighted", class_weights=(1.0, 2.0)))
    with pytest.raises(ValueError, match="together"):
        _fit(booster, X, y, LossSpec("ce"), valid=(X, y))


@pytest.mark.parametrize("booster", BOOSTER_NAMES)
def test_training_prints_nothing(booster, capfd):
    X, y = _categorical_frame(n=300)
    Xv, yv = _categorical_frame(n=200, seed=1)
    stopping = StoppingRule(_neg_logloss, "neg_logloss", patience=3)
    for loss in (LossSpec("ce"), LossSpec("focal", alpha=0.25, gamma=2.0)):
        _fit(booster, X, y, loss, rounds=10, valid=(Xv, yv), stopping=stopping).predict_proba(Xv)
    out, _ = capfd.readouterr()
    assert out == ""  # the libraries' C++ loggers write straight to the stdout file descriptor


def test_catboost_multiclass_native_strategies_accept_tuned_subsampling():
    """Regression: CatBoost's default MultiClass bootstrap (Bayesian) rejects `subsample`."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(150, 4)), columns=list("abcd"))
    y = rng.integers(0, 3, 150)
    adapter = get_adapter("catboost")
    params = adapter.suggest_params(optuna.trial.FixedTrial(
        {"learning_rate": 0.1, "depth": 3, "l2_leaf_reg": 1.0, "subsample": 0.7, "rsm": 0.9,
         "random_strength": 1.0}
    ))  # fmt: skip
    for loss in (LossSpec("ce"), LossSpec("weighted", class_weights=(1.0, 2.0, 3.0))):
        proba = adapter.fit(X, y, n_classes=3, params=params, loss=loss, rounds=5).predict_proba(X)
        assert proba.shape == (150, 3) and np.allclose(proba.sum(axis=1), 1)


@pytest.mark.parametrize("booster", BOOSTER_NAMES)
def test_native_and_focal_gamma0_share_one_random_stream_with_subsampling(booster):
    """Column and row subsampling draw the same columns and rows for a native and a custom
    objective (LightGBM's callable objective used to shift its column sampler by one draw)."""
    X, y = _data(2, n=600, seed=4)
    sub = {
        "lightgbm": {"feature_fraction": 0.6, "bagging_fraction": 0.8},
        "xgboost": {"colsample_bytree": 0.6, "subsample": 0.8},
        "catboost": {"rsm": 0.6, "subsample": 0.8},
    }[booster]
    params = {"learning_rate": 0.2, **sub}
    native = _fit(booster, X, y, LossSpec("ce"), rounds=30, params=params).predict_proba(X)
    custom = _fit(booster, X, y, FOCAL0, rounds=30, params=params).predict_proba(X)
    assert np.abs(custom - native).max() <= 1e-6


def test_lightgbm_leaf_minimum_too_large_for_the_data_trains_a_constant_for_every_loss():
    X, y = _data(2, n=60, seed=5)
    params = {"min_data_in_leaf": 40}  # no split can leave 40 rows on each side of 60
    for loss in (LossSpec("ce"), FOCAL0):
        proba = _fit("lightgbm", X, y, loss, rounds=5, params=params).predict_proba(X)
        assert np.ptp(proba[:, 1]) < 1e-12
