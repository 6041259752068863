"""``python -m bench verify --results DIR``: re-run a sample of a published export's cells with
today's code and environment, and say, cell by cell, whether the results are bit-identical.

The re-run uses the export's own configuration (its config hash must come out the same) in a
fresh store, so nothing of the published run is reused: the answer is whether a reader who
checks out this commit gets the published numbers.
"""

from __future__ import annotations

import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bench import runschema as rs
from bench.config import OPERATIONAL, SweepConfig, config_hash, scientific_settings
from bench.errors import BenchError
from bench.export import Export, read_export
from bench.export import files as export_files
from bench.tracking.environment import RECORDED_LIBRARIES, cpu_description, git_commit, is_dirty
from bench.verify.compare import ROUNDING, CellComparison, Difference, compare_cells, run_name

DEFAULT_SAMPLE = 20


@dataclass
class VerifyRequest:
    results: str
    sample: int | None = None
    cells: list[str] | None = None
    seed: int | None = None
    workers: int | None = None
    runs_dir: str | None = None  # keep the re-run's store here (default: a temporary one)
    catalogue: str | None = None
    out: str | None = None  # also write the record (Markdown) here


def export_config(export: Export, **operational: Any) -> SweepConfig:
    """The SweepConfig that made an export, refused with one line if it does not hash to the
    export's config hash (the cells were made by another configuration)."""
    settings = export.config
    if not settings or not export.meta.get("config_hash"):
        raise BenchError(f"--results {export.where}: sweep.json holds no configuration to re-run")
    if settings.get("plugin_sources"):
        raise BenchError(
            f"--results {export.where}: the sweep used plugin strategies "
            f"({', '.join(sorted(settings['plugin_sources']))}); verify re-runs built-in ones only"
        )
    data = {k: v for k, v in settings.items() if k != "datasets" and k not in OPERATIONAL}
    data.update(suite=None, datasets=list(settings.get("datasets") or []), name=export.meta["name"])
    data.update({k: v for k, v in operational.items() if v is not None})
    try:
        cfg = SweepConfig.model_validate(data)
    except Exception as err:  # pydantic's ValidationError: a config this version cannot read
        first = str(err).splitlines()[1:2] or [str(err)]
        raise BenchError(
            f"--results {export.where}: its configuration is not one this version of bench runs "
            f"({first[0].strip()})"
        ) from None
    digest = config_hash(scientific_settings(cfg, list(cfg.datasets or [])))
    if digest != export.meta["config_hash"]:
        raise BenchError(
            f"--results {export.where}: sweep.json's configuration hashes to {digest[:8]}, not to "
            f"the export's config hash {str(export.meta['config_hash'])[:8]}: its cells were "
            "made by another configuration"
        )
    return cfg


def choose_cells(export: Export, req: VerifyRequest) -> list[str]:
    """Cell keys to re-run: the named ones, or a random sample of the FINISHED cells."""
    cells = export.cells
    finished = cells[cells["status"] == rs.FINISHED]
    if req.cells:
        by_name = {run_name(r): r[export_files.CELL_KEY] for _, r in finished.iterrows()}
        finished_keys = set(finished[export_files.CELL_KEY])
        chosen: list[str] = []
        unknown: list[str] = []
        for c in req.cells:
            key = c if c in finished_keys else by_name.get(c)
            (chosen if key else unknown).append(key or c)
        if unknown:
            raise BenchError(
                f"--cells: {', '.join(repr(u) for u in unknown[:3])} not a finished cell of "
                f"{export.where} (give keys or run names dataset/booster/strategy/rRfF)"
            )
        return list(dict.fromkeys(chosen))
    n = DEFAULT_SAMPLE if req.sample is None else req.sample
    if n < 1:
        raise BenchError(f"--sample {n}: give a number of cells >= 1")
    keys = sorted(finished[export_files.CELL_KEY])
    if not keys:
        raise BenchError(f"--results {export.where}: holds no finished cell to verify")
    return random.Random(req.seed).sample(keys, min(n, len(keys)))


def rerun(cfg: SweepConfig, keys: list[str], runs_dir: Path) -> Export:
    """Run the cells into a fresh store under ``runs_dir`` and read them back as an export."""
    from bench.export.write import collect
    from bench.sweep.driver import run_sweep

    cfg = cfg.model_copy(update={"cells": keys, "runs_dir": str(runs_dir)})
    status = run_sweep(cfg)
    if status not in (0, 1):  # 1: some cell failed, which the comparison shows
        raise BenchError(f"the re-run stopped (exit {status}); see the messages above")
    table, predictions, meta = collect(None, cfg.name, str(runs_dir))
    return Export(table, predictions, meta, str(runs_dir))


def _environment(table: pd.DataFrame) -> str:
    versions = [
        f"{lib} {table['version.' + lib].iloc[0]}"
        for lib in RECORDED_LIBRARIES
        if "version." + lib in table and len(table)
    ]
    return ", ".join(versions)


def summary_line(results: list[CellComparison]) -> str:
    """'verified: N of M cells identical' and, where some are not, what they are instead."""
    same = sum(r.identical for r in results)
    rounding = sum(r.rounding_only for r in results)
    other = len(results) - same - rounding
    line = f"verified: {same} of {len(results)} cells identical"
    if rounding:
        worst = max(
            d.relative
            for r in results
            if r.rounding_only
            for d in r.differences.values()
            if isinstance(d, Difference)
        )
        line += f", {rounding} equal up to floating-point rounding (relative <= {worst:.1g})"
    if other:
        line += f", {other} different"
    return f"{line} at commit {git_commit()}"


def _cpus(table: pd.DataFrame) -> str:
    if "cpu" not in table or table["cpu"].isna().all():
        return "not recorded (cells made before bench recorded the CPU)"
    counts = table["cpu"].fillna("not recorded").value_counts()
    return "; ".join(f"{cpu} ({n} cells)" for cpu, n in counts.items())


def _record(
    req: VerifyRequest,
    export: Export,
    keys: list[str],
    results: list[CellComparison],
    rerun_table: pd.DataFrame,
) -> str:
    chosen = export.cells[export.cells[export_files.CELL_KEY].isin(keys)]
    lines = [
        f"# bench verify: {export.meta.get('name')}",
        "",
        f"{summary_line(results)} ({time.strftime('%Y-%m-%d', time.gmtime())})",
        "",
        "Compared bit for bit: every outer-test metric, the best trial's parameters, refit "
        "rounds, threshold, inner score, trial counts and every outer-test probability. "
        f"'Rounding' means every difference is within a relative {ROUNDING:g}: the same code "
        "on another CPU (other BLAS kernels, other vectorised maths) moves last bits.",
        "",
        f"- export: `{req.results}` ({len(export.cells)} cells)",
        "- sample: "
        + (
            f"the {len(results)} cells named"
            if req.cells
            else f"{len(results)} finished cells drawn with seed {req.seed}"
        ),
        f"- command: `python -m bench verify --results {req.results} "
        + (
            f"--cells {' '.join(req.cells)}`"
            if req.cells
            else f"--sample {len(results)} --seed {req.seed}`"
        ),
        f"- the published cells ran from: {_commits(chosen)}",
        f"- the published cells ran on: {_cpus(chosen)}",
        f"- this re-run ran on: {cpu_description()}",
        f"- environment: {_environment(rerun_table)}",
        "",
        "| cell | result |",
        "|---|---|",
    ]
    for r in sorted(results, key=lambda r: r.run_name):
        lines.append(f"| {r.run_name} | {r.verdict} |")
    return "\n".join(lines) + "\n"


def _commits(table: pd.DataFrame) -> str:
    if "git_commit" not in table:
        return "not recorded"
    counts = table["git_commit"].astype(str).value_counts()
    return ", ".join(f"{c[:12]}{'-dirty' if is_dirty(c) else ''} ({n})" for c, n in counts.items())


def verify(req: VerifyRequest) -> tuple[list[CellComparison], str]:
    """Re-run the chosen cells and compare them; returns the comparisons and the record."""
    export = read_export(req.results)
    if req.seed is None:
        req.seed = random.SystemRandom().randrange(10**6)
    cfg = export_config(export, workers=req.workers, catalogue=req.catalogue)
    keys = choose_cells(export, req)
    print(
        f"verify: re-running {len(keys)} of {len(export.cells)} cells of {export.meta['name']} "
        f"with the code at {git_commit()}"
        + ("" if req.cells else f" (sample seed {req.seed}; --seed {req.seed} repeats it)")
    )
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        runs_dir = Path(req.runs_dir) if req.runs_dir else Path(tmp)
        again = rerun(cfg, keys, runs_dir)
    results = compare_cells(export.cells, export.predictions, again.cells, again.predictions, keys)
    return results, _record(req, export, keys, results, again.cells)


def verify_command(args: Any) -> int:
    """CLI entry; exit 0 when every cell is identical or equal up to rounding, 1 when any
    differs beyond that (or could not be re-run)."""
    from bench.tracking.stores import configure_process

    configure_process()
    req = VerifyRequest(
        results=args.results,
        sample=args.sample,
        cells=args.cells,
        seed=args.seed,
        workers=args.workers,
        runs_dir=args.runs_dir,
        catalogue=args.catalogue,
        out=args.out,
    )
    results, record = verify(req)
    for r in results:
        if not r.identical:
            print(r.describe())
    print(summary_line(results))
    if req.out:
        try:
            Path(req.out).write_text(record, encoding="utf-8")
        except OSError as err:
            raise BenchError(f"--out {req.out}: cannot write it ({err.strerror})") from None
        print(f"record: {req.out}")
    return 0 if all(r.identical or r.rounding_only for r in results) else 1
