"""Optuna search for XGBoost hyper-parameters, one study per model family.

A family (e.g. the glycan attributes) shares one set of hyper-parameters, scored by the
mean of each target's MAE divided by its standard deviation over the grouped folds. The
sampler is a seeded TPE (reproducible for sequential trials, Optuna 5), the pruner stops a
trial whose running score after a fold is worse than the median of earlier trials there.
Each trial is a nested MLflow run.
"""

from __future__ import annotations

import logging

import mlflow
import numpy as np
import optuna
import pandas as pd

from models.estimators import fit_model

log = logging.getLogger(__name__)


def suggest(trial: optuna.Trial) -> dict:
    return {
        "n_estimators": trial.suggest_int("n_estimators", 80, 400, step=20),
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
        "max_depth": trial.suggest_int("max_depth", 2, 6),
        "min_child_weight": trial.suggest_float("min_child_weight", 1.0, 20.0, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.2, 0.9),
        "reg_lambda": trial.suggest_float("reg_lambda", 0.1, 20.0, log=True),
        "linear_base": trial.suggest_categorical("linear_base", [False, True]),
        "trend_components": trial.suggest_int("trend_components", 4, 16, step=2),
    }


def tune_family(
    name: str,
    X: np.ndarray,
    Y: pd.DataFrame,
    folds,
    trials: int,
    seed: int,
    log_mlflow: bool = True,
) -> tuple[dict, optuna.Study]:
    """Best parameters for the targets in ``Y`` (columns), by grouped CV."""
    scale = {t: float(np.nanstd(Y[t])) or 1.0 for t in Y.columns}

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial)
        scores = []
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
                for t in Y.columns:
                    y = Y[t].to_numpy(float)
                    tr = train[~np.isnan(y[train])]
                    te = test[~np.isnan(y[test])]
                    model = fit_model(X[tr], y[tr], params, seed)
                    fold.append(np.mean(np.abs(model.predict(X[te]) - y[te])) / scale[t])
                scores.append(float(np.mean(fold)))
                trial.report(float(np.mean(scores)), k)
                if trial.should_prune():
                    if ctx:
                        mlflow.set_tag("state", "pruned")
                    raise optuna.TrialPruned()
            value = float(np.mean(scores))
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
        pruner=optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1),
    )
    study.optimize(objective, n_trials=trials)
    log.info(
        "%s: best scaled MAE %.3f after %d trials (%d pruned)",
        name,
        study.best_value,
        len(study.trials),
        sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
    )
    return dict(study.best_params), study
