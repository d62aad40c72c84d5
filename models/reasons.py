"""Tree-SHAP contributions turned into sentences a scientist reads.

XGBoost computes exact tree SHAP values (``pred_contribs=True``, Lundberg et al. 2020). The
largest contributions of a prediction become sentences such as
"ammonia on day 5 (9.8 mM) high → G0F up 3.1 points", where high/low compares the run's
value with the training median.

>>> describe_feature("ammonia_mm__d5")
('ammonia on day 5', 'mM')
>>> describe_feature("clone__ss_hmw_pct")
('screen HMW', '%')
"""

from __future__ import annotations

import functools

import numpy as np

MEASUREMENTS = {
    "vcd_e6_ml": ("viable cell density", "e6 cells/mL"),
    "viability_pct": ("viability", "%"),
    "glucose_g_l": ("glucose", "g/L"),
    "lactate_g_l": ("lactate", "g/L"),
    "glutamine_mm": ("glutamine", "mM"),
    "ammonia_mm": ("ammonia", "mM"),
    "titer_g_l": ("titer", "g/L"),
    "osmolality_mosm_kg": ("osmolality", "mOsm/kg"),
    "ph": ("pH", ""),
    "temperature_c": ("temperature", "°C"),
    "do_pct": ("dissolved O2", "%"),
    "pco2_mmhg": ("pCO2", "mmHg"),
}
STATISTICS = {
    "last": "last measured",
    "max": "peak",
    "slope": "trend (per day)",
    "auc": "area under the curve",
}
DERIVED = {
    "mu_exp_per_day": ("exponential growth rate", "/day"),
    "ivcd_e6_cell_day_ml": ("IVCD", "e6 cell·day/mL"),
    "qp_pg_cell_day": ("specific productivity qP", "pg/cell/day"),
    "q_glucose_pmol_cell_day": ("specific glucose rate", "pmol/cell/day"),
    "q_lactate_pmol_cell_day": ("specific lactate rate", "pmol/cell/day"),
    "q_ammonia_pmol_cell_day": ("specific ammonia rate", "pmol/cell/day"),
    "lactate_shift_day": ("day lactate turned to uptake", "day"),
    "lactate_shifted": ("lactate shift seen (1 = yes)", ""),
    "viability_drop_pct": ("viability drop", "points"),
    "n_samples": ("number of samples", ""),
    "last_sample_day": ("last sample day", "day"),
}
ATTRIBUTES = {
    "ss_titer_g_l": ("screen titer", "g/L"),
    "ss_hmw_pct": ("screen HMW", "%"),
    "ss_g0f_pct": ("screen G0F", "%"),
    "ss_man5_pct": ("screen Man5", "%"),
    "ss_afucosylated_pct": ("screen afucosylation", "%"),
    "doubling_time_h": ("doubling time", "h"),
    "stability_pct": ("stability", "%"),
    "lc_hc_ratio": ("LC:HC ratio", ""),
    "temp_after_shift_c": ("temperature after shift", "°C"),
    "temp_shift_day": ("temperature-shift day", "day"),
    "ph_setpoint": ("pH set point", ""),
    "feed_pct": ("feed", "%/day"),
    "mn_um": ("Mn²⁺ supplement", "µM"),
    "galactose_mm": ("galactose supplement", "mM"),
    "seed_density_e6_ml": ("seeding density", "e6 cells/mL"),
}
TARGETS = {
    "dsp_yield_pct": ("purification yield", "points"),
    "g0f_pct": ("G0F", "points"),
    "g1f_pct": ("G1F", "points"),
    "g2f_pct": ("G2F", "points"),
    "man5_pct": ("Man5", "points"),
    "afucosylated_pct": ("afucosylation", "points"),
    "hmw_pct": ("HMW", "points"),
    "hcp_ppm": ("HCP", "ppm"),
    "final_titer_g_l": ("final titer", "g/L"),
}
_SUFFIX_UNITS = (
    ("_pct", "%"),
    ("_g_l", "g/L"),
    ("_mm", "mM"),
    ("_um", "µM"),
    ("_c", "°C"),
    ("_day", "day"),
    ("_h", "h"),
    ("_e6_ml", "e6 cells/mL"),
)


def _generic(name: str) -> tuple[str, str]:
    for suffix, unit in _SUFFIX_UNITS:
        if name.endswith(suffix):
            return name[: -len(suffix)].replace("_", " "), unit
    return name.replace("_", " "), ""


def describe_feature(name: str) -> tuple[str, str]:
    """Human label and unit of a feature name."""
    if name in DERIVED:
        return DERIVED[name]
    for prefix in ("run__", "clone__"):
        if name.startswith(prefix):
            rest = name[len(prefix) :]
            if "=" in rest:
                col, cat = rest.split("=", 1)
                return f"{_generic(col)[0]} is {cat}", ""
            return ATTRIBUTES.get(rest, _generic(rest))
    if "__" in name:
        meas, stat = name.rsplit("__", 1)
        label, unit = MEASUREMENTS.get(meas, _generic(meas))
        if stat.startswith("d") and stat[1:].replace("p", "").isdigit():
            return f"{label} on day {stat[1:].replace('p', '.')}", unit
        if stat == "slope":
            return f"{label} trend", f"{unit}/day" if unit else "/day"
        if stat == "auc":
            return f"{label} area under the curve", f"{unit}·day" if unit else "day"
        return f"{STATISTICS.get(stat, stat)} {label}", unit
    return _generic(name)


def _fmt(value: float) -> str:
    if np.isnan(value):
        return "missing"
    mag = abs(value)
    return f"{value:.3g}" if mag < 100 else f"{value:.0f}"


def sentences(
    contributions: np.ndarray,
    values: np.ndarray,
    medians: np.ndarray,
    feature_names: list[str],
    target: str,
    top_k: int = 3,
) -> list[str]:
    """Top-``top_k`` reasons of one prediction (``contributions`` without the bias term)."""
    return sentences_rows(
        contributions[None, :], values[None, :], medians, feature_names, target, top_k
    )[0]


@functools.lru_cache(maxsize=64)
def _described(feature_names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple(describe_feature(n) for n in feature_names)


def sentences_rows(
    contributions: np.ndarray,
    values: np.ndarray,
    medians: np.ndarray,
    feature_names: list[str],
    target: str,
    top_k: int = 3,
) -> list[list[str]]:
    """:func:`sentences` for every row of ``contributions`` (runs x features) at once.

    The top features of all rows are chosen in one sort; labels are worked out once per
    feature name. Each row's sentences are exactly what :func:`sentences` gives it.
    """
    t_label, t_unit = TARGETS.get(target, _generic(target))
    described = _described(tuple(feature_names))
    top = np.argsort(-np.abs(contributions), axis=1)[:, :top_k]
    rows = np.arange(len(contributions))[:, None]
    c_top, v_top = contributions[rows, top], values[rows, top]
    m_top = np.asarray(medians)[top]
    out = []
    for idx, cs, vs, ms in zip(
        top.tolist(), c_top.tolist(), v_top.tolist(), m_top.tolist(), strict=True
    ):
        row = []
        for i, c, v, med in zip(idx, cs, vs, ms, strict=True):
            if c == 0.0:
                break
            label, unit = described[i]
            if v != v:  # NaN
                level = shown = "missing"
            else:
                level = "high" if v > med else "low" if v < med else "typical"
                shown = f"{_fmt(v)} {unit}".strip()
            direction = "up" if c > 0 else "down"
            row.append(f"{label} ({shown}) {level} → {t_label} {direction} {abs(c):.2g} {t_unit}")
        out.append(row)
    return out
