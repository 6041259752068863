"""bench.objectives: derivatives against finite differences, limits, stability, starts, errors.

Finite-difference references are computed in np.longdouble (x87 extended precision on x86-64:
64-bit mantissa, eps ~1e-19) from independent textbook formulas, with a 6th-order central
difference at h = 2**-7. Error budget where |value| ~ 1e-8 (the smallest value the 1e-6
relative criterion applies to): round-off ~1.8 eps |f| / h <= 3e-17 * |f| with |f| <= ~120 (the
multiclass loss at logits in [-30, 30]), i.e. <= 4e-15 absolute, 4e-7 relative; truncation
~h^6 / 140 * |f^(7)| ~ 2e-15 * |f^(7)|. Measured worst case over these tests: 5e-8. In float64 the
round-off alone (~1e-16 |f| / h) would swamp 1e-6 on values near 1e-8, e.g. where the focal
Hessian crosses zero while the gradient is O(1), or a multiclass gradient entry is tiny while
the row's loss is large.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import expit, logsumexp, softmax

from bench import objectives as ob

LD = np.longdouble
needs_extended = pytest.mark.skipif(
    np.finfo(LD).eps > 1e-18, reason="np.longdouble is plain double on this platform"
)

pytestmark = pytest.mark.unit
GAMMAS = [0.0, 0.5, 1.0, 2.0, 5.0]
H = LD(2.0) ** -7
FD6 = [(-3, -1), (-2, 9), (-1, -45), (1, 45), (2, -9), (3, 1)]  # (offset, weight / 60)


def fd6(f, x: np.ndarray, shift) -> np.ndarray:
    """6th-order central difference of f at x along ``shift(x, d)``."""
    return sum(w * f(shift(x, k * H)) for k, w in FD6) / (60 * H)


def check_rel(value: np.ndarray, ref: np.ndarray, what: str) -> None:
    """Relative error <= 1e-6 where |ref| > 1e-8; elsewhere an absolute error <= 1e-13."""
    value, ref = np.asarray(value, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    big = np.abs(ref) > 1e-8
    rel = np.abs(value[big] - ref[big]) / np.abs(ref[big])
    assert rel.max(initial=0.0) <= 1e-6, f"{what}: max relative error {rel.max():.3g}"
    assert np.abs(value[~big] - ref[~big]).max(initial=0.0) <= 1e-13, what


# ---- independent extended-precision references -------------------------------------------


def ref_binary_loss(z, y, alpha, gamma):
    s = 2 * y - 1
    u = s * z
    log_p = -np.log1p(np.exp(-u))  # no overflow in longdouble for |u| <= 1e3
    q = 1 / (1 + np.exp(u))
    a = 1 if alpha is None else np.where(y == 1, LD(alpha), 1 - LD(alpha))
    return -a * q ** LD(gamma) * log_p


def ref_binary_grad(z, y, alpha, gamma):  # FOCAL_NOTES formula
    s = 2 * y - 1
    u = s * z
    p = 1 / (1 + np.exp(-u))
    q = 1 / (1 + np.exp(u))
    log_p = -np.log1p(np.exp(-u))
    a = 1 if alpha is None else np.where(y == 1, LD(alpha), 1 - LD(alpha))
    g = LD(gamma)
    return s * a * q**g * (g * p * log_p - q)


def _ref_softmax(z, y):
    """p, log p_k, q = 1 - p_k and the one-hot mask, all relative to the true logit z_k
    (exp(z_j - z_k) cannot overflow in longdouble for |z| <= 1e3)."""
    onehot = np.arange(z.shape[1]) == y[:, None]
    r = np.exp(z - z[onehot][:, None])  # p_j / p_k
    others = np.where(onehot, 0, r).sum(axis=1)
    log_pk = -np.log1p(others)  # accurate as p_k -> 1
    p = r / (1 + others)[:, None]
    q = others / (1 + others)  # 1 - p_k without cancellation
    return p, log_pk, q, onehot


def ref_multi_loss(z, y, alpha, gamma):
    _, log_pk, q, _ = _ref_softmax(z, y)
    a = 1 if alpha is None else np.asarray(alpha, dtype=LD)[y]
    return -a * q ** LD(gamma) * log_pk


def ref_multi_grad(z, y, alpha, gamma):  # grad_j = f (y_j - p_j), FOCAL_NOTES
    p, log_pk, q, onehot = _ref_softmax(z, y)
    pk = p[onehot]
    a = 1 if alpha is None else np.asarray(alpha, dtype=LD)[y]
    g = LD(gamma)
    f = a * q ** (g - 1) * (g * pk * log_pk - q)
    return f[:, None] * np.where(onehot, q[:, None], -p)  # y_j - p_j, no cancellation


@needs_extended
@pytest.mark.parametrize("gamma", GAMMAS)
def test_loss_and_gradient_keep_full_relative_precision(gamma):
    """No cancellation anywhere: ~1e-14 relative even for values far below 1e-8."""
    z = np.concatenate([binary_points(), np.linspace(-700, 700, 301)])
    for label in (0, 1):
        y = np.full(z.shape, label)
        zl, yl = z.astype(LD), y.astype(LD)
        for value, ref in [
            (ob.focal_loss(z, y, 0.25, gamma), ref_binary_loss(zl, yl, 0.25, gamma)),
            (ob.focal_grad_hess(z, y, 0.25, gamma)[0], ref_binary_grad(zl, yl, 0.25, gamma)),
        ]:
            ref = ref.astype(np.float64)
            big = np.abs(ref) > 1e-290
            np.testing.assert_allclose(value[big], ref[big], rtol=1e-13, atol=0)
    for k in (3, 5):
        z, y, alpha = multiclass_points(k, seed=10 + k)
        zl = z.astype(LD)
        for value, ref in [
            (ob.focal_loss(z, y, alpha, gamma), ref_multi_loss(zl, y, alpha, gamma)),
            (ob.focal_grad_hess(z, y, alpha, gamma)[0], ref_multi_grad(zl, y, alpha, gamma)),
        ]:
            ref = ref.astype(np.float64)
            big = np.abs(ref) > 1e-290
            np.testing.assert_allclose(value[big], ref[big], rtol=1e-13, atol=0)


def _shift_binary(z, d):
    return z + d


def _shift_col(j):
    def shift(z, d):
        out = z.copy()
        out[:, j] += d
        return out

    return shift


# ---- derivatives vs finite differences ------------------------------------------------------


def binary_points(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([np.linspace(-30, 30, 241), rng.uniform(-30, 30, 200)])


@needs_extended
@pytest.mark.parametrize("alpha", [None, 0.25])
@pytest.mark.parametrize("gamma", GAMMAS)
def test_binary_derivatives_match_finite_differences(gamma, alpha):
    z = binary_points()
    for label in (0, 1):
        y = np.full(z.shape, label)
        zl, yl = z.astype(LD), y.astype(LD)
        grad, hess = ob.focal_grad_hess(z, y, alpha=alpha, gamma=gamma, hessian="exact")
        check_rel(ob.focal_loss(z, y, alpha, gamma), ref_binary_loss(zl, yl, alpha, gamma), "loss")
        fd_grad = fd6(lambda t, yl=yl: ref_binary_loss(t, yl, alpha, gamma), zl, _shift_binary)
        check_rel(grad, fd_grad, f"grad y={label}")
        fd_hess = fd6(lambda t, yl=yl: ref_binary_grad(t, yl, alpha, gamma), zl, _shift_binary)
        check_rel(hess, fd_hess, f"hess y={label}")


def multiclass_points(k: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 300
    z = rng.uniform(-30, 30, (n, k))
    y = rng.integers(0, k, n)
    # rows where the true class is confidently right (q tiny) or nearly tied with another class
    z[:40, :] = rng.uniform(-3, 3, (40, k))
    z[:20, :][np.arange(20), y[:20]] += rng.uniform(5, 25, 20)
    z[40:60, :] = 0.0
    z[40:60, :][np.arange(20), y[40:60]] = rng.normal(0, 1e-3, 20)
    alpha = rng.uniform(0.1, 2.0, k)
    return z, y, alpha


@needs_extended
@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("k", [3, 5])
def test_multiclass_derivatives_match_finite_differences(k, gamma):
    z, y, alpha = multiclass_points(k, seed=k)
    zl = z.astype(LD)
    grad, hess = ob.focal_grad_hess(z, y, alpha=alpha, gamma=gamma, hessian="exact")
    check_rel(ob.focal_loss(z, y, alpha, gamma), ref_multi_loss(zl, y, alpha, gamma), "loss")
    for j in range(k):
        fd_grad = fd6(lambda t: ref_multi_loss(t, y, alpha, gamma), zl, _shift_col(j))
        check_rel(grad[:, j], fd_grad, f"grad column {j}")
        fd_hess = fd6(lambda t, j=j: ref_multi_grad(t, y, alpha, gamma)[:, j], zl, _shift_col(j))
        check_rel(hess[:, j], fd_hess, f"hess column {j}")


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 5.0])
def test_multiclass_two_logits_reduce_to_binary(gamma):
    """K = 2 softmax over (0, z) is the sigmoid of z: the multiclass formulas (exact and
    surrogate) must give the binary ones. K = 2 is not a public shape, so call the kernel."""
    from bench.objectives._multiclass import multiclass_grad_hess, multiclass_loss

    z = binary_points(1)
    y = np.tile([0, 1], z.size)[: z.size]
    zz = np.column_stack([np.zeros_like(z), z])
    w = np.where(y == 1, 0.3, 0.7)
    np.testing.assert_allclose(
        multiclass_loss(zz, y, w, gamma), ob.focal_loss(z, y, 0.3, gamma), rtol=1e-12, atol=1e-300
    )
    for guard in ob.HESSIAN_GUARDS:
        g2, h2 = multiclass_grad_hess(zz, y, w, gamma, guard)
        g1, h1 = ob.focal_grad_hess(z, y, 0.3, gamma, hessian=guard)
        np.testing.assert_allclose(g2[:, 1], g1, rtol=1e-10, atol=1e-300)
        np.testing.assert_allclose(h2[:, 1], h1, rtol=1e-9, atol=1e-300)


# ---- gamma = 0 is cross-entropy -------------------------------------------------------------


@pytest.mark.parametrize("alpha", [None, 0.25])
def test_binary_gamma_zero_is_weighted_cross_entropy(alpha):
    z = binary_points(2)
    y = np.random.default_rng(3).integers(0, 2, z.size)
    a = 1.0 if alpha is None else np.where(y == 1, alpha, 1 - alpha)
    p, one_minus_p = expit(z), expit(-z)
    p_minus_y = np.where(y == 1, -one_minus_p, p)  # p - y without cancellation
    grad, hess = ob.focal_grad_hess(z, y, alpha=alpha, gamma=0.0, hessian="exact")
    np.testing.assert_allclose(grad, a * p_minus_y, rtol=1e-13, atol=0)
    np.testing.assert_allclose(hess, a * p * one_minus_p, rtol=1e-13, atol=0)
    log_pt = np.where(y == 1, -np.logaddexp(0, -z), -np.logaddexp(0, z))
    np.testing.assert_allclose(ob.focal_loss(z, y, alpha, 0.0), -a * log_pt, rtol=1e-13)


@pytest.mark.parametrize("weighted", [False, True])
def test_multiclass_gamma_zero_is_weighted_cross_entropy(weighted):
    rng = np.random.default_rng(4)
    k = 4
    z = rng.uniform(-30, 30, (500, k))
    y = rng.integers(0, k, 500)
    alpha = rng.uniform(0.2, 3.0, k) if weighted else None
    a = 1.0 if alpha is None else alpha[y][:, None]
    p = softmax(z, axis=1)
    onehot = np.arange(k) == y[:, None]
    rel = np.exp(z - z[onehot][:, None])  # p_j / p_k
    nlp = np.log1p(np.where(onehot, 0.0, rel).sum(axis=1))  # -log p_k, accurate as p_k -> 1
    # 1 - p_j as the sum of the other probabilities (no cancellation near p_j = 1)
    one_minus_p = np.stack([np.delete(p, j, axis=1).sum(axis=1) for j in range(k)], axis=1)
    p_minus_y = np.where(onehot, -one_minus_p, p)
    grad, hess = ob.focal_grad_hess(z, y, alpha=alpha, gamma=0.0, hessian="exact")
    np.testing.assert_allclose(grad, a * p_minus_y, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(hess, a * p * one_minus_p, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(
        ob.focal_loss(z, y, alpha, 0.0), np.ravel(a) * nlp, rtol=1e-12, atol=1e-300
    )


def test_guards_relate_to_the_exact_hessian():
    z = binary_points(5)
    y = np.tile([0, 1], z.size)[: z.size]
    _, exact = ob.focal_grad_hess(z, y, 0.25, 2.0, hessian="exact")
    g_clip, clip = ob.focal_grad_hess(z, y, 0.25, 2.0, hessian="clip")
    g_sur, sur = ob.focal_grad_hess(z, y, 0.25, 2.0, hessian="surrogate")
    assert (exact < 0).any()  # the case the guards exist for
    np.testing.assert_array_equal(clip, np.maximum(exact, ob.HESSIAN_EPS))
    p_t = expit(np.where(y == 1, z, -z))
    a_t = np.where(y == 1, 0.25, 0.75)
    q = 1 - p_t
    np.testing.assert_allclose(sur, np.maximum(a_t * q**2 * p_t * q, ob.HESSIAN_EPS), rtol=1e-9)
    g_exact, _ = ob.focal_grad_hess(z, y, 0.25, 2.0, hessian="exact")
    np.testing.assert_array_equal(g_clip, g_exact)
    np.testing.assert_array_equal(g_sur, g_exact)
    assert ob.DEFAULT_HESSIAN_GUARD in ob.HESSIAN_GUARDS


# ---- stability: finite everywhere, guarded Hessians positive ---------------------------------


def _margins(draw, shape, dtype):
    width = 32 if dtype == np.float32 else 64
    elements = st.floats(-1e3, 1e3, allow_nan=False, width=width)
    return draw(hnp.arrays(dtype, shape, elements=elements))


@st.composite
def binary_case(draw):
    n = draw(st.integers(1, 40))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    z = _margins(draw, (n,), dtype)
    y = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, 1)))
    alpha = draw(st.none() | st.floats(0.0, 1.0))
    gamma = draw(st.sampled_from(GAMMAS) | st.floats(0.0, 10.0))
    return z, y, alpha, gamma


@st.composite
def multiclass_case(draw):
    n = draw(st.integers(1, 20))
    k = draw(st.integers(3, 6))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    z = _margins(draw, (n, k), dtype)
    y = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, k - 1)))
    alpha = draw(st.none() | hnp.arrays(np.float64, (k,), elements=st.floats(0.0, 10.0)))
    gamma = draw(st.sampled_from(GAMMAS) | st.floats(0.0, 10.0))
    return z, y, alpha, gamma


def _assert_stable(z, y, alpha, gamma):
    # no overflow, invalid operation or division by zero (underflow to 0 is expected)
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        loss = ob.focal_loss(z, y, alpha, gamma)
        assert loss.dtype == np.float64 and loss.shape == (z.shape[0],)
        assert np.isfinite(loss).all() and (loss >= 0).all()
        for guard in ob.HESSIAN_GUARDS:
            grad, hess = ob.focal_grad_hess(z, y, alpha, gamma, hessian=guard)
            assert grad.dtype == hess.dtype == np.float64
            assert grad.shape == hess.shape == z.shape
            assert np.isfinite(grad).all() and np.isfinite(hess).all()
            if guard != "exact":
                assert (hess >= ob.HESSIAN_EPS).all()


@settings(max_examples=150, deadline=None)
@given(binary_case())
def test_binary_is_finite_for_large_margins(case):
    _assert_stable(*case)


@settings(max_examples=150, deadline=None)
@given(multiclass_case())
def test_multiclass_is_finite_for_large_margins(case):
    _assert_stable(*case)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_margins_give_the_right_limits(dtype):
    z = np.array([-1e3, -800.0, 800.0, 1e3], dtype=dtype)
    y = np.array([1, 1, 1, 1])
    loss = ob.focal_loss(z, y, None, 0.5)
    np.testing.assert_allclose(loss, [1e3, 800.0, 0.0, 0.0], rtol=1e-7)
    grad, hess = ob.focal_grad_hess(z, y, None, 0.5)
    np.testing.assert_allclose(grad, [-1.0, -1.0, 0.0, 0.0])
    zm = np.array([[1e3, -1e3, 0.0], [-1e3, 1e3, 0.0]], dtype=dtype)
    np.testing.assert_allclose(ob.focal_loss(zm, np.array([0, 0]), None, 0.5), [0.0, 2e3])


# ---- start margins --------------------------------------------------------------------------


def imbalanced_labels(n: int = 20_000, rate: float = 0.03, seed: int = 0) -> np.ndarray:
    y = np.zeros(n, dtype=int)
    y[np.random.default_rng(seed).choice(n, int(rate * n), replace=False)] = 1
    return y


def summed(z0, y, alpha, gamma):
    z = np.full(y.shape, z0) if np.ndim(z0) == 0 else np.tile(z0, (y.size, 1))
    loss = ob.focal_loss(z, y, alpha, gamma).sum()
    grad, hess = ob.focal_grad_hess(z, y, alpha, gamma, hessian="exact")
    return loss, grad.sum(axis=0), hess.sum(axis=0)


def test_ce_start_binary_and_multiclass():
    y = imbalanced_labels()
    assert ob.ce_start(y, 2) == pytest.approx(np.log(0.03 / 0.97), rel=1e-12)
    assert isinstance(ob.ce_start(y, 2), float)
    y3 = np.repeat([0, 1, 2], [10, 30, 60])
    np.testing.assert_allclose(ob.ce_start(y3, 3), np.log([0.1, 0.3, 0.6]), rtol=1e-14)


@pytest.mark.parametrize("alpha", [None, 0.25, 0.9])
def test_binary_focal_start_reduces_to_cross_entropy(alpha):
    y = imbalanced_labels()
    start = ob.focal_start(y, 2, alpha=alpha, gamma=0.0)
    assert isinstance(start, float)
    pi = y.mean()
    if alpha is not None:
        pi = alpha * pi / (alpha * pi + (1 - alpha) * (1 - pi))
    assert start == pytest.approx(np.log(pi / (1 - pi)), abs=1e-12)
    if alpha is None:
        assert start == pytest.approx(ob.ce_start(y, 2), abs=1e-12)


@pytest.mark.parametrize("alpha", [None, 0.25])
def test_binary_focal_start_minimises_the_summed_focal_loss(alpha):
    y = imbalanced_labels()
    start, ce = ob.focal_start(y, 2, alpha=alpha, gamma=2.0), ob.ce_start(y, 2)
    loss, grad, hess = summed(start, y, alpha, 2.0)
    assert loss < summed(ce, y, alpha, 2.0)[0]
    for delta in (1e-3, 1e-2, 0.1):
        assert loss < summed(start - delta, y, alpha, 2.0)[0]
        assert loss < summed(start + delta, y, alpha, 2.0)[0]
    assert abs(grad) <= 1e-9 * y.size  # a stationary point, to rounding
    assert hess > 0  # the start-point bug guard: Newton steps from here are well defined


def test_binary_start_bug_exists_at_the_cross_entropy_start():
    """Why focal_start exists: at logit(mean y) the total exact focal Hessian is negative."""
    y = imbalanced_labels()
    assert summed(ob.ce_start(y, 2), y, None, 2.0)[2] < 0
    assert summed(ob.focal_start(y, 2, gamma=2.0), y, None, 2.0)[2] > 0


def multiclass_labels() -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.choice(4, size=20_000, p=[0.85, 0.1, 0.04, 0.01])


@pytest.mark.parametrize("alpha", [None, (0.5, 1.0, 2.0, 4.0)])
def test_multiclass_focal_start_reduces_to_cross_entropy(alpha):
    y = multiclass_labels()
    start = ob.focal_start(y, 4, alpha=alpha, gamma=0.0)
    assert start.shape == (4,)
    assert logsumexp(start) == pytest.approx(0.0, abs=1e-12)
    counts = np.bincount(y, minlength=4) * (1.0 if alpha is None else np.asarray(alpha))
    np.testing.assert_allclose(start, np.log(counts / counts.sum()), atol=1e-8)
    if alpha is None:
        np.testing.assert_allclose(start, ob.ce_start(y, 4), atol=1e-8)


@pytest.mark.parametrize("alpha", [None, (0.25, 1.0, 1.0, 2.0)])
def test_multiclass_focal_start_minimises_the_summed_focal_loss(alpha):
    y = multiclass_labels()
    start = ob.focal_start(y, 4, alpha=alpha, gamma=2.0)
    loss, grad, hess = summed(start, y, alpha, 2.0)
    assert loss < summed(ob.ce_start(y, 4), y, alpha, 2.0)[0]
    rng = np.random.default_rng(0)
    for delta in (1e-3, 1e-2, 0.1):
        for j in range(4):
            for sgn in (-1, 1):
                assert loss < summed(start + sgn * delta * np.eye(4)[j], y, alpha, 2.0)[0]
        direction = rng.normal(size=4)
        assert loss < summed(start + delta * direction, y, alpha, 2.0)[0]
    assert np.abs(grad).max() <= 1e-7 * y.size
    assert (hess > 0).all()


def test_focal_start_rejects_an_infinite_optimum():
    with pytest.raises(ValueError, match="^y"):
        ob.focal_start(np.zeros(10, dtype=int), 2)
    with pytest.raises(ValueError, match="^y"):
        ob.ce_start(np.array([0, 1, 1]), 3)
    with pytest.raises(ValueError, match="^alpha"):
        ob.focal_start(np.array([0, 1, 1]), 2, alpha=1.0)
    with pytest.raises(ValueError, match="^alpha"):
        ob.focal_start(np.array([0, 1, 2]), 3, alpha=(1.0, 0.0, 1.0))


# ---- prepared labels and helpers ------------------------------------------------------------


def test_prepared_labels_give_the_same_results():
    rng = np.random.default_rng(8)
    z, y = rng.normal(0, 3, 1000), rng.integers(0, 2, 1000)
    prepared = ob.prepare_labels(y.astype(np.float32), 2)  # boosters hand back float labels
    for alpha in (None, 0.25, 0.75, 0.25):
        for guard in ob.HESSIAN_GUARDS:
            for a, b in zip(
                ob.focal_grad_hess(z, prepared, alpha, 2.0, guard),
                ob.focal_grad_hess(z, y, alpha, 2.0, guard),
                strict=True,
            ):
                np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ob.focal_loss(z, prepared, alpha), ob.focal_loss(z, y, alpha))
    zm, ym = rng.normal(0, 3, (100, 3)), rng.integers(0, 3, 100)
    prepared = ob.prepare_labels(ym, 3)
    alpha = (1.0, 2.0, 3.0)
    for a, b in zip(
        ob.focal_grad_hess(zm, prepared, alpha), ob.focal_grad_hess(zm, ym, alpha), strict=True
    ):
        np.testing.assert_array_equal(a, b)


def test_large_inputs_match_row_by_row_blocks():
    """The kernels work in blocks of rows; results must not depend on where blocks start."""
    rng = np.random.default_rng(9)
    for shape, k in [((70_001,), 2), ((20_011, 5), 5)]:
        z = rng.normal(0, 4, shape)
        y = rng.integers(0, k, shape[0])
        alpha = 0.3 if k == 2 else tuple(rng.uniform(0.5, 2, k))
        for guard in ob.HESSIAN_GUARDS:
            g, h = ob.focal_grad_hess(z, y, alpha, 2.0, guard)
            parts = [
                ob.focal_grad_hess(z[i : i + 997], y[i : i + 997], alpha, 2.0, guard)
                for i in range(0, shape[0], 997)
            ]
            # equal up to rounding (a SIMD loop may treat a block's tail differently)
            for got, part in ((g, 0), (h, 1)):
                want = np.concatenate([p[part] for p in parts])
                np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_threads_split_rows_without_changing_a_bit():
    """threads > 1 hands row slices to worker threads; every row sees the same arithmetic."""
    rng = np.random.default_rng(10)
    for shape, k in [((100_003,), 2), ((30_011, 4), 4)]:
        z, y = rng.normal(0, 4, shape), rng.integers(0, k, shape[0])
        alpha = 0.3 if k == 2 else tuple(rng.uniform(0.5, 2, k))
        for guard in ob.HESSIAN_GUARDS:
            one = ob.focal_grad_hess(z, y, alpha, 0.5, guard)
            for threads in (2, 3):
                for a, b in zip(
                    one, ob.focal_grad_hess(z, y, alpha, 0.5, guard, threads), strict=True
                ):
                    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("gamma", GAMMAS)
def test_compiled_catboost_kernel_matches_the_numpy_kernel(gamma):
    """CatBoost's per-block compiled loop: the same derivatives (sign-flipped, weighted) for
    every guard, alpha and margin up to |z| = 1e3, with float32 labels and weights as CatBoost
    hands them over."""
    rng = np.random.default_rng(11)
    z = np.concatenate([rng.normal(0, 5, 2000), [-1e3, -40.0, -1e-9, 0.0, 1e-9, 40.0, 1e3]])
    y = (rng.random(z.size) < 0.3).astype(np.float32)
    weight = rng.uniform(0.1, 3.0, z.size).astype(np.float32)
    for alpha in (None, 0.25):
        a_pos, a_neg = (1.0, 1.0) if alpha is None else (alpha, 1.0 - alpha)
        for guard, mode in ob.COMPILED_HESSIAN_MODES.items():
            g, h = ob.focal_grad_hess(z, y, alpha, gamma, guard)
            for w in (np.empty(0, np.float32), weight):
                out = np.empty((z.size, 2))
                ob.catboost_binary_ders(z, y, w, a_pos, a_neg, gamma, mode, ob.HESSIAN_EPS, out)
                scale = w if w.size else 1.0
                np.testing.assert_allclose(-out[:, 0], g * scale, rtol=1e-12, atol=1e-300)
                np.testing.assert_allclose(-out[:, 1], h * scale, rtol=1e-12, atol=1e-300)
    assert set(ob.COMPILED_HESSIAN_MODES) == set(ob.HESSIAN_GUARDS)


@pytest.mark.parametrize("gamma", GAMMAS)
def test_full_multiclass_hessian_has_the_diagonal_and_matches_finite_differences(gamma):
    """The K x K Hessian CatBoost's multiclass Newton step takes: its diagonal is
    ``focal_grad_hess``'s; exact, it is the derivative of the gradient; at gamma = 0 it is
    the softmax cross-entropy Hessian diag(p) - p p^T."""
    rng = np.random.default_rng(12)
    z = rng.normal(0, 3, (60, 4))
    y = rng.integers(0, 4, 60)
    alpha = (0.5, 1.0, 2.0, 1.5)
    for guard in ob.HESSIAN_GUARDS:
        full = ob.focal_full_hessian(z, y, alpha, gamma, guard)
        np.testing.assert_allclose(full, np.transpose(full, (0, 2, 1)), rtol=0, atol=1e-15)
        if guard != "clip":  # clip floors the diagonal alone, the matrix drops a rank-one term
            diag = ob.focal_grad_hess(z, y, alpha, gamma, guard)[1]
            np.testing.assert_allclose(np.einsum("nii->ni", full), diag, rtol=1e-12, atol=1e-15)
    exact = ob.focal_full_hessian(z, y, alpha, gamma, "exact")
    step = 1e-6
    for j in range(4):
        up, down = z.copy(), z.copy()
        up[:, j] += step
        down[:, j] -= step
        numeric = (
            ob.focal_grad_hess(up, y, alpha, gamma)[0]
            - ob.focal_grad_hess(down, y, alpha, gamma)[0]
        ) / (2 * step)
        np.testing.assert_allclose(exact[:, :, j], numeric, rtol=1e-6, atol=1e-8)
    if gamma == 0.0:
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        softmax = p[:, :, None] * np.eye(4) - p[:, :, None] * p[:, None, :]
        np.testing.assert_allclose(ob.focal_full_hessian(z, y, None, 0.0), softmax, atol=1e-15)


@pytest.mark.parametrize("gamma", GAMMAS)
def test_compiled_catboost_multiclass_row_kernel_matches_the_numpy_kernels(gamma):
    """CatBoost's per-row multiclass loop: -gradient and -full Hessian times the row weight,
    for every guard and alpha, margins up to |z| = 1e3."""
    rng = np.random.default_rng(13)
    z = np.concatenate([rng.normal(0, 5, (300, 3)), [[1e3, -1e3, 0.0], [-40.0, 40.0, 1e-9]]])
    y = rng.integers(0, 3, len(z))
    weight = rng.uniform(0.1, 3.0, len(z))
    for alpha in (None, (0.5, 1.0, 2.0)):
        a = np.ones(3) if alpha is None else np.asarray(alpha)
        for guard, mode in ob.COMPILED_HESSIAN_MODES.items():
            g = ob.focal_grad_hess(z, y, alpha, gamma, guard)[0]
            h = ob.focal_full_hessian(z, y, alpha, gamma, guard)
            grad, hess = np.empty(3), np.empty((3, 3))
            for i in range(len(z)):
                ob.catboost_multi_ders(
                    z[i], int(y[i]), a[y[i]], gamma, mode, ob.HESSIAN_EPS, weight[i], grad, hess
                )
                np.testing.assert_allclose(-grad, g[i] * weight[i], rtol=1e-12, atol=1e-300)
                # entries that cancel (p_i p_j against the rank-one term) agree to the matrix's
                # own scale, not their own
                size = np.abs(h[i]).max() * weight[i]
                np.testing.assert_allclose(-hess, h[i] * weight[i], rtol=1e-11, atol=1e-11 * size)


def test_outputs_are_fresh_writable_arrays():
    z, y = np.linspace(-5, 5, 11), np.arange(11) % 2
    prepared = ob.prepare_labels(y, 2)
    for guard in ob.HESSIAN_GUARDS:
        for gamma in (0.0, 1.0, 2.0):
            g, h = ob.focal_grad_hess(z, prepared, None, gamma, guard)
            assert g.flags.writeable and h.flags.writeable
            assert not np.shares_memory(g, h) and not np.shares_memory(g, z)
            h *= 2.0  # adapters scale the Hessian in place
            g2, _ = ob.focal_grad_hess(z, prepared, None, gamma, guard)
            np.testing.assert_array_equal(g, g2)


def test_native_softmax_hessian_factor():
    assert ob.native_softmax_hessian_factor("lightgbm", 5) == pytest.approx(5 / 4)
    assert ob.native_softmax_hessian_factor("xgboost", 5) == 2.0
    with pytest.raises(ValueError, match="^booster"):
        ob.native_softmax_hessian_factor("sklearn", 5)


# ---- bad input ------------------------------------------------------------------------------

Z2, Y2 = np.array([0.1, -0.2, 0.3]), np.array([0, 1, 1])
Z3, Y3 = np.zeros((3, 3)), np.array([0, 1, 2])

BAD_CALLS = [
    ("alpha", lambda: ob.focal_loss(Z2, Y2, alpha=1.5)),
    ("alpha", lambda: ob.focal_loss(Z2, Y2, alpha=-0.1)),
    ("alpha", lambda: ob.focal_grad_hess(Z2, Y2, alpha=float("nan"))),
    ("alpha", lambda: ob.focal_grad_hess(Z2, Y2, alpha=[0.5, 0.5])),
    ("alpha", lambda: ob.focal_grad_hess(Z3, Y3, alpha=[1.0, 1.0])),
    ("alpha", lambda: ob.focal_grad_hess(Z3, Y3, alpha=[1.0, -1.0, 1.0])),
    ("alpha", lambda: ob.focal_loss(Z3, Y3, alpha=[1.0, float("inf"), 1.0])),
    ("alpha", lambda: ob.focal_loss(Z3, Y3, alpha=0.5)),
    ("alpha", lambda: ob.focal_start(Y2, 2, alpha=2.0)),
    ("gamma", lambda: ob.focal_loss(Z2, Y2, gamma=-1.0)),
    ("gamma", lambda: ob.focal_grad_hess(Z2, Y2, gamma=float("nan"))),
    ("gamma", lambda: ob.focal_grad_hess(Z3, Y3, gamma=float("inf"))),
    ("gamma", lambda: ob.focal_grad_hess(Z2, Y2, gamma="2")),
    ("gamma", lambda: ob.focal_start(Y2, 2, gamma=-0.5)),
    ("y", lambda: ob.focal_loss(Z2, np.array([0, 2, 1]))),
    ("y", lambda: ob.focal_loss(Z2, np.array([0, -1, 1]))),
    ("y", lambda: ob.focal_grad_hess(Z2, np.array([0.0, 0.5, 1.0]))),
    ("y", lambda: ob.focal_grad_hess(Z2, np.array([0.0, np.nan, 1.0]))),
    ("y", lambda: ob.focal_grad_hess(Z2, np.array(["a", "b", "c"]))),
    ("y", lambda: ob.focal_grad_hess(Z2, np.array([0, 1]))),
    ("y", lambda: ob.focal_grad_hess(Z2, Y2[:, None])),
    ("y", lambda: ob.focal_grad_hess(Z3, np.array([0, 1, 3]))),
    ("y", lambda: ob.focal_grad_hess(Z3, ob.prepare_labels(Y2, 2))),
    ("y", lambda: ob.focal_grad_hess(Z2[:2], ob.prepare_labels(Y2, 2))),
    ("y", lambda: ob.ce_start(np.array([0, 1, 5]), 3)),
    ("z", lambda: ob.focal_loss(np.array([0.0, np.nan, 1.0]), Y2)),
    ("z", lambda: ob.focal_grad_hess(np.array([0.0, np.inf, 1.0]), Y2)),
    ("z", lambda: ob.focal_grad_hess(np.zeros((3, 3, 1)), Y2)),
    ("z", lambda: ob.focal_grad_hess(np.zeros((3, 1)), Y2)),
    ("z", lambda: ob.focal_grad_hess(np.zeros((3, 2)), Y2)),
    ("z", lambda: ob.focal_grad_hess(np.array(["a", "b", "c"]), Y2)),
    ("hessian", lambda: ob.focal_grad_hess(Z2, Y2, hessian="newton")),
    ("threads", lambda: ob.focal_grad_hess(Z2, Y2, threads=0)),
    ("threads", lambda: ob.focal_grad_hess(Z3, Y3, threads=1.5)),
    ("n_classes", lambda: ob.ce_start(Y2, 1)),
    ("n_classes", lambda: ob.focal_start(Y2, 2.0)),
    ("n_classes", lambda: ob.prepare_labels(ob.prepare_labels(Y2, 2), 3)),
]


@pytest.mark.parametrize(("name", "call"), BAD_CALLS)
def test_bad_input_names_the_argument(name, call):
    with pytest.raises(ValueError, match=f"^{name}\\b"):
        call()
