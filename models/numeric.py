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
