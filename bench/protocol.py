"""One cell of the benchmark: nested cross-validation with the outer test part kept sealed.

cell = dataset x booster x strategy x repeat x outer fold:
1. take the outer split (repeated stratified k-fold);
2. tune with Optuna inside the outer-training part only: every trial trains on an inner
   training part and is scored (and early-stopped) on an inner validation part;
3. choose the decision threshold on the best trial's inner validation predictions;
4. refit the best trial on the whole outer-training part for its early-stopped rounds;
5. score the outer-test part once.
The outer-test rows reach the booster exactly once: in the final ``predict_proba``.
"""

from __future__ import annotations

import hashlib
import json
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from optuna.trial import FixedTrial, TrialState
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold, train_test_split

from bench import runschema as rs
from bench import strategies, studies
from bench.boosters import StoppingRule, get_adapter
from bench.cells import Cell, CellContext, CellResult, get_dataset
from bench.claims import claim
from bench.config import InnerConfig, SweepConfig
from bench.datasets import Dataset
from bench.metrics import LOWER_IS_BETTER, choose_threshold, metric_bundle, score_function
from bench.tracking import Tracker, TrackingError, environment_tags


@dataclass
class InnerOutcome:
    score: float  # higher is better
    best_iteration: int
    fit_time: float
    valid_positions: np.ndarray  # positions within the outer-training part
    valid_proba: np.ndarray
    per_split: list[float] = field(default_factory=list)


def _seed(*parts: Any) -> int:
    digest = hashlib.sha256(json.dumps(parts).encode()).hexdigest()
    return int(digest[:8], 16)


def outer_split(
    y: np.ndarray, folds: int, repeats: int, seed: int, repeat: int, fold: int
) -> tuple[np.ndarray, np.ndarray]:
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    for i, (train, test) in enumerate(splitter.split(np.zeros(len(y)), y)):
        if i == repeat * folds + fold:
            return train, test
    raise ValueError(f"no outer split repeat={repeat} fold={fold}")


def inner_splits(
    y: np.ndarray, inner: InnerConfig, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Positions (within the outer-training part) of the inner train/validation parts."""
    positions = np.arange(len(y))
    if inner.kind == "kfold":
        splitter = StratifiedKFold(n_splits=inner.folds, shuffle=True, random_state=seed)
        return list(splitter.split(positions, y))
    train, valid = train_test_split(
        positions, test_size=inner.valid_fraction, stratify=y, random_state=seed
    )
    return [(np.sort(train), np.sort(valid))]


def evaluate_inner(
    adapter,
    X: pd.DataFrame,
    y: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    booster_params: dict[str, Any],
    strategy: str,
    strategy_params: dict[str, Any],
    n_classes: int,
    cfg: SweepConfig,
    stopping: StoppingRule,
    seed: int,
    threads: int,
) -> InnerOutcome:
    """Train on each inner training part, early-stop and score on its validation part."""
    scores, rounds, positions, probas = [], [], [], []
    fit_time = 0.0
    for train, valid in splits:
        loss = strategies.loss_spec(strategy, strategy_params, y[train], n_classes, cfg.focal)
        t0 = time.perf_counter()
        model = adapter.fit(
            X.iloc[train],
            y[train],
            n_classes=n_classes,
            params=booster_params,
            loss=loss,
            rounds=cfg.max_rounds,
            valid=(X.iloc[valid], y[valid]),
            stopping=stopping,
            seed=seed,
            n_threads=threads,
        )
        proba = model.predict_proba(X.iloc[valid])
        fit_time += time.perf_counter() - t0
        scores.append(stopping.metric(y[valid], proba))
        rounds.append(model.best_iteration)
        positions.append(valid)
        probas.append(proba)
    return InnerOutcome(
        score=float(np.mean(scores)),
        best_iteration=max(1, int(round(float(np.mean(rounds))))),
        fit_time=fit_time,
        valid_positions=np.concatenate(positions),
        valid_proba=np.concatenate(probas),
        per_split=[float(s) for s in scores],
    )


def _natural(score: float, target: str) -> float:
    """Stopping scores are higher-is-better; report the metric's own value."""
    return -score if target in LOWER_IS_BETTER else score


def _cell_tags(cell: Cell, ds: Dataset, sweep: str, study_name: str) -> dict[str, str]:
    m = ds.meta
    return {
        rs.TAG_SWEEP: sweep,
        rs.TAG_DATASET: cell.dataset,
        rs.TAG_BOOSTER: cell.booster,
        rs.TAG_STRATEGY: cell.strategy,
        rs.TAG_REPEAT: str(cell.repeat),
        rs.TAG_FOLD: str(cell.fold),
        rs.TAG_N_ROWS: str(m.n_rows),
        rs.TAG_N_FEATURES: str(m.n_features),
        rs.TAG_N_CLASSES: str(m.n_classes),
        rs.TAG_MINORITY: str(m.minority_count),
        rs.TAG_IMBALANCE_RATIO: f"{m.imbalance_ratio:.4f}",
        rs.TAG_TIER: m.tier,
        rs.TAG_FAMILY: str(m.family),
        rs.TAG_SOURCE: str(m.source),
        rs.TAG_STUDY: study_name,
        **environment_tags(),
    }


class CellFailed(Exception):
    """Too many trials of a cell raised; the cell is marked failed, the sweep goes on."""


def run_cell(
    cell: Cell,
    ctx: CellContext,
    tracker: Tracker,
    on_trial: Callable[[Cell, int], None] | None = None,
) -> CellResult:
    """Run (or resume, or skip if finished) one cell and log it; see the module docstring.

    Status "busy" means another process holds the cell's claim right now.
    """
    with claim(ctx.storage_url, cell.key) as mine:
        if not mine:
            return CellResult(cell.key, cell.run_name, "busy")
        return _CellRun(cell, ctx, tracker, on_trial).run()


@dataclass
class _Scored:
    """What the refit model achieved on the outer-test part."""

    scores: dict[str, float]
    threshold: float
    rounds: int
    refit_time: float
    test_rows: np.ndarray
    y_test: np.ndarray
    proba: np.ndarray


class _CellRun:
    """One attempt at a claimed cell: tune, refit, score, log."""

    def __init__(self, cell: Cell, ctx: CellContext, tracker: Tracker, on_trial) -> None:
        self.cell, self.ctx, self.cfg, self.tracker = cell, ctx, ctx.config, tracker
        self.on_trial = on_trial
        self.cache: dict[int, InnerOutcome] = {}
        self.trials_run = 0

    def run(self) -> CellResult:
        cell, cfg, wall0 = self.cell, self.cfg, time.perf_counter()
        self.ds = get_dataset(self.ctx.catalogue_path, cell.dataset)
        study_name = f"{self.ctx.sweep}/{cell.key}"
        tags = _cell_tags(cell, self.ds, self.ctx.sweep, study_name)
        self.parent_id, state = self.tracker.start_cell(
            self.ctx.experiment_id, cell.key, cell.run_name, tags
        )
        if state == "finished":
            return CellResult(cell.key, cell.run_name, "skipped")

        self.k = self.ds.meta.n_classes
        self.train_idx, self.test_idx = outer_split(
            self.ds.y, cfg.folds, cfg.repeats, cfg.seed, cell.repeat, cell.fold
        )
        self.X_train, self.y_train = self.ds.X.iloc[self.train_idx], self.ds.y[self.train_idx]
        fold_seed = _seed(cfg.seed, cell.dataset, cell.repeat, cell.fold)
        self.splits = inner_splits(self.y_train, cfg.inner, fold_seed)
        self.adapter = get_adapter(cell.booster)
        self.stopping = StoppingRule(
            score_function(cfg.target), cfg.target, cfg.early_stopping_rounds
        )
        self.booster_seed = fold_seed % (2**31 - 1)
        # Same sampler seed for every strategy of a (dataset, booster, fold): the booster
        # params drawn in the random start-up phase are then common to all strategies.
        self.study = studies.open_study(
            studies.open_storage(self.ctx.storage_url),
            study_name,
            cfg.sampler,
            _seed(cfg.seed, cell.dataset, cell.booster, cell.repeat, cell.fold),
        )
        studies.reap_stale(self.study)
        records = [
            studies.trial_record(t, cell.run_name) for t in studies.logged_trials(self.study)
        ]
        self.tracker.reconcile_trials(
            self.ctx.experiment_id, self.parent_id, records, new_parent=state == "new"
        )

        try:
            self._tune()
            scored = self._refit_and_score()
        except TrackingError:
            raise  # the store itself is failing: stop the sweep, do not blame the cell
        except Exception as err:
            message = _short_error(err)
            self.tracker.fail_cell(self.parent_id, message)
            if not isinstance(err, CellFailed):
                message += "\n" + traceback.format_exc(limit=6)
            return CellResult(
                cell.key, cell.run_name, "failed", error=message, trials_run=self.trials_run
            )
        fit_time = self._log(scored, wall0)
        return CellResult(
            cell.key,
            cell.run_name,
            "done",
            score=scored.scores[cfg.target],
            trials_run=self.trials_run,
            fit_time=fit_time,
            wall_time=time.perf_counter() - wall0,
        )

    def _evaluate(self, booster_params, strategy_params) -> InnerOutcome:
        return evaluate_inner(
            self.adapter, self.X_train, self.y_train, self.splits, booster_params,
            self.cell.strategy, strategy_params, self.k, self.cfg, self.stopping,
            self.booster_seed, self.ctx.threads,
        )  # fmt: skip

    def _tune(self) -> None:
        """Ask/tell until the study holds exactly ``trials`` COMPLETE trials."""
        cfg, study = self.cfg, self.study
        while True:
            complete, failed = studies.counts(study)
            if complete >= cfg.trials:
                return
            if failed > cfg.max_failed_trials:
                raise CellFailed(
                    f"{failed} trials failed (max_failed_trials={cfg.max_failed_trials}); "
                    f"last error: {_last_error(study)}"
                )
            trial = study.ask()
            try:
                booster_params = self.adapter.suggest_params(trial)
                strategy_params = strategies.suggest(trial, self.cell.strategy, self.k, cfg.focal)
                outcome = self._evaluate(booster_params, strategy_params)
                if not np.isfinite(outcome.score):
                    raise FloatingPointError(f"inner score is {outcome.score}")
            except Exception as err:
                trial.set_user_attr(studies.ERROR_ATTR, _short_error(err))
                frozen = study.tell(trial, state=TrialState.FAIL)
            else:
                trial.set_user_attr("inner_score", _natural(outcome.score, cfg.target))
                trial.set_user_attr("best_iteration", outcome.best_iteration)
                trial.set_user_attr("fit_time_s", outcome.fit_time)
                frozen = study.tell(trial, outcome.score)
                self.cache[trial.number] = outcome
            self.trials_run += 1
            self.tracker.log_trial(
                self.ctx.experiment_id,
                self.parent_id,
                studies.trial_record(frozen, self.cell.run_name),
            )
            if self.on_trial is not None:
                self.on_trial(self.cell, self.trials_run)

    def _refit_and_score(self) -> _Scored:
        """Threshold from the best trial's inner predictions, refit, one outer-test scoring."""
        cfg, best = self.cfg, self.study.best_trial
        fixed = FixedTrial(best.params)
        booster_params = self.adapter.suggest_params(fixed)
        strategy_params = strategies.suggest(fixed, self.cell.strategy, self.k, cfg.focal)
        inner = self.cache.get(best.number) or self._evaluate(booster_params, strategy_params)
        threshold = choose_threshold(
            self.y_train[inner.valid_positions], inner.valid_proba, cfg.threshold_objective
        )
        t0 = time.perf_counter()
        loss = strategies.loss_spec(
            self.cell.strategy, strategy_params, self.y_train, self.k, cfg.focal
        )
        model = self.adapter.fit(
            self.X_train,
            self.y_train,
            n_classes=self.k,
            params=booster_params,
            loss=loss,
            rounds=inner.best_iteration,
            seed=self.booster_seed,
            n_threads=self.ctx.threads,
        )
        proba = model.predict_proba(self.ds.X.iloc[self.test_idx])
        refit_time = time.perf_counter() - t0
        y_test = self.ds.y[self.test_idx]
        return _Scored(
            scores=metric_bundle(y_test, proba, threshold),
            threshold=threshold,
            rounds=inner.best_iteration,
            refit_time=refit_time,
            test_rows=self.test_idx,
            y_test=y_test,
            proba=proba,
        )

    def _log(self, scored: _Scored, wall0: float) -> float:
        """Finish the parent run; returns the cell's booster fit+predict seconds."""
        best = self.study.best_trial
        tune_time = sum(
            float(t.user_attrs.get("fit_time_s", 0.0))
            for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        )
        fit_time = tune_time + scored.refit_time
        metrics = {rs.TEST_PREFIX + name: value for name, value in scored.scores.items()}
        metrics.update(
            {
                rs.M_THRESHOLD: scored.threshold,
                rs.M_BEST_ITERATION: scored.rounds,
                rs.M_INNER_SCORE: _natural(best.value, self.cfg.target),
                rs.M_FIT_TIME: fit_time,
                rs.M_REFIT_TIME: scored.refit_time,
                rs.M_TUNE_TIME: tune_time,
                rs.M_N_TRIALS: studies.counts(self.study)[0],
                rs.M_WALL_TIME: time.perf_counter() - wall0,
            }
        )
        params = {**best.params, "refit_rounds": scored.rounds, "best_trial": best.number}
        predictions = _predictions_csv(scored.test_rows, scored.y_test, scored.proba)
        self.tracker.finish_cell(self.parent_id, params, metrics, {}, predictions)
        return fit_time


def _predictions_csv(rows: np.ndarray, y: np.ndarray, proba: np.ndarray) -> str:
    frame = pd.DataFrame({"row": rows, "y_true": y})
    for j in range(proba.shape[1]):
        frame[f"p_{j}"] = proba[:, j]
    return frame.to_csv(index=False, float_format="%.8g")


def _short_error(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:2000]


def _last_error(study) -> str:
    failed = [
        t for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
        if studies.ERROR_ATTR in t.user_attrs
    ]  # fmt: skip
    return failed[-1].user_attrs[studies.ERROR_ATTR] if failed else "unknown"
