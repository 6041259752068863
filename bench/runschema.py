"""Names shared by the writer (tracking) and the readers (report, resume) of MLflow runs.

MLflow is the system of record: changing a name here changes what old sweeps look like to
the report, so add names rather than rename them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

# Metric names are defined once, by the metric bundle; re-exported here for the readers.
from bench.metrics import CALIBRATED as CALIBRATED
from bench.metrics import LOWER_IS_BETTER as LOWER_IS_BETTER
from bench.metrics import THRESHOLD_FREE as THRESHOLD_FREE
from bench.metrics import THRESHOLDED as THRESHOLDED

# Experiment tags (one experiment per sweep).
EXP_SWEEP = "bench.sweep"  # sweep name
EXP_CONFIG_HASH = "bench.config_hash"  # stable hash of the sweep config
EXP_CONFIG = "bench.config"  # the resolved sweep config as JSON
EXP_COMMAND = "bench.command"  # the command line that reproduces the sweep
EXP_CREATED = "bench.created"  # ISO time of the first run of the sweep
EXP_SKIPPED = "bench.skipped"  # JSON: booster x strategy pairs the planner skipped, and why

# Run roles.
ROLE = "bench.role"
ROLE_CELL = "cell"  # parent run: one per dataset x booster x strategy x repeat x fold
ROLE_TRIAL = "trial"  # child run: one per Optuna trial
ROLE_SUMMARY = "summary"  # the report's run
TAG_REPORT_METRIC = "bench.report.metric"  # summary run: the metric its report compares

# Parent (cell) run tags.
TAG_SWEEP = "bench.sweep"
TAG_CELL_KEY = "bench.cell_key"
TAG_DATASET = "bench.dataset"
TAG_BOOSTER = "bench.booster"
TAG_STRATEGY = "bench.strategy"
TAG_REPEAT = "bench.repeat"
TAG_FOLD = "bench.fold"
TAG_N_ROWS = "bench.n_rows"
TAG_N_FEATURES = "bench.n_features"
TAG_N_CLASSES = "bench.n_classes"
TAG_MINORITY = "bench.minority_count"
TAG_CLASS_COUNTS = "bench.class_counts"  # the dataset's rows per class, comma-separated
TAG_IMBALANCE_RATIO = "bench.imbalance_ratio"
TAG_TIER = "bench.tier"
TAG_FAMILY = "bench.family"
TAG_SOURCE = "bench.source"
TAG_GIT_COMMIT = "bench.git_commit"
TAG_HOST = "bench.host"
TAG_CPU = "bench.cpu"  # model, vector extensions, BLAS kernel: what moves last bits
TAG_VERSION_PREFIX = "bench.version."  # + library name, e.g. bench.version.lightgbm
TAG_STUDY = "bench.study"  # Optuna study name
TAG_LOG_FILE = "bench.log_file"  # the worker log holding a failed cell's full traceback
TAG_INNER_KIND = "bench.inner_kind"  # "holdout" or "kfold": how this cell's trials were scored

# Child (trial) run tags.
TAG_TRIAL_NUMBER = "bench.trial_number"
TAG_TRIAL_STATE = "bench.trial_state"  # COMPLETE | PRUNED | FAIL
TAG_ERROR = "bench.error"  # short error text of a failed trial
TAG_NOTE_PREFIX = "bench.note."  # + what a trial's resampler adapted, e.g. k_neighbors_used

# Parent-run metrics: outer-test scores, one scoring per cell.
TEST_PREFIX = "test_"
AT_HALF = "_t050"  # thresholded metric at the fixed 0.5 threshold (argmax for multiclass)
AT_TUNED = "_tuned"  # thresholded metric at the threshold chosen on inner validation data


def test_metric_names() -> list[str]:
    """Every outer-test metric a finished parent run holds."""
    names = [TEST_PREFIX + m for m in THRESHOLD_FREE]
    for m in THRESHOLDED:
        names += [TEST_PREFIX + m + AT_HALF, TEST_PREFIX + m + AT_TUNED]
    return names + [TEST_PREFIX + m for m in CALIBRATED]


# Other parent-run metrics.
M_THRESHOLD = (
    "threshold"  # chosen decision threshold (binary; 0.5-equivalent argmax for multiclass)
)
M_BEST_ITERATION = "best_iteration"  # rounds of the refit model
M_INNER_ROUNDS = "inner_best_iteration"  # the best trial's early-stopped rounds (inner mean)
M_LOSS_SCALE = "loss_scale"  # the refit's gradient/Hessian scale (1: the loss as it is)
M_INNER_SCORE = "inner_best_score"  # best trial's inner validation score (tuning target)
M_FIT_TIME = "fit_time_s"  # booster fit + predict seconds, all trials + refit of the cell
M_REFIT_TIME = "refit_time_s"
M_TUNE_TIME = "tune_time_s"
M_WALL_TIME = "cell_wall_time_s"
M_N_TRIALS = "n_trials_complete"
M_STARTUP_TRIALS = (
    "n_trials_startup"  # of the COMPLETE trials, how many the start-up phase proposed
)
M_INNER_VALID_MINORITY = "inner_valid_minority"  # fewest minority rows in an inner validation part

# Child-run metrics (also the Optuna trial's user attributes of the same names).
M_TRIAL_SCORE = "inner_score"  # the tuning target on the inner validation part
M_TRIAL_ROUNDS = "best_iteration"  # early-stopped rounds (mean over inner folds)
M_TRIAL_FIT_TIME = "fit_time_s"  # booster fit + predict seconds of the trial
TRIAL_METRICS = (M_TRIAL_SCORE, M_TRIAL_ROUNDS, M_TRIAL_FIT_TIME)

# Parent-run params besides the best trial's own.
P_REFIT_ROUNDS = "refit_rounds"
P_BEST_TRIAL = "best_trial"

# Parent-run artifact with outer-test predictions (row index, y_true, proba per class).
PREDICTIONS_ARTIFACT = "predictions/test_predictions.csv"


FINISHED = "FINISHED"
R = TypeVar("R")


def parent_rank(status: str | None, start_time: float | None) -> tuple[bool, float]:
    """Sort key of a cell's parent runs: the first one counts (FINISHED first, then the oldest
    start). The sweep (resume, duplicate clean-up) and the report apply this one rule."""
    return (status != FINISHED, float(start_time or 0))


def preferred_parent(runs: Sequence[R]) -> tuple[R, list[R]]:
    """Of one cell's MLflow parent runs, the one that counts and the others."""
    ordered = sorted(runs, key=lambda r: parent_rank(_info(r).status, _info(r).start_time))
    return ordered[0], ordered[1:]


def _info(run: Any) -> Any:
    return run.info
