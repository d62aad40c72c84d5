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


def _flag_rows(seed: int, clones: int, precision: float) -> pd.DataFrame:
    """Runs flagged 'at risk' about a third of the time; a flagged run is measured out of
    spec (Man5 above 8 %) with probability ``precision``, an unflagged one 10 % of the time."""
    rng = np.random.default_rng(seed)
    n = 2 * clones
    flagged = rng.random(n) < 1 / 3
    out = rng.random(n) < np.where(flagged, precision, 0.1)
    man5 = np.where(out, 9.5, 5.0)
    man5[0] = np.nan  # not measured: counts nowhere
    return pd.DataFrame(
        {
            "clone_id": np.repeat([f"C{i}" for i in range(clones)], 2),
            "campaign_id": "K1",
            "flag": np.where(flagged, "at risk", "ok"),
            "obs__man5_pct": man5,
        }
    )


def test_flag_figures_are_the_nested_ones_and_judged_against_their_promise() -> None:
    from features.contract.spec import DEFAULT_SPEC_PATH, load_spec
    from training.evaluate import flag_metrics

    spec = load_spec(DEFAULT_SPEC_PATH)
    rows = _flag_rows(0, 200, precision=0.8)
    bad = spec.out_of_spec(rows[["obs__man5_pct"]].rename(columns=lambda c: c[5:]), "glycans")
    direct = flag_metrics(rows["flag"].eq("at risk").to_numpy(), bad.to_numpy(float))
    for metric in ("precision", "recall"):
        exact, draws, n = monitor._flag_draws(
            rows["flag"].eq("at risk").to_numpy(), bad.to_numpy(float), metric, _identity(rows)
        )
        assert exact == pytest.approx(direct[metric]) and draws[0] == pytest.approx(exact)
        assert n == int(rows["flag"].eq("at risk").sum() if metric == "precision" else bad.sum())

    def verdicts(promise: dict | None) -> dict[str, str]:
        promised = {"n_campaigns": 12}
        if promise is not None:
            per_fold = {
                k: [v + d for d in (-0.02, -0.01, 0, 0.01, 0.02)] for k, v in promise.items()
            }
            promised["flags"] = {"model": {**promise, "per_fold": per_fold}}
        checks = monitor.Judge(promised, spec, ["man5_pct"]).checks(rows)
        return {c.metric: c.verdict for c in checks if c.what.startswith("flag ")}

    kept = verdicts({"precision": 0.78, "recall": direct["recall"]})
    assert kept == {"precision": monitor.HOLDS, "recall": monitor.HOLDS}
    assert verdicts({"precision": 0.97, "recall": direct["recall"]})["precision"] == (
        monitor.DEGRADED
    )  # 0.8 realized on ~130 flagged runs, far below a promised 0.97
    assert set(verdicts(None).values()) == {monitor.NO_PROMISE}  # a bundle without the figures
