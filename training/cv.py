"""Cross-validation grouped by campaign, and the metrics every model is judged on.

Campaigns carry batch effects (media lot, assay drift); a random split of runs would let a
model learn a campaign's offset from its sister runs and report a skill it will not have
on the next campaign. Every split here keeps whole campaigns together.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import GroupKFold

log = logging.getLogger(__name__)
MIN_GROUPS = 3


def make_folds(
    groups: pd.Series, n_folds: int, fallback: pd.Series | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train/test index pairs with whole groups on one side.

    With fewer than three campaigns (e.g. one emulator campaign), the folds group by
    ``fallback`` (clones) instead, and say so.
    """
    g = groups.astype(str).to_numpy()
    if len(np.unique(g)) < MIN_GROUPS:
        if fallback is None:
            raise ValueError(
                f"grouped CV needs at least {MIN_GROUPS} campaigns, found {len(np.unique(g))}"
            )
        log.warning(
            "only %d campaign(s): cross-validation groups by clone instead", len(np.unique(g))
        )
        g = fallback.astype(str).to_numpy()
    k = min(n_folds, len(np.unique(g)))
    return list(GroupKFold(n_splits=k).split(np.zeros(len(g)), groups=g))


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
    if ok.sum() < 3:
        return {"spearman": float("nan"), "r2": float("nan"), "mae": float("nan")}
    return {
        "spearman": float(spearmanr(y[ok], pred[ok]).statistic),
        "r2": float(r2_score(y[ok], pred[ok])),
        "mae": float(mean_absolute_error(y[ok], pred[ok])),
    }
