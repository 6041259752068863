"""Constant starting margins: where boosting begins before the first tree.

The summed loss over the training labels, at a margin that is the same for every row, depends on
the labels only through the class counts, so each solver below works on K "representative rows"
weighted by count (times alpha): O(K) per evaluation whatever n is.

Multiclass starts are returned as log-probabilities (``logsumexp(start) == 0``); any constant
shift of a logit vector gives the same softmax, so callers may shift freely.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, special

from ._binary import binary_grad_hess, binary_loss
from ._checks import check_alpha, check_gamma, check_labels, check_n_classes
from ._multiclass import multiclass_grad_hess, multiclass_loss

_GRID = 129  # points on the bracket before the local solve: guards against a non-convex sum


def _class_counts(y: object, n_classes: int) -> np.ndarray:
    labels = check_labels(y, n_classes)
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    if np.any(counts == 0):
        missing = np.flatnonzero(counts == 0).tolist()
        raise ValueError(
            f"y: class(es) {missing} never occur, so the loss has no finite minimiser "
            "(the best constant margin is infinite)"
        )
    return counts


def ce_start(y: object, n_classes: int) -> float | np.ndarray:
    """Cross-entropy start: binary logit(mean y) (a float); multiclass log class priors (K,).

    The multiclass vector is log(n_k / n), i.e. normalised so that ``logsumexp == 0``.
    """
    k = check_n_classes(n_classes)
    counts = _class_counts(y, k)
    if k == 2:
        return float(np.log(counts[1]) - np.log(counts[0]))
    return np.log(counts) - np.log(counts.sum())


def _weighted_counts(counts: np.ndarray, alpha) -> np.ndarray:
    if alpha is None:
        w = counts
    elif counts.shape[0] == 2:
        w = counts * np.array([1.0 - alpha, alpha])
    else:
        w = counts * np.asarray(alpha)
    if np.any(w == 0):
        raise ValueError(
            f"alpha: a class with zero weight (alpha={alpha!r}) makes the best constant margin "
            "infinite; give every class a positive weight"
        )
    return w / w.sum()


def _binary_start(w: np.ndarray, gamma: float) -> float:
    """argmin_z  w1 FL(z; y=1) + w0 FL(z; y=0)  (w = [w0, w1], summing to 1)."""
    sign = np.array([-1.0, 1.0])

    def loss(z: float) -> float:
        return float(binary_loss(np.full(2, z), sign, w, gamma).sum())

    def grad(z: float) -> float:
        return float(binary_grad_hess(np.full(2, z), sign, w, gamma, "exact")[0].sum())

    # The weighted cross-entropy minimiser logit(w1) and 0 bracketed the focal minimiser in all
    # 640 cases tried (base rate 1e-4..0.999, alpha 0.01..0.99, gamma 0..10); still, widen until
    # the summed gradient points inwards at both ends (it tends to -w1 as z -> -inf and to +w0
    # as z -> +inf, so this terminates).
    b = float(np.log(w[1]) - np.log(w[0]))
    lo, hi = min(b, 0.0) - 1.0, max(b, 0.0) + 1.0
    while grad(lo) >= 0.0:
        lo -= 2.0 * (hi - lo)
    while grad(hi) <= 0.0:
        hi += 2.0 * (hi - lo)
    # coarse grid: pick the basin of the global minimum even if the sum were not convex
    grid = np.linspace(lo, hi, _GRID)
    values = binary_loss(np.repeat(grid, 2), np.tile(sign, _GRID), np.tile(w, _GRID), gamma)
    i = int(np.argmin(values.reshape(_GRID, 2).sum(axis=1)))
    a, c = grid[max(i - 1, 0)], grid[min(i + 1, _GRID - 1)]
    x = optimize.minimize_scalar(loss, bounds=(a, c), method="bounded", options={"xatol": 1e-10}).x
    # polish: Brent on function values stops at ~sqrt(eps); the gradient root is exact
    h = 1e-7 * max(1.0, abs(x))
    while h < (c - a) and not (grad(x - h) < 0.0 < grad(x + h)):
        h *= 10.0
    lo2, hi2 = max(x - h, a), min(x + h, c)
    if grad(lo2) < 0.0 < grad(hi2):
        x = optimize.brentq(grad, lo2, hi2, xtol=1e-15, rtol=4 * np.finfo(float).eps)
    return float(x)


def _multiclass_start(w: np.ndarray, gamma: float) -> np.ndarray:
    """argmin over logit vectors (logit 0 fixed at 0) of sum_k w_k FL(z; y=k)."""
    k = w.shape[0]
    labels = np.arange(k)

    def fun(v: np.ndarray) -> tuple[float, np.ndarray]:
        z = np.tile(np.concatenate(([0.0], v)), (k, 1))
        loss = float(multiclass_loss(z, labels, w, gamma).sum())
        g = multiclass_grad_hess(z, labels, w, gamma, "exact")[0].sum(axis=0)
        return loss, g[1:]

    x0 = np.log(w[1:]) - np.log(w[0])  # the weighted cross-entropy minimiser
    res = optimize.minimize(
        fun,
        x0,
        jac=True,
        method="L-BFGS-B",
        options={"gtol": 1e-13, "ftol": 1e-15, "maxiter": 10_000},
    )
    z = np.concatenate(([0.0], res.x))
    return z - special.logsumexp(z)


def focal_start(
    y: object, n_classes: int, alpha: object = None, gamma: float = 2.0
) -> float | np.ndarray:
    """The constant margin minimising the summed focal loss over the labels ``y``.

    Binary (``n_classes == 2``): a float. Multiclass: a (K,) vector of log-probabilities
    (``logsumexp == 0``; the optimisation fixes logit 0 and shifts afterwards). With
    ``gamma == 0`` this is the (alpha-weighted) cross-entropy start, i.e. ``ce_start`` when
    ``alpha`` is None.
    """
    k = check_n_classes(n_classes)
    g = check_gamma(gamma)
    a = check_alpha(alpha, k)
    w = _weighted_counts(_class_counts(y, k), a)
    if k == 2:
        return _binary_start(w, g)
    return _multiclass_start(w, g)
