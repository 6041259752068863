"""What produced a number: library versions, git commit and host, as parent-run tags."""

from __future__ import annotations

import functools
import platform
import socket
import subprocess
from pathlib import Path

from bench import runschema as rs

# Libraries whose versions every cell records (imported when first asked for, in the workers).
RECORDED_LIBRARIES = (
    "bench", "numpy", "pandas", "sklearn", "imblearn", "lightgbm", "xgboost", "catboost",
    "optuna", "mlflow",
)  # fmt: skip


@functools.cache
def git_commit() -> str:
    root = Path(__file__).resolve().parent.parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        if out.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return out.stdout.strip() + (DIRTY_SUFFIX if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


DIRTY_SUFFIX = "-dirty"


def is_dirty(commit: str) -> bool:
    """Whether a recorded commit says the working tree had uncommitted changes."""
    return str(commit).endswith(DIRTY_SUFFIX)


@functools.cache
def environment_tags(commit: str | None = None) -> dict[str, str]:
    """Library versions, git commit and host: enough to say what produced a number.

    ``commit``: the one the sweep's driver read when it started (the tree a worker imports
    from can change while a sweep runs; the driver's reading is the sweep's provenance).
    """
    import importlib

    tags = {
        rs.TAG_GIT_COMMIT: commit or git_commit(),
        rs.TAG_HOST: socket.gethostname(),
        rs.TAG_VERSION_PREFIX + "python": platform.python_version(),
    }
    for name in RECORDED_LIBRARIES:
        module = importlib.import_module(name)
        tags[rs.TAG_VERSION_PREFIX + name] = str(getattr(module, "__version__", "unknown"))
    return tags
