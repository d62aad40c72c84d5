"""Optuna search for XGBoost hyper-parameters, one study per model family.

A family (e.g. the glycan attributes) shares one set of boosting hyper-parameters, scored
by the mean of each target's MAE divided by its standard deviation over the grouped folds.
The penalty of each target's linear (ridge) trend is not shared: it is chosen per target
beforehand on the same kind of grouped folds and passed in ``per_target``. The
sampler is a seeded TPE (reproducible for sequential trials, Optuna 5), the pruner stops a
trial whose running score after a fold is worse than the median of earlier trials there.
Each trial is a nested MLflow run when the tuning is the final model's; the tunings
inside the outer folds of the nested evaluation are not logged trial by trial.

The held-out predictions of the best trial on the tuning folds are kept: they are the
calibration residuals of the intervals, the risk and the applicability limits, so no run
is predicted twice and no extra fit is needed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import mlflow
import numpy as np
import optuna
import pandas as pd

from models.estimators import fit_model

log = logging.getLogger(__name__)


# The first trial of every study: a ridge trend with light boosting on what it leaves. It is
# close to the best configuration on the twin and on the peer data, so a small budget
# (a data scientist's first quick run) starts from a sound model instead of a random one.
FIRST_TRIAL = {
    "n_estimators": 100,
    "learning_rate": 0.05,
    "max_depth": 3,
    "min_child_weight": 5.0,
    "subsample": 0.8,
    "colsample_bytree": 0.5,
    "reg_lambda": 1.0,
    "linear_base": True,
}


def suggest(trial: optuna.Trial) -> dict:
    return {
        "n_estimators": trial.suggest_int("n_estimators", 50, 300, step=25),
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
        "max_depth": trial.suggest_int("max_depth", 2, 5),
        "min_child_weight": trial.suggest_float("min_child_weight", 1.0, 20.0, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.2, 0.9),
        "reg_lambda": trial.suggest_float("reg_lambda", 0.1, 20.0, log=True),
        "linear_base": trial.suggest_categorical("linear_base", [False, True]),
    }


@dataclass
class TuningResult:
    """Best parameters of a family and the held-out predictions they gave."""

    params: dict
    oof: pd.DataFrame  # held-out prediction of every run on the tuning folds, per target
    best_value: float
    n_trials: int
    n_pruned: int


def tune_family(
    name: str,
    X: np.ndarray,
    Y: pd.DataFrame,
    folds,
    trials: int,
    seed: int,
    log_mlflow: bool = True,
    per_target: dict[str, dict] | None = None,
) -> TuningResult:
    """Best parameters for the targets in ``Y`` (columns), by grouped CV on ``folds``.

    ``per_target`` holds parameters fixed for one target (e.g. its trend components).
    """
    fixed = per_target or {}
    scale = {t: float(np.nanstd(Y[t])) or 1.0 for t in Y.columns}
    held_out: dict[int, np.ndarray] = {}

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial)
        scores = []
        pred = np.full(Y.shape, np.nan)
        ctx = (
            mlflow.start_run(run_name=f"{name}-trial-{trial.number}", nested=True)
            if log_mlflow
            else None
        )
        try:
            if ctx:
                mlflow.log_params(params)
                mlflow.set_tag("clonescout.role", "trial")
            for k, (train, test) in enumerate(folds):
                fold = []
                for j, t in enumerate(Y.columns):
                    y = Y[t].to_numpy(float)
                    tr = train[~np.isnan(y[train])]
                    own = {**params, **fixed.get(t, {})}
                    pred[test, j] = fit_model(X[tr], y[tr], own, seed).predict(X[test])
                    err = np.abs(pred[test, j] - y[test])
                    fold.append(np.nanmean(err) / scale[t])
                scores.append(float(np.mean(fold)))
                trial.report(float(np.mean(scores)), k)
                if trial.should_prune():
                    if ctx:
                        mlflow.set_tag("state", "pruned")
                    raise optuna.TrialPruned()
            value = float(np.mean(scores))
            held_out[trial.number] = pred
            if ctx:
                mlflow.log_metric("cv_scaled_mae", value)
                mlflow.set_tag("state", "complete")
            return value
        finally:
            if ctx:
                mlflow.end_run()

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="minimize",
        study_name=name,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=0),
    )
    study.enqueue_trial(FIRST_TRIAL)
    study.optimize(objective, n_trials=trials)
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    log.debug(
        "%s: best scaled MAE %.3f after %d trials (%d pruned)",
        name,
        study.best_value,
        len(study.trials),
        pruned,
    )
    oof = pd.DataFrame(held_out[study.best_trial.number], index=Y.index, columns=Y.columns)
    return TuningResult(dict(study.best_params), oof, study.best_value, len(study.trials), pruned)
