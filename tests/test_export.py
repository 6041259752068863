"""Shards, exports, reports from exports, and a new method joined with published results."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from bench import runschema as rs
from bench.cli import main
from tests.sweep_helpers import REPO, all_runs, export_flags, parents, run_cli, sweep_args

pytestmark = pytest.mark.integration

PLUGIN = REPO / "examples" / "strategies" / "class_balanced.py"
BASE = ["--suite", "smoke", "--boosters", "lightgbm", "--trials", "2", "--folds", "2"]
BASE += ["--workers", "1"]  # in this process: no worker start-up
EXPORT = export_flags()


def _ok(out):
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def _cli(args: list[str], capsys) -> tuple[int, str]:
    """The CLI in this process (saves an interpreter start a call); (exit code, stderr)."""
    code = main(args)
    return code, capsys.readouterr().err


def _run(args: list[str], capsys) -> None:
    code, err = _cli(args, capsys)
    assert code == 0, err[-3000:]


@pytest.fixture
def unregister_plugin():
    yield
    from bench.strategies import STRATEGIES, plugins

    STRATEGIES.unregister("class_balanced")
    plugins._loaded.clear()


def _uri(path: Path) -> str:
    return f"sqlite:///{path / 'mlflow.db'}"


def _tables(report_dir: Path) -> str:
    """The report's Markdown without what legitimately differs between a sweep read from
    MLflow and from its export: where it was read from, and the fit times."""
    text = (report_dir / "report.md").read_text()
    text = re.sub(r" \(MLflow experiment [^)]*\)", "", text)
    keep, skipping = [], False
    for line in text.splitlines():
        if line.startswith("## "):
            skipping = line.startswith(("## Cost", "## Configuration"))
        if not skipping:
            keep.append(line)
    return "\n".join(keep)


def _report(tmp_path: Path, capsys, name: str, *args: str) -> Path:
    out = tmp_path / name
    _run(["report", *args, "--out", str(out)], capsys)
    return out


def _metrics(results_csv: Path) -> pd.DataFrame:
    table = pd.read_csv(results_csv)
    columns = ["cell_key", *sorted(c for c in table.columns if c.startswith(rs.TEST_PREFIX))]
    return table[columns].sort_values("cell_key").reset_index(drop=True)


def test_an_export_reports_exactly_as_mlflow_does(smoke_sweep, tmp_path, capsys):
    export = tmp_path / "export"
    _ok(run_cli(["export", "--tracking-uri", smoke_sweep["uri"], "--out", str(export), *EXPORT]))
    cells = pd.read_parquet(export / "cells.parquet")
    predictions = pd.read_parquet(export / "predictions.parquet")
    assert len(cells) == len(parents(smoke_sweep["runs"]))
    assert {"param.learning_rate", "test_average_precision", "fit_time_s"} <= set(cells.columns)
    assert set(predictions["cell_key"]) == set(cells["cell_key"])
    sweep = json.loads((export / "sweep.json").read_text())
    assert sweep["config_hash"] and sweep["config"]["trials"] == 2
    from_mlflow = _report(tmp_path, capsys, "mlflow", "--tracking-uri", smoke_sweep["uri"])
    from_export = _report(tmp_path, capsys, "export_report", "--results", str(export))
    assert _tables(from_export) == _tables(from_mlflow)
    pd.testing.assert_frame_equal(
        _metrics(from_export / "results.csv"), _metrics(from_mlflow / "results.csv")
    )
    recomputed = _report(tmp_path, capsys, "recomputed", "--results", str(export), "--recompute")
    pd.testing.assert_frame_equal(  # the stored predictions give back every logged metric
        _metrics(recomputed / "results.csv"), _metrics(from_export / "results.csv"), rtol=1e-6
    )


def test_shards_run_every_cell_once_and_their_merged_export_reports_as_one_run(
    tmp_path, capsys, unregister_plugin
):
    whole, one, two = tmp_path / "whole", tmp_path / "shard1", tmp_path / "shard2"
    strategies = ["--strategies", "ce", "focal"]
    _run(sweep_args(whole, *BASE, *strategies), capsys)
    for path, shard in ((one, "1/2"), (two, "2/2")):  # separate stores, as on two machines
        _run(sweep_args(path, *BASE, *strategies, "--shard", shard), capsys)
    keys = [
        r.data.tags[rs.TAG_CELL_KEY] for path in (one, two) for r in parents(all_runs(_uri(path)))
    ]
    expected = {r.data.tags[rs.TAG_CELL_KEY] for r in parents(all_runs(_uri(whole)))}
    assert sorted(keys) == sorted(expected) and len(keys) == len(set(keys))  # each cell once
    merged = tmp_path / "merged"
    for path in (one, two):
        _run(["export", "--tracking-uri", _uri(path), "--out", str(merged), *EXPORT], capsys)
    _run(
        ["export", "--tracking-uri", _uri(one), "--out", str(merged), *EXPORT], capsys
    )  # again: no-op
    assert len(pd.read_parquet(merged / "cells.parquet")) == len(expected)
    sharded = _report(tmp_path, capsys, "sharded", "--results", str(merged))
    unsharded = _report(tmp_path, capsys, "unsharded", "--tracking-uri", _uri(whole))
    assert _tables(sharded) == _tables(unsharded)

    # A plugin strategy run alone on the same protocol joins the published results ...
    plugin = tmp_path / "plugin"
    _run(sweep_args(plugin, *BASE, "--strategies", f"{PLUGIN}:ClassBalanced"), capsys)
    plugin_export = tmp_path / "plugin_export"
    _run(["export", "--tracking-uri", _uri(plugin), "--out", str(plugin_export), *EXPORT], capsys)
    joined = _report(tmp_path, capsys, "joined", "--results", str(merged), str(plugin_export))
    table = pd.read_csv(joined / "results.csv")
    assert set(table["strategy"]) == {"ce", "focal", "class_balanced"}
    assert "class_balanced" in (joined / "report.md").read_text()
    # ... but not into an export of the other sweep, and another seed is another protocol.
    code, err = _cli(
        ["export", "--tracking-uri", _uri(plugin), "--out", str(merged), *EXPORT], capsys
    )
    assert code == 2 and "exports of different configurations do not merge" in err
    assert len(err.strip().splitlines()) == 1
    other_seed = tmp_path / "seed1"
    _run(sweep_args(other_seed, *BASE, "--strategies", "weighted", "--seed", "1",
                    "--trials", "1"), capsys)  # fmt: skip
    seed_export = tmp_path / "seed_export"
    _run(["export", "--tracking-uri", _uri(other_seed), "--out", str(seed_export), *EXPORT], capsys)
    code, err = _cli(["report", "--results", str(merged), str(seed_export)], capsys)
    assert code == 2 and "setting 'seed'" in err


def test_report_results_on_a_directory_without_an_export_says_what_it_expected(tmp_path):
    out = run_cli(["report", "--results", str(tmp_path)])
    assert out.returncode == 2
    assert "expected sweep.json, cells.parquet, predictions.parquet" in out.stderr
    assert "Traceback" not in out.stderr


def _synthetic_export(where: str, datasets: int, boosters, strategies, **kw):
    from bench.export import Export
    from tests.support.synthetic_results import synthetic_results

    cells = synthetic_results(datasets, boosters=boosters, strategies=strategies, folds=3, **kw)
    cells["cell_key"] = [f"{where}{i}" for i in range(len(cells))]
    config = {"datasets": sorted(set(cells["dataset"])), "boosters": list(boosters),
              "strategies": list(strategies), "folds": 3, "repeats": 1, "seed": 0, "trials": 2}  # fmt: skip
    predictions = pd.DataFrame(columns=["dataset", "booster", "strategy", "cell_key"])
    return Export(cells, predictions, {"name": where, "config": config, "skipped": []}, where)


@pytest.mark.unit
def test_a_one_booster_run_and_a_dataset_subset_join_without_phantom_cells(tmp_path):
    """A one-booster run of a new strategy on 2 of the published 6 datasets joins on those 2:
    nothing is expected of the pairs no export planned, and the report names what was left."""
    from bench.export import join_exports, report_inputs
    from bench.report import build_report

    published = _synthetic_export("pub", 6, ("lightgbm", "xgboost"), ("ce", "focal"))
    subset = _synthetic_export("new", 2, ("lightgbm",), ("smote",), seed=1)
    joined = join_exports([published, subset])
    assert joined.config["datasets"] == ["ds000", "ds001"]
    assert set(joined.cells["dataset"]) == {"ds000", "ds001"}
    assert joined.meta["joined"]["left_out"] == {"pub": ["ds002", "ds003", "ds004", "ds005"]}
    results, info = report_inputs(joined)
    paths = build_report(results, info, out_dir=tmp_path / "joined")
    assert pd.read_csv(paths.missing_csv).empty  # no xgboost x smote "not run" cells
    md = paths.markdown.read_text()
    assert (
        "on the 2 datasets they all ran; left out: ds002, ds003, ds004, ds005 (only in pub)" in md
    )
    assert "2 dataset x booster x strategy combination(s) were not planned" in md
