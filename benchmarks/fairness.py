"""What the loss scale changes: the same sweep with ``loss_scale: hessian`` (every strategy
starts with cross-entropy's total curvature, so lambda and the minimum child Hessian mean the
same for all) and with ``loss_scale: none`` (the losses as they are), side by side.

For each setting it prints, per booster, focal - ce and weighted - ce: the mean over datasets of
the per-dataset mean outer-test average precision, and win/tie/loss over datasets (a tie is
|difference| <= 0.001); then the tuned L2 penalty per booster and strategy (geometric mean of
the best trials' lambda_l2 / reg_lambda / l2_leaf_reg; its range is log-uniform) and the mean
loss scale the fits used. A finding, not a target.

    python benchmarks/fairness.py                     # the quick suite, default budget
    python benchmarks/fairness.py --suite smoke --trials 4 --folds 3
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench import runschema as rs
from bench.report.load import load_results

L2_PARAM = {"lightgbm": "lambda_l2", "xgboost": "reg_lambda", "catboost": "l2_leaf_reg"}
TIE = 0.001


def run_sweep(runs: Path, name: str, scale: str, args: argparse.Namespace) -> float:
    config = runs / f"{name}.yaml"
    config.write_text(f"loss_scale: {scale}\n")
    cmd = [
        sys.executable, "-m", "bench", "-q", "run", "--config", str(config), "--name", name,
        "--runs-dir", str(runs), "--tracking-uri", f"sqlite:///{runs / 'mlflow.db'}",
        "--suite", args.suite, "--strategies", *args.strategies, "--boosters", *args.boosters,
    ]  # fmt: skip
    for flag in ("trials", "folds", "workers"):
        if getattr(args, flag) is not None:
            cmd += [f"--{flag}", str(getattr(args, flag))]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def summarise(results: pd.DataFrame, strategies: list[str]) -> list[str]:
    done = results[results["status"] == rs.FINISHED]
    ap = rs.TEST_PREFIX + "average_precision"
    means = done.groupby(["booster", "dataset", "strategy"])[ap].mean().unstack("strategy")
    lines = []
    for booster, table in means.groupby(level="booster"):
        for other in [s for s in strategies if s != "ce"]:
            d = (table[other] - table["ce"]).dropna()
            w, ls = int((d > TIE).sum()), int((d < -TIE).sum())
            lines.append(
                f"  {booster:9s} {other:9s} - ce: mean dAP {d.mean():+.4f} over {len(d)} "
                f"datasets, win/tie/loss {w}/{len(d) - w - ls}/{ls}"
            )
    for booster, param in L2_PARAM.items():
        rows = done[done["booster"] == booster]
        if rows.empty or f"param.{param}" not in rows:
            continue
        parts = []
        for s in strategies:
            values = pd.to_numeric(rows.loc[rows["strategy"] == s, f"param.{param}"])
            parts.append(f"{s} {np.exp(np.log(values).mean()):.3g}")
        lines.append(f"  tuned {param} (geometric mean of best trials): " + ", ".join(parts))
    if rs.M_LOSS_SCALE in done:
        scales = done.groupby("strategy")[rs.M_LOSS_SCALE].apply(lambda v: np.exp(np.log(v).mean()))
        lines.append(
            "  loss scale of the refits (geometric mean): "
            + ", ".join(f"{s} {scales[s]:.3g}" for s in strategies if s in scales)
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="quick")
    parser.add_argument("--strategies", nargs="+", default=["ce", "weighted", "focal"])
    parser.add_argument("--boosters", nargs="+", default=["lightgbm", "xgboost", "catboost"])
    parser.add_argument("--trials", type=int)
    parser.add_argument("--folds", type=int)
    parser.add_argument("--workers", type=int)
    parser.add_argument("--keep", metavar="DIR", help="keep the runs directory here")
    args = parser.parse_args()
    runs = Path(args.keep or tempfile.mkdtemp(prefix="bench-fairness-"))
    runs.mkdir(parents=True, exist_ok=True)
    for scale in ("hessian", "none"):
        name = f"fairness-{scale}"
        wall = run_sweep(runs, name, scale, args)
        results, _ = load_results(f"sqlite:///{runs / 'mlflow.db'}", name)
        print(f"loss_scale: {scale} ({len(results)} cells, {wall:.0f} s)")
        print("\n".join(summarise(results, args.strategies)))
    print(f"runs kept in {runs}")


if __name__ == "__main__":
    main()
