"""Reading exports, merging exports of one sweep, joining sweeps of one protocol."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench import runschema as rs
from bench.errors import BenchError
from bench.export import files

KEYS = ["dataset", "booster", "strategy", "repeat", "fold"]


@dataclass
class Export:
    """One export directory (or several joined): its cells, predictions and sweep facts."""

    cells: pd.DataFrame
    predictions: pd.DataFrame
    meta: dict[str, Any]
    where: str

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.meta.get("config") or {})


def read_export(directory: str | Path) -> Export:
    """An export directory, with a one-line error that says what it expected to find."""
    path = Path(directory)
    wanted = [files.SWEEP, files.CELLS, files.PREDICTIONS]
    missing = [name for name in wanted if not (path / name).is_file()]
    if not path.is_dir() or missing:
        raise BenchError(
            f"--results {path}: not an export of bench (expected {', '.join(wanted)}; "
            f"{'no such directory' if not path.is_dir() else 'missing ' + ', '.join(missing)}); "
            "make one with `python -m bench export --out DIR`"
        )
    try:
        meta = json.loads((path / files.SWEEP).read_text())
        cells = pd.read_parquet(path / files.CELLS)
        predictions = pd.read_parquet(path / files.PREDICTIONS)
    except (OSError, ValueError) as err:
        raise BenchError(f"--results {path}: cannot read the export ({err})") from None
    return Export(cells, predictions, meta, str(path))


def _metric_columns(frame: pd.DataFrame) -> list[str]:
    return sorted(c for c in frame.columns if c.startswith(rs.TEST_PREFIX))


def _same_values(a: pd.Series, b: pd.Series) -> bool:
    x = pd.to_numeric(a, errors="coerce").to_numpy(dtype=float)
    y = pd.to_numeric(b, errors="coerce").to_numpy(dtype=float)
    return bool(np.array_equal(x, y, equal_nan=True))


def merge(
    existing: Export, table: pd.DataFrame, predictions: pd.DataFrame, meta: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Merge the cells of one sweep exported from another shard or store into an export.

    A different configuration is refused; a cell present in both keeps its FINISHED row, and
    two FINISHED rows of one cell must hold the same outer-test metrics."""
    old_hash, new_hash = existing.meta.get("config_hash"), meta.get("config_hash")
    if old_hash != new_hash:
        raise BenchError(
            f"{existing.where} holds an export of sweep {existing.meta.get('name')!r} (config "
            f"hash {str(old_hash)[:8]}); sweep {meta.get('name')!r} has config hash "
            f"{str(new_hash)[:8]}: exports of different configurations do not merge"
        )
    both = pd.concat([existing.cells, table], ignore_index=True, sort=False)
    finished = both["status"] == rs.FINISHED
    metrics = _metric_columns(both)
    for key, group in both[finished].groupby(files.CELL_KEY):
        if len(group) > 1 and not all(
            _same_values(
                group[m].iloc[:1].reset_index(drop=True), group[m].iloc[1:2].reset_index(drop=True)
            )
            for m in metrics
        ):
            first = group.iloc[0]
            raise BenchError(
                f"cell {first['dataset']}/{first['booster']}/{first['strategy']}/"
                f"r{first['repeat']}f{first['fold']} (key {key}) was exported twice with "
                "different results; refusing to merge"
            )
    rank = [rs.parent_rank(s, t) for s, t in zip(both["status"], both["start_time"], strict=True)]
    cells = (
        both.assign(_rank=rank)
        .sort_values("_rank", kind="stable")
        .drop_duplicates(files.CELL_KEY, keep="first")
        .drop(columns="_rank")
    )
    keep = set(cells.loc[cells["status"] == rs.FINISHED, files.CELL_KEY])
    preds = pd.concat([existing.predictions, predictions], ignore_index=True, sort=False)
    preds = preds[preds[files.CELL_KEY].isin(keep)].drop_duplicates([files.CELL_KEY, "row"])
    merged_meta = {
        **existing.meta,
        "sources": [*existing.meta.get("sources", []), *meta["sources"]],
    }
    return cells.reset_index(drop=True), preds.reset_index(drop=True), merged_meta


def protocol(config: dict[str, Any]) -> dict[str, Any]:
    """The settings sweeps must share to be compared: all but boosters and strategies."""
    return {k: v for k, v in config.items() if k not in files.NOT_PROTOCOL}


def _first_difference(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            return key
    return None


def join_exports(exports: list[Export]) -> Export:
    """One comparison from several exports of one protocol: other boosters or strategies (a
    published reference plus a sweep of one new strategy, say), on the datasets they share.

    Every setting but the boosters, strategies and datasets must agree. The joined comparison
    covers the datasets all exports ran (a re-run of 2 datasets joins on those 2; the report
    says which were left out), and expects only the booster x strategy pairs some export
    planned: a one-booster plugin run leaves no phantom "not run" cells for the others.
    """
    first = exports[0]
    if len(exports) == 1:
        return first
    base = protocol(first.config)
    for other in exports[1:]:
        differs = _first_difference(base, protocol(other.config))
        if differs is not None:
            raise BenchError(
                f"--results {other.where} was run with another protocol than {first.where}: "
                f"setting {differs!r} is {protocol(other.config).get(differs)!r} there and "
                f"{base.get(differs)!r} here; only boosters, strategies and datasets may differ"
            )
    datasets_of = [_datasets(e) for e in exports]
    shared = [d for d in datasets_of[0] if all(d in ds for ds in datasets_of[1:])]
    if not shared:
        raise BenchError(
            f"--results: {first.where} and the other exports share no dataset; nothing to compare"
        )
    left_out = {
        e.where: [d for d in ds if d not in shared]
        for e, ds in zip(exports, datasets_of, strict=True)
    }
    cells = pd.concat([e.cells for e in exports], ignore_index=True, sort=False)
    cells = cells[cells["dataset"].isin(shared)].reset_index(drop=True)
    duplicated = cells.duplicated(KEYS, keep=False) & (cells["status"] == rs.FINISHED)
    if duplicated.any():
        row = cells[duplicated].iloc[0]
        raise BenchError(
            f"--results: cell {row['dataset']}/{row['booster']}/{row['strategy']}/"
            f"r{row['repeat']}f{row['fold']} is in more than one export; join exports of "
            "different strategies or boosters"
        )
    config = dict(first.config)
    for key in ("boosters", "strategies"):
        config[key] = list(dict.fromkeys(v for e in exports for v in e.config.get(key, [])))
    config["datasets"] = shared
    meta = {
        **first.meta,
        "name": " + ".join(str(e.meta.get("name")) for e in exports),
        "config": config,
        "config_hash": None,
        "command": "\n".join(str(e.meta.get("command")) for e in exports),
        "skipped": _joined_skipped(exports, config, shared),
        "joined": {"datasets": shared, "left_out": {w: d for w, d in left_out.items() if d}},
    }
    predictions = pd.concat([e.predictions for e in exports], ignore_index=True, sort=False)
    predictions = predictions[predictions["dataset"].isin(shared)].reset_index(drop=True)
    return Export(cells, predictions, meta, ", ".join(e.where for e in exports))


NOT_PLANNED = "no joined sweep planned this pair"


def _datasets(export: Export) -> list[str]:
    listed = [str(d) for d in export.config.get("datasets") or []]
    return listed or list(dict.fromkeys(export.cells["dataset"].astype(str)))


def _joined_skipped(
    exports: list[Export], config: dict[str, Any], shared: list[str]
) -> list[dict[str, Any]]:
    """Each export's own planner skips on the shared datasets, plus every booster x strategy
    pair of the joined grid that no export planned (expected nowhere, so never missing)."""
    out = []
    for e in exports:
        for item in e.meta.get("skipped") or []:
            kept = [d for d in item.get("datasets", []) if d in shared]
            if kept:
                out.append({**item, "datasets": kept})
    planned = {
        (b, s)
        for e in exports
        for b in e.config.get("boosters", [])
        for s in e.config.get("strategies", [])
    }
    for b in config["boosters"]:
        for s in config["strategies"]:
            if (b, s) not in planned:
                out.append({"booster": b, "strategy": s, "datasets": shared, "reason": NOT_PLANNED})
    return out


def report_inputs(export: Export, recompute: bool = False) -> tuple[pd.DataFrame, Any]:
    """The results table and sweep facts the report is built from, as ``load_results`` gives
    them from MLflow. ``recompute``: every outer-test metric that the stored predictions
    determine is computed again from them with today's metric code (the recalibrated ones
    need the inner predictions, which are not exported, and are kept as logged)."""
    from bench.report.load import SweepInfo

    meta = export.meta
    info = SweepInfo(
        name=str(meta.get("name")),
        config=export.config,
        config_hash=meta.get("config_hash"),
        command=meta.get("command"),
        created=meta.get("created"),
        skipped=meta.get("skipped"),
        joined=meta.get("joined"),
    )
    cells = export.cells.copy()
    if recompute:
        cells = recompute_metrics(cells, export.predictions)
    return cells, info


def recompute_metrics(cells: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    """``test_*`` metrics of every FINISHED cell from its exported predictions."""
    from bench.metrics import metric_bundle

    cells = cells.copy()
    columns = [c for c in predictions.columns if c.startswith("p_")]
    by_cell = dict(tuple(predictions.groupby(files.CELL_KEY, sort=False)))
    for i, cell in cells[cells["status"] == rs.FINISHED].iterrows():
        rows = by_cell.get(cell[files.CELL_KEY])
        if rows is None:
            raise BenchError(
                f"--recompute: cell {cell[files.CELL_KEY]} has no exported predictions"
            )
        k = int(cell.get("n_classes") or 2)
        proba = rows[columns[:k]].to_numpy(dtype=np.float64)
        scores = metric_bundle(rows["y_true"].to_numpy(), proba, float(cell[rs.M_THRESHOLD]))
        for name, value in scores.items():
            cells.loc[i, rs.TEST_PREFIX + name] = value
    return cells
