"""Per-run inputs of the twin: latent clone biology plus the process conditions.

Every field is a 1-D float array with one entry per run, so the integrator works on whole
campaigns at once. Units are in the names.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np


@dataclass(frozen=True)
class CloneBiology:
    """Latent parameters of the clone that made each run (never seen by a model)."""

    mu_max_per_h: np.ndarray  # maximum specific growth rate
    x_max_e6_ml: np.ndarray  # density the clone can reach before space/O2/nutrients cap it
    qp_base_pg_cell_day: np.ndarray  # specific productivity at 36.5 °C
    lactate_shift_ratio: np.ndarray  # switch to lactate uptake once mu/mu_max falls below this
    ammonia_rate_mmol_1e9_h: np.ndarray  # basal NH4+ release from amino-acid catabolism
    death_sensitivity: np.ndarray  # multiplier on toxicity and ageing death
    galt_level: np.ndarray  # relative beta-1,4-galactosyltransferase activity
    gnti_level: np.ndarray  # relative Man5 -> complex processing (ManII/GnTI) activity
    fuct_level: np.ndarray  # relative core fucosyltransferase activity
    chain_imbalance: np.ndarray  # heavy-chain excess, -ln(LC:HC / 2); free HC aggregates
    aggregation_propensity: np.ndarray  # clone x molecule multiplier on HMW formation
    hcp_release: np.ndarray  # multiplier on host-cell protein per lysed cell
    stability_frac: np.ndarray  # share of qP kept over 60 generations

    @property
    def n(self) -> int:
        return int(self.mu_max_per_h.shape[0])


@dataclass(frozen=True)
class ProcessConditions:
    """Set points of each run (the DOE factors)."""

    seed_density_e6_ml: np.ndarray
    temp_shift_day: np.ndarray  # NaN = no shift
    temp_after_shift_c: np.ndarray
    ph_setpoint: np.ndarray
    feed_pct: np.ndarray  # daily bolus feed, % of working volume
    mn_um: np.ndarray  # MnCl2 supplement in the feed, µM in the culture
    galactose_mm: np.ndarray  # galactose supplement, mM in the culture


@dataclass(frozen=True)
class BatchEffects:
    """Campaign-level effects carried by each run (media lot, resin lot)."""

    media_growth_factor: np.ndarray
    protein_a_yield_shift: np.ndarray  # fraction, e.g. -0.01 = one point lower step yield


def take(obj, index: np.ndarray):
    """Return a copy of a per-run dataclass with every array indexed by ``index``."""
    return replace(obj, **{f.name: getattr(obj, f.name)[index] for f in fields(obj)})


def with_value(obj, **values):
    """Return a copy of a per-run dataclass with some fields set to constants or arrays."""
    n = next(iter(getattr(obj, f.name) for f in fields(obj))).shape[0]
    return replace(
        obj, **{k: np.broadcast_to(np.asarray(v, float), (n,)).copy() for k, v in values.items()}
    )
