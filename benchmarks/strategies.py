"""What each strategy costs: booster fit time per trial relative to ce, per booster.

One sweep runs every strategy over the same datasets, folds and budget, the cells interleaved
(so the strategies share the machine's state side by side); per cell, fit time per trial is
the cell's fit_time_s (every trial's fits, resampling included, plus the refit) over its
trials; the printed ratio is the median over datasets and folds of strategy / ce on the same
(dataset, booster, repeat, fold). Never asserts.

    python benchmarks/strategies.py                    # the quick suite, default budget
    python benchmarks/strategies.py --suite smoke --trials 3 --folds 2
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import runschema as rs
from bench.report.load import load_results

ALL = ["ce", "weighted", "focal", "focal-gamma", "undersample", "oversample", "smote"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="quick")
    parser.add_argument("--strategies", nargs="+", default=ALL)
    parser.add_argument("--trials", type=int)
    parser.add_argument("--folds", type=int)
    parser.add_argument("--keep", metavar="DIR", help="keep the runs directory here")
    args = parser.parse_args()
    runs = Path(args.keep or tempfile.mkdtemp(prefix="bench-strategies-"))
    cmd = [
        sys.executable, "-m", "bench", "-q", "run", "--name", "strategy-cost",
        "--runs-dir", str(runs), "--tracking-uri", f"sqlite:///{runs / 'mlflow.db'}",
        "--suite", args.suite, "--strategies", *args.strategies,
    ]  # fmt: skip
    for flag in ("trials", "folds"):
        if getattr(args, flag) is not None:
            cmd += [f"--{flag}", str(getattr(args, flag))]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - t0
    results, _ = load_results(f"sqlite:///{runs / 'mlflow.db'}", "strategy-cost")
    done = results[results["status"] == rs.FINISHED].copy()
    done["per_trial"] = done[rs.M_FIT_TIME] / done[rs.M_N_TRIALS]
    keys = ["dataset", "booster", "repeat", "fold"]
    base = done[done["strategy"] == "ce"].set_index(keys)["per_trial"]
    print(f"{len(done)} cells in {wall:.0f} s; fit seconds per trial relative to ce "
          "(median over cells; in brackets: median seconds per trial)")  # fmt: skip
    header = f"{'strategy':12s}" + "".join(f"{b:>20s}" for b in sorted(done["booster"].unique()))
    print(header)
    for strategy in args.strategies:
        rows = done[done["strategy"] == strategy].set_index(keys)["per_trial"]
        cells = []
        for booster in sorted(done["booster"].unique()):
            mine = rows[rows.index.get_level_values("booster") == booster]
            ratio = (mine / base.reindex(mine.index)).median()
            cells.append(f"{ratio:8.2f}x ({mine.median():6.3f} s)")
        print(f"{strategy:12s}" + "".join(f"{c:>20s}" for c in cells))
    print(f"runs kept in {runs}")


if __name__ == "__main__":
    main()
