"""The metric bundle and the threshold choice against scikit-learn and brute force."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, matthews_corrcoef

from bench import metrics

pytestmark = pytest.mark.unit


def _binary(n=400, rate=0.1, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < rate).astype(int)
    s = np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1)
    if ties:
        s = np.round(s, 1)
    return y, np.c_[1 - s, s]


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_fast_average_precision_equals_sklearn(seed, ties):
    y, p = _binary(seed=seed, ties=ties)
    assert metrics.fast_average_precision(y, p) == pytest.approx(
        average_precision_score(y, p[:, 1]), abs=1e-12
    )


def test_fast_average_precision_multiclass_is_macro():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    p = rng.dirichlet([1, 1, 1], size=300)
    expected = np.mean([average_precision_score(y == k, p[:, k]) for k in range(3)])
    assert metrics.fast_average_precision(y, p) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("objective", ["f1", "mcc"])
@pytest.mark.parametrize("ties", [False, True])
def test_choose_threshold_is_the_brute_force_optimum(objective, ties):
    y, p = _binary(seed=4, ties=ties)
    t = metrics.choose_threshold(y, p, objective)
    score = f1_score if objective == "f1" else matthews_corrcoef
    best = max(score(y, (p[:, 1] >= c).astype(int)) for c in np.unique(p[:, 1]))
    assert score(y, (p[:, 1] >= t).astype(int)) == pytest.approx(best)
    assert 0 <= t <= 1


def test_threshold_free_and_thresholded_bundle_is_complete_and_sane():
    y, p = _binary()
    out = metrics.metric_bundle(y, p, threshold=0.4)
    for name in metrics.THRESHOLD_FREE:
        assert np.isfinite(out[name])
    for name in metrics.THRESHOLDED:
        assert 0 <= out[name + "_t050"] <= 1 or name == "mcc"
        assert name + "_tuned" in out
    perfect = metrics.metric_bundle(y, np.c_[1 - y, y].astype(float), 0.5)
    assert perfect["average_precision"] == 1 and perfect["f1_t050"] == 1
    assert perfect["ece"] == 0 and perfect["brier"] == 0


def test_ece_of_a_calibrated_constant_is_zero_and_of_a_wrong_one_is_the_gap():
    y = np.array([0] * 90 + [1] * 10)
    calibrated = np.tile([0.9, 0.1], (100, 1))
    wrong = np.tile([0.5, 0.5], (100, 1))
    assert metrics.expected_calibration_error(y, calibrated) == pytest.approx(0)
    assert metrics.expected_calibration_error(y, wrong) == pytest.approx(0.4)


def test_multiclass_bundle_uses_macro_averages_and_argmax():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 200)
    p = rng.dirichlet([1, 1, 1], size=200)
    out = metrics.metric_bundle(y, p, threshold=0.9)
    assert out["f1_t050"] == out["f1_tuned"]  # the threshold is unused for multiclass
    assert out["f1_t050"] == pytest.approx(f1_score(y, p.argmax(1), average="macro"))


def test_score_function_is_higher_is_better_for_every_target():
    y, p = _binary()
    good = np.c_[1 - y, y] * 0.9 + 0.05
    for target in metrics.TARGETS:
        f = metrics.score_function(target)
        assert f(y, good) > f(y, p), target
    with pytest.raises(ValueError, match="target"):
        metrics.score_function("accuracy")


def test_bad_probabilities_raise():
    with pytest.raises(ValueError, match="proba"):
        metrics.metric_bundle(np.array([0, 1]), np.array([[0.5, np.nan], [0.5, 0.5]]), 0.5)


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_thresholded_metrics_equal_sklearn_and_imblearn(n_classes):
    from imblearn.metrics import geometric_mean_score
    from sklearn.metrics import (
        balanced_accuracy_score,
        precision_score,
        recall_score,
    )

    rng = np.random.default_rng(n_classes)
    avg = "binary" if n_classes == 2 else "macro"
    labels = list(range(n_classes))
    cases = [rng.integers(0, n_classes, size=(2, 60)) for _ in range(20)]
    y0 = rng.integers(0, n_classes, 60)
    cases += [(y0, np.zeros(60, int)), (y0, y0), (np.r_[np.zeros(59, int), 1], np.zeros(60, int))]
    for y, pred in cases:
        got = metrics.thresholded_metrics(y, pred, n_classes)
        kw = {"average": avg, "labels": labels, "zero_division": 0}
        expected = {
            "f1": f1_score(y, pred, **kw),
            "precision": precision_score(y, pred, **kw),
            "recall": recall_score(y, pred, **kw),
            "mcc": matthews_corrcoef(y, pred),
            "balanced_accuracy": balanced_accuracy_score(y, pred),
            "gmean": geometric_mean_score(
                y, pred, average="binary" if n_classes == 2 else "multiclass", labels=labels
            ),
        }
        for name, value in expected.items():
            assert got[name] == pytest.approx(value, abs=1e-12), (name, y, pred)
