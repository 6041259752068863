"""Multiclass focal loss on K logits z (p = softmax(z)), true class k, per-class alpha.

    L = -a_k q^g log p_k,   q = 1 - p_k

Derivation. dp_k/dz_j = p_k (y_j - p_j) with y the one-hot label, and
dL/dp_k = a_k q^(g-1) (g log p_k - q / p_k), so

    dL/dz_j = f (y_j - p_j),   f = a_k q^(g-1) (g p_k log p_k - q).

Write l = -log(p_k) / q (>= 1, -> 1 as q -> 0); then f = -F with

    F = a_k q^g (1 + g p_k l) >= 0,   grad_j = F (p_j - y_j)

(grad_k = -F q, grad_j = F p_j for j != k): no negative power of q, even for g < 1.
Differentiating again, with f depending on z only through p_k,

    d2L/dz_j^2 = f'(p_k) p_k (y_j - p_j)^2 + F p_j (1 - p_j),
    f'(p_k)    = a_k g q^(g-2) ((2 + log p_k) q - (g - 1) p_k log p_k)
               = a_k g q^(g-1) B,   B = 2 + log p_k + (g - 1) p_k l.

Put w_j = (y_j - p_j) / q: w_k = 1 and w_j = -r_j with r_j = p_j / q = e_j / Q in [0, 1] for
j != k. Then (y_j - p_j)^2 = q^2 w_j^2 and the exact diagonal Hessian is

    H_jj = D w_j^2 + F p_j (1 - p_j),   D = a_k g p_k q^(g+1) B.

The second term is >= 0; D is negative for badly misclassified rows (B < 0 once log p_k < ~-2).
With K = 2 this reduces to the binary formula. The surrogate guard keeps the cross-entropy-shaped
part with the focal modulation, a_k q^g p_j (1 - p_j) (the multiclass twin of the binary
a_t q^g p (1 - p); at g = 0 it equals the exact Hessian), floored at HESSIAN_EPS.

Numerics. m = max_j z_j, e_j = exp(z_j - m) <= 1, T = sum e_j in [1, K]. Sums that would cancel
are taken directly: S = sum of e_j over all but the arg-max column (so T = 1 + S and
1 - p_argmax = S / T), Q = sum of e_j over j != k (q = Q / T; Q = S when k is the arg-max,
else Q = T - e_k >= 1 with no cancellation). -log p_k = log1p(S) when k is the arg-max
(accurate as p_k -> 1), else (m - z_k) + log T. l = -log p_k / q is evaluated with Q floored at
the smallest normal float, where log1p(x) / x = 1 holds exactly, so q = 0 in floating point
gives l = 1, its limit.
"""

from __future__ import annotations

import numpy as np

from . import _parallel as parallel
from ._binary import _CHUNK
from ._checks import _TINY, HESSIAN_EPS


def _softmax_parts(z: np.ndarray, y: np.ndarray, rows: np.ndarray, e: np.ndarray):
    """Fill ``e`` with exp(z - max) and return the per-row pieces (see the module docstring):
    arg-max column, S, T, Q, -log p_k and whether k is the arg-max."""
    amax = np.argmax(z, axis=1)
    m = z[rows, amax]
    np.subtract(z, m[:, None], out=e)
    np.exp(e, out=e)  # e[rows, amax] == 1 exactly
    e[rows, amax] = 0.0
    s = e.sum(axis=1)  # S: everything but the arg-max
    e[rows, amax] = 1.0
    t = s + 1.0  # T
    is_max = y == amax
    qsum = np.where(is_max, s, t - e[rows, y])  # Q = sum_{j != k} e_j
    nlp = np.where(is_max, np.log1p(s), (m - z[rows, y]) + np.log(t))  # -log p_k >= 0
    return amax, s, t, qsum, nlp, is_max


def multiclass_loss(z: np.ndarray, y: np.ndarray, weight: np.ndarray | None, gamma: float):
    n = z.shape[0]
    _, _, t, qsum, nlp, _ = _softmax_parts(z, y, np.arange(n), np.empty_like(z))
    loss = nlp
    if gamma != 0.0:
        loss *= np.power(qsum / t, gamma)
    if weight is not None:
        loss *= weight
    return loss


def multiclass_grad_hess(
    z: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray | None,
    gamma: float,
    hessian: str,
    threads: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact gradient and guarded diagonal Hessian w.r.t. each logit (fresh (n, K) arrays)."""
    n, k = z.shape
    grad, hess = np.empty((n, k)), np.empty((n, k))
    chunk = max(1, _CHUNK // k)  # rows per block: temporaries stay small and are reused

    def rows(i: int, j: int) -> None:
        m = min(j - i, chunk)
        idx, e, om = np.arange(m), np.empty((m, k)), np.empty((m, k))
        for a in range(i, j, chunk):
            b = min(a + chunk, j)
            _block(
                z[a:b], y[a:b], None if weight is None else weight[a:b], gamma, hessian,
                grad[a:b], hess[a:b], idx[: b - a], e[: b - a], om[: b - a],
            )  # fmt: skip

    parallel.run_split(rows, n, threads, min_rows=chunk)
    return grad, hess


def _block(z, y, w, g, hessian, grad, hess, rows, e, om) -> None:
    """One block of multiclass_grad_hess, in place; e and om are (rows, K) scratch."""
    amax, s, t, qsum, nlp, is_max = _softmax_parts(z, y, rows, e)
    inv_t = 1.0 / t
    q = qsum * inv_t
    pk = e[rows, y] * inv_t
    qg = np.ones_like(q) if g == 0.0 else np.power(q, g)
    aqg = qg if w is None else qg * w  # a_k q^g

    qc = np.maximum(qsum, _TINY)
    ell = np.where(is_max, np.log1p(qc), nlp)
    ell *= t
    ell /= qc  # l = -log p_k / q, = 1 where q underflows
    big_f = g * pk * ell
    big_f += 1.0
    big_f *= aqg  # F = a_k q^g (1 + g p_k l)

    # gradient: F p_j = e_j (F / T) for j != k, -F q for j = k
    np.multiply(e, (big_f * inv_t)[:, None], out=grad)
    grad[rows, y] = -big_f * q

    # p_j (1 - p_j) = e_j (T - e_j) / T^2, with T - e_j = S in the arg-max column
    np.subtract(t[:, None], e, out=om)
    om[rows, amax] = s
    np.multiply(e, om, out=hess)
    inv_t2 = inv_t * inv_t
    if hessian == "surrogate":  # a_k q^g p_j (1 - p_j), floored
        hess *= (aqg * inv_t2)[:, None]
        np.maximum(hess, HESSIAN_EPS, out=hess)
        return
    hess *= (big_f * inv_t2)[:, None]  # F p_j (1 - p_j)
    if g != 0.0:
        # + D w_j^2 with D = a_k g p_k q^(g+1) B, B = 2 + log p_k + (g - 1) p_k l
        b = (g - 1.0) * pk * ell
        b += 2.0
        b -= nlp
        d = aqg * q
        d *= pk
        d *= g
        d *= b
        np.multiply(e, (1.0 / qc)[:, None], out=om)  # r_j = e_j / Q in [0, 1] for j != k
        om[rows, y] = 1.0  # w_k = 1 (e_k / Q itself may be huge)
        om *= om
        om *= d[:, None]
        hess += om
    if hessian == "clip":
        np.maximum(hess, HESSIAN_EPS, out=hess)


def multiclass_full_hessian(
    z: np.ndarray, y: np.ndarray, weight: np.ndarray | None, gamma: float, hessian: str
) -> np.ndarray:
    """The full K x K Hessian per row, shape (n, K, K), for boosters that take one (CatBoost's
    multiclass Newton step solves with the whole matrix; its native MultiClass uses
    diag(p) - p p^T, which this reproduces at gamma = 0).

    With f depending on z only through p_k (module docstring),

        H = D w w^T + F (diag(p) - p p^T),   w_j = (y_j - p_j) / q,

    whose diagonal is :func:`multiclass_grad_hess`'s. Guards, as matrices: ``"surrogate"`` keeps
    a_k q^g (diag(p) - p p^T) (positive semi-definite; its diagonal floored at HESSIAN_EPS, as
    in ``multiclass_grad_hess``); ``"clip"`` drops the rank-one term when D < 0 (the only part
    that can make H indefinite); ``"exact"`` keeps it.
    """
    n, k = z.shape
    rows = np.arange(n)
    e = np.empty_like(z)
    amax, s, t, qsum, nlp, is_max = _softmax_parts(z, y, rows, e)
    p = e / t[:, None]
    q = qsum / t
    pk = p[rows, y]
    qg = np.ones_like(q) if gamma == 0.0 else np.power(q, gamma)
    aqg = qg if weight is None else qg * weight
    softmax_hess = -p[:, :, None] * p[:, None, :]
    # diagonal p_j (1 - p_j) = e_j (T - e_j) / T^2, with T - e_j = S in the arg-max column
    # (p_j - p_j^2 would cancel as p_j -> 1)
    rest = t[:, None] - e
    rest[rows, amax] = s
    np.einsum("nii->ni", softmax_hess)[...] = e * rest / (t * t)[:, None]
    if hessian == "surrogate":
        out = aqg[:, None, None] * softmax_hess
        diag = np.einsum("nii->ni", out)  # a writable view of the diagonals
        np.maximum(diag, HESSIAN_EPS, out=diag)
        return out
    qc = np.maximum(qsum, _TINY)
    ell = np.where(is_max, np.log1p(qc), nlp) * t / qc  # l = -log p_k / q
    big_f = aqg * (1.0 + gamma * pk * ell)
    out = big_f[:, None, None] * softmax_hess
    if gamma == 0.0:
        return out
    d = aqg * q * pk * gamma * (2.0 - nlp + (gamma - 1.0) * pk * ell)
    if hessian == "clip":
        d = np.maximum(d, 0.0)
    w = -e / qc[:, None]  # -r_j = -p_j / q for j != k
    w[rows, y] = 1.0
    return out + d[:, None, None] * w[:, :, None] * w[:, None, :]
