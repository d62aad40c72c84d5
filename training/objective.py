"""What one Optuna trial computes: the search space, the first trial, sampler and pruner.

Shared by the tuning in this process (:mod:`training.tuning`) and by the worker processes
that share a study (:mod:`training.workers`), which receive the :class:`Objective` pickled.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import optuna
import pandas as pd

from models.estimators import fit_model

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
