"""Estimate the clone x condition surface of purified product from held-out residuals.

The next-experiment proposals (:mod:`models.nextexp`) model a clone's departure from the
process model as a constant clone effect plus a smooth surface over the conditions. Their
three numbers come from the training history's out-of-fold residuals of purified product
(titer x yield), never from the clone being planned:

- ``offset_var``: the variance of clones' mean residuals, less the part their own
  run-to-run scatter explains (one-way ANOVA, as for the anchor);
- ``surface_var`` and ``length_scale``: a variogram of pairs of runs of the same clone
  under different conditions. Half the squared difference of their residuals, less the two
  runs' assay noise, estimates ``surface_var * (1 - matern52(distance, length_scale))``;
  ``length_scale`` is the grid value with the least squared error, and ``surface_var`` its
  non-negative least-squares fit (Cressie 1985 fits variograms the same way).

The assay noise is not estimated: pairs of runs of a clone under the same condition are
too rare in a screening history to separate it from the surface, so it comes from the
assays' stated precision (:data:`models.nextexp.TITER_CV`, :data:`~models.nextexp.YIELD_SD`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.nextexp import TITER_CV, YIELD_SD, assay_noise, matern52, unit
from models.process import TITER, YIELD, ProcessModel

LENGTHS = np.geomspace(0.05, 3.0, 40)  # in box-widths (every factor scaled to 0-1)


def estimate_surface(
    pm: ProcessModel,
    table: pd.DataFrame,
    oof: dict[str, np.ndarray],
    variance_parts,
) -> dict[str, float]:
    """The surface's three numbers from held-out predictions ``oof`` of the runs ``table``."""
    titer, yld = table[TITER].to_numpy(float), table[YIELD].to_numpy(float)
    resid = titer * yld / 100.0 - oof[TITER] * oof[YIELD] / 100.0
    clones = table["clone_id"].astype(str).to_numpy()
    offset_var, _ = variance_parts(resid, clones)
    U = unit(pm, table)
    noise = assay_noise(titer, yld, TITER_CV, YIELD_SD)
    a, b = _pairs(clones, resid)
    d = np.sqrt(((U[a] - U[b]) ** 2).sum(1))
    g = 0.5 * (resid[a] - resid[b]) ** 2 - 0.5 * (noise[a] + noise[b])
    keep = ~np.isnan(g)
    d, g = d[keep], g[keep]
    best = (np.inf, float(LENGTHS[0]), 0.0)
    for length in LENGTHS:
        h = 1.0 - matern52(d, float(length))
        s2 = max(float((g * h).sum() / max((h * h).sum(), 1e-12)), 0.0)
        sse = float(((g - s2 * h) ** 2).sum())
        if sse < best[0]:
            best = (sse, float(length), s2)
    return {
        "offset_var": float(offset_var),
        "surface_var": best[2],
        "length_scale": best[1],
        "pairs": len(d),
    }


def _pairs(clones: np.ndarray, resid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every unordered pair of runs of the same clone with a residual."""
    a, b = [], []
    ok = ~np.isnan(resid)
    for members in pd.Series(np.arange(len(clones))[ok]).groupby(clones[ok]):
        m = members[1].to_numpy()
        for i in range(len(m)):
            for j in range(i + 1, len(m)):
                a.append(m[i])
                b.append(m[j])
    return np.array(a, int), np.array(b, int)
