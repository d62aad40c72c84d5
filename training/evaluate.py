"""Honest numbers from the outer held-out predictions: accuracy, coverage, risk, domain.

Every figure here is computed on runs of outer folds the recipe never saw. Coverage is
reported overall, per quartile of the predicted value (where flags are decided, near the
spec limits, is where a constant width fails) and per held-out campaign (min / median /
max: batch effects make some campaigns harder). A coverage that cannot be estimated is
said to be so, never reported as 1.0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, roc_auc_score

from models.conformal import LEVELS
from training.cv import regression_metrics

MIN_RUNS_PER_CAMPAIGN = 10  # a campaign with fewer held-out runs has no coverage of its own


def _nan_to_none(x: float) -> float | None:
    return None if x is None or np.isnan(x) else float(x)


def coverage_report(
    y: np.ndarray, lo: np.ndarray, hi: np.ndarray, point: np.ndarray, campaigns: np.ndarray
) -> dict:
    """Share of observed values inside [lo, hi]: overall, by quartile, by campaign."""
    ok = ~np.isnan(y)
    if not ok.any():
        return {"estimable": False, "reason": "no observed value"}
    if np.isnan(lo[ok]).any() or np.isnan(hi[ok]).any():
        return {
            "estimable": False,
            "reason": (
                "too few calibration runs or campaigns for this level in at least one "
                "outer fold (a new campaign's offset cannot be calibrated at it)"
            ),
        }
    hit = pd.Series(((lo <= y) & (y <= hi))[ok])
    quartile = pd.qcut(point[ok], 4, labels=False, duplicates="drop")
    per_campaign = hit.groupby(campaigns[ok]).agg(["mean", "size"])
    big = per_campaign[per_campaign["size"] >= MIN_RUNS_PER_CAMPAIGN]["mean"]
    by_campaign: dict = {
        "n_campaigns": len(big),
        "n_too_small": int(len(per_campaign) - len(big)),
    }
    if len(big):
        by_campaign |= {"min": big.min(), "median": big.median(), "max": big.max()}
    return {
        "estimable": True,
        "overall": float(hit.mean()),
        "n": int(ok.sum()),
        "by_predicted_quartile": [float(v) for v in hit.groupby(quartile).mean()],
        "by_campaign": {
            k: float(v) if k in ("min", "median", "max") else v for k, v in by_campaign.items()
        },
    }


def per_fold(y: np.ndarray, pred: np.ndarray, folds) -> dict[str, list[float | None]]:
    rows = [regression_metrics(y[test], pred[test]) for _, test in folds]
    return {k: [_nan_to_none(r[k]) for r in rows] for k in ("mae", "spearman", "r2")}


def paired_difference(a: list, b: list) -> dict[str, float | None]:
    """Mean of a - b over folds and its standard error (the fold-to-fold spread)."""
    from training.gate import paired

    mean, se = paired(a, b)
    return {"mean": _nan_to_none(mean), "se": _nan_to_none(se)}


def risk_metrics(prob: np.ndarray, outside: np.ndarray) -> dict[str, float]:
    ok = ~np.isnan(prob) & ~np.isnan(outside)
    y = outside[ok].astype(int)
    if len(np.unique(y)) < 2:
        return {"auroc": float("nan"), "brier": float("nan")}
    return {
        "auroc": float(roc_auc_score(y, prob[ok])),
        "brier": float(brier_score_loss(y, prob[ok])),
    }


def risk_per_fold(prob: np.ndarray, outside: np.ndarray, folds) -> dict[str, list]:
    rows = [risk_metrics(prob[test], outside[test]) for _, test in folds]
    return {k: [_nan_to_none(r[k]) for r in rows] for k in ("auroc", "brier")}


def flag_metrics(flagged: np.ndarray, bad: np.ndarray) -> dict[str, float]:
    """Flag precision (flagged runs measured out of spec) and recall (out-of-spec runs flagged).

    ``bad``: 1 out of spec, 0 within, NaN unmeasured (left out). NaN when undefined (nothing
    flagged, nothing out of spec).

    >>> flag_metrics(np.array([True, True, False, False]), np.array([1.0, 0.0, 1.0, np.nan]))
    {'precision': 0.5, 'recall': 0.5}
    """
    ok = ~np.isnan(bad)
    f, b = np.asarray(flagged, bool)[ok], bad[ok] > 0
    return {
        "precision": float(b[f].mean()) if f.any() else float("nan"),
        "recall": float(f[b].mean()) if b.any() else float("nan"),
    }


def flag_per_fold(flagged: np.ndarray, bad: np.ndarray, folds) -> dict[str, list]:
    rows = [flag_metrics(flagged[test], bad[test]) for _, test in folds]
    return {k: [_nan_to_none(r[k]) for r in rows] for k in ("precision", "recall")}


def reliability_table(prob: np.ndarray, outside: np.ndarray, bins: int = 10) -> pd.DataFrame:
    ok = ~np.isnan(prob) & ~np.isnan(outside)
    frac, mean_pred = calibration_curve(
        outside[ok].astype(int), prob[ok], n_bins=bins, strategy="quantile"
    )
    return pd.DataFrame({"predicted_risk": mean_pred, "observed_out_of_spec": frac})


def per_campaign(y: pd.DataFrame, pred: pd.DataFrame, campaigns: pd.Series) -> pd.DataFrame:
    rows = []
    for g in sorted(campaigns.unique()):
        mask = (campaigns == g).to_numpy()
        for t in y.columns:
            m = regression_metrics(y[t].to_numpy(float)[mask], pred[t].to_numpy(float)[mask])
            rows.append({"campaign_id": g, "target": t, "n_runs": int(mask.sum()), **m})
    return pd.DataFrame(rows)


def interval_width(lo: np.ndarray, hi: np.ndarray) -> dict[str, float | None]:
    w = (hi - lo)[~np.isnan(hi - lo)]
    if not w.size:
        return {"median": None, "p10": None, "p90": None}
    return {
        "median": float(np.median(w)),
        "p10": float(np.quantile(w, 0.1)),
        "p90": float(np.quantile(w, 0.9)),
    }


def coverage_blocks(y, outer, t: str, campaigns: np.ndarray) -> tuple[dict, dict]:
    """``coverage_80``/``coverage_90`` (None when not estimable) and the detail."""
    point = outer.point[t].to_numpy(float)
    flat, detail = {}, {}
    for lv in LEVELS:
        lo, hi = outer.lower[(t, lv)], outer.upper[(t, lv)]
        rep = coverage_report(y, lo, hi, point, campaigns)
        rep["width"] = interval_width(lo, hi)
        detail[str(lv)] = rep
        flat[f"coverage_{round(lv * 100)}"] = rep.get("overall") if rep["estimable"] else None
    return flat, detail
