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

from . import _parallel as parallel
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
    threads: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact gradient and the guarded second derivative w.r.t. the margin z (fresh arrays).

    ``threads > 1`` splits the rows over that many threads: numpy releases the GIL inside each
    ufunc, so blocks run truly in parallel, as a native objective's gradient pass does.
    """
    n = z.shape[0]
    grad, hess = np.empty(n), np.empty(n)

    def rows(i: int, j: int) -> None:
        scratch = np.empty((6, min(j - i, _CHUNK)))
        for a in range(i, j, _CHUNK):
            b = min(a + _CHUNK, j)
            _block(
                z[a:b], sign[a:b], None if weight is None else weight[a:b], gamma, hessian,
                grad[a:b], hess[a:b], *scratch[:, : b - a],
            )  # fmt: skip

    parallel.run_split(rows, n, threads, min_rows=_CHUNK)
    return grad, hess


def _block(z, s, w, g, hessian, grad, hess, u, e, r, logp, p, q) -> None:
    """One block of binary_grad_hess, in place; u, e, r, logp, p, q are scratch rows.

    Two transcendental calls per row (three for a gamma other than 0, 1, 2): with
    e = exp(-|u|) and r = 1 / (1 + e), p_t and q are r and e r (swapped when u < 0), and
    log1p(e) comes from log(1 + e) plus the rounding error of 1 + e, (w - 1 - e) / w, which is
    exact to rounding even where 1 + e rounds to 1 (numpy's own log1p is several times slower
    than log wherever exp/log have no SIMD loop).
    """
    np.multiply(z, s, out=u)  # u = s z
    np.abs(u, out=e)
    np.negative(e, out=e)
    np.exp(e, out=e)  # e = exp(-|u|) in (0, 1]
    np.add(e, 1.0, out=r)  # w = 1 + e (rounded)
    np.log(r, out=logp)
    np.subtract(r, 1.0, out=q)
    q -= e
    q /= r  # (w - 1 - e) / w: the error of log(w) as log1p(e)
    logp -= q  # log1p(e)
    np.reciprocal(r, out=r)  # r = 1 / (1 + e)
    np.minimum(u, 0.0, out=q)
    np.subtract(q, logp, out=logp)  # log p_t = min(u, 0) - log1p(e)
    np.multiply(e, r, out=e)  # e r = exp(-|u|) / (1 + exp(-|u|))
    _swap_where_negative(u, r, e, p, q)  # p_t = r, q = e r; swapped where u < 0
    # a_t q^g into u (no longer needed after log q below)
    if g == 0.0:
        aqg = w  # None means 1
    else:
        if g == 1.0:
            np.copyto(u, q)
        elif g == 2.0:
            np.multiply(q, q, out=u)
        else:
            np.subtract(logp, u, out=u)  # log q = log p_t - u
            u *= g
            np.exp(u, out=u)
        aqg = u if w is None else np.multiply(u, w, out=u)

    a = np.multiply(p, logp, out=logp)  # A = p_t log p_t (<= 0)
    ga = np.multiply(a, g, out=e)  # g A
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


def _swap_where_negative(u, a, b, first, second) -> None:
    """first, second = (a, b) where u >= 0 and (b, a) where u < 0, branch-free on the bits.

    With m all ones where u's sign bit is set: x = (a ^ b) & m, first = a ^ x, second = b ^ x.
    Five integer passes instead of two masked copies, which cost 4-7x a plain pass. At
    u = -0.0 the swap is harmless (there a == b).
    """
    ub, ab, bb, fb, sb = (x.view(np.int64) for x in (u, a, b, first, second))
    np.right_shift(ub, 63, out=sb)  # m: arithmetic shift of the sign bit
    np.bitwise_xor(ab, bb, out=fb)
    np.bitwise_and(fb, sb, out=fb)  # x
    np.bitwise_xor(bb, fb, out=sb)
    np.bitwise_xor(ab, fb, out=fb)
