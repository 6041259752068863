"""Loss scale: how much curvature a loss hands the booster at its start margin.

Tree boosters regularise in Hessian units: a leaf's value is -G / (H + lambda) and a split needs
a child Hessian of at least min_child_weight. Losses whose Hessians are smaller (focal's are
0.02-0.2x cross-entropy's at the start) are therefore regularised harder by the same lambda,
and class-weighted losses (larger Hessians) less. Multiplying a loss's gradients and Hessians by
one constant c is the same as dividing lambda and the minimum child Hessian by c, so choosing c
to make the summed start Hessian equal unweighted cross-entropy's on the same rows makes every
strategy's regularisation ranges mean the same thing.

The sums here are of the loss's own derivatives; a library's native softmax factor
(:func:`native_softmax_hessian_factor`) multiplies both sides alike and cancels.
"""

from __future__ import annotations

import numpy as np

from ._checks import check_alpha, check_gamma, check_hessian_guard, check_labels, check_n_classes


def _priors(y: np.ndarray, n_classes: int, weights: np.ndarray | None = None) -> np.ndarray:
    counts = np.bincount(y, weights=weights, minlength=n_classes).astype(np.float64)
    return counts / counts.sum()


def ce_start_hessian_sum(y: object, n_classes: int, row_weights: object = None) -> float:
    """Summed (diagonal) cross-entropy Hessian at the (weighted) cross-entropy start margin.

    Binary: sum_i w_i pi (1 - pi), pi = the weighted base rate; multiclass: sum_i w_i
    sum_j pi_j (1 - pi_j). Unweighted (``row_weights`` None) this is n pi (1 - pi).
    """
    k = check_n_classes(n_classes)
    labels = check_labels(y, k)
    w = None if row_weights is None else np.asarray(row_weights, dtype=np.float64)
    pi = _priors(labels, k, w)
    total = float(len(labels)) if w is None else float(w.sum())
    if k == 2:
        return total * float(pi[1] * (1.0 - pi[1]))
    return total * float(np.sum(pi * (1.0 - pi)))


def focal_start_hessian_sum(
    y: object, n_classes: int, alpha: object = None, gamma: float = 2.0, hessian: str = "surrogate"
) -> float:
    """Summed (diagonal, guarded) focal Hessian at the focal start margin (``focal_start``)."""
    from . import focal_grad_hess
    from ._start import focal_start

    k = check_n_classes(n_classes)
    labels = check_labels(y, k)
    a, g, guard = check_alpha(alpha, k), check_gamma(gamma), check_hessian_guard(hessian)
    start = focal_start(labels, k, alpha=a, gamma=g)
    z = np.full(len(labels), float(start)) if k == 2 else np.tile(start, (len(labels), 1))
    return float(focal_grad_hess(z, labels, alpha=a, gamma=g, hessian=guard)[1].sum())


def scale_to_cross_entropy(y: object, n_classes: int, start_hessian_sum: float) -> float:
    """The constant c that makes a loss's summed start Hessian equal unweighted cross-entropy's
    on the same rows: c = H_ce / H_loss. A value within 1e-12 of 1 is 1 (rounding noise of two
    ways of computing the same sum), so a loss equal to cross-entropy is left bit-identical."""
    reference = ce_start_hessian_sum(y, n_classes)
    if not np.isfinite(start_hessian_sum) or start_hessian_sum <= 0.0:
        raise ValueError(
            f"start_hessian_sum: need a positive finite sum to scale by, got {start_hessian_sum!r}"
        )
    c = reference / start_hessian_sum
    return 1.0 if abs(c - 1.0) < 1e-12 else float(c)
