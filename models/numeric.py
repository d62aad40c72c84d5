"""Small numeric helpers shared by the model parts."""

from __future__ import annotations

import numpy as np


def column_medians(X: np.ndarray) -> np.ndarray:
    """Median of each column ignoring NaN; 0 for a column with no value at all.

    >>> column_medians(np.array([[1.0, np.nan], [3.0, np.nan]])).tolist()
    [2.0, 0.0]
    """
    out = np.zeros(X.shape[1])
    has = ~np.isnan(X).all(axis=0)
    if has.any():
        out[has] = np.nanmedian(X[:, has], axis=0)
    return out


def standardiser(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median, mean and scale that impute then standardise ``X``'s columns.

    Missing values take the column's median; a constant column keeps scale 1 (it
    standardises to 0). The one impute -> scale rule of the linear trend and the
    applicability domain.

    >>> med, mean, scale = standardiser(np.array([[1.0, 5.0], [3.0, 5.0], [np.nan, 5.0]]))
    >>> med.tolist(), mean.tolist(), scale.tolist()
    ([2.0, 5.0], [2.0, 5.0], [0.816496580927726, 1.0])
    """
    median = column_medians(X)
    Z = np.where(np.isnan(X), median, X)
    mean, scale = Z.mean(axis=0), Z.std(axis=0)
    return median, mean, np.where(scale > 1e-12, scale, 1.0)


def standardise(X: np.ndarray, median: np.ndarray, mean: np.ndarray, scale: np.ndarray):
    """``X`` imputed and standardised with the parameters of :func:`standardiser`.

    (x - mean) / scale, the missing x replaced by the median first; worked in place on one
    float64 copy (scoring calls it for every linear member of every chunk).
    """
    Z = np.array(X, dtype=float)
    np.copyto(Z, np.broadcast_to(median, Z.shape), where=np.isnan(Z))
    Z -= mean
    Z /= scale
    return Z
