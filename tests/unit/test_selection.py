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
from training.selection import choose_family


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


def test_simplest_family_wins_a_tie_and_a_better_one_must_earn_its_place() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=200)
    folds = _folds(200, 5)
    noise = rng.normal(0, 0.5, 200)
    # boosted orders every fold exactly as pls does (a shift per fold leaves Spearman as it
    # is) with a lower mean MAE, but by less than the fold-to-fold spread of the difference
    shift = np.where(np.arange(200) % 5 < 3, 0.0, 0.6)  # MAE 0.443 against 0.457
    tie = choose_family(y, {"pls": y + noise + 0.4, "boosted": y + noise + shift}, folds)
    assert tie.inner["boosted"]["mae"] < tie.inner["pls"]["mae"]
    assert tie.chosen == "pls" and "simpler family wins a tie" in tie.why
    win = choose_family(y, {"pls": y + noise, "boosted": y + noise * 0.3}, folds)
    assert win.chosen == "boosted"  # better MAE and better order: pls is out on both
    assert set(win.inner) == {"pls", "boosted"} and win.inner["boosted"]["mae"] < 0.2


def test_a_family_that_ranks_worse_is_out_even_with_a_lower_mae() -> None:
    """Shrinking every prediction to the mean lowers MAE on heavy tails but ranks badly."""
    rng = np.random.default_rng(2)
    y = rng.lognormal(0, 1, 300)
    folds = _folds(300, 5)
    ranks = y + rng.normal(0, 1.0, 300)  # right order, large errors
    shrunk = np.median(y) + rng.normal(0, 0.05, 300)  # low MAE, no order
    sel = choose_family(y, {"pls": ranks, "boosted": shrunk}, folds)
    assert sel.chosen == "pls"
    assert not sel.inner["boosted"]["ranks_within_one_se"]
    assert "out for ranking worse" in sel.why


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
