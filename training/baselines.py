"""The baselines every model run is logged beside.

- ``titer_rank``: today's practice, picking clones by titer. Its Spearman is the rank
  correlation of the titer at the horizon day with the outcome (the sign says whether the
  "best" titer clones are good or bad on it); R² and MAE come from a straight line of the
  outcome on that titer, fitted within each grouped fold.
- ``pls``: what SIMCA users have — partial least squares on the same standardised
  features (median-imputed), with the number of components chosen on the grouped folds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.cross_decomposition import PLSRegression
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from training.cv import oof_predict, regression_metrics

PLS_COMPONENTS = (2, 4, 6, 8, 10)


def titer_column(X: pd.DataFrame, horizon_day: float) -> str:
    for name in (f"titer_g_l__d{horizon_day:g}".replace(".", "p"), "titer_g_l__last"):
        if name in X.columns:
            return name
    raise ValueError("no titer feature: the titer-rank baseline needs titer_g_l samples")


def titer_rank(
    X: pd.DataFrame, y: np.ndarray, folds, horizon_day: float
) -> tuple[np.ndarray, dict[str, float]]:
    col = titer_column(X, horizon_day)
    titer = X[[col]].to_numpy(float)

    def fit_predict(xtr, ytr, xte):
        model = make_pipeline(SimpleImputer(strategy="median"), LinearRegression())
        return model.fit(xtr, ytr).predict(xte)

    pred = oof_predict(fit_predict, titer, y, folds)
    m = regression_metrics(y, pred)
    ok = ~np.isnan(y) & ~np.isnan(titer[:, 0])
    m["spearman"] = float(spearmanr(titer[ok, 0], y[ok]).statistic)
    return pred, m


def _pls(k: int):
    return make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        PLSRegression(n_components=k, scale=False),
    )


def pls(X: pd.DataFrame, y: np.ndarray, folds) -> tuple[np.ndarray, dict[str, float], int]:
    Xa = X.to_numpy(float)
    best = None
    # PLS allows at most as many components as the smallest training fold has runs
    max_k = min(min(len(train) for train, _ in folds) - 1, Xa.shape[1])
    for k in [c for c in PLS_COMPONENTS if c <= max_k] or [max(1, max_k)]:

        def fit_predict(xtr, ytr, xte, k=k):
            return _pls(k).fit(xtr, ytr).predict(xte).ravel()

        pred = oof_predict(fit_predict, Xa, y, folds)
        m = regression_metrics(y, pred)
        if best is None or m["r2"] > best[1]["r2"]:
            best = (pred, m, k)
    assert best is not None
    return best
