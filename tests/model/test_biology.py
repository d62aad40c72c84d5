"""The model users get answers what-if questions the way the biology says.

Each check perturbs the inputs of real runs of the default set and compares the trained
model's predictions, on runs that stay inside its experience, with the direction the
literature (and the twin, tests/contract/test_directions.py) gives.
"""

from __future__ import annotations

import pandas as pd
import pytest

from features.assemble import long_frame
from models.flags import FLAG_UNKNOWN


@pytest.fixture(scope="module")
def frame(trained_default) -> pd.DataFrame:
    f = long_frame(trained_default.data)
    runs = f["run_id"].drop_duplicates().sample(150, random_state=4)
    return f[f["run_id"].isin(runs)].reset_index(drop=True)


def _delta(trained_default, frame: pd.DataFrame, changed: pd.DataFrame) -> pd.DataFrame:
    score = trained_default.bundle.score
    base = score(frame, reasons="none").set_index("run_id")
    new = score(changed, reasons="none").set_index("run_id")
    both = base["flag"].ne(FLAG_UNKNOWN) & new["flag"].ne(FLAG_UNKNOWN)
    assert both.mean() > 0.8, "the what-if left the model's experience"
    targets = trained_default.bundle.targets
    return (new[targets] - base[targets])[both]


@pytest.mark.slow
def test_more_early_ammonia_less_galactosylation(trained_default, frame) -> None:
    more = frame.assign(ammonia_mm=frame["ammonia_mm"] * 1.6)
    d = _delta(trained_default, frame, more)
    assert d["g0f_pct"].mean() > 0.3 and (d["g0f_pct"] > 0).mean() > 0.8  # G0F up
    assert d["g2f_pct"].mean() < -0.1 and (d["g2f_pct"] < 0).mean() > 0.8  # G2F down


@pytest.mark.slow
def test_mn_supplement_more_galactosylation(trained_default, frame) -> None:
    fed = frame.assign(run__mn_um=16.0)
    none = frame.assign(run__mn_um=0.0)
    d = _delta(trained_default, none, fed)
    assert d["g0f_pct"].mean() < -0.3  # Mn²⁺ is a GalT cofactor: less G0F
    assert d["g2f_pct"].mean() > 0.1  # and more G2F


@pytest.mark.slow
def test_hmw_signals_lower_predicted_yield(trained_default, frame) -> None:
    worse = frame.assign(
        clone__ss_hmw_pct=frame["clone__ss_hmw_pct"] + 4.0,  # screen HMW up 4 points
        clone__lc_hc_ratio=frame["clone__lc_hc_ratio"] * 0.7,  # heavy-chain excess
    )
    d = _delta(trained_default, frame, worse)
    assert d["dsp_yield_pct"].mean() < -2.0  # polishing costs monomer
