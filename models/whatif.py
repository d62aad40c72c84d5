"""What-if: score a clone under candidate process conditions, and recommend one.

One function, :func:`whatif`, serves the CLI (``clonescout whatif``), the HTTP API and the
campaign path. For a clone it scores a grid of candidate conditions (a file, or a
space-filling set over the training box, or a search of the box with ``optimise``), keeps
only candidates inside the training box and the process model's applicability domain
(each excluded candidate comes back with its reason), and returns:

- per candidate: expected purified product (titer x purification yield, g/L of harvest)
  with its 80% interval, the probability of meeting every spec limit, each outcome with
  its interval, and whether it is on the Pareto front of (expected product, P(spec));
- the recommended condition and why: the highest expected product among candidates whose
  P(spec) is at least the platform's (and at least ``min_spec_prob`` where any candidate
  reaches it), with the effect of each changed factor on its own, and its gain over the
  platform corrected for having been chosen as the best of many, with its interval
  (:mod:`models.gains`);
- the design space: P(spec) over two factors, the others at the recommendation.

Predictions are anchored on the clone's measured runs when ``outcomes`` has them
(:mod:`models.process`); without measured runs the wider, unanchored distribution is used.
Making, screening and scoring candidates is :mod:`models.candidates` (the names callers
use, such as :func:`space_filling`, ``EPP`` and ``P_SPEC``, are importable from here too).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import numpy as np
import pandas as pd

from features.contract.spec import ProductSpec
from models.candidates import (
    EPP,
    P_SPEC,
    WhatIfError,
    boot_column,
    box_bounds,
    complete,
    pareto_front,
    score_candidates,
    space_filling,
    split_candidates,
)
from models.flags import LIMIT_RISK_PREFIX
from models.gains import Gain, corrected_gain
from models.process import LEVEL, ProcessModel

# A recommendation never has a lower P(meet every spec limit) than the platform has for the
# same clone; a user may ask for a floor on top (``min_spec_prob``). With no floor, the
# expected out-of-spec rate of a campaign run at the recommendations cannot exceed the
# platform's (as far as the model knows).
MIN_SPEC_PROB = 0.0
DESIGN_SPACE_STEPS = 15
DEFAULT_MAP = ("temp_after_shift_c", "seed_density_e6_ml")


@dataclass
class WhatIfResult:
    """Everything :func:`whatif` found for one clone."""

    clone_id: str
    reference: dict[str, float]
    today: pd.DataFrame  # the clone's own runs: run_id and factors
    anchored_on: dict[str, int]  # target -> measured runs used as anchor
    scored: pd.DataFrame  # kept candidates, best expected product first
    excluded: pd.DataFrame  # candidates set aside, with the reason
    recommended: dict | None
    reasons: list[str]
    required_spec_prob: float
    design_space: pd.DataFrame | None = None
    not_judged: list[str] = field(default_factory=list)

    def to_dict(self, top: int | None = None) -> dict:
        def records(df: pd.DataFrame | None, n: int | None = None) -> list[dict]:
            if df is None:
                return []
            part = df if n is None else df.head(n)
            return [
                {k: json_value(v) for k, v in row.items()} for row in part.to_dict(orient="records")
            ]

        return {
            "clone_id": self.clone_id,
            "reference": {k: json_value(v) for k, v in self.reference.items()},
            "today": records(self.today),
            "anchored_on_runs": self.anchored_on,
            "required_spec_prob": json_value(self.required_spec_prob),
            "recommended": None
            if self.recommended is None
            else {k: json_value(v) for k, v in self.recommended.items()},
            "reasons": self.reasons,
            "pareto": records(self.scored[self.scored["pareto"]]),
            "candidates": records(self.scored, top),
            "n_candidates_scored": len(self.scored),
            "excluded": records(self.excluded),
            "design_space": records(self.design_space),
            "not_judged": self.not_judged,
        }


def json_value(v: object) -> object:
    """``v`` as JSON takes it: a NumPy scalar as a Python one, NaN and infinity as None."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


def _with_own(pm: ProcessModel, grid: pd.DataFrame, today: pd.DataFrame) -> pd.DataFrame:
    """The grid plus the platform and each of the clone's own conditions (for comparison)."""
    ref = pd.DataFrame([{**pm.reference, "source": "platform"}])
    own = today[pm.factors].assign(source="run " + today["run_id"].astype(str))
    return pd.concat([ref, own, grid], ignore_index=True)


def whatif(
    pm: ProcessModel,
    spec: ProductSpec,
    clone: pd.Series,
    runs: pd.DataFrame,
    outcomes: pd.DataFrame | None = None,
    grid: pd.DataFrame | None = None,
    optimise: bool = False,
    n_candidates: int = 500,
    seed: int = 0,
    min_spec_prob: float = MIN_SPEC_PROB,
    design_space: tuple[str, str] | None = DEFAULT_MAP,
    steps: int = DESIGN_SPACE_STEPS,
) -> WhatIfResult:
    """Score ``clone`` (a row of the clones table) under candidate conditions; see module."""
    if not 0.0 <= min_spec_prob <= 1.0:
        raise WhatIfError(f"min_spec_prob must lie in 0-1, got {min_spec_prob}")
    if design_space is not None:
        _check_map(pm, design_space)
    today = runs.reindex(columns=["run_id", *pm.factors]).reset_index(drop=True)
    offsets, used = pm.anchor(clone, today, outcomes)
    anchored = any(used.values())
    limits = [*spec.glycans, *spec.downstream]
    if grid is None:
        grid = space_filling(pm, n_candidates, seed).assign(source="space-filling")
    cands = _with_own(pm, complete(pm, grid), today)
    kept, excluded = split_candidates(pm, clone, cands)
    scored = score_candidates(pm, clone, kept, offsets, anchored, limits) if len(kept) else kept
    if optimise and len(scored):
        scored = _refine(pm, clone, scored, offsets, anchored, limits, seed, min_spec_prob)
    result = WhatIfResult(
        clone_id=str(clone["clone_id"]),
        reference=dict(pm.reference),
        today=today,
        anchored_on=used,
        scored=scored,
        excluded=excluded,
        recommended=None,
        reasons=[],
        required_spec_prob=float("nan"),
        not_judged=[lim.attribute for lim in limits if lim.attribute not in pm.targets],
    )
    if not len(scored):
        result.reasons = ["no candidate lies inside the training box and the model's domain"]
        result.scored = scored.assign(pareto=pd.Series(dtype=bool))  # the same columns
        return result
    scored["pareto"] = pareto_front(scored[EPP].to_numpy(), scored[P_SPEC].to_numpy())
    _recommend(pm, clone, result, offsets, anchored, limits, min_spec_prob)
    result.scored = scored.sort_values(EPP, ascending=False, ignore_index=True)
    if design_space is not None and result.recommended is not None:
        result.design_space = design_map(
            pm, clone, result.recommended, design_space, offsets, anchored, limits, steps
        )
    return result


def required_probability(scored: pd.DataFrame, floor: float) -> float:
    """The P(spec) a recommendation needs: the platform's, and ``floor``, where reachable."""
    platform = scored[scored["source"] == "platform"]
    p_ref = float(platform[P_SPEC].iloc[0]) if len(platform) else 0.0
    return min(max(p_ref, floor), float(scored[P_SPEC].max()))


def _recommend(pm, clone, result: WhatIfResult, offsets, anchored, limits, floor) -> None:
    s = result.scored
    platform = s[s["source"] == "platform"]
    required = required_probability(s, floor)
    ok = s[s[P_SPEC] >= required - 1e-12]
    best = cast(pd.Series, ok.loc[cast(int, ok[EPP].idxmax())])  # one label: one row
    result.required_spec_prob = required
    result.recommended = best.to_dict()
    gain = platform_gain(pm, ok, best, platform)
    if gain is not None:
        result.recommended.update(gain.to_dict())
    result.reasons = _reasons(pm, clone, best, platform, offsets, anchored, limits, required, gain)


def platform_gain(
    pm: ProcessModel, ok: pd.DataFrame, best: pd.Series, platform: pd.DataFrame
) -> Gain | None:
    """The recommendation's corrected gain over the platform (:mod:`models.gains`).

    ``ok`` holds the candidates the choice was made among; None without a platform row
    (the platform outside this clone's domain).
    """
    if not len(platform):
        return None
    ref = platform.iloc[0]

    def col(k: int | None) -> str:
        return EPP if k is None else boot_column(EPP, k)

    def gain(k: int | None, label: object) -> float:
        return float(ok.at[label, col(k)] - ref[col(k)])

    return corrected_gain(
        pm,
        gain,
        lambda k: ok[col(k)].idxmax(),
        best.name,
        (best[f"{EPP}_lo"] - best[EPP], best[f"{EPP}_hi"] - best[EPP]),
    )


def _reasons(pm, clone, best, platform, offsets, anchored, limits, required, gain) -> list[str]:
    out = [
        f"expected purified product {best[EPP]:.2f} g/L "
        f"({LEVEL:.0%}: {best[f'{EPP}_lo']:.2f}-{best[f'{EPP}_hi']:.2f}), "
        f"P(meet every spec limit) {best[P_SPEC]:.2f} (required >= {required:.2f})"
    ]
    if len(platform):
        ref = platform.iloc[0]
        out.append(f"platform: {ref[EPP]:.2f} g/L, P(spec) {ref[P_SPEC]:.2f}")
        out.append(f"gain over the platform {gain.text()}: {gain.how}")
    changed = [f for f in pm.factors if not _same(float(best[f]), pm.reference[f])]
    if changed:
        one = pd.DataFrame([best[pm.factors]] * len(changed)).reset_index(drop=True)
        for i, f in enumerate(changed):
            one.loc[i, f] = pm.reference[f]
        back = score_candidates(pm, clone, one, offsets, anchored, limits)
        for i, f in enumerate(changed):
            gain = best[EPP] - back[EPP].iloc[i]
            dp = best[P_SPEC] - back[P_SPEC].iloc[i]
            out.append(
                f"{f} {_fmt(pm.reference[f])} -> {_fmt(float(best[f]))}: {gain:+.2f} g/L, "
                f"P(spec) {dp:+.2f} (this change alone, the others kept)"
            )
    else:
        out.append("the platform condition is already the best candidate")
    risks = {
        str(k).removeprefix(LIMIT_RISK_PREFIX): v
        for k, v in best.items()
        if str(k).startswith(LIMIT_RISK_PREFIX)
    }
    if risks:
        worst = max(risks, key=lambda k: risks[k])
        out.append(f"limit closest to failing: {worst} (P(out) {risks[worst]:.2f})")
    if not anchored:
        out.append("no measured run of this clone: predictions are not anchored (wider)")
    return out


def _same(a: float, b: float) -> bool:
    if np.isnan(a) and np.isnan(b):
        return True
    return not np.isnan(a) and not np.isnan(b) and abs(a - b) < 1e-6


def _fmt(v: float) -> str:
    return "none" if np.isnan(v) else f"{v:.3g}"


def _refine(pm, clone, scored, offsets, anchored, limits, seed, floor) -> pd.DataFrame:
    """Search the box around the best feasible candidates (3 rounds of local moves)."""
    rng = np.random.default_rng(seed)
    lo, hi = box_bounds(pm)
    pool = scored
    for step in (0.15, 0.07, 0.03):
        ok = pool[pool[P_SPEC] >= required_probability(pool, floor) - 1e-12]
        seeds = ok.nlargest(8, EPP)[pm.factors].to_numpy(float)
        seeds = np.where(np.isnan(seeds), (lo + hi) / 2, seeds)
        moves = seeds[rng.integers(0, len(seeds), 256)] + rng.normal(0, step, (256, len(lo))) * (
            hi - lo
        )
        local = pd.DataFrame(np.clip(moves, lo, hi), columns=pm.factors).assign(source="optimiser")
        kept, _ = split_candidates(pm, clone, local)
        if len(kept):
            pool = pd.concat(
                [pool, score_candidates(pm, clone, kept, offsets, anchored, limits)],
                ignore_index=True,
            )
    return pool


def _check_map(pm: ProcessModel, factors: tuple[str, str]) -> None:
    if len(factors) != 2 or factors[0] == factors[1] or not set(factors) <= set(pm.factors):
        raise WhatIfError(
            f"design-space factors must be two different process factors of this model "
            f"({pm.factors}); got {list(factors)}"
        )


def design_map(
    pm: ProcessModel,
    clone: pd.Series,
    at: dict,
    factors: tuple[str, str],
    offsets: dict[str, float],
    anchored: bool,
    limits,
    steps: int = DESIGN_SPACE_STEPS,
) -> pd.DataFrame:
    """P(spec) and expected product over two factors, the others at ``at``.

    Cells outside the training box's domain carry ``inside = False`` and no numbers.
    """
    _check_map(pm, factors)
    fx, fy = factors
    xs = np.linspace(*pm.box[fx], steps)
    ys = np.linspace(*pm.box[fy], steps)
    gx, gy = np.meshgrid(xs, ys)
    grid = pd.DataFrame([{f: at[f] for f in pm.factors}] * gx.size)
    grid[fx], grid[fy] = gx.ravel(), gy.ravel()
    grid = grid.assign(source="design space")
    kept, excluded = split_candidates(pm, clone, grid)
    scored = score_candidates(pm, clone, kept, offsets, anchored, limits) if len(kept) else kept
    cols = [fx, fy]
    out = pd.concat(
        [
            scored[[*cols, P_SPEC, EPP]].assign(inside=True),
            excluded[cols].assign(inside=False),
        ],
        ignore_index=True,
    )
    return out.sort_values(cols, ignore_index=True)
