"""The loss scale of a fit (see ``bench.strategies.base``): one constant that gives the booster
unweighted cross-entropy's summed Hessian at the start margin on the same rows."""

from __future__ import annotations

import dataclasses

import numpy as np

from bench import objectives
from bench.boosters.base import LossSpec


def start_hessian_sum(loss: LossSpec, y: np.ndarray, n_classes: int) -> float:
    """The summed Hessian ``loss`` hands the booster at its start margin, before any scale
    (for focal: after its Hessian guard)."""
    if loss.kind == "ce":
        return objectives.ce_start_hessian_sum(y, n_classes)
    if loss.kind == "weighted":
        weights = np.asarray(loss.class_weights, dtype=np.float64)[y]
        return objectives.ce_start_hessian_sum(y, n_classes, row_weights=weights)
    guard = "exact" if loss.implementation == "native" and n_classes == 2 else loss.hessian
    return objectives.focal_start_hessian_sum(
        y, n_classes, alpha=loss.alpha, gamma=loss.gamma, hessian=guard
    )


def scaled_to_cross_entropy(loss: LossSpec, y: np.ndarray, n_classes: int) -> LossSpec:
    """``loss`` with the scale that equalises its start curvature with cross-entropy's.

    The exact focal Hessian (no guard) can sum to zero or less at the start when many rows are
    badly misclassified; the scale then follows the surrogate guard's (positive) curvature.
    """
    if loss.kind == "ce":
        return loss
    total = start_hessian_sum(loss, y, n_classes)
    if loss.kind == "focal" and total <= 0.0:
        total = objectives.focal_start_hessian_sum(
            y, n_classes, alpha=loss.alpha, gamma=loss.gamma, hessian="surrogate"
        )
    scale = objectives.scale_to_cross_entropy(y, n_classes, total)
    return dataclasses.replace(loss, scale=scale)
