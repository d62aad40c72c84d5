"""Process selection across a campaign: one condition for all, and the clones needing their own.

A campaign lead asks two things the per-clone what-if does not answer on its own: which
single condition would serve the campaign (a platform is one recipe for the whole
plant), and which clones truly need a condition of their own. Both come from one shared
candidate set scored for every clone by :func:`models.whatif.whatif` (the same function
as the CLI and the API, so the same box, domain and spec rules):

- the campaign condition: the candidate, inside the box and every clone's domain, with the
  highest mean *expected in-spec product* over the clones (product counted only in draws
  that meet the spec, so a condition that trades spec for titer is not favoured); its gain
  over the platform is corrected like every gain (:mod:`models.gains`);
- each clone's final recommendation is the campaign condition, unless the evidence says
  otherwise: its own optimum beats the campaign condition beyond its uncertainty
  (:func:`models.gains.own_condition_evidence`: corrected for choosing the best, shrunk
  toward the campaign across its clones), or the campaign condition would lower the
  clone's P(meet every spec limit) by more than :data:`MAX_SPEC_DROP` from what the
  platform gives it (then it takes the condition best for the campaign among those that
  keep its spec). Each clone says which and why;
- design-space maps (P(spec) over two factors) for the top-ranked clones.

On the twin (leave one campaign out, 12 campaigns of 48 clones), 24 of the 25 clones told
they need their own condition for product truly did better under it (README "One
condition for the whole campaign" gives the figures and how they were measured).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from features.contract.spec import ProductSpec
from models.candidates import EPP, IN_SPEC, P_SPEC, boot_column, space_filling
from models.gains import (
    MIN_OWN_GAIN,
    Gain,
    correct,
    corrected_gain,
    optimism_of,
    own_condition_evidence,
    slope_of,
)
from models.process import LEVEL, ProcessModel
from models.whatif import DEFAULT_MAP, json_value, whatif

CAMPAIGN, OWN = "campaign condition", "own condition"
# A clone whose P(meet every spec limit) the campaign condition would lower by more than
# this (10 points of chance to fail a limit) gets a condition that keeps it. Smaller drops
# lie within what P(spec) can resolve for one clone (its draws and the model's error);
# the campaign's expected out-of-spec rate is checked as a whole in the summary.
MAX_SPEC_DROP = 0.10


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
            "campaign_summary": {k: json_value(v) for k, v in self.campaign_summary.items()},
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
    min_own_gain: float = MIN_OWN_GAIN,
    map_factors: tuple[str, str] = DEFAULT_MAP,
    max_spec_drop: float = MAX_SPEC_DROP,
) -> CampaignProcess:
    """Score every clone of ``clones`` on one shared candidate set; see the module."""
    if not 0.0 <= min_own_gain < 100.0 or not np.isfinite(min_own_gain):
        raise ValueError(f"min_own_gain must be a gain in g/L, 0 or more, got {min_own_gain}")
    if not 0.0 <= max_spec_drop <= 1.0:
        raise ValueError(f"max_spec_drop must lie in 0-1 (a probability), got {max_spec_drop}")
    grid = space_filling(pm, n_candidates, seed)
    grid["source"] = [f"candidate {i}" for i in range(len(grid))]
    rows: list[dict] = []
    tables: Tables = {}
    maps: dict[str, list[dict]] = {}
    for _, clone in clones.iterrows():
        cid = str(clone["clone_id"])
        own = runs[runs["clone_id"].astype(str) == cid]
        res = whatif(
            pm, spec, clone, own, outcomes, grid=grid,
            design_space=map_factors if cid in top else None,
        )  # fmt: skip
        if len(res.scored):
            t = res.scored.set_index("source")
            tables[cid] = t[t[P_SPEC] >= res.required_spec_prob - 1e-12], t
        else:
            tables[cid] = None
        rows.append(_clone_row(pm, cid, res))
        if res.design_space is not None:
            maps[cid] = res.design_space.to_dict("records")
    per_clone = pd.DataFrame(rows)
    condition, summary, per_clone = _campaign_choice(
        pm, grid, tables, per_clone, (min_own_gain, max_spec_drop)
    )
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
    row["own_product_g_l"] = rec.get(EPP, np.nan)
    row["own_p_spec"] = rec.get(P_SPEC, np.nan)
    row["own_gain_over_platform_g_l"] = rec.get("gain_g_l", np.nan)
    row["own_gain_g_l_lo"] = rec.get("gain_g_l_lo", np.nan)
    row["own_gain_g_l_hi"] = rec.get("gain_g_l_hi", np.nan)
    row["own_gain_raw_g_l"] = rec.get("gain_raw_g_l", np.nan)
    row["own_gain_optimism_g_l"] = rec.get("gain_optimism_g_l", np.nan)
    row["own_changes"] = "; ".join(r for r in res.reasons if " -> " in r) or (
        "" if rec else "; ".join(res.reasons)
    )
    for f in pm.factors:
        row[f"own__{f}"] = rec.get(f, np.nan)
    return row


Tables = dict[str, tuple[pd.DataFrame, pd.DataFrame] | None]  # clone -> (feasible, all) scored


def _campaign_choice(
    pm: ProcessModel,
    grid: pd.DataFrame,
    tables: Tables,
    per_clone: pd.DataFrame,
    rules: tuple[float, float],
) -> tuple[dict[str, float] | None, dict, pd.DataFrame]:
    """The candidate with the best mean expected in-spec product over every clone.

    Returns the condition (None when no candidate lies in every scored clone's domain), the
    campaign summary, and ``per_clone`` with each clone's final recommendation and why.
    ``rules``: the least gain an own condition must bring, and the largest P(spec) drop a
    clone takes at the campaign condition.
    """
    # a clone whose platform lies outside its domain has no gain over it to compare: it
    # keeps its own recommendation and takes no part in the campaign's choice
    judged = {c: t[1] for c, t in tables.items() if t is not None and "platform" in t[1].index}
    ids = ["platform", *grid["source"]]
    common = [i for i in ids if all(i in t.index for t in judged.values())]
    if not judged or not common:
        why = (
            "no clone scored with the platform inside its domain"
            if not judged
            else "no candidate lies inside every clone's domain"
        )
        per_clone = per_clone.assign(
            final_recommendation=OWN, needs_own_condition=False, needs_own_because=why
        )
        return None, {"reason": why, "clones": len(per_clone)}, per_clone

    def in_spec(col: str) -> pd.Series:
        return pd.DataFrame({c: t.loc[common, col] for c, t in judged.items()}).mean(axis=1)

    def gain(k: int | None, label: object) -> float:
        col = EPP if k is None else boot_column(EPP, k)
        return float(np.mean([_v(t, label, col) - _v(t, "platform", col) for t in judged.values()]))

    best_id = str(in_spec(IN_SPEC).idxmax())
    spread = np.mean(
        [
            [
                _v(t, best_id, f"{EPP}_lo") - _v(t, best_id, EPP),
                _v(t, best_id, f"{EPP}_hi") - _v(t, best_id, EPP),
            ]
            for t in judged.values()
        ],
        axis=0,
    )
    campaign_gain = corrected_gain(
        pm,
        gain,
        lambda k: in_spec(boot_column(IN_SPEC, k)).idxmax(),
        best_id,
        (float(spread[0]), float(spread[1])),
    )
    shared = {None: in_spec(IN_SPEC)} | {
        k: in_spec(boot_column(IN_SPEC, k)) for k in range(len(pm.bootstrap))
    }
    per_clone = _final(pm, tables, per_clone, best_id, campaign_gain, rules, shared)
    row = cast(pd.Series, judged[next(iter(judged))].loc[best_id])  # one label: one row
    condition = {f: float(row[f]) for f in pm.factors}
    summary = _summary(
        per_clone, judged, len(common), in_spec(IN_SPEC), best_id, campaign_gain, rules
    )
    return condition, summary, per_clone


def _final(
    pm: ProcessModel,
    tables: Tables,
    per_clone: pd.DataFrame,
    best_id: str,
    campaign_gain: Gain,
    rules: tuple[float, float],
    shared: dict[int | None, pd.Series],
) -> pd.DataFrame:
    """Each clone's final recommendation: the campaign condition unless the evidence says not.

    ``shared``: the campaign's mean expected in-spec product per common candidate, by the
    model (key None) and by each bootstrap model.
    """
    min_gain, max_drop = rules
    n = len(per_clone)
    estimate, se = np.full(n, np.nan), np.full(n, np.nan)
    slope = slope_of(pm)
    # both sides were chosen as the best of many: each loses its own optimism (the campaign
    # condition's is the campaign choice's)
    campaign_optimism = np.nan_to_num(campaign_gain.optimism)
    for i, cid in enumerate(per_clone["clone_id"]):
        tab = tables.get(cid)
        if tab is None or not pm.bootstrap or "platform" not in tab[1].index:
            continue
        ok, every = tab

        def gain(k: int | None, label: object, every=every) -> float:
            col = EPP if k is None else boot_column(EPP, k)
            return _v(every, label, col) - _v(every, best_id, col)

        own = ok[EPP].idxmax()  # the what-if's choice: the best candidate it may recommend

        def choose(k: int, ok=ok) -> object:
            return ok[boot_column(EPP, k)].idxmax()

        optimism = optimism_of(pm, gain, choose)
        estimate[i] = slope * (gain(None, own) - optimism + campaign_optimism)
        se[i] = slope * float(np.std([gain(k, own) for k in range(len(pm.bootstrap))], ddof=1))
    ev = own_condition_evidence(estimate, se, min_gain)
    rows: list[dict[str, Any]] = []
    for i, r in enumerate(per_clone.to_dict("records")):
        tab = tables.get(r["clone_id"])
        if tab is None:
            rows.append(
                {
                    "final_recommendation": None,
                    "needs_own_condition": False,
                    "needs_own_for": "",
                    "needs_own_because": "not scored: outside the model's domain",
                }
            )
            continue
        if "platform" not in tab[1].index:
            rows.append(
                {
                    "final_recommendation": OWN,
                    "needs_own_condition": True,
                    "needs_own_for": "domain",
                    "needs_own_because": "the platform lies outside this clone's domain: "
                    "its own recommendation stands, with no gain over the platform to judge",
                    **{f"final__{f}": r[f"own__{f}"] for f in pm.factors},
                    "final_gain_g_l": np.nan,
                    "final_gain_g_l_lo": np.nan,
                    "final_gain_g_l_hi": np.nan,
                    "final_gain_raw_g_l": np.nan,
                }
            )
            continue
        camp_row = tab[1]

        def at(col: str, camp_row=camp_row) -> float:
            return _v(camp_row, best_id, col)

        # the campaign condition's gain for this clone carries the campaign choice's optimism
        here = correct(
            pm,
            at(EPP) - float(r["platform_product_g_l"]),
            campaign_gain.optimism,
            (at(f"{EPP}_lo") - at(EPP), at(f"{EPP}_hi") - at(EPP)),
        )
        spec_worse = at(P_SPEC) < float(r["platform_p_spec"]) - max_drop
        own = bool(ev.needs_own[i]) or spec_worse
        if own and not ev.needs_own[i]:  # for spec only: the campaign's best that keeps it
            label, g = _best_shared_in_spec(pm, tab, shared)
            final = {f: _v(tab[1], label, f) for f in pm.factors}
        elif own:
            final = {f: r[f"own__{f}"] for f in pm.factors}
            g = (
                r["own_gain_over_platform_g_l"],
                r["own_gain_g_l_lo"],
                r["own_gain_g_l_hi"],
                r["own_gain_raw_g_l"],
            )
        else:
            final = {f: at(f) for f in pm.factors}
            g = (here.value, here.lo, here.hi, here.raw)
        p_spec = (at(P_SPEC), float(r["platform_p_spec"]))
        why = _why(ev, i, spec_worse, p_spec, rules, pm)
        rows.append(
            {
                "campaign_condition_product_g_l": at(EPP),
                "campaign_condition_p_spec": at(P_SPEC),
                "campaign_condition_gain_g_l": here.value,
                "campaign_condition_gain_g_l_lo": here.lo,
                "campaign_condition_gain_g_l_hi": here.hi,
                "own_gain_over_campaign_g_l": float(ev.gain[i]),
                "own_gain_over_campaign_lower_g_l": float(ev.lower[i]),
                "final_recommendation": OWN if own else CAMPAIGN,
                "needs_own_condition": own,
                "needs_own_for": ", ".join(
                    w for w, on in (("gain", bool(ev.needs_own[i])), ("spec", spec_worse)) if on
                ),
                "needs_own_because": why if own else "",
                "campaign_condition_fits_because": "" if own else why,
                **{f"final__{f}": v for f, v in final.items()},
                "final_gain_g_l": float(g[0]),
                "final_gain_g_l_lo": float(g[1]),
                "final_gain_g_l_hi": float(g[2]),
                "final_gain_raw_g_l": float(g[3]),
            }
        )
    out = pd.concat([per_clone, pd.DataFrame(rows, index=per_clone.index)], axis=1)
    out["served_by_campaign_condition"] = out["final_recommendation"] == CAMPAIGN
    return out


def _best_shared_in_spec(
    pm: ProcessModel,
    tab: tuple[pd.DataFrame, pd.DataFrame],
    shared: dict[int | None, pd.Series],
) -> tuple[object, tuple[float, float, float, float]]:
    """The candidate best for the campaign among those that keep this clone's spec.

    A clone the campaign condition would push out of spec is not sent to its own noisy
    optimum: it takes the condition the whole campaign's surface ranks highest among those
    with its P(spec) at least the platform's (its own optimum when none is shared).
    Returns the candidate and its corrected gain over the platform, the interval's ends and
    the uncorrected gain.
    """
    ok, every = tab
    cands = [c for c in ok.index if c in shared[None].index]
    if not cands:
        cands = list(ok.index)
        rank = {k: ok[EPP if k is None else boot_column(EPP, k)] for k in shared}
    else:
        rank = {k: v.loc[cands] for k, v in shared.items()}
    label = rank[None].idxmax()

    def gain(k: int | None, lab: object) -> float:
        col = EPP if k is None else boot_column(EPP, k)
        return _v(every, lab, col) - _v(every, "platform", col)

    point = _v(every, label, EPP)
    g = corrected_gain(
        pm,
        gain,
        lambda k: rank[k].idxmax(),
        label,
        (_v(every, label, f"{EPP}_lo") - point, _v(every, label, f"{EPP}_hi") - point),
    )
    return label, (g.value, g.lo, g.hi, g.raw)


def _v(table: pd.DataFrame, row: Any, col: str) -> float:
    """One number of a scored candidate table (by candidate label and column)."""
    return float(cast(float, table.at[row, col]))


def _why(ev, i: int, spec_worse: bool, p_spec: tuple[float, float], rules, pm) -> str:
    """Why clone ``i`` gets its own condition, or why the campaign condition fits it.

    ``p_spec``: the clone's P(spec) at the campaign condition and at the platform.
    """
    (p_camp, p_plat), (min_gain, max_drop) = p_spec, rules
    parts = []
    if spec_worse:
        parts.append(
            f"the campaign condition lowers its P(meet every spec limit) to {p_camp:.2f} "
            f"from {p_plat:.2f} at the platform (by more than {max_drop:.2f})"
        )
    if not pm.bootstrap:
        parts.append(
            "this model has no bootstrap models to check an own condition's gain against "
            "(trained before issue 24: retrain)"
        )
        return "; ".join(parts)
    g, lo = ev.gain[i], ev.lower[i]
    if not np.isfinite(g):
        return "; ".join(parts) or "its own optimum could not be scored"
    verdict = "beyond" if ev.needs_own[i] else "not beyond"
    parts.append(
        f"own optimum {g:+.2f} g/L over the campaign condition (90% lower bound {lo:+.2f}; "
        f"{verdict} the {min_gain:.2f} g/L an own condition must be worth), corrected for "
        f"choosing the best (bootstrap) and shrunk toward the campaign (kept "
        f"{ev.shrinkage[i]:.0%} of this clone's departure)"
    )
    return "; ".join(parts)


def _summary(
    per_clone: pd.DataFrame,
    judged: dict[str, pd.DataFrame],
    n_common: int,
    in_spec: pd.Series,
    best_id: str,
    campaign_gain: Gain,
    rules: tuple[float, float],
) -> dict:
    """The campaign summary: the campaign condition's gain, and who needs their own."""
    scored = per_clone[per_clone["final_recommendation"].notna()]
    own = scored["final_recommendation"] == OWN
    spec_driven = scored["needs_own_for"] == "spec"
    gains = scored["final_gain_g_l"].to_numpy(float)
    return {
        "clones": len(per_clone),
        "clones_scored": len(judged),
        "candidates_in_every_domain": n_common,
        "campaign_condition_candidate": best_id,
        "mean_expected_in_spec_product_g_l": float(in_spec.loc[best_id]),
        "platform_mean_expected_in_spec_product_g_l": float(in_spec.loc["platform"]),
        **{f"campaign_{k}": v for k, v in campaign_gain.to_dict().items()},
        "share_campaign_condition": float((~own).mean()) if len(scored) else float("nan"),
        "clones_own_condition": int(own.sum()),
        "clones_own_for_gain": int((own & ~spec_driven).sum()),
        "clones_own_for_spec": int((own & spec_driven).sum()),
        "clones_own_for_domain": int((scored["needs_own_for"] == "domain").sum()),
        "mean_final_gain_g_l": float(np.nanmean(gains)) if len(gains) else float("nan"),
        "min_own_gain_g_l": rules[0],
        "max_spec_drop": rules[1],
        "expected_oos_rate_campaign_condition": float(
            1 - scored["campaign_condition_p_spec"].mean()
        ),
        "expected_oos_rate_platform": float(1 - scored["platform_p_spec"].mean()),
        "level": LEVEL,
        "how": (
            "one shared space-filling candidate set scored for every clone by the process "
            "model (anchored on each clone's measured runs); the campaign condition "
            "maximises the mean expected in-spec product; each gain loses the optimism of "
            "choosing the best (bootstrap over campaigns) and is scaled by the held-out "
            "calibration slope; a clone gets its own condition when its own optimum beats "
            "the campaign condition beyond its uncertainty (empirical Bayes across the "
            f"campaign's clones), or when the campaign condition would lower its P(spec) by "
            f"more than {rules[1]:.2f} from the platform's"
        ),
    }
