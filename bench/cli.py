"""Argument parsing only: every subcommand hands its arguments to the module that does the work."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from bench import interrupts
from bench.boosters import BOOSTERS
from bench.errors import BenchError
from bench.redaction import redact
from bench.strategies import DEFAULT_STRATEGIES, STRATEGIES
from bench.tracking.errors import TrackingError


def _add_catalogue_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--catalogue",
        metavar="PATH",
        default=None,
        help="datasets.yaml to use (default: $BENCH_CATALOGUE, else ./datasets.yaml, "
        "else the one shipped with bench)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark focal loss, cross-entropy and class weights for LightGBM, "
        "XGBoost and CatBoost on imbalanced tabular data.",
    )
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)"
    )
    noise.add_argument(
        "-q", "--quiet", action="store_true", help="errors and results only, no progress"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    # --- run -----------------------------------------------------------------------------
    run = sub.add_parser(
        "run",
        help="run (or resume) a sweep",
        description="Tune every dataset x booster x strategy cell with Optuna inside nested "
        "cross-validation and log every trial to MLflow. Re-running the same sweep resumes it.",
    )
    run.add_argument(
        "--config", metavar="SWEEP_YAML", help="sweep.yaml with any of the settings below"
    )
    run.add_argument("--suite", help="dataset suite from the catalogue (default: quick)")
    run.add_argument("--datasets", nargs="+", metavar="NAME", help="datasets (instead of a suite)")
    run.add_argument(
        "--boosters",
        nargs="+",
        metavar="NAME",
        help=f"{' '.join(BOOSTERS.names())} (default: all)",
    )
    run.add_argument(
        "--strategies",
        nargs="+",
        metavar="NAME",
        help=f"{' '.join(STRATEGIES.names())} (default: {' '.join(DEFAULT_STRATEGIES)})",
    )
    run.add_argument("--trials", type=int, metavar="N", help="Optuna trials per cell")
    run.add_argument("--folds", type=int, metavar="K", help="outer stratified folds")
    run.add_argument("--repeats", type=int, metavar="R", help="outer repeats")
    run.add_argument("--seed", type=int, metavar="S", help="seed of splits, samplers and boosters")
    run.add_argument("--name", help="sweep name (default: <suite>-<config hash>)")
    run.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///runs/mlflow.db)",
    )
    run.add_argument(
        "--storage",
        metavar="URL",
        help="Optuna storage (default: a journal file under runs/; e.g. postgresql://...)",
    )
    run.add_argument("--workers", type=int, metavar="N", help="local worker processes")
    run.add_argument("--threads", type=int, metavar="T", help="threads per booster fit")
    run.add_argument(
        "--target", metavar="METRIC", help="tuning target metric (default: average_precision)"
    )
    run.add_argument(
        "--scheduler", metavar="ADDRESS", help="Dask scheduler address (tcp://host:8786)"
    )
    run.add_argument(
        "--dask-local", type=int, metavar="N", help="start a local Dask cluster of N workers"
    )
    run.add_argument("--runs-dir", metavar="DIR", help="local state directory (default: runs)")
    run.add_argument(
        "--shard",
        metavar="K/N",
        help="run the K-th of N shares of the sweep's cells (balanced by estimated cost; the "
        "same sweep name and config for every shard)",
    )
    run.add_argument(
        "--cells",
        nargs="+",
        metavar="KEY",
        help="run only these cells of the sweep (keys or run names dataset/booster/strategy/rRfF)",
    )
    run.add_argument(
        "--cells-from",
        metavar="FILE",
        help="run only the cells listed in FILE, one key or run name a line ('#' comments)",
    )
    _add_catalogue_arg(run)

    # --- datasets --------------------------------------------------------------------------
    ds = sub.add_parser("datasets", help="list the dataset catalogue, or show one dataset")
    ds.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    ds.add_argument("name", nargs="?", help="dataset name (for show)")
    ds.add_argument("--suite", help="only the datasets of this suite")
    _add_catalogue_arg(ds)

    # --- report ----------------------------------------------------------------------------
    rep = sub.add_parser("report", help="tables, statistics and figures of a sweep")
    rep.add_argument("--sweep", help="sweep name (default: the latest sweep in the store)")
    rep.add_argument("--tracking-uri", metavar="URI", help="MLflow tracking URI")
    rep.add_argument("--metric", help="metric to compare (default: the sweep's tuning target)")
    rep.add_argument(
        "--out", metavar="DIR", help="output directory (default: <runs-dir>/reports/<sweep>)"
    )
    rep.add_argument(
        "--results",
        nargs="+",
        metavar="DIR",
        help="build the report from export directories (`bench export`) instead of MLflow; "
        "several sweeps of one protocol are joined into one comparison",
    )
    rep.add_argument(
        "--recompute",
        action="store_true",
        help="with --results: compute the outer-test metrics again from the exported predictions",
    )
    rep.add_argument(
        "--runs-dir",
        metavar="DIR",
        default="runs",
        help="local state directory: its mlflow.db is the default store (default: runs)",
    )
    rep.add_argument(
        "--unit",
        metavar="UNIT",
        help="what tests and ranks count: family (a family of related datasets once; the "
        "default) or dataset",
    )
    rep.add_argument(
        "--baseline",
        metavar="STRATEGY",
        help="the strategy every other one is compared with (default: ce)",
    )
    rep.add_argument(
        "--failures",
        metavar="HOW",
        help="prior: a failed cell scores what the constant class prior would (default); "
        "exclude: leave out the datasets where a compared group failed",
    )
    rep.add_argument(
        "--rope",
        action="append",
        metavar="[METRIC=]WIDTH",
        help="region of practical equivalence, in metric units, of the compared metric or of "
        "METRIC (repeatable; defaults per metric are listed in the report)",
    )
    rep.add_argument(
        "--tie",
        action="append",
        metavar="[METRIC=]WIDTH",
        help="|difference| counted as a tie in win/tie/loss (default: ROPE / 10)",
    )

    # --- export ----------------------------------------------------------------------------
    exp = sub.add_parser(
        "export",
        help="a sweep's cells and predictions as Parquet (merges into an existing export)",
        description="Write a sweep's cells (every metric, best parameters, tags), outer-test "
        "predictions and configuration to DIR as Parquet; exports of several shards or stores "
        "of one sweep merge into one directory.",
    )
    exp.add_argument("--sweep", help="sweep name (default: the latest sweep in the store)")
    exp.add_argument("--tracking-uri", metavar="URI", help="MLflow tracking URI")
    exp.add_argument("--runs-dir", metavar="DIR", default="runs", help="local state directory")
    exp.add_argument("--out", metavar="DIR", required=True, help="export directory")
    exp.add_argument(
        "--results",
        metavar="DIR",
        help="take the cells from this export instead of a store (to merge or --replace)",
    )
    exp.add_argument(
        "--replace",
        action="store_true",
        help="the cells taken now supersede the same cells in --out (a corrected re-run); "
        "says how many had other results",
    )
    exp.add_argument(
        "--allow-dirty",
        action="store_true",
        help="export cells that ran from a working tree with uncommitted changes (refused by "
        "default: published cells come from a commit)",
    )

    # --- verify ----------------------------------------------------------------------------
    ver = sub.add_parser(
        "verify",
        help="re-run a sample of an export's cells and check they are bit-identical",
        description="Re-run a random sample (or the named cells) of a published export with "
        "today's code and environment, in a fresh store, and report per cell whether every "
        "metric, best parameter and outer-test prediction is bit-identical (or equal up to "
        "floating-point rounding, as on another CPU). Exit 0 unless a cell differs beyond "
        "rounding.",
    )
    ver.add_argument("--results", metavar="DIR", required=True, help="the export to verify")
    pick = ver.add_mutually_exclusive_group()
    pick.add_argument(
        "--sample", type=int, metavar="N", help="how many finished cells to draw (default: 20)"
    )
    pick.add_argument(
        "--cells", nargs="+", metavar="KEY", help="these cells (keys or run names) instead"
    )
    ver.add_argument("--seed", type=int, metavar="S", help="seed of the sample (default: random)")
    ver.add_argument("--workers", type=int, metavar="N", help="local worker processes")
    ver.add_argument(
        "--runs-dir", metavar="DIR", help="keep the re-run's store here (default: temporary)"
    )
    ver.add_argument("--out", metavar="FILE", help="also write the record (Markdown) here")
    _add_catalogue_arg(ver)

    # --- ui --------------------------------------------------------------------------------
    ui = sub.add_parser("ui", help="the MLflow UI over the local store")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=5000)
    ui.add_argument("--runs-dir", metavar="DIR", default="runs")
    ui.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow binding a non-loopback address (the server has no authentication "
        "unless --basic-auth is given)",
    )
    ui.add_argument("--basic-auth", action="store_true", help="enable MLflow's basic-auth app")
    return parser


_RUN_SETTINGS = (
    "suite", "datasets", "boosters", "strategies", "trials", "folds", "repeats", "seed", "name",
    "tracking_uri", "storage", "workers", "threads", "target", "scheduler", "dask_local",
    "runs_dir", "catalogue", "shard", "cells",
)  # fmt: skip


def _run(args: argparse.Namespace) -> int:
    """Start the local workers first: they import while this process imports and plans."""
    from bench.config import build_config
    from bench.sweep.executors.local import close_started_pools, start_for

    overrides = {key: getattr(args, key) for key in _RUN_SETTINGS}
    if args.cells_from:
        from bench.sweep.plan import read_cell_list

        overrides["cells"] = [*(args.cells or []), *read_cell_list(args.cells_from)]
    cfg = build_config(args.config, overrides)
    try:
        pool = start_for(cfg)
        from bench.sweep.driver import run_sweep
    except BaseException:  # an interrupt while starting: no worker may wait on forever
        close_started_pools()
        raise
    return run_sweep(cfg, pool=pool, quiet=args.quiet)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. SIGINT and SIGTERM are handled before anything starts (a sweep starts
    its local workers early): either stops the command as Ctrl-C does, with exit 130."""
    previous = interrupts.install()
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        interrupts.restore(previous)


def _main(argv: Sequence[str] | None) -> int:
    # Before any booster loads OpenMP (workers inherit it): spinning OpenMP threads made
    # 2-thread training ~3x slower on a busy 2-core machine; passive waits cost nothing here.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # see bench.tracking.stores
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from bench.logs import configure_console

    configure_console(-1 if args.quiet else args.verbose)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "datasets":
            from bench.datasets.commands import datasets_command

            return datasets_command(args)
        if args.command == "report":
            from bench.report import report_command

            return report_command(args)
        if args.command == "export":
            from bench.export import export_command

            return export_command(args)
        if args.command == "verify":
            from bench.verify.command import verify_command

            return verify_command(args)
        if args.command == "ui":
            from bench.ui import ui_command

            return ui_command(args)
    except TrackingError as err:  # the store failed, not the user: exit 3 as a sweep does
        print(f"error: {redact(str(err))}", file=sys.stderr)
        return 3
    except BenchError as err:
        print(f"error: {redact(str(err))}", file=sys.stderr)
        return 2
    parser.error(f"unknown command {args.command!r}")
    return 2
