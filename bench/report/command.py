"""`python -m bench report`: load a sweep from MLflow (or from exports, ``--results``), build
the report, log it to the sweep's summary run (MLflow only), print paths."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.paths import report_dir
from bench.strategies import BASELINE
from bench.tracking.errors import reading_store
from bench.tracking.stores import configure_process
from bench.tracking.uris import resolve_tracking_uri

from .build import build_report, choose_metric
from .load import load_results
from .publish import log_summary_run
from .settings import Settings, parse_widths


def report_command(args: Any) -> int:
    """CLI entry: args.sweep, args.tracking_uri, args.metric, args.out, args.runs_dir, and the
    statistical choices args.unit, args.baseline, args.failures, args.rope, args.tie."""
    configure_process()
    chosen = Settings(  # checked before the store is read: a bad flag fails fast
        unit=getattr(args, "unit", None) or "family",
        baseline=getattr(args, "baseline", None) or BASELINE,
        failures=getattr(args, "failures", None) or "prior",
    )
    runs_dir = getattr(args, "runs_dir", None) or "runs"
    exports = getattr(args, "results", None)
    if exports:  # exported tables, no MLflow: nothing is logged back
        from bench.export import join_exports, read_export, report_inputs

        joined = join_exports([read_export(d) for d in exports])
        results, info = report_inputs(joined, recompute=bool(getattr(args, "recompute", False)))
    else:
        uri = resolve_tracking_uri(getattr(args, "tracking_uri", None), runs_dir)
        with reading_store(uri, "reading the sweep"):
            results, info = load_results(uri, getattr(args, "sweep", None), runs_dir)
    out = Path(args.out) if getattr(args, "out", None) else report_dir(runs_dir, info.name)
    metric = choose_metric(results, getattr(args, "metric", None), info)
    settings = replace(
        chosen,
        rope=parse_widths("--rope", getattr(args, "rope", None), metric),
        tie=parse_widths("--tie", getattr(args, "tie", None), metric),
    )
    paths = build_report(results, info, out_dir=out, metric=metric, settings=settings)
    if info.experiment_id and info.tracking_uri:
        with reading_store(info.tracking_uri, "logging the report's summary run"):
            paths.summary_run_id = log_summary_run(
                info.tracking_uri, info.experiment_id, info.name, out, paths.metric
            )
    print(f"sweep {info.name}: {len(results)} cell runs, metric {paths.metric}")
    for p in paths.all():
        print(f"wrote {p}")
    if paths.summary_run_id:
        print(f"logged to MLflow run {paths.summary_run_id} (artifacts under report/)")
    return 0
