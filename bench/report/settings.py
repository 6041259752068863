"""The report's statistical choices: unit of analysis, baseline, failures, evidence thresholds
and the per-metric region of practical equivalence (ROPE) and tie width. All are stated in the
report's methods; the CLI can override each."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bench import runschema as rs
from bench.errors import BenchError
from bench.strategies import BASELINE

from .stats import BAYES_SAMPLES

UNITS = ("family", "dataset")
FAILURES = ("prior", "exclude")

# Fewest units (families or datasets) for any test across them: no p-value or posterior
# probability is shown from fewer (the table says "too few"). Wilcoxon needs one more: with 5
# units its smallest exact two-sided p is 2 / 2**5 = 0.0625, so it could never reject at 0.05.
MIN_UNITS = 5
MIN_UNITS_WILCOXON = 6
# Posterior probability a verdict needs ("X better with probability >= 0.95").
VERDICT_PROBABILITY = 0.95

# ROPE per metric, in the metric's own units (suffixes _t050/_tuned share their metric's).
# Bounded scores in [0, 1]: 0.01, i.e. 1% of the range; MCC spans [-1, 1]: 0.02. Brier, ECE and
# log loss have no useful fixed range on imbalanced data (the class prior's Brier is
# pi (1 - pi): 0.09 at a 10% minority, 0.0099 at 1%), so theirs are set to about 1-2% of the
# class prior's score at a 10% minority (Brier 0.09, log loss 0.33), and ECE to half a point.
ROPE_DEFAULTS: dict[str, float] = {
    "average_precision": 0.01,
    "roc_auc": 0.01,
    "f1": 0.01,
    "precision": 0.01,
    "recall": 0.01,
    "balanced_accuracy": 0.01,
    "gmean": 0.01,
    "mcc": 0.02,
    "brier": 0.002,
    "brier_cal": 0.002,
    "ece": 0.005,
    "ece_cal": 0.005,
    "log_loss": 0.005,
    "log_loss_cal": 0.005,
}
ROPE_FALLBACK = 0.01  # a metric not listed (a plugin's)
TIE_FRACTION = 0.1  # tie width = ROPE x this unless set


def metric_base(name: str) -> str:
    """``test_f1_tuned`` -> ``f1``; ``brier_cal`` stays ``brier_cal``."""
    base = name.removeprefix(rs.TEST_PREFIX)
    for suffix in (rs.AT_HALF, rs.AT_TUNED):
        base = base.removesuffix(suffix)
    return base


def _choose(flag: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise BenchError(f"{flag} {value!r} is unknown; choose one of: {', '.join(choices)}")
    return value


@dataclass(frozen=True)
class Settings:
    """Statistical choices, stated in the report."""

    unit: str = "family"  # one value per family (mean of its datasets) or per dataset
    baseline: str = BASELINE  # every other strategy is compared with it
    failures: str = "prior"  # failed cells scored as the class prior, or excluded
    alpha: float = 0.05
    nsamples: int = BAYES_SAMPLES  # posterior samples of the Bayesian signed-rank test
    seed: int = 0
    rope: Mapping[str, float] = field(default_factory=dict)  # overrides, by metric base name
    tie: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _choose("--unit", self.unit, UNITS)
        _choose("--failures", self.failures, FAILURES)
        for flag, values in (("--rope", self.rope), ("--tie", self.tie)):
            for name, v in values.items():
                if not v >= 0:
                    raise BenchError(f"{flag} {name}={v}: the width must be >= 0")

    def rope_for(self, metric: str) -> float:
        base = metric_base(metric)
        if base in self.rope:
            return float(self.rope[base])
        return ROPE_DEFAULTS.get(base, ROPE_FALLBACK)

    def tie_for(self, metric: str) -> float:
        base = metric_base(metric)
        if base in self.tie:
            return float(self.tie[base])
        return self.rope_for(metric) * TIE_FRACTION


def parse_widths(flag: str, values: list[str] | None, metric: str) -> dict[str, float]:
    """``--rope 0.02`` (the compared metric) or ``--rope brier_cal=0.001`` -> {base: width}."""
    out: dict[str, float] = {}
    for raw in values or []:
        name, sep, number = raw.rpartition("=")
        key = metric_base(name) if sep else metric_base(metric)
        try:
            width = float(number)
        except ValueError:
            width = float("nan")
        if not width >= 0 or (sep and not name):
            raise BenchError(
                f"{flag} {raw!r}: expected WIDTH or METRIC=WIDTH with a number >= 0 "
                "(e.g. 0.02 or brier_cal=0.001)"
            )
        out[key] = width
    return out
