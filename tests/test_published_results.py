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


def test_the_lock_pins_the_versions_every_cell_recorded():
    """The published sweep carries its exact environment; the libraries each cell recorded
    must be pinned there at the recorded version (one version per library across cells)."""
    lock = (PUBLISHED / "requirements.lock").read_text().splitlines()
    pinned = dict(line.split("==", 1) for line in lock if "==" in line and not line.startswith("#"))
    pinned = {name.lower().replace("_", "-"): version for name, version in pinned.items()}
    distribution = {"sklearn": "scikit-learn", "imblearn": "imbalanced-learn"}
    cells = pd.read_parquet(PUBLISHED / "export" / "cells.parquet")
    versions = [c for c in cells.columns if c.startswith("version.")]
    assert len(versions) >= 10
    for column in versions:
        library = column.removeprefix("version.")
        if library in ("python", "bench"):
            continue
        recorded = set(cells[column].astype(str))
        assert len(recorded) == 1, (library, recorded)
        assert pinned[distribution.get(library, library)] == recorded.pop(), library
