"""Process selection across a campaign: each clone's recommendation, and one platform for most.

A campaign lead asks two things the per-clone what-if does not answer on its own: which
single condition set would serve most clones of the campaign (a platform is one recipe for
the whole plant), and which clones need a condition of their own. Both come from one
shared candidate set scored for every clone by :func:`models.whatif.whatif` (the same
function as the CLI and the API, so the same box, domain and spec rules):

- per clone: today's conditions, the recommended ones, expected purified product and
  P(meet every spec limit) under both, and the reasons;
- the campaign condition: the candidate, inside the box and every clone's domain, with the
  highest mean *expected in-spec product* over the clones (product counted only in draws
  that meet the spec, so a condition that trades spec for titer is not favoured);
- a clone is served by it when its expected product there is within ``tolerance`` of the
  clone's own recommendation and its P(spec) is no lower than under today's platform;
  the others need their own condition, with why;
- design-space maps (P(spec) over two factors) for the top-ranked clones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd

from features.contract.spec import ProductSpec
from models.candidates import EPP, IN_SPEC, P_SPEC, space_filling
from models.process import ProcessModel
from models.whatif import DEFAULT_MAP, json_value, whatif

TOLERANCE = 0.05  # within 5% of a clone's own best counts as served by the campaign condition


@dataclass
class CampaignProcess:
    """Per-clone recommendations, the campaign condition, and maps for the top clones."""

    factors: list[str]
    platform: dict[str, float]  # today's platform (the history's commonest condition)
    per_clone: pd.DataFrame
    campaign_condition: dict[str, float] | None
    campaign_summary: dict
    maps: dict[str, list[dict]]  # clone_id -> design-space cells
    map_factors: tuple[str, str]

    def to_dict(self) -> dict:
        return {
            "factors": self.factors,
            "platform": {k: json_value(v) for k, v in self.platform.items()},
            "per_clone": [
                {k: json_value(v) for k, v in r.items()} for r in self.per_clone.to_dict("records")
            ],
            "campaign_condition": None
            if self.campaign_condition is None
            else {k: json_value(v) for k, v in self.campaign_condition.items()},
            "campaign_summary": self.campaign_summary,
            "design_space_factors": list(self.map_factors),
            "design_space": {
                c: [{k: json_value(v) for k, v in cell.items()} for cell in cells]
                for c, cells in self.maps.items()
            },
        }


def campaign_process(
    pm: ProcessModel,
    spec: ProductSpec,
    clones: pd.DataFrame,
    runs: pd.DataFrame,
    outcomes: pd.DataFrame | None,
    top: list[str],
    n_candidates: int = 300,
    seed: int = 0,
    tolerance: float = TOLERANCE,
    map_factors: tuple[str, str] = DEFAULT_MAP,
) -> CampaignProcess:
    """Score every clone of ``clones`` on one shared candidate set; see the module."""
    if not 0.0 <= tolerance < 1.0:
        raise ValueError(f"tolerance must lie in 0-1, got {tolerance}")
    grid = space_filling(pm, n_candidates, seed)
    grid["source"] = [f"candidate {i}" for i in range(len(grid))]
    rows, tables, maps = [], {}, {}
    for _, clone in clones.iterrows():
        cid = str(clone["clone_id"])
        own = runs[runs["clone_id"].astype(str) == cid]
        res = whatif(
            pm, spec, clone, own, outcomes, grid=grid,
            design_space=map_factors if cid in top else None,
        )  # fmt: skip
        tables[cid] = res.scored.set_index("source") if len(res.scored) else None
        rows.append(_clone_row(pm, cid, res))
        if res.design_space is not None:
            maps[cid] = res.design_space.to_dict("records")
    per_clone = pd.DataFrame(rows)
    condition, summary, per_clone = _campaign_choice(pm, grid, tables, per_clone, tolerance)
    return CampaignProcess(
        factors=list(pm.factors),
        platform=dict(pm.reference),
        per_clone=per_clone,
        campaign_condition=condition,
        campaign_summary=summary,
        maps=maps,
        map_factors=map_factors,
    )


def _clone_row(pm: ProcessModel, cid: str, res) -> dict:
    s = res.scored
    row: dict = {"clone_id": cid, "recommended": res.recommended is not None}
    today = s[s["source"].astype(str).str.startswith("run ")] if len(s) else s
    plat = s[s["source"] == "platform"] if len(s) else s
    row["today_product_g_l"] = float(today[EPP].mean()) if len(today) else np.nan
    row["today_p_spec"] = float(today[P_SPEC].mean()) if len(today) else np.nan
    row["platform_product_g_l"] = float(plat[EPP].iloc[0]) if len(plat) else np.nan
    row["platform_p_spec"] = float(plat[P_SPEC].iloc[0]) if len(plat) else np.nan
    rec = res.recommended or {}
    row["recommended_product_g_l"] = rec.get(EPP, np.nan)
    row["recommended_p_spec"] = rec.get(P_SPEC, np.nan)
    row["changes"] = "; ".join(r for r in res.reasons if " -> " in r) or (
        "" if rec else "; ".join(res.reasons)
    )
    for f in pm.factors:
        row[f"recommended__{f}"] = rec.get(f, np.nan)
    return row


def _campaign_choice(
    pm: ProcessModel,
    grid: pd.DataFrame,
    tables: dict[str, pd.DataFrame | None],
    per_clone: pd.DataFrame,
    tolerance: float,
) -> tuple[dict[str, float] | None, dict, pd.DataFrame]:
    """The candidate with the best mean expected in-spec product over every clone.

    Returns the condition (None when no candidate lies in every scored clone's domain), the
    campaign summary, and ``per_clone`` with whether each clone is served by it.
    """
    judged = {c: t for c, t in tables.items() if t is not None}
    ids = ["platform", *grid["source"]]
    common = [i for i in ids if all(i in t.index for t in judged.values())]
    if not judged or not common:
        why = "no candidate lies inside every clone's domain" if judged else "no clone scored"
        per_clone["served_by_campaign_condition"] = False
        return None, {"reason": why, "clones": len(per_clone)}, per_clone
    in_spec = pd.DataFrame({c: t.loc[common, IN_SPEC] for c, t in judged.items()})
    best_id = str(in_spec.mean(axis=1).idxmax())
    verdicts = [
        _verdict(judged.get(r["clone_id"]), r, best_id, tolerance) for _, r in per_clone.iterrows()
    ]
    per_clone = per_clone.assign(
        campaign_condition_product_g_l=[v[0] for v in verdicts],
        served_by_campaign_condition=[v[1] for v in verdicts],
        needs_own_because=[v[2] for v in verdicts],
    )
    row = cast(pd.Series, judged[next(iter(judged))].loc[best_id])  # one label: one row
    condition = {f: float(row[f]) for f in pm.factors}
    summary = _summary(per_clone, judged, len(common), in_spec, best_id, tolerance)
    return condition, summary, per_clone


def _verdict(
    t: pd.DataFrame | None, r: pd.Series, best_id: str, tolerance: float
) -> tuple[float, bool, str]:
    """Clone row ``r``'s product at candidate ``best_id``, whether it is served there, why not.

    ``t`` is the clone's scored candidates (None when it was not scored).
    """
    if t is None:
        return np.nan, False, "not scored: outside the model's domain"
    at_best = cast(pd.Series, t.loc[best_id])
    epp, p = float(at_best[EPP]), float(at_best[P_SPEC])
    own = r["recommended_product_g_l"]
    short = own > 0 and epp < (1 - tolerance) * own
    worse_spec = p < r["platform_p_spec"] - 1e-12
    why = [
        f"own best {own:.2f} g/L vs {epp:.2f} there" if short else "",
        f"P(spec) {p:.2f} there < {r['platform_p_spec']:.2f} at the platform" if worse_spec else "",
    ]
    return epp, not (short or worse_spec), "; ".join(filter(None, why))


def _summary(
    per_clone: pd.DataFrame,
    judged: dict[str, pd.DataFrame],
    n_common: int,
    in_spec: pd.DataFrame,
    best_id: str,
    tolerance: float,
) -> dict:
    """The campaign summary: clones served by the chosen candidate and by the platform."""
    ok = per_clone[per_clone["clone_id"].isin(list(judged))]
    plat_ok = ok["platform_product_g_l"] >= (1 - tolerance) * ok["recommended_product_g_l"]
    served = per_clone["served_by_campaign_condition"].tolist()
    at_best = cast(pd.Series, in_spec.loc[best_id])
    at_platform = cast(pd.Series, in_spec.loc["platform"]) if "platform" in in_spec.index else None
    return {
        "clones": len(per_clone),
        "clones_scored": len(judged),
        "candidates_in_every_domain": n_common,
        "share_served": float(np.mean(served)),
        "share_served_by_platform": float(plat_ok.mean()) if len(ok) else float("nan"),
        "mean_expected_in_spec_product_g_l": float(at_best.mean()),
        "platform_mean_expected_in_spec_product_g_l": float("nan")
        if at_platform is None
        else float(at_platform.mean()),
        "tolerance": tolerance,
        "how": (
            "one shared space-filling candidate set scored for every clone by the process "
            "model (anchored on each clone's measured runs); the campaign condition "
            "maximises the mean expected in-spec product; served = within the tolerance of "
            "the clone's own recommendation and P(spec) no lower than at the platform"
        ),
    }
