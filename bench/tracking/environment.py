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
def cpu_description() -> str:
    """The CPU as far as it decides the last bits of a result: model, the vector extensions
    numerical code dispatches on, and the BLAS kernel OpenBLAS chose for it. Two machines that
    agree here compute bit-identical numbers from the same code; others may differ by rounding.
    """
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    except OSError:
        pass
    simd = [f for f in ("avx512f", "avx2", "fma", "avx") if f in flags]
    blas = ""
    try:
        import numpy  # noqa: F401  # loads OpenBLAS, so that threadpoolctl can see it
        import threadpoolctl

        kernels = {i.get("architecture") for i in threadpoolctl.threadpool_info()} - {None}
        blas = f"; BLAS kernel {', '.join(sorted(kernels))}" if kernels else ""
    except Exception:  # threadpoolctl missing or a library it cannot inspect: say less
        pass
    return f"{model}; {' '.join(simd) or 'no AVX'}{blas}"


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
        rs.TAG_CPU: cpu_description(),
        rs.TAG_VERSION_PREFIX + "python": platform.python_version(),
    }
    for name in RECORDED_LIBRARIES:
        module = importlib.import_module(name)
        tags[rs.TAG_VERSION_PREFIX + name] = str(getattr(module, "__version__", "unknown"))
    return tags
