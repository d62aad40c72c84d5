"""The baselines every model is judged beside, fitted inside the same folds as the model.

- ``titer_rank``: today's practice, picking clones by titer. Its Spearman is the rank
  correlation of the titer at the horizon day with the outcome (the sign says whether the
  "best" titer clones are good or bad on it); R² and MAE come from a straight line of the
  outcome on that titer, fitted on the training part of each fold. Without titer samples
  it cannot be computed and is recorded as skipped, with the reason.
- ``pls``: what SIMCA users have — partial least squares on the same standardised
  features (median-imputed), its number of components chosen on the inner folds only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.cross_decomposition import PLSRegression
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from models.titerline import MIN_TITER_RUNS
from training.cv import oof_predict, regression_metrics

PLS_COMPONENTS = (2, 4, 6, 8, 10, 12, 15, 20)


def titer_feature(X: pd.DataFrame, horizon_day: float) -> str | None:
    """The titer feature read at the horizon (or the last titer), None without titer."""
    for name in (f"titer_g_l__d{horizon_day:g}".replace(".", "p"), "titer_g_l__last"):
        if name in X.columns and X[name].notna().sum() >= MIN_TITER_RUNS:
            return name
    return None


def no_titer_reason(horizon_day: float) -> str:
    return f"no titer_g_l samples up to day {horizon_day:g}: titer-rank needs a titer"


def pls_pipeline(k: int) -> Pipeline:
    return make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        PLSRegression(n_components=k, scale=False),
    )


def pls_candidates(folds, n_features: int, y: np.ndarray) -> list[int]:
    """Component counts to try: PLS allows fewer than the smallest training fold has runs.

    Only runs with a known target are trained on (``oof_predict``), so they are what counts:
    a fold of 16 runs of which 2 lack the target allows at most 13 components.

    >>> y = np.array([1.0, 2.0, np.nan, 4.0, 5.0, 6.0])
    >>> pls_candidates([(np.arange(4), np.arange(4, 6))], 50, y)
    [2]
    """
    known = min(int(np.sum(~np.isnan(y[train]))) for train, _ in folds)
    max_k = min(known - 1, n_features)
    return [c for c in PLS_COMPONENTS if c <= max_k] or [max(1, max_k)]


def pls_path(A: np.ndarray, y: np.ndarray, folds) -> dict[int, tuple[float, np.ndarray]]:
    """Held-out R² and predictions of PLS with each candidate number of components."""
    out = {}
    for k in pls_candidates(folds, A.shape[1], y):

        def fit_predict(xtr, ytr, xte, k=k):
            return pls_pipeline(k).fit(xtr, ytr).predict(xte).ravel()

        pred = oof_predict(fit_predict, A, y, folds)
        r2 = regression_metrics(y, pred)["r2"]
        out[k] = (-np.inf if np.isnan(r2) else r2, pred)
    return out


def best_pls(
    path: dict[int, tuple[float, np.ndarray]], max_k: int | None = None
) -> tuple[int, np.ndarray]:
    """Components with the best held-out R² (at most ``max_k``), and their predictions.

    >>> path = {2: (0.5, np.zeros(1)), 10: (0.7, np.ones(1)), 15: (0.8, np.ones(1))}
    >>> best_pls(path)[0], best_pls(path, max_k=10)[0]
    (15, 10)
    """
    allowed = [k for k in path if max_k is None or k <= max_k] or [min(path)]
    k = max(allowed, key=lambda c: (path[c][0], -c))
    return k, path[k][1]


def fit_pls(A: np.ndarray, y: np.ndarray, k: int) -> Pipeline:
    ok = ~np.isnan(y)
    return pls_pipeline(min(k, max(1, int(ok.sum()) - 1))).fit(A[ok], y[ok])
