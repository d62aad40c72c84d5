"""Unit checks of the twin's building blocks on tiny inputs."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.campaign import SimulationConfig
from simulator.design import PLATFORM, design_set
from simulator.glyco import enzyme_activity, glycoform_shares, golgi_ph
from simulator.inputs import with_value
from simulator.kinetics import HARVEST_VIABILITY, simulate_culture


def test_golgi_ph_floor_and_published_formula() -> None:
    nh4 = np.array([0.1, 1.0, 5.0, 10.0])
    ph = golgi_ph(nh4)
    assert ph[0] == ph[1] == pytest.approx(6.6)  # resting pH below ~1.6 mM
    assert ph[2] == pytest.approx(7.5 + np.log10(5.0 / 9.5))
    assert np.all(np.diff(ph) >= 0)


def test_galt_is_more_ammonia_sensitive_than_fuct() -> None:
    ph = golgi_ph(np.array([8.0]))
    assert enzyme_activity(ph, "galt") < enzyme_activity(ph, "gnti") < enzyme_activity(ph, "fuct")


def test_glycoform_shares_sum_to_one_and_follow_the_arm_model() -> None:
    n = 5
    one = np.ones(n)
    shares = glycoform_shares(
        np.linspace(0.5, 12, n), np.linspace(10, 60, n), 0 * one, 0 * one, one, one, one
    )
    total = sum(shares.values())
    np.testing.assert_allclose(total, 1.0)
    complex_fucosylated = shares["g0f"] + shares["g1f"] + shares["g2f"]
    p = shares["g2f"] / complex_fucosylated
    p = np.sqrt(p)
    np.testing.assert_allclose(shares["g1f"] / complex_fucosylated, 2 * p * (1 - p))


def _culture(n: int = 20):
    design = design_set(np.random.default_rng(0), 1, n, 1, 1)
    cond = with_value(design.conditions, **PLATFORM)
    return simulate_culture(design.biology, cond, design.batch, 14)


def test_culture_is_physical() -> None:
    r = _culture()
    for arr in (r.vcd_e6_ml, r.glucose_mm, r.lactate_mm, r.ammonia_mm, r.titer_g_l):
        assert np.nanmin(arr) >= 0
    assert np.nanmax(r.viability_pct) <= 100
    titer = r.titer_g_l
    # titer never falls except by the dilution of a feed (at most the largest feed share)
    ratio = titer[:, 2:] / np.where(titer[:, 1:-1] > 0, titer[:, 1:-1], np.nan)
    assert np.nanmin(ratio) > 1 / 1.06
    shares = sum(r.glycans.values())
    np.testing.assert_allclose(shares, 1.0)


def test_harvest_rule_stops_sampling() -> None:
    r = _culture(60)
    early = r.harvest_day < 14
    for i in np.flatnonzero(early):
        d = int(r.harvest_day[i])
        assert r.viability_pct[i, d] < 100 * HARVEST_VIABILITY
        assert np.all(np.isnan(r.vcd_e6_ml[i, d + 1 :]))


def test_config_rejects_impossible_requests() -> None:
    with pytest.raises(ValueError, match="runs_per_clone"):
        SimulationConfig(runs_per_clone=5, conditions_per_campaign=4)
    with pytest.raises(ValueError, match="positive integer"):
        SimulationConfig(n_campaigns=0)


def test_hcp_of_an_early_harvest_does_not_change_after_the_harvest() -> None:
    """Regression (issue 11): feeds went on diluting harvested runs, understating their HCP.

    A run harvested on day d must carry the same dead-cell count and HCP whether the
    simulation stops on day d or goes on to day 14.
    """
    from simulator.downstream import hcp_ppm

    design = design_set(np.random.default_rng(3), 1, 80, 1, 1)
    bio = with_value(design.biology, death_sensitivity=design.biology.death_sensitivity * 3)
    cond = with_value(design.conditions, **PLATFORM)
    full = simulate_culture(bio, cond, design.batch, 14)
    early = np.flatnonzero(full.harvest_day < 14)
    assert early.size >= 5, "the draw must harvest some runs early"
    for d in np.unique(full.harvest_day[early]).astype(int):
        stopped = simulate_culture(bio, cond, design.batch, d)
        rows = early[full.harvest_day[early] == d]
        np.testing.assert_allclose(full.dead_cells_e6_ml[rows], stopped.dead_cells_e6_ml[rows])
        titer = full.titer_g_l[rows, d]
        np.testing.assert_allclose(
            hcp_ppm(
                bio.hcp_release[rows],
                full.dead_cells_e6_ml[rows],
                full.ivcd_e6_cell_day_ml[rows],
                titer,
            ),
            hcp_ppm(
                bio.hcp_release[rows],
                stopped.dead_cells_e6_ml[rows],
                stopped.ivcd_e6_cell_day_ml[rows],
                titer,
            ),
        )


def test_protein_a_cycles_follow_titer_and_overload_costs_yield() -> None:
    from simulator import downstream as ds

    titer = np.array([0.8, 2.0, 3.9, 4.1, 6.0, 7.0, 8.0, 10.0])
    cycles, load = ds.protein_a_load(titer)
    np.testing.assert_array_equal(cycles, [1, 2, 4, 5, 6, 6, 6, 6])
    assert np.all(load[:5] <= ds.PROTEIN_A_LOAD_FRACTION + 1e-12)  # within capacity: 80%
    assert np.all(np.diff(load[4:]) > 0)  # past 6 cycles each cycle is overloaded
    loss = ds.breakthrough_loss(load)
    assert loss[2] < 0.005 and 0.02 < ds.breakthrough_loss(np.array([1.0]))[0] < 0.05
    n = titer.size
    res = ds.purify(
        np.full(n, 3.0), np.full(n, 800.0), np.full(n, 85.0), np.zeros(n), titer, np.zeros(n)
    )
    pa = res.step_yields["protein_a"]
    assert pa[-1] < pa[4] - 0.05  # 10 g/L in 6 cycles loses > 5 points over 6 g/L
    assert np.all(pa <= 0.98) and np.all(pa >= 0.8)


def test_acid_labile_molecules_and_high_hcp_cost_downstream_yield() -> None:
    from simulator import downstream as ds

    one = np.ones(3)
    stable = ds.purify(3 * one, 800 * one, 85 * one, 0 * one, 4 * one, np.array([0.3, 0.3, 0.3]))
    labile = ds.purify(3 * one, 800 * one, 85 * one, 0 * one, 4 * one, np.array([1.5, 1.5, 1.5]))
    assert np.all(labile.dsp_yield_pct < stable.dsp_yield_pct)
    assert np.all(labile.step_yields["low_ph_hold"] < stable.step_yields["low_ph_hold"])
    assert np.all(labile.step_yields["polishing"] < stable.step_yields["polishing"])
    hcp = np.array([500.0, 2000.0, 8000.0])
    res = ds.purify(3 * one, hcp, 85 * one, 0 * one, 4 * one, 0.5 * one)
    assert np.all(np.diff(res.step_yields["polishing"]) < 0)
    # 3 points of polishing yield per log10 of HCP above 1,000 ppm
    drop = res.step_yields["polishing"][1] - res.step_yields["polishing"][2]
    assert drop == pytest.approx(ds.POLISH_LOSS_PER_HCP_LOG * np.log10(4.0))
