"""The binary focal derivatives as one compiled loop, for callers that ask for many small blocks.

CatBoost calls a Python objective about 700 times per boosting round on 200k rows, on blocks of
a few hundred rows (two passes over the data). A chain of numpy ufuncs costs ~30 calls of fixed
overhead per block, which there outweighs the arithmetic several times over; one compiled loop
per block does not. The loop releases the GIL, so CatBoost's threads overlap their blocks.

Same formulas and numerics as ``_binary._block`` (tested against it): with e = exp(-|u|) and
r = 1 / (1 + e), p_t and q are r and e r (swapped when u < 0) and log1p(e) is log(1 + e) plus
the rounding error of 1 + e.
"""

from __future__ import annotations

import math

import numba

HESSIAN_MODES = {"exact": 0, "clip": 1, "surrogate": 2}


@numba.njit(cache=True, nogil=True)
def catboost_binary_ders(z, y, weight, a_pos, a_neg, gamma, mode, eps, out):  # pragma: no cover
    """out[i] = (-grad_i, -hess_i) (times weight[i] when ``weight`` is not empty).

    ``y`` holds 0/1 labels (validated before training), ``mode`` indexes HESSIAN_MODES. The
    signs are CatBoost's: it maximises the log-likelihood, so it wants derivatives of -loss.
    """
    weighted = weight.shape[0] > 0
    for i in range(z.shape[0]):
        pos = y[i] > 0.5
        s = 1.0 if pos else -1.0
        u = s * z[i]
        e = math.exp(-abs(u))
        w = 1.0 + e
        r = 1.0 / w
        log1p_e = math.log(w) - ((w - 1.0) - e) * r
        if u >= 0.0:
            logp = -log1p_e
            p = r
            q = e * r
        else:
            logp = u - log1p_e
            p = e * r
            q = r
        if gamma == 0.0:
            qg = 1.0
        elif gamma == 1.0:
            qg = q
        elif gamma == 2.0:
            qg = q * q
        else:
            qg = math.exp(gamma * (logp - u))
        aqg = (a_pos if pos else a_neg) * qg
        ga = gamma * p * logp
        g = s * aqg * (ga - q)
        if mode == 2:
            h = max(aqg * p * q, eps)
        else:
            h = aqg * (q * ((2.0 * gamma + 1.0) * p + ga) - gamma * ga * p)
            if mode == 1:
                h = max(h, eps)
        if weighted:  # after the floor, as for any per-row weight
            g *= weight[i]
            h *= weight[i]
        out[i, 0] = -g
        out[i, 1] = -h


@numba.njit(cache=True, nogil=True)
def catboost_multi_ders(z, k, a_k, gamma, mode, eps, weight, grad, hess):  # pragma: no cover
    """One row of multiclass focal for CatBoost: grad[:] = -gradient, hess[:, :] = -Hessian
    (the full K x K matrix), both times ``weight``.

    CatBoost calls its multiclass Python objective once per row and round, so the numpy kernels'
    fixed cost per call (~200 us) made a fit ~100x slower than native; this loop costs a few us.
    Same formulas and numerics as ``_multiclass`` (tested against ``multiclass_grad_hess`` and
    ``multiclass_full_hessian``): with m the largest logit and e_j = exp(z_j - m), Q = sum of
    e_j over j != k is taken directly, so q = 1 - p_k never cancels. ``mode`` indexes
    HESSIAN_MODES; ``eps`` floors the surrogate's diagonal as ``multiclass_grad_hess`` does.
    """
    n = z.shape[0]
    amax = 0
    for j in range(1, n):
        if z[j] > z[amax]:
            amax = j
    m = z[amax]
    t = 0.0
    qsum = 0.0
    others = 0.0  # sum of e_j over j != amax: T - e_amax without cancellation
    for j in range(n):
        e = math.exp(z[j] - m)
        grad[j] = e  # e_j for now
        t += e
        if j != k:
            qsum += e
        if j != amax:
            others += e
    is_max = k == amax
    nlp = math.log1p(qsum) if is_max else (m - z[k]) + math.log(t)  # -log p_k
    q = qsum / t
    pk = grad[k] / t
    qg = 1.0 if gamma == 0.0 else q**gamma
    aqg = a_k * qg
    qc = max(qsum, 2.2250738585072014e-308)
    ell = (math.log1p(qc) if is_max else nlp) * t / qc  # l = -log p_k / q, 1 where q underflows
    big_f = aqg * (1.0 + gamma * pk * ell)
    scale = aqg if mode == 2 else big_f
    d = 0.0
    if mode != 2 and gamma != 0.0:
        d = aqg * q * pk * gamma * (2.0 - nlp + (gamma - 1.0) * pk * ell)
        if mode == 1 and d < 0.0:
            d = 0.0
    for i in range(n):
        pi = grad[i] / t
        wi = 1.0 if i == k else -grad[i] / qc
        for j in range(i, n):
            pj = grad[j] / t
            wj = 1.0 if j == k else -grad[j] / qc
            if i == j:  # p_i (1 - p_i), 1 - p_i = (T - e_i) / T
                rest = others if i == amax else t - grad[i]
                h = scale * pi * (rest / t) + d * wi * wi
            else:
                h = -scale * pi * pj + d * wi * wj
            if mode == 2 and i == j and h < eps:
                h = eps
            hess[i, j] = -weight * h
            hess[j, i] = -weight * h
    for j in range(n):
        pj = grad[j] / t
        g = -big_f * q if j == k else big_f * pj
        grad[j] = -weight * g
