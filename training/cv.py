"""Cross-validation grouped by campaign, and the metrics every model is judged on.

Campaigns carry batch effects (media lot, assay drift); a random split of runs would let a
model learn a campaign's offset from its sister runs and report a skill it will not have
on the next campaign. Every split here keeps whole groups together. With fewer than
``MIN_CAMPAIGNS`` campaigns the groups are clones instead — the numbers then say how well
the model does on new clones of *these* campaigns, and every output says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import GroupKFold

MIN_CAMPAIGNS = 3


@dataclass(frozen=True)
class Grouping:
    """The CV groups actually used, and why."""

    column: str  # "campaign_id" or "clone_id"
    groups: pd.Series  # group per run (index run_id)
    note: str  # "" when grouped by campaign


def choose_grouping(ids: pd.DataFrame) -> Grouping:
    """Campaigns when there are at least three, else clones (said in ``note``)."""
    ids = ids.set_index("run_id")
    n_campaigns = ids["campaign_id"].nunique()
    if n_campaigns >= MIN_CAMPAIGNS:
        return Grouping("campaign_id", ids["campaign_id"].astype(str), "")
    note = (
        f"only {n_campaigns} campaign(s): cross-validation groups by clone, so the metrics "
        "say how the model does on new clones of these campaigns, not on a new campaign"
    )
    return Grouping("clone_id", ids["clone_id"].astype(str), note)


def make_folds(groups: pd.Series | np.ndarray, n_folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train/test index pairs with whole groups on one side (at most one fold per group)."""
    g = np.asarray(groups).astype(str)
    n_groups = len(np.unique(g))
    if n_groups < 2:
        raise ValueError(f"grouped CV needs at least 2 groups, found {n_groups}")
    k = min(n_folds, n_groups)
    return list(GroupKFold(n_splits=k).split(np.zeros(len(g)), groups=g))


def fold_index(folds, n: int) -> np.ndarray:
    """The test fold of each of ``n`` rows."""
    out = np.full(n, -1)
    for k, (_, test) in enumerate(folds):
        out[test] = k
    return out


def oof_predict(
    fit_predict: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    folds,
) -> np.ndarray:
    """Out-of-fold predictions; rows with a missing target are never trained on."""
    out = np.full(len(y), np.nan)
    for train, test in folds:
        tr = train[~np.isnan(y[train])]
        out[test] = fit_predict(X[tr], y[tr], X[test])
    return out


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    ok = ~np.isnan(y) & ~np.isnan(pred)
    if ok.sum() < 3 or np.ptp(y[ok]) == 0:
        return {"spearman": float("nan"), "r2": float("nan"), "mae": float("nan")}
    rho = spearmanr(y[ok], pred[ok]).statistic if np.ptp(pred[ok]) > 0 else float("nan")
    return {
        "spearman": float(rho),
        "r2": float(r2_score(y[ok], pred[ok])),
        "mae": float(mean_absolute_error(y[ok], pred[ok])),
    }
