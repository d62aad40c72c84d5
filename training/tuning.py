"""Optuna search for XGBoost hyper-parameters, one study per model family.

A family (e.g. the glycan attributes) shares one set of boosting hyper-parameters, scored
by the mean of each target's MAE divided by its standard deviation over the grouped folds.
The penalty of each target's linear (ridge) trend is not shared: it is chosen per target
beforehand on the same kind of grouped folds and passed in ``per_target``. The
sampler is a seeded TPE (reproducible for sequential trials, Optuna 5), the pruner stops a
trial whose running score after a fold is worse than the median of earlier trials there
(both, the search space and the trial's objective are in :mod:`training.objective`).

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
from dataclasses import dataclass

import mlflow
import numpy as np
import optuna
import pandas as pd

from training.objective import Objective
from training.workers import SERIAL, Tuner

log = logging.getLogger(__name__)


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
