"""Clone ranking: pooling replicates, desirability, Pareto front, unknown clones apart."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.ranking import (
    DEFAULT_RANKING,
    Criterion,
    RankingError,
    clone_table,
    desirability,
    load_ranking,
    pareto_front,
)


def _run(clone, flag="ok", titer=4.0, yld=80.0, risk=0.1, campaign="C1", reason=""):
    return {
        "run_id": f"{clone}-{np.random.default_rng(abs(hash((clone, titer, yld)))).integers(1e9)}",
        "clone_id": clone,
        "campaign_id": campaign,
        "flag": flag,
        "flag_reason": reason,
        "titer_g_l": titer,
        "titer_day": 14.0,
        "dsp_yield_pct": yld if flag != "unknown" else np.nan,
        "dsp_yield_pct_lo90": yld - 5 if flag != "unknown" else np.nan,
        "dsp_yield_pct_hi90": yld + 5 if flag != "unknown" else np.nan,
        "glycans_risk": risk if flag != "unknown" else np.nan,
        "downstream_risk": np.nan,
        "risk__g0f_pct": risk if flag != "unknown" else np.nan,
    }


def _table(rows) -> pd.DataFrame:
    return clone_table(pd.DataFrame(rows), load_ranking())


def test_replicates_are_pooled_with_their_spread_and_product_interval() -> None:
    t = _table([_run("A", titer=4.0, yld=80.0), _run("A", titer=6.0, yld=70.0)])
    a = t.iloc[0]
    assert a["runs"] == 2 and a["runs_unknown"] == 0
    assert a["titer_g_l"] == pytest.approx(5.0)
    assert a["titer_sd_g_l"] == pytest.approx(np.std([4.0, 6.0], ddof=1))
    assert a["dsp_yield_pct"] == pytest.approx(75.0)
    assert a["expected_product_g_l"] == pytest.approx(5.0 * 0.75)
    assert a["expected_product_lo90"] == pytest.approx(5.0 * 0.70)
    assert a["expected_product_hi90"] == pytest.approx(5.0 * 0.80)


def test_unknown_clones_are_listed_last_and_never_ranked() -> None:
    rows = [
        _run("GOOD", titer=5.0, yld=85.0, risk=0.02),
        _run("UNK", flag="unknown", titer=9.0, reason="outside the model's experience"),
        _run("MIX", titer=3.0, yld=75.0),
        _run("MIX", flag="unknown", titer=9.0, reason="no titer samples"),
    ]
    t = _table(rows)
    assert list(t["clone_id"]) == ["GOOD", "MIX", "UNK"]
    assert list(t["rank"].astype("Int64").astype(object).where(t["rank"].notna(), None)) == [
        1,
        2,
        None,
    ]
    unk = t.set_index("clone_id").loc["UNK"]
    assert unk["status"] == "unknown" and np.isnan(unk["desirability"]) and not unk["pareto"]
    assert "outside the model's experience" in unk["reasons"]
    mix = t.set_index("clone_id").loc["MIX"]
    assert mix["runs_unknown"] == 1 and mix["titer_g_l"] == pytest.approx(3.0)  # known run only
    assert "unknown run: no titer samples" in mix["reasons"]


def test_score_is_the_weighted_geometric_mean_of_the_rows_own_desirabilities() -> None:
    rows = [_run(f"K{i}", titer=2.0 + i, yld=66.0 + 2 * i, risk=0.04 * i) for i in range(10)]
    t = _table(rows)
    cfg = load_ranking()
    w = {c.name: c.weight for c in cfg.criteria}
    used = [n for n in t["criteria_used"].iloc[0].split(", ")]
    assert "downstream_risk" not in used  # not in the defaults (it would weigh yield twice)
    d = t[[f"d_{n}" for n in used]].to_numpy(float)
    weights = np.array([w[n] for n in used])
    expected = np.exp((np.log(np.clip(d, 1e-300, None)) * weights).sum(1) / weights.sum())
    expected[(d == 0).any(1)] = 0.0
    np.testing.assert_allclose(t["desirability"], expected, rtol=1e-12)
    assert (np.diff(t["desirability"].to_numpy(float)) <= 0).all()  # ranked by the score
    assert t["rank"].tolist() == list(range(1, 11))


def test_a_clone_below_the_yield_spec_scores_zero() -> None:
    t = _table([_run("LOW", titer=50.0, yld=60.0), _run("OK", titer=2.0, yld=80.0)])
    low = t.set_index("clone_id").loc["LOW"]
    assert low["d_dsp_yield"] == 0.0 and low["desirability"] == 0.0
    assert t["clone_id"].iloc[0] == "OK"


def test_desirability_anchors_and_percentiles() -> None:
    c = Criterion("r", "r", "min", 0.05, 0.5, 1.0)
    d = desirability(np.array([0.0, 0.275, 0.9, np.nan]), c)
    assert d[:3].tolist() == pytest.approx([1.0, 0.5, 0.0]) and np.isnan(d[3])
    p = Criterion("p", "p", "max", 0.0, "p50", 1.0)
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert desirability(x, p).tolist() == pytest.approx([0.4, 0.8, 1.0, 1.0])


def _brute_front(values, goals):
    v = np.where(np.array(goals) == "max", values, -values)
    ok = np.isfinite(v).all(axis=1)
    out = np.zeros(len(v), dtype=bool)
    for i in np.flatnonzero(ok):
        others = v[ok]
        out[i] = not ((others >= v[i]).all(1) & (others > v[i]).any(1)).any()
    return out


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(*[st.sampled_from([0.0, 1.0, 2.0, 3.0, float("nan")])] * 3),
        min_size=1,
        max_size=30,
    ),
    st.tuples(*[st.sampled_from(["max", "min"])] * 3),
)
def test_pareto_front_equals_the_definition(points, goals) -> None:
    values = np.array(points, dtype=float)
    assert (pareto_front(values, goals) == _brute_front(values, goals)).all()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("criteria: {}\n", "at least one criterion"),
        ("criteria:\n  a: {column: x, goal: up, low: 0, high: 1, weight: 1}\n", "'max' or 'min'"),
        ("criteria:\n  a: {column: x, goal: max, low: 0, high: 1, weight: 0}\n", "weight"),
        ("criteria:\n  a: {column: x, goal: max, low: 2, high: 1, weight: 1}\n", "below high"),
        ("criteria:\n  a: {column: x, goal: max, low: top, high: 1, weight: 1}\n", "pNN"),
        ("criteria:\n  a: {column: x, goal: max, weight: 1}\n", "missing low, high"),
        ("criteria: [1, 2\n", "not valid YAML"),
    ],
)
def test_bad_ranking_files_say_where_and_what(tmp_path, text, message) -> None:
    path = tmp_path / "ranking.yaml"
    path.write_text(text)
    with pytest.raises(RankingError, match=message):
        load_ranking(path)


def test_the_shipped_ranking_file_loads() -> None:
    cfg = load_ranking(DEFAULT_RANKING)
    assert {c.name for c in cfg.criteria} == {"expected_product", "dsp_yield", "glycans_risk"}
