"""Candidate process conditions for one clone: made, completed, screened and scored.

The parts :func:`models.whatif.whatif`, :mod:`models.nextexp` and the campaign path share:
a space-filling set over the training box (:func:`space_filling`), a user's grid with every
factor (:func:`complete`), the split into candidates inside the box and the process model's
applicability domain and the others with their reason (:func:`split_candidates`), and the
scores of each candidate (:func:`score_candidates`): expected purified product (titer x
purification yield, g/L of harvest) with its interval, P(meet every spec limit), each
outcome with its interval and each limit's risk.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.bounds import clip
from models.flags import limit_risk_column
from models.process import LEVEL, TITER, YIELD, ProcessModel
from models.spec_risk import judge

CHUNK = 256  # candidates scored per block (bounds the draw arrays' memory)
EPP = "expected_product_g_l"
P_SPEC = "p_meet_spec"
IN_SPEC = "expected_in_spec_product_g_l"  # product counted only in draws that meet the spec


def boot_column(figure: str, k: int) -> str:
    """Column of ``figure`` (EPP or IN_SPEC) by the process model's bootstrap model ``k``."""
    return f"{figure}__bootstrap{k}"


class WhatIfError(ValueError):
    """A what-if request that cannot be answered as asked (said what and why)."""


def space_filling(pm: ProcessModel, n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` Latin-hypercube points over the training box (every factor set)."""
    from scipy.stats import qmc

    u = qmc.LatinHypercube(d=len(pm.factors), seed=seed).random(n)
    lo, hi = box_bounds(pm)
    return pd.DataFrame(lo + u * (hi - lo), columns=pm.factors)


def box_bounds(pm: ProcessModel) -> tuple[np.ndarray, np.ndarray]:
    """Low and high ends of the training box, one entry per factor in ``pm.factors``."""
    lo = np.array([pm.box[f][0] for f in pm.factors])
    hi = np.array([pm.box[f][1] for f in pm.factors])
    return lo, hi


def complete(pm: ProcessModel, grid: pd.DataFrame) -> pd.DataFrame:
    """A grid with every factor: unknown columns refused, absent factors at the reference."""
    extra = [c for c in grid.columns if c not in pm.factors and c != "source"]
    if extra:
        raise WhatIfError(
            f"grid columns {extra} are not process factors of this model; the factors are "
            f"{pm.factors} (absent ones take the platform value)"
        )
    out = grid.copy()
    for f in pm.factors:
        if f not in out:
            out[f] = pm.reference[f]
        out[f] = pd.to_numeric(out[f], errors="coerce")
    # text that is not a number would silently become "no value"
    for c in [c for c in grid.columns if c in pm.factors]:
        lost = grid[c].notna() & out[c].isna()
        if lost.any():
            raise WhatIfError(
                f"grid column {c!r}, row {int(np.flatnonzero(lost)[0]) + 1}: "
                f"{grid[c][lost].iloc[0]!r} is not a number"
            )
    if "source" not in out:
        out["source"] = "grid"
    return out[[*pm.factors, "source"]].reset_index(drop=True)


def score_candidates(
    pm: ProcessModel,
    clone: pd.Series,
    cands: pd.DataFrame,
    offsets: dict[str, float],
    anchored: bool,
    limits: list,
) -> pd.DataFrame:
    """Predictions, intervals, expected product and P(spec) for candidates (no checks)."""
    lo_q, hi_q = (1 - LEVEL) / 2, 1 - (1 - LEVEL) / 2
    parts = []
    for start in range(0, len(cands), CHUNK):
        c = cands.iloc[start : start + CHUNK].reset_index(drop=True)
        point, boot = pm.points(pm.matrix(clone, c))
        draws = pm.distribution(point, offsets, anchored)
        out = c.copy()
        product = draws[TITER] * draws[YIELD] / 100.0
        out[EPP] = product.mean(axis=1)
        out[f"{EPP}_lo"], out[f"{EPP}_hi"] = np.quantile(product, [lo_q, hi_q], axis=1)
        meets, each = judge(draws, limits)
        out[P_SPEC] = meets.mean(axis=1)
        out[IN_SPEC] = (product * meets).mean(axis=1)
        # each bootstrap model's product; the spec verdicts stay the model's (the bootstrap
        # judges the product surface, where the choice among candidates is made)
        for k, world in enumerate(boot):
            bd = pm.distribution(world, offsets, anchored, (TITER, YIELD))
            b_product = bd[TITER] * bd[YIELD] / 100.0
            out[boot_column(EPP, k)] = b_product.mean(axis=1)
            out[boot_column(IN_SPEC, k)] = (b_product * meets).mean(axis=1)
        for t in pm.targets:
            out[t] = clip(point[t] + offsets[t], t)
            out[f"{t}_lo"], out[f"{t}_hi"] = np.quantile(draws[t], [lo_q, hi_q], axis=1)
        for attr, r in each.items():
            out[limit_risk_column(attr)] = r
        parts.append(out)
    return pd.concat(parts, ignore_index=True)


def pareto_front(epp: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Rows no other row beats on both expected product and P(spec) (ties kept)."""
    order = np.lexsort((-p, -epp))  # by expected product, then P(spec), both descending
    keep = np.zeros(len(epp), bool)
    best_p = -np.inf
    for i in order:
        if p[i] > best_p:
            keep[i] = True
            best_p = p[i]
    return keep


def split_candidates(pm: ProcessModel, clone: pd.Series, cands: pd.DataFrame):
    """Candidates inside the box and the domain, and the others with their reason."""
    why = pm.outside_box(cands)
    unseen = pm.unseen_levels(clone)
    if unseen:
        why = ["; ".join(filter(None, [w, "clone has " + ", ".join(unseen)])) for w in why]
    _, domain_why = pm.in_domain(pm.matrix(clone, cands))
    why = ["; ".join(filter(None, [w, d])) for w, d in zip(why, domain_why, strict=True)]
    keep = np.array([not w for w in why])
    excluded = cands[~keep].assign(reason=[w for w in why if w])
    return cands[keep].reset_index(drop=True), excluded.reset_index(drop=True)
