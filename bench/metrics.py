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
    """Equal-width-bin ECE; binary on P(class 1), multiclass on the top-label confidence.

    Hand-written because scikit-learn has calibration_curve but no ECE; 15 bins as in
    Guo et al. 2017.
    """
    y, proba = _check(y, proba)
    if proba.shape[1] == 2:
        conf, hit = proba[:, 1], (y == 1).astype(np.float64)
    else:
        pred = proba.argmax(axis=1)
        conf, hit = proba[np.arange(len(y)), pred], (pred == y).astype(np.float64)
    bins = np.minimum((conf * n_bins).astype(np.int64), n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    gap = np.abs(
        np.bincount(bins, weights=hit, minlength=n_bins)
        - np.bincount(bins, weights=conf, minlength=n_bins)
    )
    return float(gap.sum() / max(len(y), 1)) if count.any() else 0.0


def brier(y: np.ndarray, proba: np.ndarray) -> float:
    """Binary: mean (p1 - y)^2; multiclass: mean over rows of sum_k (p_k - y_k)^2."""
    y, proba = _check(y, proba)
    if proba.shape[1] == 2:
        return float(np.mean((proba[:, 1] - (y == 1)) ** 2))
    onehot = np.eye(proba.shape[1])[y]
    return float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))


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
    confusion_matrix validates its input for ~1 ms a call): they equal scikit-learn's and
    imbalanced-learn's functions (binary: of class 1; multiclass: macro; tested), which cost
    ~50 ms a cell through their per-call input validation.
    """
    y, pred = np.asarray(y, dtype=np.int64), np.asarray(pred, dtype=np.int64)
    counts = np.bincount(y * n_classes + pred, minlength=n_classes * n_classes)
    cm = counts.reshape(n_classes, n_classes).astype(np.float64)  # rows: truth, columns: decision
    tp = np.diag(cm)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    precision = _ratio(tp, predicted)
    recall = _ratio(tp, support)
    f1 = _ratio(2 * tp, support + predicted)
    n = cm.sum()
    cov_tp = tp.sum() * n - support @ predicted
    den = np.sqrt((n * n - support @ support) * (n * n - predicted @ predicted))
    mcc = cov_tp / den if den > 0 else 0.0
    present = support > 0
    out = {
        "mcc": float(mcc),
        "balanced_accuracy": float(recall[present].mean()),
        "gmean": float(np.prod(recall) ** (1.0 / n_classes)),
    }
    if n_classes == 2:
        out.update(f1=f1[1], precision=precision[1], recall=recall[1])
    else:
        out.update(f1=f1.mean(), precision=precision.mean(), recall=recall.mean())
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
    proba = np.asarray(proba)
    if proba.shape[1] == 2:
        return float(np.mean((proba[:, 1] - (y == 1)) ** 2))
    onehot = np.eye(proba.shape[1])[y]
    return float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))


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
