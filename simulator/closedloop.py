"""Re-run a clone of a generated set under another process condition: the closed loop.

The process-selection work asks "under which conditions would this clone purify best and
stay in spec?". Its answers are judged here: the twin re-runs the same run of the same set
- the same latent clone biology, media and resin lots, assay drift and the run's own
measurement-noise stream - under any condition inside the DOE box. Re-running a run under
its own condition gives back exactly its rows of the set; under another condition, every
difference is the condition's doing (common random numbers).

>>> from simulator.campaign import SimulationConfig, simulate_set
>>> cfg = SimulationConfig(n_campaigns=1, clones_per_campaign=3, seed=1)
>>> again = resimulate(cfg, "C01-K001-R1")
>>> again.outcomes.equals(simulate_set(cfg)["outcomes"].iloc[[0]].reset_index(drop=True))
True
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from simulator.campaign import (
    SimulationConfig,
    assay_drift,
    noise_seed,
    run_twin,
    set_design,
)
from simulator.design import DOE_BOX, in_box, without_warm_shift
from simulator.inputs import ProcessConditions, take, with_value
from simulator.measure import outcome_table, run_noise, sample_table


@dataclass(frozen=True)
class Resimulation:
    """One run re-simulated: its condition, noise-free outcomes, and what a lab would record."""

    run_id: str
    clone_id: str
    conditions: dict[str, float]
    truth: dict[str, float]  # noise-free outcomes (same names as the outcomes table)
    outcomes: pd.DataFrame  # one row, with measurement noise
    samples: pd.DataFrame  # the daily samples, with measurement noise


def resimulate(
    config: SimulationConfig, run_id: str, conditions: dict[str, float] | None = None
) -> Resimulation:
    """Re-run ``run_id`` of the set ``config`` makes, under ``conditions`` (default: its own).

    ``conditions`` may name any of the DOE factors (:data:`simulator.design.DOE_BOX`); the
    others keep the run's values. A ``temp_after_shift_c`` of 36 °C or more means no shift.
    Raises ``KeyError`` for an unknown run and ``ValueError`` for a factor that is not a
    DOE factor or a value outside the DOE box.
    """
    design = set_design(config)
    ids = design.runs["run_id"].to_numpy()
    where = np.flatnonzero(ids == run_id)
    if where.size == 0:
        raise KeyError(
            f"run {run_id!r} is not in the set this config makes "
            f"({len(ids)} runs, {ids[0]} ... {ids[-1]})"
        )
    idx = where[:1]
    cond = take(design.conditions, idx)
    own = {f.name: float(getattr(cond, f.name)[0]) for f in fields(ProcessConditions)}
    wanted = {**own, **(conditions or {})}
    unknown = sorted(set(conditions or {}) - set(DOE_BOX))
    if unknown:
        raise ValueError(f"not DOE factors: {unknown}; the factors are {sorted(DOE_BOX)}")
    if conditions:
        wanted = without_warm_shift(wanted)
        if wanted["temp_after_shift_c"] < 36.5 and np.isnan(wanted["temp_shift_day"]):
            raise ValueError(
                f"temp_after_shift_c={wanted['temp_after_shift_c']} is a shift: give "
                f"temp_shift_day too (inside {DOE_BOX['temp_shift_day']})"
            )
        outside = in_box(wanted)
        if outside:
            raise ValueError(f"outside the DOE box the twin was built for: {'; '.join(outside)}")
        cond = with_value(cond, **wanted)
    twin = run_twin(
        take(design.biology, idx),
        cond,
        take(design.batch, idx),
        design.hmw_base_pct[idx],
        design.low_ph_hmw_gain_pct[idx],
        config.days,
    )
    assays = {k: v[idx] for k, v in assay_drift(config, design).items()}
    noise = run_noise(noise_seed(config), idx, config.days + 1)
    samples = sample_table(
        noise, ids[idx], twin.culture, cond.ph_setpoint, assays["titer_assay_bias"]
    )
    return Resimulation(
        run_id=run_id,
        clone_id=str(design.runs["clone_id"].iloc[idx[0]]),
        conditions=wanted,
        truth={k: float(v[0]) for k, v in twin.outcomes.items()},
        outcomes=outcome_table(noise, ids[idx], twin.outcomes, assays),
        samples=samples,
    )
