"""Bioprocess features of a run's first days, the ones a scientist computes by hand.

Part of :class:`features.early.EarlyFeatures`: exponential-phase specific growth rate,
IVCD, qP (titer vs IVCD), net specific glucose / lactate / ammonia rates, the day lactate
turned to consumption, viability decline, and the number and span of samples. Inputs are
the flat, sorted per-run samples of :mod:`features.timeseries`; every output has one value
per run (NaN where the inputs are missing).
"""

from __future__ import annotations

import numpy as np

from features import timeseries as ts
from features.contract.units import MOLAR_MASS_G_MOL

EXPONENTIAL_PHASE_END_DAY = 4.0  # growth rate is fitted on ln(VCD) up to this day
LACTATE_SHIFT_DROP = 0.10  # lactate must fall 10% below its peak to count as consumed
LACTATE_SHIFT_MIN_G_L = 0.1
_MOLAR = {
    "glucose_g_l": 1000.0 / MOLAR_MASS_G_MOL["glucose"],
    "lactate_g_l": 1000.0 / MOLAR_MASS_G_MOL["lactate"],
    "ammonia_mm": 1.0,
}


def at_last(last: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``v`` at each run's last sample row ``last`` (from :func:`ts.last_index`); NaN at -1."""
    return np.where(last >= 0, v[np.maximum(last, 0)] if v.size else np.nan, np.nan)


def bioprocess_names() -> tuple[str, ...]:
    return (
        "mu_exp_per_day",
        "ivcd_e6_cell_day_ml",
        "qp_pg_cell_day",
        "q_glucose_pmol_cell_day",
        "q_lactate_pmol_cell_day",
        "q_ammonia_pmol_cell_day",
        "lactate_shift_day",
        "lactate_shifted",
        "viability_drop_pct",
        "n_samples",
        "last_sample_day",
    )


def bioprocess_features(
    series: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    run_all: np.ndarray,
    day_all: np.ndarray,
    n: int,
    horizon: float,
    slope_window_day: float,
    max_gap_day: float,
) -> dict[str, np.ndarray]:
    """Features a bioprocess scientist computes by hand, vectorised over runs.

    ``series`` maps each measurement to its (run code, day, value) samples up to the
    horizon (no NaN); ``run_all`` and ``day_all`` are every sample row up to the horizon.
    """
    nan = np.full(n, np.nan)
    out = {k: nan.copy() for k in bioprocess_names()}
    out["n_samples"] = np.bincount(run_all, minlength=n).astype(float)
    out["last_sample_day"] = at_last(ts.last_index(run_all, n), day_all)
    if "vcd_e6_ml" in series:
        r, t, v = series["vcd_e6_ml"]
        pos = v > 0
        expo = pos & (t <= EXPONENTIAL_PHASE_END_DAY)
        out["mu_exp_per_day"] = ts.regression_slope(r[expo], t[expo], np.log(v[expo]), n)
        out["ivcd_e6_cell_day_ml"] = ts.integral(
            r, t, v, n, 0.0, horizon, max_gap_day, log_mean=True
        )
        cum = ts.cumulative_integral(r[pos], t[pos], v[pos], log_mean=True)
        ivcd_run, ivcd_t, ivcd = r[pos], t[pos], cum
        if "titer_g_l" in series:
            out["qp_pg_cell_day"] = 1e3 * _slope_vs_ivcd(
                series["titer_g_l"], ivcd_run, ivcd_t, ivcd, n, -np.inf
            )
        window_start = horizon - slope_window_day
        for col, name in (
            ("glucose_g_l", "glucose"),
            ("lactate_g_l", "lactate"),
            ("ammonia_mm", "ammonia"),
        ):
            if col in series:
                r2, t2, v2 = series[col]
                rate = _slope_vs_ivcd(
                    (r2, t2, v2 * _MOLAR[col]), ivcd_run, ivcd_t, ivcd, n, window_start
                )
                out[f"q_{name}_pmol_cell_day"] = rate
    if "lactate_g_l" in series:
        r, t, v = series["lactate_g_l"]
        out["lactate_shift_day"], out["lactate_shifted"] = _lactate_shift(r, t, v, n)
    if "viability_pct" in series:
        r, t, v = series["viability_pct"]
        last_v = at_last(ts.last_index(r, n), v)
        out["viability_drop_pct"] = ts.run_max(r, v, n) - last_v
    return out


def _slope_vs_ivcd(s, ivcd_run, ivcd_t, ivcd, n, start_day) -> np.ndarray:
    """d(concentration)/d(IVCD) per run: a cell-specific rate (net of feeds)."""
    r, t, v = s
    keep = t >= start_day
    r, t, v = r[keep], t[keep], v[keep]
    x = ts.interp_points(ivcd_run, ivcd_t, ivcd, r, t)  # IVCD at this measurement's times
    ok = ~np.isnan(x)
    return ts.regression_slope(r[ok], x[ok], v[ok], n)


def _lactate_shift(run, t, v, n) -> tuple[np.ndarray, np.ndarray]:
    """Day of the lactate peak if lactate has clearly fallen since (else NaN), and 0/1."""
    peak = ts.run_max(run, v, n)
    if run.size == 0:
        return np.full(n, np.nan), np.full(n, np.nan)
    at_peak = v >= peak[run]
    peak_day = np.full(n, np.inf)
    np.minimum.at(peak_day, run[at_peak], t[at_peak])
    li = ts.last_index(run, n)
    last_v = at_last(li, v)
    drop = peak - last_v
    shifted = (drop >= LACTATE_SHIFT_DROP * peak) & (drop >= LACTATE_SHIFT_MIN_G_L)
    has = li >= 0
    return (np.where(shifted & has, peak_day, np.nan), np.where(has, shifted.astype(float), np.nan))
