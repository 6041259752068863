"""Binary focal loss on a raw margin z (p = sigmoid(z)), label y in {0, 1}.

With s = 2y - 1, u = s z, p_t = sigmoid(u), q = 1 - p_t = sigmoid(-u), a_t the class weight:

    FL   = -a_t q^g log p_t
    dFL/dz   = s a_t q^g (g p_t log p_t - q)
    d2FL/dz2 = a_t p_t q^g ((2g + 1) q + g log p_t (q - g p_t))

(derivation: dp_t/du = p_t q, dq/du = -p_t q, and d/dz = s d/du with s^2 = 1.)

Numerics: with e = exp(-|u|) <= 1 (never overflows),
    log p_t = min(u, 0) - log1p(e)        (log-sigmoid, accurate for every finite u)
    log q   = log p_t - u                  (since q / p_t = exp(-u))
    p_t = exp(log p_t), q = exp(log q), q^g = exp(g log q)
so nothing is computed as 1 - p, nothing is divided by p_t or q, and no logarithm sees 0:
for |u| up to 1e3 every term is finite (tiny probabilities underflow to 0, harmlessly).
"""

from __future__ import annotations

import numpy as np

from ._checks import HESSIAN_EPS

# Rows per block in binary_grad_hess: the temporaries of one block stay in cache and are reused,
# so a call allocates only its two outputs. Large fresh temporaries are costly here: glibc
# returns freed multi-megabyte blocks to the OS and every new one page-faults again.
_CHUNK = 32_768


def _log_pt_q(u: np.ndarray, logp: np.ndarray, p: np.ndarray, q: np.ndarray) -> None:
    """log p_t, p_t and log q into the given buffers (``q`` holds log q on return)."""
    np.abs(u, out=q)
    np.negative(q, out=q)
    np.exp(q, out=q)  # e = exp(-|u|) in (0, 1]
    np.log1p(q, out=q)
    np.minimum(u, 0.0, out=logp)
    logp -= q  # log p_t = min(u, 0) - log1p(exp(-|u|))
    np.exp(logp, out=p)
    np.subtract(logp, u, out=q)  # log q = log p_t - u


def binary_loss(z: np.ndarray, sign: np.ndarray, weight: np.ndarray | None, gamma: float):
    """Per-row focal loss; ``weight`` is a_t per row (None: 1)."""
    u = z * sign
    logp, p, logq = np.empty_like(u), np.empty_like(u), np.empty_like(u)
    _log_pt_q(u, logp, p, logq)
    loss = np.negative(logp, out=logp)
    if gamma != 0.0:
        logq *= gamma
        loss *= np.exp(logq, out=logq)  # q^g
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
    """Exact gradient and the guarded second derivative w.r.t. the margin z (fresh arrays)."""
    n = z.shape[0]
    grad, hess = np.empty(n), np.empty(n)
    scratch = np.empty((5, min(n, _CHUNK)))
    for i in range(0, n, _CHUNK):
        j = min(i + _CHUNK, n)
        _block(
            z[i:j],
            sign[i:j],
            None if weight is None else weight[i:j],
            gamma,
            hessian,
            grad[i:j],
            hess[i:j],
            *scratch[:, : j - i],
        )
    return grad, hess


def _block(z, s, w, g, hessian, grad, hess, u, logp, p, q, t) -> None:
    """One block of binary_grad_hess, in place; u, logp, p, q, t are scratch rows."""
    np.multiply(z, s, out=u)
    _log_pt_q(u, logp, p, q)
    # q^g and a_t q^g, with u (no longer needed) as their buffer
    if g == 0.0:
        np.exp(q, out=q)
        aqg = w  # None means 1
    else:
        if g == 1.0:
            np.exp(q, out=q)
            qg = q
        elif g == 2.0:
            np.exp(q, out=q)
            qg = np.multiply(q, q, out=u)
        else:
            np.multiply(q, g, out=u)
            qg = np.exp(u, out=u)
            np.exp(q, out=q)
        aqg = qg if w is None else np.multiply(qg, w, out=u)

    a = np.multiply(p, logp, out=logp)  # A = p_t log p_t (<= 0)
    ga = np.multiply(a, g, out=t)  # g A
    # gradient: s a_t q^g (g A - q)
    np.subtract(ga, q, out=grad)
    if aqg is not None:
        grad *= aqg
    grad *= s

    if hessian == "surrogate":  # a_t q^g p_t q, floored
        np.multiply(p, q, out=hess)
    else:  # exact: a_t q^g [q ((2g + 1) p_t + g A) - g^2 A p_t]
        np.multiply(p, 2.0 * g + 1.0, out=hess)
        hess += ga
        hess *= q
        if g != 0.0:
            a *= p
            a *= g * g
            hess -= a
    if aqg is not None:
        hess *= aqg
    if hessian != "exact":
        np.maximum(hess, HESSIAN_EPS, out=hess)
