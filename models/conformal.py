"""Split-conformal intervals and out-of-spec probabilities from held-out residuals.

Residuals come from runs of campaigns the model did not see when it predicted them
(cross-validation grouped by campaign), so the interval half-width at level 1-a, the
ceil((n+1)(1-a))/n empirical quantile of |residual|, covers new campaigns at the nominal
level (Vovk et al.; Lei et al. 2018) as long as campaigns are exchangeable.

The predictive distribution of a run's glycan profile is its predicted profile plus each
held-out residual *vector* (all attributes of one calibration run together), so the
correlation between attributes (G0F up when G2F down) is kept, and the probability of
being out of spec is re-computed for any spec without retraining.

>>> conformal_halfwidth(np.array([1.0, 2.0, 3.0, 4.0]), 0.5)
3.0
"""

from __future__ import annotations

import math

import numpy as np

CHUNK_ROWS = 2000  # bounds memory: rows x residuals x attributes per chunk


def conformal_halfwidth(abs_residuals: np.ndarray, level: float) -> float:
    """Finite-sample conformal quantile of absolute residuals for coverage ``level``."""
    r = np.sort(np.asarray(abs_residuals, dtype=float)[~np.isnan(abs_residuals)])
    n = r.size
    if n == 0:
        return float("nan")
    rank = math.ceil((n + 1) * level)
    return float(r[min(rank, n) - 1]) if rank <= n else float("inf")


def out_of_spec_probability(
    predictions: np.ndarray, residuals: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> np.ndarray:
    """P(any attribute outside [lower, upper]) per row.

    ``predictions`` is (rows, attrs); ``residuals`` (calibration runs, attrs) holds observed
    minus predicted for held-out runs, with complete rows only.
    """
    predictions = np.asarray(predictions, dtype=float)
    res = np.asarray(residuals, dtype=float)
    res = res[~np.isnan(res).any(axis=1)]
    out = np.full(predictions.shape[0], np.nan)
    if res.size == 0:
        return out
    for start in range(0, predictions.shape[0], CHUNK_ROWS):
        p = predictions[start : start + CHUNK_ROWS]
        draws = p[:, None, :] + res[None, :, :]
        bad = ((draws < lower) | (draws > upper)).any(axis=2)
        prob = bad.mean(axis=1)
        out[start : start + CHUNK_ROWS] = np.where(np.isnan(p).any(axis=1), np.nan, prob)
    return out
