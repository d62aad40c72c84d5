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
import json

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


# Which runs get reasons (``score --reasons``, the API's ``reasons``): every known run, the
# runs a flag or the edge of experience points at, or none (the column stays empty).
REASON_MODES = ("all", "flagged", "none")

TEXT = np.dtypes.StringDType()  # numpy's variable-width strings: joined in C, not per cell


def _formatted(values: np.ndarray, spec: str) -> np.ndarray:
    """``values`` each formatted with ``spec`` (one f-string per value, the only Python loop)."""
    return np.array([f"{v:{spec}}" for v in values.tolist()], dtype=TEXT)


def _shown(values: np.ndarray) -> np.ndarray:
    """Each value as a reason shows it: 3 significant digits below 100, whole numbers above."""
    small = np.abs(values) < 100
    out = np.full(values.shape, "missing", dtype=TEXT)
    out[small] = _formatted(values[small], ".3g")
    big = ~small & ~np.isnan(values)
    out[big] = _formatted(values[big], ".0f")
    return out


def sentence_table(
    contributions: np.ndarray,
    values: np.ndarray,
    medians: np.ndarray,
    feature_names: list[str],
    target: str,
    top_k: int = 3,
    quoted: bool = False,
) -> np.ndarray:
    """The top-``top_k`` reasons of every row (runs x features): runs x ``top_k`` strings.

    Row i's reasons are its features with the largest absolute contributions, largest
    first, e.g. "ammonia on day 5 (9.8 mM) high → G0F up 3.1 points"; high/low compares the
    run's value with the training median. A zero contribution is no reason: its cell and
    the cells after it are "". Built column by column with numpy's string functions, so
    100k runs cost a few f-strings per run, not a Python loop per sentence.
    ``quoted``: each sentence as a JSON string (escaped, in double quotes), for
    :func:`reasons_json`.
    """
    esc = _json_text if quoted else str
    t_label, t_unit = (esc(x) for x in TARGETS.get(target, _generic(target)))
    top = largest(np.abs(contributions), top_k)
    rows = np.arange(len(contributions))[:, None]
    # float64, as the per-row lists of earlier versions formatted them
    c_top = contributions[rows, top].astype(float)
    v_top = np.asarray(values, float)[rows, top]
    m_top = np.asarray(medians, float)[top]
    quote = '"' if quoted else ""
    opening, unit = _pieces(tuple(feature_names), quoted)
    # the words between the value and the size: one string per (level, direction)
    levels = ("high", "low", "typical", "missing")
    middle = np.array(
        [f") {lv} → {t_label} {d} " for lv in levels for d in ("up", "down")], dtype=TEXT
    )
    tail = f" {t_unit}{quote}"
    out = np.full(top.shape, "", dtype=TEXT)
    for k in range(top.shape[1]):
        c, v, idx, med = c_top[:, k], v_top[:, k], top[:, k], m_top[:, k]
        missing = np.isnan(v)
        level = np.where(missing, 3, np.where(v > med, 0, np.where(v < med, 1, 2)))
        shown = np.where(missing, "missing", _shown(v) + unit[idx])
        text = opening[idx] + shown + middle[2 * level + ~(c > 0)]
        text = text + _formatted(np.abs(c), ".2g") + tail
        # a zero contribution ends the row's reasons (they are sorted by size)
        alive = (c_top[:, : k + 1] != 0.0).all(axis=1)
        out[:, k] = np.where(alive, text, "")
    return out


@functools.lru_cache(maxsize=64)
def _pieces(feature_names: tuple[str, ...], quoted: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per feature, what opens its reason ('"label (') and its unit (' mM' or ''), once."""
    esc = _json_text if quoted else str
    quote = '"' if quoted else ""
    described = _described(feature_names)
    opening = np.array([quote + esc(label) + " (" for label, _ in described], dtype=TEXT)
    unit = np.array([(" " + esc(u)).rstrip() for _, u in described], dtype=TEXT)
    return opening, unit


def largest(magnitude: np.ndarray, k: int) -> np.ndarray:
    """Per row, the columns of the ``k`` largest values, largest first (runs x k).

    The order of ``np.argsort(-magnitude, axis=1)[:, :k]``, found with k passes of argmax
    instead of a sort of every row. Where equal values leave that order to the sort (a tie
    at or around the top k, or a NaN), the row is sorted as before, so every row gets the
    columns the full sort gives it.
    """
    n, m = magnitude.shape
    k = min(k, m)
    if n == 0 or k == 0:
        return np.zeros((n, k), dtype=np.intp)
    work = magnitude.copy()
    rows = np.arange(n)
    top = np.empty((n, k), dtype=np.intp)
    best = np.empty((n, k + 1), dtype=magnitude.dtype)
    for j in range(k):
        top[:, j] = np.argmax(work, axis=1)
        best[:, j] = work[rows, top[:, j]]
        work[rows, top[:, j]] = -np.inf
    best[:, k] = work.max(axis=1) if k < m else -np.inf
    # a tie among the first k + 1 values (zeros included: their order is the sort's too), or
    # a NaN anywhere in the row
    tied = (best[:, 1:] == best[:, :-1]).any(axis=1) | np.isnan(magnitude).any(axis=1)
    if tied.any():
        top[tied] = np.argsort(-magnitude[tied], axis=1)[:, :k]
    return top


def _json_text(text: str) -> str:
    """``text`` as the inside of a JSON string, as ``json.dumps(..., ensure_ascii=False)``."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


def reasons_json(per_target: dict[str, np.ndarray], n: int) -> np.ndarray:
    """One JSON object per run (``n`` runs), ``{target: [reason, ...]}``, from quoted tables.

    Byte for byte what ``json.dumps({t: sentences}, ensure_ascii=False)`` gives each run.
    """
    parts = []
    for t, table in per_target.items():
        body: np.ndarray = np.full(
            len(table), json.dumps(t, ensure_ascii=False) + ": [", dtype=TEXT
        )
        for k in range(table.shape[1]):
            cell = table[:, k]
            sep = ", " if k else ""
            body = np.where(cell != "", body + sep + cell, body)
        parts.append(body + "]")
    if not parts:
        return np.full(n, "{}", dtype=TEXT)
    joined = parts[0]
    for p in parts[1:]:
        joined = joined + ", " + p
    return "{" + joined + "}"


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
    """:func:`sentence_table` as one list of reasons per row (empty cells left out)."""
    table = sentence_table(contributions, values, medians, feature_names, target, top_k)
    return [[str(s) for s in row if s] for row in table.tolist()]
