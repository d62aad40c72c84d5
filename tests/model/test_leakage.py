"""Shuffling the outcome within campaigns must destroy the grouped-CV score.

If a split leaked campaign information (or a feature carried the campaign's identity),
campaign means would survive the shuffle and the model would still "predict" them.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from features.contract.loader import load_campaign
from features.contract.spec import load_spec
from simulator.campaign import SimulationConfig, simulate_set, write_set
from tests.helpers.paths import REPO
from training.dataset import prepare
from training.experiment import evaluate
from training.nested import outer_folds
from training.recipe import Recipe


@pytest.fixture(scope="module")
def ts(tmp_path_factory):
    root = tmp_path_factory.mktemp("leak")
    cfg = SimulationConfig(n_campaigns=8, clones_per_campaign=24, seed=8)
    write_set(simulate_set(cfg), root, cfg, "parquet")
    return prepare(load_campaign(root, require_outcomes=True), ["dsp_yield_pct", "g0f_pct"], 7.0)


def _r2(ts, y) -> dict[str, float]:
    shuffled = replace(ts, y=y)
    params = {t: {"n_estimators": 150, "max_depth": 3} for t in y.columns}
    spec = load_spec(REPO / "data" / "spec.yaml")
    recipe = Recipe({"yield": ["dsp_yield_pct"], "glycans": ["g0f_pct"]}, spec, 7.0, [], seed=0)
    ev = evaluate(shuffled, recipe, outer_folds(ts, 4), fixed_params=params)
    return {t: b["model"]["r2"] for t, b in ev.metrics["targets"].items()}


def test_within_campaign_shuffle_destroys_cv_score(ts) -> None:
    real = _r2(ts, ts.y)
    rng = np.random.default_rng(0)
    y = ts.y.copy()
    for g in ts.groups.unique():
        idx = np.flatnonzero((ts.groups == g).to_numpy())
        y.iloc[idx] = y.iloc[rng.permutation(idx)].to_numpy()
    shuffled = _r2(ts, y)
    for t in real:
        assert real[t] > 0.5, real
        assert shuffled[t] < 0.15, shuffled  # only between-campaign means could survive
