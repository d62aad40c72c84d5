"""Intervals, risk, applicability domain, promotion rules: small known cases."""

from __future__ import annotations

import numpy as np
import pytest

from models.applicability import INSIDE, OUTSIDE, ApplicabilityDomain
from models.conformal import conformal_halfwidth, out_of_spec_probability
from models.reasons import sentences
from training.cv import make_folds
from training.evaluate import cross_conformal_coverage
from training.promote import compare


def test_conformal_covers_new_draws_at_nominal_level() -> None:
    rng = np.random.default_rng(0)
    calib = np.abs(rng.normal(0, 1, 2000))
    test = np.abs(rng.normal(0, 1, 20000))
    for level in (0.8, 0.9):
        w = conformal_halfwidth(calib, level)
        assert abs((test <= w).mean() - level) < 0.02


def test_cross_conformal_coverage_near_nominal() -> None:
    import pandas as pd

    rng = np.random.default_rng(1)
    y = rng.normal(0, 1, 1200)
    pred = y + rng.normal(0, 0.5, 1200)
    folds = make_folds(pd.Series(np.repeat(np.arange(12), 100)), 6)
    assert abs(cross_conformal_coverage(y, pred, folds, 0.9) - 0.9) < 0.02


def test_out_of_spec_probability_uses_joint_residuals() -> None:
    # residual vectors: the two attributes move together
    res = np.array([[1.0, 1.0], [-1.0, -1.0]])
    pred = np.array([[0.0, 0.0], [5.0, 0.0]])
    p = out_of_spec_probability(pred, res, np.array([-0.5, -0.5]), np.array([0.5, 0.5]))
    assert p.tolist() == [1.0, 1.0]
    p = out_of_spec_probability(pred, res, np.array([-2.0, -2.0]), np.array([2.0, 2.0]))
    assert p.tolist() == [0.0, 1.0]
    assert np.isnan(
        out_of_spec_probability(np.array([[np.nan, 0.0]]), res, -np.ones(2), np.ones(2))[0]
    )


def test_applicability_flags_far_points_not_training_ones() -> None:
    rng = np.random.default_rng(2)
    latent = rng.normal(size=(500, 3))
    X = latent @ rng.normal(size=(3, 12)) + rng.normal(0, 0.1, (500, 12))
    X[rng.random(X.shape) < 0.02] = np.nan
    ad = ApplicabilityDomain.fit(X)
    _, _, status = ad.score(X)
    assert (status == OUTSIDE).mean() <= 0.021  # beyond 99% on T² or on DModX: <= 2%
    far = X[:3].copy()
    far[:, 0] += 50  # far along the plane
    off = X[:3].copy()
    off[:, 5] = np.nanmax(np.abs(X[:, 5])) * 8  # off the plane
    assert (ad.score(far)[2] == OUTSIDE).all() and (ad.score(off)[2] == OUTSIDE).all()
    again = ApplicabilityDomain.from_dict(ad.to_dict())
    np.testing.assert_allclose(again.score(X)[0], ad.score(X)[0])
    assert ad.score(np.nanmedian(X, axis=0)[None, :])[2][0] == INSIDE


def test_reasons_name_value_unit_and_direction() -> None:
    names = ["ammonia_mm__d5", "clone__ss_hmw_pct", "run__mn_um"]
    out = sentences(
        np.array([2.5, -0.1, 0.0]),
        np.array([9.8, 3.0, 0.0]),
        np.array([6.0, 4.0, 0.0]),
        names,
        "g0f_pct",
        top_k=3,
    )
    assert out[0] == "ammonia on day 5 (9.8 mM) high → G0F up 2.5 points"
    assert out[1].startswith("screen HMW (3 %) low → G0F down")
    assert len(out) == 2  # a zero contribution is no reason


@pytest.mark.parametrize(
    "cand,champ,promoted",
    [
        (
            {"targets.y.model.mae": 1.0, "targets.y.model.spearman": 0.8},
            {"targets.y.model.mae": 1.2, "targets.y.model.spearman": 0.8},
            True,
        ),
        (
            {"targets.y.model.mae": 1.0, "targets.y.model.spearman": 0.7},
            {"targets.y.model.mae": 1.2, "targets.y.model.spearman": 0.8},
            False,
        ),
        (
            {"targets.y.model.mae": 1.2, "targets.y.model.spearman": 0.8},
            {"targets.y.model.mae": 1.2, "targets.y.model.spearman": 0.8},
            False,
        ),
        ({"targets.a.model.mae": 1.0}, {"targets.b.model.mae": 2.0}, False),
    ],
)
def test_promotion_needs_better_and_no_worse(cand, champ, promoted) -> None:
    ok, reasons = compare(cand, champ)
    assert ok is promoted and reasons
