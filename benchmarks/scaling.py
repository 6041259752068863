"""Throughput of one sweep with 1 and 2 local worker processes and a 2-worker Dask LocalCluster.

Each configuration runs `python -m bench run ... --threads 1` on a fresh runs directory
(local SQLite MLflow store, journal-file Optuna storage), `--repeats` times, interleaved with
the other configurations (median reported). Two throughputs: end-to-end = COMPLETE trials / wall time of the whole command
(imports, planning, worker start-up, tuning, refits, logging), and steady = trials of the
cells finished after the first one / the time between the first and the last finished cell
(from the progress lines; 1 s resolution), which leaves out the fixed start-up cost that
dominates a small sweep. Targets: 2 workers >= 1.7x one worker;
Dask within 10% of local processes. The 1-minute load average is sampled during each run
because the machine may be shared: a busy host flattens every speed-up.

    python benchmarks/scaling.py                      # the quick suite, full protocol
    python benchmarks/scaling.py --subset             # the documented subset (see SUBSET)
    python benchmarks/scaling.py --subset -- --trials 10 --folds 5   # later flags win
    python benchmarks/scaling.py --configs "local x2,dask x2" --repeats 1
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# A subset of the quick suite for a loaded 2-core machine: three of its binary sets (low,
# medium and high imbalance tiers), LightGBM, ce vs focal, 3 outer folds, 5 trials.
SUBSET = [
    "--datasets", "pima", "yeast3", "abalone9_18", "--boosters", "lightgbm",
    "--strategies", "ce", "focal", "--folds", "3", "--trials", "5",
]  # fmt: skip
CONFIGS = {
    "local x1": ["--workers", "1"],
    "local x2": ["--workers", "2"],
    "dask x2": ["--dask-local", "2"],
}
HEADER = re.compile(r"(\d+) cells \((\d+) to run\), (\d+) trials each")
DONE = re.compile(r"^\[\d+/\d+\] \S+ done .*?trials=(\d+) .*?elapsed=(\d+):(\d+):(\d+)", re.M)


class LoadSampler(threading.Thread):
    """Samples os.getloadavg()[0] every few seconds while a run goes on."""

    def __init__(self, every: float = 2.0):
        super().__init__(daemon=True)
        self.every, self.samples, self._halt = every, [], threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.samples.append(os.getloadavg()[0])
            self._halt.wait(self.every)

    def stop(self) -> float:
        self._halt.set()
        self.join()
        return statistics.mean(self.samples) if self.samples else float("nan")


def steady_rate(output: str) -> float:
    """Trials per second between the first and the last finished cell."""
    done = [(int(t), int(h) * 3600 + int(m) * 60 + int(s)) for t, h, m, s in DONE.findall(output)]
    if len(done) < 2 or done[-1][1] <= done[0][1]:
        return float("nan")
    return sum(t for t, _ in done[1:]) / (done[-1][1] - done[0][1])


def one_run(sweep: list[str], config: list[str]) -> tuple[float, int, float, float]:
    """(wall seconds, trials run, steady trials/s, mean load average) of one sweep."""
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as runs:
        cmd = [sys.executable, "-m", "bench", "run", "--runs-dir", runs]
        cmd += ["--tracking-uri", f"sqlite:///{runs}/mlflow.db", "--threads", "1"]
        cmd += [*sweep, *config]
        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
        sampler = LoadSampler()
        sampler.start()
        t0 = time.perf_counter()
        out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        load = sampler.stop()
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    match = HEADER.search(out.stderr + out.stdout)
    if match is None:
        raise SystemExit(f"no sweep header in the output of {' '.join(cmd)}")
    trials = int(match.group(2)) * int(match.group(3))
    return wall, trials, steady_rate(out.stderr + out.stdout), load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", action="store_true", help="run SUBSET, not the quick suite")
    parser.add_argument("--repeats", type=int, default=3, help="runs per configuration")
    parser.add_argument(
        "--configs",
        default=",".join(CONFIGS),
        help=f"comma-separated configurations to run (default: {','.join(CONFIGS)})",
    )
    parser.add_argument("extra", nargs="*", help="more `bench run` flags, after --")
    args = parser.parse_args()
    labels = [c.strip() for c in args.configs.split(",")]
    unknown = [c for c in labels if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown configuration(s) {unknown}; known: {list(CONFIGS)}")
    sweep = [*(SUBSET if args.subset else ["--suite", "quick"]), *args.extra]
    print(f"sweep: {' '.join(sweep)}; {os.cpu_count()} cores; median of {args.repeats}")
    rates: dict[str, list[float]] = {c: [] for c in labels}
    steadies: dict[str, list[float]] = {c: [] for c in labels}
    for i in range(args.repeats):  # interleaved, order rotated: load drift hits all alike
        for label in labels[i % len(labels) :] + labels[: i % len(labels)]:
            wall, trials, steady, load = one_run(sweep, CONFIGS[label])
            rates[label].append(trials / wall)
            steadies[label].append(steady)
            print(
                f"  {label} run {i + 1}: {trials} trials in {wall:.1f} s = "
                f"{trials / wall:.3f} trials/s end-to-end, {steady:.3f} steady "
                f"(load avg {load:.1f})",
                flush=True,
            )
    medians = {c: (statistics.median(rates[c]), statistics.median(steadies[c])) for c in labels}
    for label, (rate, steady) in medians.items():
        print(f"{label}: median {rate:.3f} trials/s end-to-end, {steady:.3f} steady")
    for i, kind in enumerate(("end-to-end", "steady")):
        parts = []
        if {"local x1", "local x2"} <= medians.keys():
            speedup = medians["local x2"][i] / medians["local x1"][i]
            parts.append(f"speed-up 2 workers / 1 worker {speedup:.2f}x (target >= 1.7x)")
        if {"local x2", "dask x2"} <= medians.keys():
            ratio = medians["dask x2"][i] / medians["local x2"][i]
            parts.append(f"Dask x2 / local x2 {ratio:.2f} (target >= 0.90)")
        if parts:
            print(f"{kind}: " + "; ".join(parts))
    print(f"load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
