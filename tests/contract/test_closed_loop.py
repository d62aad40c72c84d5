"""simulator.closedloop: re-running a run of a set, under its own or another condition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulator.campaign import SimulationConfig, simulate_set
from simulator.closedloop import resimulate

CFG = SimulationConfig(n_campaigns=3, clones_per_campaign=12, seed=6)  # 6 early harvests


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return simulate_set(CFG)


def test_a_run_under_its_own_condition_gives_back_exactly_its_rows(tables) -> None:
    truth = tables["truth"].set_index("run_id")
    early = truth.index[truth["harvest_day"] < CFG.days].tolist()
    picked = tables["runs"]["run_id"].iloc[::5].tolist() + early[:3]
    assert early, "the set should harvest some runs early"
    for run_id in picked:
        again = resimulate(CFG, run_id)
        want_o = tables["outcomes"].loc[tables["outcomes"]["run_id"] == run_id]
        want_s = tables["samples"].loc[tables["samples"]["run_id"] == run_id]
        pd.testing.assert_frame_equal(again.outcomes, want_o.reset_index(drop=True))
        pd.testing.assert_frame_equal(again.samples, want_s.reset_index(drop=True))
        for name, value in again.truth.items():
            assert value == truth.loc[run_id, name], (run_id, name)


def test_another_condition_moves_the_outcomes_the_published_way(tables) -> None:
    runs = tables["runs"].set_index("run_id")
    plain = runs.index[(runs["mn_um"] == 0) & (runs["galactose_mm"] == 0)][:6]
    assert len(plain) >= 3
    for run_id in plain:
        base = resimulate(CFG, run_id)
        fed = resimulate(CFG, run_id, {"mn_um": 16.0, "galactose_mm": 10.0})
        assert fed.conditions["mn_um"] == 16.0 and fed.clone_id == base.clone_id
        assert fed.truth["g0f_pct"] < base.truth["g0f_pct"]  # more galactosylated
        assert fed.truth["g2f_pct"] > base.truth["g2f_pct"]
        # the same noise stream: the titer's measured/true ratio is unchanged
        ratio = [
            r.outcomes["final_titer_g_l"].iloc[0] / r.truth["final_titer_g_l"] for r in (base, fed)
        ]
        assert ratio[0] == pytest.approx(ratio[1], abs=2e-3)


def test_no_shift_and_bad_requests_are_explained() -> None:
    run_id = "C01-K001-R1"
    none = resimulate(CFG, run_id, {"temp_after_shift_c": 36.5})
    assert np.isnan(none.conditions["temp_shift_day"])
    with pytest.raises(ValueError, match=r"ph_setpoint=7.4 outside 6.85-7.15"):
        resimulate(CFG, run_id, {"ph_setpoint": 7.4})
    with pytest.raises(ValueError, match="not DOE factors: \\['stirrer_rpm'\\]"):
        resimulate(CFG, run_id, {"stirrer_rpm": 400})
    with pytest.raises(KeyError, match="'C09-K001-R1' is not in the set"):
        resimulate(CFG, "C09-K001-R1")
