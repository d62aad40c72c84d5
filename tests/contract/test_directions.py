"""Cause and effect of the twin match published bioprocess biology.

Each test simulates matched runs (the same clones, the same conditions) that differ in one
factor, with the noise-free twin, and checks the direction of the effect on the average
and on nearly every matched pair.
"""

from __future__ import annotations

import numpy as np
import pytest

from simulator.design import PLATFORM, design_set
from simulator.inputs import with_value
from simulator.twin import TwinResult, run_twin

N_CAMPAIGNS, N_CLONES = 3, 30


@pytest.fixture(scope="module")
def matched():
    """Clones of three campaigns, all run under the platform condition."""
    design = design_set(np.random.default_rng(42), N_CAMPAIGNS, N_CLONES, 1, 1)
    cond = with_value(design.conditions, **PLATFORM)
    return design, cond


def _run(design, bio=None, cond=None) -> TwinResult:
    return run_twin(
        bio or design.biology, cond, design.batch, design.hmw_base_pct, design.low_ph_hmw_gain_pct
    )


def _peak(result: TwinResult, name: str) -> np.ndarray:
    return np.nanmax(getattr(result.culture, name), axis=1)


def _qp(result: TwinResult) -> np.ndarray:
    return 1e3 * result.outcomes["final_titer_g_l"] / result.culture.ivcd_e6_cell_day_ml


def assert_up(low: np.ndarray, high: np.ndarray, share: float = 0.95) -> None:
    """``high`` exceeds ``low`` on average and in at least ``share`` of matched pairs."""
    assert np.mean(high) > np.mean(low), (np.mean(low), np.mean(high))
    frac = np.mean(high > low)
    assert frac >= share, f"only {frac:.0%} of matched runs moved the expected way"


def test_more_ammonia_less_galactosylation(matched) -> None:
    design, cond = matched
    base = _run(design, cond=cond)
    bio_hi = with_value(
        design.biology, ammonia_rate_mmol_1e9_h=design.biology.ammonia_rate_mmol_1e9_h * 1.5
    )
    high = _run(design, bio=bio_hi, cond=cond)
    assert_up(_peak(base, "ammonia_mm"), _peak(high, "ammonia_mm"), 1.0)
    assert_up(base.outcomes["g0f_pct"], high.outcomes["g0f_pct"])
    assert_up(high.outcomes["g2f_pct"], base.outcomes["g2f_pct"])


@pytest.mark.parametrize("factor,level", [("mn_um", 16.0), ("galactose_mm", 10.0)])
def test_mn_or_galactose_supplement_more_galactosylation(matched, factor, level) -> None:
    design, cond = matched
    base = _run(design, cond=cond)
    supp = _run(design, cond=with_value(cond, **{factor: level}))
    assert_up(supp.outcomes["g0f_pct"], base.outcomes["g0f_pct"], 1.0)
    assert_up(base.outcomes["g2f_pct"], supp.outcomes["g2f_pct"], 1.0)


def test_temperature_shift_raises_qp_and_lowers_peak_vcd(matched) -> None:
    design, cond = matched
    no_shift = _run(design, cond=with_value(cond, temp_after_shift_c=36.5, temp_shift_day=np.nan))
    shifted = _run(design, cond=with_value(cond, temp_after_shift_c=32.0, temp_shift_day=5.0))
    assert_up(_qp(no_shift), _qp(shifted), 1.0)
    assert_up(_peak(shifted, "vcd_e6_ml"), _peak(no_shift, "vcd_e6_ml"))


def test_higher_qp_more_man5(matched) -> None:
    design, cond = matched
    base = _run(design, cond=cond)
    bio_hi = with_value(
        design.biology, qp_base_pg_cell_day=design.biology.qp_base_pg_cell_day * 1.5
    )
    high = _run(design, bio=bio_hi, cond=cond)
    assert_up(_qp(base), _qp(high), 1.0)
    assert_up(base.outcomes["man5_pct"], high.outcomes["man5_pct"], 1.0)


def test_chain_imbalance_more_hmw_lower_yield(matched) -> None:
    design, cond = matched
    low = _run(design, bio=with_value(design.biology, chain_imbalance=0.05), cond=cond)
    high = _run(design, bio=with_value(design.biology, chain_imbalance=0.8), cond=cond)
    assert_up(low.outcomes["hmw_pct"], high.outcomes["hmw_pct"], 1.0)
    assert_up(high.outcomes["dsp_yield_pct"], low.outcomes["dsp_yield_pct"], 1.0)
    # the loss is the polishing step paying for the HMW it removes
    assert_up(high.step_yields["polishing"], low.step_yields["polishing"], 1.0)


def test_lower_harvest_viability_more_hcp_lower_yield(matched) -> None:
    design, cond = matched
    robust = _run(
        design,
        bio=with_value(design.biology, death_sensitivity=design.biology.death_sensitivity * 0.7),
        cond=cond,
    )
    fragile = _run(
        design,
        bio=with_value(design.biology, death_sensitivity=design.biology.death_sensitivity * 1.4),
        cond=cond,
    )
    # compare runs of equal length: the harvest rule ends some fragile runs early, and a
    # shorter culture has had less time to accumulate dead cells
    same_day = fragile.culture.harvest_day == robust.culture.harvest_day
    assert same_day.mean() > 0.6

    def pick(r: TwinResult, key: str) -> np.ndarray:
        return (r.harvest_viability_pct if key == "viability" else r.outcomes[key])[same_day]

    assert_up(pick(fragile, "viability"), pick(robust, "viability"), 1.0)
    assert_up(pick(robust, "hcp_ppm"), pick(fragile, "hcp_ppm"), 0.9)
    assert_up(pick(fragile, "dsp_yield_pct"), pick(robust, "dsp_yield_pct"), 0.9)
