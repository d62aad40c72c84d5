"""The ridge penalty of each target's linear trend, chosen on grouped held-out folds."""

from __future__ import annotations

import numpy as np

from models.estimators import LinearTrend, ridge_path

ALPHAS = tuple(float(a) for a in np.logspace(-1, 4, 21))  # standardised-feature units


def choose_trend_alpha(A: np.ndarray, y: np.ndarray, folds) -> float:
    """The penalty with the lowest held-out squared error over ``folds`` (rows of ``A``).

    Each fold learns its own imputation and scaling from its training rows only; one SVD
    per fold gives the whole path of penalties.

    >>> rng = np.random.default_rng(0)
    >>> A = rng.normal(size=(120, 5)); y = A[:, 0] + rng.normal(0, 0.5, 120)
    >>> idx = np.arange(120)
    >>> folds = [(idx[idx % 4 != k], idx[idx % 4 == k]) for k in range(4)]
    >>> 0.1 <= choose_trend_alpha(A, y, folds) <= 100.0
    True
    """
    A = np.asarray(A, dtype=float)
    y = np.asarray(y, dtype=float)
    sse = np.zeros(len(ALPHAS))
    for train, test in folds:
        tr = train[~np.isnan(y[train])]
        te = test[~np.isnan(y[test])]
        if len(tr) < 3 or not len(te):
            continue
        base = LinearTrend.standardiser(A[tr])
        coefs = ridge_path(base.standardised(A[tr]), y[tr], ALPHAS)
        pred = base.standardised(A[te]) @ coefs.T + y[tr].mean()
        sse += ((pred - y[te, None]) ** 2).sum(axis=0)
    return ALPHAS[int(np.argmin(sse))]
