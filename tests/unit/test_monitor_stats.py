"""The monitor's vectorised bootstrap (serving.monitor): one draw of every clone once is
the data itself, so each statistic's draw must then equal its direct computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from serving import monitor
from training.cv import regression_metrics
from training.decision import pairwise


def _rows(seed: int = 0, clones: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    clone = np.repeat([f"C{i}" for i in range(clones)], 2)
    effect = np.repeat(rng.normal(0, 5, clones), 2)
    y = 70 + effect + rng.normal(0, 2, len(clone))
    p = 70 + 0.7 * effect + rng.normal(0, 2, len(clone))
    y[3] = np.nan  # an endpoint not measured
    return pd.DataFrame(
        {
            "clone_id": clone,
            "campaign_id": np.where(np.arange(len(clone)) < len(clone) // 2, "K1", "K2"),
            "dsp_yield_pct": p,
            "obs__dsp_yield_pct": y,
        }
    )


def _identity(rows: pd.DataFrame) -> monitor.Resample:
    rs = monitor.Resample(rows, np.random.default_rng(0))
    rs.counts = np.ones((monitor.BOOTSTRAPS, rs.n))  # every clone once: the data itself
    return rs


def test_a_draw_of_every_clone_once_is_the_direct_statistic() -> None:
    rows = _rows()
    rs = _identity(rows)
    y, p = rows["obs__dsp_yield_pct"].to_numpy(), rows["dsp_yield_pct"].to_numpy()
    direct = regression_metrics(y, p)
    draws = monitor._regression_draws(y, p, rs)
    for metric in ("r2", "mae", "spearman"):
        assert draws[metric][0] == pytest.approx(direct[metric], rel=1e-9), metric
    exact, pw = monitor._pairwise_draws(rows, "dsp_yield_pct", rs)
    clones = rows.groupby("clone_id").agg(
        y=("obs__dsp_yield_pct", "mean"), p=("dsp_yield_pct", "mean"), c=("campaign_id", "first")
    )
    assert exact == pytest.approx(pairwise(clones["y"], clones["p"], clones["c"], 0.0)[0])
    assert pw[0] == pytest.approx(exact)


def test_bootstrap_spread_shrinks_with_more_clones_and_the_interval_holds_the_figure() -> None:
    sds = []
    for clones in (20, 320):
        rows = _rows(1, clones)
        rs = monitor.Resample(rows, np.random.default_rng(2))
        y, p = rows["obs__dsp_yield_pct"].to_numpy(), rows["dsp_yield_pct"].to_numpy()
        draws = monitor._regression_draws(y, p, rs)["mae"]
        sds.append(np.std(draws))
        low, high = monitor._interval(regression_metrics(y, p)["mae"], draws, 2.576)
        assert low < regression_metrics(y, p)["mae"] < high
    assert sds[1] < sds[0] / 2.5  # ~ 1 / sqrt(16) = 1/4 of the spread


def test_every_draw_counts_each_clone_with_its_runs() -> None:
    rows = _rows(3, 10)
    rs = monitor.Resample(rows, np.random.default_rng(4))
    assert rs.counts.shape == (monitor.BOOTSTRAPS, 10)
    assert (rs.counts.sum(axis=1) == 10).all()
    (runs,) = rs.sums(np.ones(len(rows)))
    assert (runs == 2 * rs.counts.sum(axis=1)).all()  # two runs per clone
