"""The default set against published figures: stage-to-stage agreement, process effects.

Bands and their sources: simulator/constants.py (STAGE_SPEARMAN) and simulator/realism.py
(EFFECTS). Where only a direction is published the band is one-sided.
"""

from __future__ import annotations

import numpy as np
import pytest

from simulator.realism import EFFECTS, process_effects, stage_agreement


def test_screen_vs_ambr_rank_agreement_is_moderate(default_tables) -> None:
    rep = stage_agreement(default_tables)
    assert len(rep) == 5 and (rep["campaigns"] == 12).all()
    bad = rep.loc[~rep["ok"], ["screen_assay", "spearman_within_campaign"]]
    assert bad.empty, bad.to_string()


@pytest.fixture(scope="module")
def effects():
    return process_effects()


@pytest.mark.parametrize(
    "i", range(len(EFFECTS)), ids=[f"{e.factor}:{e.response}" for e in EFFECTS]
)
def test_process_factor_effect_has_the_published_direction_and_size(effects, i) -> None:
    row = effects.iloc[i]
    assert row["band_low"] <= row["effect"] <= row["band_high"], row.to_dict()
    if np.isfinite(row["band_low"]) or np.isfinite(row["band_high"]):
        assert row["matched_runs_same_way"] >= 0.9, row.to_dict()


def _grouped_r2(X, y, groups) -> float:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.metrics import r2_score
    from sklearn.model_selection import GroupKFold, cross_val_predict

    model = HistGradientBoostingRegressor(max_iter=200, learning_rate=0.05, random_state=0)
    pred = cross_val_predict(model, X, y, groups=groups, cv=GroupKFold(4))
    return float(r2_score(y, pred))


@pytest.fixture(scope="module")
def yield_r2(default_tables, tmp_path_factory) -> dict[str, float]:
    """Campaign-grouped R² of purification yield at day 7: screen only, culture only, both."""
    from features.assemble import featurize
    from features.contract.loader import load_campaign
    from simulator.campaign import SimulationConfig, write_set

    folder = tmp_path_factory.mktemp("realism_set")
    write_set(default_tables, folder, SimulationConfig(), "parquet")
    data = load_campaign(folder, require_outcomes=True)
    X = featurize(data, horizon_day=7.0).features
    y = data.outcomes.set_index("run_id")["dsp_yield_pct"].reindex(X.index)
    X, y = X[y.notna()], y[y.notna()]
    campaign = data.clones.set_index("clone_id")["campaign_id"]
    groups = data.runs.set_index("run_id")["clone_id"].reindex(X.index).map(campaign)
    screen = [c for c in X.columns if c.startswith("clone__")]
    culture = [c for c in X.columns if not c.startswith("clone__") or "molecule" in c]
    return {
        "screen": _grouped_r2(X[screen], y, groups),
        "culture": _grouped_r2(X[culture], y, groups),
        "both": _grouped_r2(X, y, groups),
    }


def test_the_screen_alone_no_longer_predicts_yield_like_an_assay_away(yield_r2) -> None:
    # earlier twin: screen HMW vs purification yield r = -0.93; now the screen alone
    # reaches a moderate R² and the Ambr data add to it
    assert 0.3 < yield_r2["screen"] < 0.7, yield_r2
    assert yield_r2["both"] > yield_r2["screen"], yield_r2


@pytest.mark.xfail(
    strict=True,
    reason="issue 11 asks that screen-only prediction of yield be clearly worse than "
    "prediction from Ambr culture data; on this twin the yield is mostly each clone's own "
    "aggregation, which the screen (LC:HC, HT-SEC) sees and culture data do not: measured "
    "R² screen 0.54, culture 0.05-0.09, both 0.59. Not forced by tuning the twin.",
)
def test_screen_only_yield_prediction_is_clearly_worse_than_with_ambr_data(yield_r2) -> None:
    assert yield_r2["both"] - yield_r2["screen"] >= 0.1, yield_r2
