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


def _label_cases(n_classes: int, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """Random decisions, plus folds where a class is absent from the truth, from the
    decisions, or from both, and degenerate constant decisions."""
    cases = [tuple(rng.integers(0, n_classes, size=(2, 60))) for _ in range(20)]
    y0 = rng.integers(0, n_classes, 60)
    cases += [(y0, np.zeros(60, int)), (y0, y0), (np.r_[np.zeros(59, int), 1], np.zeros(60, int))]
    for gone in range(n_classes):
        keep = [c for c in range(n_classes) if c != gone]
        y = rng.choice(keep, 60)
        cases.append((y, rng.integers(0, n_classes, 60)))  # absent from the truth only
        cases.append((rng.integers(0, n_classes, 60), rng.choice(keep, 60)))  # from decisions
        cases.append((y, rng.choice(keep, 60)))  # from both
    return cases


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_thresholded_metrics_equal_sklearn_and_imblearn(n_classes):
    """Library defaults: binary of class 1; multiclass macro over the labels present in the
    truth or the decisions (scikit-learn), G-mean as imbalanced-learn's."""
    import warnings

    from imblearn.metrics import geometric_mean_score
    from sklearn.metrics import (
        balanced_accuracy_score,
        precision_score,
        recall_score,
    )

    rng = np.random.default_rng(n_classes)
    avg = "binary" if n_classes == 2 else "macro"
    for y, pred in _label_cases(n_classes, rng):
        got = metrics.thresholded_metrics(y, pred, n_classes)
        kw = {"average": avg, "zero_division": 0}
        if n_classes == 2:
            kw["labels"] = [0, 1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = {
                "f1": f1_score(y, pred, **kw),
                "precision": precision_score(y, pred, **kw),
                "recall": recall_score(y, pred, **kw),
                "mcc": matthews_corrcoef(y, pred),
                "balanced_accuracy": balanced_accuracy_score(y, pred),
                "gmean": geometric_mean_score(
                    y, pred, average="binary" if n_classes == 2 else "multiclass"
                ),
            }
        for name, value in expected.items():
            assert got[name] == pytest.approx(value, abs=1e-12), (name, y, pred)


def test_absent_class_example_from_the_issue():
    """Class 1 of 3 absent from both truth and decisions: it does not count (was F1 0.444)."""
    y = np.array([0, 0, 0, 2, 2, 2])
    pred = np.array([0, 0, 2, 2, 0, 2])
    got = metrics.thresholded_metrics(y, pred, 3)
    assert got["f1"] == pytest.approx(2 / 3) and got["gmean"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("n_classes", [2, 3, 4])
def test_brier_is_sklearns_scaled_by_half_for_every_k(n_classes):
    from sklearn.metrics import brier_score_loss

    rng = np.random.default_rng(10 + n_classes)
    for absent in (None, 1):
        y = rng.integers(0, n_classes, 80)
        if absent is not None:
            y[y == absent] = 0
        p = rng.dirichlet(np.ones(n_classes), size=80)
        want = brier_score_loss(y, p, labels=list(range(n_classes)), scale_by_half=True)
        if n_classes == 2:
            want = brier_score_loss(y, p[:, 1], scale_by_half=True)
        assert metrics.brier(y, p) == pytest.approx(want, abs=1e-12)
        assert metrics.fast_brier(y, p) == pytest.approx(want, abs=1e-12)


def _ece_one_class(hit: np.ndarray, conf: np.ndarray, n_bins: int = 15) -> float:
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        inside = (conf >= lo) & ((conf < hi) if b < n_bins - 1 else (conf <= hi))
        total += abs(hit[inside].sum() - conf[inside].sum())
    return total / len(hit)


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_ece_is_the_classwise_mean_for_every_k(n_classes):
    rng = np.random.default_rng(20 + n_classes)
    y = rng.integers(0, n_classes, 300)
    p = rng.dirichlet(np.ones(n_classes), size=300)
    want = np.mean([_ece_one_class((y == k).astype(float), p[:, k]) for k in range(n_classes)])
    assert metrics.expected_calibration_error(y, p) == pytest.approx(want, abs=1e-12)
    if n_classes == 2:  # binary: equal to the positive class's ECE
        assert want == pytest.approx(_ece_one_class((y == 1).astype(float), p[:, 1]), abs=1e-12)


@pytest.mark.parametrize("counts", [[90, 10], [40, 25, 10], [50, 50]])
def test_prior_metrics_are_what_the_constant_prior_scores_on_a_fold(counts):
    """The bundle of the constant class-prior predictor on a stratified outer fold, with the
    threshold chosen on its (constant) inner predictions, equals prior_metrics."""
    folds = 5
    pi = np.array(counts, float) / sum(counts)
    y_test = np.repeat(np.arange(len(counts)), np.array(counts) // folds)
    y_inner = np.repeat(np.arange(len(counts)), np.array(counts) - np.array(counts) // folds)
    const = np.tile(pi, (len(y_test), 1))
    threshold = metrics.choose_threshold(y_inner, np.tile(pi, (len(y_inner), 1)))
    want = metrics.metric_bundle(y_test, const, threshold)
    want.update(metrics.calibrated_metrics(y_inner, np.tile(pi, (len(y_inner), 1)), y_test, const))
    got = metrics.prior_metrics(counts, folds)
    assert set(got) == set(want)
    for name, value in want.items():
        assert got[name] == pytest.approx(value, abs=1e-4), name
