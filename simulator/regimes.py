"""Data regimes beside the default set: what a model must also survive.

The default set (12 campaigns, 1,440 runs, daily samples to day 14) is rich. Many users'
first dataset is not: a few hundred runs, a handful of sparse early samples, assays noisier
than a platform lab's. :func:`weak_signal_set` makes that regime with the same twin — the
same biology, conditions, lots and campaign-level assay drift (the between-campaign
offsets of :func:`simulator.measure.assay_drift`) — and changes only what is *observed*:

- 8 campaigns x 12 clones x 2 runs (192 runs);
- samples on three days only (``SPARSE_DAYS``), each value lost with probability
  ``P_SPARSE_LOST`` on top of the twin's own losses;
- every endpoint assay twice as noisy as the twin's (DESIGN.md §3 SDs x ``NOISE_FACTOR``:
  HT purification ±5 points, glycans ±1.4, HMW ±0.4, HCP and titer twice the log-SD),
  the noise of a lab measuring single replicates on a less mature assay panel.

The noise-free ``truth`` table is unchanged, so the noise ceiling says what is left.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulator.campaign import SimulationConfig, simulate_set

SPARSE_DAYS = (0.0, 2.0, 4.0)
HORIZON_DAY = 4.0
P_SPARSE_LOST = 0.15
NOISE_FACTOR = 2.0
# the twin's assay SDs (simulator.measure.outcome_table): additive, or on the log scale
ADDITIVE_SD = {
    "dsp_yield_pct": 2.5,
    "g0f_pct": 0.7,
    "g1f_pct": 0.7,
    "g2f_pct": 0.7,
    "man5_pct": 0.7,
    "afucosylated_pct": 0.7,
    "hmw_pct": 0.2,
}
LOG_SD = {"hcp_ppm": 0.2, "final_titer_g_l": 0.05}


def weak_signal_config(seed: int = 11) -> SimulationConfig:
    return SimulationConfig(
        n_campaigns=8, clones_per_campaign=12, runs_per_clone=2, deep_clone_share=0.0, seed=seed
    )


def weak_signal_set(seed: int = 11) -> dict[str, pd.DataFrame]:
    """The small, sparse, noisy regime (module doc); same seed, same tables."""
    tables = simulate_set(weak_signal_config(seed))
    rng = np.random.default_rng(seed + 1000)
    samples = tables["samples"]
    samples = samples[samples["day"].isin(SPARSE_DAYS)].reset_index(drop=True)
    values = samples.columns.drop(["run_id", "day"])
    lost = rng.random((len(samples), len(values))) < P_SPARSE_LOST
    samples[values] = samples[values].mask(lost)
    out = tables["outcomes"].copy()
    extra = float(np.sqrt(NOISE_FACTOR**2 - 1.0))  # added to the twin's own noise
    for col, sd in ADDITIVE_SD.items():
        out[col] = out[col] + extra * sd * rng.standard_normal(len(out))
    for col, sd in LOG_SD.items():
        out[col] = out[col] * np.exp(extra * sd * rng.standard_normal(len(out)))
    numeric = out.columns.drop("run_id")
    out[numeric] = out[numeric].clip(lower=0.0).round(3)
    out["dsp_yield_pct"] = out["dsp_yield_pct"].clip(upper=100.0)
    return {**tables, "samples": samples, "outcomes": out}
