"""``bench export``: a sweep's cells, best parameters and outer-test predictions from MLflow
into an export directory, merged with what the directory already holds."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench import runschema as rs
from bench.errors import BenchError
from bench.export import files
from bench.redaction import redact
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


def export_sweep(
    tracking_uri: str | None, sweep: str | None, out_dir: str | Path, runs_dir: str = "runs"
) -> dict[str, int]:
    """Export a sweep into ``out_dir`` (merging with an export of the same sweep there)."""
    from bench.export.read import merge, read_export
    from bench.report.load import load_results

    uri = resolve_tracking_uri(tracking_uri, runs_dir)
    with reading_store(uri, "reading the sweep"):
        table, info = load_results(uri, sweep, runs_dir)  # the report's results table
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
    out = Path(out_dir)
    if (out / files.SWEEP).exists():
        existing = read_export(out)
        table, predictions, meta = merge(existing, table, predictions, meta)
    write_export(out, table, predictions, meta)
    return {"cells": int(len(table)), "finished": int((table["status"] == rs.FINISHED).sum())}


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
    """CLI entry: ``bench export [--sweep NAME] [--tracking-uri URI] [--runs-dir DIR] --out DIR``."""
    from bench.tracking.stores import configure_process

    configure_process()
    counts = export_sweep(
        getattr(args, "tracking_uri", None),
        getattr(args, "sweep", None),
        args.out,
        getattr(args, "runs_dir", None) or "runs",
    )
    print(f"exported {counts['cells']} cells ({counts['finished']} finished) to {args.out}")
    return 0
