"""MLflow -> one tidy row per cell. Reads only parent runs (tag bench.role = cell), filtered
server-side, because listing every trial run of a large sweep is slow."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from bench import runschema as rs
from bench.errors import BenchError
from bench.redaction import redact
from bench.tracking.uris import require_existing_store, resolve_tracking_uri

VERSION_COLUMN_PREFIX = "version."
PARAM_COLUMN_PREFIX = "param."  # the best trial's parameters (and refit rounds) of a cell
_PAGE = 10000

# tidy column <- parent-run tag; ints and floats are converted back from tag strings.
TAG_COLUMNS: dict[str, tuple[str, type]] = {
    "dataset": (rs.TAG_DATASET, str),
    "booster": (rs.TAG_BOOSTER, str),
    "strategy": (rs.TAG_STRATEGY, str),
    "repeat": (rs.TAG_REPEAT, int),
    "fold": (rs.TAG_FOLD, int),
    "cell_key": (rs.TAG_CELL_KEY, str),
    "n_rows": (rs.TAG_N_ROWS, int),
    "n_features": (rs.TAG_N_FEATURES, int),
    "n_classes": (rs.TAG_N_CLASSES, int),
    "minority_count": (rs.TAG_MINORITY, int),
    "class_counts": (rs.TAG_CLASS_COUNTS, str),
    "imbalance_ratio": (rs.TAG_IMBALANCE_RATIO, float),
    "tier": (rs.TAG_TIER, str),
    "family": (rs.TAG_FAMILY, str),
    "source": (rs.TAG_SOURCE, str),
    "git_commit": (rs.TAG_GIT_COMMIT, str),
    "host": (rs.TAG_HOST, str),
    "cpu": (rs.TAG_CPU, str),
    "study": (rs.TAG_STUDY, str),
    "inner_kind": (rs.TAG_INNER_KIND, str),
}
REQUIRED_TAGS = ("dataset", "booster", "strategy", "repeat", "fold")


@dataclass
class SweepInfo:
    """What the report states about a sweep besides its results."""

    name: str
    experiment_id: str | None = None
    experiment_name: str | None = None
    tracking_uri: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    config_hash: str | None = None
    command: str | None = None
    created: str | None = None
    # booster x strategy pairs the planner skipped (never attempted): dicts with booster,
    # strategy, datasets, reason; None when the sweep did not record them
    skipped: list[dict[str, Any]] | None = None
    # exports joined into one comparison: {"datasets": shared, "left_out": {export: [names]}}
    joined: dict[str, Any] | None = None


def _sweep_experiments(client: MlflowClient) -> list[Any]:
    found, token = [], None
    while True:
        page = client.search_experiments(
            view_type=ViewType.ACTIVE_ONLY, max_results=1000, page_token=token
        )
        found += [e for e in page if rs.EXP_SWEEP in e.tags]
        token = page.token
        if not token:
            return found


def _created(exp: Any) -> tuple[str, int]:
    return exp.tags.get(rs.EXP_CREATED, ""), exp.creation_time or 0


def list_sweeps(tracking_uri: str) -> list[str]:
    """Sweep names in the store, oldest first."""
    exps = sorted(_sweep_experiments(MlflowClient(tracking_uri)), key=_created)
    return list(dict.fromkeys(e.tags[rs.EXP_SWEEP] for e in exps))


def find_sweep(client: MlflowClient, tracking_uri: str, sweep: str | None) -> list[Any]:
    """The experiment(s) of a sweep, newest first; the latest sweep when ``sweep`` is None."""
    exps = sorted(_sweep_experiments(client), key=_created, reverse=True)
    if not exps:
        raise BenchError(
            f"no sweep found in MLflow store {redact(tracking_uri)} (no experiment tagged "
            f"{rs.EXP_SWEEP})"
        )
    name = sweep or exps[0].tags[rs.EXP_SWEEP]
    chosen = [e for e in exps if e.tags[rs.EXP_SWEEP] == name]
    if not chosen:
        names = ", ".join(dict.fromkeys(e.tags[rs.EXP_SWEEP] for e in exps))
        raise BenchError(
            f"--sweep {sweep!r} not found in {redact(tracking_uri)}; sweeps found: {names}"
        )
    return chosen


def _info(exp: Any, tracking_uri: str) -> SweepInfo:
    raw = exp.tags.get(rs.EXP_CONFIG)
    try:
        config = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        config = {"unparsed": raw}
    return SweepInfo(
        skipped=_skipped(exp.tags.get(rs.EXP_SKIPPED)),
        name=exp.tags[rs.EXP_SWEEP],
        experiment_id=exp.experiment_id,
        experiment_name=exp.name,
        tracking_uri=tracking_uri,
        config=config if isinstance(config, dict) else {"config": config},
        config_hash=exp.tags.get(rs.EXP_CONFIG_HASH),
        command=exp.tags.get(rs.EXP_COMMAND),
        created=exp.tags.get(rs.EXP_CREATED),
    )


def _skipped(raw: str | None) -> list[dict[str, Any]] | None:
    """The planner's skipped pairs, kept only where well formed (old sweeps lack the tag)."""
    if raw is None:
        return None
    try:
        items = json.loads(raw)
    except json.JSONDecodeError:
        return None
    if not isinstance(items, list):
        return None
    return [
        i
        for i in items
        if isinstance(i, dict)
        and isinstance(i.get("booster"), str)
        and isinstance(i.get("strategy"), str)
        and isinstance(i.get("datasets"), list)
    ]


def _convert(value: str | None, kind: type) -> Any:
    if value is None or value == "":
        return None
    try:
        return kind(float(value)) if kind is int else kind(value)
    except ValueError:
        return None


def _row(run: Any) -> dict[str, Any]:
    tags, info = run.data.tags, run.info
    row: dict[str, Any] = {
        col: _convert(tags.get(tag), kind) for col, (tag, kind) in TAG_COLUMNS.items()
    }
    row.update(
        run_id=info.run_id, status=info.status, start_time=info.start_time, end_time=info.end_time
    )
    for tag, value in tags.items():
        if tag.startswith(rs.TAG_VERSION_PREFIX):
            row[VERSION_COLUMN_PREFIX + tag.removeprefix(rs.TAG_VERSION_PREFIX)] = value
    row.update(run.data.metrics)
    row.update({PARAM_COLUMN_PREFIX + k: v for k, v in run.data.params.items()})
    return row


def _search_cells(client: MlflowClient, experiment_ids: list[str]) -> list[dict[str, Any]]:
    rows, token = [], None
    query = f"tags.`{rs.ROLE}` = '{rs.ROLE_CELL}'"
    while True:
        page = client.search_runs(
            experiment_ids, query, ViewType.ACTIVE_ONLY, _PAGE, page_token=token
        )
        rows += [_row(r) for r in page]
        token = page.token
        if not token:
            return rows


def _one_per_cell(df: pd.DataFrame) -> pd.DataFrame:
    """Keep the run that counts for each cell (``runschema.parent_rank``, as the sweep does)."""
    if df.empty:
        return df
    rank = [rs.parent_rank(s, t) for s, t in zip(df["status"], df["start_time"], strict=True)]
    df = df.assign(_rank=rank).sort_values("_rank", kind="stable")
    df = df.drop_duplicates(list(REQUIRED_TAGS), keep="first")
    return df.drop(columns="_rank").reset_index(drop=True)


def load_results(
    tracking_uri: str | None, sweep: str | None, runs_dir: str = "runs"
) -> tuple[pd.DataFrame, SweepInfo]:
    """One tidy row per cell of a sweep (every metric, the tags, status), and the sweep's info.

    Rows of any status are returned (``status`` column); only FINISHED ones are results.
    """
    uri = require_existing_store(resolve_tracking_uri(tracking_uri, runs_dir))
    client = MlflowClient(uri)
    exps = find_sweep(client, uri, sweep)
    info = _info(exps[0], uri)
    rows = _search_cells(client, [e.experiment_id for e in exps])
    if not rows:
        raise BenchError(f"sweep {info.name!r} in {redact(uri)} has no cell runs yet")
    df = pd.DataFrame(rows)
    bad = df[list(REQUIRED_TAGS)].isna().any(axis=1)
    if bad.any():
        ids = ", ".join(df.loc[bad, "run_id"].head(5))
        raise BenchError(f"sweep {info.name!r}: cell runs lack tags {REQUIRED_TAGS} (runs {ids})")
    df = _one_per_cell(df)
    for col in ("repeat", "fold"):
        df[col] = df[col].astype(int)
    key_cols = ["dataset", "booster", "strategy", "repeat", "fold"]
    return df.sort_values(key_cols).reset_index(drop=True), info
