"""P(out of spec) from predictive draws: the one rule for the culture and the process model.

A prediction's distribution is a set of *draws*: its point plus each held-out residual of
the calibration runs (:mod:`models.conformal` for the culture model, :mod:`models.process`
for the process model). The probability of missing a spec limit is the share of draws that
miss it, and two choices make that share; both are made here, once, so the culture model's
risk columns and the process model's what-if verdicts answer the same question the same way:

- **A draw is cut back to the attribute's physical bounds** (:func:`models.bounds.clip`)
  before it is judged. A draw beyond a bound is a measurement that cannot happen — a yield
  of 104 %, an HMW of -0.3 % — and the point predictions and interval ends are cut back
  the same way, so the risk describes the distribution the intervals describe. Cutting back
  is monotone, so it can change a verdict only for a limit that sits at or beyond a bound
  (``dsp_yield_pct: {max: 100}`` or ``hmw_pct: {min: 0}``: an impossible draw then counted
  as a miss). Every limit of the shipped ``data/spec.yaml`` lies strictly inside its bounds,
  so there it changes no probability (measured on ``data/sample`` with a model trained on
  it: none of the 320 values of any risk column moved). With ``man5_pct: {min: 0}`` the
  old unclipped rule put up to 0.49 of a run's probability on Man5 draws below zero.
- **A draw misses a limit when** :meth:`features.contract.spec.Limit.outside` **says so**:
  the rule that judges a measured outcome judges a predicted one.

>>> from features.contract.spec import Limit
>>> yield_max_100 = [Limit("dsp_yield_pct", 65.0, 100.0)]
>>> out_of_spec_probability(np.array([[99.0]]), np.array([[-2.0], [0.5], [3.0]]), yield_max_100)
array([0.])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from features.contract.spec import Limit
from models.bounds import clip

CHUNK_ROWS = 2000  # bounds memory: rows x residuals per attribute per chunk


def predictive_draws(point: np.ndarray, residuals: np.ndarray, attribute: str) -> np.ndarray:
    """(rows, draws) of ``attribute``: each row's point plus every residual, cut back.

    ``point`` has one value per row, ``residuals`` one per calibration run.
    """
    drawn = np.asarray(point, float)[:, None] + np.asarray(residuals, float)[None, :]
    return clip(drawn, attribute)


def judge(
    drawn: Mapping[str, np.ndarray], limits: Iterable[Limit]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Spec verdicts read off draws of :func:`predictive_draws`.

    Returns, per row and draw, whether every judged limit is met, and per judged limit the
    probability (share of draws) that it alone is missed. A limit whose attribute has no
    draws is not judged.
    """
    meets = np.ones(1, bool)
    missed: dict[str, np.ndarray] = {}
    for lim in limits:
        if lim.attribute in drawn:
            out = lim.outside(drawn[lim.attribute])
            missed[lim.attribute] = out.mean(axis=1)
            meets = meets & ~out
    return meets, missed


def out_of_spec_probability(
    points: np.ndarray, residuals: np.ndarray, limits: Sequence[Limit]
) -> np.ndarray:
    """P(any of ``limits`` missed) per row; NaN for a row with a missing point.

    ``points`` is (rows, limits) and ``residuals`` (calibration runs, limits): column j
    belongs to ``limits[j]``. Residual vectors are used whole (only complete ones), so the
    correlation between attributes is kept (G0F up when G2F down).
    """
    points = np.asarray(points, dtype=float)
    res = np.asarray(residuals, dtype=float)
    res = res[~np.isnan(res).any(axis=1)]
    out = np.full(points.shape[0], np.nan)
    if res.size == 0:
        return out
    for start in range(0, points.shape[0], CHUNK_ROWS):
        p = points[start : start + CHUNK_ROWS]
        drawn = {
            lim.attribute: predictive_draws(p[:, j], res[:, j], lim.attribute)
            for j, lim in enumerate(limits)
        }
        meets, _ = judge(drawn, limits)
        out[start : start + CHUNK_ROWS] = np.where(
            np.isnan(p).any(axis=1), np.nan, (~meets).mean(axis=1)
        )
    return out


def spec_probabilities(
    points: np.ndarray, residuals: np.ndarray, limits: Sequence[Limit]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """:func:`out_of_spec_probability` of ``limits`` together, and of each limit alone.

    The same numbers as one call for the group and one per limit (on its own column), with
    each attribute's draws made and judged once for both. A limit alone draws from every
    calibration run that has its attribute, the group only from complete residual vectors:
    when a calibration run lacks one, the calls are made apart.
    """
    points = np.asarray(points, dtype=float)
    res = np.asarray(residuals, dtype=float)
    if res.shape[0] == 0 or np.isnan(res).any():
        alone = {
            lim.attribute: out_of_spec_probability(points[:, [j]], res[:, [j]], [lim])
            for j, lim in enumerate(limits)
        }
        return out_of_spec_probability(points, res, limits), alone
    group = np.full(points.shape[0], np.nan)
    alone = {lim.attribute: np.full(points.shape[0], np.nan) for lim in limits}
    for start in range(0, points.shape[0], CHUNK_ROWS):
        rows = slice(start, start + CHUNK_ROWS)
        p = points[rows]
        meets = np.ones(1, bool)
        for j, lim in enumerate(limits):
            out = lim.outside(predictive_draws(p[:, j], res[:, j], lim.attribute))
            alone[lim.attribute][rows] = np.where(np.isnan(p[:, j]), np.nan, out.mean(axis=1))
            meets = meets & ~out
        group[rows] = np.where(np.isnan(p).any(axis=1), np.nan, (~meets).mean(axis=1))
    return group, alone
