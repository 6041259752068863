"""CatBoost adapter: native Logloss / MultiClass, native binary Focal, or focal as a Python objective.

Facts this relies on (catboost 1.2.10, re-checked):
- Python objectives get margins with the Pool ``baseline`` included and return derivatives of
  the log-likelihood: calc_ders_range -> (n, 2) array of (-grad, -hess), called in blocks;
  calc_ders_multi is called once per row (per round), hence ~100x slower than native.
- A Python objective matches the native loss only with the same leaf estimation and an explicit
  learning rate (CatBoost picks an automatic one for native losses, 0.03 for custom ones), so
  every strategy here uses Newton, one leaf-estimation iteration, no backtracking.
- A Python objective needs an eval_metric; CatBoost evaluates eval_metric on the learn set too.
- Categorical features must be strings or ints: NaN in them is rejected, so it becomes a sentinel.
- Some defaults depend on ``iterations``: under 200, CatBoost lowers ``max_ctr_complexity`` from
  4 to 1 (no combinations of categorical features) and ``leaf_estimation_iterations`` to 1. A
  refit for fewer rounds than the validated fit's ``iterations`` would then train another model
  on categorical data (car_vgood: outer-test AP 0.36 instead of 0.88). Both are pinned here,
  so a model trained for N rounds is the first N rounds of one trained for more.
"""

from __future__ import annotations

from typing import Any, ClassVar

import catboost as cb
import numpy as np
import pandas as pd

from bench import objectives
from bench.boosters import _common
from bench.boosters.base import BoosterAdapter, FittedBooster, LossSpec, StoppingRule

NAN_CATEGORY = "__nan__"
MAX_CTR_COMPLEXITY = 4  # categorical feature combinations; see the module docstring
_DEFAULTS: dict[str, Any] = {"learning_rate": 0.1, "depth": 6}


class CatBoostAdapter(BoosterAdapter):
    """Train ce / weighted / focal with CatBoost (binary and multiclass)."""

    name: ClassVar[str] = "catboost"

    def suggest_params(self, trial: Any, rows: int | None = None) -> dict[str, Any]:
        """Learning rate, depth, L2, row (Bernoulli) and column (rsm) subsampling, split noise.

        CatBoost has no L1 penalty and its symmetric trees ignore min_data_in_leaf, so those are
        not tuned; random_strength (split-score noise) is CatBoost's own regulariser instead.
        """
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "depth": trial.suggest_int("depth", 2, 8),
            "l2_leaf_reg": trial.suggest_float("l2_leaf_reg", 1e-3, 30.0, log=True),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "rsm": trial.suggest_float("rsm", 0.5, 1.0),
            "random_strength": trial.suggest_float("random_strength", 1e-3, 10.0, log=True),
        }

    def default_params(self, rows: int | None = None) -> dict[str, Any]:
        """CatBoost's defaults (depth 6, l2_leaf_reg 3, Bernoulli subsample 0.8, all features,
        random_strength 1); its automatic learning rate is replaced by 0.1, the fixed rate every
        loss here trains with."""
        return {
            "learning_rate": 0.1,
            "depth": 6,
            "l2_leaf_reg": 3.0,
            "subsample": 0.8,
            "rsm": 1.0,
            "random_strength": 1.0,
        }

    def fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        *,
        n_classes: int,
        params: dict[str, Any],
        loss: LossSpec,
        rounds: int,
        valid: tuple[pd.DataFrame, np.ndarray] | None = None,
        stopping: StoppingRule | None = None,
        seed: int = 0,
        n_threads: int = 1,
    ) -> FittedBooster:
        """Train; early-stop on ``stopping.metric`` of validation probabilities if given."""
        y = _common.check_fit_inputs(X, y, n_classes, loss, rounds, valid, stopping)
        loss_function = _loss_function(loss, n_classes)  # first: rejects bad native Focal
        start = _common.start_margin(y, n_classes, loss)
        cat_cols = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
        native_metric = "Logloss" if n_classes == 2 else "MultiClass"
        fixed: dict[str, Any] = {
            "loss_function": loss_function,
            "iterations": rounds,
            "random_seed": seed,
            "thread_count": n_threads,
            "logging_level": "Silent",
            "allow_writing_files": False,
            "boost_from_average": False,
            "leaf_estimation_method": "Newton",
            "leaf_estimation_iterations": 1,
            "leaf_estimation_backtracking": "No",
            # CatBoost's default for 200+ iterations, pinned: its default drops to 1 under 200.
            "max_ctr_complexity": MAX_CTR_COMPLEXITY,
            "eval_metric": native_metric,
            # Row subsampling means the same for every loss and class count: CatBoost's default
            # bootstrap is Bayesian for MultiClass, which rejects `subsample`.
            "bootstrap_type": "Bernoulli",
        }
        if n_classes > 2 and loss.kind == "focal":
            fixed["classes_count"] = n_classes
        eval_set = None
        if valid is not None and stopping is not None:
            Xv, yv = valid
            yv = np.asarray(yv, dtype=np.int64)
            fixed["eval_metric"] = _StoppingMetric(stopping, n_classes)
            fixed["use_best_model"] = True
            fixed["od_type"] = "Iter"
            fixed["od_wait"] = stopping.patience
            eval_set = _pool(Xv, yv, cat_cols, _common.start_rows(start, len(Xv), n_classes))
        merged = _common.merge_params(_DEFAULTS, params, fixed, self.name)
        weights = _common.sample_weights(y, loss)
        if loss.kind == "focal" and loss.scale != 1.0:
            # CatBoost hands row weights to a Python objective (which multiplies its
            # derivatives by them) and applies them to native Focal: one way to scale both.
            weights = np.full(len(y), loss.scale)
        train = _pool(X, y, cat_cols, _common.start_rows(start, len(X), n_classes), weights)
        model = cb.CatBoost(merged)
        model.fit(train, eval_set=eval_set)
        used = model.tree_count_

        def raw_margin(Xp: pd.DataFrame) -> np.ndarray:
            return model.predict(_pool(Xp, None, cat_cols), prediction_type="RawFormulaVal")

        return _common.MarginModel(raw_margin, start, n_classes, used, model)


def _loss_function(loss: LossSpec, n_classes: int) -> Any:
    if loss.kind != "focal":
        return "Logloss" if n_classes == 2 else "MultiClass"
    if loss.implementation == "native":
        alpha = loss.alpha
        if n_classes != 2:
            raise ValueError("CatBoost native Focal is binary only; use implementation='python'")
        if not isinstance(alpha, float) or not 0.0 < alpha < 1.0 or not loss.gamma > 0.0:
            raise ValueError(
                "CatBoost native Focal needs 0 < alpha < 1 and gamma > 0, got "
                f"alpha={alpha!r}, gamma={loss.gamma!r}"
            )
        return f"Focal:focal_alpha={alpha!r};focal_gamma={float(loss.gamma)!r}"
    if n_classes == 2:
        return _BinaryFocal(loss)
    return _MultiFocal(loss, n_classes)


class _BinaryFocal:
    """CatBoost binary objective: blocks of rows in, (n, 2) log-likelihood derivatives out.

    CatBoost calls this ~700 times a round on 200k rows (two passes, blocks of a few hundred
    rows), so each call is one compiled loop (``objectives.catboost_binary_ders``); numpy's
    per-ufunc overhead made the same formulas 3-4x slower than training itself. The labels
    reaching it are the ones ``fit`` validated. ``no_jit`` stops CatBoost from trying to compile
    this method itself (it would warn and fall back, since the method reads ``self``).
    """

    no_jit = True

    def __init__(self, loss: LossSpec) -> None:
        alpha = objectives.check_alpha(loss.alpha, 2)
        a = 1.0 if alpha is None else float(alpha)  # type: ignore[arg-type]  # binary: a float
        self._a_pos = a
        self._a_neg = 1.0 if alpha is None else 1.0 - a
        self._gamma = objectives.check_gamma(loss.gamma)
        self._mode = objectives.COMPILED_HESSIAN_MODES[loss.hessian]
        # looked up once: the package attribute is resolved by a module __getattr__ (a lazy
        # import), which cost ~1 us on each of the ~140k calls of a 200-round fit
        self._ders = objectives.catboost_binary_ders

    def calc_ders_range(self, approxes: Any, targets: Any, weights: Any) -> np.ndarray:
        out = np.empty((len(approxes), 2))
        self._ders(
            approxes,
            targets,
            _NO_WEIGHT if weights is None else weights,
            self._a_pos,
            self._a_neg,
            self._gamma,
            self._mode,
            objectives.HESSIAN_EPS,
            out,
        )
        return out


_NO_WEIGHT = np.empty(0, dtype=np.float32)


class _MultiFocal:
    """Per-row CatBoost multiclass objective (CatBoost's only Python multiclass interface).

    Returns (-grad, -Hessian) for one row, the Hessian as the full K x K matrix: CatBoost's
    multiclass Newton step solves with the whole matrix, and its native MultiClass uses
    diag(p) - p p^T, which ``objectives.focal_full_hessian`` gives at gamma = 0 (a diagonal
    Hessian differed from native MultiClass by up to 0.2 in probability after 50 rounds).
    CatBoost calls it once per row and round, so each call is one compiled loop
    (``objectives.catboost_multi_ders``, ~5 us; the numpy kernels cost ~200 us a call).
    """

    no_jit = True

    def __init__(self, loss: LossSpec, n_classes: int) -> None:
        alpha = objectives.check_alpha(loss.alpha, n_classes)
        self._alpha = np.ones(n_classes) if alpha is None else np.asarray(alpha, dtype=np.float64)
        self._gamma = objectives.check_gamma(loss.gamma)
        self._mode = objectives.COMPILED_HESSIAN_MODES[loss.hessian]
        self._ders = objectives.catboost_multi_ders
        self._grad = np.empty(n_classes)
        self._hess = np.empty((n_classes, n_classes))

    def calc_ders_multi(self, approx: Any, target: float, weight: float) -> tuple[list, list]:
        k = int(target)
        self._ders(
            np.asarray(approx, dtype=np.float64),
            k,
            self._alpha[k],
            self._gamma,
            self._mode,
            objectives.HESSIAN_EPS,
            1.0 if weight is None else float(weight),
            self._grad,
            self._hess,
        )
        return self._grad.tolist(), self._hess.tolist()


class _StoppingMetric:
    """CatBoost eval_metric scoring probabilities (baseline included) with a StoppingRule."""

    no_jit = True  # plain Python on purpose: the metric is a scikit-learn call

    def __init__(self, stopping: StoppingRule, n_classes: int) -> None:
        self._stopping = stopping
        self._n_classes = n_classes

    def is_max_optimal(self) -> bool:
        return True

    def evaluate(self, approxes: Any, target: Any, weight: Any) -> tuple[float, float]:
        margin = np.column_stack([np.asarray(a, dtype=np.float64) for a in approxes])
        if self._n_classes == 2:
            margin = margin[:, 0]
        proba = _common.margin_to_proba(margin, self._n_classes)
        y = np.asarray(target).astype(np.int64)
        return float(self._stopping.metric(y, proba)), 1.0

    def get_final_error(self, error: float, weight: float) -> float:
        return error


def _pool(
    X: pd.DataFrame,
    y: np.ndarray | None,
    cat_cols: list[str],
    baseline: np.ndarray | None = None,
    weight: np.ndarray | None = None,
) -> cb.Pool:
    if cat_cols:
        X = X.copy()
        for c in cat_cols:
            s = X[c].astype(object)
            X[c] = np.where(s.isna().to_numpy(), NAN_CATEGORY, s.to_numpy().astype(str))
    return cb.Pool(X, label=y, cat_features=cat_cols or None, baseline=baseline, weight=weight)
