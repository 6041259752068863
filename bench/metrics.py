"""The metric bundle, computed from class probabilities (n, K) and integer labels.

Threshold-free metrics judge the ranking and the calibration of the probabilities; the
thresholded ones are reported twice: at the fixed 0.5 threshold and at the threshold chosen
on inner validation predictions (``choose_threshold``). Multiclass uses macro averages and
argmax decisions. Everything here is pure numpy / scikit-learn / imbalanced-learn.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

THRESHOLD_FREE = ("average_precision", "roc_auc", "log_loss", "brier", "ece")
THRESHOLDED = ("f1", "mcc", "balanced_accuracy", "gmean", "precision", "recall")
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "ece", "log_loss_cal", "brier_cal", "ece_cal"})
TARGETS = ("average_precision", "roc_auc", "log_loss", "brier")  # tuning targets (see below)
# Refused as a tuning target: a constant prior scores an ECE of about 0, so early stopping on it
# ends after a round or two.
REFUSED_TARGETS = {
    "ece": "a constant class prior scores an ECE of about 0, so early stopping "
    "on ECE ends after a round or two; tune on average_precision or log_loss"
}
# Probability metrics after recalibration (``calibrated_metrics``): reweighted losses move the
# raw probabilities by design, so calibration is compared after a fitted monotone map.
CALIBRATED = ("log_loss_cal", "brier_cal", "ece_cal")
THRESHOLD_OBJECTIVES = ("f1", "mcc")
ECE_BINS = 15


def _check(y: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] < 2:
        raise ValueError(f"proba must have shape (n, K>=2), got {proba.shape}")
    if y.shape != (proba.shape[0],):
        raise ValueError(f"y has shape {y.shape}, proba has {proba.shape[0]} rows")
    if not np.isfinite(proba).all():
        raise ValueError("proba holds non-finite values")
    return y.astype(np.int64), proba


def expected_calibration_error(y: np.ndarray, proba: np.ndarray, n_bins: int = ECE_BINS) -> float:
    """Classwise ECE (Kull et al. 2019), one definition for every number of classes: for each
    class k, the equal-width-binned ECE of P(class k) against 1[y = k]; then the mean over the
    K classes. For binary data both classes give the ECE of P(class 1) (the bins mirror), so
    binary values equal the usual positive-class ECE.

    Hand-written because scikit-learn has calibration_curve but no ECE; 15 bins as in
    Guo et al. 2017.
    """
    y, proba = _check(y, proba)
    n, k = proba.shape
    if n == 0:
        return 0.0
    hit = np.eye(k)[y]
    bins = np.minimum((proba * n_bins).astype(np.int64), n_bins - 1)
    keys = (bins + n_bins * np.arange(k)[None, :]).ravel()  # one bin set per class
    gap = np.abs(
        np.bincount(keys, weights=hit.ravel(), minlength=n_bins * k)
        - np.bincount(keys, weights=proba.ravel(), minlength=n_bins * k)
    )
    return float(gap.sum() / (n * k))


def brier(y: np.ndarray, proba: np.ndarray) -> float:
    """Half the multiclass Brier score, one definition for every number of classes:
    mean over rows of sum_k (p_k - 1[y = k])^2 / 2, in [0, 1]. For binary data it equals the
    usual mean (p1 - y)^2; scikit-learn's ``brier_score_loss(..., scale_by_half=True)``."""
    y, proba = _check(y, proba)
    onehot = np.eye(proba.shape[1])[y]
    return float(np.mean(np.sum((proba - onehot) ** 2, axis=1)) / 2.0)


def threshold_free_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    # Imported here: scikit-learn costs ~1 s to import, and processes that only need the
    # metric names (the sweep's parent, the report, the CLI) should not pay for it.
    from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

    y, proba = _check(y, proba)
    k = proba.shape[1]
    labels = np.arange(k)
    if k == 2:
        ap = average_precision_score(y, proba[:, 1])
        auc = roc_auc_score(y, proba[:, 1]) if len(np.unique(y)) == 2 else float("nan")
    else:
        present = np.unique(y)
        onehot = np.eye(k)[y][:, present]
        ap = average_precision_score(onehot, proba[:, present], average="macro")
        auc = (
            roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=labels)
            if len(present) == k
            else float("nan")
        )
    return {
        "average_precision": float(ap),
        "roc_auc": float(auc),
        "log_loss": float(log_loss(y, np.clip(proba, 1e-15, 1.0), labels=labels)),
        "brier": brier(y, proba),
        "ece": expected_calibration_error(y, proba),
    }


def decide(proba: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Class decisions: binary P(1) >= threshold; multiclass argmax (threshold unused)."""
    proba = np.asarray(proba)
    if proba.shape[1] == 2:
        return (proba[:, 1] >= threshold).astype(np.int64)
    return proba.argmax(axis=1)


def thresholded_metrics(y: np.ndarray, pred: np.ndarray, n_classes: int) -> dict[str, float]:
    """F1, MCC, balanced accuracy, G-mean, precision and recall of class decisions.

    All six come from one confusion matrix (counted with bincount: scikit-learn's
    confusion_matrix validates its input for ~1 ms a call); see :func:`confusion_metrics`.
    """
    y, pred = np.asarray(y, dtype=np.int64), np.asarray(pred, dtype=np.int64)
    counts = np.bincount(y * n_classes + pred, minlength=n_classes * n_classes)
    return confusion_metrics(counts.reshape(n_classes, n_classes))


def confusion_metrics(cm: np.ndarray) -> dict[str, float]:
    """The thresholded metrics of a confusion matrix (rows: truth, columns: decision).

    They equal the libraries' functions with their default labels (tested): binary, of class
    1 (scikit-learn's ``average="binary"``; G-mean sqrt(sensitivity * specificity) as
    imbalanced-learn's); multiclass, macro averages over the labels present in the truth or
    the decisions (scikit-learn's default ``labels``: a class absent from both does not
    count), G-mean as imbalanced-learn's ``average="multiclass"`` (geometric mean of the
    recalls of those labels, a recall of 0 where the class has no true rows), balanced
    accuracy over the classes present in the truth. 0 where a ratio has a zero denominator
    (``zero_division=0``). Counts may be fractional (expected counts).
    """
    cm = np.asarray(cm, dtype=np.float64)
    n_classes = cm.shape[0]
    tp = np.diag(cm)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    precision = _ratio(tp, predicted)
    recall = _ratio(tp, support)
    f1 = _ratio(2 * tp, support + predicted)
    n = cm.sum()
    cov_tp = tp.sum() * n - support @ predicted
    den = np.sqrt((n * n - support @ support) * (n * n - predicted @ predicted))
    mcc = cov_tp / den if den > 0 else 0.0
    in_truth = support > 0
    out = {
        "mcc": float(mcc),
        "balanced_accuracy": float(recall[in_truth].mean()) if in_truth.any() else 0.0,
    }
    if n_classes == 2:
        out.update(
            f1=f1[1], precision=precision[1], recall=recall[1], gmean=np.sqrt(recall[0] * recall[1])
        )
    else:
        labels = in_truth | (predicted > 0)
        r = recall[labels]
        out.update(
            f1=f1[labels].mean(),
            precision=precision[labels].mean(),
            recall=r.mean(),
            gmean=float(np.exp(np.mean(np.log(r)))) if np.all(r > 0) else 0.0,
        )
    return {k: float(out[k]) for k in THRESHOLDED}


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den is 0 (scikit-learn's zero_division=0)."""
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def metric_bundle(y: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, float]:
    """Every outer-test metric: threshold-free, then thresholded at 0.5 (``_t050``) and at the
    chosen threshold (``_tuned``)."""
    y, proba = _check(y, proba)
    k = proba.shape[1]
    out = threshold_free_metrics(y, proba)
    for suffix, t in (("_t050", 0.5), ("_tuned", threshold)):
        for name, value in thresholded_metrics(y, decide(proba, t), k).items():
            out[name + suffix] = value
    return out


def choose_threshold(y: np.ndarray, proba: np.ndarray, objective: str = "f1") -> float:
    """The P(class 1) threshold that maximises F1 or MCC on (inner validation) predictions.

    Exact over all distinct scores in O(n log n); the returned value is the midpoint between
    the chosen score and the next lower one, so it generalises rather than sitting on a
    training point. Multiclass decisions are argmax: returns 0.5 (unused).
    """
    if objective not in THRESHOLD_OBJECTIVES:
        raise ValueError(
            f"threshold objective must be one of {THRESHOLD_OBJECTIVES}, got {objective!r}"
        )
    y, proba = _check(y, proba)
    if proba.shape[1] != 2:
        return 0.5
    s = proba[:, 1]
    pos = (y == 1).astype(np.float64)
    n_pos = pos.sum()
    if n_pos == 0 or n_pos == len(y):
        return 0.5
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    tp = np.cumsum(pos[order])
    fp = np.arange(1, len(s) + 1) - tp
    last = np.r_[s_sorted[1:] != s_sorted[:-1], True]  # last row of each group of equal scores
    tp, fp, cut = tp[last], fp[last], s_sorted[last]
    fn = n_pos - tp
    tn = (len(y) - n_pos) - fp
    if objective == "f1":
        score = 2 * tp / np.maximum(2 * tp + fp + fn, 1e-300)
    else:
        den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        score = np.where(den > 0, (tp * tn - fp * fn) / np.where(den > 0, den, 1.0), 0.0)
    i = int(np.argmax(score))
    nxt = cut[i + 1] if i + 1 < len(cut) else 0.0
    return float((cut[i] + nxt) / 2.0)


def fast_average_precision(y: np.ndarray, proba: np.ndarray) -> float:
    """average_precision_score (macro for multiclass), without scikit-learn's per-call
    validation overhead: early stopping calls it every boosting round.
    Equal to scikit-learn's value (tested), ties included."""
    proba = np.asarray(proba)
    if proba.shape[1] == 2:
        return _ap_binary(y == 1, proba[:, 1])
    values = [_ap_binary(y == k, proba[:, k]) for k in range(proba.shape[1]) if (y == k).any()]
    return float(np.mean(values))


def _ap_binary(pos: np.ndarray, s: np.ndarray) -> float:
    n_pos = pos.sum()
    if n_pos == 0:
        return 0.0
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    tp = np.cumsum(pos[order])
    last = np.r_[s_sorted[1:] != s_sorted[:-1], True]
    tp = tp[last]
    ranks = np.flatnonzero(last) + 1
    precision = tp / ranks
    recall_step = np.diff(np.r_[0, tp]) / n_pos
    return float(np.sum(recall_step * precision))


def fast_log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    p = np.clip(np.asarray(proba)[np.arange(len(y)), y], 1e-15, 1.0)
    return float(-np.mean(np.log(p)))


def fast_brier(y: np.ndarray, proba: np.ndarray) -> float:
    """:func:`brier` without the input checks (early stopping calls it every round)."""
    proba = np.asarray(proba)
    if proba.shape[1] == 2:
        return float(np.mean((proba[:, 1] - (y == 1)) ** 2))
    onehot = np.eye(proba.shape[1])[y]
    return float(np.mean(np.sum((proba - onehot) ** 2, axis=1)) / 2.0)


def score_function(target: str) -> Callable[[np.ndarray, np.ndarray], float]:
    """``f(y, proba) -> float`` where higher is better, for the tuning target; used for both
    early stopping and trial scores so they never disagree."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    if target == "average_precision":
        return fast_average_precision
    if target == "log_loss":
        return lambda y, p: -fast_log_loss(y, p)
    if target == "brier":
        return lambda y, p: -fast_brier(y, p)
    return lambda y, p: threshold_free_metrics(y, p)["roc_auc"]


_EPS = 1e-12


def recalibration_map(y: np.ndarray, proba: np.ndarray):
    """Fit a one-parameter-family recalibration on held-out predictions; returns the map.

    Binary: Platt scaling, p' = sigmoid(a * logit(p) + b), fitted by (nearly unregularised)
    logistic regression. Multiclass: temperature scaling, p' = softmax(log(p) / T) (Guo et al.
    2017), T fitted by minimising the log loss. Both are monotone, so rankings (AP, ROC-AUC) are
    unchanged; only calibration moves.
    """
    y, proba = _check(y, proba)
    if proba.shape[1] == 2:
        from sklearn.linear_model import LogisticRegression

        logit = _logit(proba[:, 1])
        if len(np.unique(y)) < 2:
            return lambda p: np.asarray(p, dtype=np.float64)
        model = LogisticRegression(C=1e6, max_iter=1000).fit(logit[:, None], y)

        def platt(p: np.ndarray) -> np.ndarray:
            p1 = model.predict_proba(_logit(np.asarray(p, dtype=np.float64)[:, 1])[:, None])[:, 1]
            return np.column_stack([1.0 - p1, p1])

        return platt
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    logp = np.log(np.clip(proba, _EPS, 1.0))
    rows = np.arange(len(y))

    def nll(log_t: float) -> float:
        return float(-log_softmax(logp / np.exp(log_t), axis=1)[rows, y].mean())

    temperature = float(np.exp(minimize_scalar(nll, bounds=(-4.0, 4.0), method="bounded").x))

    def scale(p: np.ndarray) -> np.ndarray:
        from scipy.special import softmax

        return softmax(
            np.log(np.clip(np.asarray(p, dtype=np.float64), _EPS, 1.0)) / temperature, axis=1
        )

    return scale


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1.0 - _EPS)
    return np.log(p) - np.log1p(-p)


def calibrated_metrics(
    y_fit: np.ndarray, proba_fit: np.ndarray, y_test: np.ndarray, proba_test: np.ndarray
) -> dict[str, float]:
    """Log loss, Brier and ECE of the test predictions after the recalibration map fitted on
    (y_fit, proba_fit) (the best trial's inner validation predictions): ``CALIBRATED`` names."""
    from sklearn.metrics import log_loss

    y_test, proba_test = _check(y_test, proba_test)
    cal = recalibration_map(y_fit, proba_fit)(proba_test)
    labels = np.arange(cal.shape[1])
    return {
        "log_loss_cal": float(log_loss(y_test, np.clip(cal, 1e-15, 1.0), labels=labels)),
        "brier_cal": brier(y_test, cal),
        "ece_cal": expected_calibration_error(y_test, cal),
    }


def prior_metrics(class_counts: np.ndarray | list[float], folds: int) -> dict[str, float]:
    """What the constant class-prior predictor scores on a stratified outer fold: the score
    a failed cell gets in the report (the AutoML Benchmark's rule for failures).

    The predictor outputs the class frequencies of its training part for every row. With
    stratified folds the training and the test parts both hold the dataset's class
    frequencies pi (up to rounding: expected counts n_k / folds are used), so: average
    precision = mean of pi_k over the classes (pi_1 binary), ROC-AUC 0.5, log loss the
    entropy of pi, Brier (1 - sum pi_k^2) / 2, ECE 0; the recalibrated metrics are the same
    (a constant stays the prior). Decisions: at 0.5 (and argmax for multiclass) every row
    gets the majority class; at the tuned threshold a binary constant predictor is cut below
    its one score (``choose_threshold``), so every row is predicted positive.
    """
    counts = np.asarray(class_counts, dtype=np.float64)
    if counts.ndim != 1 or counts.size < 2 or np.any(counts < 0) or counts.sum() <= 0:
        raise ValueError(f"class_counts must be >= 2 non-negative counts, got {class_counts!r}")
    if folds < 2:
        raise ValueError(f"folds must be >= 2, got {folds}")
    k = counts.size
    pi = counts / counts.sum()
    test = counts / folds
    present = pi > 0
    log_loss = float(-np.sum(pi[present] * np.log(pi[present])))
    brier_score = float((1.0 - np.sum(pi**2)) / 2.0)
    out: dict[str, float] = {
        "average_precision": float(pi[1]) if k == 2 else float(np.mean(pi[present])),
        "roc_auc": 0.5,
        "log_loss": log_loss,
        "brier": brier_score,
        "ece": 0.0,
        "log_loss_cal": log_loss,
        "brier_cal": brier_score,
        "ece_cal": 0.0,
    }
    majority = int(pi[1] >= 0.5) if k == 2 else int(np.argmax(pi))  # as ``decide`` does
    tuned = 1 if k == 2 else majority
    for suffix, decision in (("_t050", majority), ("_tuned", tuned)):
        cm = np.zeros((k, k))
        cm[:, decision] = test
        for name, value in confusion_metrics(cm).items():
            out[name + suffix] = value
    return out
