"""Shards: K/N of a sweep's cells, deterministic and balanced; every cell in exactly one."""

from __future__ import annotations

import pytest

from bench.cli import main
from bench.config import build_config
from bench.sweep.plan import plan_sweep
from tests.sweep_helpers import REPO

pytestmark = pytest.mark.unit


def _plan(shard: str | None, suite: str = "quick"):
    return plan_sweep(
        build_config(
            None, {"suite": suite, "shard": shard, "catalogue": str(REPO / "datasets.yaml")}
        )
    )


def test_shards_partition_the_cells_under_one_name_and_hash():
    whole = _plan(None)
    shards = [_plan(f"{k}/3") for k in (1, 2, 3)]
    keys = [c.key for s in shards for c in s.cells]
    assert sorted(keys) == sorted(c.key for c in whole.cells)  # each cell exactly once
    assert {s.name for s in shards} == {whole.name}
    assert {s.config_hash for s in shards} == {whole.config_hash}
    assert all(s.total_cells == len(whole.cells) for s in shards)
    assert [c.key for c in _plan("2/3").cells] == [c.key for c in shards[1].cells]  # deterministic


def test_shards_are_balanced_by_estimated_cost():
    from bench.sweep.plan import estimated_cost

    whole = _plan(None)
    metas = {}
    from bench.datasets import describe, load_catalogue

    cat = load_catalogue(REPO / "datasets.yaml")
    for name in whole.datasets:
        metas[name] = describe(cat, name)[0]
    totals = [
        sum(
            estimated_cost(c.booster, c.strategy, metas[c.dataset], whole.config)
            for c in _plan(f"{k}/4").cells
        )
        for k in (1, 2, 3, 4)
    ]
    assert max(totals) / min(totals) < 1.05


@pytest.mark.parametrize("shard", ["0/2", "3/2", "1/0", "a/2", "1-2", "2"])
def test_a_bad_shard_is_one_line(tmp_path, capsys, shard):
    assert main(["run", "--runs-dir", str(tmp_path), "--shard", shard]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "shard" in err[0] and repr(shard) in err[0]


def _chosen(cells: list[str], shard: str | None = None):
    return plan_sweep(
        build_config(
            None,
            {
                "suite": "quick",
                "cells": cells,
                "shard": shard,
                "catalogue": str(REPO / "datasets.yaml"),
            },
        )
    )


def test_cells_choose_planned_cells_by_key_or_run_name_under_the_same_name_and_hash():
    whole = _plan(None)
    a, b, c = whole.cells[0], whole.cells[7], whole.cells[-1]
    chosen = _chosen([c.run_name, a.key, b.run_name])
    assert [x.key for x in chosen.cells] == [a.key, b.key, c.key]  # plan order, not list order
    assert (chosen.name, chosen.config_hash) == (whole.name, whole.config_hash)
    assert chosen.total_cells == len(whole.cells)
    halves = [_chosen([a.key, b.key, c.key], f"{k}/2").cells for k in (1, 2)]
    assert sorted(x.key for h in halves for x in h) == sorted([a.key, b.key, c.key])


def test_unknown_cells_are_one_line_naming_them(tmp_path, capsys):
    listing = tmp_path / "cells.txt"
    listing.write_text("# re-run these\npima/lightgbm/ce/r0f0\nnot/a/cell/r0f0  # typo\n")
    assert main(["run", "--runs-dir", str(tmp_path), "--cells-from", str(listing)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'not/a/cell/r0f0'" in err[0] and "pima/lightgbm" not in err[0]
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    assert main(["run", "--runs-dir", str(tmp_path), "--cells-from", str(empty)]) == 2
    assert "lists no cell" in capsys.readouterr().err
    assert main(["run", "--runs-dir", str(tmp_path), "--cells-from", str(tmp_path / "no")]) == 2
    assert "cannot read it" in capsys.readouterr().err
