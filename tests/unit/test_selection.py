"""Learner families, their selection, decision metrics and group-aware intervals: known cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from models.conformal import conformal_quantile, group_level
from models.estimators import TargetModel, fit_model, line_as_linear
from training import baselines
from training.decision import noise_gap, pairwise, top_k_capture
from training.selection import convex_weights, weigh_families


def _data(n: int = 120, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    X[rng.random(X.shape) < 0.05] = np.nan
    y = 2.0 * np.nan_to_num(X[:, 0]) - np.nan_to_num(X[:, 1]) + rng.normal(0, 0.3, n)
    return X, y


def test_pls_model_predicts_exactly_as_the_sklearn_pipeline_and_explains_exactly() -> None:
    X, y = _data()
    model = fit_model(X, y, {"family": "pls", "n_components": 3}, seed=0)
    reference = baselines.fit_pls(X, y, 3).predict(X).ravel()
    np.testing.assert_allclose(model.predict(X), reference, rtol=1e-5, atol=1e-5)
    contrib = model.contributions(X)  # a linear model's reasons are its exact shares
    np.testing.assert_allclose(
        contrib.sum(axis=1) + model.trend.intercept, model.predict(X), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize(
    "params",
    [
        {"family": "pls", "n_components": 2},
        {"family": "ridge", "trend_alpha": 3.0},
        {"family": "titer", "column": 0},
        {"family": "boosted", "n_estimators": 20, "linear_base": True},
    ],
)
def test_every_family_saves_and_loads_without_pickle(tmp_path, params) -> None:
    X, y = _data()
    model = fit_model(X, y, params, seed=0)
    model.save(tmp_path, "t")
    assert not list(tmp_path.glob("*.pkl"))
    back = TargetModel.load(tmp_path, "t")
    np.testing.assert_allclose(back.predict(X), model.predict(X), rtol=1e-6)
    assert back.family == ("boosted" if params["family"] == "boosted" else "linear")


def test_unknown_family_is_refused_with_the_known_ones() -> None:
    X, y = _data()
    with pytest.raises(ValueError, match=r"unknown model family 'forest'.*titer"):
        fit_model(X, y, {"family": "forest"}, seed=0)


def test_titer_line_is_the_least_squares_line_on_its_column() -> None:
    X, y = _data()
    line = line_as_linear(X, y, 0)
    ok = ~np.isnan(X[:, 0])
    filled = np.where(ok, X[:, 0], np.nanmedian(X[:, 0]))
    slope, intercept = np.polyfit(filled, y, 1)
    np.testing.assert_allclose(line.predict(X), intercept + slope * filled, rtol=1e-9)
    assert np.count_nonzero(line.coef) == 1


def _folds(n: int, k: int):
    idx = np.arange(n)
    return [(idx[idx % k != j], idx[idx % k == j]) for j in range(k)]


def test_a_family_that_adds_nothing_gets_no_weight_and_equal_partners_share() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=300)
    folds = _folds(300, 5)
    good = y + rng.normal(0, 0.5, 300)
    worse_copy = good + rng.normal(0, 1.0, 300)  # the same information, and more noise
    sel = weigh_families(y, {"pls": good, "boosted": worse_copy}, folds)
    assert sel.weights["boosted"] < 0.05 and sum(sel.weights.values()) == pytest.approx(1.0)
    # two families, equally good, errors independent: the blend halves the error variance
    a, b = y + rng.normal(0, 0.5, 300), y + rng.normal(0, 0.5, 300)
    both = weigh_families(y, {"ridge": a, "boosted": b}, folds)
    assert 0.35 < both.weights["ridge"] < 0.65
    assert both.inner["blend"]["mae"] < min(both.inner[f]["mae"] for f in ("ridge", "boosted"))
    assert both.to_dict()["family"] == "blend" and "ridge" in both.label()


def test_weights_are_convex_even_against_a_family_that_predicts_backwards() -> None:
    rng = np.random.default_rng(2)
    y = rng.normal(size=200)
    P = np.column_stack([y + rng.normal(0, 0.3, 200), -y + rng.normal(0, 0.3, 200)])
    w = convex_weights(P, y)
    assert (w >= 0).all() and w.sum() == pytest.approx(1.0) and w[1] < 0.05


def test_blend_held_out_predictions_never_see_their_own_fold() -> None:
    """The weights predicting a fold are fitted on the other folds: change that fold's
    outcomes and its blended predictions stay the same (no leak into calibration)."""
    rng = np.random.default_rng(3)
    y = rng.normal(size=200)
    folds = _folds(200, 4)
    oof = {"pls": y + rng.normal(0, 0.4, 200), "boosted": y + rng.normal(0, 0.6, 200)}
    first = weigh_families(y, oof, folds).oof
    moved = y.copy()
    moved[folds[0][1]] = rng.normal(size=len(folds[0][1]))
    again = weigh_families(moved, oof, folds).oof
    np.testing.assert_array_equal(first[folds[0][1]], again[folds[0][1]])
    assert not np.allclose(first[folds[1][1]], again[folds[1][1]])


def test_a_blend_predicts_its_weighted_members_and_explains_exactly(tmp_path) -> None:
    X, y = _data()
    members = {
        "titer": {"family": "titer", "column": 0},
        "pls": {"family": "pls", "n_components": 2},
        "boosted": {"family": "boosted", "n_estimators": 20, "linear_base": True},
    }
    weights = {"titer": 0.2, "pls": 0.3, "boosted": 0.5}
    model = fit_model(X, y, {"family": "blend", "weights": weights, "members": members}, 0)
    each = {f: fit_model(X, y, p, seed=0).predict(X).astype(float) for f, p in members.items()}
    expected = sum(w * each[f] for f, w in weights.items())
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-5, atol=1e-5)
    assert model.family == "blend" and model.contributions(X).shape == X.shape
    model.save(tmp_path, "t")
    back = TargetModel.load(tmp_path, "t")
    np.testing.assert_array_equal(back.predict(X), model.predict(X))
    assert back.family == "blend"
    linear_only = {"family": "blend", "weights": {"titer": 0.4, "pls": 0.6}, "members": members}
    lin = fit_model(X, y, linear_only, 0)
    assert lin.family == "linear"
    np.testing.assert_allclose(
        lin.contributions(X).sum(axis=1) + lin.trend.intercept, lin.predict(X), atol=1e-5
    )


def test_pairwise_choice_and_top_k_capture_on_a_known_ranking() -> None:
    clones = [f"K{i}" for i in range(10)]
    measured = pd.Series(np.arange(10.0), index=clones)
    campaign = pd.Series(["A"] * 10, index=clones)
    swapped = measured.copy()
    swapped[["K8", "K9"]] = [9.0, 8.0]  # the top two swapped: one pair of 45 wrong
    acc, n = pairwise(measured, swapped, campaign, gap=0.0)
    assert (acc, n) == (44 / 45, 45)
    acc_gap, n_gap = pairwise(measured, swapped, campaign, gap=1.5)  # adjacent pairs out
    assert n_gap == 36 and acc_gap == 1.0
    assert top_k_capture(measured, swapped, campaign, 0.1) == 0.0  # the best one is 2nd
    assert top_k_capture(measured, swapped, campaign, 0.2) == 1.0
    # pairs are counted within a campaign only: a second campaign adds its own pairs
    two = pd.Series(["A"] * 5 + ["B"] * 5, index=clones)
    assert pairwise(measured, measured, two, 0.0) == (1.0, 20)


def test_noise_gap_is_the_sd_of_a_difference_of_two_clone_means() -> None:
    rng = np.random.default_rng(3)
    clones = pd.Series(np.repeat([f"K{i}" for i in range(400)], 2))
    y = pd.Series(np.repeat(rng.normal(0, 5, 400), 2) + rng.normal(0, 2.0, 800))
    assert noise_gap(y, clones) == pytest.approx(2.0 * np.sqrt(2 / 2), rel=0.08)


def _new_group_coverage(K: int, m: int, tau: float, sigma: float, reps: int, seed: int):
    """Coverage of a new group's runs by 90% quantiles calibrated on K groups of m runs."""
    rng = np.random.default_rng(seed)
    plain, grouped = [], []
    s = np.hypot(tau, sigma)
    groups = np.repeat(np.arange(K), m)
    for _ in range(reps):
        r = np.abs(np.repeat(rng.normal(0, tau, K), m) + rng.normal(0, sigma, K * m))
        q_plain = conformal_quantile(r, 0.9)
        q_group = conformal_quantile(r, group_level(r, groups, 0.9))
        plain.append(2 * norm.cdf(q_plain / s) - 1)
        grouped.append(2 * norm.cdf(q_group / s) - 1)
    return np.array(plain), np.array(grouped)


def test_intervals_carry_the_offset_a_new_group_brings_and_no_more() -> None:
    """6 campaigns sharing 80% of the error: the plain quantile under-covers a new
    campaign; the group-checked level takes it up, without overshooting nominal."""
    plain, grouped = _new_group_coverage(6, 30, 1.0, 0.5, reps=300, seed=4)
    grouped = grouped[~np.isnan(grouped)]
    assert plain.mean() < 0.88  # measured 0.867
    assert plain.mean() + 0.01 < grouped.mean() < 0.92  # measured 0.887
    assert np.mean(grouped < 0.85) < np.mean(plain < 0.85) - 0.05  # 0.28 against 0.40


def test_without_a_shared_offset_the_level_stays_nominal() -> None:
    plain, grouped = _new_group_coverage(10, 100, 0.0, 1.0, reps=50, seed=5)
    assert np.abs(plain - grouped).max() < 0.01


def test_a_champions_titer_line_follows_the_horizon_or_gives_its_weight_away() -> None:
    """Re-evaluating a champion at another horizon: its titer line is the titer *at the
    horizon*; runs without titer share its weight out, and a titer-only champion is refused."""
    from training.recipe import _refit

    names = ["vcd__d5", "titer_g_l__d5"]
    blend = {
        "family": "blend",
        "weights": {"titer": 0.25, "pls": 0.75},
        "members": {
            "titer": {"family": "titer", "feature": "titer_g_l__d7", "column": 9},
            "pls": {"family": "pls", "n_components": 2},
        },
    }
    moved = _refit(blend, names, "titer_g_l__d5")
    assert moved["members"]["titer"] == {"family": "titer", "feature": "titer_g_l__d5", "column": 1}
    without = _refit(blend, names[:1], None)
    assert without["weights"] == {"pls": 1.0} and set(without["members"]) == {"pls"}
    with pytest.raises(ValueError, match="no titer at this horizon"):
        _refit(blend["members"]["titer"], names[:1], None)
