"""The closed loop: are the what-if recommendations really better? The twin says.

For each held-out campaign of a simulated history, the process model is fitted on the
other campaigns only; every clone of the held-out campaign gets its recommendation from
:func:`models.whatif.whatif` (anchored on the clone's measured runs, as a campaign lead
would have them), and the twin re-runs the clone - same latent biology, lots and assay
drift - under the recommendation and under the platform. The comparison uses the twin's
noise-free outcomes: the clone's *true* expected purified product and whether it truly
meets every spec limit.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from features.loader import CampaignData, load_campaign
from features.spec import ProductSpec
from models.whatif import EPP, P_SPEC, whatif
from simulator.campaign import SimulationConfig, simulate_set, write_set
from simulator.closedloop import true_outcomes
from training.process import fit_process_model


def simulated(config: SimulationConfig) -> CampaignData:
    """The set ``config`` makes, written and read back through the data contract."""
    with tempfile.TemporaryDirectory() as tmp:
        write_set(simulate_set(config), Path(tmp), config, "csv")
        return load_campaign(Path(tmp))


def without(data: CampaignData, campaign: str) -> CampaignData:
    """``data`` with one campaign's clones, runs and outcomes removed."""
    clones = data.clones[data.clones["campaign_id"] != campaign]
    runs = data.runs[data.runs["clone_id"].isin(clones["clone_id"])]
    outcomes = (
        None
        if data.outcomes is None
        else data.outcomes[data.outcomes["run_id"].isin(runs["run_id"])]
    )
    return replace(data, clones=clones, runs=runs, outcomes=outcomes, truth=None)


def purified(outcomes: pd.DataFrame) -> np.ndarray:
    return (outcomes["final_titer_g_l"] * outcomes["dsp_yield_pct"] / 100.0).to_numpy(float)


def out_of_spec(outcomes: pd.DataFrame, spec: ProductSpec) -> np.ndarray:
    bad = np.zeros(len(outcomes), bool)
    for lim in [*spec.glycans, *spec.downstream]:
        if lim.attribute in outcomes:
            bad |= np.asarray(lim.outside(outcomes[lim.attribute].to_numpy(float)), bool)
    return bad


def closed_loop(
    config: SimulationConfig,
    spec: ProductSpec,
    campaigns: list[str] | None = None,
    n_candidates: int = 500,
    data: CampaignData | None = None,
) -> pd.DataFrame:
    """One row per clone of each held-out campaign: recommended vs platform, in truth."""
    data = simulated(config) if data is None else data
    held = campaigns or sorted(data.clones["campaign_id"].unique())
    rows, platforms = [], []
    for campaign in held:
        pm = fit_process_model(without(data, campaign), spec, seed=config.seed)
        for _, clone in data.clones[data.clones["campaign_id"] == campaign].iterrows():
            runs = data.runs[data.runs["clone_id"] == clone["clone_id"]]
            res = whatif(
                pm, spec, clone, runs, data.outcomes, n_candidates=n_candidates, design_space=None
            )
            # no recommendation (every candidate outside the domain): the clone stays on
            # the platform, and counts as not improved
            rec = res.recommended or dict(pm.reference)
            plat = res.scored[res.scored["source"] == "platform"]
            rows.append(
                {
                    "campaign_id": campaign,
                    "recommended": res.recommended is not None,
                    "clone_id": clone["clone_id"],
                    "run_id": runs["run_id"].iloc[0],
                    **{f: rec.get(f, np.nan) for f in pm.factors},
                    "predicted_rec": rec.get(EPP, np.nan),
                    "predicted_platform": float(plat[EPP].iloc[0]) if len(plat) else np.nan,
                    "p_spec_rec": rec.get(P_SPEC, np.nan),
                    "p_spec_platform": float(plat[P_SPEC].iloc[0]) if len(plat) else np.nan,
                }
            )
            platforms.append(pm.reference)  # this fold's platform (the history's commonest)
    df = pd.DataFrame(rows)
    factors = list(platforms[0])
    rec_true = true_outcomes(config, df["run_id"].tolist(), df[factors])
    plat_true = true_outcomes(config, df["run_id"].tolist(), pd.DataFrame(platforms)[factors])
    df["true_rec"], df["true_platform"] = purified(rec_true), purified(plat_true)
    df["oos_rec"] = out_of_spec(rec_true, spec)
    df["oos_platform"] = out_of_spec(plat_true, spec)
    return df


def summary(df: pd.DataFrame) -> dict:
    """The acceptance figures of the closed loop."""
    gain = df["true_rec"] - df["true_platform"]
    return {
        "clones": len(df),
        "campaigns": int(df["campaign_id"].nunique()),
        "share_rec_better": float((gain > 1e-9).mean()),
        "share_rec_same": float((gain.abs() <= 1e-9).mean()),
        "share_no_recommendation": float((~df["recommended"]).mean()),
        "mean_gain_g_l": float(gain.mean()),
        "mean_gain_pct": float((gain / df["true_platform"]).mean() * 100),
        "oos_rate_rec": float(df["oos_rec"].mean()),
        "oos_rate_platform": float(df["oos_platform"].mean()),
        "predicted_gain_g_l": float((df["predicted_rec"] - df["predicted_platform"]).mean()),
        "how": (
            "leave-one-campaign-out: process model fitted without the campaign, every clone "
            "anchored on its measured runs, truth = the twin's noise-free re-run of the "
            "clone's first run under the recommendation and under the platform"
        ),
    }
