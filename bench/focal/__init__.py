"""Focal loss for your own code: bench's verified objectives and scikit-learn classifiers.

- :class:`FocalLoss` gives, for LightGBM, XGBoost and CatBoost, the training objective in the
  form each library expects (binary and multiclass), the start margin (init score) for given
  labels, the loss as each library's evaluation metric, and the margin -> probability link.
- :class:`FocalLGBMClassifier`, :class:`FocalXGBClassifier` and
  :class:`FocalCatBoostClassifier` are scikit-learn classifiers with a loss choice (``"ce"``,
  ``"weighted"``, ``"focal"``) that handle the start margin, early stopping and labels of any
  type for you.

Importing this package loads no booster library and no scikit-learn: the classifiers are
imported on first use, each library when a model of it is first trained.

Example::

    from bench.focal import FocalLGBMClassifier
    clf = FocalLGBMClassifier(gamma=2.0, alpha=0.25).fit(X_train, y_train)
    proba = clf.predict_proba(X_test)
"""

from __future__ import annotations

from typing import Any

from bench.focal.loss import FocalLoss

_ESTIMATORS = ("FocalCatBoostClassifier", "FocalLGBMClassifier", "FocalXGBClassifier")

__all__ = ["FocalLoss", *_ESTIMATORS]


def __getattr__(name: str) -> Any:
    """The classifiers on first use (they import scikit-learn, ~0.5 s)."""
    if name in _ESTIMATORS:
        from bench.focal import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
