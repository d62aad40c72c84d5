"""Clone ranking: replicate runs pooled per clone, a desirability score, the Pareto front.

A campaign lead keeps a handful of clones out of dozens. Per clone, the scored runs that are
not ``unknown`` are pooled (mean and spread over replicates): latest measured titer,
predicted purification yield with its 90% interval, expected purified product
(titer x yield, the interval carried from the yield's; the titer is taken as measured), the
glycan and downstream risks and each spec limit's risk.

The manufacturability score is a weighted geometric mean of desirabilities (Derringer &
Suich 1980), one per criterion of ``data/ranking.yaml``; anchors and weights are the user's
to edit, and every clone row carries its own d's so the score can be checked by hand. The
Pareto front over (expected product up, purification yield up, glycan risk down) is marked
beside it: a clone off the front is beaten on all three by some other clone, whatever the
weights. A clone whose every run is ``unknown`` is listed apart, never ranked: the model
cannot place it, so any position would be made up.

>>> d = desirability(np.array([60.0, 75.0, 90.0]), Criterion("y", "y", "max", 65.0, 85.0, 1.0))
>>> d.tolist()
[0.0, 0.5, 1.0]
>>> pareto_front(np.array([[1.0, 1.0], [2.0, 0.5], [0.5, 0.5]]), ("max", "max")).tolist()
[True, True, False]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from models.flags import FLAG_OK, FLAG_RISK, FLAG_UNKNOWN, LIMIT_RISK_PREFIX
from models.ranking_file import (
    DEFAULT_RANKING,
    Criterion,
    RankingConfig,
    RankingError,
    load_ranking,
)

__all__ = [  # the ranking file's names too, so callers import everything from here
    "CLONE_COLUMNS",
    "DEFAULT_RANKING",
    "PARETO_AXES",
    "RANKED",
    "UNKNOWN",
    "Criterion",
    "RankingConfig",
    "RankingError",
    "clone_table",
    "desirability",
    "latest_titer",
    "load_ranking",
    "pareto_front",
    "pool_clones",
    "rank",
]

PARETO_AXES = (("expected_product_g_l", "max"), ("dsp_yield_pct", "max"), ("glycans_risk", "min"))
RANKED, UNKNOWN = "ranked", "unknown"


def desirability(x: np.ndarray, c: Criterion, anchors: tuple[float, float] | None = None):
    """D in [0, 1] (NaN where ``x`` is missing); linear between the anchors."""
    low, high = c.anchors(x) if anchors is None else anchors
    with np.errstate(invalid="ignore", divide="ignore"):
        if not high > low:  # percentile anchors that coincide: everyone equally desirable
            d = np.where(np.isfinite(x), 1.0, np.nan)
            return d
        d = (x - low) / (high - low) if c.goal == "max" else (high - x) / (high - low)
    return np.where(np.isfinite(x), np.clip(d, 0.0, 1.0), np.nan)


def pareto_front(values: np.ndarray, goals: tuple[str, ...]) -> np.ndarray:
    """True for rows no other row beats: as good on every axis and better on one.

    Rows with a missing value are never on the front. The rows are visited best-first on
    the first axis, so a row can only be beaten by one already on the front: each row is
    compared with the front found so far (small in practice: tens of clones out of
    thousands), not with every other row.
    """
    v = np.where(np.array(goals) == "max", values, -values)  # every axis: larger is better
    ok = np.isfinite(v).all(axis=1)
    front = np.zeros(len(v), dtype=bool)
    if not ok.any():
        return front
    # equal points share their fate (neither beats the other): decide each distinct one once
    points, inverse = np.unique(v[ok], axis=0, return_inverse=True)
    front[np.flatnonzero(ok)] = _front_of_distinct(points)[inverse.ravel()]
    return front


def _front_of_distinct(v: np.ndarray) -> np.ndarray:
    front = np.zeros(len(v), dtype=bool)
    order = np.lexsort(tuple(-v[:, k] for k in reversed(range(v.shape[1]))))
    kept: list[int] = []
    pts = np.empty((0, v.shape[1]))
    for i in order:
        p = v[i]
        if len(kept) and ((pts >= p).all(axis=1) & (pts > p).any(axis=1)).any():
            continue
        kept.append(i)
        pts = v[kept]
    front[kept] = True
    return front


def _spread(g: Any, col: str) -> pd.Series:
    """Standard deviation over a clone's replicate runs (NaN with one run)."""
    return g[col].std(ddof=1)


def expected_product(titer, yield_pct):
    """Purified product (g/L) from a titer (g/L) and a purification yield (%).

    >>> expected_product(4.0, 75.0)
    3.0
    """
    return titer * yield_pct / 100.0


def latest_titer(samples: pd.DataFrame) -> pd.DataFrame:
    """Per run: the last measured titer and its day (the product the clone has made)."""
    if "titer_g_l" not in samples.columns:
        return pd.DataFrame(columns=["titer_g_l", "titer_day"], index=pd.Index([], name="run_id"))
    s = samples[["run_id", "day", "titer_g_l"]].dropna(subset=["titer_g_l"])
    last = s.sort_values(["run_id", "day"], kind="stable").groupby("run_id").tail(1)
    return last.set_index("run_id").rename(columns={"day": "titer_day"})[["titer_g_l", "titer_day"]]


def pool_clones(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per clone from its scored runs (columns of ``clonescout score``'s run table).

    Uses ``clone_id, campaign_id, flag, flag_reason, titer_g_l, titer_day, dsp_yield_pct``
    (+ ``_lo90``/``_hi90``), ``glycans_risk``, ``downstream_risk`` and ``risk__*`` where
    present. Only runs that are not ``unknown`` enter the numbers.
    """
    risk_cols = [c for c in runs.columns if c.startswith(LIMIT_RISK_PREFIX)]
    num = [
        c
        for c in (
            "titer_g_l",
            "titer_day",
            "dsp_yield_pct",
            "dsp_yield_pct_lo90",
            "dsp_yield_pct_hi90",
            "glycans_risk",
            "downstream_risk",
            *risk_cols,
        )
        if c in runs.columns
    ]
    r = runs[["clone_id", "campaign_id", "flag", "flag_reason", *num]]
    known = r[r["flag"] != FLAG_UNKNOWN]
    all_ids = r.groupby("clone_id", sort=True).agg(
        campaign_id=("campaign_id", "first"), runs=("flag", "size")
    )
    g = known.groupby("clone_id", sort=True)
    means = g[num].mean()
    out = all_ids.join(means)
    out["runs_unknown"] = out["runs"] - g.size().reindex(out.index).fillna(0).astype(int)
    out["titer_sd_g_l"] = _spread(g, "titer_g_l") if "titer_g_l" in num else np.nan
    out["dsp_yield_sd_pct"] = _spread(g, "dsp_yield_pct") if "dsp_yield_pct" in num else np.nan
    for c in ("titer_g_l", "titer_day", "dsp_yield_pct", "glycans_risk", "downstream_risk"):
        if c not in out.columns:
            out[c] = np.nan
    out = out.rename(columns={"dsp_yield_pct_lo90": "dsp_yield_lo90"})
    out = out.rename(columns={"dsp_yield_pct_hi90": "dsp_yield_hi90"})
    for c in ("dsp_yield_lo90", "dsp_yield_hi90"):
        if c not in out.columns:
            out[c] = np.nan
    t = out["titer_g_l"]
    out["expected_product_g_l"] = expected_product(t, out["dsp_yield_pct"])
    out["expected_product_lo90"] = expected_product(t, out["dsp_yield_lo90"])
    out["expected_product_hi90"] = expected_product(t, out["dsp_yield_hi90"])
    n_known = out["runs"] - out["runs_unknown"]
    risky = known.assign(r=known["flag"] == FLAG_RISK).groupby("clone_id")["r"].any()
    out["flag"] = np.where(
        n_known == 0,
        FLAG_UNKNOWN,
        np.where(risky.reindex(out.index, fill_value=False), FLAG_RISK, FLAG_OK),
    )
    out["reasons"] = _reasons(r, out).to_numpy()
    return out.reset_index()


def _reasons(runs: pd.DataFrame, clones: pd.DataFrame) -> pd.Series:
    """Per clone: its runs' flag reasons, each once, unknown runs named as such."""
    r = runs[["clone_id", "flag", "flag_reason"]]
    r = r[r["flag_reason"].notna() & r["flag_reason"].astype(str).ne("")]
    text = r["flag_reason"].astype(str)
    text = text.where(r["flag"] != FLAG_UNKNOWN, "unknown run: " + text)
    said = pd.DataFrame({"clone_id": r["clone_id"].to_numpy(), "text": text.to_numpy()})
    said = said.drop_duplicates()  # keeps the first mention, in run order
    joined = said.groupby("clone_id", sort=False)["text"].agg(" | ".join)
    return joined.reindex(clones.index).fillna("").astype(str)


def rank(clones: pd.DataFrame, config: RankingConfig) -> pd.DataFrame:
    """Desirabilities, score, Pareto front and rank; unknown clones last, unranked.

    A criterion whose column is absent or empty for every clone (e.g. a downstream risk the
    model does not judge) is left out of the score and said so in ``criteria_used``.
    """
    out = clones.copy()
    known = (out["flag"] != FLAG_UNKNOWN).to_numpy()
    out["status"] = np.where(known, RANKED, UNKNOWN)
    logs, weights, used = np.zeros(len(out)), 0.0, []
    for c in config.criteria:
        x = out[c.column].to_numpy(float) if c.column in out.columns else np.full(len(out), np.nan)
        x = np.where(known, x, np.nan)
        if not np.isfinite(x).any():
            out[f"d_{c.name}"] = np.nan
            continue
        d = desirability(x, c, c.anchors(x))
        out[f"d_{c.name}"] = d
        with np.errstate(divide="ignore"):
            logs = logs + c.weight * np.log(d)  # NaN stays NaN: no score without every d
        weights += c.weight
        used.append(c.name)
    score = np.exp(logs / weights) if weights else np.full(len(out), np.nan)
    out["desirability"] = np.where(known, score, np.nan)
    axes = [(col, goal) for col, goal in PARETO_AXES if col in out.columns]
    vals = np.column_stack([out[col].to_numpy(float) for col, _ in axes])
    vals[~known] = np.nan
    out["pareto"] = pareto_front(vals, tuple(g for _, g in axes))
    out["criteria_used"] = ", ".join(used)
    order = np.lexsort(
        (
            out["clone_id"].astype(str).to_numpy(),
            -np.nan_to_num(out["desirability"], nan=-1.0),
            ~known,
        )
    )
    out = out.iloc[order].reset_index(drop=True)
    ranked = out["status"] == RANKED
    out["rank"] = pd.array(np.where(ranked, np.cumsum(ranked), 0), dtype="Int64")
    out.loc[~ranked, "rank"] = pd.NA
    return out


CLONE_COLUMNS = (
    "rank",
    "clone_id",
    "campaign_id",
    "status",
    "flag",
    "runs",
    "runs_unknown",
    "titer_g_l",
    "titer_sd_g_l",
    "titer_day",
    "dsp_yield_pct",
    "dsp_yield_sd_pct",
    "dsp_yield_lo90",
    "dsp_yield_hi90",
    "expected_product_g_l",
    "expected_product_lo90",
    "expected_product_hi90",
    "glycans_risk",
    "downstream_risk",
)


def clone_table(runs: pd.DataFrame, config: RankingConfig) -> pd.DataFrame:
    """The per-clone table ``clonescout score`` writes: pooled, scored, ranked."""
    ranked = rank(pool_clones(runs), config)
    d_cols = [c for c in ranked.columns if c.startswith("d_")]
    risk_cols = sorted(c for c in ranked.columns if c.startswith(LIMIT_RISK_PREFIX))
    tail = [*d_cols, "desirability", "pareto", "criteria_used", "reasons"]
    return ranked[[*CLONE_COLUMNS, *risk_cols, *tail]]
