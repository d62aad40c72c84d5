"""Drift before outcomes (models.drift): campaign-level tests, FDR, the reference's round trip.

Synthetic campaigns with a known structure: each column has a campaign offset (batch
effect, SD 1), a clone effect (SD 2) and run noise (SD 1); a clone has two runs. A new
campaign drawn the same way must rarely be called drifted, whatever its size; a campaign
whose one column moved by a few between-campaign SDs must be.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from models import drift
from models.applicability import INSIDE, OUTSIDE

COLUMNS = [f"f{i}" for i in range(30)]


def _campaigns(rng, n_campaigns: int, clones: int, shift: dict | None = None, first: int = 0):
    frames, clone_ids, campaign_ids = [], [], []
    for k in range(n_campaigns):
        offset = rng.normal(0, 1.0, len(COLUMNS))
        clone = rng.normal(0, 2.0, (clones, len(COLUMNS)))
        runs = np.repeat(clone, 2, axis=0) + offset + rng.normal(0, 1.0, (2 * clones, len(COLUMNS)))
        frame = pd.DataFrame(runs, columns=COLUMNS)
        for col, by in (shift or {}).items():
            frame[col] += by
        frame["log_t2"] = rng.normal(1.0, 0.5, 2 * clones)
        frame["log_dmodx"] = rng.normal(0.0, 0.3, 2 * clones)
        frames.append(frame)
        clone_ids += [f"C{k + first}-{j}" for j in np.repeat(np.arange(clones), 2)]
        campaign_ids += [f"K{k + first}"] * (2 * clones)
    return pd.concat(frames, ignore_index=True), np.array(clone_ids), np.array(campaign_ids)


def _reference(rng) -> drift.DriftReference:
    frame, clones, campaigns = _campaigns(rng, 12, 40)
    extra = {c: frame.pop(c).to_numpy() for c in drift.DOMAIN_COLUMNS}
    return drift.build_reference(frame, pd.Series(clones), pd.Series(campaigns), extra)


def _verdict(ref, frame, clones, campaigns, status=None) -> drift.Verdict:
    status = np.full(len(frame), INSIDE) if status is None else status
    stats = drift.CampaignStats.of(frame[ref.columns], clones, campaigns, status)
    return drift.assess(ref, stats, campaigns[0])


@pytest.mark.parametrize("clones", [5, 40])
def test_campaigns_like_the_training_ones_are_rarely_called_drifted(clones) -> None:
    rng = np.random.default_rng(0)
    alarms = 0
    trials = 100
    for i in range(trials):
        ref = _reference(rng)
        new = _campaigns(rng, 1, clones, first=100 + i)
        alarms += _verdict(ref, *new).verdict != drift.NONE
    # FDR 1 % over ~32 tests: under the null, BH calls any alarm at most 1 % of the time;
    # 4 of 100 leaves room for the t approximation (binomial 99.9 % bound at p = 1 %)
    assert alarms <= 4, alarms


def test_one_moved_column_is_named_and_nothing_else() -> None:
    rng = np.random.default_rng(1)
    hits, others = 0, 0
    for i in range(30):
        ref = _reference(rng)
        new = _campaigns(rng, 1, 30, shift={"f3": 10.0}, first=200 + i)
        v = _verdict(ref, *new)
        hits += v.verdict == drift.DRIFT and "f3" in v.drifted
        others += len([c for c in v.drifted if c != "f3"])
    assert hits >= 28, hits
    assert others <= 2, others


def test_a_rise_of_the_outside_share_or_of_t2_is_outside_experience() -> None:
    rng = np.random.default_rng(2)
    ref = _reference(rng)
    frame, clones, campaigns = _campaigns(rng, 1, 40, first=300)
    status = np.where(rng.random(len(frame)) < 0.10, OUTSIDE, INSIDE)
    v = _verdict(ref, frame, clones, campaigns, status)
    assert v.verdict == drift.OUTSIDE_EXPERIENCE and "outside_share" in v.drifted
    assert v.outside_share == pytest.approx((status == OUTSIDE).mean())
    frame["log_t2"] += 3.0
    v = _verdict(ref, frame, clones, campaigns)
    assert v.verdict == drift.OUTSIDE_EXPERIENCE and v.drifted == ["log_t2"]
    frame["log_t2"] -= 6.0  # closer to the centre than usual is not "further from experience"
    assert _verdict(ref, frame, clones, campaigns).verdict == drift.NONE


def test_a_column_constant_in_training_drifts_on_any_other_value() -> None:
    rng = np.random.default_rng(3)
    frame, clones, campaigns = _campaigns(rng, 12, 10)
    frame["ph"] = 7.0
    extra = {c: frame.pop(c).to_numpy() for c in drift.DOMAIN_COLUMNS}
    ref = drift.build_reference(frame, pd.Series(clones), pd.Series(campaigns), extra)
    new, c2, k2 = _campaigns(rng, 1, 10, first=50)
    new["ph"] = 7.0
    assert "ph" not in _verdict(ref, new, c2, k2).drifted
    new["ph"] = 6.9
    assert "ph" in _verdict(ref, new, c2, k2).drifted


def test_statistics_added_chunk_by_chunk_equal_one_pass_and_unmeasured_columns_are_named():
    rng = np.random.default_rng(4)
    ref = _reference(rng)
    frame, clones, campaigns = _campaigns(rng, 2, 20, first=400)
    frame.loc[campaigns == "K401", "f5"] = np.nan  # a family K401 did not measure
    status = np.where(rng.random(len(frame)) < 0.05, OUTSIDE, INSIDE)
    whole = drift.CampaignStats.of(frame[ref.columns], clones, campaigns, status)
    parts = drift.CampaignStats(ref.columns)
    order = rng.permutation(len(frame))  # a campaign's runs spread over three chunks
    for chunk in np.array_split(order, 3):
        parts.add(frame.iloc[chunk][ref.columns], clones[chunk], campaigns[chunk], status[chunk])
    for c in ("K400", "K401"):
        np.testing.assert_allclose(parts.mean(c), whole.mean(c))
        np.testing.assert_array_equal(parts.clone_counts(c), whole.clone_counts(c))
        assert parts.outside[c] == whole.outside[c] and parts.runs[c] == whole.runs[c]
    v400, v401 = drift.assess_all(ref, parts)
    assert v400.not_measured == [] and v401.not_measured == ["f5"]
    assert "f5" not in set(v401.tests["column"])
    assert len(v400.tests) == len(ref.columns) + 1  # every column and the outside share


def test_reference_survives_the_manifest_json() -> None:
    ref = _reference(np.random.default_rng(5))
    ref.means[2, 4] = np.nan  # a campaign without that column
    back = drift.DriftReference.from_dict(json.loads(json.dumps(ref.to_dict())))
    assert back.columns == ref.columns and back.campaigns == ref.campaigns
    np.testing.assert_array_equal(back.means, ref.means)
    np.testing.assert_array_equal(back.clones, ref.clones)
    np.testing.assert_array_equal(back.within_sd, ref.within_sd)


def test_verdict_dict_names_the_moved_columns_with_their_figures() -> None:
    rng = np.random.default_rng(6)
    ref = _reference(rng)
    v = _verdict(ref, *_campaigns(rng, 1, 30, shift={"f7": 8.0}, first=500))
    d = json.loads(json.dumps(v.to_dict()))
    assert d["verdict"] == "drift" and d["sentence"].startswith("drift in f7")
    moved = d["moved"][0]
    assert moved["column"] == "f7" and moved["p_adjusted"] <= drift.FDR
    assert moved["new_mean"] - moved["training_campaigns_mean"] > 4


def _designed(rng, n_campaigns: int, low: float, high: float, first: int = 0):
    """Campaigns whose runs carry a designed condition: each DOE 6 points spread over
    [low, high] (one per sixth, as a Latin hypercube deals them), rounded as entered."""
    frame, clones, campaigns = _campaigns(rng, n_campaigns, 20, first=first)
    for k in np.unique(campaigns):
        rows = campaigns == k
        strata = (np.arange(6) + rng.uniform(size=6)) / 6
        doe = np.round(low + strata * (high - low), 1)
        frame.loc[rows, "run__temp_c"] = rng.choice(doe, rows.sum())
    return frame, clones, campaigns


def test_a_condition_run_beyond_the_trained_range_is_outside_experience() -> None:
    rng = np.random.default_rng(5)
    frame, clones, campaigns = _designed(rng, 12, 31.0, 36.5)
    extra = {c: frame.pop(c).to_numpy() for c in drift.DOMAIN_COLUMNS}
    ref = drift.build_reference(frame, pd.Series(clones), pd.Series(campaigns), extra)
    lo, hi = ref.ranges["run__temp_c"]
    assert 31.0 <= lo < 31.5 and 36.0 < hi <= 36.5 and "f0" not in ref.ranges
    again = drift.DriftReference.from_dict(json.loads(json.dumps(ref.to_dict())))
    assert again.ranges == ref.ranges
    same = [_verdict(ref, *_designed(rng, 1, 31.0, 36.5, first=100 + i)) for i in range(50)]
    assert sum(bool(v.beyond_range) for v in same) == 0
    colder = _verdict(ref, *_designed(rng, 1, 29.0, 31.0, first=200))
    assert colder.verdict == drift.OUTSIDE_EXPERIENCE and colder.drifted[0] == "run__temp_c"
    (b,) = colder.beyond_range
    assert b["trained"] == [pytest.approx(lo), pytest.approx(hi)] and b["campaign"][0] < 30
    assert colder.to_dict()["beyond_trained_range"] == [b]
    without = _designed(rng, 1, 29.0, 31.0, first=300)
    without[0]["run__temp_c"] = np.nan  # a campaign that did not give the condition
    assert not _verdict(ref, *without).beyond_range
    a_step_past = _designed(rng, 1, 31.0, 36.5, first=400)
    a_step_past[0].loc[0, "run__temp_c"] = hi + 0.02 * (hi - lo)  # within the tolerance
    assert not _verdict(ref, *a_step_past).beyond_range
