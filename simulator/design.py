"""Molecules -> campaigns -> clones -> runs: the structure of a generated set.

A campaign screens one molecule in one parental line; its clones' latent biology is drawn
around that parental line, and each clone runs under the platform condition plus other
conditions of the campaign's small DOE, so process effects can be learnt within clones.
The DOEs of all campaigns together are one space-filling design over the process space
(:data:`DOE_BOX`). Media lot and resin lot are campaign-level batch effects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


# Acid stability differs between molecules (Mazzer et al. 2015, J Chromatogr A:
# aggregation in the low-pH hold is molecule-dependent and faster after Protein A): here a
# stable IgG1 gains a few tenths of a point of HMW in the hold, a labile one about a point.
# These sizes are the twin's assumption, not published figures.
MOLECULES = (
    Molecule(
        "mAb-A", 1.5, galt_factor=1.00, gnti_factor=1.00, fuct_factor=1.00, low_ph_hmw_gain_pct=0.4
    ),
    Molecule(
        "mAb-B", 2.0, galt_factor=0.95, gnti_factor=0.95, fuct_factor=1.05, low_ph_hmw_gain_pct=1.0
    ),
    Molecule(
        "mAb-C", 1.2, galt_factor=1.04, gnti_factor=1.05, fuct_factor=0.95, low_ph_hmw_gain_pct=0.3
    ),
)

# The platform condition every clone runs under (Ambr15 fed-batch).
PLATFORM = {
    "temp_after_shift_c": 34.0,
    "temp_shift_day": 6.0,
    "ph_setpoint": 7.0,
    "feed_pct": 4.0,
    "mn_um": 0.0,
    "galactose_mm": 0.0,
    "seed_density_e6_ml": 0.6,
}
# The process space a campaign history explores (low, high): the box of the space-filling
# design, and the only conditions under which the twin re-simulates a clone (closed loop).
# Shift temperatures of 31-34 °C and shift days 4-8 are the usual CHO practice; Mn2+ up to
# 16 µM and galactose up to 10 mM are the top levels of the twin's earlier per-campaign
# DOEs (wider supplements push G2F above its published range); pH 6.85-7.15 and seeding
# 0.3-1.0e6 cells/mL are ordinary fed-batch set points.
DOE_BOX = {
    "temp_after_shift_c": (31.0, 36.5),  # at or above NO_SHIFT_ABOVE_C: no shift at all
    "temp_shift_day": (4.0, 8.0),
    "ph_setpoint": (6.85, 7.15),
    "feed_pct": (2.5, 5.5),
    "mn_um": (0.0, 16.0),
    "galactose_mm": (0.0, 10.0),
    "seed_density_e6_ml": (0.3, 1.0),
}
NO_SHIFT_ABOVE_C = 36.0
_DECIMALS = {
    "temp_after_shift_c": 1,
    "temp_shift_day": 0,
    "ph_setpoint": 2,
    "feed_pct": 1,
    "mn_um": 1,
    "galactose_mm": 1,
    "seed_density_e6_ml": 2,
}


def _condition(point: np.ndarray) -> dict:
    """A point of the unit cube as set points a lab would enter (rounded, shift or none)."""
    row = {}
    for (name, (lo, hi)), u in zip(DOE_BOX.items(), point, strict=True):
        row[name] = round(lo + u * (hi - lo), _DECIMALS[name])
    return without_warm_shift(row)


def without_warm_shift(cond: dict) -> dict:
    """``cond`` with a shift to NO_SHIFT_ABOVE_C or warmer written as no shift at all."""
    if cond["temp_after_shift_c"] >= NO_SHIFT_ABOVE_C:
        cond["temp_after_shift_c"], cond["temp_shift_day"] = 36.5, np.nan
    return cond


def history_design(rng: np.random.Generator, n_campaigns: int, n_conditions: int) -> list:
    """Each campaign's DOE: the platform plus its share of one space-filling design.

    The non-platform conditions of the whole history are one Latin hypercube over
    :data:`DOE_BOX` (optimised for centred discrepancy), dealt out to the campaigns in
    turn, so that together the campaigns cover the process space while each campaign runs
    a small, spread-out DOE.
    """
    from scipy.stats import qmc

    n_other = n_campaigns * (n_conditions - 1)
    points = (
        qmc.LatinHypercube(d=len(DOE_BOX), optimization="random-cd", seed=rng).random(n_other)
        if n_other
        else np.empty((0, len(DOE_BOX)))
    )
    order = rng.permutation(n_other)
    per = []
    for ci in range(n_campaigns):
        mine = points[order[ci * (n_conditions - 1) : (ci + 1) * (n_conditions - 1)]]
        per.append(pd.DataFrame([dict(PLATFORM)] + [_condition(u) for u in mine]))
    return per


def in_box(cond: dict) -> list[str]:
    """What in a condition lies outside :data:`DOE_BOX` (empty when it is inside)."""
    bad = []
    for name, (lo, hi) in DOE_BOX.items():
        v = cond[name]
        if name == "temp_shift_day" and (v is None or np.isnan(v)):
            continue  # no shift
        if not lo <= v <= hi:
            bad.append(f"{name}={v} outside {lo}-{hi}")
    return bad


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
    deep_clone_share: float = 0.0,
    deep_runs_per_clone: int | None = None,
) -> SetDesign:
    """Draw molecules, campaigns, clones and runs.

    Every clone runs under the platform and ``runs_per_clone - 1`` other conditions of its
    campaign's DOE; a share ``deep_clone_share`` of each campaign's clones runs under
    ``deep_runs_per_clone`` conditions, so that clone x condition effects can be learnt.
    """
    deep_runs = runs_per_clone if deep_runs_per_clone is None else deep_runs_per_clone
    for name, k in (("runs_per_clone", runs_per_clone), ("deep_runs_per_clone", deep_runs)):
        if k > conditions_per_campaign:
            raise ValueError(
                f"{name} ({k}) cannot exceed conditions_per_campaign "
                f"({conditions_per_campaign}): each run of a clone uses a distinct condition"
            )
    n_deep = round(deep_clone_share * clones_per_campaign)
    does = history_design(rng, n_campaigns, conditions_per_campaign)
    rows = _Rows()
    for ci in range(n_campaigns):
        _draw_campaign(
            rng, rows, ci, does[ci], clones_per_campaign, n_deep, runs_per_clone, deep_runs
        )
    return rows.design()


def _draw_campaign(
    rng: np.random.Generator,
    rows: _Rows,
    ci: int,
    doe: pd.DataFrame,
    n_clones: int,
    n_deep: int,
    runs_per_clone: int,
    deep_runs: int,
) -> None:
    """Campaign ``ci``: its clones' biology and lots, and every run of its clones.

    Draws, in this order: the clones' biology, which clones run deep, the media lot and
    the resin lot (the order fixes the generated set for a seed).
    """
    cid = f"C{ci + 1:02d}"
    mol = MOLECULES[ci % len(MOLECULES)]
    bio = _draw_clone_biology(rng, n_clones, mol)
    deep = set(rng.choice(n_clones, n_deep, replace=False).tolist())
    media = rng.normal(1.0, 0.03)
    resin = rng.normal(0.0, 0.01)
    for j in range(n_clones):
        clone_id = f"{cid}-K{j + 1:03d}"
        rows.clones.append({"clone_id": clone_id, "campaign_id": cid, "molecule": mol.name})
        k_runs = deep_runs if j in deep else runs_per_clone
        for r, k in enumerate(_conditions_of_clone(j, k_runs, len(doe))):
            rows.runs.append(
                {
                    "run_id": f"{clone_id}-R{r + 1}",
                    "clone_id": clone_id,
                    "campaign_id": cid,
                    "condition": f"{cid}-D{k + 1}",
                    **doe.iloc[k].to_dict(),
                }
            )
            rows.clone_index.append(len(rows.clones) - 1)
            rows.campaign_index.append(ci)
            rows.biology.append({name: v[j] for name, v in bio.items()})
            rows.batch.append((media, resin))
            rows.hmw.append(mol.hmw_base_pct * bio["aggregation_propensity"][j])
            rows.acid.append(mol.low_ph_hmw_gain_pct * np.sqrt(bio["aggregation_propensity"][j]))


def _conditions_of_clone(j: int, k_runs: int, n_conditions: int) -> list[int]:
    """DOE rows clone ``j`` runs under: the platform (row 0), then ``k_runs - 1`` others.

    The others are taken in turn, starting one further along for each clone, so that a
    campaign's clones share its conditions out evenly.
    """
    others = (
        [1 + (j + r) % (n_conditions - 1) for r in range(k_runs - 1)] if n_conditions > 1 else []
    )
    return [0, *others]


@dataclass
class _Rows:
    """Table rows and per-run inputs, collected campaign by campaign."""

    clones: list[dict] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)
    biology: list[dict] = field(default_factory=list)  # per run, CloneBiology fields
    batch: list[tuple[float, float]] = field(default_factory=list)  # per run, (media, resin)
    hmw: list[float] = field(default_factory=list)
    acid: list[float] = field(default_factory=list)
    clone_index: list[int] = field(default_factory=list)
    campaign_index: list[int] = field(default_factory=list)

    def design(self) -> SetDesign:
        runs = pd.DataFrame(self.runs)
        bio_df = pd.DataFrame(self.biology)
        batch_arr = np.array(self.batch)
        return SetDesign(
            clones=pd.DataFrame(self.clones),
            runs=runs,
            biology=CloneBiology(**{k: bio_df[k].to_numpy(float) for k in bio_df.columns}),
            conditions=ProcessConditions(
                **{k: runs[k].to_numpy(float) for k in ProcessConditions.__dataclass_fields__}
            ),
            batch=BatchEffects(
                media_growth_factor=batch_arr[:, 0], protein_a_yield_shift=batch_arr[:, 1]
            ),
            hmw_base_pct=np.array(self.hmw),
            low_ph_hmw_gain_pct=np.array(self.acid),
            clone_index=np.array(self.clone_index),
            campaign_index=np.array(self.campaign_index),
        )
