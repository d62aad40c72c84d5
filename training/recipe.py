"""One recipe, fitted the same way inside every outer fold and once on all data.

Given the runs it may see, the recipe makes every choice from them alone: which features
carry information (constant and empty columns are dropped), the hyper-parameters (Optuna
on inner folds grouped like the outer ones, with each target's ridge-trend penalty chosen
beforehand), each target's weights of its learner families (titer line, PLS, ridge,
boosted: :mod:`training.selection`), the interval scale and quantiles, the risk
residuals and the applicability limits (all from held-out predictions on calibration
folds, also grouped), the measurement families the model relies on, and the baselines'
own choices (PLS components). The calibration folds are more than the tuning folds so that
their held-out residuals come from models trained on nearly as many runs as the fitted
model: fewer runs make larger errors, and intervals calibrated on them cover more than
they say. Inside the nested evaluation it never sees the outer test fold; the model
that is logged is this recipe fitted on all runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import mlflow
import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from features.contract.spec import ProductSpec
from models.applicability import ApplicabilityDomain
from models.conformal import IntervalCalibrator
from models.estimators import TargetModel, fit_model
from models.families import required_families
from models.predictor import Predictor
from models.titerline import TiterLine
from training import baselines
from training.cv import make_folds, oof_predict
from training.selection import weigh_families
from training.trend import choose_trend_alpha
from training.tuning import tune_family
from training.workers import SERIAL, Tuner

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipe:
    """The settings that are the same in every fold."""

    families: dict[str, list[str]]  # model family -> its targets (share hyper-parameters)
    spec: ProductSpec
    horizon_day: float
    measurements: list[str]  # sample measurements the featurizer knows
    trials: int = 15
    inner_folds: int = 3  # for tuning
    calibration_folds: int = 5  # for intervals, risk, applicability limits, PLS
    seed: int = 7
    tuner: Tuner = SERIAL  # where Optuna's trials run (this process, or N workers)


@dataclass
class FittedRecipe:
    """The recipe fitted on one set of runs: the model and its baselines."""

    predictor: Predictor
    params: dict[str, dict]
    dropped: list[str]  # features dropped as constant or empty on these runs
    inner_oof: pd.DataFrame
    pls: dict[str, Pipeline]
    pls_components: dict[str, int]
    pls_residuals: pd.DataFrame  # inner held-out residuals of PLS (for its risk)
    titer: dict[str, TiterLine] = field(default_factory=dict)
    tuning: dict[str, dict] = field(default_factory=dict)
    selection: dict[str, dict] = field(default_factory=dict)  # target -> weights, why, scores

    def pls_predict(self, X: pd.DataFrame) -> pd.DataFrame:
        A = self.predictor.matrix(X).astype(float)
        return pd.DataFrame({t: m.predict(A).ravel() for t, m in self.pls.items()}, index=X.index)

    def titer_predict(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({t: m.predict(X) for t, m in self.titer.items()}, index=X.index)


def usable_features(X: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Columns with at least two distinct values, and the constant or empty ones dropped."""
    n_distinct = X.nunique(dropna=True)
    keep = [c for c in X.columns if n_distinct[c] >= 2]
    return keep, [c for c in X.columns if n_distinct[c] < 2]


def training_constants(X: pd.DataFrame, dropped: list[str]) -> dict[str, float]:
    """The one value of each dropped column that had one (empty columns have none).

    >>> X = pd.DataFrame({"run__ph": [7.0, 7.0, None], "run__x": [None, None, None]})
    >>> training_constants(X, ["run__ph", "run__x"])
    {'run__ph': 7.0}
    """
    out = {}
    for c in dropped:
        values = pd.to_numeric(X[c], errors="coerce").dropna()
        if len(values):
            out[c] = float(values.iloc[0])
    return out


def _tune(
    A, Y, folds, r: Recipe, log_mlflow: bool, trend: dict[str, dict]
) -> tuple[dict, pd.DataFrame, dict]:
    params: dict[str, dict] = {}
    oof: dict[str, np.ndarray] = {}
    summary: dict[str, dict] = {}
    for name, targets in r.families.items():
        args = (name, A, Y[targets], folds, r.trials, r.seed)
        if log_mlflow:
            with mlflow.start_run(run_name=f"tune-{name}", nested=True):
                mlflow.set_tag("clonescout.role", "tuning")
                res = tune_family(*args, log_mlflow=True, per_target=trend, tuner=r.tuner)
                mlflow.log_params(res.params)
                mlflow.log_metric("best_inner_cv_scaled_mae", res.best_value)
                mlflow.set_tag("optuna.workers", str(res.workers))
                if res.study_name:
                    mlflow.set_tag("optuna.study", res.study_name)
        else:
            res = tune_family(*args, log_mlflow=False, per_target=trend, tuner=r.tuner)
        summary[name] = {
            "best_inner_scaled_mae": res.best_value,
            "trials": res.n_trials,
            "pruned": res.n_pruned,
            "workers": res.workers,
        }
        if res.study_name:
            summary[name]["optuna_study"] = res.study_name
        for t in targets:
            params[t], oof[t] = {**res.params, **trend[t]}, res.oof[t].to_numpy()
    return params, pd.DataFrame(oof, index=Y.index)[list(Y.columns)], summary


def _fixed_oof(
    A, Y: pd.DataFrame, folds, params: dict, seed: int, threads: int = 0
) -> pd.DataFrame:
    out = {}
    for t in Y.columns:

        def fit_predict(a, b, c, t=t):
            return fit_model(a, b, params[t], seed, threads).predict(c)

        out[t] = oof_predict(fit_predict, A, Y[t].to_numpy(float), folds)
    return pd.DataFrame(out, index=Y.index)


def fit_recipe(
    X: pd.DataFrame,
    Y: pd.DataFrame,
    groups: pd.Series,
    r: Recipe,
    log_mlflow: bool = False,
    fixed_params: dict[str, dict] | None = None,
) -> FittedRecipe:
    """Fit the recipe on these runs (``X``, ``Y``, CV ``groups`` aligned on run_id).

    With ``fixed_params`` nothing is tuned: the given hyper-parameters are refitted (used
    to re-evaluate a champion on a candidate's folds).
    """
    names, dropped = usable_features(X)
    A = X[names].to_numpy(np.float32)
    folds = make_folds(groups, r.calibration_folds)
    A64, targets = A.astype(float), [str(t) for t in Y.columns]
    pls = {
        t: baselines.best_pls(baselines.pls_path(A64, Y[t].to_numpy(float), folds)) for t in targets
    }
    selection: dict[str, dict] = {}
    if fixed_params is None:
        trend = {
            t: {"trend_alpha": choose_trend_alpha(A, Y[t].to_numpy(float), folds)} for t in targets
        }
        tuning_folds = make_folds(groups, r.inner_folds)
        boosted, oof, tuning = _tune(A, Y, tuning_folds, r, log_mlflow, trend)
        if len(tuning_folds) != len(folds):
            oof = _fixed_oof(A, Y, folds, boosted, r.seed, r.tuner.threads)
        titer = baselines.titer_feature(X[names], r.horizon_day)
        line = None if titer is None else {"family": "titer", "feature": titer}
        params, oof, selection = _select(
            A, Y, folds, r, pls, trend, boosted, oof, line and _resolve(line, names)
        )
    else:
        titer = baselines.titer_feature(X[names], r.horizon_day)
        params = {t: _refit(fixed_params[t], names, titer) for t in Y.columns}
        tuning = {}
        oof = _fixed_oof(A, Y, folds, params, r.seed, r.tuner.threads)
    models: dict[str, TargetModel] = {}
    calibrators = {}
    for t in Y.columns:
        y = Y[t].to_numpy(float)
        ok = ~np.isnan(y)
        models[t] = fit_model(A[ok], y[ok], params[t], r.seed, r.tuner.threads)
        calibrators[t] = IntervalCalibrator.fit(
            oof[t].to_numpy(), y, A, folds, r.seed, groups.to_numpy()
        )
    predictor = Predictor(
        feature_names=names,
        models=models,
        intervals=calibrators,
        risk_residuals=(Y - oof).reset_index(drop=True),
        spec=r.spec,
        domain=ApplicabilityDomain.fit(A.astype(float), folds),
        required=required_families(X, names, r.measurements),
        horizon_day=r.horizon_day,
        constants=training_constants(X, dropped),
    )
    fitted = FittedRecipe(
        predictor, params, dropped, oof, {}, {}, pd.DataFrame(), {}, tuning, selection
    )
    _fit_baselines(fitted, X, A.astype(float), Y, pls, r.horizon_day)
    return fitted


def _resolve(params: dict, names: list[str]) -> dict:
    """A titer line's column in these features (another set of runs may keep others)."""
    if params.get("family") != "titer":
        return params
    return {**params, "column": names.index(params["feature"])}


def _refit(params: dict, names: list[str], titer: str | None) -> dict:
    """A champion's parameters, made to fit these runs and this recipe's horizon.

    Its titer line is a line on the titer *at the horizon*, so it moves to this horizon's
    titer feature. Where these runs have none, the line's weight goes to the other
    members in proportion (said in the log); a champion that was the titer line alone
    cannot be refitted without titer and is refused.
    """
    line = None if titer is None else {"family": "titer", "feature": titer}
    if params.get("family") == "titer":
        if line is None:
            raise ValueError(
                "the champion ranks by the titer at its horizon (it used "
                f"{params.get('feature', '?')}), and these runs have no titer at this "
                "horizon: re-evaluate on runs with titer samples up to the horizon"
            )
        return _resolve(line, names)
    if params.get("family") != "blend":
        return params
    weights = dict(params["weights"])
    members = dict(params["members"])
    if "titer" in members and line is None:
        log.warning("no titer at this horizon: the champion's titer-line weight is shared out")
        weights.pop("titer")
        members.pop("titer")
        total = sum(weights.values())
        if total <= 0:
            raise ValueError("the champion's blend was the titer line alone; these runs lack titer")
        weights = {f: w / total for f, w in weights.items()}
    members = {f: _refit(p, names, titer) for f, p in members.items()}
    return {**params, "weights": weights, "members": members}


def _select(
    A: np.ndarray,
    Y: pd.DataFrame,
    folds,
    r: Recipe,
    pls: dict[str, tuple[int, np.ndarray]],
    trend: dict[str, dict],
    boosted: dict[str, dict],
    boosted_oof: pd.DataFrame,
    titer_line: dict | None,
) -> tuple[dict[str, dict], pd.DataFrame, dict[str, dict]]:
    """Each target's blend of families, its parameters and its held-out predictions.

    The titer line (when there is titer at the horizon), PLS (components chosen on these
    folds), ridge (penalty chosen on these folds) and the tuned boosted model are weighed
    on the same held-out runs (:mod:`training.selection`); the blend's cross-fitted
    predictions become the calibration residuals of intervals, risk and domain.
    """
    candidates = {
        t: {
            "pls": {"family": "pls", "n_components": pls[t][0]},
            "ridge": {"family": "ridge", **trend[t]},
            "boosted": {"family": "boosted", **boosted[t]},
        }
        for t in Y.columns
    }
    if titer_line is not None:
        for c in candidates.values():
            c["titer"] = titer_line
    linear = {
        f: _fixed_oof(A, Y, folds, {t: c[f] for t, c in candidates.items()}, r.seed)
        for f in ("ridge", "titer")
        if f in candidates[Y.columns[0]]
    }
    params, oof, selection = {}, {}, {}
    for t in Y.columns:
        held_out: dict[str, np.ndarray] = {
            "pls": pls[t][1],
            "boosted": boosted_oof[t].to_numpy(),
            **{f: frame[t].to_numpy() for f, frame in linear.items()},
        }
        sel = weigh_families(Y[t].to_numpy(float), held_out, folds)
        members = {f: candidates[t][f] for f, w in sel.weights.items() if w > 0}
        params[t] = {"family": "blend", "weights": sel.weights, "members": members}
        oof[t], selection[t] = sel.oof, sel.to_dict()
        log.info("%s: %s", t, sel.why)
    return params, pd.DataFrame(oof, index=Y.index), selection


def _fit_baselines(
    fitted: FittedRecipe,
    X: pd.DataFrame,
    A: np.ndarray,
    Y: pd.DataFrame,
    pls: dict[str, tuple[int, np.ndarray]],
    horizon: float,
) -> None:
    """PLS with its held-out choice of components, and the titer line (if there is titer)."""
    resid = {}
    feature = baselines.titer_feature(X, horizon)
    for t in Y.columns:
        y = Y[t].to_numpy(float)
        k, pred = pls[t]
        fitted.pls_components[t] = k
        fitted.pls[t] = baselines.fit_pls(A, y, k)
        resid[t] = y - pred
        line = None if feature is None else TiterLine.fit(X, y, feature)
        if line is not None:
            fitted.titer[t] = line
    fitted.pls_residuals = pd.DataFrame(resid, index=Y.index)
