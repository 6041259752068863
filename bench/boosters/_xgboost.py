"""XGBoost adapter: native binary:logistic / multi:softprob, or focal loss through ``obj=``.

Facts this relies on (xgboost 3.2, re-checked): ``base_margin`` on a DMatrix overrides
base_score (the estimated intercept for native objectives, 0.5 under the identity link of a
custom objective), so the start is given as ``base_margin`` on train, validation AND predict
data; ``custom_metric`` receives margins (start included) under ``obj=`` but probabilities
under a native objective; native multiclass uses the Hessian max(2 p (1 - p) w, 1e-16).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xgboost as xgb

from bench import objectives
from bench.boosters import _common
from bench.boosters.base import BoosterAdapter, FittedBooster, LossSpec, StoppingRule

_DEFAULTS: dict[str, Any] = {"learning_rate": 0.1, "max_depth": 6}


class XGBoostAdapter(BoosterAdapter):
    """Train ce / weighted / focal with XGBoost hist (binary and multiclass)."""

    name: ClassVar[str] = "xgboost"

    def suggest_params(self, trial: Any, rows: int | None = None) -> dict[str, Any]:
        """Learning rate, depth, min child weight (focal Hessians are small), subsampling, L1/L2."""
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "max_depth": trial.suggest_int("max_depth", 2, 10),
            "min_child_weight": trial.suggest_float("min_child_weight", 1e-6, 10.0, log=True),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
            "reg_alpha": trial.suggest_float("reg_alpha", 1e-4, 10.0, log=True),
            "reg_lambda": trial.suggest_float("reg_lambda", 1e-4, 10.0, log=True),
        }

    def default_params(self, rows: int | None = None) -> dict[str, Any]:
        """XGBoost 3's defaults (learning rate 0.3, depth 6, min child weight 1, lambda 1);
        L1 defaults to 0, the bottom of its log range here."""
        return {
            "learning_rate": 0.3,
            "max_depth": 6,
            "min_child_weight": 1.0,
            "subsample": 1.0,
            "colsample_bytree": 1.0,
            "reg_alpha": 1e-4,
            "reg_lambda": 1.0,
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
        fixed: dict[str, Any] = {
            "tree_method": "hist",
            "seed": seed,
            "nthread": n_threads,
            "verbosity": 0,
            "disable_default_eval_metric": 1,
        }
        obj = None
        if custom:
            factor = (
                objectives.native_softmax_hessian_factor(self.name, n_classes)
                if n_classes > 2
                else 1.0
            )
            kernel = _common.focal_kernel(y, n_classes, loss, hess_factor=factor, threads=n_threads)
            shape = (len(X), n_classes) if n_classes > 2 else (len(X),)

            def obj(predt: np.ndarray, _d: xgb.DMatrix) -> tuple[np.ndarray, np.ndarray]:
                return kernel(predt.reshape(shape))
        else:
            fixed["objective"] = "binary:logistic" if n_classes == 2 else "multi:softprob"
        if n_classes > 2:
            fixed["num_class"] = n_classes
        merged = _common.merge_params(_DEFAULTS, params, fixed, self.name)

        dtrain = xgb.QuantileDMatrix(
            X,
            label=y,
            weight=_common.sample_weights(y, loss),
            base_margin=_common.start_rows(start, len(X), n_classes),
            enable_categorical=True,
            nthread=n_threads,
        )
        kwargs: dict[str, Any] = {}
        if valid is not None and stopping is not None:
            Xv, yv = valid
            yv = np.asarray(yv, dtype=np.int64)
            dvalid = xgb.QuantileDMatrix(
                Xv,
                label=yv,
                base_margin=_common.start_rows(start, len(Xv), n_classes),
                enable_categorical=True,
                nthread=n_threads,
                ref=dtrain,
            )

            def metric(predt: np.ndarray, _d: xgb.DMatrix) -> tuple[str, float]:
                proba = (
                    _common.margin_to_proba(predt, n_classes)
                    if custom
                    else _common.as_proba(predt, n_classes)
                )
                return stopping.name, float(stopping.metric(yv, proba))

            kwargs = {
                "evals": [(dvalid, "valid")],
                "custom_metric": metric,
                "early_stopping_rounds": stopping.patience,
                "maximize": True,
            }
        booster = xgb.train(
            merged, dtrain, num_boost_round=rounds, obj=obj, verbose_eval=False, **kwargs
        )
        used = booster.best_iteration + 1 if kwargs else booster.num_boosted_rounds()

        zeros = np.zeros(n_classes)

        def raw_margin(Xp: pd.DataFrame) -> np.ndarray:  # base_margin 0 overrides base_score
            d = xgb.DMatrix(
                Xp,
                base_margin=_common.start_rows(
                    0.0 if n_classes == 2 else zeros, len(Xp), n_classes
                ),
                enable_categorical=True,
                nthread=n_threads,
            )
            return booster.predict(d, output_margin=True, iteration_range=(0, used))

        return _common.MarginModel(raw_margin, start, n_classes, used, booster)
