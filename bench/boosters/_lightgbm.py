"""LightGBM adapter: native binary/multiclass objectives, or focal loss as a callable objective.

Facts this relies on (lightgbm 4.7, re-checked): with a callable objective LightGBM starts
every row at 0 and ``Booster.predict`` leaves the Dataset's ``init_score`` out, so the start is
given as ``init_score`` to train and validation Datasets and added back at predict time; a
``feval`` receives margins (start included) under a callable objective but probabilities under
a native one; native multiclass scales its Hessian by K/(K-1).
"""

from __future__ import annotations

from typing import Any, ClassVar

import lightgbm as lgb
import numpy as np
import pandas as pd

from bench import objectives
from bench.boosters import _common
from bench.boosters.base import BoosterAdapter, FittedBooster, LossSpec, StoppingRule

_DEFAULTS: dict[str, Any] = {"learning_rate": 0.1, "num_leaves": 31}
# No feature pre-filter: with it, a min_data_in_leaf too large for a small training part
# removed every feature, and a custom objective then failed ("Check failed: num_features > 0")
# where the native one trained a constant model. Without it both train the constant model.
_DATASET_PARAMS: dict[str, Any] = {"verbosity": -1, "feature_pre_filter": False}


MAX_LEAF_ROWS = 64


def max_leaf_rows(rows: int | None) -> int:
    """The largest min_data_in_leaf tuned: 64, or a quarter of the training rows when fewer."""
    return MAX_LEAF_ROWS if rows is None else max(2, min(MAX_LEAF_ROWS, rows // 4))


def _reset_before_first_round(env: Any) -> None:
    if env.iteration == env.begin_iteration:
        env.model.reset_parameter({"verbosity": -1})


_reset_before_first_round.before_iteration = True  # type: ignore[attr-defined]


class LightGBMAdapter(BoosterAdapter):
    """Train ce / weighted / focal with LightGBM (binary and multiclass)."""

    name: ClassVar[str] = "lightgbm"

    def suggest_params(self, trial: Any, rows: int | None = None) -> dict[str, Any]:
        """Learning rate, leaves, leaf minimums, bagging, L1/L2. The row minimum of a leaf
        stays at most a quarter of the training rows: beyond half no split is possible, and
        the trial would only train a constant."""
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 4, 128, log=True),
            "min_data_in_leaf": trial.suggest_int(
                "min_data_in_leaf", 1, max_leaf_rows(rows), log=True
            ),
            "min_sum_hessian_in_leaf": trial.suggest_float(
                "min_sum_hessian_in_leaf", 1e-6, 10.0, log=True
            ),
            "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
            "lambda_l1": trial.suggest_float("lambda_l1", 1e-4, 10.0, log=True),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-4, 10.0, log=True),
        }

    def default_params(self, rows: int | None = None) -> dict[str, Any]:
        """LightGBM 4's defaults; L1/L2 default to 0, the bottom of their log ranges here."""
        return {
            "learning_rate": 0.1,
            "num_leaves": 31,
            "min_data_in_leaf": min(20, max_leaf_rows(rows)),
            "min_sum_hessian_in_leaf": 1e-3,
            "bagging_fraction": 1.0,
            "feature_fraction": 1.0,
            "lambda_l1": 1e-4,
            "lambda_l2": 1e-4,
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
        start = _common.start_margin(y, n_classes, loss)
        custom = loss.kind == "focal"
        objective: Any
        if custom:
            factor = (
                objectives.native_softmax_hessian_factor(self.name, n_classes)
                if n_classes > 2
                else 1.0
            )
            kernel = _common.focal_kernel(y, n_classes, loss, hess_factor=factor, threads=n_threads)

            def objective(preds: np.ndarray, _data: lgb.Dataset) -> tuple[np.ndarray, np.ndarray]:
                return kernel(preds)
        else:
            objective = "binary" if n_classes == 2 else "multiclass"

        fixed: dict[str, Any] = {
            "objective": objective,
            "metric": "None",
            "verbosity": -1,
            "seed": seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": n_threads,
        }
        if n_classes > 2:
            fixed["num_class"] = n_classes
        merged = _common.merge_params(_DEFAULTS, params, fixed, self.name)
        if merged.get("bagging_fraction", 1.0) < 1.0:
            merged.setdefault("bagging_freq", 1)

        dtrain = lgb.Dataset(
            X,
            label=y,
            weight=_common.sample_weights(y, loss),
            init_score=_common.start_rows(start, len(X), n_classes),
            params=_DATASET_PARAMS,
        )
        # A callable objective makes LightGBM reset the booster's parameters before the first
        # round, which advances the column sampler by one draw: with feature_fraction < 1 the
        # native and the custom objective then grew different trees from the same seed. The
        # same (harmless) reset for native objectives keeps every loss on one random stream.
        callbacks: list[Any] = [] if custom else [_reset_before_first_round]
        valid_sets: list[lgb.Dataset] = []
        feval = None
        if valid is not None and stopping is not None:
            Xv, yv = valid
            yv = np.asarray(yv, dtype=np.int64)
            valid_sets = [
                lgb.Dataset(
                    Xv,
                    label=yv,
                    init_score=_common.start_rows(start, len(Xv), n_classes),
                    reference=dtrain,
                    params=_DATASET_PARAMS,
                )
            ]

            def feval(preds: np.ndarray, _data: lgb.Dataset) -> tuple[str, float, bool]:
                proba = (
                    _common.margin_to_proba(preds, n_classes)
                    if custom
                    else _common.as_proba(preds, n_classes)
                )
                return stopping.name, float(stopping.metric(yv, proba)), True

            callbacks.append(
                lgb.early_stopping(stopping.patience, first_metric_only=True, verbose=False)
            )
        booster = lgb.train(
            merged,
            dtrain,
            num_boost_round=rounds,
            valid_sets=valid_sets,
            valid_names=["valid"] if valid_sets else None,
            feval=feval,
            callbacks=callbacks,
        )
        kept = booster.current_iteration()
        if valid_sets and booster.best_iteration > 0:
            kept = booster.best_iteration
        used = max(kept, 1)

        def raw_margin(Xp: pd.DataFrame) -> np.ndarray:
            if booster.current_iteration() == 0:  # no tree could be grown: start only
                return np.zeros((len(Xp), n_classes) if n_classes > 2 else len(Xp))
            return np.asarray(booster.predict(Xp, raw_score=True, num_iteration=used))

        return _common.MarginModel(raw_margin, start, n_classes, used, booster)
