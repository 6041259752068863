"""``bench export``: a sweep's cells, best parameters and outer-test predictions from MLflow
into an export directory, merged with what the directory already holds."""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench import runschema as rs
from bench.errors import BenchError
from bench.export import files
from bench.export.read import Export, merge, read_export
from bench.redaction import redact
from bench.tracking.environment import is_dirty
from bench.tracking.errors import reading_store
from bench.tracking.uris import resolve_tracking_uri


def _predictions(tracking_uri: str, cells: pd.DataFrame) -> pd.DataFrame:
    """The outer-test predictions of the FINISHED cells, one row per (cell, test row)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    frames = []
    for cell in cells.itertuples(index=False):
        try:
            text = _read_artifact(client, cell.run_id)
        except Exception as err:  # a lost artifact: the cell is exported without predictions
            raise BenchError(
                f"cell {cell.dataset}/{cell.booster}/{cell.strategy}/r{cell.repeat}f{cell.fold}: "
                f"its predictions artifact cannot be read ({type(err).__name__})"
            ) from None
        frame = pd.read_csv(io.StringIO(text))
        for key in files.PREDICTION_KEYS:
            frame.insert(0, key, getattr(cell, key))
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=[*files.PREDICTION_KEYS, "row", "y_true"])
    out = pd.concat(frames, ignore_index=True)
    out["row"] = out["row"].astype(np.int32)
    out["y_true"] = out["y_true"].astype(np.int16)
    return out


def _read_artifact(client: Any, run_id: str) -> str:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = client.download_artifacts(run_id, rs.PREDICTIONS_ARTIFACT, tmp)
        return Path(path).read_text(encoding="utf-8")


def collect(
    tracking_uri: str | None, sweep: str | None, runs_dir: str = "runs"
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """A sweep's cells (the report's results table), FINISHED cells' predictions and facts."""
    from bench.report.load import load_results

    uri = resolve_tracking_uri(tracking_uri, runs_dir)
    with reading_store(uri, "reading the sweep"):
        table, info = load_results(uri, sweep, runs_dir)
        finished = table[table["status"] == rs.FINISHED]
        predictions = _predictions(uri, finished)
    meta = {
        "format": files.FORMAT_VERSION,
        "name": info.name,
        "config": info.config,
        "config_hash": info.config_hash,
        "command": info.command,
        "created": info.created,
        "skipped": info.skipped,
        "sources": [
            {
                "tracking_uri": redact(uri),
                "experiment": info.experiment_name,
                "exported": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "cells": int(len(table)),
            }
        ],
    }
    return table, predictions, meta


def refuse_dirty(table: pd.DataFrame, allow_dirty: bool) -> None:
    """Published cells come from a commit anyone can check out: cells that ran from a working
    tree with uncommitted changes are refused unless the user says otherwise."""
    if allow_dirty or "git_commit" not in table:
        return
    dirty = table["git_commit"].map(lambda c: is_dirty(str(c)))
    if dirty.any():
        commits = sorted(set(table.loc[dirty, "git_commit"].astype(str)))
        raise BenchError(
            f"{int(dirty.sum())} of {len(table)} cells ran from a working tree with uncommitted "
            f"changes ({', '.join(c[:12] + '-dirty' for c in commits[:3])}"
            f"{' ...' if len(commits) > 3 else ''}); re-run them from a clean checkout, or "
            "pass --allow-dirty to export them anyway"
        )


@dataclass
class ExportSummary:
    cells: int
    finished: int
    unfinished: int  # of the cells exported now: RUNNING, KILLED or FAILED (no predictions)
    replaced: int = 0  # cells of --out superseded by --replace
    changed: list[str] = field(default_factory=list)  # replaced cells whose results differ
    rounding: int = 0  # replaced cells equal to the new ones up to floating-point rounding


def export_sweep(
    tracking_uri: str | None,
    sweep: str | None,
    out_dir: str | Path,
    runs_dir: str = "runs",
    *,
    allow_dirty: bool = False,
    replace: bool = False,
    results: str | None = None,
) -> ExportSummary:
    """Export a sweep into ``out_dir``, merging with an export of the same sweep there.

    ``results``: take the cells from that export instead of a store. ``replace``: the cells
    taken now supersede the same cells in ``out_dir`` (a corrected re-run), where a merge
    would refuse a cell whose results differ.
    """
    if results is not None:
        source = read_export(results)
        table, predictions, meta = source.cells, source.predictions, dict(source.meta)
    else:
        table, predictions, meta = collect(tracking_uri, sweep, runs_dir)
    refuse_dirty(table, allow_dirty)
    unfinished = int((table["status"] != rs.FINISHED).sum())
    out = Path(out_dir)
    summary = ExportSummary(0, 0, unfinished)
    if (out / files.SWEEP).exists():
        existing = read_export(out)
        if replace:
            existing, summary.replaced, summary.changed, summary.rounding = supersede(
                existing, table, predictions
            )
        table, predictions, meta = merge(existing, table, predictions, meta)
    elif replace:
        raise BenchError(f"--replace: {out} holds no export whose cells could be replaced")
    write_export(out, table, predictions, meta)
    summary.cells = int(len(table))
    summary.finished = int((table["status"] == rs.FINISHED).sum())
    return summary


def supersede(
    existing: Export, table: pd.DataFrame, predictions: pd.DataFrame
) -> tuple[Export, int, list[str], int]:
    """``existing`` without the FINISHED cells that ``table`` brings again, how many were
    dropped, which of them had other results (run names) and how many differed by rounding
    only (see ``bench.verify.compare``)."""
    from bench.verify.compare import compare_cells

    new_keys = set(table.loc[table["status"] == rs.FINISHED, files.CELL_KEY])
    old = existing.cells
    gone = old[old[files.CELL_KEY].isin(new_keys)]
    keys = list(gone[files.CELL_KEY])
    diffs = compare_cells(old, existing.predictions, table, predictions, keys)
    changed = sorted(d.run_name for d in diffs if not (d.identical or d.rounding_only))
    rounding = sum(d.rounding_only for d in diffs)
    kept = Export(
        old[~old[files.CELL_KEY].isin(new_keys)].reset_index(drop=True),
        existing.predictions[~existing.predictions[files.CELL_KEY].isin(new_keys)],
        existing.meta,
        existing.where,
    )
    return kept, len(keys), changed, rounding


def write_export(
    out: Path, table: pd.DataFrame, predictions: pd.DataFrame, meta: dict[str, Any]
) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BenchError(f"--out {out}: cannot create the directory ({err.strerror})") from None
    order = ["dataset", "booster", "strategy", "repeat", "fold"]
    table = table.sort_values(order).reset_index(drop=True)
    predictions = predictions.sort_values([*order, "row"]).reset_index(drop=True)
    for frame in (table, predictions):
        for col in ("dataset", "booster", "strategy"):
            frame[col] = frame[col].astype(str)
    table.to_parquet(out / files.CELLS, index=False, compression="zstd")
    predictions.to_parquet(out / files.PREDICTIONS, index=False, compression="zstd")
    (out / files.SWEEP).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def export_command(args: Any) -> int:
    """CLI entry: ``bench export [--sweep NAME] [--tracking-uri URI] [--runs-dir DIR]
    [--results DIR] [--replace] [--allow-dirty] --out DIR``."""
    from bench.tracking.stores import configure_process

    configure_process()
    s = export_sweep(
        getattr(args, "tracking_uri", None),
        getattr(args, "sweep", None),
        args.out,
        getattr(args, "runs_dir", None) or "runs",
        allow_dirty=bool(getattr(args, "allow_dirty", False)),
        replace=bool(getattr(args, "replace", False)),
        results=getattr(args, "results", None),
    )
    unfinished = (
        f"; {s.unfinished} of the cells taken now are not finished (running, killed or failed: "
        "exported without predictions, and a later export of the same store completes them)"
        if s.unfinished
        else ""
    )
    print(f"exported {s.cells} cells ({s.finished} finished) to {args.out}{unfinished}")
    if getattr(args, "replace", False):
        print(
            f"replaced {s.replaced} cells of {args.out}: {len(s.changed)} with other results, "
            f"{s.rounding} equal up to floating-point rounding, "
            f"{s.replaced - len(s.changed) - s.rounding} bit-identical"
        )
        for name in s.changed[:20]:
            print(f"  changed: {name}")
        if len(s.changed) > 20:
            print(f"  ... and {len(s.changed) - 20} more")
    return 0
