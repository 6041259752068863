"""The code's own checks, run by the test command CI runs: ruff (lint and format) and mypy."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.sweep_helpers import REPO

pytestmark = pytest.mark.quality


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=600)


def test_ruff_check_is_clean():
    out = _run(sys.executable, "-m", "ruff", "check", ".")
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_format_is_clean():
    out = _run(sys.executable, "-m", "ruff", "format", "--check", ".")
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_is_clean_over_bench():
    out = _run(sys.executable, "-m", "mypy")
    assert out.returncode == 0, out.stdout[-5000:] + out.stderr[-2000:]
