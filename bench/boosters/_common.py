"""What every adapter shares: input checks, start margins, sample weights, margin -> probability.

Every strategy starts from an explicit constant margin (``init_score`` / ``base_margin`` /
``baseline``) that the adapters add back at predict time, so probabilities are
calibrated-as-trained under native and custom objectives alike:

- ce:       the class prior (binary: logit of the base rate; multiclass: log priors), which is
            what the libraries' own boost-from-average would pick;
- weighted: the same prior under the class weights;
- focal:    ``bench.objectives.focal_start``, the constant minimising the focal loss (starting at
            the prior can make the summed focal Hessian negative and the trees empty).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, softmax

from bench import objectives
from bench.boosters.base import LOSS_KINDS, FittedBooster, LossSpec, StoppingRule


def check_fit_inputs(
    X: pd.DataFrame,
    y: np.ndarray,
    n_classes: int,
    loss: LossSpec,
    rounds: int,
    valid: tuple[pd.DataFrame, np.ndarray] | None,
    stopping: StoppingRule | None,
) -> np.ndarray:
    """Validate once at the edge; return ``y`` as a contiguous int array."""
    if not isinstance(X, pd.DataFrame):
        raise ValueError(f"X must be a pandas DataFrame, got {type(X).__name__}")
    if not isinstance(n_classes, int | np.integer) or n_classes < 2:
        raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
    if not isinstance(rounds, int | np.integer) or rounds < 1:
        raise ValueError(f"rounds must be an integer >= 1, got {rounds!r}")
    y = _check_labels(y, n_classes, "y", len(X))
    missing = np.flatnonzero(np.bincount(y, minlength=n_classes) == 0)
    if missing.size:  # every start margin (a log prior) would be infinite
        raise ValueError(
            f"y: class(es) {missing.tolist()} never occur in the training labels; "
            f"every one of the {n_classes} classes needs at least one row"
        )
    if (valid is None) != (stopping is None):
        raise ValueError("valid and stopping must be given together (early stopping needs both)")
    if valid is not None:
        Xv, yv = valid
        if not isinstance(Xv, pd.DataFrame) or list(Xv.columns) != list(X.columns):
            raise ValueError("valid[0] must be a DataFrame with the same columns as X")
        _check_labels(yv, n_classes, "valid[1]", len(Xv))
    _check_loss(loss, n_classes)
    return y


def _check_labels(y: Any, n_classes: int, name: str, n_rows: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n_rows:
        raise ValueError(f"{name} must be 1-D with one label per row ({n_rows}), got {y.shape}")
    if len(y) == 0:
        raise ValueError(f"{name} is empty")
    whole = y.dtype.kind in "iu" or (y.dtype.kind == "f" and bool(np.all(np.mod(y, 1) == 0)))
    if not whole:
        raise ValueError(f"{name} must hold integer labels 0..{n_classes - 1}, got {y.dtype}")
    y = np.ascontiguousarray(y, dtype=np.int64)
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(
            f"{name} holds labels outside 0..{n_classes - 1} (min {y.min()}, max {y.max()})"
        )
    return y


def _check_loss(loss: LossSpec, n_classes: int) -> None:
    if loss.kind not in LOSS_KINDS:
        raise ValueError(f"unknown loss kind {loss.kind!r}; known: {', '.join(LOSS_KINDS)}")
    if loss.kind == "weighted":
        cw = loss.class_weights
        if cw is None or len(cw) != n_classes or not all(np.isfinite(cw)) or min(cw) <= 0:
            raise ValueError(
                f"loss kind 'weighted' needs class_weights: {n_classes} positive finite "
                f"numbers, got {cw!r}"
            )
    elif loss.class_weights is not None:
        raise ValueError(f"class_weights only apply to loss kind 'weighted', not {loss.kind!r}")
    if loss.kind == "focal":
        if not np.isfinite(loss.gamma) or loss.gamma < 0:
            raise ValueError(f"focal gamma must be >= 0, got {loss.gamma!r}")
        if loss.hessian not in objectives.HESSIAN_GUARDS:
            raise ValueError(
                f"unknown Hessian guard {loss.hessian!r}; known: {objectives.HESSIAN_GUARDS}"
            )
        if isinstance(loss.alpha, tuple) and len(loss.alpha) != n_classes:
            raise ValueError(f"focal alpha must have {n_classes} entries, got {loss.alpha!r}")
    if not (np.isfinite(loss.scale) and loss.scale > 0):
        raise ValueError(f"loss scale must be a positive finite number, got {loss.scale!r}")
    if loss.kind == "ce" and loss.scale != 1.0:
        raise ValueError("loss kind 'ce' is the reference of the loss scale: its scale is 1")
    if loss.implementation not in ("python", "native"):
        raise ValueError(
            f"implementation must be 'python' or 'native', got {loss.implementation!r}"
        )


def sample_weights(y: np.ndarray, loss: LossSpec) -> np.ndarray | None:
    """Per-row weights of loss kind 'weighted' (y -> class_weights[y] * scale); None otherwise
    (a Python objective applies its scale itself: LightGBM and XGBoost do not weight what a
    custom objective returns)."""
    if loss.kind != "weighted":
        return None
    return np.asarray(loss.class_weights, dtype=np.float64)[y] * loss.scale


def start_margin(y: np.ndarray, n_classes: int, loss: LossSpec) -> float | np.ndarray:
    """The constant margin boosting starts from: float (binary) or (K,) (multiclass)."""
    if loss.kind == "focal":
        start = objectives.focal_start(y, n_classes, alpha=loss.alpha, gamma=loss.gamma)
    elif loss.kind == "ce":
        start = objectives.ce_start(y, n_classes)
    else:
        w = np.asarray(loss.class_weights, dtype=np.float64)[y]
        prior = np.bincount(y, weights=w, minlength=n_classes) / w.sum()
        start = np.log(prior[1] / prior[0]) if n_classes == 2 else np.log(prior)
    return float(start) if n_classes == 2 else np.asarray(start, dtype=np.float64)


def start_rows(start: float | np.ndarray, n: int, n_classes: int) -> np.ndarray:
    """The start repeated per row: (n,) binary, (n, K) multiclass."""
    if n_classes == 2:
        return np.full(n, float(start))
    return np.tile(np.asarray(start, dtype=np.float64), (n, 1))


def margin_to_proba(margin: np.ndarray, n_classes: int) -> np.ndarray:
    """Raw margins (start included) -> class probabilities (n, K)."""
    margin = np.asarray(margin, dtype=np.float64)
    if n_classes == 2:
        p = expit(margin.reshape(-1))
        return np.column_stack([1.0 - p, p])
    return softmax(margin.reshape(-1, n_classes), axis=1)


def as_proba(pred: np.ndarray, n_classes: int) -> np.ndarray:
    """A library's transformed prediction (binary P(y=1) or (n, K)) -> (n, K)."""
    pred = np.asarray(pred, dtype=np.float64)
    if n_classes == 2:
        p = pred.reshape(-1)
        return np.column_stack([1.0 - p, p])
    return pred.reshape(-1, n_classes)


def focal_kernel(
    y: np.ndarray, n_classes: int, loss: LossSpec, hess_factor: float = 1.0, threads: int = 1
) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """margin -> (grad, hess) of the focal loss for fixed labels, with the library's Hessian factor.

    ``hess_factor`` reproduces a library's native softmax scaling (LightGBM K/(K-1), XGBoost 2)
    so that gamma = 0 gives the native model; ``loss.scale`` multiplies gradient and Hessian.
    The factor multiplies the focal Hessian too, so for
    gamma > 0 the Newton step is shrunk exactly as the native cross-entropy step is. Labels are
    validated once here (``prepare_labels``), not every boosting round. ``threads``: the
    booster's own thread count, so the gradient pass is as parallel as a native one.
    """
    labels = objectives.prepare_labels(y, n_classes)
    alpha, gamma, guard, scale = loss.alpha, loss.gamma, loss.hessian, loss.scale
    h_factor = hess_factor * scale

    def grad_hess(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        g, h = objectives.focal_grad_hess(
            z, labels, alpha=alpha, gamma=gamma, hessian=guard, threads=threads
        )
        if scale != 1.0:
            g *= scale
        if h_factor != 1.0:
            h *= h_factor
        return g, h

    return grad_hess


class MarginModel(FittedBooster):
    """A fitted model given by its raw-margin function and the start margin to add back."""

    def __init__(
        self,
        raw_margin: Callable[[pd.DataFrame], np.ndarray],
        start: float | np.ndarray,
        n_classes: int,
        best_iteration: int,
        booster: Any,
    ) -> None:
        self._raw_margin = raw_margin
        self.start = start
        self.n_classes = n_classes
        self.best_iteration = best_iteration
        self.booster = booster  # the library's own model, for inspection (e.g. tree counts)

    def predict_margin(self, X: pd.DataFrame) -> np.ndarray:
        """Margins with the start added back: (n,) binary, (n, K) multiclass."""
        raw = np.asarray(self._raw_margin(X), dtype=np.float64)
        if self.n_classes == 2:
            return raw.reshape(-1) + self.start
        return raw.reshape(len(X), self.n_classes) + np.asarray(self.start)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities (n, K), start included."""
        if not isinstance(X, pd.DataFrame):
            raise ValueError(f"X must be a pandas DataFrame, got {type(X).__name__}")
        return margin_to_proba(self.predict_margin(X), self.n_classes)


def merge_params(
    defaults: dict[str, Any], params: dict[str, Any], fixed: dict[str, Any], booster: str
) -> dict[str, Any]:
    """defaults < tuned params < fixed settings; a tuned key that would override a fixed one is
    rejected, since it would silently change the objective, seed or threads."""
    clash = sorted(set(params) & set(fixed))
    if clash:
        raise ValueError(f"{booster} params may not set {clash}: the adapter controls them")
    return {**defaults, **params, **fixed}
