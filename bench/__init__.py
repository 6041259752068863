"""bench: a fair, tuned benchmark of focal loss vs cross-entropy vs class weights for
gradient boosting on imbalanced tabular data."""

__version__ = "0.1.0"
