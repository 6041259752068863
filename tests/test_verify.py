"""`bench verify` re-runs an export's cells and says which are bit-identical; `bench export`
refuses cells from a dirty tree and replaces cells with a corrected re-run (issue 23)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from bench.cli import main
from tests.sweep_helpers import export_flags, sweep_args

pytestmark = pytest.mark.integration

BASE = ["--suite", "smoke", "--boosters", "lightgbm", "--strategies", "ce", "--trials", "2"]
BASE += ["--folds", "2", "--workers", "1"]  # in this process: no worker start-up
EXPORT_FLAGS = export_flags()


def _cli(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def smoke_export(tmp_path_factory) -> Path:
    """A 6-cell LightGBM sweep of the smoke suite, exported."""
    tmp = tmp_path_factory.mktemp("verify")
    assert main(sweep_args(tmp / "runs", *BASE)) == 0
    export = tmp / "export"
    uri = f"sqlite:///{tmp / 'runs' / 'mlflow.db'}"
    assert main(["export", "--tracking-uri", uri, "--out", str(export), *EXPORT_FLAGS]) == 0
    return export


def _copy(export: Path, tmp_path: Path, name: str = "copy") -> Path:
    target = tmp_path / name
    shutil.copytree(export, target)
    return target


def _edit_cells(export: Path, edit) -> pd.DataFrame:
    cells = pd.read_parquet(export / "cells.parquet")
    cells = edit(cells)
    cells.to_parquet(export / "cells.parquet", index=False)
    return cells


def _name(row: pd.Series) -> str:
    return f"{row['dataset']}/{row['booster']}/{row['strategy']}/r{row['repeat']}f{row['fold']}"


def test_verify_finds_a_fresh_rerun_identical_and_writes_its_record(smoke_export, tmp_path, capsys):
    record = tmp_path / "verify.md"
    code, out, err = _cli(
        ["verify", "--results", str(smoke_export), "--sample", "2", "--seed", "3",
         "--workers", "1", "--out", str(record)],
        capsys,
    )  # fmt: skip
    assert code == 0, err[-2000:]
    assert "verified: 2 of 2 cells identical at commit" in out
    text = record.read_text()
    assert "verified: 2 of 2 cells identical" in text
    assert text.count("| identical |") == 2
    assert "--sample 2 --seed 3" in text and "this re-run ran on:" in text


def test_verify_names_what_differs_and_how_far(smoke_export, tmp_path, capsys):
    """A planted change of 0.01 is 'different'; one of a relative 1e-13 is rounding."""
    export = _copy(smoke_export, tmp_path)
    cells = pd.read_parquet(export / "cells.parquet")
    big, small = cells.iloc[0], cells.iloc[1]

    def plant(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[0, "test_average_precision"] -= 0.01
        frame.loc[1, "test_roc_auc"] *= 1 + 1e-13
        return frame

    _edit_cells(export, plant)
    code, out, _ = _cli(
        ["verify", "--results", str(export), "--cells", _name(big), small["cell_key"],
         "--workers", "1"],
        capsys,
    )  # fmt: skip
    assert code == 1
    assert f"{_name(big)}: different: test_average_precision (0.01)" in out
    assert f"{_name(small)}: rounding only" in out and "test_roc_auc" in out
    assert "verified: 0 of 2 cells identical, 1 equal up to floating-point rounding" in out
    assert "1 different" in out


def test_verify_bad_input_is_one_line(smoke_export, tmp_path, capsys):
    other = _copy(smoke_export, tmp_path, "other_config")
    meta = json.loads((other / "sweep.json").read_text())
    meta["config"]["trials"] = 3  # cells made by a 2-trial config, sweep.json says 3
    (other / "sweep.json").write_text(json.dumps(meta))
    cases = {
        "not an export of bench": ["--results", str(tmp_path)],
        "made by another configuration": ["--results", str(other)],
        "--sample 0": ["--results", str(smoke_export), "--sample", "0"],
        "not a finished cell": ["--results", str(smoke_export), "--cells", "no/such/cell/r0f0"],
    }
    for expected, args in cases.items():
        code, out, err = _cli(["verify", *args], capsys)
        assert code == 2, (expected, err)
        assert len(err.strip().splitlines()) == 1 and expected in err, err
        assert "Traceback" not in err


def test_export_refuses_dirty_cells_unless_allowed(smoke_export, tmp_path, capsys):
    dirty = _copy(smoke_export, tmp_path, "dirty")
    _edit_cells(dirty, lambda f: f.assign(git_commit=["0123456789abcdef-dirty"] * 2 + [
        "0123456789abcdef"] * (len(f) - 2)))  # fmt: skip
    out_dir = tmp_path / "published"
    code, _, err = _cli(["export", "--results", str(dirty), "--out", str(out_dir)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "2 of 6 cells ran from a working tree with uncommitted changes" in err
    assert "--allow-dirty" in err and not out_dir.exists()
    code, out, err = _cli(
        ["export", "--results", str(dirty), "--out", str(out_dir), "--allow-dirty"], capsys
    )
    assert code == 0, err
    assert len(pd.read_parquet(out_dir / "cells.parquet")) == 6


def test_export_replace_supersedes_cells_and_counts_the_changed(smoke_export, tmp_path, capsys):
    published = _copy(smoke_export, tmp_path, "published")
    wrong = _edit_cells(published, lambda f: f.assign(test_average_precision=f[
        "test_average_precision"].where(f.index != 0, 0.3)))  # fmt: skip
    merge = ["export", "--results", str(smoke_export), "--out", str(published), *EXPORT_FLAGS]
    code, _, err = _cli(merge, capsys)
    assert code == 2 and "different results; refusing to merge" in err  # a merge never replaces
    code, out, err = _cli([*merge, "--replace"], capsys)
    assert code == 0, err
    assert (
        "replaced 6 cells" in out
        and "1 with other results, 0 equal up to floating-point rounding, 5 bit-identical" in out
    )
    assert f"changed: {_name(wrong.iloc[0])}" in out
    fixed = pd.read_parquet(published / "cells.parquet").set_index("cell_key")
    original = pd.read_parquet(smoke_export / "cells.parquet").set_index("cell_key")
    pd.testing.assert_series_equal(
        fixed["test_average_precision"].sort_index(),
        original["test_average_precision"].sort_index(),
    )
    assert len(pd.read_parquet(published / "predictions.parquet")) == len(
        pd.read_parquet(smoke_export / "predictions.parquet")
    )
