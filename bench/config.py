"""The sweep's typed configuration: defaults < sweep.yaml < command-line flags.

Only the *scientific* settings enter the config hash (what is compared and how); operational
settings (where results go, how many workers) can change between resumptions of a sweep.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bench.boosters import BOOSTERS
from bench.errors import BenchError
from bench.metrics import REFUSED_TARGETS, TARGETS
from bench.redaction import redact
from bench.strategies import DEFAULT_STRATEGIES, STRATEGIES
from bench.yamlfile import read_yaml

DEFAULT_TRIALS = 8
DEFAULT_FOLDS = 3
MAX_STARTUP_TRIALS = 10  # Optuna TPE's own default start-up
MAX_SEED = 2**32 - 1  # what numpy (RandomState) and the boosters accept as a seed
MAX_TRIALS = 10**6  # far beyond any budget a study can spend; a typo is caught before a run


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` -> (K, N) with 1 <= K <= N; anything else is a ValueError naming the value."""
    k_text, sep, n_text = str(text).partition("/")
    if not sep or not k_text.strip().isdigit() or not n_text.strip().isdigit():
        raise ValueError(f"shard must look like K/N (e.g. 1/4), got {text!r}")
    k, n = int(k_text), int(n_text)
    if n < 1 or not 1 <= k <= n:
        raise ValueError(f"shard K/N needs 1 <= K <= N, got {text!r}")
    return k, n


def adaptive_startup_trials(trials: int) -> int:
    """Random start-up trials for a budget: half of it, at most 10 (TPE's default), at least 1
    (the library defaults). From 8 trials on, TPE proposes at least half."""
    return max(1, min(MAX_STARTUP_TRIALS, trials // 2))


JOURNAL_SUFFIXES = (".journal", ".log")
_SCHEME_ONLY = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:(?!//)")


def check_storage(url: str) -> None:
    """Refuse an Optuna storage a user cannot have meant, before anything is written: a
    ``scheme://`` URL must name a database SQLAlchemy has a dialect for (a typo in a team's
    PostgreSQL URL must not run on a local file), and anything else is a journal file path,
    which must look like one (contain a ``/`` or end in .journal or .log), not a bare word."""
    if "://" in url:
        _check_database_url(url)
        return
    if _SCHEME_ONLY.match(url):
        raise ValueError(
            f"{redact(url)} looks like a database URL but has no '//' after the scheme"
        )
    if "/" not in url and not url.endswith(JOURNAL_SUFFIXES):
        raise ValueError(
            f"{url!r} is neither a database URL (postgresql://user@host/db, sqlite:///file.db) "
            f"nor a journal file path (one containing '/' or ending in "
            f"{' or '.join(JOURNAL_SUFFIXES)}, e.g. ./{url or 'optuna'}.journal)"
        )


def _check_database_url(url: str) -> None:
    """SQLAlchemy's own parser and dialect registry decide what a database URL is."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    scheme = url.split("://", 1)[0]
    try:
        make_url(url).get_dialect()
    except NoSuchModuleError:
        raise ValueError(
            f"unknown database scheme {scheme!r} in {redact(url)}; give a SQLAlchemy URL such "
            "as postgresql://user@host/db or sqlite:///file.db, or a journal file path"
        ) from None
    except (ArgumentError, ValueError) as err:
        raise ValueError(
            f"{redact(url)} is not a valid database URL ({redact(str(err))})"
        ) from None


class _Strict(BaseModel):
    """Unknown keys are errors, and values are taken as they are typed: ``trials: true`` or
    ``folds: 2.5`` is refused rather than read as 1 or 2."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class InnerConfig(_Strict):
    """How trials are scored inside the outer-training part.

    ``auto`` (the default): a stratified holdout of ``valid_fraction`` when it would hold at
    least ``min_minority`` minority rows, else stratified k-fold with ``folds`` folds, so that
    early stopping, the trial's score and the threshold never rest on a handful of rows.
    """

    kind: Literal["auto", "holdout", "kfold"] = "auto"
    valid_fraction: float = Field(0.25, gt=0.05, lt=0.6)
    folds: int = Field(3, ge=2, le=10)
    min_minority: int = Field(20, ge=1)


class FocalConfig(_Strict):
    """Focal loss's search space. ``gamma: [low, high]`` (pin it with low == high) and
    ``alpha: tuned | none``; ``gamma: [0, 0]`` with ``alpha: none`` is cross-entropy through the
    focal code path (the A/A check)."""

    # None: the measured default (bench.objectives.DEFAULT_HESSIAN_GUARD)
    hessian: Literal["exact", "clip", "surrogate", "tune"] | None = None
    catboost: Literal["python", "native"] = "python"  # binary CatBoost focal implementation
    gamma: tuple[float, float] = Field((0.5, 5.0), strict=False)  # YAML gives a list
    alpha: Literal["tuned", "none"] = "tuned"

    @field_validator("gamma", mode="before")
    @classmethod
    def _gamma_numbers(cls, value: Any) -> Any:
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise ValueError(f"gamma must be a list [low, high] of two numbers, got {value!r}")
        if any(isinstance(v, bool) or not isinstance(v, int | float) for v in value):
            raise ValueError(f"gamma must be two numbers, got {list(value)!r}")
        return value

    @field_validator("gamma")
    @classmethod
    def _gamma_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not (math.isfinite(low) and math.isfinite(high)) or low < 0 or high < 0:
            raise ValueError(f"gamma must be two finite numbers >= 0, got [{low}, {high}]")
        if low > high:
            raise ValueError(f"gamma [low, high] needs low <= high, got [{low}, {high}]")
        return value


class SweepConfig(_Strict):
    """Everything that defines a sweep's results (hashed) plus where to put them (not hashed)."""

    # what is compared (hashed)
    suite: str | None = "quick"
    datasets: list[str] | None = None
    boosters: list[str] = Field(default_factory=lambda: list(BOOSTERS.names()))
    strategies: list[str] = Field(default_factory=lambda: list(DEFAULT_STRATEGIES))
    # a user's strategies given as module:Class or file.py:Class: registered name -> spec
    plugins: dict[str, str] = Field(default_factory=dict)
    trials: int = Field(
        DEFAULT_TRIALS, ge=1, le=MAX_TRIALS, description="COMPLETE Optuna trials per cell"
    )
    startup_trials: int | None = Field(
        None, ge=1, description="random start-up trials (default: adapts to the budget)"
    )
    folds: int = Field(DEFAULT_FOLDS, ge=2)
    repeats: int = Field(1, ge=1)
    seed: int = Field(0, ge=0, le=MAX_SEED)  # numpy's legacy seeding takes 32 bits
    target: str = "average_precision"
    threshold_objective: Literal["f1", "mcc"] = "f1"
    sampler: Literal["tpe", "random"] = "tpe"
    inner: InnerConfig = InnerConfig()
    focal: FocalConfig = FocalConfig()
    loss_scale: Literal["hessian", "none"] = "hessian"
    max_rounds: int = Field(400, ge=1)
    early_stopping_rounds: int = Field(30, ge=1)
    max_failed_trials: int = Field(5, ge=0, description="per cell, before the cell fails")
    # where and how (not hashed)
    name: str | None = None
    tracking_uri: str | None = None
    storage: str | None = None
    workers: int | None = Field(None, ge=1)
    threads: int | None = Field(None, ge=1)
    runs_dir: str = "runs"
    catalogue: str | None = None
    scheduler: str | None = None
    dask_local: int | None = Field(None, ge=1)
    shard: str | None = Field(None, description="K/N: run the K-th of N shares of the cells")
    cells: list[str] | None = Field(
        None, description="only these cells (keys or run names dataset/booster/strategy/rRfF)"
    )

    @model_validator(mode="before")
    @classmethod
    def _load_plugins(cls, data: Any) -> Any:
        """Strategies given as ``module:Class`` / ``file.py:Class`` are loaded (and checked)
        now, before any cell runs, and stand in the list under their registered names."""
        if not isinstance(data, dict) or not isinstance(data.get("strategies"), list):
            return data
        from bench.strategies import plugins as plugin_loader

        names, specs = [], dict(data.get("plugins") or {})
        for entry in data["strategies"]:
            if isinstance(entry, str) and plugin_loader.is_plugin_spec(entry):
                plugin = plugin_loader.load(entry)
                specs[plugin.name] = entry
                names.append(plugin.name)
            else:
                names.append(entry)
        return {**data, "strategies": names, "plugins": specs}

    @field_validator("storage")
    @classmethod
    def _storage_form(cls, value: str | None) -> str | None:
        if value is not None:
            check_storage(value)
        return value

    @field_validator("shard")
    @classmethod
    def _shard_form(cls, value: str | None) -> str | None:
        if value is not None:
            parse_shard(value)
        return value

    @property
    def shard_k_n(self) -> tuple[int, int] | None:
        """(K, N) of ``shard: K/N`` (1-based K), or None for the whole sweep."""
        return parse_shard(self.shard) if self.shard else None

    @field_validator("target")
    @classmethod
    def _known_target(cls, name: str) -> str:
        if name in REFUSED_TARGETS:
            raise ValueError(f"{name!r} cannot be a tuning target: {REFUSED_TARGETS[name]}")
        if name not in TARGETS:
            raise ValueError(f"unknown tuning target {name!r}; choose one of: {', '.join(TARGETS)}")
        return name

    @field_validator("boosters")
    @classmethod
    def _registered_boosters(cls, names: list[str]) -> list[str]:
        return _registered(names, BOOSTERS)

    @field_validator("strategies")
    @classmethod
    def _registered_strategies(cls, names: list[str]) -> list[str]:
        return _registered(names, STRATEGIES)

    @model_validator(mode="after")
    def _distinct(self) -> SweepConfig:
        for key in ("boosters", "strategies", "datasets", "cells"):
            values = getattr(self, key)
            if values is not None and len(set(values)) != len(values):
                raise ValueError(f"{key} lists a name twice: {values}")
            if values is not None and not values:
                raise ValueError(f"{key} is empty")
        if self.scheduler and self.dask_local:
            raise ValueError("give either scheduler or dask_local, not both")
        if self.startup_trials is not None and self.startup_trials > self.trials:
            raise ValueError(
                f"startup_trials ({self.startup_trials}) exceeds trials ({self.trials})"
            )
        return self

    @property
    def n_startup_trials(self) -> int:
        """The start-up trials this sweep's studies run before TPE proposes."""
        if self.sampler == "random":
            return self.trials
        return self.startup_trials or adaptive_startup_trials(self.trials)


def _registered(names: list[str], registry: Any) -> list[str]:
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise ValueError(registry.unknown_message(unknown))
    return names


OPERATIONAL = frozenset(
    {
        "name",
        "tracking_uri",
        "storage",
        "workers",
        "threads",
        "runs_dir",
        "catalogue",
        "scheduler",
        "dask_local",
        "shard",
        "cells",
    }
)


def scientific_settings(cfg: SweepConfig, datasets: list[str]) -> dict[str, Any]:
    """The hashed part of a config, with the suite resolved to its dataset list and each
    plugin strategy standing for its source file's digest (a changed plugin is a new sweep,
    wherever its file lies)."""
    from bench.strategies import STRATEGIES
    from bench.strategies.plugins import source_digest

    data = cfg.model_dump(mode="json", exclude=set(OPERATIONAL) | {"suite", "datasets", "plugins"})
    data["datasets"] = list(datasets)
    if cfg.plugins:
        data["plugin_sources"] = {
            name: source_digest(STRATEGIES.get(name)) for name in sorted(cfg.plugins)
        }
    return data


def config_hash(settings: dict[str, Any]) -> str:
    blob = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def _format_error(errors: list[Any], source_of: Callable[[str], str]) -> str:
    """One line per problem (pydantic's error dicts), each naming where the value came from
    (the command line or the file) and the key."""
    lines = []
    for e in errors:
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        source = source_of(str(e["loc"][0]) if e["loc"] else "")
        if e["type"] == "extra_forbidden":
            lines.append(f"{source}: unknown key '{loc}'")
        elif e["type"] == "value_error":  # our validators' messages say what was given
            lines.append(f"{source}: key '{loc}': {str(e['msg']).removeprefix('Value error, ')}")
        else:
            value = e.get("input")
            shown = f" (got {value!r})" if not isinstance(value, dict | list) else ""
            lines.append(f"{source}: key '{loc}': {e['msg']}{shown}")
    return "\n".join(lines)


def read_sweep_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    data = read_yaml(p, "sweep config") or {}
    if not isinstance(data, dict):
        raise BenchError(f"sweep config {p}: expected a mapping of settings at the top level")
    return data


def build_config(yaml_path: str | None, overrides: dict[str, Any]) -> SweepConfig:
    """Merge a sweep.yaml (if any) and CLI overrides (None means 'not given') into a config."""
    from_file: dict[str, Any] = read_sweep_yaml(yaml_path) if yaml_path else {}
    given = {k: v for k, v in overrides.items() if v is not None}
    data = dict(from_file)
    replaced = set(from_file) & set(given)
    if "datasets" in given and "suite" not in given:  # --datasets replaces the file's suite
        data["suite"] = None
        replaced |= {"suite"} & set(from_file)
    data.update(given)
    if yaml_path:
        _check_overridden(from_file, replaced, yaml_path)

    def source_of(key: str) -> str:
        return "command line" if key in given or not yaml_path else f"sweep config {yaml_path}"

    try:
        return SweepConfig.model_validate(data)
    except ValidationError as err:
        raise BenchError(_format_error(err.errors(), source_of)) from None


def _check_overridden(from_file: dict[str, Any], replaced: set[str], yaml_path: str) -> None:
    """The file's values that flags replaced are still checked, each on its own: an invalid
    value in a sweep.yaml is an error whatever the command line says (combinations are
    checked on the merged config only, so a valid value is never blamed for a flag)."""
    if not replaced:
        return
    try:
        SweepConfig.model_validate(from_file)
    except ValidationError as err:
        problems = [e for e in err.errors() if e["loc"] and str(e["loc"][0]) in replaced]
        if problems:
            raise BenchError(
                _format_error(problems, lambda _key: f"sweep config {yaml_path}")
            ) from None
