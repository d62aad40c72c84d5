"""Optuna search for XGBoost hyper-parameters, one study per model family.

A family (e.g. the glycan attributes) shares one set of boosting hyper-parameters, scored
by the mean of each target's MAE divided by its standard deviation over the grouped folds.
The penalty of each target's linear (ridge) trend is not shared: it is chosen per target
beforehand on the same kind of grouped folds and passed in ``per_target``. The
sampler is a seeded TPE (reproducible for sequential trials, Optuna 5), the pruner stops a
trial whose running score after a fold is worse than the median of earlier trials there.

Where the trials run is the :class:`~training.workers.Tuner`'s business: in this process
(the default, reproducible), or in N worker processes sharing the study through Optuna's
storage (PostgreSQL for a team, a journal file otherwise). Each trial of the final model's
tuning becomes a nested MLflow run once the study is done; the tunings inside the outer
folds of the nested evaluation are not logged trial by trial.

The held-out predictions of the best trial on the tuning folds are kept: they are the
calibration residuals of the intervals, the risk and the applicability limits, so no run
is predicted twice and no extra fit is needed.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import mlflow
import numpy as np
import optuna
import pandas as pd

from models.estimators import fit_model
from training.workers import SERIAL, Tuner

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


def make_sampler(seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.TPESampler(seed=seed)


def make_pruner() -> optuna.pruners.BasePruner:
    return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=0)


@dataclass(frozen=True)
class Objective:
    """Grouped-CV scaled MAE of one family's targets: what every worker's trials compute.

    A plain picklable object (not a closure) so that worker processes can receive it.
    """

    X: np.ndarray
    Y: pd.DataFrame
    folds: list
    seed: int
    fixed: dict[str, dict]  # parameters fixed per target (its trend penalty)
    threads: int = 0  # XGBoost threads per fit; 0: every core

    def optimize(self, study: optuna.Study, n_trials: int) -> dict[int, np.ndarray]:
        """Run ``n_trials`` trials of ``study``; the held-out predictions of each completed one."""
        held_out: dict[int, np.ndarray] = {}
        scale = {t: float(np.nanstd(self.Y[t])) or 1.0 for t in self.Y.columns}

        def objective(trial: optuna.Trial) -> float:
            trial.set_user_attr("worker_pid", os.getpid())
            params = suggest(trial)
            pred = np.full(self.Y.shape, np.nan)
            scores = []
            for k, (train, test) in enumerate(self.folds):
                scores.append(self._fold_score(params, train, test, pred, scale))
                trial.report(float(np.mean(scores)), k)
                if trial.should_prune():
                    raise optuna.TrialPruned()
            held_out[trial.number] = pred
            return float(np.mean(scores))

        study.optimize(objective, n_trials=n_trials)
        return held_out

    def _fold_score(self, params: dict, train, test, pred: np.ndarray, scale: dict) -> float:
        errors = []
        for j, t in enumerate(self.Y.columns):
            y = self.Y[t].to_numpy(float)
            tr = train[~np.isnan(y[train])]
            own = {**params, **self.fixed.get(t, {})}
            model = fit_model(self.X[tr], y[tr], own, self.seed, self.threads)
            pred[test, j] = model.predict(self.X[test])
            errors.append(np.nanmean(np.abs(pred[test, j] - y[test])) / scale[t])
        return float(np.mean(errors))


@dataclass
class TuningResult:
    """Best parameters of a family and the held-out predictions they gave."""

    params: dict
    oof: pd.DataFrame  # held-out prediction of every run on the tuning folds, per target
    best_value: float
    n_trials: int
    n_pruned: int
    study_name: str | None = None  # in the tuner's storage; None when kept in memory
    workers: int = 1


def tune_family(
    name: str,
    X: np.ndarray,
    Y: pd.DataFrame,
    folds,
    trials: int,
    seed: int,
    log_mlflow: bool = True,
    per_target: dict[str, dict] | None = None,
    tuner: Tuner = SERIAL,
) -> TuningResult:
    """Best parameters for the targets in ``Y`` (columns), by grouped CV on ``folds``.

    ``per_target`` holds parameters fixed for one target (e.g. its trend components).
    ``tuner`` says where the trials run (here, or in worker processes sharing the study).
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    objective = Objective(X, Y, list(folds), seed, per_target or {})
    study, held_out = tuner.run(name, objective, trials, seed)
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    log.debug(
        "%s: best scaled MAE %.3f after %d trials (%d pruned, %d worker(s))",
        name,
        study.best_value,
        len(study.trials),
        pruned,
        tuner.workers,
    )
    if log_mlflow:
        log_trials(name, study)
    oof = pd.DataFrame(held_out[study.best_trial.number], index=Y.index, columns=Y.columns)
    return TuningResult(
        dict(study.best_params),
        oof,
        study.best_value,
        len(study.trials),
        pruned,
        study.study_name if tuner.keeps_studies else None,
        tuner.workers,
    )


def log_trials(name: str, study: optuna.Study) -> None:
    """One nested MLflow run per trial (parameters, score, state, worker), in trial order."""
    for trial in sorted(study.trials, key=lambda t: t.number):
        with mlflow.start_run(run_name=f"{name}-trial-{trial.number}", nested=True):
            mlflow.log_params(trial.params)
            mlflow.set_tag("clonescout.role", "trial")
            mlflow.set_tag("state", trial.state.name.lower())
            if "worker_pid" in trial.user_attrs:
                mlflow.set_tag("worker_pid", str(trial.user_attrs["worker_pid"]))
            if trial.value is not None:
                mlflow.log_metric("cv_scaled_mae", trial.value)
