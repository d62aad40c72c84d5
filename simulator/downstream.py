"""Aggregates, host-cell protein, DNA and the step-by-step purification train.

HMW rises with the clone's chain imbalance (free heavy chain), with titer, with late
culture death and with culture length. Downstream yield is the product of step yields:

- clarification suffers at low harvest viability (fines and debris);
- Protein A: recovery 95-97% on a column sized for the platform, loaded to 80% of its
  dynamic binding capacity (DBC); a harvest of higher titer needs more cycles, and past the
  cycles a batch can run, each cycle is loaded beyond 80% of DBC and product breaks through;
- low-pH viral-inactivation hold: the molecule's acid stability decides how much HMW forms
  (and partly precipitates) during the hold;
- polishing (CEX bind-elute) must bring HMW to <= 1%, each point removed costing ~2.5-3
  points of monomer, and must narrow its pool further when the HCP load is high;
- AEX flow-through, whose load is lowered when HCP is high; UF/DF.

HCP follows the cells that died (lysis) plus a small secreted share; DNA follows the lysed
cells too. Sources are given where each constant is defined.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HMW_TARGET_PCT = 1.0  # drug-substance HMW the polishing step must reach
POLISH_MONOMER_LOSS_PER_HMW_PT = 0.028  # 2-3 points of monomer per point of HMW removed
PROTEIN_A_LRV = 2.3  # log10 HCP reduction over Protein A
HCP_PER_LYSED_CELL_PG = 65.0
HCP_SECRETED_PG_CELL_DAY = 2.0

# Protein A capture. Protein A resin capacities have risen from ~30 to ~70 g/L over the last
# fifteen years (Cytiva, "Alkaline stability of protein A affinity resins"); 40 g/L stands
# for a mid-generation resin. Loading to 80% of DBC is the usual practice (the same page
# reports > 80% step yield at that load over the resin's life; platform step yields:
# Shukla et al. 2007, J Chromatogr B 848:28-39). The column is sized for the
# platform: a 4 g/L harvest in 4 cycles; a batch runs at most 6 cycles (one shift of the
# capture skid), so harvests above 6 g/L load each cycle beyond 80% of DBC.
PROTEIN_A_DBC_G_L = 40.0
PROTEIN_A_LOAD_FRACTION = 0.80
PROTEIN_A_DESIGN_TITER_G_L = 4.0
PROTEIN_A_DESIGN_CYCLES = 4
PROTEIN_A_MAX_CYCLES = 6
PROTEIN_A_RECOVERY = 0.965  # elution recovery below breakthrough (step yields 90-98%)
# Cumulative breakthrough loss against the load (fraction of DBC10%): a logistic stand-in for
# the breakthrough curve (reduced model, not fitted): ~0.3% at 80% of DBC, ~3% at 100%,
# ~12% at 120%.
BREAKTHROUGH_MAX = 0.15
BREAKTHROUGH_MID = 1.10
BREAKTHROUGH_WIDTH = 0.08

# Low-pH hold (pH ~3.5, 30-60 min): aggregation depends on the molecule's acid stability;
# increases of a fraction of a point to a few points of HMW are reported for IgG1s. About
# half of what forms is removed as precipitate at neutralisation and depth filtration.
LOW_PH_PRECIPITATED_SHARE = 0.5
LOW_PH_BASE_YIELD = 0.99

# Polishing pool cut against the HCP load after Protein A: above ~1,000 ppm the CEX pool is
# narrowed (reduced model: 3 points of yield per log10 of HCP above 1,000 ppm).
POLISH_HCP_REF_PPM = 1000.0
POLISH_LOSS_PER_HCP_LOG = 0.03

# DNA: diploid CHO cells carry ~5 pg DNA (2 x ~2.45 Gb, 0.978 Gb per pg: Dolezel et al.
# 2003, Cytometry A 51:127; CHO-K1 genome: Xu et al. 2011, Nat Biotechnol 29:735); Protein A
# removes ~3 log10 of DNA. AEX flow-through clears the rest with > 4 log10, so DNA costs
# no yield in the twin; it is reported so that a model can be asked for it.
DNA_PG_PER_CELL = 5.0
PROTEIN_A_DNA_LRV = 3.0


@dataclass(frozen=True)
class DownstreamResult:
    """Noise-free downstream outcomes, one entry per run."""

    hmw_pct: np.ndarray
    hcp_ppm: np.ndarray
    step_yields: dict[str, np.ndarray]
    dsp_yield_pct: np.ndarray
    protein_a_cycles: np.ndarray
    protein_a_load_fraction: np.ndarray  # load per cycle as a fraction of DBC10%
    low_ph_hmw_gain_pct: np.ndarray


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


def dna_ng_mg(dead_cells_e6_ml: np.ndarray, titer_g_l: np.ndarray) -> np.ndarray:
    """Host-cell DNA after Protein A, ng per mg of antibody, from the lysed cells."""
    harvest_mg_l = DNA_PG_PER_CELL * dead_cells_e6_ml  # 1e6 cells/mL x pg/cell = mg/L
    return harvest_mg_l / np.maximum(titer_g_l, 0.05) * 10.0 ** (-PROTEIN_A_DNA_LRV) * 1e3


def protein_a_load(titer_g_l: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cycles a harvest needs and the load of each cycle as a fraction of DBC10%."""
    per_cycle_g_per_l_harvest = PROTEIN_A_DESIGN_TITER_G_L / PROTEIN_A_DESIGN_CYCLES
    cycles = np.clip(
        np.ceil(np.maximum(titer_g_l, 0.0) / per_cycle_g_per_l_harvest - 1e-9),
        1,
        PROTEIN_A_MAX_CYCLES,
    )
    load = PROTEIN_A_LOAD_FRACTION * titer_g_l / (cycles * per_cycle_g_per_l_harvest)
    return cycles, load


def breakthrough_loss(load_fraction: np.ndarray) -> np.ndarray:
    """Share of the loaded antibody lost in the flow-through at this load (of DBC10%)."""
    z = (load_fraction - BREAKTHROUGH_MID) / BREAKTHROUGH_WIDTH
    return BREAKTHROUGH_MAX / (1.0 + np.exp(-z))


def purify(
    hmw: np.ndarray,
    hcp: np.ndarray,
    harvest_viability_pct: np.ndarray,
    protein_a_yield_shift: np.ndarray,
    titer_g_l: np.ndarray,
    low_ph_hmw_gain_pct: np.ndarray,
) -> DownstreamResult:
    """Step yields (fractions) and the overall purification yield (%).

    ``low_ph_hmw_gain_pct``: HMW (points) the low-pH hold adds for this molecule and clone.
    """
    via = harvest_viability_pct / 100.0
    cycles, load = protein_a_load(titer_g_l)
    recovery = np.clip(PROTEIN_A_RECOVERY + protein_a_yield_shift, 0.90, 0.98)
    gain = np.maximum(low_ph_hmw_gain_pct, 0.0)
    hmw_to_polish = hmw + (1.0 - LOW_PH_PRECIPITATED_SHARE) * gain
    hcp_logs = np.maximum(np.log10(np.maximum(hcp, 1e-9) / POLISH_HCP_REF_PPM), 0.0)
    steps = {
        "clarification": 0.985 - 0.30 * np.maximum(0.92 - via, 0.0),
        "protein_a": recovery * (1.0 - breakthrough_loss(load)),
        "low_ph_hold": LOW_PH_BASE_YIELD - LOW_PH_PRECIPITATED_SHARE * gain / 100.0,
        "polishing": 0.955
        - POLISH_MONOMER_LOSS_PER_HMW_PT * np.maximum(hmw_to_polish - HMW_TARGET_PCT, 0.0)
        - POLISH_LOSS_PER_HCP_LOG * hcp_logs,
        "aex": 0.98 - 0.01 * hcp_logs,
        "ufdf": np.full_like(hmw, 0.975),
    }
    overall = np.ones_like(hmw)
    for step_yield in steps.values():
        overall = overall * np.clip(step_yield, 0.0, 1.0)
    return DownstreamResult(
        hmw_pct=hmw,
        hcp_ppm=hcp,
        step_yields=steps,
        dsp_yield_pct=100.0 * overall,
        protein_a_cycles=cycles,
        protein_a_load_fraction=load,
        low_ph_hmw_gain_pct=gain,
    )
