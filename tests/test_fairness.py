"""A fair fight (issue 14), the pure parts: every loss starts with cross-entropy's curvature,
the inner scheme holds enough minority rows, budgets let TPE propose, focal's search space is
checked, and a resumed study proposes what an uninterrupted one does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from bench import objectives
from bench.boosters import _catboost, _common
from bench.boosters.base import LossSpec
from bench.config import adaptive_startup_trials, build_config
from bench.errors import BenchError
from bench.strategies import make_strategy
from bench.strategies.scale import scaled_to_cross_entropy
from bench.sweep import studies
from bench.sweep.plan import plan_sweep
from bench.sweep.protocol import inner_scheme, refit_rounds

pytestmark = pytest.mark.unit

RNG = np.random.default_rng(0)
Y2 = (RNG.random(400) < 0.06).astype(np.int64)  # ~6% positives
Y3 = RNG.choice(3, size=300, p=[0.7, 0.22, 0.08]).astype(np.int64)


def _start_rows(start, n: int, k: int) -> np.ndarray:
    return _common.start_rows(start, n, k)


def _booster_hessian_sum(booster: str, loss: LossSpec, y: np.ndarray, k: int) -> float:
    """The summed Hessian the booster itself receives at the start margin, through the
    adapter's own code path (native losses: the library's own formula, times the weights)."""
    start = _common.start_margin(y, k, loss)
    z = _start_rows(start, len(y), k)
    if loss.kind in ("ce", "weighted"):
        p = _common.margin_to_proba(z, k)
        per_row = p[:, 1] * p[:, 0] if k == 2 else (p * (1 - p)).sum(axis=1)
        w = _common.sample_weights(y, loss)
        factor = 1.0 if k == 2 else _factor(booster, k)
        return float(factor * (per_row if w is None else per_row * w).sum())
    if booster in ("lightgbm", "xgboost"):
        factor = 1.0 if k == 2 else objectives.native_softmax_hessian_factor(booster, k)
        return float(_common.focal_kernel(y, k, loss, hess_factor=factor)(z)[1].sum())
    weights = np.full(len(y), loss.scale)  # what the CatBoost adapter puts on the Pool
    if k == 2:
        out = _catboost._BinaryFocal(loss).calc_ders_range(z, y.astype(np.float64), weights)
        return float(-out[:, 1].sum())
    obj = _catboost._MultiFocal(loss, k)
    return float(
        sum(
            -np.trace(np.array(obj.calc_ders_multi(z[i], y[i], weights[i])[1]))
            for i in range(len(y))
        )
    )


def _factor(booster: str, k: int) -> float:
    # Native softmax Hessians: LightGBM K/(K-1) p(1-p), XGBoost 2 p(1-p), CatBoost p(1-p).
    return 1.0 if booster == "catboost" else objectives.native_softmax_hessian_factor(booster, k)


STRATEGY_SETTINGS = [
    ("ce", {}, {}),
    ("weighted", {"weight_power": 1.5}, {}),
    ("weighted", {"weight_power": 0.25}, {}),
    ("focal", {"gamma": 2.0, "alpha_logit": 2.0, "alpha_power": 1.0}, {}),
    ("focal", {"gamma": 5.0, "alpha_logit": -2.9, "alpha_power": 0.0}, {}),
    ("focal", {"gamma": 1.0, "alpha_logit": 0.5, "alpha_power": 0.5}, {"hessian": "clip"}),
    ("focal", {"gamma": 2.0, "alpha_logit": 3.0, "alpha_power": 1.5}, {"hessian": "exact"}),
    ("focal-gamma", {"gamma": 3.0}, {}),
]


@pytest.mark.parametrize("booster", ["lightgbm", "xgboost", "catboost"])
@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize(("strategy", "params", "focal"), STRATEGY_SETTINGS)
def test_every_loss_starts_with_cross_entropys_total_hessian(booster, k, strategy, params, focal):
    cfg = build_config(None, {"focal": focal}) if focal else None
    y = Y2 if k == 2 else Y3
    keys = {"alpha_power"} if k == 2 else {"alpha_logit"}
    loss = make_strategy(strategy, cfg).loss(
        {n: v for n, v in params.items() if n not in keys}, y, k
    )
    scaled = scaled_to_cross_entropy(loss, y, k)
    ce = _booster_hessian_sum(booster, LossSpec("ce"), y, k)
    got = _booster_hessian_sum(booster, scaled, y, k)
    if (
        focal.get("hessian") == "exact"
        and objectives.focal_start_hessian_sum(
            y, k, alpha=loss.alpha, gamma=loss.gamma, hessian="exact"
        )
        <= 0
    ):
        pytest.skip("the exact Hessian sums to <= 0 here: the scale follows the surrogate's")
    assert got == pytest.approx(ce, rel=1e-9)
    if strategy == "ce":
        assert scaled.scale == 1.0


def test_focal_with_gamma_zero_and_no_alpha_is_left_exactly_as_cross_entropy():
    for y, k in ((Y2, 2), (Y3, 3)):
        loss = LossSpec("focal", alpha=None, gamma=0.0, hessian="surrogate")
        assert scaled_to_cross_entropy(loss, y, k).scale == 1.0


def test_focal_hessians_are_much_smaller_than_cross_entropys_before_scaling():
    """The finding behind the scale: unscaled, the same lambda regularises focal far harder."""
    loss = make_strategy("focal").loss({"gamma": 2.0, "alpha_logit": 0.0}, Y2, 2)
    scaled = scaled_to_cross_entropy(loss, Y2, 2)
    assert scaled.scale > 2.0
    weighted = make_strategy("weighted").loss({"weight_power": 1.0}, Y2, 2)
    assert scaled_to_cross_entropy(weighted, Y2, 2).scale < 1.0


@pytest.mark.parametrize(
    ("minority", "expected"), [(10, "kfold"), (119, "kfold"), (120, "holdout"), (200, "holdout")]
)
def test_auto_inner_scheme_follows_the_minority_count(minority, expected):
    cfg = build_config(None, {})  # 3 outer folds, holdout 0.25, min_minority 20
    assert inner_scheme(cfg, minority) == expected
    assert inner_scheme(build_config(None, {"inner": {"kind": "holdout"}}), minority) == "holdout"


def test_the_planner_chooses_the_inner_scheme_per_dataset(tmp_path: Path):
    rng = np.random.default_rng(1)
    for name, n_pos in (("rare", 10), ("common", 200)):
        pd.DataFrame(
            {"x": rng.normal(size=600), "label": [1] * n_pos + [0] * (600 - n_pos)}
        ).to_csv(tmp_path / f"{name}.csv", index=False)
    (tmp_path / "datasets.yaml").write_text(
        "datasets:\n"
        "  rare: {source: file, path: rare.csv, target: label}\n"
        "  common: {source: file, path: common.csv, target: label}\n"
    )
    cfg = build_config(
        None, {"datasets": ["rare", "common"], "catalogue": str(tmp_path / "datasets.yaml")}
    )
    plan = plan_sweep(cfg)
    assert plan.inner == {"rare": "kfold", "common": "holdout"}
    assert plan.inner_summary() == "inner holdout on 1 dataset(s), 3-fold on 1"


def test_refit_rounds_scale_with_the_rows_the_refit_sees():
    assert refit_rounds(100, 300, 225.0) == 133  # holdout 0.25: 1 / 0.75
    assert refit_rounds(60, 300, 200.0) == 90  # inner 3-fold: 3 / 2
    assert refit_rounds(1, 10, 9.0) == 1


@pytest.mark.parametrize(
    ("trials", "startup"), [(1, 1), (2, 1), (4, 2), (8, 4), (20, 10), (60, 10)]
)
def test_start_up_trials_adapt_to_the_budget(trials, startup):
    assert adaptive_startup_trials(trials) == startup
    if trials >= 8:
        assert trials - startup >= trials / 2  # TPE proposes at least half
    cfg = build_config(None, {"trials": trials})
    assert cfg.n_startup_trials == startup
    assert build_config(None, {"trials": trials, "sampler": "random"}).n_startup_trials == trials


@pytest.mark.parametrize(
    ("focal", "needle"),
    [
        ({"gamma": [3, 1]}, "low <= high, got [3.0, 1.0]"),
        ({"gamma": [-1, 2]}, ">= 0, got [-1.0, 2.0]"),
        ({"gamma": [1]}, "focal.gamma"),
        ({"alpha": "sometimes"}, "focal.alpha"),
    ],
)
def test_bad_focal_settings_name_the_key_and_value(focal, needle):
    with pytest.raises(BenchError) as err:
        build_config(None, {"focal": focal})
    message = str(err.value)
    assert "focal" in message and needle in message and "\n" not in message


def test_ece_is_refused_as_a_target_with_the_reason():
    with pytest.raises(
        BenchError, match=r"'ece' cannot be a tuning target: a constant class prior"
    ):
        build_config(None, {"target": "ece"})


def test_pinned_gamma_with_no_alpha_is_allowed():
    cfg = build_config(None, {"focal": {"gamma": [0, 0], "alpha": "none"}})
    assert cfg.focal.gamma == (0.0, 0.0) and cfg.focal.alpha == "none"


def _run_study(interrupt_at: int | None, fail_at: int | None = None) -> list[dict]:
    """8 COMPLETE trials of a toy objective through ``studies.ask``; optionally a trial left
    RUNNING at logical index ``interrupt_at`` (a killed process) and reaped."""
    study = optuna.create_study(direction="maximize")

    def startup(i: int) -> dict:
        return {"x": 0.5} if i == 0 else studies.random_draw(i, _space)

    def score(params: dict) -> float:
        return -((params["x"] - 0.3) ** 2) - 0.1 * (params["n"] - 3) ** 2

    killed = False
    while studies.counts(study)[0] < 8:
        trial = studies.ask(study, "tpe", 7, 3, startup)
        params = _space(trial)
        index = studies.logical_index(study)  # this trial's place in the history
        if interrupt_at is not None and not killed and index == interrupt_at:
            killed = True  # the process dies mid-trial; a resumed sweep reaps the trial
            studies.reap_stale(study)
            continue
        if fail_at is not None and index == fail_at:
            trial.set_user_attr(studies.ERROR_ATTR, "boom")
            study.tell(trial, state=TrialState.FAIL)
            continue
        study.tell(trial, score(params))
    return [t.params for t in study.get_trials(states=(TrialState.COMPLETE,))]


def _space(trial) -> dict:
    return {"x": trial.suggest_float("x", 0.0, 1.0), "n": trial.suggest_int("n", 1, 6)}


@pytest.mark.parametrize("interrupt_at", [1, 4, 6])
def test_a_resumed_study_proposes_exactly_what_an_uninterrupted_one_does(interrupt_at):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    assert _run_study(interrupt_at) == _run_study(None)
    assert _run_study(interrupt_at, fail_at=2) == _run_study(None, fail_at=2)


def test_start_up_draws_do_not_replay():
    """The old way (a sampler rebuilt with the study's seed on resume) repeated its first draws;
    here every trial of the history has its own stream."""
    params = _run_study(None)
    assert len({round(p["x"], 12) for p in params}) == len(params)
