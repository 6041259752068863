"""Binary focal loss on a raw margin z (p = sigmoid(z)), label y in {0, 1}.

With s = 2y - 1, u = s z, p_t = sigmoid(u), q = 1 - p_t = sigmoid(-u), a_t the class weight:

    FL   = -a_t q^g log p_t
    dFL/dz   = s a_t q^g (g p_t log p_t - q)
    d2FL/dz2 = a_t p_t q^g ((2g + 1) q + g log p_t (q - g p_t))

(derivation: dp_t/du = p_t q, dq/du = -p_t q, and d/dz = s d/du with s^2 = 1.)

Numerics: with e = exp(-|u|) <= 1 (never overflows),
    log p_t = min(u, 0) - log1p(e)        (log-sigmoid: exact for every finite u)
    log q   = log p_t - u                  (since q / p_t = exp(-u))
    p_t = exp(log p_t), q = exp(log q), q^g = exp(g log q)
so nothing is computed as 1 - p, nothing is divided by p_t or q, and no logarithm sees 0:
for |u| up to 1e3 every term is finite (tiny probabilities underflow to 0, harmlessly).
"""

from __future__ import annotations

import numpy as np

from ._checks import HESSIAN_EPS


def _log_pt_q(u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log p_t, p_t and q for u = s z (fresh float64 arrays)."""
    e = np.abs(u)
    np.negative(e, out=e)
    np.exp(e, out=e)  # e = exp(-|u|) in (0, 1]
    logp = np.minimum(u, 0.0)
    logp -= np.log1p(e, out=e)  # log p_t = min(u, 0) - log1p(exp(-|u|)); e is reused
    p = np.exp(logp)
    q = np.subtract(logp, u, out=e)  # log q = log p_t - u
    np.exp(q, out=q)
    return logp, p, q


def _q_pow(q: np.ndarray, gamma: float) -> np.ndarray | None:
    """q**gamma (None stands for the constant 1 when gamma == 0)."""
    if gamma == 0.0:
        return None
    if gamma == 1.0:
        return q
    if gamma == 2.0:
        return q * q
    return np.power(q, gamma)


def binary_loss(z: np.ndarray, sign: np.ndarray, weight: np.ndarray | None, gamma: float):
    """Per-row focal loss; ``weight`` is a_t per row (None: 1)."""
    u = z * sign
    logp, _, q = _log_pt_q(u)
    qg = _q_pow(q, gamma)
    loss = np.negative(logp, out=logp)
    if qg is not None:
        loss *= qg
    if weight is not None:
        loss *= weight
    return loss


def binary_grad_hess(
    z: np.ndarray,
    sign: np.ndarray,
    weight: np.ndarray | None,
    gamma: float,
    hessian: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact gradient and the guarded second derivative w.r.t. the margin z."""
    g = gamma
    u = z * sign
    logp, p, q = _log_pt_q(u)
    qg = _q_pow(q, g)
    # a_t q^g, shared by gradient and Hessian
    if qg is None:
        aqg = weight
    elif weight is None:
        aqg = qg
    else:
        aqg = qg * weight

    # gradient: s a_t q^g (g p_t log p_t - q)
    plogp = p * logp
    grad = np.multiply(plogp, g) if g != 0.0 else np.zeros_like(p)
    grad -= q
    if aqg is not None:
        grad *= aqg
    grad *= sign

    # p_t q (cross-entropy curvature)
    pq = np.multiply(p, q, out=u)
    if hessian == "surrogate":
        hess = pq if aqg is None else np.multiply(pq, aqg, out=pq)
        return grad, np.maximum(hess, HESSIAN_EPS, out=hess)
    # exact: a_t q^g [(2g + 1) p_t q + g p_t log p_t (q - g p_t)]
    hess = np.multiply(pq, 2.0 * g + 1.0, out=pq)
    if g != 0.0:
        t = np.multiply(p, -g, out=p)
        t += q
        t *= plogp
        t *= g
        hess += t
    if aqg is not None:
        hess *= aqg
    if hessian == "clip":
        np.maximum(hess, HESSIAN_EPS, out=hess)
    return grad, hess
