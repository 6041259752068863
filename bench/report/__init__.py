"""Reports: a sweep's MLflow parent runs -> tidy table -> statistics across datasets ->
tables, figures, self-contained HTML and Markdown (and a summary run in MLflow).

Public API: :func:`load_results`, :func:`build_report`, :func:`report_command`.
"""

from .build import ReportPaths, build_report, choose_metric
from .command import report_command
from .load import SweepInfo, list_sweeps, load_results
from .settings import Settings

__all__ = [
    "ReportPaths",
    "Settings",
    "SweepInfo",
    "build_report",
    "choose_metric",
    "list_sweeps",
    "load_results",
    "report_command",
]
