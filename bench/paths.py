"""The layout of the runs directory (``runs/`` by default), in one place."""

from __future__ import annotations

import re
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """A sweep name as a file or directory name."""
    return _UNSAFE.sub("_", name)


def sweep_log_dir(runs_dir: str | Path, sweep: str) -> Path:
    """Where each process that runs a sweep's cells writes its log file."""
    return (Path(runs_dir) / "logs" / safe_name(sweep)).resolve()


def report_dir(runs_dir: str | Path, sweep: str) -> Path:
    """Where ``bench report`` writes a sweep's report by default."""
    return Path(runs_dir) / "reports" / safe_name(sweep)
