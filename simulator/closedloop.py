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


def _checked(own: dict[str, float], conditions: dict[str, float] | None) -> dict[str, float]:
    """``own`` with ``conditions`` applied, refused when a factor is unknown or off the box."""
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
    return wanted


def _locate(design, run_ids) -> np.ndarray:
    ids = design.runs["run_id"].to_numpy()
    pos = pd.Series(np.arange(len(ids)), index=ids)
    missing = [r for r in run_ids if r not in pos.index]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise KeyError(
            f"run {missing[0]!r}{more} is not in the set this config makes "
            f"({len(ids)} runs, {ids[0]} ... {ids[-1]})"
        )
    return pos.loc[list(run_ids)].to_numpy()


def _rerun(design, idx: np.ndarray, cond: ProcessConditions, days: int):
    """The twin for the runs ``idx`` of ``design`` under ``cond`` (their own biology, lots)."""
    return run_twin(
        take(design.biology, idx),
        cond,
        take(design.batch, idx),
        design.hmw_base_pct[idx],
        design.low_ph_hmw_gain_pct[idx],
        days,
    )


def _twin_under(config: SimulationConfig, run_ids: list[str], conditions: pd.DataFrame):
    """The design, the runs' positions and the twin of ``run_ids[i]`` under row ``i``."""
    design = set_design(config)
    idx = _locate(design, run_ids)
    cond = take(design.conditions, idx)
    names = [f.name for f in fields(ProcessConditions)]
    rows = []
    for i, (_, row) in enumerate(conditions.iterrows()):
        own = {n: float(getattr(cond, n)[i]) for n in names}
        given = {str(k): float(v) for k, v in row.items() if not pd.isna(v)}
        rows.append(_checked(own, given))
    cond = with_value(cond, **{n: np.array([r[n] for r in rows]) for n in names})
    return design, idx, _rerun(design, idx, cond, config.days)


def true_outcomes(
    config: SimulationConfig, run_ids: list[str], conditions: pd.DataFrame
) -> pd.DataFrame:
    """Noise-free outcomes of ``run_ids[i]`` re-run under row ``i`` of ``conditions``.

    The vectorised form of :func:`resimulate` for judging many conditions at once (the
    same checks; the design is drawn once). An empty cell keeps the run's own value, as an
    absent factor does in :func:`resimulate`.
    """
    _, _, twin = _twin_under(config, run_ids, conditions)
    out = pd.DataFrame(twin.outcomes)
    out.insert(0, "run_id", list(run_ids))
    return out


def experiments(
    config: SimulationConfig, run_ids: list[str], conditions: pd.DataFrame, replicate: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """New runs of the clones of ``run_ids`` under ``conditions``: (truth, what the lab measures).

    Unlike :func:`resimulate`, which meets the run's own noise again (common random numbers,
    for comparing conditions), each ``replicate`` draws fresh measurement noise from its own
    stream, as a new bioreactor run would: experiments numbered differently are independent
    measurements of the same clone. The same ``replicate`` gives the same noise, so
    strategies compared on experiment number ``replicate`` meet the same luck.
    """
    design, idx, twin = _twin_under(config, run_ids, conditions)
    seed = np.random.SeedSequence(config.seed, spawn_key=(3, int(replicate)))
    noise = run_noise(seed, idx, config.days + 1)
    assays = {k: v[idx] for k, v in assay_drift(config, design).items()}
    truth = pd.DataFrame(twin.outcomes)
    truth.insert(0, "run_id", list(run_ids))
    measured = outcome_table(noise, np.asarray(run_ids), twin.outcomes, assays)
    return truth, measured


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
    idx = _locate(design, [run_id])
    cond = take(design.conditions, idx)
    own = {f.name: float(getattr(cond, f.name)[0]) for f in fields(ProcessConditions)}
    wanted = _checked(own, conditions)
    if conditions:
        cond = with_value(cond, **wanted)
    twin = _rerun(design, idx, cond, config.days)
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
