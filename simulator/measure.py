"""From noise-free culture to what a lab would record.

Measurement noise follows DESIGN.md §3 (VCD ~7% CV, metabolites ~5%, titer ~5%, glycans
±0.7 points, HMW ±0.2 points, HT purification ±2.5 points). On top: samples that were not
taken, single values that were lost, occasional outliers (a mis-diluted sample), and
campaign-level assay drift (titer, glycan, SEC and HCP assays of each campaign).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulator import constants as c
from simulator.kinetics import CultureResult

P_SAMPLE_MISSING = 0.02
P_VALUE_MISSING = 0.01
P_OUTLIER = 0.003
P_GLYCAN_PANEL_MISSING = 0.01

SAMPLE_COLUMNS = (
    "vcd_e6_ml",
    "viability_pct",
    "glucose_g_l",
    "lactate_g_l",
    "glutamine_mm",
    "ammonia_mm",
    "titer_g_l",
    "osmolality_mosm_kg",
    "ph",
    "temperature_c",
    "do_pct",
    "pco2_mmhg",
)
_CONTROLLED = ("ph", "temperature_c", "do_pct")
# decimals a lab instrument would report
_DECIMALS = {
    "vcd_e6_ml": 3,
    "viability_pct": 1,
    "glucose_g_l": 3,
    "lactate_g_l": 3,
    "glutamine_mm": 3,
    "ammonia_mm": 3,
    "titer_g_l": 3,
    "osmolality_mosm_kg": 0,
    "ph": 3,
    "temperature_c": 2,
    "do_pct": 1,
    "pco2_mmhg": 1,
}


def _cv(rng: np.random.Generator, x: np.ndarray, cv: float) -> np.ndarray:
    return x * np.exp(rng.normal(0.0, cv, x.shape))


def sample_table(
    rng: np.random.Generator,
    run_ids: np.ndarray,
    culture: CultureResult,
    ph_setpoint: np.ndarray,
    titer_assay_bias: np.ndarray,
) -> pd.DataFrame:
    """Daily samples with noise, missing rows and values, and outliers."""
    n, n_days = culture.vcd_e6_ml.shape
    shape = (n, n_days)
    lac = culture.lactate_mm
    vcd = np.nan_to_num(culture.vcd_e6_ml)
    true = {
        "vcd_e6_ml": _cv(rng, culture.vcd_e6_ml, 0.07),
        "viability_pct": np.minimum(culture.viability_pct + rng.normal(0, 1.0, shape), 100.0),
        "glucose_g_l": _cv(rng, culture.glucose_mm * c.MW_GLC / 1000.0, 0.05),
        "lactate_g_l": _cv(rng, lac * c.MW_LAC / 1000.0, 0.05),
        "glutamine_mm": _cv(rng, culture.glutamine_mm, 0.05),
        "ammonia_mm": _cv(rng, culture.ammonia_mm, 0.05),
        "titer_g_l": _cv(rng, culture.titer_g_l * titer_assay_bias[:, None], 0.05),
        "osmolality_mosm_kg": _cv(rng, culture.osmolality_mosm_kg, 0.01),
        # pH is controlled; high lactate outruns the base pump a little
        "ph": (
            ph_setpoint[:, None]
            - 0.002 * np.maximum(np.nan_to_num(lac) - 20.0, 0.0)
            + rng.normal(0, 0.02, shape)
        ),
        "temperature_c": culture.temperature_c + rng.normal(0, 0.05, shape),
        "do_pct": 40.0 + rng.normal(0, 3.0, shape),
        "pco2_mmhg": 35.0 + 2.0 * vcd**0.8 + rng.normal(0, 3.0, shape),
    }
    taken = ~np.isnan(culture.vcd_e6_ml)  # NaN after harvest
    last_day = taken.sum(axis=1) - 1
    skip = rng.random(shape) < P_SAMPLE_MISSING
    skip[:, 0] = False
    skip[np.arange(n), last_day] = False  # the harvest sample is always taken
    keep = taken & ~skip
    rows, days = np.nonzero(keep)
    table = {"run_id": run_ids[rows], "day": culture.day[days]}
    for col in SAMPLE_COLUMNS:
        values = true[col][rows, days]
        # outliers are analytical slips (mis-dilution, a bad count), not control failures
        p_out = 0.0 if col in _CONTROLLED else P_OUTLIER
        outlier = rng.random(values.shape) < p_out
        values = np.where(outlier, values * rng.choice([0.5, 1.8], values.shape), values)
        if col == "viability_pct":
            values = np.minimum(values, 100.0)
        values = np.where(rng.random(values.shape) < P_VALUE_MISSING, np.nan, values)
        table[col] = np.round(np.maximum(values, 0.0), _DECIMALS[col])
    return pd.DataFrame(table)


def outcome_table(
    rng: np.random.Generator,
    run_ids: np.ndarray,
    truth: dict[str, np.ndarray],
    assays: dict[str, np.ndarray],
) -> pd.DataFrame:
    """Measured endpoints of every run (one row per run, NaN where an assay failed)."""
    n = run_ids.shape[0]
    shift = assays["glycan_offset_pct"]  # assay drift moves signal between G0F and G1F
    out = {"run_id": run_ids}
    out["dsp_yield_pct"] = truth["dsp_yield_pct"] + rng.normal(0, 2.5, n)
    out["g0f_pct"] = truth["g0f_pct"] + shift + rng.normal(0, 0.7, n)
    out["g1f_pct"] = truth["g1f_pct"] - shift + rng.normal(0, 0.7, n)
    for col in ("g2f_pct", "man5_pct", "afucosylated_pct"):
        out[col] = truth[col] + rng.normal(0, 0.7, n)
    out["hmw_pct"] = truth["hmw_pct"] + assays["sec_offset_pct"] + rng.normal(0, 0.2, n)
    out["hcp_ppm"] = truth["hcp_ppm"] * assays["hcp_assay_factor"] * np.exp(rng.normal(0, 0.2, n))
    out["final_titer_g_l"] = (
        truth["final_titer_g_l"] * assays["titer_assay_bias"] * np.exp(rng.normal(0, 0.05, n))
    )
    df = pd.DataFrame(out)
    numeric = df.columns.drop("run_id")
    df[numeric] = df[numeric].clip(lower=0.0)
    df["dsp_yield_pct"] = df["dsp_yield_pct"].clip(upper=100.0)
    lost = rng.random(n) < P_GLYCAN_PANEL_MISSING
    glycan_cols = ["g0f_pct", "g1f_pct", "g2f_pct", "man5_pct", "afucosylated_pct"]
    df.loc[lost, glycan_cols] = np.nan
    decimals = {c2: 2 for c2 in numeric}
    decimals["hcp_ppm"] = 0
    decimals["final_titer_g_l"] = 3
    return df.round(decimals)
