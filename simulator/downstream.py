"""Aggregates, host-cell protein and the step-by-step purification train.

HMW rises with the clone's chain imbalance (free heavy chain), with titer, with late
culture death and with culture length. Downstream yield is the product of step yields:
clarification suffers at low harvest viability; Protein A 90-98%; low-pH hold; a polishing
step that must bring HMW to <= 1%, each point removed costing ~2.5 points of monomer;
AEX, whose load is lowered when HCP is high; UF/DF. HCP follows the cells that died.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HMW_TARGET_PCT = 1.0  # drug-substance HMW the polishing step must reach
POLISH_MONOMER_LOSS_PER_HMW_PT = 0.028  # 2-3 points of monomer per point of HMW removed
PROTEIN_A_LRV = 2.3  # log10 HCP reduction over Protein A
HCP_PER_LYSED_CELL_PG = 65.0
HCP_SECRETED_PG_CELL_DAY = 2.0


@dataclass(frozen=True)
class DownstreamResult:
    """Noise-free downstream outcomes, one entry per run."""

    hmw_pct: np.ndarray
    hcp_ppm: np.ndarray
    step_yields: dict[str, np.ndarray]
    dsp_yield_pct: np.ndarray


def hmw_pct(
    base_pct: np.ndarray,
    chain_imbalance: np.ndarray,
    titer_g_l: np.ndarray,
    harvest_viability_pct: np.ndarray,
    harvest_day: np.ndarray,
) -> np.ndarray:
    """HMW share of the Protein A eluate (%), before polishing."""
    dead_frac = 1.0 - harvest_viability_pct / 100.0
    return (
        base_pct
        * np.exp(1.6 * chain_imbalance)
        * (1.0 + 0.08 * titer_g_l)
        * (1.0 + 2.0 * dead_frac)
        * np.sqrt(harvest_day / 14.0)
    )


def hcp_ppm(
    hcp_release: np.ndarray,
    dead_cells_e6_ml: np.ndarray,
    ivcd_e6_cell_day_ml: np.ndarray,
    titer_g_l: np.ndarray,
) -> np.ndarray:
    """Host-cell protein after Protein A, ng per mg of antibody (ppm)."""
    harvest_mg_l = hcp_release * (
        HCP_PER_LYSED_CELL_PG * dead_cells_e6_ml + HCP_SECRETED_PG_CELL_DAY * ivcd_e6_cell_day_ml
    )
    harvest_ppm = 1e3 * harvest_mg_l / np.maximum(titer_g_l, 0.05)  # mg/g -> ppm is x1000
    return harvest_ppm * 10.0 ** (-PROTEIN_A_LRV)


def purify(
    hmw: np.ndarray,
    hcp: np.ndarray,
    harvest_viability_pct: np.ndarray,
    protein_a_yield_shift: np.ndarray,
) -> DownstreamResult:
    """Step yields (fractions) and the overall purification yield (%)."""
    via = harvest_viability_pct / 100.0
    steps = {
        "clarification": 0.985 - 0.30 * np.maximum(0.92 - via, 0.0),
        "protein_a": np.clip(0.955 + protein_a_yield_shift, 0.90, 0.98),
        "low_ph_hold": np.full_like(hmw, 0.99),
        "polishing": 0.955 - POLISH_MONOMER_LOSS_PER_HMW_PT * np.maximum(hmw - HMW_TARGET_PCT, 0.0),
        "aex": 0.98 - 0.01 * np.maximum(np.log10(np.maximum(hcp, 1e-9) / 1000.0), 0.0),
        "ufdf": np.full_like(hmw, 0.975),
    }
    overall = np.ones_like(hmw)
    for step_yield in steps.values():
        overall = overall * step_yield
    return DownstreamResult(
        hmw_pct=hmw, hcp_ppm=hcp, step_yields=steps, dsp_yield_pct=100.0 * overall
    )
