"""Exports: a sweep's finished cells as tidy Parquet that travels without MLflow.

An export directory holds

- ``cells.parquet``: one row per cell: every metric, the best parameters (``param.*``),
  timings and tags; the report's results table;
- ``predictions.parquet``: every cell's outer-test predictions (dataset, booster, strategy,
  repeat, fold, row position, label, class probabilities), so a metric added later can be
  computed on published results (``bench report --results DIR --recompute``);
- ``sweep.json``: the sweep's name, configuration, config hash, command and skipped pairs.

Exports of several shards or stores of one sweep merge into one directory (a cell exported
twice must be identical). ``bench report --results DIR [DIR ...]`` builds the report from
exports; directories of sweeps with the same protocol (everything but the boosters and
strategies) are joined into one comparison.
"""

from bench.export.read import Export, join_exports, read_export, report_inputs
from bench.export.write import export_command, export_sweep

__all__ = [
    "Export",
    "export_command",
    "export_sweep",
    "join_exports",
    "read_export",
    "report_inputs",
]
