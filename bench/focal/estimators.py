"""scikit-learn classifiers over bench's booster adapters: ce, weighted or focal loss, done right.

Each classifier label-encodes ``y`` (any label type), builds a ``LossSpec`` and trains through
the sweep's own adapter (``bench.boosters.get_adapter(name).fit``), which starts boosting at the
loss's optimal constant margin, adds it back at predict time and early-stops on probabilities.
So a classifier here trains exactly what a sweep cell trains for the same settings.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder, label_binarize
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from bench import objectives
from bench.boosters import LossSpec, StoppingRule, get_adapter
from bench.boosters._common import MarginModel
from bench.focal.loss import FocalLoss
from bench.strategies.base import inverse_frequency

LossName = Literal["ce", "weighted", "focal"]
Metric = Callable[[np.ndarray, np.ndarray], float]
EVAL_METRICS: tuple[str, ...] = ("log_loss", "focal_loss", "average_precision", "roc_auc")


_PARAMS_DOC = """
    Parameters
    ----------
    loss : "ce", "weighted" or "focal"
        ``ce``: the library's native cross-entropy. ``weighted``: native cross-entropy with
        class weights (n_max / n_k) ** ``weight_power``. ``focal``: focal loss as the training
        objective with ``alpha``, ``gamma`` and ``hessian`` (see :class:`FocalLoss`).
    alpha : None, float in (0, 1), or one weight per class
        Focal only. Binary: the weight of ``classes_[1]`` (the later label in sorted order);
        multiclass: a sequence of positive weights in ``classes_`` order.
    gamma : float >= 0
        Focal only: focusing strength; 0 is (alpha-weighted) cross-entropy.
    hessian : "surrogate", "clip" or "exact"
        Focal only: the Hessian guard (the exact focal Hessian can be negative).
    weight_power : float > 0
        Weighted only: 1 is "balanced"; smaller values weight the minority less.
    n_estimators : int
        Boosting rounds; with early stopping, the most that are trained.
    learning_rate : float
    params : dict or None
        Further library parameters (e.g. ``{"num_leaves": 15}``); the classifier sets the
        objective, seed, threads and rounds itself and rejects them here.
    eval_metric : str or callable
        What early stopping watches on the validation data: ``"log_loss"``, ``"focal_loss"``
        (its gamma; alpha when loss is focal), ``"average_precision"``, ``"roc_auc"``
        (multiclass: macro one-vs-rest), or ``metric(y_true, proba) -> float`` where higher is
        better and ``y_true`` holds the original labels.
    early_stopping_rounds : int or None
        Patience; None keeps the best round but never stops early.
    validation_fraction : float in (0, 1) or None
        Without an ``eval_set`` in ``fit``, hold out this stratified fraction of the training
        data for early stopping (handy inside ``GridSearchCV``). None: no early stopping.
    loss_scale : "hessian" or "none"
        ``"hessian"`` (as the sweep does by default) multiplies the loss's gradients and
        Hessians by the constant giving cross-entropy's total start curvature, so the library's
        regularisation defaults (min child weight, L2) mean for focal what they mean for
        cross-entropy; ``"none"`` trains the loss as it is.
    threshold : float in [0, 1]
        Binary ``predict``: ``classes_[1]`` where P(classes_[1]) > threshold. Multiclass
        ``predict`` is the argmax and ignores it. Changing it needs no refit.
    random_state : int, RandomState or None
    n_jobs : int or None
        Threads per fit (None: 1, -1: all cores).

    Attributes
    ----------
    classes_ : ndarray, the labels in sorted order (columns of ``predict_proba``).
    model_ : the fitted bench model (``predict_margin``, ``start``, ``booster``).
    booster_ : the library's own fitted model.
    best_iteration_ : int, the number of rounds used to predict.
    init_score_ : float or ndarray, the start margin boosting began from.
    loss_ : LossSpec, the loss that was trained (with its scale).
"""


class _FocalBoostedClassifier(ClassifierMixin, BaseEstimator):
    """Shared implementation of the three classifiers below (parameters: ``_PARAMS_DOC``)."""

    _booster: ClassVar[str]

    def __init__(
        self,
        loss: LossName = "focal",
        *,
        alpha: float | tuple[float, ...] | list[float] | None = None,
        gamma: float = 2.0,
        hessian: str = objectives.DEFAULT_HESSIAN_GUARD,
        weight_power: float = 1.0,
        n_estimators: int = 100,
        learning_rate: float = 0.1,
        params: dict[str, Any] | None = None,
        eval_metric: str | Callable[[np.ndarray, np.ndarray], float] = "log_loss",
        early_stopping_rounds: int | None = 50,
        validation_fraction: float | None = None,
        loss_scale: Literal["hessian", "none"] = "hessian",
        threshold: float = 0.5,
        random_state: int | np.random.RandomState | None = None,
        n_jobs: int | None = None,
    ) -> None:
        self.loss = loss
        self.alpha = alpha
        self.gamma = gamma
        self.hessian = hessian
        self.weight_power = weight_power
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.params = params
        self.eval_metric = eval_metric
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.loss_scale = loss_scale
        self.threshold = threshold
        self.random_state = random_state
        self.n_jobs = n_jobs

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # every booster routes missing values itself
        return tags

    # ---- fit ----------------------------------------------------------------------------

    def fit(self, X: Any, y: Any, eval_set: Any = None) -> _FocalBoostedClassifier:
        """Train on ``X`` (array or DataFrame; pandas ``category``/text columns are kept as
        categories) and labels ``y`` of any type.

        ``eval_set``: ``(X_val, y_val)`` (or a one-element list of it) for early stopping on
        ``eval_metric``. In a ``Pipeline`` it bypasses the earlier steps, so prefer
        ``validation_fraction`` there.
        """
        self._check_params()
        Xf, y = self._fit_inputs(X, y)
        check_classification_targets(y)
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError(
                f"y: needs at least two classes to train a classifier, got one class "
                f"({classes.tolist()!r})"
            )
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        k = len(self.classes_)
        self.n_classes_ = k
        yi = encoder.transform(y)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

        valid: tuple[pd.DataFrame, np.ndarray] | None = None
        if eval_set is not None:
            valid = self._eval_set(eval_set, encoder)
        elif self.validation_fraction is not None:
            Xf, yi, valid = self._hold_out(Xf, yi, seed)
        spec = self._loss_spec(yi, k)
        stopping = None
        if valid is not None:
            patience = self.early_stopping_rounds
            stopping = StoppingRule(
                metric=self._stopping_metric(k),
                name=self.eval_metric if isinstance(self.eval_metric, str) else "custom",
                patience=self.n_estimators if patience is None else patience,
            )
        threads = self._threads()
        fitted = get_adapter(self._booster).fit(
            Xf,
            yi,
            n_classes=k,
            params={**(self.params or {}), "learning_rate": float(self.learning_rate)},
            loss=spec,
            rounds=int(self.n_estimators),
            valid=valid,
            stopping=stopping,
            seed=seed,
            n_threads=threads,
        )
        if not isinstance(fitted, MarginModel):  # every bench adapter returns one
            raise TypeError(f"unexpected model type {type(fitted).__name__}")
        cat_cols = [c for c in Xf.columns if isinstance(Xf[c].dtype, pd.CategoricalDtype)]
        raw = _RawMargin(self._booster, fitted.booster, fitted.best_iteration, k, threads, cat_cols)
        self.model_ = MarginModel(raw, fitted.start, k, fitted.best_iteration, fitted.booster)
        self.booster_ = fitted.booster
        self.best_iteration_ = fitted.best_iteration
        self.init_score_ = fitted.start
        self.loss_ = spec
        return self

    def _check_params(self) -> None:
        """Validate the constructor's arguments (scikit-learn's rule: at fit, not in __init__)."""
        if self.loss not in ("ce", "weighted", "focal"):
            raise ValueError(f"loss: expected 'ce', 'weighted' or 'focal', got {self.loss!r}")
        if self.loss == "focal":
            self._focal()  # ValueError naming the argument
        _positive_int("n_estimators", self.n_estimators)
        if self.early_stopping_rounds is not None:
            _positive_int("early_stopping_rounds", self.early_stopping_rounds)
        _positive_real("learning_rate", self.learning_rate)
        _positive_real("weight_power", self.weight_power)
        if self.validation_fraction is not None and not (
            _is_real(self.validation_fraction) and 0.0 < self.validation_fraction < 1.0
        ):
            raise ValueError(
                f"validation_fraction: expected None or a float in (0, 1), "
                f"got {self.validation_fraction!r}"
            )
        if self.loss_scale not in ("hessian", "none"):
            raise ValueError(f"loss_scale: expected 'hessian' or 'none', got {self.loss_scale!r}")
        if not callable(self.eval_metric) and self.eval_metric not in EVAL_METRICS:
            raise ValueError(
                f"eval_metric: expected one of {EVAL_METRICS} or a callable, "
                f"got {self.eval_metric!r}"
            )
        if self.params is not None and not isinstance(self.params, dict):
            raise ValueError(f"params: expected a dict or None, got {self.params!r}")
        if self.params and "learning_rate" in self.params:
            raise ValueError("params: set learning_rate with the learning_rate argument")
        self._check_threshold()
        self._threads()

    def _focal(self, *, alpha: bool = True, hessian: str | None = None) -> FocalLoss:
        a = self.alpha if alpha else None
        if isinstance(a, list | np.ndarray):  # FocalLoss checks the values
            a = tuple(a)
        return FocalLoss(a, self.gamma, self.hessian if hessian is None else hessian)

    def _check_threshold(self) -> float:
        t = self.threshold
        if not (_is_real(t) and 0.0 <= t <= 1.0):
            raise ValueError(f"threshold: expected a float in [0, 1], got {t!r}")
        return float(t)

    def _threads(self) -> int:
        n = self.n_jobs
        if n is None:
            return 1
        if n == -1:
            return os.cpu_count() or 1
        _positive_int("n_jobs", n)
        return int(n)

    def _loss_spec(self, yi: np.ndarray, k: int) -> LossSpec:
        if self.loss == "ce":
            spec = LossSpec("ce")
        elif self.loss == "weighted":
            w = inverse_frequency(yi, k, float(self.weight_power))
            spec = LossSpec("weighted", class_weights=tuple(float(v) for v in w))
        else:
            focal = self._focal()
            focal._alpha_for(k)
            spec = focal.spec()
        if self.loss_scale == "hessian":
            from bench.strategies.scale import scaled_to_cross_entropy

            spec = scaled_to_cross_entropy(spec, yi, k)
        return spec

    def _stopping_metric(self, k: int) -> Metric:
        """The early-stopping score (higher is better) of integer labels and probabilities."""
        if callable(self.eval_metric):
            return _Score("callable", k, user=self.eval_metric, classes=self.classes_)
        focal = None
        if self.eval_metric == "focal_loss":
            focal = self._focal(alpha=self.loss == "focal", hessian="exact")
        return _Score(self.eval_metric, k, focal=focal)

    def _eval_set(self, eval_set: Any, encoder: LabelEncoder) -> tuple[pd.DataFrame, np.ndarray]:
        pair = eval_set
        if isinstance(pair, list):
            if len(pair) != 1:
                raise ValueError(
                    f"eval_set: expected one (X, y) pair, got a list of {len(pair)} items"
                )
            pair = pair[0]
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise ValueError("eval_set: expected an (X_val, y_val) pair")
        Xv = self._frame(pair[0], reset=False)
        yv = column_or_1d(pair[1], warn=True)
        check_consistent_length(Xv, yv)
        unseen = np.setdiff1d(np.unique(yv), self.classes_)
        if unseen.size:
            raise ValueError(f"eval_set: labels {unseen.tolist()!r} do not occur in y")
        return Xv, encoder.transform(yv)

    def _hold_out(
        self, Xf: pd.DataFrame, yi: np.ndarray, seed: int
    ) -> tuple[pd.DataFrame, np.ndarray, tuple[pd.DataFrame, np.ndarray]]:
        idx = np.arange(len(yi))
        try:
            train, valid = train_test_split(
                idx, test_size=self.validation_fraction, stratify=yi, random_state=seed
            )
        except ValueError as exc:
            raise ValueError(
                f"validation_fraction: cannot hold out a stratified {self.validation_fraction} "
                f"of {len(yi)} rows ({exc}); pass eval_set or more data"
            ) from None
        Xt, Xv = Xf.iloc[train].reset_index(drop=True), Xf.iloc[valid].reset_index(drop=True)
        return Xt, yi[train], (Xv, yi[valid])

    # ---- inputs -------------------------------------------------------------------------

    def _fit_inputs(self, X: Any, y: Any) -> tuple[pd.DataFrame, np.ndarray]:
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, y, reset=True, skip_check_array=True)
            y = column_or_1d(y, warn=True)
            check_consistent_length(X, y)
        else:
            X, y = validate_data(self, X, y, reset=True, ensure_all_finite="allow-nan")
        return self._frame(X, reset=True, checked=True), np.asarray(y)

    def _frame(self, X: Any, *, reset: bool, checked: bool = False) -> pd.DataFrame:
        """X as the DataFrame the adapters train on: columns f0..f{d-1} (booster libraries
        reject some column names), category columns with the categories seen in fit."""
        if isinstance(X, pd.DataFrame):
            if not checked:
                validate_data(self, X, reset=reset, skip_check_array=True)
            if X.shape[0] == 0 or X.shape[1] == 0:
                raise ValueError(f"X: expected at least one row and one column, got {X.shape}")
            frame = X.set_axis([f"f{i}" for i in range(X.shape[1])], axis=1)
        else:
            if not checked:
                X = validate_data(self, X, reset=reset, ensure_all_finite="allow-nan")
            frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
        if reset:
            self._categories_ = {
                c: _as_category(frame[c]).cat.categories
                for c in frame.columns
                if _is_categorical(frame[c])
            }
        return _with_categories(frame, self._categories_)

    # ---- predict ------------------------------------------------------------------------

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (n, K) in ``classes_`` order; rows sum to 1."""
        check_is_fitted(self)
        return self.model_.predict_proba(self._frame(X, reset=False))

    def predict(self, X: Any) -> np.ndarray:
        """Labels: binary thresholded at ``threshold`` on P(classes_[1]); multiclass argmax."""
        proba = self.predict_proba(X)
        if len(self.classes_) == 2:
            return self.classes_[(proba[:, 1] > self._check_threshold()).astype(np.intp)]
        return self.classes_[np.argmax(proba, axis=1)]


class FocalLGBMClassifier(_FocalBoostedClassifier):
    __doc__ = (
        "LightGBM classifier with a loss choice (ce, weighted, focal).\n\n"
        "    Example::\n\n"
        "        clf = FocalLGBMClassifier(gamma=2.0, alpha=0.25, n_estimators=200,\n"
        "                                  validation_fraction=0.2).fit(X, y)\n"
        "        clf.predict_proba(X_test)\n\n" + _PARAMS_DOC
    )
    _booster = "lightgbm"


class FocalXGBClassifier(_FocalBoostedClassifier):
    __doc__ = (
        "XGBoost classifier with a loss choice (ce, weighted, focal).\n\n"
        "    Example::\n\n"
        "        clf = FocalXGBClassifier(loss='focal', gamma=1.0).fit(X, y, eval_set=(Xv, yv))\n"
        "        clf.predict(X_test)\n\n" + _PARAMS_DOC
    )
    _booster = "xgboost"


class FocalCatBoostClassifier(_FocalBoostedClassifier):
    __doc__ = (
        "CatBoost classifier with a loss choice (ce, weighted, focal).\n\n"
        "    Multiclass focal uses CatBoost's per-row Python objective: slow on large data.\n\n"
        "    Example::\n\n"
        "        clf = FocalCatBoostClassifier(gamma=2.0, threshold=0.3).fit(X, y)\n"
        "        clf.predict(X_test)\n\n" + _PARAMS_DOC
    )
    _booster = "catboost"


class _RawMargin:
    """A fitted library model's raw margins (start excluded), as a picklable object: the
    adapters' own margin functions are closures, which ``pickle`` (joblib, GridSearchCV with
    n_jobs) cannot store."""

    def __init__(
        self,
        library: str,
        booster: Any,
        used: int,
        n_classes: int,
        threads: int,
        cat_cols: list[str],
    ) -> None:
        self.library, self.booster, self.used = library, booster, used
        self.n_classes, self.threads, self.cat_cols = n_classes, threads, cat_cols

    def __call__(self, X: pd.DataFrame) -> np.ndarray:
        if self.library == "lightgbm":
            if self.booster.current_iteration() == 0:  # no tree could be grown: start only
                return np.zeros((len(X), self.n_classes) if self.n_classes > 2 else len(X))
            return np.asarray(self.booster.predict(X, raw_score=True, num_iteration=self.used))
        if self.library == "xgboost":
            import xgboost as xgb

            zeros = np.zeros((len(X), self.n_classes) if self.n_classes > 2 else len(X))
            d = xgb.DMatrix(X, base_margin=zeros, enable_categorical=True, nthread=self.threads)
            return self.booster.predict(d, output_margin=True, iteration_range=(0, self.used))
        from bench.boosters._catboost import _pool

        return self.booster.predict(_pool(X, None, self.cat_cols), prediction_type="RawFormulaVal")


class _Score:
    """An early-stopping score of integer labels and probabilities, higher is better. A class,
    not a closure: CatBoost keeps its eval_metric in the fitted model, which must pickle."""

    def __init__(
        self,
        name: str,
        n_classes: int,
        *,
        focal: FocalLoss | None = None,
        user: Metric | None = None,
        classes: np.ndarray | None = None,
    ) -> None:
        self.name, self.labels, self.focal = name, np.arange(n_classes), focal
        self.user, self.classes = user, classes

    def __call__(self, y: np.ndarray, proba: np.ndarray) -> float:
        binary = len(self.labels) == 2
        if self.user is not None and self.classes is not None:
            return float(self.user(self.classes[y], proba))
        if self.name == "log_loss":
            return -float(log_loss(y, proba, labels=self.labels))
        if self.focal is not None:
            return -float(self.focal.loss(y, _margins(proba)).mean())
        if self.name == "average_precision":
            if binary:
                return float(average_precision_score(y, proba[:, 1]))
            onehot = label_binarize(y, classes=self.labels)
            return float(average_precision_score(onehot, proba, average="macro"))
        if binary:
            return float(roc_auc_score(y, proba[:, 1]))
        return float(
            roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=self.labels)
        )


def _margins(proba: np.ndarray) -> np.ndarray:
    """Probabilities -> margins with the same link: binary log-odds, multiclass log p."""
    logp = np.log(np.clip(proba, np.finfo(np.float64).tiny, None))
    return logp[:, 1] - logp[:, 0] if proba.shape[1] == 2 else logp


def _is_categorical(s: pd.Series) -> bool:
    return isinstance(s.dtype, pd.CategoricalDtype) or not (
        pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)
    )


def _as_category(s: pd.Series) -> pd.Series:
    return s if isinstance(s.dtype, pd.CategoricalDtype) else s.astype("category")


def _with_categories(frame: pd.DataFrame, categories: dict[str, pd.Index]) -> pd.DataFrame:
    """Category columns re-coded to the categories seen in fit (XGBoost reads the codes; an
    unseen value becomes missing), numeric columns as they are."""
    if not categories:
        return frame
    frame = frame.copy()
    for c, cats in categories.items():
        values = frame[c].astype(object)
        known = values.where(values.isin(cats))  # unseen -> missing, said rather than implied
        frame[c] = pd.Categorical(known, categories=cats)
    return frame


def _is_real(v: object) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)


def _positive_int(name: str, v: object) -> None:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
        raise ValueError(f"{name}: expected an integer >= 1, got {v!r}")


def _positive_real(name: str, v: object) -> None:
    if not (_is_real(v) and np.isfinite(float(v)) and float(v) > 0):  # type: ignore[arg-type]
        raise ValueError(f"{name}: expected a positive number, got {v!r}")
