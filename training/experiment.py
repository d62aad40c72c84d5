"""Grouped-CV evaluation of the model and its baselines at one horizon day.

Produces the metrics contract of DESIGN.md §6 for that horizon: per target the model's
Spearman, R², MAE and interval coverage at 80/90%, the baselines' Spearman, R² and MAE,
the noise ceiling when a ``truth`` table exists; and the glycan risk's AUROC and Brier
score beside the same risk computed from PLS predictions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.assemble import TrainingSet
from features.spec import ProductSpec
from models.estimators import fit_model
from simulator.ceiling import noise_ceiling_r2
from training import baselines
from training.cv import oof_predict, regression_metrics
from training.evaluate import cross_conformal_coverage, cross_risk, per_campaign, risk_metrics


@dataclass
class Evaluation:
    """Out-of-fold predictions and the metrics computed from them."""

    horizon_day: float
    oof: pd.DataFrame
    pls_oof: pd.DataFrame
    metrics: dict  # the JSON contract (without run id)
    glyco_risk_oof: np.ndarray | None
    glyco_outside: np.ndarray | None
    campaigns: pd.DataFrame


def model_oof(X: np.ndarray, y: np.ndarray, folds, params: dict, seed: int) -> np.ndarray:
    return oof_predict(lambda a, b, c: fit_model(a, b, params, seed).predict(c), X, y, folds)


def _target_block(
    ts: TrainingSet,
    t: str,
    oof: np.ndarray,
    folds,
    with_baselines: bool,
    truth: pd.DataFrame | None,
    outcomes: pd.DataFrame | None,
    horizon_day: float,
) -> tuple[dict, np.ndarray | None]:
    y = ts.y[t].to_numpy(float)
    block: dict = {
        "model": {
            **regression_metrics(y, oof),
            "coverage_80": cross_conformal_coverage(y, oof, folds, 0.8),
            "coverage_90": cross_conformal_coverage(y, oof, folds, 0.9),
        }
    }
    pls_pred = None
    if with_baselines:
        _, titer_m = baselines.titer_rank(ts.X, y, folds, horizon_day)
        pls_pred, pls_m, k = baselines.pls(ts.X, y, folds)
        block["baselines"] = {"titer_rank": titer_m, "pls": {**pls_m, "n_components": k}}
    if truth is not None and outcomes is not None and t in truth.columns:
        block["noise_ceiling_r2"] = noise_ceiling_r2(truth, outcomes, t)
    return block, pls_pred


def evaluate(
    ts: TrainingSet,
    params: dict[str, dict],
    folds,
    spec: ProductSpec,
    seed: int,
    horizon_day: float,
    with_baselines: bool = True,
    truth: pd.DataFrame | None = None,
    outcomes: pd.DataFrame | None = None,
) -> Evaluation:
    X = ts.X.to_numpy(np.float32)
    oof, pls_oof, targets = {}, {}, {}
    for t in ts.y.columns:
        oof[t] = model_oof(X, ts.y[t].to_numpy(float), folds, params[t], seed)
        targets[t], pls_pred = _target_block(
            ts, t, oof[t], folds, with_baselines, truth, outcomes, horizon_day
        )
        if pls_pred is not None:
            pls_oof[t] = pls_pred
    oof_df = pd.DataFrame(oof, index=ts.X.index)
    pls_df = pd.DataFrame(pls_oof, index=ts.X.index)
    metrics: dict = {
        "horizon_day": horizon_day,
        "n_runs": len(ts.X),
        "n_campaigns": int(ts.groups.nunique()),
        "targets": targets,
    }
    risk, outside = None, None
    glycans = [g for g in spec.glycan_attributes if g in ts.y.columns]
    if glycans:
        observed = ts.y[glycans]
        outside = spec.out_of_spec(observed).to_numpy(float)
        risk = cross_risk(oof_df, observed, folds, spec)
        metrics["glyco_risk"] = {"model": risk_metrics(risk, outside)}
        if with_baselines:
            pls_risk = cross_risk(pls_df, observed, folds, spec)
            metrics["glyco_risk"]["baselines"] = {"pls": risk_metrics(pls_risk, outside)}
    return Evaluation(
        horizon_day, oof_df, pls_df, metrics, risk, outside, per_campaign(ts.y, oof_df, ts.groups)
    )
