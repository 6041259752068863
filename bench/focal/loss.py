"""``FocalLoss``: bench's verified focal objective in the form each boosting library expects.

The math is ``bench.objectives`` and the library details (Hessian scale, start margin, CatBoost's
log-likelihood sign) are those of the sweep's adapters in ``bench.boosters``; this module only
hands them out for use with the libraries' own training calls. No booster library is imported
here until one of its forms is asked for.

The three things people get wrong with a custom objective, and what this module does about them:

- the start: with a custom objective the libraries start every row at margin 0 (LightGBM,
  XGBClassifier) or 0.5 (``xgb.train``). Pass :meth:`FocalLoss.init_rows` as ``init_score`` /
  ``base_margin`` / ``baseline``: the constant that minimises the focal loss itself.
- predictions: ``Booster.predict`` then returns raw margins (LightGBM and CatBoost leave the
  start out); :meth:`FocalLoss.predict_proba` adds the start back and applies the link.
- early stopping: the default metrics are computed on margins; pass :meth:`lightgbm_metric`,
  :meth:`xgboost_metric` or :meth:`catboost_metric` (the focal loss of probabilities) instead.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np

from bench import objectives
from bench.boosters import _common
from bench.boosters.base import LossSpec

Alpha = float | tuple[float, ...] | None
GradHess = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class FocalLoss:
    """Focal loss -a_t (1 - p_t)^gamma log p_t for binary and multiclass gradient boosting.

    ``alpha``: None (no class weighting); for binary labels a float in (0, 1), the weight of
    class 1 (class 0 gets 1 - alpha); for K >= 3 classes a sequence of K positive weights.
    ``gamma`` >= 0 is the focusing strength (0 gives cross-entropy, exactly the library's
    native objective). ``hessian`` is the guard a Newton step needs, since the exact focal
    Hessian is negative for badly misclassified rows: ``"surrogate"`` (default), ``"clip"`` or
    ``"exact"`` (see ``bench.objectives.HESSIAN_GUARDS``).

    Labels are integers 0..K-1 throughout (use scikit-learn's ``LabelEncoder`` for others, or
    the classifiers in ``bench.focal``, which do it for you).

    Example (LightGBM; XGBoost and CatBoost have the same three methods)::

        fl = FocalLoss(alpha=0.25, gamma=2.0)
        start = fl.init_score(y)                       # a float (binary) or (K,) array
        train = lgb.Dataset(X, y, init_score=fl.init_rows(y))
        booster = lgb.train({"objective": fl.lightgbm_objective()}, train, 100)
        proba = fl.predict_proba(booster.predict(X, raw_score=True), init_score=start)
    """

    alpha: Alpha = None
    gamma: float = 2.0
    hessian: str = objectives.DEFAULT_HESSIAN_GUARD

    def __post_init__(self) -> None:
        object.__setattr__(self, "alpha", _check_alpha(self.alpha))
        object.__setattr__(self, "gamma", objectives.check_gamma(self.gamma))
        if self.hessian not in objectives.HESSIAN_GUARDS:
            raise ValueError(
                f"hessian: expected one of {objectives.HESSIAN_GUARDS}, got {self.hessian!r}"
            )

    # ---- library-agnostic ---------------------------------------------------------------

    def spec(self) -> LossSpec:
        """This loss as the sweep's booster-agnostic ``LossSpec`` (what the adapters train)."""
        return LossSpec("focal", alpha=self.alpha, gamma=self.gamma, hessian=self.hessian)

    def loss(self, y: Any, margin: Any) -> np.ndarray:
        """Per-row focal loss at raw margins ((n,) binary, (n, K) multiclass), start included.

        >>> FocalLoss(gamma=0.0).loss([1], [0.0])  # cross-entropy at p = 0.5: log 2
        array([0.69314718])
        """
        margin = np.asarray(margin, dtype=np.float64)
        self._alpha_for(_classes_of(margin))
        return objectives.focal_loss(margin, y, alpha=self.alpha, gamma=self.gamma)

    def grad_hess(self, y: Any, margin: Any) -> GradHess:
        """Gradient and guarded Hessian of :meth:`loss` w.r.t. the margins (shape of ``margin``).

        These are the loss's own derivatives; the library forms below add what each library
        needs on top (a native softmax Hessian scale, sample weights, CatBoost's sign).

        >>> g, h = FocalLoss(gamma=0.0, hessian="exact").grad_hess([1], [0.0])  # p - y, p(1-p)
        >>> float(g[0]), float(h[0])
        (-0.5, 0.25)
        """
        margin = np.asarray(margin, dtype=np.float64)
        self._alpha_for(_classes_of(margin))
        return objectives.focal_grad_hess(
            margin, y, alpha=self.alpha, gamma=self.gamma, hessian=self.hessian
        )

    def init_score(self, y: Any, n_classes: int | None = None) -> float | np.ndarray:
        """The constant margin boosting should start from: the one minimising the focal loss.

        A float for binary labels, a (K,) array of log-probabilities for K >= 3 classes.
        ``n_classes`` defaults to ``max(y) + 1``; every class must occur in ``y``.

        >>> round(FocalLoss(gamma=0.0).init_score([0, 0, 0, 1]), 6)  # log(1/3): the prior
        -1.098612
        """
        labels, k = _labels(y, n_classes)
        self._alpha_for(k)
        return _common.start_margin(labels, k, self.spec())

    def init_rows(
        self, y: Any, n_rows: int | None = None, n_classes: int | None = None
    ) -> np.ndarray:
        """:meth:`init_score` of the TRAINING labels ``y``, repeated for ``n_rows`` rows (default
        ``len(y)``): (n_rows,) binary, (n_rows, K) multiclass.

        Pass it as LightGBM's ``init_score``, XGBoost's ``base_margin`` or CatBoost's
        ``baseline`` of the training data, and with ``n_rows=len(X_valid)`` of the validation
        data (XGBoost: of the predict data too): every row starts where training started.

        >>> fl = FocalLoss()
        >>> fl.init_rows([0, 1, 1]).shape, fl.init_rows([0, 1, 1], n_rows=5).shape
        ((3,), (5,))
        """
        labels, k = _labels(y, n_classes)
        n = len(labels) if n_rows is None else n_rows
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise ValueError(f"n_rows: expected an integer >= 0, got {n_rows!r}")
        return _common.start_rows(self.init_score(labels, k), int(n), k)

    @staticmethod
    def predict_proba(margin: Any, init_score: float | np.ndarray | None = None) -> np.ndarray:
        """Raw margins -> class probabilities (n, K): sigmoid (binary) or softmax (multiclass).

        ``init_score``: the start to add back first. LightGBM (``predict(raw_score=True)``) and
        CatBoost (``prediction_type="RawFormulaVal"``) leave it out of raw predictions; XGBoost
        includes it when the predict ``DMatrix`` has the ``base_margin``.

        >>> FocalLoss.predict_proba([0.0]).tolist()
        [[0.5, 0.5]]
        """
        z = np.asarray(margin, dtype=np.float64)
        if z.ndim == 2 and z.shape[1] == 1:
            z = z[:, 0]
        if init_score is not None:
            z = z + np.asarray(init_score, dtype=np.float64)
        return _common.margin_to_proba(z, 2 if z.ndim == 1 else z.shape[1])

    # ---- LightGBM -----------------------------------------------------------------------

    def lightgbm_objective(self, threads: int = 1) -> Callable[[np.ndarray, Any], GradHess]:
        """``objective`` for ``lgb.train``: ``(preds, train_data) -> (grad, hess)``.

        Labels and weights come from the Dataset; give it ``init_score=self.init_rows(y)``
        (and a validation Dataset ``init_score=self.init_rows(y, len(X_valid))``).
        Multiclass Hessians carry LightGBM's native softmax scale K/(K-1), so ``gamma=0``
        trains the native ``multiclass`` model. ``threads``: rows split for the gradient pass.

        >>> objective = FocalLoss(alpha=0.25).lightgbm_objective()
        >>> # lgb.train({"objective": objective, "num_class": K (multiclass)}, train_set)
        """
        return _DatasetObjective(self, "lightgbm", threads)

    def lightgbm_metric(self) -> Callable[[np.ndarray, Any], tuple[str, float, bool]]:
        """``feval`` for ``lgb.train``: mean focal loss (``"focal_loss"``, lower is better).

        Use it with :meth:`lightgbm_objective` (LightGBM then hands it margins, the start
        included), and set ``"metric": "None"``: the built-in metrics read margins as
        probabilities under a custom objective.

        >>> feval = FocalLoss().lightgbm_metric()
        >>> # lgb.train(..., valid_sets=[valid], feval=feval,
        >>> #           callbacks=[lgb.early_stopping(50)])
        """
        metric = _DatasetMetric(self)

        def feval(preds: np.ndarray, data: Any) -> tuple[str, float, bool]:
            return "focal_loss", metric(preds, data), False

        return feval

    # ---- XGBoost ------------------------------------------------------------------------

    def xgboost_objective(self, threads: int = 1) -> Callable[[np.ndarray, Any], GradHess]:
        """``obj`` for ``xgb.train``: ``(predt, dtrain) -> (grad, hess)``.

        Labels and weights come from the DMatrix; give every DMatrix (train, validation and
        predict) ``base_margin=self.init_rows(y_train, n_rows)``, or XGBoost starts at 0.5.
        Multiclass Hessians carry XGBoost's native softmax factor 2, so ``gamma=0`` trains the
        native ``multi:softprob`` model (pass ``num_class``).

        >>> obj = FocalLoss(alpha=0.25).xgboost_objective()
        >>> # xgb.train({"disable_default_eval_metric": 1}, dtrain, 100, obj=obj)
        """
        return _DatasetObjective(self, "xgboost", threads)

    def xgboost_metric(self) -> Callable[[np.ndarray, Any], tuple[str, float]]:
        """``custom_metric`` for ``xgb.train``: mean focal loss (``"focal_loss"``; minimise).

        Use it with :meth:`xgboost_objective` (XGBoost then hands it margins, the
        ``base_margin`` included) and ``"disable_default_eval_metric": 1``.

        >>> metric = FocalLoss().xgboost_metric()
        >>> # xgb.train(..., evals=[(dvalid, "valid")], custom_metric=metric,
        >>> #           early_stopping_rounds=50)
        """
        metric = _DatasetMetric(self)

        def custom_metric(predt: np.ndarray, data: Any) -> tuple[str, float]:
            return "focal_loss", metric(predt, data)

        return custom_metric

    # ---- CatBoost -----------------------------------------------------------------------

    def catboost_objective(self, n_classes: int = 2) -> Any:
        """``loss_function`` for CatBoost: an object with ``calc_ders_range`` (binary) or
        ``calc_ders_multi`` (multiclass; pass ``classes_count=n_classes`` too).

        CatBoost needs an ``eval_metric`` with a Python objective (:meth:`catboost_metric`)
        and the start as the Pool's ``baseline``. To reproduce native ``Logloss`` /
        ``MultiClass`` at ``gamma=0``, use the same leaf estimation for both
        (``leaf_estimation_method="Newton"``, ``leaf_estimation_iterations=1``,
        ``leaf_estimation_backtracking="No"``, ``boost_from_average=False``), the same
        ``bootstrap_type`` (CatBoost's default differs between native MultiClass and a Python
        objective) and an explicit learning rate. The multiclass objective is called once per
        row: slow on large data.

        >>> objective = FocalLoss(alpha=0.25).catboost_objective()
        >>> # CatBoost({"loss_function": objective,
        >>> #           "eval_metric": FocalLoss(alpha=0.25).catboost_metric()})
        """
        k = _check_n_classes(n_classes)
        self._alpha_for(k)
        from bench.boosters import _catboost  # imports catboost

        return _catboost._loss_function(self.spec(), k)

    def catboost_metric(self, n_classes: int = 2) -> Any:
        """``eval_metric`` for CatBoost: the weighted mean focal loss (minimise), computed on
        the margins CatBoost passes (the Pool's ``baseline`` included).

        >>> metric = FocalLoss().catboost_metric()
        >>> # CatBoost({"loss_function": ..., "eval_metric": metric, "od_type": "Iter"})
        """
        k = _check_n_classes(n_classes)
        self._alpha_for(k)
        return FocalLossMetric(self, k)

    # ---- helpers ------------------------------------------------------------------------

    def _alpha_for(self, n_classes: int) -> None:
        """Reject an alpha that has no meaning for ``n_classes`` classes (ValueError: alpha)."""
        if self.alpha is None:
            return
        if n_classes == 2 and isinstance(self.alpha, tuple):
            raise ValueError(
                f"alpha: binary labels take one float in (0, 1), the weight of class 1; "
                f"got {len(self.alpha)} weights"
            )
        if n_classes > 2 and not isinstance(self.alpha, tuple):
            raise ValueError(
                f"alpha: {n_classes} classes need {n_classes} weights (one per class), "
                f"got the binary form {self.alpha!r}"
            )
        if n_classes > 2 and len(self.alpha) != n_classes:  # type: ignore[arg-type]
            raise ValueError(
                f"alpha: {n_classes} classes need {n_classes} weights, got {self.alpha!r}"
            )


def _check_alpha(alpha: object) -> Alpha:
    """None, a float strictly inside (0, 1), or >= 3 positive finite weights: alpha = 0 or 1
    (a zero class weight) leaves the loss without a finite minimiser."""
    if alpha is None:
        return None
    if isinstance(alpha, Real) and not isinstance(alpha, bool):
        a = float(alpha)
        if not 0.0 < a < 1.0:  # also rejects nan
            raise ValueError(
                f"alpha: a float alpha is the weight of class 1 in a binary task and must lie "
                f"strictly between 0 and 1, got {alpha!r}"
            )
        return a
    if isinstance(alpha, str | bytes) or not isinstance(alpha, Sequence | np.ndarray):
        raise ValueError(f"alpha: expected None, a float or a sequence of weights, got {alpha!r}")
    try:
        weights = tuple(float(v) for v in alpha)
    except (TypeError, ValueError):
        raise ValueError(f"alpha: expected numbers, got {alpha!r}") from None
    if len(weights) < 3:
        raise ValueError(
            f"alpha: per-class weights are for 3 or more classes (binary: one float for "
            f"class 1), got {alpha!r}"
        )
    if not all(math.isfinite(w) and w > 0.0 for w in weights):
        raise ValueError(f"alpha: class weights must be finite and > 0, got {alpha!r}")
    return weights


def _check_n_classes(n_classes: object) -> int:
    if isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer) or n_classes < 2:
        raise ValueError(f"n_classes: expected an integer >= 2, got {n_classes!r}")
    return int(n_classes)


def _classes_of(margin: np.ndarray) -> int:
    return 2 if margin.ndim == 1 else int(margin.shape[1])


def _labels(y: Any, n_classes: int | None) -> tuple[np.ndarray, int]:
    """Labels as ints 0..K-1 and K (``n_classes``, or inferred as max + 1)."""
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"y: expected a non-empty 1-D array of labels, got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise ValueError(
            f"y: expected integer labels 0..K-1, got dtype {arr.dtype} (encode them first, "
            "e.g. with sklearn.preprocessing.LabelEncoder)"
        )
    if n_classes is None:
        top = float(np.max(arr))
        n_classes = int(top) + 1 if math.isfinite(top) else -1
        if n_classes < 2:
            raise ValueError(f"y: needs at least two classes (labels 0..K-1), got max {top!r}")
    k = _check_n_classes(n_classes)
    return objectives.prepare_labels(arr, k).y, k


class _DatasetObjective:
    """A LightGBM / XGBoost objective reading labels and weights from the training data.

    The labels are validated once per training set (``focal_kernel`` prepares them), not every
    round; the kernel is rebuilt when the objective is used on another data set.
    """

    def __init__(self, loss: FocalLoss, library: str, threads: int) -> None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads: expected an integer >= 1, got {threads!r}")
        self._loss, self._library, self._threads = loss, library, threads
        self._data: Any = None
        self._kernel: Callable[[np.ndarray], GradHess] | None = None
        self._weight: np.ndarray | None = None

    def __call__(self, preds: np.ndarray, data: Any) -> GradHess:
        n = data.num_data() if self._library == "lightgbm" else data.num_row()
        z = np.asarray(preds, dtype=np.float64)
        k = 2 if z.size == n else z.size // n
        z = z.reshape(n) if k == 2 else z.reshape(n, k)
        if self._kernel is None or self._data is None or self._data() is not data:
            y = np.asarray(data.get_label())
            self._loss._alpha_for(k)
            factor = 1.0 if k == 2 else objectives.native_softmax_hessian_factor(self._library, k)
            self._kernel = _common.focal_kernel(
                y, k, self._loss.spec(), hess_factor=factor, threads=self._threads
            )
            self._weight = _weights(data, n, k)
            self._data = _ref(data)
        g, h = self._kernel(z)
        if self._weight is not None:
            g *= self._weight
            h *= self._weight
        return g, h


class _DatasetMetric:
    """Weighted mean focal loss of a LightGBM Dataset / XGBoost DMatrix at given margins."""

    def __init__(self, loss: FocalLoss) -> None:
        self._loss = loss

    def __call__(self, preds: np.ndarray, data: Any) -> float:
        z = np.asarray(preds, dtype=np.float64)
        y = np.asarray(data.get_label())
        n = len(y)
        z = z.reshape(n) if z.size == n else z.reshape(n, z.size // n)
        per_row = self._loss.loss(y, z)
        w = data.get_weight()
        if w is None or len(w) == 0:
            return float(per_row.mean())
        return float(np.average(per_row, weights=np.asarray(w, dtype=np.float64)))


def _weights(data: Any, n: int, k: int) -> np.ndarray | None:
    """Per-row sample weights shaped to broadcast over the gradient (None when unweighted):
    custom objectives must apply them themselves, as native objectives do."""
    w = data.get_weight()
    if w is None or len(w) == 0:
        return None
    w = np.asarray(w, dtype=np.float64).reshape(n)
    return w if k == 2 else w[:, None]


def _ref(data: Any) -> Callable[[], Any]:
    try:
        return weakref.ref(data)
    except TypeError:  # not weak-referenceable: hold it (it outlives training anyway)
        return lambda: data


class FocalLossMetric:
    """CatBoost ``eval_metric``: sum of w * focal loss and sum of w, reduced to their ratio."""

    no_jit = True  # plain numpy on purpose: CatBoost would try (and fail) to compile it

    def __init__(self, loss: FocalLoss, n_classes: int) -> None:
        self._loss, self._n_classes = loss, n_classes

    def is_max_optimal(self) -> bool:
        return False

    def evaluate(self, approxes: Any, target: Any, weight: Any) -> tuple[float, float]:
        z = np.column_stack([np.asarray(a, dtype=np.float64) for a in approxes])
        if self._n_classes == 2:
            z = z[:, 0]
        per_row = self._loss.loss(np.asarray(target).astype(np.int64), z)
        if weight is None:
            return float(per_row.sum()), float(len(per_row))
        w = np.asarray(weight, dtype=np.float64)
        return float(per_row @ w), float(w.sum())

    def get_final_error(self, error: float, weight: float) -> float:
        return error / weight if weight > 0 else 0.0
