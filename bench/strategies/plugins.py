"""A user's own strategy, loaded from ``package.module:Class`` or ``path/to/file.py:Class``.

The class follows the strategy contract (``bench.strategies.base.Strategy``: a ``name``,
``suggest``, ``loss``, optionally ``resamples`` / ``resample``) and is registered under its
``name``, so tags, tables and reports show it like a built-in one. A plugin's source file enters
the sweep's config hash, so a changed plugin is a new sweep. Every process that runs cells loads
the same plugins (``ensure_loaded``), so the file must be reachable from the workers too.

Before any cell runs, :func:`check_contract` tries the class on a tiny synthetic training part:
its search space, its loss, and its resampler (which must keep at least two classes).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.boosters.base import LOSS_KINDS, LossSpec
from bench.errors import BenchError
from bench.strategies.base import Resampled, Strategy, Task

_loaded: dict[str, type[Strategy]] = {}  # spec -> class, per process


def is_plugin_spec(name: str) -> bool:
    return ":" in name


def load(spec: str) -> type[Strategy]:
    """The strategy class a spec names (imported once per process), checked and registered."""
    if spec in _loaded:
        return _loaded[spec]
    from bench.strategies import STRATEGIES, register_strategy

    where, _, attr = spec.rpartition(":")
    if not where or not attr:
        raise BenchError(f"strategy plugin {spec!r}: expected 'module:Class' or 'file.py:Class'")
    module = _import(spec, where)
    cls = getattr(module, attr, None)
    if cls is None:
        raise BenchError(f"strategy plugin {spec!r}: {where} has no attribute {attr!r}")
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise BenchError(
            f"strategy plugin {spec!r}: {attr} is not a subclass of bench.strategies.Strategy"
        )
    missing = sorted(getattr(cls, "__abstractmethods__", ()))
    if missing:
        raise BenchError(
            f"strategy plugin {spec!r}: {attr} does not implement {', '.join(missing)}"
        )
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name or ":" in name:
        raise BenchError(f"strategy plugin {spec!r}: {attr} needs a class attribute name = '...'")
    if name in STRATEGIES and STRATEGIES.get(name) is not cls:
        raise BenchError(
            f"strategy plugin {spec!r}: the name {name!r} is taken by another strategy; "
            "give the class another name"
        )
    check_contract(spec, cls)
    if name not in STRATEGIES:
        register_strategy(cls)
    _loaded[spec] = cls
    return cls


def _import(spec: str, where: str) -> Any:
    try:
        if where.endswith(".py"):
            path = Path(where).expanduser().resolve()
            if not path.is_file():
                raise BenchError(f"strategy plugin {spec!r}: file {path} does not exist")
            module_name = f"bench_plugin_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
            loader_spec = importlib.util.spec_from_file_location(module_name, path)
            if loader_spec is None or loader_spec.loader is None:
                raise BenchError(f"strategy plugin {spec!r}: cannot load {path}")
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[module_name] = module
            loader_spec.loader.exec_module(module)
            return module
        return importlib.import_module(where)
    except BenchError:
        raise
    except Exception as err:  # the plugin's own import failed: say which and why, in one line
        first = str(err).strip().splitlines()
        raise BenchError(
            f"strategy plugin {spec!r}: cannot import {where}: {type(err).__name__}: "
            f"{first[0] if first else ''}"
        ) from None


def source_digest(cls: type) -> str:
    """sha256 of the file that defines ``cls`` (what makes a changed plugin a new sweep)."""
    try:
        path = inspect.getsourcefile(cls)
    except TypeError:
        path = None
    if path is None:
        return "unknown"
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def check_contract(spec: str, cls: type[Strategy]) -> None:
    """Try the class on a small synthetic binary training part, once, before any cell runs."""
    import optuna

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    y = np.array([0] * 48 + [1] * 12)
    try:
        strategy = cls(None)
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created" line
        try:
            trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
        finally:
            optuna.logging.set_verbosity(verbosity)
        params = strategy.suggest(trial, Task(2, 4.0))
        if not isinstance(params, dict):
            raise TypeError(f"suggest returned {type(params).__name__}, not a dict")
        loss = strategy.loss(params, y, 2)
        if not isinstance(loss, LossSpec) or loss.kind not in LOSS_KINDS:
            raise TypeError(f"loss returned {loss!r}, not a LossSpec of kind {LOSS_KINDS}")
        if strategy.resamples:
            rows = strategy.resample(X, y, params, 0)
            if not isinstance(rows, Resampled):
                raise TypeError(f"resample returned {type(rows).__name__}, not a Resampled")
            if len(np.unique(rows.y)) < 2:
                raise ValueError("its resampler returned a single class")
            if list(rows.X.columns) != list(X.columns) or len(rows.X) != len(rows.y):
                raise ValueError("its resampler changed the columns or lost rows' labels")
    except BenchError:
        raise
    except Exception as err:
        first = str(err).strip().splitlines()
        raise BenchError(
            f"strategy plugin {spec!r}: {type(err).__name__}: {first[0] if first else ''}"
        ) from None


def ensure_loaded(specs: dict[str, str]) -> None:
    """Load every plugin a sweep uses (name -> spec), in a process that runs its cells."""
    for spec in specs.values():
        load(spec)
