"""Honest numbers from out-of-fold predictions: coverage, risk, per-campaign metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, roc_auc_score

from features.spec import ProductSpec
from models.conformal import conformal_halfwidth, out_of_spec_probability
from training.cv import regression_metrics


def cross_conformal_coverage(y: np.ndarray, pred: np.ndarray, folds, level: float) -> float:
    """Coverage on each held-out fold of intervals calibrated on the *other* folds."""
    resid = np.abs(y - pred)
    hits, n = 0, 0
    for _, test in folds:
        others = np.setdiff1d(np.arange(len(y)), test)
        w = conformal_halfwidth(resid[others], level)
        r = resid[test]
        r = r[~np.isnan(r)]
        hits += int((r <= w).sum())
        n += r.size
    return hits / n if n else float("nan")


def cross_risk(
    pred: pd.DataFrame, observed: pd.DataFrame, folds, spec: ProductSpec, group: str = "glycans"
) -> np.ndarray:
    """Out-of-spec probability of each run from residual vectors of the other folds."""
    group_limits = spec.glycans if group == "glycans" else spec.downstream
    limits = [lim for lim in group_limits if lim.attribute in pred.columns]
    cols = [lim.attribute for lim in limits]
    lo, hi = np.array([x.min for x in limits]), np.array([x.max for x in limits])
    resid = (observed[cols] - pred[cols]).to_numpy(float)
    out = np.full(len(pred), np.nan)
    for _, test in folds:
        others = np.setdiff1d(np.arange(len(pred)), test)
        out[test] = out_of_spec_probability(pred[cols].to_numpy(float)[test], resid[others], lo, hi)
    return out


def risk_metrics(prob: np.ndarray, outside: np.ndarray) -> dict[str, float]:
    ok = ~np.isnan(prob) & ~np.isnan(outside)
    y = outside[ok].astype(int)
    if len(np.unique(y)) < 2:
        return {"auroc": float("nan"), "brier": float("nan")}
    return {
        "auroc": float(roc_auc_score(y, prob[ok])),
        "brier": float(brier_score_loss(y, prob[ok])),
    }


def reliability_table(prob: np.ndarray, outside: np.ndarray, bins: int = 10) -> pd.DataFrame:
    ok = ~np.isnan(prob) & ~np.isnan(outside)
    frac, mean_pred = calibration_curve(
        outside[ok].astype(int), prob[ok], n_bins=bins, strategy="quantile"
    )
    return pd.DataFrame({"predicted_risk": mean_pred, "observed_out_of_spec": frac})


def per_campaign(y: pd.DataFrame, pred: pd.DataFrame, groups: pd.Series) -> pd.DataFrame:
    rows = []
    for g in sorted(groups.unique()):
        mask = (groups == g).to_numpy()
        for t in y.columns:
            m = regression_metrics(y[t].to_numpy(float)[mask], pred[t].to_numpy(float)[mask])
            rows.append({"campaign_id": g, "target": t, "n_runs": int(mask.sum()), **m})
    return pd.DataFrame(rows)
