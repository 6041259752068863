"""Focal loss and cross-entropy for gradient boosting: loss, derivatives, start margins.

numpy/scipy, plus numba for the one kernel called on many small blocks (no booster, MLflow or
pandas import). Everything is computed in float64 and returned as float64, whatever the input
dtype.

Shapes: binary margins ``z`` have shape (n,) with labels in {0, 1} and ``alpha`` None or a float
in [0, 1] weighting class 1 (a_t = alpha if y == 1 else 1 - alpha). Multiclass logits have shape
(n, K), K >= 3, labels in 0..K-1 and ``alpha`` None or K non-negative weights (a_k of the true
class). ``gamma = 0`` is (alpha-weighted) cross-entropy.

Hot loops: validate labels once with ``prepare_labels(y, n_classes)`` and pass the result as
``y``; see :class:`PreparedLabels`.

Hessian scale: the derivatives here are those of the loss itself. Native softmax objectives
scale their Hessian (see :func:`native_softmax_hessian_factor`); multiply by that factor in the
booster adapter to reproduce a native cross-entropy exactly.
"""

from __future__ import annotations

import numpy as np

from ._binary import binary_grad_hess, binary_loss
from ._checks import (
    DEFAULT_HESSIAN_GUARD,
    HESSIAN_EPS,
    HESSIAN_GUARDS,
    PreparedLabels,
    check_alpha,
    check_gamma,
    check_hessian_guard,
    check_margins,
    prepare_labels,
    resolve_labels,
)
from ._multiclass import multiclass_full_hessian, multiclass_grad_hess, multiclass_loss
from ._scale import ce_start_hessian_sum, focal_start_hessian_sum, scale_to_cross_entropy

__all__ = [
    "DEFAULT_HESSIAN_GUARD",
    "HESSIAN_EPS",
    "HESSIAN_GUARDS",
    "COMPILED_HESSIAN_MODES",
    "PreparedLabels",
    "catboost_binary_ders",
    "catboost_multi_ders",
    "ce_start",
    "ce_start_hessian_sum",
    "focal_full_hessian",
    "focal_grad_hess",
    "focal_loss",
    "focal_start",
    "focal_start_hessian_sum",
    "native_softmax_hessian_factor",
    "prepare_labels",
    "scale_to_cross_entropy",
]


def __getattr__(name: str):
    """Imported on first use: the compiled CatBoost kernel (numba costs ~0.5 s to import) and
    the start-margin solvers (scipy.optimize, ~0.4 s; the sweep's parent never needs them)."""
    if name in ("ce_start", "focal_start"):
        from . import _start

        return getattr(_start, name)
    if name in ("catboost_binary_ders", "catboost_multi_ders", "COMPILED_HESSIAN_MODES"):
        from . import _compiled

        return {
            "catboost_binary_ders": _compiled.catboost_binary_ders,
            "catboost_multi_ders": _compiled.catboost_multi_ders,
            "COMPILED_HESSIAN_MODES": _compiled.HESSIAN_MODES,
        }[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _inputs(z, y, alpha, gamma):
    z64 = check_margins(z)
    labels = resolve_labels(y, z64)
    weight = labels.row_weights(check_alpha(alpha, labels.n_classes))
    return z64, labels, weight, check_gamma(gamma)


def focal_loss(z, y, alpha=None, gamma: float = 2.0) -> np.ndarray:
    """Per-row focal loss -a_t (1 - p_t)^gamma log p_t, shape (n,), float64.

    ``y`` may be raw labels or a :class:`PreparedLabels`.
    """
    z64, labels, weight, g = _inputs(z, y, alpha, gamma)
    if z64.ndim == 1:
        return binary_loss(z64, labels.sign, weight, g)
    return multiclass_loss(z64, labels.y, weight, g)


def focal_grad_hess(
    z, y, alpha=None, gamma: float = 2.0, hessian: str = "exact", threads: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Exact gradient and diagonal Hessian of :func:`focal_loss` w.r.t. the margins.

    Both have the shape of ``z`` (float64). ``hessian`` picks the guard (see ``HESSIAN_GUARDS``):
    ``"exact"`` (may be negative), ``"clip"`` (``max(exact, HESSIAN_EPS)``) or ``"surrogate"``
    (the positive a_t q^gamma p (1 - p), floored at ``HESSIAN_EPS``). The gradient is always
    exact. ``y`` may be raw labels or a :class:`PreparedLabels`. ``threads`` splits the rows
    over that many threads (for a booster training on as many).
    """
    guard = check_hessian_guard(hessian)
    if isinstance(threads, bool) or not isinstance(threads, int | np.integer) or threads < 1:
        raise ValueError(f"threads: expected an integer >= 1, got {threads!r}")
    z64, labels, weight, g = _inputs(z, y, alpha, gamma)
    if z64.ndim == 1:
        return binary_grad_hess(z64, labels.sign, weight, g, guard, int(threads))
    return multiclass_grad_hess(z64, labels.y, weight, g, guard, int(threads))


def focal_full_hessian(z, y, alpha=None, gamma: float = 2.0, hessian: str = "exact") -> np.ndarray:
    """The full K x K Hessian of the multiclass :func:`focal_loss` per row, shape (n, K, K).

    For boosters whose multiclass Newton step takes the whole matrix (CatBoost); its diagonal is
    :func:`focal_grad_hess`'s Hessian, and with ``gamma == 0`` and no alpha it is the softmax
    cross-entropy Hessian diag(p) - p p^T. Guards act on the matrix (see ``_multiclass``).
    """
    guard = check_hessian_guard(hessian)
    z64, labels, weight, g = _inputs(z, y, alpha, gamma)
    if z64.ndim != 2:
        raise ValueError("z: the full Hessian is for multiclass margins of shape (n, K >= 3)")
    return multiclass_full_hessian(z64, labels.y, weight, g, guard)


def native_softmax_hessian_factor(booster: str, n_classes: int) -> float:
    """The factor a native multiclass (softmax) objective puts on p (1 - p).

    LightGBM's ``multiclass`` uses K / (K - 1) * p (1 - p); XGBoost's ``multi:softprob`` uses
    2 p (1 - p) (floored at 1e-16). A custom softmax cross-entropy reproduces the native model
    only when its Hessian is scaled the same way, so multiply the Hessian from
    :func:`focal_grad_hess` by this factor in the adapter (it is never applied here).
    """
    if n_classes < 3:
        raise ValueError(f"n_classes: softmax objectives need n_classes >= 3, got {n_classes!r}")
    factors = {"lightgbm": n_classes / (n_classes - 1.0), "xgboost": 2.0}
    try:
        return factors[booster]
    except KeyError:
        raise ValueError(
            f"booster: no known native softmax Hessian factor for {booster!r} "
            f"(known: {sorted(factors)})"
        ) from None
