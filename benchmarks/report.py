"""How long `bench report` takes to build the full report for a large sweep's results table:
100 datasets x 3 boosters x 3 strategies x 1 repeat x 5 folds (synthetic), no MLflow.

Prints seconds per stage; never asserts. Run: python benchmarks/report.py [N_DATASETS]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from bench.report import build_report
from tests.support.synthetic_results import synthetic_results


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    t0 = time.perf_counter()
    df = synthetic_results(n, folds=5, effects={"focal": 0.01}, strategy_noise=0.01)
    t1, c1 = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        paths = build_report(df, out_dir=Path(tmp))
        t2, c2 = time.perf_counter(), time.process_time()
        size = sum(p.stat().st_size for p in paths.all())
    print(f"results table: {len(df)} cells ({n} datasets x 3 x 3 x 5), made in {t1 - t0:.2f} s")
    print(
        f"full report (HTML + MD + {len(paths.figures)} PNG + CSV + Parquet): {t2 - t1:.2f} s, "
        f"{size / 1e6:.1f} MB written; {c2 - c1:.2f} s of CPU time (all threads)"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
