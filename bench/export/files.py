"""The export directory's file names and the protocol keys (shared by writer and reader)."""

from __future__ import annotations

CELLS = "cells.parquet"
PREDICTIONS = "predictions.parquet"
SWEEP = "sweep.json"
FORMAT_VERSION = 1

CELL_KEY = "cell_key"
PREDICTION_KEYS = ("dataset", "booster", "strategy", "repeat", "fold", CELL_KEY)

# Settings that differ between sweeps joined into one comparison (datasets: joined on those all
# share); every other setting of the configuration is the protocol, which must be the same.
NOT_PROTOCOL = frozenset({"boosters", "strategies", "plugin_sources", "datasets"})
