"""What each strategy costs: booster fit time per trial relative to ce, per booster.

One sweep runs every strategy over the same datasets, folds and budget, the cells interleaved
(so the strategies share the machine's state side by side); per cell, fit time per trial is
the cell's fit_time_s (every trial's fits, resampling included, plus the refit) over its
trials; the printed ratio is the median over datasets and folds of strategy / ce on the same
(dataset, booster, repeat, fold). Never asserts.

    python benchmarks/strategies.py                    # the quick suite, default budget
    python benchmarks/strategies.py --suite smoke --trials 3 --folds 2
    python benchmarks/strategies.py --results results/keel-binary-dedup/export  # a published
                                                       # sweep's cells, nothing run
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from bench import runschema as rs
from bench.report.load import load_results

ALL = ["ce", "weighted", "focal", "focal-gamma", "undersample", "oversample", "smote"]


def cost_table(cells: pd.DataFrame, strategies: list[str]) -> list[str]:
    """Per strategy and booster: the median over cells of fit seconds per trial relative to ce
    on the same (dataset, booster, repeat, fold), and the median seconds per trial."""
    done = cells[cells["status"] == rs.FINISHED].copy()
    done["per_trial"] = done[rs.M_FIT_TIME] / done[rs.M_N_TRIALS]
    keys = ["dataset", "booster", "repeat", "fold"]
    base = done[done["strategy"] == "ce"].set_index(keys)["per_trial"]
    boosters = sorted(done["booster"].unique())
    lines = [f"{'strategy':12s}" + "".join(f"{b:>20s}" for b in boosters)]
    for strategy in [s for s in strategies if s in set(done["strategy"])]:
        rows = done[done["strategy"] == strategy].set_index(keys)["per_trial"]
        parts = []
        for booster in boosters:
            mine = rows[rows.index.get_level_values("booster") == booster]
            ratio = (mine / base.reindex(mine.index)).median()
            parts.append(f"{ratio:8.2f}x ({mine.median():6.3f} s)")
        lines.append(f"{strategy:12s}" + "".join(f"{c:>20s}" for c in parts))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="quick")
    parser.add_argument("--strategies", nargs="+", default=ALL)
    parser.add_argument("--trials", type=int)
    parser.add_argument("--folds", type=int)
    parser.add_argument("--keep", metavar="DIR", help="keep the runs directory here")
    parser.add_argument("--results", metavar="DIR", help="read an export instead of running")
    args = parser.parse_args()
    if args.results:
        from bench.export.read import read_export

        cells = read_export(args.results).cells
        print(f"{len(cells)} cells of {args.results}; fit seconds per trial relative to ce "
              "(median over cells; in brackets: median seconds per trial)")  # fmt: skip
        print("\n".join(cost_table(cells, args.strategies)))
        return
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
    print(f"{len(results)} cells in {wall:.0f} s; fit seconds per trial relative to ce "
          "(median over cells; in brackets: median seconds per trial)")  # fmt: skip
    print("\n".join(cost_table(results, args.strategies)))
    print(f"runs kept in {runs}")


if __name__ == "__main__":
    main()
