"""From noise-free culture to what a lab would record.

Measurement noise follows DESIGN.md §3 (VCD ~7% CV, metabolites ~5%, titer ~5%, glycans
±0.7 points, HMW ±0.2 points, HT purification ±2.5 points). On top: samples that were not
taken, single values that were lost, occasional outliers (a mis-diluted sample), and
campaign-level assay drift (titer, glycan, SEC and HCP assays of each campaign).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulator import constants as c
from simulator.kinetics import CultureResult

P_SAMPLE_MISSING = 0.02
P_VALUE_MISSING = 0.01
P_OUTLIER = 0.003
P_GLYCAN_PANEL_MISSING = 0.01
N_OUTCOME_NOISE = 9  # dsp yield, five glycans, HMW, HCP, titer (outcome_table's order)

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


@dataclass(frozen=True)
class RunNoise:
    """Every random number a run's measurements use, drawn from the run's own stream.

    A run's noise depends only on the set's seed and the run's position, never on the
    other runs or on the run's own values, so re-simulating one run (under its own or
    another condition) meets exactly the same measurement noise: common random numbers.
    """

    normal: np.ndarray  # (runs, sample columns, days + 1): one standard normal per value
    uniform: np.ndarray  # (runs, 3 * sample columns + 1, days + 1): outlier, its size,
    # lost value for each column, then the skipped sample
    outcome_normal: np.ndarray  # (runs, N_OUTCOME_NOISE): one per measured endpoint
    outcome_uniform: np.ndarray  # (runs,)


def run_noise(seed: np.random.SeedSequence, run_numbers: np.ndarray, n_days: int) -> RunNoise:
    """The noise of the runs numbered ``run_numbers`` (their order in the set)."""
    k = len(SAMPLE_COLUMNS)
    normal = np.empty((len(run_numbers), k, n_days))
    uniform = np.empty((len(run_numbers), 3 * k + 1, n_days))
    o_normal = np.empty((len(run_numbers), N_OUTCOME_NOISE))
    o_uniform = np.empty(len(run_numbers))
    for i, number in enumerate(run_numbers):
        g = np.random.default_rng(
            np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, int(number)))
        )
        normal[i] = g.standard_normal((k, n_days))
        uniform[i] = g.random((3 * k + 1, n_days))
        o_normal[i] = g.standard_normal(N_OUTCOME_NOISE)
        o_uniform[i] = g.random()
    return RunNoise(normal, uniform, o_normal, o_uniform)


def sample_table(
    noise: RunNoise,
    run_ids: np.ndarray,
    culture: CultureResult,
    ph_setpoint: np.ndarray,
    titer_assay_bias: np.ndarray,
) -> pd.DataFrame:
    """Daily samples with noise, missing rows and values, and outliers."""
    n, n_days = culture.vcd_e6_ml.shape
    z = {col: noise.normal[:, j, :n_days] for j, col in enumerate(SAMPLE_COLUMNS)}
    k = len(SAMPLE_COLUMNS)
    lac = culture.lactate_mm
    vcd = np.nan_to_num(culture.vcd_e6_ml)

    def cv(x: np.ndarray, col: str, sd: float) -> np.ndarray:
        return x * np.exp(sd * z[col])

    true = {
        "vcd_e6_ml": cv(culture.vcd_e6_ml, "vcd_e6_ml", 0.07),
        "viability_pct": np.minimum(culture.viability_pct + z["viability_pct"], 100.0),
        "glucose_g_l": cv(culture.glucose_mm * c.MW_GLC / 1000.0, "glucose_g_l", 0.05),
        "lactate_g_l": cv(lac * c.MW_LAC / 1000.0, "lactate_g_l", 0.05),
        "glutamine_mm": cv(culture.glutamine_mm, "glutamine_mm", 0.05),
        "ammonia_mm": cv(culture.ammonia_mm, "ammonia_mm", 0.05),
        "titer_g_l": cv(culture.titer_g_l * titer_assay_bias[:, None], "titer_g_l", 0.05),
        "osmolality_mosm_kg": cv(culture.osmolality_mosm_kg, "osmolality_mosm_kg", 0.01),
        # pH is controlled; high lactate outruns the base pump a little
        "ph": (
            ph_setpoint[:, None]
            - 0.002 * np.maximum(np.nan_to_num(lac) - 20.0, 0.0)
            + 0.02 * z["ph"]
        ),
        "temperature_c": culture.temperature_c + 0.05 * z["temperature_c"],
        "do_pct": 40.0 + 3.0 * z["do_pct"],
        "pco2_mmhg": 35.0 + 2.0 * vcd**0.8 + 3.0 * z["pco2_mmhg"],
    }
    taken = ~np.isnan(culture.vcd_e6_ml)  # NaN after harvest
    last_day = taken.sum(axis=1) - 1
    skip = noise.uniform[:, 3 * k, :n_days] < P_SAMPLE_MISSING
    skip[:, 0] = False
    skip[np.arange(n), last_day] = False  # the harvest sample is always taken
    keep = taken & ~skip
    rows, days = np.nonzero(keep)
    table = {"run_id": run_ids[rows], "day": culture.day[days]}
    for j, col in enumerate(SAMPLE_COLUMNS):
        values = true[col]
        # outliers are analytical slips (mis-dilution, a bad count), not control failures
        p_out = 0.0 if col in _CONTROLLED else P_OUTLIER
        outlier = noise.uniform[:, 3 * j, :n_days] < p_out
        factor = np.where(noise.uniform[:, 3 * j + 1, :n_days] < 0.5, 0.5, 1.8)
        values = np.where(outlier, values * factor, values)
        if col == "viability_pct":
            values = np.minimum(values, 100.0)
        values = np.where(noise.uniform[:, 3 * j + 2, :n_days] < P_VALUE_MISSING, np.nan, values)
        table[col] = np.round(np.maximum(values[rows, days], 0.0), _DECIMALS[col])
    return pd.DataFrame(table)


def outcome_table(
    noise: RunNoise,
    run_ids: np.ndarray,
    truth: dict[str, np.ndarray],
    assays: dict[str, np.ndarray],
) -> pd.DataFrame:
    """Measured endpoints of every run (one row per run, NaN where an assay failed)."""
    z = noise.outcome_normal
    shift = assays["glycan_offset_pct"]  # assay drift moves signal between G0F and G1F
    out = {"run_id": run_ids}
    out["dsp_yield_pct"] = truth["dsp_yield_pct"] + 2.5 * z[:, 0]
    out["g0f_pct"] = truth["g0f_pct"] + shift + 0.7 * z[:, 1]
    out["g1f_pct"] = truth["g1f_pct"] - shift + 0.7 * z[:, 2]
    for j, col in enumerate(("g2f_pct", "man5_pct", "afucosylated_pct"), start=3):
        out[col] = truth[col] + 0.7 * z[:, j]
    out["hmw_pct"] = truth["hmw_pct"] + assays["sec_offset_pct"] + 0.2 * z[:, 6]
    out["hcp_ppm"] = truth["hcp_ppm"] * assays["hcp_assay_factor"] * np.exp(0.2 * z[:, 7])
    out["final_titer_g_l"] = (
        truth["final_titer_g_l"] * assays["titer_assay_bias"] * np.exp(0.05 * z[:, 8])
    )
    df = pd.DataFrame(out)
    numeric = df.columns.drop("run_id")
    df[numeric] = df[numeric].clip(lower=0.0)
    df["dsp_yield_pct"] = df["dsp_yield_pct"].clip(upper=100.0)
    lost = noise.outcome_uniform < P_GLYCAN_PANEL_MISSING
    glycan_cols = ["g0f_pct", "g1f_pct", "g2f_pct", "man5_pct", "afucosylated_pct"]
    df.loc[lost, glycan_cols] = np.nan
    decimals = {c2: 2 for c2 in numeric}
    decimals["hcp_ppm"] = 0
    decimals["final_titer_g_l"] = 3
    return df.round(decimals)
