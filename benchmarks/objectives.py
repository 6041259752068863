"""Cost of training with our focal objective versus each library's native cross-entropy.

Prints, per library, median training time of the adapters' ``focal`` strategy (our Python
objective, default Hessian guard) over that of ``ce`` (the native objective), on the same data
and tree settings, runs interleaved so load drift hits both alike. Targets: LightGBM and
XGBoost <= 1.10, CatBoost binary Python focal <= 1.5. Also prints CatBoost native Focal over
native Logloss, and the focal grad/hess kernel against a plain numpy logloss gradient, so a
missed target can be split into kernel time and library overhead.

Two floors show what no objective code can remove (no implementation can beat them):

- LightGBM / XGBoost, "focal, replayed (cost 0)": the focal gradients of the run before it,
  handed back round by round with no computation. Same trees as live focal, so its ratio is
  the cost of growing focal trees plus the library's custom-objective path alone.
- CatBoost, "null python objective": a Python objective that returns a ready-made array.
  Its ratio is the cost of CatBoost's Python-callback machinery alone (symmetric trees of one
  depth cost the same whatever the derivatives).

    python benchmarks/objectives.py            # 200k x 50, ~3% positives, 200 rounds, 3 repeats
    python benchmarks/objectives.py --quick    # smoke run (20k rows, 30 rounds, 1 repeat)
    python benchmarks/objectives.py --threads 1   # one thread a booster, as in a 2-worker sweep
"""

from __future__ import annotations

import os

# On a shared machine OpenMP threads that spin while waiting slow 2-thread training down several
# times over (seen: 3x under a load of 4 on 2 cores); passive waiting costs both objectives alike.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.special import expit  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402

from bench import objectives  # noqa: E402
from bench.boosters import LossSpec, _catboost, _common, get_adapter  # noqa: E402

NATIVE = "ce (native)"
FOCAL = "focal (python)"
CE_CALLABLE = "ce via callable (g=0)"
REPLAYED = "focal, replayed (cost 0)"
NULL_CALLBACK = "null python objective"
TREES = {  # same tree settings for every objective of a library
    "lightgbm": {"learning_rate": 0.1, "num_leaves": 31, "min_sum_hessian_in_leaf": 1e-3},
    "xgboost": {"learning_rate": 0.1, "max_depth": 6, "min_child_weight": 1e-3},
    "catboost": {"learning_rate": 0.1, "depth": 6},
}


def _data(n: int, d: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    X, y = make_classification(
        n, d, n_informative=d // 2, weights=[0.97], flip_y=0.01, random_state=seed
    )
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(d)]), y


def _time_fit(booster: str, X, y, loss: LossSpec, rounds: int, threads: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, all threads) for one adapter fit."""
    adapter = get_adapter(booster)
    w0, c0 = time.perf_counter(), time.process_time()
    adapter.fit(
        X, y, n_classes=2, params=TREES[booster], loss=loss, rounds=rounds, n_threads=threads
    )
    return time.perf_counter() - w0, time.process_time() - c0


@contextlib.contextmanager
def _patched(obj, name: str, value) -> Iterator[None]:
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


def _recording(tape: list) -> contextlib.AbstractContextManager:
    """The adapters' focal kernel, with every round's (grad, hess) appended to ``tape``."""
    real = _common.focal_kernel

    def factory(*args, **kwargs):
        kernel = real(*args, **kwargs)

        def record(z):
            out = kernel(z)
            tape.append(out)
            return out

        return record

    return _patched(_common, "focal_kernel", factory)


def _replaying(tape: list) -> contextlib.AbstractContextManager:
    """A focal "kernel" that hands back the recorded rounds and computes nothing."""

    def factory(*_args, **_kwargs):
        rounds = iter(tape)
        return lambda _z: next(rounds)

    return _patched(_common, "focal_kernel", factory)


def _null_callback() -> contextlib.AbstractContextManager:
    """CatBoost's Python objective returning a ready-made (n, 2) array: the callback floor."""
    ready = np.tile([0.01, -0.25], (1 << 20, 1))

    def calc_ders_range(self, approxes, targets, weights):
        return ready[: len(approxes)]

    return _patched(_catboost._BinaryFocal, "calc_ders_range", calc_ders_range)


def _time_case(booster: str, name: str, X, y, loss: LossSpec, rounds: int, threads: int, tapes):
    """_time_fit, under the instrumentation a floor case needs (see the module docstring)."""
    if name == FOCAL and booster in tapes:  # record the gradients the replay will hand back
        tapes[booster].clear()
        with _recording(tapes[booster]):
            return _time_fit(booster, X, y, loss, rounds, threads)
    if name == REPLAYED:
        with _replaying(tapes[booster]):
            return _time_fit(booster, X, y, loss, rounds, threads)
    if name == NULL_CALLBACK:
        with _null_callback():
            return _time_fit(booster, X, y, loss, rounds, threads)
    return _time_fit(booster, X, y, loss, rounds, threads)


def _kernel_times(y: np.ndarray, repeats: int = 20) -> dict[str, float]:
    """Milliseconds per call on n rows: focal (each guard) and a plain logloss gradient."""
    rng = np.random.default_rng(0)
    z = rng.normal(-3.0, 2.0, size=len(y))
    labels = objectives.prepare_labels(y, 2)
    yf = y.astype(np.float64)

    def best(fn) -> float:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return 1e3 * min(times)

    def logloss() -> tuple[np.ndarray, np.ndarray]:
        p = expit(z)
        return p - yf, p * (1.0 - p)

    out = {"numpy logloss grad/hess": best(logloss)}
    for guard in objectives.HESSIAN_GUARDS:
        out[f"focal {guard}"] = best(
            lambda g=guard: objectives.focal_grad_hess(z, labels, alpha=0.25, gamma=2.0, hessian=g)
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small smoke run")
    ap.add_argument("--rows", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--boosters", default="lightgbm,xgboost,catboost")
    args = ap.parse_args()
    n = args.rows or (20_000 if args.quick else 200_000)
    rounds = args.rounds or (30 if args.quick else 200)
    repeats = args.repeats or (1 if args.quick else 3)
    X, y = _data(n, 50)
    guard = objectives.DEFAULT_HESSIAN_GUARD
    focal = LossSpec("focal", alpha=0.25, gamma=2.0, hessian=guard)
    print(
        f"{n} rows x 50 features, {y.mean():.2%} positives, {rounds} rounds, "
        f"{args.threads} threads, median of {repeats}; focal alpha=0.25 gamma=2 guard={guard}; "
        f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}"
    )

    kernels = _kernel_times(y)
    print("\nkernel, ms per call on all rows:")
    for name, ms in kernels.items():
        print(f"  {name:<26} {ms:8.2f}")
    focal_ms = kernels[f"focal {guard}"]
    print(f"  -> {rounds} rounds of the {guard} kernel: {focal_ms * rounds / 1e3:.2f} s")

    ce_callable = LossSpec("focal", alpha=None, gamma=0.0, hessian=guard)
    cases: list[tuple[str, str, LossSpec]] = []
    tapes: dict[str, list] = {}  # booster -> the last focal run's (grad, hess) per round
    for b in args.boosters.split(","):
        cases += [(b, NATIVE, LossSpec("ce")), (b, FOCAL, focal), (b, CE_CALLABLE, ce_callable)]
        if b == "catboost":
            native = LossSpec("focal", alpha=0.25, gamma=2.0, implementation="native")
            cases += [(b, "focal (native)", native), (b, NULL_CALLBACK, focal)]
        else:
            tapes[b] = []
            cases.append((b, REPLAYED, focal))
    times: dict[tuple[str, str], list[tuple[float, float]]] = {(b, k): [] for b, k, _ in cases}
    for r in range(repeats):  # interleaved, order rotated each repeat: no position bias
        order = cases[r % len(cases) :] + cases[: r % len(cases)]
        # a replay needs this repeat's recording first: move it right after its live focal run
        replays = [c for c in order if c[1] == REPLAYED]
        order = [c for c in order if c[1] != REPLAYED]
        for c in replays:
            order.insert(order.index((c[0], FOCAL, focal)) + 1, c)
        for b, name, loss in order:
            wall, cpu = _time_case(b, name, X, y, loss, rounds, args.threads, tapes)
            times[(b, name)].append((wall, cpu))
            print(f"  repeat {r + 1}: {b:<9} {name:<25} wall {wall:7.2f} s  cpu {cpu:7.2f} s")

    print(
        f"\n{'library':<9} {'objective':<25} {'wall s':>7} {'/native':>8} "
        f"{'cpu s':>7} {'/native':>8}   target"
    )
    targets = {"lightgbm": 1.10, "xgboost": 1.10, "catboost": 1.5}
    for b, name, _ in cases:
        wall = statistics.median(w for w, _ in times[(b, name)])
        cpu = statistics.median(c for _, c in times[(b, name)])
        base_w = statistics.median(w for w, _ in times[(b, NATIVE)])
        base_c = statistics.median(c for _, c in times[(b, NATIVE)])
        target = ""
        if name == FOCAL:
            verdicts = [
                "ok" if r <= targets[b] else "MISSED" for r in (wall / base_w, cpu / base_c)
            ]
            target = f"<= {targets[b]:.2f}: wall {verdicts[0]}, cpu {verdicts[1]}"
        print(
            f"{b:<9} {name:<25} {wall:7.2f} {wall / base_w:8.3f} "
            f"{cpu:7.2f} {cpu / base_c:8.3f}   {target}"
        )
    print(
        f"\n'{CE_CALLABLE}' grows the same trees as native ce, so its ratio is the pure cost of"
        f" the Python objective path. '{REPLAYED}' grows the focal trees with no objective"
        f" computation and '{NULL_CALLBACK}' pays CatBoost's callbacks with none: no focal"
        " objective can be faster than these floors. On a shared machine trust the CPU-time"
        " ratios: wall time also counts waiting for other processes."
    )


if __name__ == "__main__":
    main()
