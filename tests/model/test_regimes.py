"""A small, weak-signal set: the data must choose simple models, and they must hold up.

The regime of :mod:`simulator.regimes` (192 runs of 8 campaigns, samples on days 0/2/4
only, assays twice as noisy as the twin's), evaluated by the nested, campaign-grouped CV of
``clonescout train`` with a CI budget (3 trials). ``make bench`` runs the full budget on
every target and on the peer emulator (``bench/bench_regimes.py``).
"""

from __future__ import annotations

import pytest

from features.contract.loader import load_campaign
from features.contract.spec import DEFAULT_SPEC_PATH, load_spec
from simulator.campaign import write_set
from simulator.regimes import HORIZON_DAY, weak_signal_config, weak_signal_set
from training.dataset import prepare
from training.experiment import evaluate
from training.gate import judge, paired
from training.nested import outer_folds
from training.pipeline import make_recipe
from training.settings import TrainSettings

TARGETS = ("dsp_yield_pct", "hcp_ppm", "g0f_pct")
LINEAR = ("titer", "pls", "ridge")


@pytest.fixture(scope="module")
def weak(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("weak")
    write_set(weak_signal_set(), root / "set", weak_signal_config(), "parquet")
    data = load_campaign(root / "set", require_outcomes=True)
    s = TrainSettings(
        spec_path=DEFAULT_SPEC_PATH, targets=TARGETS, horizon_day=HORIZON_DAY, trials=3
    )
    ts = prepare(data, list(TARGETS), s.horizon_day)
    recipe = make_recipe(ts, load_spec(s.spec_path), s)
    return evaluate(ts, recipe, outer_folds(ts, s.n_folds), data.truth, data.outcomes).metrics


@pytest.mark.slow
def test_the_set_is_small_sparse_and_grouped_by_campaign(weak) -> None:
    assert weak["n_runs"] == 192 and weak["n_campaigns"] == 8
    assert weak["evaluation"]["grouping"] == "campaign_id"


@pytest.mark.slow
def test_simple_families_win_on_small_noisy_data(weak) -> None:
    chosen = [f for t in TARGETS for f in weak["targets"][t]["model"]["family_per_outer_fold"]]
    assert len(chosen) == 5 * len(TARGETS)
    yield_folds = weak["targets"]["dsp_yield_pct"]["model"]["family_per_outer_fold"]
    assert sum(f in LINEAR for f in yield_folds) >= 3, yield_folds
    assert sum(f in LINEAR for f in chosen) > len(chosen) / 2, chosen


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
def test_never_worse_than_pls_or_the_titer_rank_beyond_one_se(weak, target) -> None:
    block = weak["targets"][target]
    for base in ("pls", "titer_rank"):
        for metric in ("mae", "spearman"):
            diff, se = paired(
                block["model"]["per_fold"][metric], block["baselines"][base]["per_fold"][metric]
            )
            assert judge(metric, diff, se) != "worse", (target, base, metric, diff, se)


@pytest.mark.slow
def test_clone_choice_is_reported_beside_pls_and_the_noise_free_truth(weak) -> None:
    d = weak["decision"]["dsp_yield_pct"]
    assert d["best_by"] == "noise-free truth" and d["noise_gap"] > 2.5  # assays twice as noisy
    for name in ("model", "pls", "titer_rank", "truth"):
        assert 0.0 <= d[name]["pairwise"] <= 1.0 and d[name]["pairs"] > 0, name
    assert d["truth"]["pairwise"] > d["model"]["pairwise"]  # the ceiling is above the model
