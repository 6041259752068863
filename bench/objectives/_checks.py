"""Argument validation and prepared labels for the focal/cross-entropy kernels.

Every check is O(1), O(K) or a single vectorised O(n) numpy pass: these functions run every
boosting round on hundreds of thousands of rows. Errors are ``ValueError`` whose message starts
with the name of the argument at fault.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Real

import numpy as np

HESSIAN_GUARDS: tuple[str, ...] = ("exact", "clip", "surrogate")
"""How ``focal_grad_hess`` makes the Hessian usable by a Newton step.

- ``"exact"``: the true second derivative; negative for badly misclassified rows when gamma > 0.
- ``"clip"``: ``max(exact, HESSIAN_EPS)``.
- ``"surrogate"``: the positive cross-entropy-shaped curvature ``a_t * q**gamma * p * (1 - p)``
  (multiclass: ``alpha_k * q**gamma * p_j * (1 - p_j)``), floored at ``HESSIAN_EPS``.
"""

DEFAULT_HESSIAN_GUARD: str = "surrogate"
"""Guard used when a caller has no reason to choose; the booster benchmarks may change it."""

HESSIAN_EPS: float = 1e-6
"""Smallest Hessian the ``"clip"`` and ``"surrogate"`` guards return: a numerical floor, not a
regulariser.

Why 1e-6:
- LightGBM and XGBoost keep per-row Hessians in float32. The floor must arrive there as a
  positive normal number (float32's smallest is ~1.2e-38), so a row can never add 0 or a
  negative amount to a leaf's Hessian sum. (XGBoost's own logistic/softmax floor, 1e-16 in
  float32, serves only this purpose.)
- It bounds the Newton step of rows with (near-)zero curvature: a leaf holding only floored rows
  moves by about -mean(g) / 1e-6 before the L2 term lambda, instead of -mean(g) / 1e-16. With
  "clip" such rows are the badly misclassified ones (|g| ~ a_t), so lambda and the learning rate
  must still absorb the step; "surrogate" floors only rows whose curvature is truly tiny
  (confidently right, or p_t < ~1e-6).
- It stays negligible for leaf admissibility: a leaf of floored rows needs over 1,000 of them to
  reach LightGBM's default ``min_sum_hessian_in_leaf`` (1e-3) and over 1e6 for XGBoost's default
  ``min_child_weight`` (1).
"""

_TINY = np.finfo(np.float64).tiny


def check_gamma(gamma: object) -> float:
    """``gamma`` as a float >= 0 (finite)."""
    if isinstance(gamma, bool) or not isinstance(gamma, Real):
        raise ValueError(f"gamma: expected a real number >= 0, got {gamma!r}")
    g = float(gamma)
    if not math.isfinite(g) or g < 0.0:
        raise ValueError(f"gamma: expected a finite number >= 0, got {gamma!r}")
    return g


def check_hessian_guard(hessian: object) -> str:
    if hessian not in HESSIAN_GUARDS:
        raise ValueError(f"hessian: expected one of {HESSIAN_GUARDS}, got {hessian!r}")
    return str(hessian)


def check_alpha(alpha: object, n_classes: int) -> float | tuple[float, ...] | None:
    """Binary (``n_classes == 2``): None or a float in [0, 1] weighting class 1.
    Multiclass: None or a length-K sequence of finite non-negative weights (returned as a tuple).
    """
    if alpha is None:
        return None
    if n_classes == 2:
        if isinstance(alpha, bool) or not isinstance(alpha, Real):
            raise ValueError(
                f"alpha: binary focal loss takes None or a float in [0, 1], got {alpha!r}"
            )
        a = float(alpha)
        if not (0.0 <= a <= 1.0):  # also rejects nan
            raise ValueError(f"alpha: expected a float in [0, 1] for binary labels, got {alpha!r}")
        return a
    try:
        arr = np.asarray(alpha, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"alpha: expected {n_classes} non-negative numbers, got {alpha!r}"
        ) from exc
    if arr.shape != (n_classes,):
        raise ValueError(
            f"alpha: expected one weight per class ({n_classes}), got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)) or np.any(arr < 0.0):
        raise ValueError(f"alpha: weights must be finite and >= 0, got {arr.tolist()}")
    return tuple(arr.tolist())


def check_margins(z: object) -> np.ndarray:
    """Raw margins as float64, shape (n,) (binary) or (n, K >= 2) (multiclass), all finite."""
    arr = np.asarray(z)
    if arr.dtype.kind not in "fiu":  # bool, complex, strings and objects are not margins
        raise ValueError(f"z: expected real-valued margins, got dtype {arr.dtype}")
    if arr.ndim not in (1, 2):
        raise ValueError(
            f"z: expected shape (n,) for binary or (n, K) for multiclass margins, got {arr.shape}"
        )
    if arr.ndim == 2 and arr.shape[1] < 3:
        # two softmax columns carry the same information as one binary margin
        raise ValueError(
            f"z: multiclass margins need K >= 3 columns (pass binary margins as shape (n,)), "
            f"got {arr.shape}"
        )
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError("z: margins must be finite (got nan or inf; did training diverge?)")
    return arr


def check_n_classes(n_classes: object) -> int:
    if isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer):
        raise ValueError(f"n_classes: expected an int >= 2, got {n_classes!r}")
    if n_classes < 2:
        raise ValueError(f"n_classes: expected an int >= 2, got {n_classes!r}")
    return int(n_classes)


def check_labels(y: object, n_classes: int) -> np.ndarray:
    """Labels as a read-only intp array of shape (n,), values integers in [0, n_classes)."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"y: expected a 1-D array of class labels, got shape {arr.shape}")
    kind = arr.dtype.kind
    if kind == "b":
        labels = arr.astype(np.intp)
    elif kind in "iu":
        labels = arr.astype(np.intp, copy=False)
    elif kind == "f":
        # boosters hand labels back as floats; accept them when they are whole numbers
        with np.errstate(invalid="ignore"):
            labels = arr.astype(np.intp)
        if not np.array_equal(labels, arr):  # catches fractions, nan and inf in one pass
            raise ValueError("y: labels must be whole numbers (class indices)")
    else:
        raise ValueError(f"y: expected integer class labels, got dtype {arr.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(
            f"y: labels must lie in [0, {n_classes - 1}], got range "
            f"[{labels.min()}, {labels.max()}]"
        )
    if labels is arr:
        labels = labels.copy()
    labels.flags.writeable = False
    return labels


@dataclass(frozen=True, eq=False)
class PreparedLabels:
    """Labels validated once, for callers that evaluate the objective every boosting round.

    Build it with :func:`prepare_labels` and pass it as ``y`` to ``focal_loss`` /
    ``focal_grad_hess``: label validation is then skipped, and the per-row sign and class
    weights derived from ``alpha`` are computed once per distinct ``alpha`` and cached.
    ``alpha``, ``gamma`` and ``hessian`` are still validated on every call (O(K) work) and the
    margins are still checked to be finite (one pass: catches a diverging model early).
    """

    y: np.ndarray  # intp, read-only, values in [0, n_classes)
    n_classes: int
    sign: np.ndarray | None  # binary only: float64 2y - 1 (read-only)
    _weights: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return self.y.shape[0]

    def row_weights(self, alpha: float | tuple[float, ...] | None) -> np.ndarray | None:
        """Per-row alpha of the true class (a_t), float64, or None when ``alpha`` is None.

        ``alpha`` must already be validated (``check_alpha``).
        """
        if alpha is None:
            return None
        w = self._weights.get(alpha)
        if w is None:
            if self.n_classes == 2:
                # a_t = alpha for y = 1, 1 - alpha for y = 0
                a = float(alpha)  # type: ignore[arg-type]  # check_alpha: a float when binary
                w = np.where(self.y == 1, a, 1.0 - a)
            else:
                w = np.asarray(alpha, dtype=np.float64)[self.y]
            w.flags.writeable = False
            if len(self._weights) >= 8:  # a tuning loop tries many alphas: keep the cache small
                self._weights.clear()
            self._weights[alpha] = w
        return w


def prepare_labels(y: object, n_classes: int) -> PreparedLabels:
    """Validate labels once for repeated ``focal_loss`` / ``focal_grad_hess`` calls.

    ``n_classes == 2`` means binary margins of shape (n,); ``n_classes >= 3`` multiclass
    margins of shape (n, n_classes).
    """
    if isinstance(y, PreparedLabels):
        if y.n_classes != check_n_classes(n_classes):
            raise ValueError(
                f"n_classes: labels were prepared for {y.n_classes} classes, got {n_classes}"
            )
        return y
    k = check_n_classes(n_classes)
    labels = check_labels(y, k)
    sign = None
    if k == 2:
        sign = 2.0 * labels - 1.0
        sign.flags.writeable = False
    return PreparedLabels(y=labels, n_classes=k, sign=sign)


def resolve_labels(y: object, z: np.ndarray) -> PreparedLabels:
    """Labels for margins ``z`` (already checked): validate raw labels or accept prepared ones."""
    n_classes = 2 if z.ndim == 1 else z.shape[1]
    labels = prepare_labels(y, n_classes) if not isinstance(y, PreparedLabels) else y
    if labels.n_classes != n_classes:
        raise ValueError(
            f"y: labels were prepared for {labels.n_classes} classes but z has "
            f"{'binary margins' if z.ndim == 1 else f'{n_classes} columns'}"
        )
    if len(labels) != z.shape[0]:
        raise ValueError(f"y: expected {z.shape[0]} labels (one per row of z), got {len(labels)}")
    return labels
