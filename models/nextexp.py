"""Next experiments: the k conditions to run next for a clone, chosen by expected improvement.

The what-if recommendation (:mod:`models.whatif`) is the best guess from the history; the
anchor only shifts a clone's whole surface up or down, so new runs of the clone never
change *where* its best condition is thought to be. Choosing the next runs needs a model
of the clone's own departures from the population, and of how sure we are about them:

- prior mean: the process model's purified product (titer x yield) at each condition, not
  anchored;
- the clone's departure from it, a Gaussian process over the conditions (each factor
  scaled to its training range): a constant clone effect (variance ``offset_var``) plus a
  smooth clone x condition surface (Matern 5/2, ``surface_var``, ``length_scale``), with
  the assay noise of each measured run (titer CV and purification-yield SD) as its nugget.
  All three are estimated from the history's held-out residuals (:mod:`training.surface`);
  nothing is tuned on the clone being planned;
- acquisition: expected improvement of purified product over the best expected value
  among the conditions already run, times the probability of meeting every spec limit
  (the process model's anchored draws), the constrained EI of Gardner et al. (ICML 2014);
- a batch of k by the "kriging believer" (Ginsbourger et al. 2010): after each pick, its
  predicted value is taken as if measured, which shrinks the uncertainty around it so the
  next pick goes elsewhere.

Candidates are a space-filling set over the training box (or a grid), and only those
inside the box and the applicability domain are ever proposed (:func:`split_candidates`).

A proposal's numbers are its expected product with the surface's SD and its expected
improvement: the value of running it, already an expectation over the surface's
uncertainty, not a promised gain. The gain promised for a condition is the what-if
recommendation's, corrected for having been chosen as the best (:mod:`models.gains`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from features.contract.spec import ProductSpec
from models.candidates import (
    P_SPEC,
    WhatIfError,
    complete,
    score_candidates,
    space_filling,
    split_candidates,
)
from models.process import TITER, YIELD, ProcessModel
from models.whatif import json_value

# Assay precision behind each measured run (the nugget of the clone's surface): a titer
# assay of ~5% CV and a high-throughput purification yield of +-2.5 points (DESIGN.md §3;
# typical of Protein A HPLC titer and plate-based purification). Set them to your lab's.
TITER_CV = 0.05
YIELD_SD = 2.5
EXPECTED = "expected_product_g_l"
SD = "sd_product_g_l"
EI = "expected_improvement_g_l"
ACQ = "acquisition"
NEXT_COLUMNS = (EXPECTED, SD, EI, P_SPEC, ACQ, "reason")  # besides the factors


def unit(pm: ProcessModel, conditions: pd.DataFrame) -> np.ndarray:
    """Factors scaled to 0-1 over the training box; an empty optional factor sits mid-box."""
    X = conditions.reindex(columns=pm.factors).to_numpy(float)
    lo = np.array([pm.box[f][0] for f in pm.factors])
    span = np.array([max(pm.box[f][1] - pm.box[f][0], 1e-12) for f in pm.factors])
    U = (X - lo) / span
    return np.where(np.isnan(U), 0.5, U)


def matern52(d: np.ndarray, length: float) -> np.ndarray:
    """Matern 5/2 correlation at distance ``d``.

    >>> [round(float(v), 3) for v in matern52(np.array([0.0, 0.3, 1.0]), 0.3)]
    [1.0, 0.524, 0.016]
    """
    s = np.sqrt(5.0) * d / length
    return (1.0 + s + s * s / 3.0) * np.exp(-s)


def assay_noise(titer: np.ndarray, yield_pct: np.ndarray, titer_cv: float, yield_sd: float):
    """Variance of a measured purified product (g/L)^2 from the two assays' precision."""
    return (titer * titer_cv * yield_pct / 100.0) ** 2 + (titer * yield_sd / 100.0) ** 2


@dataclass
class Surface:
    """The clone's departure from the population model, as a Gaussian process."""

    offset_var: float
    surface_var: float
    length_scale: float

    def cov(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        d = np.sqrt(((A[:, None, :] - B[None, :, :]) ** 2).sum(-1))
        return self.offset_var + self.surface_var * matern52(d, self.length_scale)

    def posterior(
        self, U_obs: np.ndarray, r_obs: np.ndarray, noise: np.ndarray, U_new: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean and SD of the departure at ``U_new`` given departures ``r_obs`` measured."""
        prior_var = np.full(len(U_new), self.offset_var + self.surface_var)
        if not len(U_obs):
            return np.zeros(len(U_new)), np.sqrt(prior_var)
        K = self.cov(U_obs, U_obs) + np.diag(noise)
        L = np.linalg.cholesky(K + 1e-10 * np.eye(len(K)))
        Ks = self.cov(U_obs, U_new)
        alpha = np.linalg.solve(L.T, np.linalg.solve(L, r_obs))
        v = np.linalg.solve(L, Ks)
        return Ks.T @ alpha, np.sqrt(np.maximum(prior_var - (v * v).sum(0), 1e-12))


def expected_improvement(mu: np.ndarray, sd: np.ndarray, best: float) -> np.ndarray:
    """E[max(f - best, 0)] for f ~ N(mu, sd^2).

    >>> round(float(expected_improvement(np.array([1.0]), np.array([1.0]), 1.0)[0]), 4)
    0.3989
    """
    z = (mu - best) / sd
    return (mu - best) * norm.cdf(z) + sd * norm.pdf(z)


@dataclass
class Proposal:
    """The next experiments for one clone and what they rest on."""

    clone_id: str
    proposed: pd.DataFrame  # k rows: factors, expected product, SD, EI, P(spec), reason
    best_so_far: float  # best expected product among the conditions already run
    n_measured: int
    excluded: int  # candidates outside the box or the domain, never proposed

    def to_dict(self) -> dict:
        rows = [
            {k: json_value(v) for k, v in r.items()}
            for r in self.proposed.to_dict(orient="records")
        ]
        return {
            "clone_id": self.clone_id,
            "proposed": rows,
            "best_expected_so_far_g_l": self.best_so_far,
            "measured_runs_used": self.n_measured,
            "candidates_excluded": self.excluded,
        }


def surface_of(pm: ProcessModel) -> Surface:
    if not pm.surface:
        raise WhatIfError(
            "this process model was trained before next-experiment proposals existed (it "
            "has no clone x condition surface): retrain with `clonescout train`"
        )
    return Surface(
        **{k: float(pm.surface[k]) for k in ("offset_var", "surface_var", "length_scale")}
    )


def _measured(pm: ProcessModel, runs: pd.DataFrame, outcomes: pd.DataFrame | None):
    """The clone's runs with both titer and yield measured, with their conditions."""
    if outcomes is None or runs.empty:
        return runs.iloc[:0].assign(**{TITER: [], YIELD: []})
    m = runs.merge(outcomes[["run_id", TITER, YIELD]], on="run_id", how="inner")
    return m.dropna(subset=[TITER, YIELD]).reset_index(drop=True)


def propose(
    pm: ProcessModel,
    spec: ProductSpec,
    clone: pd.Series,
    runs: pd.DataFrame,
    outcomes: pd.DataFrame | None = None,
    k: int = 4,
    grid: pd.DataFrame | None = None,
    n_candidates: int = 500,
    seed: int = 0,
    greedy: bool = False,
    titer_cv: float = TITER_CV,
    yield_sd: float = YIELD_SD,
) -> Proposal:
    """The ``k`` conditions to run next for ``clone``, given its measured ``runs``.

    ``greedy`` ranks by expected in-spec product alone, without the improvement's
    uncertainty (the "run the best guess" baseline the twin loop compares against).
    """
    if not 1 <= k <= 50:
        raise WhatIfError(f"k (experiments to propose) must be 1-50, got {k}")
    surface = surface_of(pm)
    kept, excluded = _candidates(pm, clone, grid, n_candidates, seed)
    meas = _measured(pm, runs.reindex(columns=["run_id", *pm.factors]), outcomes)
    offsets, _ = pm.anchor(clone, runs, outcomes)
    limits = [*spec.glycans, *spec.downstream]
    p_spec = score_candidates(pm, clone, kept, offsets, bool(len(meas)), limits)[P_SPEC].to_numpy()
    prior = _product(pm.point(pm.matrix(clone, kept)))
    U_new = unit(pm, kept)
    U_obs, r_obs, noise, best = _observed(pm, surface, clone, meas, titer_cv, yield_sd)
    chosen = _believer_batch(surface, (U_obs, r_obs, noise), U_new, prior, p_spec, k, best, greedy)
    rows = kept.iloc[[c["_i"] for c in chosen]].reset_index(drop=True)
    out = pd.concat([rows[pm.factors], pd.DataFrame(chosen).drop(columns="_i")], axis=1)
    out["reason"] = [_why(c, best, U_new[c["_i"]], unit(pm, meas)) for c in chosen]
    return Proposal(
        clone_id=str(clone["clone_id"]),
        proposed=out,
        best_so_far=best if np.isfinite(best) else float("nan"),
        n_measured=len(meas),
        excluded=len(excluded),
    )


def _candidates(
    pm: ProcessModel, clone: pd.Series, grid: pd.DataFrame | None, n_candidates: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Candidates inside the box and the domain (refused when there is none), and the rest."""
    if grid is None:
        grid = space_filling(pm, n_candidates, seed).assign(source="space-filling")
    kept, excluded = split_candidates(pm, clone, complete(pm, grid))
    if not len(kept):
        raise WhatIfError(
            f"clone {clone['clone_id']}: no candidate lies inside the training box and the "
            f"model's domain ({len(excluded)} excluded), so no experiment can be proposed"
        )
    return kept, excluded


def _observed(
    pm: ProcessModel,
    surface: Surface,
    clone: pd.Series,
    meas: pd.DataFrame,
    titer_cv: float,
    yield_sd: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The measured runs as the surface sees them, and the incumbent.

    Returns their unit-box positions, departures from the prior (g/L), assay-noise
    variances, and the best expected product among them (-inf with no run).
    """
    U_obs = unit(pm, meas)
    y = (meas[TITER] * meas[YIELD] / 100.0).to_numpy(float)
    r_obs = y - _product(pm.point(pm.matrix(clone, meas))) if len(meas) else np.zeros(0)
    noise = assay_noise(
        meas[TITER].to_numpy(float), meas[YIELD].to_numpy(float), titer_cv, yield_sd
    )
    mu_obs, _ = surface.posterior(U_obs, r_obs, noise, U_obs)
    best = float((y - r_obs + mu_obs).max()) if len(meas) else -np.inf
    return U_obs, r_obs, noise, best


def _believer_batch(
    surface: Surface,
    observed: tuple[np.ndarray, np.ndarray, np.ndarray],
    U_new: np.ndarray,
    prior: np.ndarray,
    p_spec: np.ndarray,
    k: int,
    best: float,
    greedy: bool,
) -> list[dict]:
    """Pick ``k`` candidates one at a time by (constrained) EI, kriging believer between.

    ``observed`` is (positions, departures, noise) of the measured runs; each pick is a
    dict of its row in the candidates (``_i``) and its expected product, SD, EI, P(spec)
    and acquisition.
    """
    U_obs, r_obs, noise = observed
    ref = best  # the incumbent, raised by each believed pick
    chosen: list[dict] = []
    for _ in range(k):
        dev, sd = surface.posterior(U_obs, r_obs, noise, U_new)
        mu = prior + dev
        # nothing run yet: improve on the best prior guess
        ei = expected_improvement(mu, sd, ref if np.isfinite(ref) else float(mu.max()))
        acq = mu * p_spec if greedy else ei * p_spec
        acq[[c["_i"] for c in chosen]] = -np.inf
        i = int(np.argmax(acq))
        chosen.append(
            {"_i": i, EXPECTED: mu[i], SD: sd[i], EI: ei[i], P_SPEC: p_spec[i], ACQ: acq[i]}
        )
        # kriging believer: the pick's expected departure counts as measured (no noise)
        U_obs = np.vstack([U_obs, U_new[i : i + 1]])
        r_obs = np.append(r_obs, dev[i])
        noise = np.append(noise, 1e-8)
        ref = max(ref, float(mu[i]))
    return chosen


def _product(point: dict[str, np.ndarray]) -> np.ndarray:
    return point[TITER] * point[YIELD] / 100.0


def _why(c: dict, best: float, u: np.ndarray, U_runs: np.ndarray) -> str:
    near = float(np.sqrt(((U_runs - u) ** 2).sum(1)).min()) if len(U_runs) else float("nan")
    where = "no run yet" if np.isnan(near) else f"nearest run {near:.2f} box-widths away"
    head = f"expected {c[EXPECTED]:.2f} +- {c[SD]:.2f} g/L, P(spec) {c[P_SPEC]:.2f}; {where}"
    if not np.isfinite(best):
        return head
    lean = "improve on" if c[EXPECTED] > best else "learn where the model is unsure, vs"
    return f"{head}; chosen to {lean} the best so far ({best:.2f} g/L)"
