"""Imbalance tiers, defined once: the catalogue prints them and the report groups by them."""

from __future__ import annotations

# (name, lower bound inclusive, upper bound exclusive) on the imbalance ratio majority/minority.
TIERS: tuple[tuple[str, float, float], ...] = (
    ("low", 1.0, 3.0),
    ("medium", 3.0, 9.0),
    ("high", 9.0, 50.0),
    ("extreme", 50.0, float("inf")),
)
TIER_ORDER: tuple[str, ...] = tuple(name for name, _, _ in TIERS)


def imbalance_ratio(class_counts) -> float:
    """Majority count over minority count (>= 1); the usual IR of the imbalanced-learning literature."""
    counts = [int(c) for c in class_counts if int(c) > 0]
    if not counts:
        raise ValueError("imbalance_ratio needs at least one non-empty class")
    return max(counts) / min(counts)


def imbalance_tier(ratio: float) -> str:
    """The tier an imbalance ratio falls in (low < 3 <= medium < 9 <= high < 50 <= extreme)."""
    for name, lo, hi in TIERS:
        if lo <= ratio < hi:
            return name
    raise ValueError(f"imbalance ratio must be >= 1, got {ratio!r}")
