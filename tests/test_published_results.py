"""The published reference sweep (results/keel-binary-dedup): its export holds every planned
cell once, and the README's "What we found" quotes the committed report's numbers."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from bench import runschema as rs
from tests.sweep_helpers import REPO, readme_section

pytestmark = pytest.mark.unit
PUBLISHED = REPO / "results" / "keel-binary-dedup"


def test_the_export_holds_every_planned_cell_once():
    meta = json.loads((PUBLISHED / "export" / "sweep.json").read_text())
    config = meta["config"]
    cells = pd.read_parquet(PUBLISHED / "export" / "cells.parquet")
    planned = (
        len(config["datasets"])
        * len(config["boosters"])
        * len(config["strategies"])
        * config["folds"]
        * config["repeats"]
        - len(meta["skipped"]) * config["folds"] * config["repeats"]
    )
    assert cells["cell_key"].is_unique
    assert len(cells) == planned
    assert (cells["status"] == rs.FINISHED).all()
    keys = ["dataset", "booster", "strategy", "repeat", "fold"]
    assert not cells.duplicated(keys).any()
    predictions = pd.read_parquet(
        PUBLISHED / "export" / "predictions.parquet", columns=["cell_key"]
    )
    assert set(predictions["cell_key"]) == set(cells["cell_key"])


def test_what_we_found_quotes_the_committed_report():
    section = readme_section("What we found")
    report = (PUBLISHED / "report" / "report.md").read_text()
    rows = [ln for ln in section.splitlines() if ln.startswith("| ") and "---" not in ln]
    body = [ln for ln in rows if not ln.startswith("| booster |")]
    assert len(body) == 15  # 3 boosters x 5 strategies against ce
    for line in rows:
        assert line in report, line
    assert "None: every expected cell has a FINISHED run with the metric." in report
    for link in re.findall(r"\]\((results/[^)]+)\)", section):
        assert (REPO / link).exists(), link
