"""Molecules -> campaigns -> clones -> runs: the structure of a generated set.

A campaign screens one molecule in one parental line; its clones' latent biology is drawn
around that parental line, and each clone runs under the platform condition plus
``runs_per_clone - 1`` other conditions of the campaign's small DOE, so process effects can
be learnt within clones. Media lot and resin lot are campaign-level batch effects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulator.inputs import BatchEffects, CloneBiology, ProcessConditions


@dataclass(frozen=True)
class Molecule:
    """An IgG1 with its own aggregation and glycan tendencies."""

    name: str
    hmw_base_pct: float
    galt_factor: float
    gnti_factor: float
    fuct_factor: float
    low_ph_hmw_gain_pct: float  # HMW formed in the low-pH hold: the molecule's acid stability


# Acid stability differs between IgG1s: a stable one gains a few tenths of a point of HMW in
# the low-pH hold, a labile one one to two points (see simulator.downstream).
MOLECULES = (
    Molecule(
        "mAb-A", 1.5, galt_factor=1.00, gnti_factor=1.00, fuct_factor=1.00, low_ph_hmw_gain_pct=0.5
    ),
    Molecule(
        "mAb-B", 2.0, galt_factor=0.95, gnti_factor=0.95, fuct_factor=1.05, low_ph_hmw_gain_pct=1.5
    ),
    Molecule(
        "mAb-C", 1.2, galt_factor=1.04, gnti_factor=1.05, fuct_factor=0.95, low_ph_hmw_gain_pct=0.3
    ),
)

# DOE levels (Ambr15 fed-batch screening). Platform = first level of each factor.
PLATFORM = {
    "temp_after_shift_c": 34.0,
    "temp_shift_day": 6.0,
    "ph_setpoint": 7.0,
    "feed_pct": 4.0,
    "mn_um": 0.0,
    "galactose_mm": 0.0,
    "seed_density_e6_ml": 0.6,
}
LEVELS = {
    "temp_after_shift_c": (36.5, 34.0, 33.0, 32.0),  # 36.5 = no shift
    "temp_shift_day": (5.0, 6.0, 7.0),
    "ph_setpoint": (6.9, 7.0, 7.1),
    "feed_pct": (3.0, 4.0, 5.0),
    "mn_um": (0.0, 8.0, 16.0),
    "galactose_mm": (0.0, 10.0),
    "seed_density_e6_ml": (0.4, 0.6, 0.8),
}


@dataclass(frozen=True)
class SetDesign:
    """Everything drawn before integration: tables of ids plus per-run inputs."""

    clones: pd.DataFrame  # clone_id, campaign_id, molecule (one parental line per campaign)
    runs: pd.DataFrame  # run_id, clone_id, campaign_id, condition columns
    biology: CloneBiology  # per run
    conditions: ProcessConditions  # per run
    batch: BatchEffects  # per run
    hmw_base_pct: np.ndarray  # per run (molecule x clone aggregation propensity)
    low_ph_hmw_gain_pct: np.ndarray  # per run (molecule acid stability x clone propensity)
    clone_index: np.ndarray  # per run, row in ``clones``
    campaign_index: np.ndarray  # per run


def _lognormal(rng: np.random.Generator, sd: float, size: int) -> np.ndarray:
    return np.exp(rng.normal(0.0, sd, size))


def draw_conditions(rng: np.random.Generator, n_conditions: int) -> pd.DataFrame:
    """The campaign's DOE: the platform condition plus random level combinations."""
    rows = [dict(PLATFORM)]
    while len(rows) < n_conditions:
        row = {k: float(rng.choice(v)) for k, v in LEVELS.items()}
        if row["temp_after_shift_c"] >= 36.5:
            row["temp_shift_day"] = np.nan
        if row not in rows:
            rows.append(row)
    return pd.DataFrame(rows)


def _draw_clone_biology(rng: np.random.Generator, m: int, mol: Molecule) -> dict:
    """Parental line, then ``m`` clones around it (arrays per clone)."""
    par_mu = rng.uniform(0.036, 0.043)
    par_qp = 28.0 * _lognormal(rng, 0.15, 1)[0]
    par_xmax = 45.0 * _lognormal(rng, 0.10, 1)[0]
    par_amm = 0.0010 * _lognormal(rng, 0.20, 1)[0]
    par_shift = rng.uniform(0.42, 0.58)
    qp = par_qp * _lognormal(rng, 0.35, m)
    # low ratios switch late (or never): the lactate-accumulating clones of a screen
    shift = np.clip(par_shift + rng.normal(0, 0.08, m), 0.25, 0.9)
    return {
        "qp_base_pg_cell_day": qp,
        "mu_max_per_h": par_mu * _lognormal(rng, 0.06, m) * (qp / par_qp) ** -0.08,
        "x_max_e6_ml": par_xmax * _lognormal(rng, 0.20, m),
        "lactate_shift_ratio": shift,
        "ammonia_rate_mmol_1e9_h": par_amm * _lognormal(rng, 0.40, m),
        "death_sensitivity": _lognormal(rng, 0.45, m),
        "galt_level": mol.galt_factor * _lognormal(rng, 0.05, 1)[0] * _lognormal(rng, 0.10, m),
        "gnti_level": mol.gnti_factor * _lognormal(rng, 0.12, m),
        "fuct_level": mol.fuct_factor * _lognormal(rng, 0.08, m),
        "chain_imbalance": np.abs(rng.normal(0.0, 0.35, m)),
        "aggregation_propensity": _lognormal(rng, 0.35, m),
        "hcp_release": _lognormal(rng, 0.50, m),
        "stability_frac": np.clip(1.0 - np.abs(rng.normal(0.0, 0.12, m)), 0.5, 1.0),
    }


def design_set(
    rng: np.random.Generator,
    n_campaigns: int,
    clones_per_campaign: int,
    runs_per_clone: int,
    conditions_per_campaign: int,
) -> SetDesign:
    """Draw molecules, campaigns, clones and runs."""
    if runs_per_clone > conditions_per_campaign:
        raise ValueError(
            f"runs_per_clone ({runs_per_clone}) cannot exceed conditions_per_campaign "
            f"({conditions_per_campaign}): each run of a clone uses a distinct condition"
        )
    clone_rows, run_rows, bio_parts, batch_parts, hmw_parts, acid_parts = [], [], [], [], [], []
    clone_idx, camp_idx = [], []
    for ci in range(n_campaigns):
        cid = f"C{ci + 1:02d}"
        mol = MOLECULES[ci % len(MOLECULES)]
        bio = _draw_clone_biology(rng, clones_per_campaign, mol)
        doe = draw_conditions(rng, conditions_per_campaign)
        media = rng.normal(1.0, 0.03)
        resin = rng.normal(0.0, 0.01)
        for j in range(clones_per_campaign):
            clone_id = f"{cid}-K{j + 1:03d}"
            clone_rows.append(
                {
                    "clone_id": clone_id,
                    "campaign_id": cid,
                    "molecule": mol.name,
                }
            )
            others = (
                [1 + (j + r) % (conditions_per_campaign - 1) for r in range(runs_per_clone - 1)]
                if conditions_per_campaign > 1
                else []
            )
            for r, k in enumerate([0, *others]):
                run_rows.append(
                    {
                        "run_id": f"{clone_id}-R{r + 1}",
                        "clone_id": clone_id,
                        "campaign_id": cid,
                        "condition": f"{cid}-D{k + 1}",
                        **doe.iloc[k].to_dict(),
                    }
                )
                clone_idx.append(len(clone_rows) - 1)
                camp_idx.append(ci)
                bio_parts.append({k2: v[j] for k2, v in bio.items()})
                batch_parts.append((media, resin))
                hmw_parts.append(mol.hmw_base_pct * bio["aggregation_propensity"][j])
                acid_parts.append(
                    mol.low_ph_hmw_gain_pct * np.sqrt(bio["aggregation_propensity"][j])
                )
    runs = pd.DataFrame(run_rows)
    bio_df = pd.DataFrame(bio_parts)
    batch_arr = np.array(batch_parts)
    return SetDesign(
        clones=pd.DataFrame(clone_rows),
        runs=runs,
        biology=CloneBiology(**{k: bio_df[k].to_numpy(float) for k in bio_df.columns}),
        conditions=ProcessConditions(
            **{k: runs[k].to_numpy(float) for k in ProcessConditions.__dataclass_fields__}
        ),
        batch=BatchEffects(
            media_growth_factor=batch_arr[:, 0], protein_a_yield_shift=batch_arr[:, 1]
        ),
        hmw_base_pct=np.array(hmw_parts),
        low_ph_hmw_gain_pct=np.array(acid_parts),
        clone_index=np.array(clone_idx),
        campaign_index=np.array(camp_idx),
    )
