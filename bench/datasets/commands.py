"""`python -m bench datasets [list|show NAME] [--suite S]`: the catalogue as tables."""

from __future__ import annotations

import sys
from argparse import Namespace
from collections import Counter

from rich.console import Console
from rich.table import Table

from bench.datasets.catalogue import Catalogue, describe, load_catalogue, load_dataset
from bench.datasets.dataset import DatasetMeta
from bench.errors import BenchError
from bench.imbalance import TIER_ORDER


def _console() -> Console:
    console = Console()
    return console if console.is_terminal else Console(width=160)


def _row(name: str, source: str, family: str, meta: DatasetMeta | None, status: str) -> list[str]:
    if meta is None:
        return [name, source, family, "", "", "", "", "", "", "", status]
    return [
        name,
        source,
        meta.family,
        f"{meta.n_rows:,}",
        str(meta.n_features),
        str(meta.n_categorical),
        str(meta.n_classes),
        f"{meta.minority_count:,}",
        f"{meta.imbalance_ratio:.1f}",
        meta.tier,
        status,
    ]


def list_datasets(catalogue: Catalogue, suite: str | None) -> int:
    """Table of a suite (or the whole catalogue); never downloads or generates data."""
    names = catalogue.suite(suite) if suite else list(catalogue.datasets)
    title = f"suite {suite!r}" if suite else "all datasets"
    table = Table(title=f"{catalogue.path} - {title}", show_lines=False)
    for col in (
        "name",
        "source",
        "family",
        "n",
        "d",
        "cat",
        "classes",
        "minority",
        "IR",
        "tier",
        "status",
    ):
        table.add_column(
            col,
            justify="right" if col in ("n", "d", "cat", "classes", "minority", "IR") else "left",
        )
    errors: list[str] = []
    tiers: Counter[str] = Counter()
    for name in names:
        spec = catalogue.datasets[name]
        try:
            meta, status = describe(catalogue, name)
        except BenchError as err:
            meta, status = None, "error"
            errors.append(str(err))
        if meta is not None:
            tiers[meta.tier] += 1
        table.add_row(*_row(name, spec.source, catalogue.family(name), meta, status))
    console = _console()
    console.print(table)
    summary = ", ".join(f"{tiers[t]} {t}" for t in TIER_ORDER if tiers[t])
    console.print(
        f"{len(names)} datasets {f' ({summary})' if summary else ''}. 'not built': synthetic, generated on first "
        "load; 'not cached': needs one download (`datasets show NAME`)."
    )
    for message in errors:
        print(f"error: {message}", file=sys.stderr)
    return 2 if errors else 0


def show_dataset(catalogue: Catalogue, name: str) -> int:
    """One dataset in full; loads it (so it builds a synthetic set or fetches a remote one)."""
    spec = catalogue.spec(name)
    console = _console()
    if spec.source in ("synthetic", "openml", "zenodo"):
        _, status = describe(catalogue, name)
        if status != "ready":
            console.print(f"[dim]{name}: {status}; loading it now ...[/dim]")
    ds = load_dataset(catalogue, name)
    meta = ds.meta
    options = spec.model_dump(exclude_none=True, exclude={"source", "family", "description", "inf"})
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    rows = [
        ("name", name),
        ("description", spec.description or ""),
        ("source", spec.source),
        ("options", ", ".join(f"{k}={v}" for k, v in options.items())),
        ("family", meta.family),
        ("rows", f"{meta.n_rows:,}"),
        ("features", f"{meta.n_features} ({meta.n_categorical} categorical)"),
        ("categorical", ", ".join(ds.categorical_columns) or "-"),
        ("missing values", f"{int(ds.X.isna().sum().sum()):,}"),
        ("classes", str(meta.n_classes)),
        ("minority", f"{meta.minority_count:,}"),
        ("imbalance ratio", f"{meta.imbalance_ratio:.2f} ({meta.tier})"),
    ]
    for key, value in rows:
        if value:
            grid.add_row(key, value)
    console.print(grid)
    for note in ds.notes:
        console.print(f"note: {note}", highlight=False, markup=False)
    labels = Table(title="labels" + (" (1 = positive)" if meta.n_classes == 2 else ""))
    for col in ("label", "class", "count", "share"):
        labels.add_column(col, justify="right" if col in ("label", "count", "share") else "left")
    for label, (cls, count) in enumerate(zip(ds.class_names, meta.class_counts, strict=True)):
        labels.add_row(str(label), cls, f"{count:,}", f"{count / meta.n_rows:.1%}")
    console.print(labels)
    return 0


def datasets_command(args: Namespace) -> int:
    """Entry point from bench.cli (args.action, args.name, args.suite, args.catalogue)."""
    catalogue = load_catalogue(getattr(args, "catalogue", None))
    action = getattr(args, "action", None) or "list"
    name = getattr(args, "name", None)
    if action == "show":
        if not name:
            raise BenchError("`datasets show` needs a dataset NAME (see `datasets list`)")
        return show_dataset(catalogue, name)
    if name:
        raise BenchError(f"`datasets list` takes no NAME; use `datasets show {name}`")
    return list_datasets(catalogue, getattr(args, "suite", None))
