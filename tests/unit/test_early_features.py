"""Early-horizon features on hand-built runs with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.early import DAY_TOLERANCE, EarlyFeatures

MU_PER_DAY, X0, QP = 0.6, 0.5, 30.0  # exponential culture: VCD = X0 exp(mu t)


def _exp_run(days: np.ndarray, run_id: str = "R1") -> pd.DataFrame:
    vcd = X0 * np.exp(MU_PER_DAY * days)
    ivcd = X0 / MU_PER_DAY * (np.exp(MU_PER_DAY * days) - 1.0)
    return pd.DataFrame(
        {
            "run_id": run_id,
            "day": days,
            "vcd_e6_ml": vcd,
            "titer_g_l": QP * 1e-3 * ivcd,
            "run__feed_pct": 4.0,
        }
    )


def _logistic_run(days: np.ndarray) -> pd.DataFrame:
    """A smooth fed-batch-like curve set: logistic growth, product, lactate up then down."""
    k, r, a = 20.0, 0.9, 20.0 / 0.4 - 1
    vcd = k / (1 + a * np.exp(-r * days))
    ivcd = k / r * np.log((np.exp(r * days) + a) / (1 + a))  # exact integral of vcd
    return pd.DataFrame(
        {
            "run_id": "R1",
            "day": days,
            "vcd_e6_ml": vcd,
            "viability_pct": 98 - 0.4 * days**1.5,
            "titer_g_l": QP * 1e-3 * ivcd,
            "lactate_g_l": 2.0 * days * np.exp(-days / 4.0),
            "ammonia_mm": 0.5 + 0.9 * days,
            "glucose_g_l": 6.0 - 0.3 * days,
        }
    )


def _features(frame: pd.DataFrame, horizon: float = 7.0) -> pd.Series:
    tr = EarlyFeatures(horizon_day=horizon).fit(frame)
    return tr.transform(frame).iloc[0]


def test_exponential_culture_growth_ivcd_qp_within_2_percent() -> None:
    f = _features(_exp_run(np.arange(0.0, 15.0)), horizon=7.0)
    ivcd_7 = X0 / MU_PER_DAY * (np.exp(MU_PER_DAY * 7) - 1)
    assert f["mu_exp_per_day"] == pytest.approx(MU_PER_DAY, rel=0.02)
    assert f["ivcd_e6_cell_day_ml"] == pytest.approx(ivcd_7, rel=0.02)
    assert f["qp_pg_cell_day"] == pytest.approx(QP, rel=0.02)
    assert f["vcd_e6_ml__d5"] == pytest.approx(X0 * np.exp(MU_PER_DAY * 5), rel=1e-9)
    assert f["run__feed_pct"] == 4.0


def _every_10_h() -> np.ndarray:
    return np.arange(0.0, 14.0 + 1e-9, 10 / 24)


def _weekdays_from_monday() -> np.ndarray:
    return np.array([d for d in range(15) if d % 7 < 5], dtype=float)  # no Sat/Sun


BIOPROCESS = ["mu_exp_per_day", "ivcd_e6_cell_day_ml", "qp_pg_cell_day"]


# A weekend leaves a 3-day gap (Fri -> Mon) across which the curve is interpolated linearly
# in time; while growth decelerates that costs up to ~9% on day-5 values and IVCD.
@pytest.mark.parametrize(
    "pattern,tol_values,tol_process",
    [
        (_every_10_h, 0.03, 0.03),
        (_weekdays_from_monday, 0.10, 0.10),
    ],
)
def test_irregular_sampling_matches_daily(pattern, tol_values, tol_process) -> None:
    daily = _features(_logistic_run(np.arange(0.0, 15.0)))
    irregular = _features(_logistic_run(pattern()))
    for name in BIOPROCESS:
        assert irregular[name] == pytest.approx(daily[name], rel=tol_process), name
    for m in ("vcd_e6_ml", "titer_g_l", "ammonia_mm", "glucose_g_l"):
        for d in ("d0", "d1", "d2", "d3", "d5", "d7"):
            name = f"{m}__{d}"
            assert irregular[name] == pytest.approx(daily[name], rel=tol_values, abs=1e-3), name
        assert irregular[f"{m}__auc"] == pytest.approx(daily[f"{m}__auc"], rel=tol_values)


def test_single_sample_run_gives_documented_nans() -> None:
    frame = _exp_run(np.array([0.0]))
    f = _features(frame)
    assert f["vcd_e6_ml__d0"] == pytest.approx(X0)
    assert f["vcd_e6_ml__last"] == pytest.approx(X0)
    for name in (
        "mu_exp_per_day",
        "qp_pg_cell_day",
        "vcd_e6_ml__slope",
        "vcd_e6_ml__d3",
        "ivcd_e6_cell_day_ml",
    ):
        assert np.isnan(f[name]), name
    assert f["n_samples"] == 1


def test_missing_measurement_column_gives_nan_not_error() -> None:
    train = _exp_run(np.arange(0.0, 8.0))
    tr = EarlyFeatures().fit(train)
    out = tr.transform(train.drop(columns=["titer_g_l"]))
    assert np.isnan(out["qp_pg_cell_day"].iloc[0])
    assert np.isnan(out["titer_g_l__d3"].iloc[0])
    assert list(out.columns) == list(tr.get_feature_names_out())


def test_unseen_category_is_all_zero_and_rare_ones_get_no_column() -> None:
    frames = [
        _exp_run(np.arange(0.0, 8.0), f"R{i}").assign(run__medium=m)
        for i, m in enumerate(["A"] * 5 + ["B"])
    ]
    tr = EarlyFeatures(min_category_count=5).fit(pd.concat(frames))
    assert "run__medium=A" in tr.get_feature_names_out()
    assert "run__medium=B" not in tr.get_feature_names_out()
    new = _exp_run(np.arange(0.0, 8.0), "N").assign(run__medium="C")
    assert tr.transform(new)["run__medium=A"].iloc[0] == 0.0


def test_id_like_text_column_is_capped() -> None:
    frames = [
        _exp_run(np.arange(0.0, 3.0), f"R{i}").assign(run__vessel=f"V{i % 30}") for i in range(300)
    ]
    tr = EarlyFeatures(min_category_count=5, max_categories=20).fit(pd.concat(frames))
    assert sum(n.startswith("run__vessel=") for n in tr.get_feature_names_out()) == 20


def test_frame_without_ids_is_explained() -> None:
    with pytest.raises(ValueError, match="needs columns"):
        EarlyFeatures().fit(pd.DataFrame({"vcd_e6_ml": [1.0]}))


# -- properties ------------------------------------------------------------------------


@st.composite
def runs_frames(draw):
    n_runs = draw(st.integers(1, 4))
    parts = []
    for i in range(n_runs):
        days = draw(
            st.lists(
                st.floats(0, 14, allow_nan=False).map(lambda x: round(x, 2)),
                min_size=1,
                max_size=12,
                unique=True,
            )
        )
        days = np.sort(np.array(days))
        vals = draw(
            st.lists(
                st.one_of(st.none(), st.floats(0.01, 50)), min_size=len(days), max_size=len(days)
            )
        )
        v = np.array([np.nan if x is None else x for x in vals])
        parts.append(
            pd.DataFrame(
                {
                    "run_id": f"R{i}",
                    "day": days,
                    "vcd_e6_ml": v,
                    "titer_g_l": v / 10,
                    "lactate_g_l": np.sqrt(np.nan_to_num(v, nan=1.0)),
                    "viability_pct": 90.0,
                    "run__ph_setpoint": 7.0,
                    "clone__molecule": "mAb",
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=runs_frames(), horizon=st.floats(1.0, 14.0), seed=st.integers(0, 2**16))
def test_features_ignore_samples_after_horizon_and_row_order(frame, horizon, seed) -> None:
    tr = EarlyFeatures(horizon_day=horizon, min_category_count=1).fit(frame)
    full = tr.transform(frame)
    cut = frame[frame["day"] <= horizon + DAY_TOLERANCE]  # the transformer's own rule
    if len(cut):
        truncated = tr.transform(cut)
        pd.testing.assert_frame_equal(full.loc[truncated.index], truncated)
    only_late = full.index.difference(cut["run_id"].unique())
    assert (full.loc[only_late, "n_samples"] == 0).all()
    shuffled = frame.sample(frac=1.0, random_state=seed)
    pd.testing.assert_frame_equal(tr.transform(shuffled), full)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=runs_frames(), horizon=st.floats(1.0, 14.0))
def test_measurements_stacked_or_apart_give_the_same_bits(frame, horizon) -> None:
    """A small batch stacks its measurements into one curve table: no number may move."""
    import features.early as early

    tr = EarlyFeatures(horizon_day=horizon, min_category_count=1).fit(frame)
    assert len(frame["run_id"].unique()) * len(tr.measurements_) <= early.STACK_MAX_CURVES
    stacked = tr.transform(frame)
    saved = early.STACK_MAX_CURVES
    early.STACK_MAX_CURVES = 0
    try:
        apart = tr.transform(frame)
    finally:
        early.STACK_MAX_CURVES = saved
    assert np.array_equal(stacked.to_numpy(), apart.to_numpy(), equal_nan=True)
    pd.testing.assert_frame_equal(stacked, apart, check_exact=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(  # runs: each a list of (gap to the previous sample, value)
        st.lists(st.tuples(st.floats(0.1, 3.0), st.floats(-5.0, 50.0)), min_size=0, max_size=8),
        min_size=1,
        max_size=6,
    ),
    st.lists(st.floats(-1.0, 16.0), min_size=1, max_size=7),
)
def test_values_at_answers_each_day_and_run_as_if_asked_alone(runs, days) -> None:
    """The many-days, many-runs pass reads each (day, run) as a one-run, one-day query."""
    from features import timeseries as ts

    codes, t, v = [], [], []
    for code, samples in enumerate(runs):
        day = 0.0
        for gap, value in samples:
            day += gap
            codes.append(code)
            t.append(day)
            v.append(value)
    run, t, v = np.array(codes, dtype=np.int64), np.array(t), np.array(v)
    together = ts.values_at(run, t, v, len(runs), days, max_gap_day=1.5)
    assert together.shape == (len(days), len(runs))
    for code in range(len(runs)):
        own = run == code
        for k, day in enumerate(days):
            alone = ts.values_at(run[own] * 0, t[own], v[own], 1, [day], max_gap_day=1.5)
            np.testing.assert_array_equal(together[k, code], alone[0, 0])
