"""Planning a sweep (parent process, no booster or scikit-learn import): resolve names, check
that every dataset can be split as asked, list the cells, skip what a booster cannot run.

Results never depend on the plan's order (every cell has its own seeds); the order only makes
the workers run out of work together.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.boosters import BOOSTERS
from bench.config import SweepConfig, config_hash, scientific_settings
from bench.datasets import DatasetMeta, describe, load_catalogue
from bench.errors import BenchError
from bench.strategies import STRATEGIES
from bench.sweep.cells import Cell, cell_key, get_dataset
from bench.sweep.protocol import inner_scheme

# Targets that score raw probabilities: every strategy but plain cross-entropy moves them.
PROBABILITY_TARGETS = ("log_loss", "brier")


@dataclass(frozen=True)
class Skipped:
    """A booster x strategy pair (on some or all datasets) the booster cannot run."""

    booster: str
    strategy: str
    datasets: tuple[str, ...]
    reason: str

    def describe(self, n_datasets: int) -> str:
        where = "" if len(self.datasets) == n_datasets else f" on {', '.join(self.datasets)}"
        return f"skipped: {self.booster} x {self.strategy}{where}: {self.reason}"


@dataclass(frozen=True)
class SweepPlan:
    name: str
    config: SweepConfig
    settings: dict[str, Any]
    config_hash: str
    catalogue_path: str
    datasets: list[str]
    cells: list[Cell]
    skipped: list[Skipped] = field(default_factory=list)
    inner: dict[str, str] = field(default_factory=dict)  # dataset -> "holdout" | "kfold"
    total_cells: int = 0  # of the whole sweep, when ``cells`` is one shard of it

    def skipped_lines(self) -> list[str]:
        return [s.describe(len(self.datasets)) for s in self.skipped]

    def inner_summary(self) -> str:
        """How trials are scored, e.g. "inner holdout on 3 datasets, 3-fold on 4"."""
        kinds = list(self.inner.values())
        parts = []
        if "holdout" in kinds:
            parts.append(f"holdout on {kinds.count('holdout')} dataset(s)")
        if "kfold" in kinds:
            parts.append(f"{self.config.inner.folds}-fold on {kinds.count('kfold')}")
        return "inner " + ", ".join(parts)

    def warnings(self) -> list[str]:
        """What the user should know before the sweep runs."""
        cfg = self.config
        out = []
        if cfg.target in PROBABILITY_TARGETS and any(s != "ce" for s in cfg.strategies):
            out.append(
                f"tuning on {cfg.target} scores raw probabilities, which class weights, focal "
                "loss and resampling miscalibrate by design; the comparison then partly "
                "measures calibration. average_precision compares rankings; the report "
                "compares calibration after recalibration (the *_cal metrics)"
            )
        return out


def _check_splittable(name: str, meta: DatasetMeta, cfg: SweepConfig) -> None:
    if meta.minority_count < cfg.folds:
        raise BenchError(
            f"dataset '{name}': its smallest class has {meta.minority_count} rows, fewer than "
            f"folds={cfg.folds}; use --folds {max(2, meta.minority_count)} or drop the dataset"
        )
    per_inner = meta.minority_count * (cfg.folds - 1) // cfg.folds
    kind = inner_scheme(cfg, meta.minority_count)
    if per_inner < 2 * (cfg.inner.folds if kind == "kfold" else 1):
        raise BenchError(
            f"dataset '{name}': only {per_inner} minority rows remain for tuning inside an "
            f"outer fold; too few for an inner validation split"
        )


def _unsupported(booster: str, strategy: str, meta: DatasetMeta) -> str | None:
    info = BOOSTERS.get(booster)
    return info.lacks(
        custom_objective=STRATEGIES.get(strategy).needs_custom_objective,
        multiclass=meta.n_classes > 2,
    )


def plan_sweep(cfg: SweepConfig) -> SweepPlan:
    """Resolve names and check every dataset can be split as asked, before any work starts."""
    catalogue = load_catalogue(cfg.catalogue)
    if cfg.datasets:
        for name in cfg.datasets:
            catalogue.spec(name)  # raises BenchError naming the unknown dataset
        datasets = list(cfg.datasets)
    else:
        datasets = catalogue.suite(cfg.suite or "quick")
    catalogue_path = str(Path(catalogue.path).resolve())
    metas: dict[str, DatasetMeta] = {}
    for name in datasets:
        # Synthetic sets are described from their spec: the planner never builds 10M rows.
        meta = describe(catalogue, name)[0] or get_dataset(catalogue_path, name).meta
        _check_splittable(name, meta, cfg)
        metas[name] = meta
    settings = scientific_settings(cfg, datasets)
    digest = config_hash(settings)
    name = cfg.name or f"{cfg.suite if not cfg.datasets else 'custom'}-{digest[:8]}"
    cells: list[Cell] = []
    skipped: dict[tuple[str, str, str], list[str]] = {}
    for d in datasets:
        for b in cfg.boosters:
            for s in cfg.strategies:
                reason = _unsupported(b, s, metas[d])
                if reason is not None:
                    skipped.setdefault((b, s, reason), []).append(d)
                    continue
                cells += [
                    Cell(d, b, s, r, f, cell_key(digest, d, b, s, r, f))
                    for r in range(cfg.repeats)
                    for f in range(cfg.folds)
                ]
    costs = {c.key: estimated_cost(c.booster, c.strategy, metas[c.dataset], cfg) for c in cells}
    cells.sort(key=lambda c: (-costs[c.key], c.key))
    total_cells = len(cells)
    if cfg.cells is not None:
        cells = only_cells(cells, cfg.cells)
    if cfg.shard_k_n is not None:
        k, n = cfg.shard_k_n
        cells = shard_of(cells, costs, k, n)
    return SweepPlan(
        name,
        cfg,
        settings,
        digest,
        catalogue_path,
        datasets,
        cells,
        [Skipped(b, s, tuple(ds), why) for (b, s, why), ds in skipped.items()],
        {d: inner_scheme(cfg, metas[d].minority_count) for d in datasets},
        total_cells,
    )


def estimated_cost(
    booster: str, strategy: str, meta: DatasetMeta, cfg: SweepConfig | None = None
) -> float:
    """A rough relative cost of a cell, used to order the work and to balance shards.

    Rows x features x classes, times the fits a trial makes (inner k-fold: k), times the known
    outliers: CatBoost calls a Python objective per row (multiclass, ~3x native) or in small
    blocks (binary, ~2x).
    """
    cost = float(meta.n_rows) * (10.0 + meta.n_features) * max(1, meta.n_classes - 1)
    if cfg is not None and inner_scheme(cfg, meta.minority_count) == "kfold":
        cost *= cfg.inner.folds
    if booster == "catboost" and STRATEGIES.get(strategy).needs_custom_objective:
        cost *= 3.0 if meta.n_classes > 2 else 2.0
    return cost


def read_cell_list(path: str) -> list[str]:
    """Cell keys or run names from a file, one a line; blank lines and '#' comments skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
        raise BenchError(f"--cells-from {path}: cannot read it ({reason})") from None
    names = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    names = [n for n in names if n]
    if not names:
        raise BenchError(f"--cells-from {path}: lists no cell")
    return names


def only_cells(cells: list[Cell], wanted: list[str]) -> list[Cell]:
    """The planned cells named in ``wanted`` (keys or run names), in plan order; a name that
    is not a planned cell is an error naming it (a typo must not run nothing silently)."""
    by_name = {c.key: c for c in cells} | {c.run_name: c for c in cells}
    unknown = [w for w in wanted if w not in by_name]
    if unknown:
        more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
        raise BenchError(
            f"cells: {', '.join(repr(u) for u in unknown[:3])}{more} not among this sweep's "
            f"{len(cells)} planned cells (give keys or run names dataset/booster/strategy/rRfF)"
        )
    keys = {by_name[w].key for w in wanted}
    return [c for c in cells if c.key in keys]


def shard_of(cells: list[Cell], costs: dict[str, float], k: int, n: int) -> list[Cell]:
    """The K-th of N shares (1-based) of ``cells`` (sorted by falling cost): each cell goes to
    the share with the least estimated cost so far (ties: the lowest share), so the shares
    come out balanced and every process computes the same split."""
    totals = [0.0] * n
    mine = []
    for cell in cells:
        share = min(range(n), key=lambda i: (totals[i], i))
        totals[share] += costs[cell.key]
        if share == k - 1:
            mine.append(cell)
    return mine


def command_line(plan: SweepPlan) -> str:
    """The command that reproduces the sweep (recorded on its MLflow experiment)."""
    cfg = plan.config
    parts = ["python", "-m", "bench", "run", "--name", plan.name]
    if cfg.datasets:
        parts += ["--datasets", *cfg.datasets]
    else:
        parts += ["--suite", cfg.suite or "quick"]
    parts += ["--boosters", *cfg.boosters, "--strategies", *cfg.strategies]
    parts += ["--trials", str(cfg.trials), "--folds", str(cfg.folds)]
    parts += ["--repeats", str(cfg.repeats), "--seed", str(cfg.seed), "--target", cfg.target]
    return shlex.join(parts)
