"""The scikit-learn classifiers of bench.focal: scikit-learn's own estimator checks, labels of
any type, DataFrames, model selection, early stopping, pickling and bad input.

Small data, few rounds, one thread per fit (the shared machine; also what keeps results
bit-stable).
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from bench.boosters import LossSpec, get_adapter
from bench.focal import FocalCatBoostClassifier, FocalLGBMClassifier, FocalXGBClassifier

pytestmark = pytest.mark.integration

CLASSIFIERS = [FocalLGBMClassifier, FocalXGBClassifier, FocalCatBoostClassifier]
BOOSTER = {FocalLGBMClassifier: "lightgbm", FocalXGBClassifier: "xgboost",
           FocalCatBoostClassifier: "catboost"}  # fmt: skip


def _small(cls, **kw):
    kw.setdefault("n_estimators", 10)
    kw.setdefault("learning_rate", 0.3)
    kw.setdefault("n_jobs", 1)
    kw.setdefault("random_state", 0)
    return cls(**kw)


def _data(n_classes: int, n: int = 240, seed: int = 0):
    X, y = make_classification(
        n,
        5,
        n_informative=3,
        n_redundant=1,
        n_classes=n_classes,
        weights=[0.8] if n_classes == 2 else [0.5, 0.3, 0.2],
        random_state=seed,
    )
    return X, y


# scikit-learn's estimator checks, focal loss (the custom-objective path), 5 rounds each.
# Every check runs; none is expected to fail, so there is nothing to skip:
# - the booster libraries handle NaN, so the classifiers declare allow_nan (scikit-learn then
#   checks that NaN is accepted instead of refused; inf is still refused);
# - fit has no sample_weight (class weights come from loss="weighted"), so scikit-learn's
#   sample-weight checks do not apply;
# - check_array_api_input skips itself unless SCIPY_ARRAY_API is set (boosters take numpy).
@parametrize_with_checks(
    [_small(cls, n_estimators=5) for cls in CLASSIFIERS],
    expected_failed_checks=lambda estimator: {},
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("loss", ["ce", "weighted", "focal"])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_probabilities_with_string_labels(cls, n_classes, loss):
    X, y = _data(n_classes, n=150 if cls is FocalCatBoostClassifier else 240)
    names = np.array(["setosa", "versicolor", "virginica"])[:n_classes]
    labels = names[::-1][y]  # not in sorted order
    clf = _small(cls, loss=loss).fit(X, labels)
    assert list(clf.classes_) == sorted(names)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), n_classes)
    assert proba.min() >= 0.0 and proba.max() <= 1.0
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    pred = clf.predict(X)
    assert set(pred) <= set(names)
    assert (pred == labels).mean() > 0.7


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_same_model_as_the_sweep_adapter(cls):
    """The classifier trains exactly what the sweep's adapter trains for the same loss."""
    X, y = _data(2)
    clf = _small(cls, loss="focal", gamma=1.0, alpha=0.3, loss_scale="none").fit(X, y)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    model = get_adapter(BOOSTER[cls]).fit(
        frame,
        y,
        n_classes=2,
        params={"learning_rate": 0.3},
        loss=LossSpec("focal", alpha=0.3, gamma=1.0, hessian=clf.hessian),
        rounds=10,
        seed=_seed(clf),
        n_threads=1,
    )
    np.testing.assert_array_equal(clf.predict_proba(X), model.predict_proba(frame))


def _seed(clf) -> int:
    return int(np.random.RandomState(clf.random_state).randint(np.iinfo(np.int32).max))


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_dataframe_with_categories_text_and_missing_values(cls):
    X, y = _data(2)
    rng = np.random.default_rng(0)
    df = pd.DataFrame(X, columns=["a b", "c[0]", "d<1", "e", "f"])  # names boosters dislike
    df["colour"] = pd.Categorical(rng.choice(["red", "green", "blue"], len(df)))
    df["city"] = rng.choice(["Oslo", "Lima"], len(df))  # text: read as a category
    df.loc[::7, "e"] = np.nan
    clf = _small(cls).fit(df, y)
    assert list(clf.feature_names_in_) == list(df.columns)
    proba = clf.predict_proba(df)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    shuffled_categories = df.assign(
        colour=df["colour"].cat.reorder_categories(["red", "blue", "green"])
    )
    np.testing.assert_allclose(clf.predict_proba(shuffled_categories), proba)
    unseen = df.iloc[:5].assign(city="Quito")  # a category not seen in fit: missing
    assert np.isfinite(clf.predict_proba(unseen)).all()
    with pytest.raises(ValueError, match="feature names"):
        clf.predict_proba(df.rename(columns={"e": "E"}))


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_early_stopping_on_eval_set_and_validation_fraction(cls):
    X, y = _data(2, n=400, seed=1)
    kw = {"n_estimators": 300, "learning_rate": 0.5, "early_stopping_rounds": 5}
    clf = _small(cls, eval_metric="average_precision", **kw)
    clf.fit(X[:300], y[:300], eval_set=(X[300:], y[300:]))
    assert 1 <= clf.best_iteration_ < 300
    held = _small(cls, validation_fraction=0.25, eval_metric="focal_loss", **kw).fit(X, y)
    assert 1 <= held.best_iteration_ < 300
    seen = []

    def metric(y_true, proba):
        seen.append(set(np.unique(y_true)))
        return -float(np.mean((proba[:, 1] - (y_true == "b")) ** 2))

    labels = np.array(["a", "b"])[y]
    _small(cls, eval_metric=metric, **kw).fit(
        X[:300], labels[:300], eval_set=[(X[300:], labels[300:])]
    )
    assert seen and seen[0] == {"a", "b"}  # the user's metric sees the original labels


def test_threshold_moves_binary_predictions_without_refit():
    X, y = _data(2)
    clf = _small(FocalLGBMClassifier).fit(X, y)
    p = clf.predict_proba(X)[:, 1]
    for t in (0.1, 0.5, 0.9):
        clf.set_params(threshold=t)
        np.testing.assert_array_equal(clf.predict(X), (p > t).astype(int))
    with pytest.raises(ValueError, match=r"^threshold:"):
        clf.set_params(threshold=1.5).predict(X)


def test_pipeline_grid_search_and_cross_val_score():
    X, y = _data(2)
    labels = np.array(["no", "yes"])[y]
    pipe = make_pipeline(StandardScaler(), _small(FocalXGBClassifier))
    grid = GridSearchCV(
        pipe,
        {"focalxgbclassifier__gamma": [0.0, 2.0], "focalxgbclassifier__loss": ["focal", "ce"]},
        cv=3,
        scoring="neg_log_loss",
    ).fit(X, labels)
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()
    assert set(grid.best_params_) == {"focalxgbclassifier__gamma", "focalxgbclassifier__loss"}
    assert grid.predict(X[:5]).dtype.kind == "U"
    scores = cross_val_score(
        _small(FocalLGBMClassifier, validation_fraction=0.2), X, labels, cv=3, scoring="roc_auc"
    )
    assert scores.min() > 0.7


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_fitted_classifier_pickles(cls):
    X, y = _data(3, n=150)
    clf = _small(cls, validation_fraction=0.3, eval_metric="roc_auc").fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))


def test_focal_gamma0_classifier_is_the_ce_classifier():
    X, y = _data(3)
    ce = _small(FocalLGBMClassifier, loss="ce").fit(X, y).predict_proba(X)
    focal0 = _small(FocalLGBMClassifier, loss="focal", gamma=0.0, hessian="exact")
    np.testing.assert_allclose(focal0.fit(X, y).predict_proba(X), ce, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"alpha": 1.2}, "alpha"),
        ({"alpha": -0.1}, "alpha"),
        ({"alpha": (0.2, 0.3, 0.5)}, "alpha"),  # three weights for a binary target
        ({"gamma": -0.5}, "gamma"),
        ({"hessian": "diag"}, "hessian"),
        ({"loss": "hinge"}, "loss"),
        ({"n_estimators": 0}, "n_estimators"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"threshold": -0.1}, "threshold"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"eval_metric": "accuracy"}, "eval_metric"),
        ({"params": {"learning_rate": 0.1}}, "params"),
        ({"loss_scale": "auto"}, "loss_scale"),
    ],
)
def test_bad_arguments_raise_value_errors_naming_them(kwargs, name):
    X, y = _data(2, n=60)
    with pytest.raises(ValueError, match=rf"^{name}:"):
        _small(FocalLGBMClassifier, **kwargs).fit(X, y)


def test_one_class_eval_set_labels_and_unfitted_use_are_refused():
    X, y = _data(2, n=60)
    with pytest.raises(ValueError, match=r"^y: needs at least two classes"):
        _small(FocalLGBMClassifier).fit(X, np.full(len(X), "only"))
    with pytest.raises(ValueError, match=r"^eval_set: labels \['c'\]"):
        _small(FocalLGBMClassifier).fit(X, np.array(["a", "b"])[y], eval_set=(X, np.full(60, "c")))
    for method in ("predict_proba", "predict"):
        with pytest.raises(NotFittedError):
            getattr(_small(FocalCatBoostClassifier), method)(X)
