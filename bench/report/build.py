"""Tidy results table -> report files. A pure function of the table (no MLflow), so it can be
tested on synthetic tables and run on an exported CSV/Parquet."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bench.errors import BenchError

from . import diagnostics, sections, thresholds, verdicts
from .frame import available_metrics, expected_grid, prepare, resolve_metric
from .load import SweepInfo
from .model import Report
from .render import write
from .settings import Settings

DEFAULT_METRIC = "average_precision"


@dataclass
class ReportPaths:
    """Everything a report build wrote."""

    out_dir: Path
    html: Path
    markdown: Path
    csv: Path
    parquet: Path
    missing_csv: Path
    figures: list[Path] = field(default_factory=list)
    metric: str = ""
    summary_run_id: str | None = None

    def all(self) -> list[Path]:
        return [self.html, self.markdown, self.csv, self.parquet, self.missing_csv, *self.figures]


def choose_metric(results: pd.DataFrame, metric: str | None, info: SweepInfo | None) -> str:
    """--metric, else the sweep's tuning target when it is an outer-test metric, else AP."""
    if not available_metrics(results):  # not one finished cell: say so, not "--metric ..."
        status = results["status"] if "status" in results else pd.Series(dtype=str)
        failed = int((status == "FAILED").sum())
        name = info.name if info else "this sweep"
        raise BenchError(
            f"sweep {name!r} has no finished cell to report on yet ({failed} failed, "
            f"{len(results) - failed} unfinished); a failed cell's MLflow run holds its error "
            "(tag bench.error) and the log file with its traceback (tag bench.log_file)"
        )
    if metric:
        return resolve_metric(results, metric)
    target = (info.config.get("target") if info else None) or DEFAULT_METRIC
    try:
        return resolve_metric(results, str(target))
    except Exception:
        return resolve_metric(results, DEFAULT_METRIC)


def check_baseline(results: pd.DataFrame, info: SweepInfo, baseline: str) -> None:
    """The baseline must be a strategy present in the sweep."""
    present = expected_grid(results, info.config).strategies
    if baseline not in present:
        raise BenchError(
            f"--baseline {baseline!r} is not a strategy of this sweep; choose one of: "
            f"{', '.join(present)}"
        )


def make_report(
    results: pd.DataFrame, info: SweepInfo, metric: str, settings: Settings
) -> tuple[Report, pd.DataFrame]:
    """The report object and the missing-cells table, without writing anything."""
    check_baseline(results, info, settings.baseline)
    prep = prepare(
        results,
        metric,
        info.config,
        unit=settings.unit,
        failures=settings.failures,
        skipped=info.skipped,
    )
    report = Report(title=f"bench report: {info.name} ({metric.removeprefix('test_')})")
    budget = sections.tuning_budget(prep, info)
    comps = sections.baseline_comparisons(prep, settings)
    per_dataset = verdicts.dataset_verdicts(prep, settings)
    per_dataset_section = verdicts.section(prep, settings, per_dataset)
    few = verdicts.few_datasets(prep)  # then the per-dataset verdicts lead
    target = str(info.config.get("target") or DEFAULT_METRIC)
    inner_outer = diagnostics.inner_outer_section(results, target)
    threshold_effect = thresholds.threshold_section(prep, settings)
    report.sections = [
        sections.summary_section(prep, settings, comps, budget, per_dataset),
        *([per_dataset_section] if few else []),
        sections.overview(prep, info, settings, len(results), budget),
        sections.main_results(prep, verdicts.markers(per_dataset)),
        *([] if few else [per_dataset_section]),
        sections.ranks_section(prep, settings),
        sections.baseline_section(prep, settings, comps),
        sections.tier_section(prep, settings),
        sections.metrics_section(prep, settings),
        *([threshold_effect] if threshold_effect is not None else []),
        sections.calibration_section(prep, settings),
        *([inner_outer] if inner_outer is not None else []),
        sections.cost_section(prep, settings),
        sections.missing_section(prep),
        sections.reproducibility_section(results, info),
    ]
    return report, prep.missing


def build_report(
    results: pd.DataFrame,
    info: SweepInfo | None = None,
    *,
    out_dir: str | Path,
    metric: str | None = None,
    settings: Settings | None = None,
) -> ReportPaths:
    """Write report.html, report.md, figures, results.csv/.parquet and missing_cells.csv."""
    info = info or SweepInfo(name="unnamed")
    settings = settings or Settings()
    column = choose_metric(results, metric, info)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report, missing = make_report(results, info, column, settings)
    html, md, pngs = write(report, out)
    csv, parquet, missing_csv = (
        out / "results.csv",
        out / "results.parquet",
        out / "missing_cells.csv",
    )
    results.to_csv(csv, index=False)
    results.to_parquet(parquet, index=False)
    missing.to_csv(missing_csv, index=False)
    return ReportPaths(out, html, md, csv, parquet, missing_csv, pngs, metric=column)
