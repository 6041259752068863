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
