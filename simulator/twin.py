"""The noise-free twin of a batch of runs: culture, then glycans, aggregates, HCP, purification.

Everything here is deterministic given its inputs: the campaign draws its assay drift and
:mod:`simulator.measure` adds measurement noise when a set is generated
(:mod:`simulator.campaign`) or a run is re-simulated (:mod:`simulator.closedloop`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator import downstream
from simulator.inputs import BatchEffects, CloneBiology, ProcessConditions
from simulator.kinetics import CultureResult, simulate_culture


def _last(a: np.ndarray) -> np.ndarray:
    """Last non-NaN value of each row (the harvest sample)."""
    idx = (~np.isnan(a)).sum(axis=1) - 1
    return a[np.arange(a.shape[0]), idx]


@dataclass(frozen=True)
class TwinResult:
    """Noise-free result of the twin for a batch of runs."""

    culture: CultureResult
    outcomes: dict[str, np.ndarray]  # same names as the outcomes table
    step_yields: dict[str, np.ndarray]  # fractions
    harvest_viability_pct: np.ndarray
    downstream: dict[str, np.ndarray]  # Protein A cycles and load, low-pH HMW gain, DNA


def run_twin(
    bio: CloneBiology,
    cond: ProcessConditions,
    batch: BatchEffects,
    hmw_base_pct: np.ndarray,
    low_ph_hmw_gain_pct: np.ndarray,
    days: int = 14,
) -> TwinResult:
    """Culture, glycans, aggregates, HCP and purification of each run, without noise.

    Directional tests call this with matched runs that differ in one input.
    """
    culture = simulate_culture(bio, cond, batch, days)
    via_h = _last(culture.viability_pct)
    titer_h = _last(culture.titer_g_l)
    hmw = downstream.hmw_pct(hmw_base_pct, bio.chain_imbalance, titer_h, via_h, culture.harvest_day)
    hcp = downstream.hcp_ppm(
        bio.hcp_release, culture.dead_cells_e6_ml, culture.ivcd_e6_cell_day_ml, titer_h
    )
    dsp = downstream.purify(
        hmw, hcp, via_h, batch.protein_a_yield_shift, titer_h, low_ph_hmw_gain_pct
    )
    g = culture.glycans
    outcomes = {
        "dsp_yield_pct": dsp.dsp_yield_pct,
        "g0f_pct": 100 * g["g0f"],
        "g1f_pct": 100 * g["g1f"],
        "g2f_pct": 100 * g["g2f"],
        "man5_pct": 100 * g["man5"],
        "afucosylated_pct": 100 * g["afuc"],
        "hmw_pct": hmw,
        "hcp_ppm": hcp,
        "final_titer_g_l": titer_h,
    }
    extra = {
        "protein_a_cycles": dsp.protein_a_cycles,
        "protein_a_load_fraction": dsp.protein_a_load_fraction,
        "low_ph_hmw_gain_pct": dsp.low_ph_hmw_gain_pct,
        "dna_ng_mg": downstream.dna_ng_mg(culture.dead_cells_e6_ml, titer_h),
    }
    return TwinResult(culture, outcomes, dsp.step_yields, via_h, extra)
