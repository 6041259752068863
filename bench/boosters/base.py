"""The one contract every booster adapter honours (scikit-learn style: fit, then predict_proba).

The protocol only ever talks to this interface, so LightGBM, XGBoost and CatBoost are
interchangeable and every loss strategy is trained and early-stopped the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:  # annotations only: the registry and the planner import this module
    import numpy as np
    import pandas as pd

LossKind = Literal["ce", "weighted", "focal"]
LOSS_KINDS: tuple[str, ...] = ("ce", "weighted", "focal")


@dataclass(frozen=True)
class LossSpec:
    """What a strategy asks the booster to minimise; booster-agnostic. ``kind`` is one of the
    three losses every adapter knows how to train; strategies (built-in or a user's plugin) are
    expressed in these terms.

    - ce:       the library's native cross-entropy (binary logloss / softmax).
    - weighted: native cross-entropy with per-class weights ``class_weights`` (length K,
                applied as sample weights y -> class_weights[y]).
    - focal:    focal loss from ``bench.objectives`` as the training objective, with ``alpha``
                (None, a float in [0, 1] weighting class 1 for binary, or a length-K tuple),
                ``gamma`` >= 0 and the Hessian guard ``hessian``. ``implementation`` matters for
                CatBoost binary focal only: "python" (our objective) or "native" (CatBoost Focal).

    ``scale`` multiplies the loss's gradients and Hessians (for ``weighted``: its sample
    weights) by one positive constant. Tree boosters regularise in Hessian units, so this is
    the same as dividing the L2 penalty and the minimum child Hessian by ``scale``; the sweep
    sets it so that every strategy starts with cross-entropy's total curvature
    (``bench.strategies.scale``). Scale 1 is the loss as it is.
    """

    kind: LossKind
    class_weights: tuple[float, ...] | None = None
    alpha: float | tuple[float, ...] | None = None
    gamma: float = 2.0
    hessian: str = "exact"
    implementation: Literal["python", "native"] = "python"
    scale: float = 1.0


@dataclass(frozen=True)
class StoppingRule:
    """Early stopping on a validation set, scored on class probabilities (never on margins).

    ``metric(y_true, proba)`` takes integer labels (n,) and probabilities (n, K) and returns a
    float where HIGHER IS BETTER (pass e.g. negative log loss). The same rule is used for every
    objective, so early stopping is identical whatever the loss.
    """

    metric: Callable[[np.ndarray, np.ndarray], float]
    name: str
    patience: int = 50


class FittedBooster(ABC):
    """A trained model; probabilities are calibrated-as-trained (the start margin added back)."""

    best_iteration: int  # number of boosting rounds the model uses for prediction (>= 1)

    @abstractmethod
    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities of shape (n, K); rows sum to 1; binary gives K = 2."""


class BoosterAdapter(ABC):
    """Translate a LossSpec + tuned params into one library's training call."""

    name: ClassVar[str]

    @abstractmethod
    def suggest_params(self, trial: Any, rows: int | None = None) -> dict[str, Any]:
        """Sample this booster's tree/regularisation params from an optuna.Trial.

        ``rows``: the fewest training rows a fit of this study sees (the smallest inner-training
        part), so a leaf minimum can be kept within what the data allows; None: no bound.

        Covers learning rate (log), tree size, minimum child weight/samples, row and column
        subsampling, L1/L2. The number of rounds is never tuned here: early stopping sets it.
        Keys are plain names (logged to MLflow as they are).
        """

    @abstractmethod
    def default_params(self, rows: int | None = None) -> dict[str, Any]:
        """The library's default configuration in ``suggest_params``'s keys, within its ranges
        (a default outside a log range, such as an L1 of 0, becomes the range's bottom): every
        study's first trial, for every strategy alike."""

    @abstractmethod
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
        """Train; with ``valid`` and ``stopping``, stop early (at most ``rounds`` rounds) and keep
        the best iteration; without them, train exactly ``rounds`` rounds.

        ``X`` may hold pandas ``category`` columns and NaN; ``y`` holds integers 0..K-1.
        Deterministic for a given seed and thread count.
        """
