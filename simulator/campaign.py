"""Generate a whole campaign set: the four contract tables plus ``truth``.

>>> tables = simulate_set(SimulationConfig(n_campaigns=1, clones_per_campaign=3, seed=1))
>>> sorted(tables)
['clones', 'outcomes', 'runs', 'samples', 'truth']
>>> len(tables["runs"]) == 2 * 2 + 1 * 4 == len(tables["outcomes"])  # 1 of 3 clones deep
True
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd

from features.contract.files import write_atomic, write_text
from simulator import constants as c
from simulator.design import SetDesign, design_set
from simulator.inputs import CloneBiology, take, with_value
from simulator.measure import outcome_table, run_noise, sample_table
from simulator.twin import run_twin

TABLES = ("clones", "runs", "samples", "outcomes", "truth")
SCALE = "ambr15"


@dataclass(frozen=True)
class SimulationConfig:
    """What to generate. The defaults make the reference set (12 campaigns, 1,440 runs)."""

    n_campaigns: int = 12
    clones_per_campaign: int = 48
    runs_per_clone: int = 2
    conditions_per_campaign: int = 6
    days: int = 14
    seed: int = 7
    deep_clone_share: float = 0.25  # clones run under deep_runs_per_clone conditions
    deep_runs_per_clone: int = 4

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("seed", "deep_clone_share"):
                continue
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{f.name} must be a positive integer, got {value!r}")
        if not 0.0 <= self.deep_clone_share <= 1.0:
            raise ValueError(f"deep_clone_share must lie in 0-1, got {self.deep_clone_share!r}")
        for name in ("runs_per_clone", "deep_runs_per_clone"):
            if getattr(self, name) > self.conditions_per_campaign:
                raise ValueError(
                    f"{name} ({getattr(self, name)}) cannot exceed "
                    f"conditions_per_campaign ({self.conditions_per_campaign})"
                )
        if self.days < 6:
            raise ValueError(f"days must be at least 6 for a fed-batch, got {self.days}")


# Small-scale screen (deep-well / shake-flask fed-batch): no shift, no supplements.
SCREEN_CONDITIONS = {
    "seed_density_e6_ml": 0.5,
    "temp_shift_day": np.nan,
    "temp_after_shift_c": 36.5,
    "ph_setpoint": 7.0,
    "feed_pct": 3.0,
    "mn_um": 0.0,
    "galactose_mm": 0.0,
}
P_SCREEN_ASSAY_MISSING = 0.03


# How a clone's small-scale biology departs from its bioreactor biology (log-normal SD,
# or normal SD for the chain imbalance): the scale-down model is imperfect (shaken vessels:
# no pH control, surface aeration, evaporation, different shear and feeding), and clones
# react to it differently. The sizes are chosen so that screen-vs-Ambr rank agreement lands
# in the band of simulator.constants.STAGE_SPEARMAN (checked by a test; see its sources).
SCALE_DOWN_SD = {
    "qp_base_pg_cell_day": 0.30,
    "mu_max_per_h": 0.08,
    "x_max_e6_ml": 0.25,
    "death_sensitivity": 0.35,
    "ammonia_rate_mmol_1e9_h": 0.30,
    "galt_level": 0.10,
    "gnti_level": 0.12,
    "fuct_level": 0.08,
    "aggregation_propensity": 0.35,
    "hcp_release": 0.30,
}
SCALE_DOWN_CHAIN_SD = 0.12


def scale_down_biology(rng: np.random.Generator, bio: CloneBiology) -> CloneBiology:
    """The same clones as they behave in a small-scale screen (clone x scale interaction)."""
    m = bio.n
    changed = {
        name: getattr(bio, name) * np.exp(rng.normal(0.0, sd, m))
        for name, sd in SCALE_DOWN_SD.items()
    }
    changed["chain_imbalance"] = np.abs(bio.chain_imbalance + rng.normal(0, SCALE_DOWN_CHAIN_SD, m))
    return replace(bio, **changed)


def _clone_table(rng: np.random.Generator, design: SetDesign) -> pd.DataFrame:
    """Pre-bioreactor screening assays of each clone.

    The screen is the clone's *small-scale* biology (:func:`scale_down_biology`) run through
    the twin under small-scale conditions, read with the high-throughput assays a CLD lab
    uses at that stage (precision in simulator.constants: HT titer, HT-SEC, HT glycans).
    """
    first = pd.Series(np.arange(len(design.clone_index))).groupby(design.clone_index).first()
    idx = first.to_numpy()
    bio = take(design.biology, idx)
    m = bio.n
    small = scale_down_biology(rng, bio)
    aggregation = small.aggregation_propensity / bio.aggregation_propensity
    screen = run_twin(
        small,
        with_value(take(design.conditions, idx), **SCREEN_CONDITIONS),
        take(design.batch, idx),
        design.hmw_base_pct[idx] * aggregation,
        design.low_ph_hmw_gain_pct[idx],
    )
    o = screen.outcomes
    df = design.clones.copy()
    df["ss_titer_g_l"] = 0.6 * o["final_titer_g_l"] * np.exp(rng.normal(0, c.HT_TITER_CV, m))
    df["doubling_time_h"] = np.log(2) / (0.85 * small.mu_max_per_h) * np.exp(rng.normal(0, 0.05, m))
    df["stability_pct"] = np.clip(100 * bio.stability_frac + rng.normal(0, 3.0, m), 0, 100)
    df["lc_hc_ratio"] = 2.0 * np.exp(-small.chain_imbalance + rng.normal(0, 0.08, m))
    df["ss_hmw_pct"] = np.maximum(o["hmw_pct"] + rng.normal(0, c.HT_SEC_SD_PT, m), 0.1)
    for col in ("g0f_pct", "man5_pct", "afucosylated_pct"):
        df[f"ss_{col}"] = np.maximum(o[col] + rng.normal(0, c.HT_GLYCAN_SD_PT, m), 0.0)
    assays = [c2 for c2 in df.columns if c2.startswith("ss_") or c2 in ("doubling_time_h",)]
    for col in assays:  # a failed plate or a missed sample
        df.loc[rng.random(m) < P_SCREEN_ASSAY_MISSING, col] = np.nan
    return df.round({c2: 2 for c2 in assays} | {"stability_pct": 1, "lc_hc_ratio": 3})


def noise_seed(config: SimulationConfig) -> np.random.SeedSequence:
    """The root of every run's own measurement-noise stream (see measure.run_noise)."""
    return np.random.SeedSequence(config.seed, spawn_key=(2,))


def _streams(config: SimulationConfig) -> list[np.random.Generator]:
    return [np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(5)]


def set_design(config: SimulationConfig) -> SetDesign:
    """Every draw made before integration (the same for the same config)."""
    return design_set(
        _streams(config)[0],
        config.n_campaigns,
        config.clones_per_campaign,
        config.runs_per_clone,
        config.conditions_per_campaign,
        config.deep_clone_share,
        config.deep_runs_per_clone,
    )


def assay_drift(config: SimulationConfig, design: SetDesign) -> dict[str, np.ndarray]:
    """Campaign-level assay drift (titer, glycan, SEC and HCP assays), one value per run."""
    k = config.n_campaigns
    rng_a = _streams(config)[1]
    per_campaign = {
        "titer_assay_bias": np.exp(rng_a.normal(0, 0.03, k)),
        "glycan_offset_pct": rng_a.normal(0, 0.6, k),
        "sec_offset_pct": rng_a.normal(0, 0.1, k),
        "hcp_assay_factor": np.exp(rng_a.normal(0, 0.15, k)),
    }
    return {name: v[design.campaign_index] for name, v in per_campaign.items()}


def simulate_set(config: SimulationConfig) -> dict[str, pd.DataFrame]:
    """Simulate a campaign set; same config (and seed) gives identical tables."""
    design = set_design(config)
    twin = run_twin(
        design.biology,
        design.conditions,
        design.batch,
        design.hmw_base_pct,
        design.low_ph_hmw_gain_pct,
        config.days,
    )
    culture, outcomes_true = twin.culture, twin.outcomes
    assays = assay_drift(config, design)

    run_ids = design.runs["run_id"].to_numpy()
    # the DOE label is campaign-specific bookkeeping: a model would only memorise it
    runs = design.runs.drop(columns=["campaign_id", "condition"])
    runs.insert(2, "scale", SCALE)
    noise = run_noise(noise_seed(config), np.arange(len(run_ids)), config.days + 1)
    samples = sample_table(
        noise, run_ids, culture, design.conditions.ph_setpoint, assays["titer_assay_bias"]
    )
    outcomes = outcome_table(noise, run_ids, outcomes_true, assays)
    clones = _clone_table(_streams(config)[4], design)

    truth = pd.DataFrame(
        {
            "run_id": run_ids,
            "clone_id": design.runs["clone_id"],
            "campaign_id": design.runs["campaign_id"],
        }
    )
    for f in fields(design.biology):
        truth[f.name] = getattr(design.biology, f.name)
    truth["hmw_base_pct"] = design.hmw_base_pct
    truth["media_growth_factor"] = design.batch.media_growth_factor
    truth["protein_a_yield_shift"] = design.batch.protein_a_yield_shift
    for name, v in assays.items():
        truth[name] = v
    for name, v in outcomes_true.items():
        truth[name] = v
    for step, v in twin.step_yields.items():
        truth[f"{step}_yield_pct"] = 100 * v
    for name, v in twin.downstream.items():
        truth[name] = v
    truth["peak_vcd_e6_ml"] = np.nanmax(culture.vcd_e6_ml, axis=1)
    truth["harvest_viability_pct"] = twin.harvest_viability_pct
    truth["harvest_day"] = culture.harvest_day
    truth["ivcd_e6_cell_day_ml"] = culture.ivcd_e6_cell_day_ml
    truth["qp_pg_cell_day"] = 1e3 * outcomes_true["final_titer_g_l"] / culture.ivcd_e6_cell_day_ml
    truth["peak_lactate_mm"] = np.nanmax(culture.lactate_mm, axis=1)
    truth["peak_ammonia_mm"] = np.nanmax(culture.ammonia_mm, axis=1)
    truth["max_osmolality_mosm_kg"] = np.nanmax(culture.osmolality_mosm_kg, axis=1)
    return {
        "clones": clones,
        "runs": runs,
        "samples": samples,
        "outcomes": outcomes,
        "truth": truth,
    }


def _writer(table: pd.DataFrame, fmt: str) -> Callable[[Path], None]:
    """How one table goes to a file: CSV with a fixed float format, or zstd Parquet."""

    def write(path: Path) -> None:
        if fmt == "csv":
            table.to_csv(path, index=False, float_format="%.6g", lineterminator="\n")
        else:
            table.to_parquet(path, index=False, compression="zstd")

    return write


def write_set(
    tables: dict[str, pd.DataFrame], out_dir: Path, config: SimulationConfig, fmt: str = "parquet"
) -> list[Path]:
    """Write the tables and a manifest, each file atomically (:func:`write_atomic`).

    Output is byte-identical for identical inputs: no timestamps, fixed float format.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format must be 'csv' or 'parquet', got {fmt!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in TABLES:
        path = out_dir / f"{name}.{fmt}"
        write_atomic(path, _writer(tables[name], fmt))
        written.append(path)
        stale = out_dir / f"{name}.{'csv' if fmt == 'parquet' else 'parquet'}"
        stale.unlink(missing_ok=True)  # never leave two versions of a table side by side
    manifest = {
        "generator": "clonescout.simulator",
        "config": asdict(config),
        "rows": {name: len(tables[name]) for name in TABLES},
        "format": fmt,
    }
    write_text(out_dir / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return written
