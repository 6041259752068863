"""Where a cell runs (worker side): claim it, tune it with Optuna inside the outer-training
part, refit the best trial, score the outer-test part once, log it all to MLflow.

See ``bench.sweep.protocol`` for the nested cross-validation this follows.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from optuna.trial import FixedTrial, TrialState

from bench import logs
from bench import runschema as rs
from bench.boosters import StoppingRule, get_adapter
from bench.boosters.base import LossSpec
from bench.datasets import Dataset
from bench.errors import one_line
from bench.locks import claim
from bench.metrics import (
    LOWER_IS_BETTER,
    calibrated_metrics,
    choose_threshold,
    metric_bundle,
    score_function,
)
from bench.strategies import Resampled, Task, make_strategy, plugins
from bench.strategies.scale import scaled_to_cross_entropy
from bench.sweep import studies
from bench.sweep.cells import Cell, CellContext, CellResult, get_dataset
from bench.sweep.protocol import (
    InnerOutcome,
    derive_seed,
    inner_scheme,
    inner_splits,
    outer_split,
    refit_rounds,
    smallest_class_in_validation,
)
from bench.tracking.client import CellOutcome, DatasetRef, Tracker, TrackingError
from bench.tracking.environment import environment_tags

log = logging.getLogger(__name__)

OnTrial = Callable[[Cell, int], None]


class CellFailed(Exception):
    """Too many trials of a cell raised; the cell is marked failed, the sweep goes on."""


def run_cell(
    cell: Cell, ctx: CellContext, tracker: Tracker, on_trial: OnTrial | None = None
) -> CellResult:
    """Run (or resume, or skip if finished) one cell and log it.

    Status "busy" means another process holds the cell's claim right now.
    """
    logs.log_to_worker_file(ctx.log_dir)
    plugins.ensure_loaded(ctx.config.plugins)  # a worker process registers them itself
    with claim(ctx.storage_url, cell.key) as mine:
        if not mine:
            return CellResult(cell.key, cell.run_name, "busy")
        return CellRun(cell, ctx, tracker, on_trial).run()


@dataclass
class _Scored:
    """What the refit model achieved on the outer-test part."""

    scores: dict[str, float]
    threshold: float
    rounds: int  # of the refit
    inner_rounds: int  # the best trial's early-stopped rounds
    loss_scale: float  # the refit's
    refit_time: float
    test_rows: np.ndarray
    y_test: np.ndarray
    proba: np.ndarray


class CellRun:
    """One attempt at a claimed cell: tune, refit, score, log."""

    def __init__(
        self, cell: Cell, ctx: CellContext, tracker: Tracker, on_trial: OnTrial | None
    ) -> None:
        self.cell, self.ctx, self.cfg, self.tracker = cell, ctx, ctx.config, tracker
        self.on_trial = on_trial
        self.cache: dict[int, InnerOutcome] = {}
        self.trials_run = 0
        self.strategy = make_strategy(cell.strategy, ctx.config)
        self.adapter = get_adapter(cell.booster)

    def run(self) -> CellResult:
        cell, cfg = self.cell, self.cfg
        wall0 = time.perf_counter()
        self.ds = get_dataset(self.ctx.catalogue_path, cell.dataset)
        self.inner_kind = inner_scheme(cfg, self.ds.meta.minority_count)
        study_name = studies.study_name(self.ctx.sweep, cell.key)
        self.parent_id, state = self.tracker.start_cell(
            self.ctx.experiment_id, cell.key, cell.run_name, self._tags(study_name)
        )
        if state == "finished":
            return CellResult(cell.key, cell.run_name, "skipped")
        log.info("cell %s: %s parent run %s", cell.run_name, state, self.parent_id)

        self.k = self.ds.meta.n_classes
        self.task = Task(self.k, self.ds.meta.imbalance_ratio)
        self.train_idx, self.test_idx = outer_split(
            self.ds.y, cfg.folds, cfg.repeats, cfg.seed, cell.repeat, cell.fold
        )
        self.X_train, self.y_train = self.ds.X.iloc[self.train_idx], self.ds.y[self.train_idx]
        fold_seed = derive_seed(cfg.seed, cell.dataset, cell.repeat, cell.fold)
        self.splits = inner_splits(self.y_train, cfg.inner, fold_seed, self.inner_kind)
        self.fit_rows = min(len(train) for train, _ in self.splits)
        self.stopping = StoppingRule(
            score_function(cfg.target), cfg.target, cfg.early_stopping_rounds
        )
        self.booster_seed = fold_seed % (2**31 - 1)
        # The same sampler seed for every strategy of a (dataset, booster, repeat, fold): the
        # start-up booster configurations are common to all strategies, and so are the TPE
        # sampler's random streams (its proposals then differ only through each history).
        self.sampler_seed = derive_seed(
            cfg.seed, cell.dataset, cell.booster, cell.repeat, cell.fold
        )
        self.study = studies.open_study(studies.open_storage(self.ctx.storage_url), study_name)
        studies.reap_stale(self.study)
        records = studies.trial_records(self.study, cell.run_name)
        self.tracker.reconcile_trials(
            self.ctx.experiment_id, self.parent_id, records, new_parent=state == "new"
        )

        try:
            self._tune()
            scored = self._refit_and_score()
        except TrackingError:
            raise  # the store itself is failing: stop the sweep, do not blame the cell
        except Exception as err:
            message = one_line(err)
            log.exception("cell %s failed: %s", cell.run_name, message)
            log_file = logs.worker_log_file()
            self.tracker.fail_cell(
                self.parent_id, message, {rs.TAG_LOG_FILE: str(log_file)} if log_file else None
            )
            return CellResult(
                cell.key, cell.run_name, "failed", error=message, trials_run=self.trials_run
            )
        fit_time = self._log(scored, wall0)
        log.info("cell %s: done, %s = %.4f", cell.run_name, cfg.target, scored.scores[cfg.target])
        return CellResult(
            cell.key,
            cell.run_name,
            "done",
            score=scored.scores[cfg.target],
            trials_run=self.trials_run,
            fit_time=fit_time,
        )

    def _tags(self, study_name: str) -> dict[str, str]:
        cell, m = self.cell, self.ds.meta
        return {
            rs.TAG_SWEEP: self.ctx.sweep,
            rs.TAG_DATASET: cell.dataset,
            rs.TAG_BOOSTER: cell.booster,
            rs.TAG_STRATEGY: cell.strategy,
            rs.TAG_REPEAT: str(cell.repeat),
            rs.TAG_FOLD: str(cell.fold),
            rs.TAG_N_ROWS: str(m.n_rows),
            rs.TAG_N_FEATURES: str(m.n_features),
            rs.TAG_N_CLASSES: str(m.n_classes),
            rs.TAG_MINORITY: str(m.minority_count),
            rs.TAG_CLASS_COUNTS: ",".join(str(c) for c in m.class_counts),
            rs.TAG_IMBALANCE_RATIO: f"{m.imbalance_ratio:.4f}",
            rs.TAG_TIER: m.tier,
            rs.TAG_FAMILY: str(m.family),
            rs.TAG_SOURCE: str(m.source),
            rs.TAG_STUDY: study_name,
            rs.TAG_INNER_KIND: self.inner_kind,
            **environment_tags(self.ctx.git_commit or None),
        }

    def _suggest(self, trial: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """(booster params, strategy params) of a trial (or of a FixedTrial replaying one)."""
        return (
            self.adapter.suggest_params(trial, self.fit_rows),
            self.strategy.suggest(trial, self.task),
        )

    def _startup_params(self, i: int) -> dict[str, Any]:
        """Start-up configuration i: the library defaults first, then random booster
        configurations from a stream that does not depend on the strategy; the strategy's own
        parameters come from a stream of their own."""
        booster = (
            self.adapter.default_params(self.fit_rows)
            if i == 0
            else studies.random_draw(
                derive_seed(self.sampler_seed, "booster", i),
                lambda trial: self.adapter.suggest_params(trial, self.fit_rows),
            )
        )
        loss = studies.random_draw(
            derive_seed(self.sampler_seed, "loss", self.cell.strategy, i),
            lambda trial: self.strategy.suggest(trial, self.task),
        )
        return {**booster, **loss}

    def _loss(self, strategy_params: dict[str, Any], y: np.ndarray) -> LossSpec:
        """The loss of one fit on labels ``y``, scaled to cross-entropy's start curvature unless
        the sweep says ``loss_scale: none``."""
        loss = self.strategy.loss(strategy_params, y, self.k)
        if self.cfg.loss_scale == "hessian":
            loss = scaled_to_cross_entropy(loss, y, self.k)
        return loss

    def _evaluate(
        self, booster_params: dict[str, Any], strategy_params: dict[str, Any]
    ) -> InnerOutcome:
        """Train on each inner training part (resampled, for a data-level strategy), early-stop
        and score on its validation part."""
        X, y = self.X_train, self.y_train
        scores, rounds, positions, probas = [], [], [], []
        notes: dict[str, Any] = {}
        fit_time = 0.0
        for i, (train, valid) in enumerate(self.splits):
            t0 = time.perf_counter()
            rows = self._training_rows(X.iloc[train], y[train], strategy_params, f"inner-{i}")
            notes.update(rows.notes)
            model = self.adapter.fit(
                rows.X,
                rows.y,
                n_classes=self.k,
                params=booster_params,
                loss=self._loss(strategy_params, rows.y),
                rounds=self.cfg.max_rounds,
                valid=(X.iloc[valid], y[valid]),
                stopping=self.stopping,
                seed=self.booster_seed,
                n_threads=self.ctx.threads,
            )
            proba = model.predict_proba(X.iloc[valid])
            fit_time += time.perf_counter() - t0
            scores.append(self.stopping.metric(y[valid], proba))
            rounds.append(model.best_iteration)
            positions.append(valid)
            probas.append(proba)
        return InnerOutcome(
            score=float(np.mean(scores)),
            best_iteration=max(1, int(round(float(np.mean(rounds))))),
            train_rows=float(np.mean([len(train) for train, _ in self.splits])),
            fit_time=fit_time,
            valid_positions=np.concatenate(positions),
            valid_proba=np.concatenate(probas),
            notes=notes,
        )

    def _training_rows(
        self, X: pd.DataFrame, y: np.ndarray, strategy_params: dict[str, Any], which: str
    ) -> Resampled:
        """The rows a fit trains on: a training part, resampled once per fit when the strategy
        is data-level (a seed of its own per fit, the same for every trial)."""
        if not self.strategy.resamples:
            return Resampled(X, y)
        seed = derive_seed(self.booster_seed, "resample", which) % (2**31 - 1)
        return self.strategy.resample(X, y, strategy_params, seed)

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
                    f"last error: {studies.last_error(study)}"
                )
            trial = studies.ask(
                study, cfg.sampler, self.sampler_seed, cfg.n_startup_trials, self._startup_params
            )
            try:
                outcome = self._evaluate(*self._suggest(trial))
                if not np.isfinite(outcome.score):
                    raise FloatingPointError(f"inner score is {outcome.score}")
            except Exception as err:
                log.warning(
                    "cell %s trial %d failed", self.cell.run_name, trial.number, exc_info=True
                )
                trial.set_user_attr(studies.ERROR_ATTR, one_line(err))
                frozen = study.tell(trial, state=TrialState.FAIL)
            else:
                for key, value in outcome.notes.items():
                    trial.set_user_attr(studies.NOTE_PREFIX + key, value)
                trial.set_user_attr(rs.M_TRIAL_SCORE, _natural(outcome.score, cfg.target))
                trial.set_user_attr(rs.M_TRIAL_ROUNDS, outcome.best_iteration)
                trial.set_user_attr(rs.M_TRIAL_FIT_TIME, outcome.fit_time)
                frozen = study.tell(trial, outcome.score)
                self.cache[trial.number] = outcome
            self.trials_run += 1
            number = studies.logical_number(study, frozen)
            self.tracker.log_trial(
                self.ctx.experiment_id,
                self.parent_id,
                studies.trial_record(frozen, self.cell.run_name, number),
            )
            if self.on_trial is not None:
                self.on_trial(self.cell, self.trials_run)

    def _refit_and_score(self) -> _Scored:
        """Threshold from the best trial's inner predictions, refit, one outer-test scoring."""
        cfg, best = self.cfg, self.study.best_trial
        booster_params, strategy_params = self._suggest(FixedTrial(best.params))
        inner = self.cache.get(best.number) or self._evaluate(booster_params, strategy_params)
        threshold = choose_threshold(
            self.y_train[inner.valid_positions], inner.valid_proba, cfg.threshold_objective
        )
        rounds = refit_rounds(inner.best_iteration, len(self.y_train), inner.train_rows)
        t0 = time.perf_counter()
        rows = self._training_rows(self.X_train, self.y_train, strategy_params, "refit")
        loss = self._loss(strategy_params, rows.y)
        model = self.adapter.fit(
            rows.X,
            rows.y,
            n_classes=self.k,
            params=booster_params,
            loss=loss,
            rounds=rounds,
            seed=self.booster_seed,
            n_threads=self.ctx.threads,
        )
        proba = model.predict_proba(self.ds.X.iloc[self.test_idx])
        refit_time = time.perf_counter() - t0
        y_test = self.ds.y[self.test_idx]
        scores = metric_bundle(y_test, proba, threshold)
        scores.update(
            calibrated_metrics(
                self.y_train[inner.valid_positions], inner.valid_proba, y_test, proba
            )
        )
        return _Scored(
            scores=scores,
            threshold=threshold,
            rounds=rounds,
            inner_rounds=inner.best_iteration,
            loss_scale=loss.scale,
            refit_time=refit_time,
            test_rows=self.test_idx,
            y_test=y_test,
            proba=proba,
        )

    def _log(self, scored: _Scored, wall0: float) -> float:
        """Finish the parent run; returns the cell's booster fit+predict seconds."""
        best = self.study.best_trial
        tune_time = sum(
            float(t.user_attrs.get(rs.M_TRIAL_FIT_TIME, 0.0))
            for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        )
        fit_time = tune_time + scored.refit_time
        metrics = {rs.TEST_PREFIX + name: value for name, value in scored.scores.items()}
        metrics.update(
            {
                rs.M_THRESHOLD: scored.threshold,
                rs.M_BEST_ITERATION: scored.rounds,
                rs.M_INNER_SCORE: _natural(float(best.value or 0.0), self.cfg.target),
                rs.M_FIT_TIME: fit_time,
                rs.M_REFIT_TIME: scored.refit_time,
                rs.M_TUNE_TIME: tune_time,
                rs.M_N_TRIALS: studies.counts(self.study)[0],
                rs.M_STARTUP_TRIALS: studies.startup_count(self.study),
                rs.M_INNER_VALID_MINORITY: smallest_class_in_validation(
                    self.y_train, self.splits, self.k
                ),
                rs.M_INNER_ROUNDS: scored.inner_rounds,
                rs.M_LOSS_SCALE: scored.loss_scale,
                rs.M_WALL_TIME: time.perf_counter() - wall0,
            }
        )
        cell, target = self.cell, self.cfg.target
        best_number = studies.logical_number(self.study, best)  # as an uninterrupted study's
        outcome = CellOutcome(
            params={**best.params, rs.P_REFIT_ROUNDS: scored.rounds, rs.P_BEST_TRIAL: best_number},
            metrics=metrics,
            predictions_csv=_predictions_csv(scored.test_rows, scored.y_test, scored.proba),
            datasets=self._dataset_refs(),
            description=(
                f"{cell.dataset} / {cell.booster} / {cell.strategy} / repeat {cell.repeat} "
                f"fold {cell.fold}: outer-test {target} {scored.scores[target]:.4f}"
            ),
        )
        self.tracker.finish_cell(self.parent_id, outcome)
        return fit_time

    def _dataset_refs(self) -> list[DatasetRef]:
        """The outer-training and outer-test parts as MLflow dataset inputs."""
        content = content_digest(self.ctx.catalogue_path, self.cell.dataset)
        source = f"{self.ds.meta.source}:{self.cell.dataset}"
        return [
            DatasetRef(self.cell.dataset, _rows_digest(content, rows), source, context)
            for context, rows in (("train", self.train_idx), ("test", self.test_idx))
        ]


@functools.cache
def content_digest(catalogue_path: str, name: str) -> str:
    """A digest of a dataset's features and labels (once per process and dataset)."""
    ds: Dataset = get_dataset(catalogue_path, name)
    h = hashlib.sha256(pd.util.hash_pandas_object(ds.X, index=False).to_numpy().tobytes())
    h.update(np.ascontiguousarray(ds.y).tobytes())
    return h.hexdigest()


def _rows_digest(content: str, rows: np.ndarray) -> str:
    h = hashlib.sha256(content.encode())
    h.update(np.ascontiguousarray(rows, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


def _natural(score: float, target: str) -> float:
    """Stopping scores are higher-is-better; report the metric's own value."""
    return -score if target in LOWER_IS_BETTER else score


def _predictions_csv(rows: np.ndarray, y: np.ndarray, proba: np.ndarray) -> str:
    frame = pd.DataFrame({"row": rows, "y_true": y})
    for j in range(proba.shape[1]):
        frame[f"p_{j}"] = proba[:, j]
    return frame.to_csv(index=False, float_format="%.8g")
