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
