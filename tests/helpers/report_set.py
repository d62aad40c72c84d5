"""A realistic, schema-exact set of ``clonescout score`` outputs, for the report's tests and bench.

Writes the four files ``clonescout score --out <folder>/scores.<ext>`` leaves: the per-run
table, ``scores.clones.<ext>``, ``scores.summary.json`` and (when runs were rejected)
``scores.rejects.csv``. The numbers follow the shapes the model gives (titers around
4 g/L, purification yields around 75 %, mostly small glycan risks with a tail) and the
set holds every case the report must handle: unknown clones (each cause), at-risk clones,
a ranked clone without a titer (no product, no score: ranked last), replicate runs that are
unknown, a downstream risk that is null throughout, and a clone id and a reason carrying
HTML (``<script>``, ``<img onerror>``, ``&``) to prove the page escapes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

NASTY_ID = 'CMP-01-C0006 <script>alert("clone")</script> & co'
NASTY_REASON = "glycans out-of-spec risk 0.71 <img src=x onerror=alert(1)> & G0F high"
GLYCAN_LIMITS = (
    ("g0f_pct", 30.0, 53.0),
    ("g2f_pct", 3.5, 14.0),
    ("man5_pct", None, 8.0),
    ("afucosylated_pct", None, 10.0),
)
DOWNSTREAM_LIMITS = (
    ("dsp_yield_pct", 65.0, None, "% of harvested antibody"),
    ("hmw_pct", None, 8.0, "% of Protein A eluate (SEC)"),
    ("hcp_ppm", None, 3000.0, "ng/mg after Protein A"),
)
UNKNOWN_REASONS = (
    "unknown run: outside the model's experience: T² {t2:.1f} above its limit 18.4; "
    "numbers would be extrapolation",
    "unknown run: no glucose samples up to day 7 (the model relies on them); "
    "numbers would be extrapolation",
    "unknown run: a condition that never varied in training: temp_shift_day = 5 "
    "(training only saw 7); numbers would be extrapolation",
)
REJECT_REASONS = (
    ("load", "titer_g_l: '<LOQ' is not a number (samples.csv row {row})"),
    ("load", "run is not in runs.csv (an orphan sample)"),
    ("features", "no samples at or before horizon day 7"),
    ("features", "no samples for this run"),
)
CRITERIA = (  # name, column, goal, low, high, weight (as data/ranking.yaml)
    ("expected_product", "expected_product_g_l", "max", 0.0, "p90", 2.0),
    ("dsp_yield", "dsp_yield_pct", "max", 65.0, 85.0, 1.0),
    ("glycans_risk", "glycans_risk", "min", 0.05, 0.5, 1.5),
)
WHY = {
    "expected_product": "purified product per litre is what a production clone is chosen for",
    "dsp_yield": "a low purification yield costs product",
    "glycans_risk": "off-spec glycans change efficacy and clearance",
}


@dataclass(frozen=True)
class ReportSet:
    """Where the files went and what a correct page must show."""

    scores: Path
    ranked_ids: list[str]  # in rank order
    unknown_ids: list[str]
    summary: dict[str, Any]


def write_report_set(
    folder: Path,
    n_clones: int = 40,
    n_campaigns: int = 2,
    n_unknown: int = 4,
    n_rejects: int = 6,
    fmt: str = "parquet",
    seed: int = 0,
    downstream_judged: bool = False,
) -> ReportSet:
    """Write a scored campaign of ``n_clones`` clones (3 runs each) to ``folder``."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    scores = folder / f"scores.{fmt}"
    clones = _clones(rng, n_clones, n_campaigns, n_unknown, downstream_judged)
    runs = _runs(rng, clones)
    rejects = _rejects(n_rejects)
    _write(clones, scores.with_name(f"scores.clones.{fmt}"))
    _write(runs, scores)
    if len(rejects):
        rejects.to_csv(scores.with_name("scores.rejects.csv"), index=False)
    summary = _summary(scores, clones, runs, rejects, downstream_judged)
    scores.with_name("scores.summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    ranked = clones[clones["status"] == "ranked"]
    unknown = clones[clones["status"] == "unknown"]
    return ReportSet(scores, ranked["clone_id"].tolist(), unknown["clone_id"].tolist(), summary)


def _write(df: pd.DataFrame, path: Path) -> None:
    if path.suffix == ".parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)


def _clones(
    rng: np.random.Generator, n: int, n_campaigns: int, n_unknown: int, downstream: bool
) -> pd.DataFrame:
    camp = np.arange(n) % n_campaigns
    ids = [f"CMP-{c + 1:02d}-C{i:04d}" for i, c in enumerate(camp)]
    nasty, no_titer = min(6, n - 1), min(9, n - 1)
    ids[nasty] = NASTY_ID
    others = np.setdiff1d(np.arange(n), [nasty, no_titer])
    unknown = np.zeros(n, bool)
    unknown[rng.choice(others, size=min(n_unknown, len(others)), replace=False)] = True
    df = pd.DataFrame({"clone_id": ids, "campaign_id": [f"CMP-{c + 1:02d}" for c in camp]})
    df["runs"] = 3
    df["runs_unknown"] = np.where(unknown, 3, (rng.random(n) < 0.1).astype(int))
    titer = rng.lognormal(np.log(4.0), 0.3, n)
    titer[no_titer] = np.nan  # never measured: no product, no score, ranked last
    df["titer_g_l"], df["titer_sd_g_l"] = titer, titer * rng.uniform(0.03, 0.12, n)
    df["titer_day"] = 7.0
    y = np.clip(rng.normal(76.0, 7.0, n), 45.0, 95.0)
    half = rng.uniform(4.0, 9.0, n)
    df["dsp_yield_pct"], df["dsp_yield_sd_pct"] = y, rng.uniform(1.0, 4.0, n)
    df["dsp_yield_lo90"], df["dsp_yield_hi90"] = y - half, np.minimum(y + half, 99.5)
    df["expected_product_g_l"] = titer * y / 100
    df["expected_product_lo90"] = titer * df["dsp_yield_lo90"] / 100
    df["expected_product_hi90"] = titer * df["dsp_yield_hi90"] / 100
    risks = {a: rng.beta(0.6, 8.0, n) for a, _, _ in GLYCAN_LIMITS}
    hot = rng.random(n) < 0.15
    hot[nasty] = True
    risks["g0f_pct"] = np.where(hot, rng.beta(6.0, 2.5, n), risks["g0f_pct"])
    risks["g0f_pct"][nasty] = 0.71  # the clone with HTML in its id is at risk: listed twice
    df["glycans_risk"] = 1 - np.prod([1 - r for r in risks.values()], axis=0)
    ds = norm.cdf((65.0 - y) / (half / 1.645)) if downstream else np.full(n, np.nan)
    df["downstream_risk"] = ds
    for a, r in risks.items():
        df[f"risk__{a}"] = r
    if downstream:
        df["risk__dsp_yield_pct"] = ds
    num = [c for c in df.columns if df[c].dtype.kind == "f"]
    df.loc[unknown, num] = np.nan
    return _ranked(df, unknown, nasty)


def _ranked(df: pd.DataFrame, unknown: np.ndarray, nasty: int) -> pd.DataFrame:
    known = ~unknown
    risk = df["glycans_risk"].fillna(0).to_numpy() >= 0.5
    risk |= df["downstream_risk"].fillna(0).to_numpy() >= 0.5
    df["flag"] = np.where(unknown, "unknown", np.where(risk, "at risk", "ok"))
    df["status"] = np.where(unknown, "unknown", "ranked")
    logs = np.zeros(len(df))
    for name, col, goal, low, high, weight in CRITERIA:
        x = df[col].to_numpy(float)
        hi = np.nanpercentile(x[known], 90) if high == "p90" else float(high)
        d = (x - low) / (hi - low) if goal == "max" else (hi - x) / (hi - low)
        df[f"d_{name}"] = np.clip(d, 0, 1)
        with np.errstate(divide="ignore"):
            logs = logs + weight * np.log(df[f"d_{name}"].to_numpy())
    df["desirability"] = np.exp(logs / sum(c[-1] for c in CRITERIA))
    axes = df[["expected_product_g_l", "dsp_yield_pct", "glycans_risk"]].to_numpy(float)
    df["pareto"] = _front(axes * np.array([1.0, 1.0, -1.0]))
    df["criteria_used"] = ", ".join(c[0] for c in CRITERIA)
    df["reasons"] = _reasons(df, unknown)
    df.loc[nasty, "reasons"] = NASTY_REASON
    order = np.lexsort(
        (df["clone_id"].to_numpy(), -df["desirability"].fillna(-1).to_numpy(), unknown)
    )
    df = df.iloc[order].reset_index(drop=True)
    ranked = df["status"] == "ranked"
    df.insert(0, "rank", pd.array(np.where(ranked, np.cumsum(ranked), 0), dtype="Int64"))
    df.loc[~ranked, "rank"] = pd.NA
    head = ["rank", "clone_id", "campaign_id", "status", "flag", "runs", "runs_unknown"]
    tail = ["desirability", "pareto", "criteria_used", "reasons"]
    return df[head + [c for c in df.columns if c not in head + tail] + tail]


def _front(v: np.ndarray) -> np.ndarray:
    """Pareto front, every axis larger-is-better; rows with a NaN are never on it."""
    ok = np.isfinite(v).all(axis=1)
    front = np.zeros(len(v), bool)
    pts = v[ok]
    for j, i in enumerate(np.flatnonzero(ok)):
        beaten = ((pts >= pts[j]).all(axis=1) & (pts > pts[j]).any(axis=1)).any()
        front[i] = not beaten
    return front


def _reasons(df: pd.DataFrame, unknown: np.ndarray) -> list[str]:
    out = []
    for i, (g, unk) in enumerate(zip(df["glycans_risk"], df["runs_unknown"], strict=True)):
        if unknown[i]:
            out.append(UNKNOWN_REASONS[i % 3].format(t2=20 + i % 7))
            continue
        parts = [f"glycans out-of-spec risk {g:.2f}"] if g >= 0.5 else []
        if i % 11 == 3:
            parts.append(f"near the edge of experience: T² {12 + i % 5:.1f} of 18.4")
        if unk:
            parts.append(UNKNOWN_REASONS[1].format())
        out.append(" | ".join(parts))
    return out


def _runs(rng: np.random.Generator, clones: pd.DataFrame) -> pd.DataFrame:
    """Three runs per clone, as the per-run scores file has them."""
    c = clones.loc[clones.index.repeat(clones["runs"])].reset_index(drop=True)
    k = c.groupby("clone_id", sort=False).cumcount()
    unknown = (c["status"] == "unknown") | (k < c["runs_unknown"])
    y = c["dsp_yield_pct"] + rng.normal(0, 1.5, len(c))
    half = (c["dsp_yield_hi90"] - c["dsp_yield_lo90"]) / 2
    runs = pd.DataFrame(
        {
            "run_id": [f"{cid}-R{j + 1}" for cid, j in zip(c["clone_id"], k, strict=True)],
            "clone_id": c["clone_id"],
            "campaign_id": c["campaign_id"],
            "model_version": "7",
            "flag": np.where(unknown, "unknown", c["flag"]),
            "flag_reason": np.where(unknown, UNKNOWN_REASONS[1].format()[13:], ""),
            "titer_g_l": c["titer_g_l"] * rng.normal(1.0, 0.05, len(c)),
            "titer_day": c["titer_day"],
            "dsp_yield_pct": y,
            "dsp_yield_pct_lo90": y - half,
            "dsp_yield_pct_hi90": y + half,
            "g0f_pct": rng.normal(42, 5, len(c)),
            "g2f_pct": rng.normal(8, 2, len(c)),
            "man5_pct": rng.gamma(4, 1, len(c)),
            "afucosylated_pct": rng.normal(6, 1.5, len(c)),
            "glycans_risk": c["glycans_risk"],
            "downstream_risk": c["downstream_risk"],
        }
    )
    for col in [x for x in clones.columns if x.startswith("risk__")]:
        runs[col] = c[col].to_numpy()
    num = [x for x in runs.columns if runs[x].dtype.kind == "f"]
    runs.loc[unknown.to_numpy(), num] = np.nan
    runs["reasons"] = np.where(
        unknown, "", json.dumps({"dsp_yield_pct": ["titer slope at day 7 above median"]})
    )
    return runs


def _rejects(n: int) -> pd.DataFrame:
    rows = [REJECT_REASONS[i % len(REJECT_REASONS)] for i in range(n)]
    return pd.DataFrame(
        {
            "run_id": [f"CMP-03-C{i:04d}-R1" for i in range(n)],
            "stage": [s for s, _ in rows],
            "reason": [r.format(row=12 + i) for i, (_, r) in enumerate(rows)],
        }
    )


def _limits(downstream_judged: bool) -> list[dict[str, Any]]:
    out = [
        {
            "attribute": a,
            "group": "glycans",
            "min": lo,
            "max": hi,
            "unit": "% of N-glycans",
            "judged": True,
        }
        for a, lo, hi in GLYCAN_LIMITS
    ]
    for a, lo, hi, unit in DOWNSTREAM_LIMITS:
        judged = downstream_judged and a == "dsp_yield_pct"
        out.append(
            {
                "attribute": a,
                "group": "downstream",
                "min": lo,
                "max": hi,
                "unit": unit,
                "judged": judged,
            }
        )
    return out


def _summary(
    scores: Path,
    clones: pd.DataFrame,
    runs: pd.DataFrame,
    rejects: pd.DataFrame,
    downstream_judged: bool,
) -> dict[str, Any]:
    limits = _limits(downstream_judged)
    ranked = int((clones["status"] == "ranked").sum())
    flags = runs["flag"].value_counts()
    stem = scores.name[: -len(scores.suffix)]
    return {
        "input": "campaigns/2025-H2",  # as the user typed it after --data
        "runs_in": len(runs) + len(rejects),
        "scored": len(runs),
        "rejected": len(rejects),
        "rejected_by_stage": {
            str(k): int(v) for k, v in rejects["stage"].value_counts().sort_index().items()
        },
        "flags": {f: int(flags.get(f, 0)) for f in ("ok", "at risk", "unknown")},
        "clones": len(clones),
        "clones_ranked": ranked,
        "clones_unknown": len(clones) - ranked,
        "model": {
            "name": "clonescout",
            "version": "7",
            "uri": "models:/clonescout/7",
            "model_id": "m-3f9a2c51d4e84b0f",
            "training_data_hash": "9c1e5b0d2f7a4e3c" * 4,
            "horizon_day": 7.0,
        },
        "spec": {"name": "IgG1 platform TPP (clonescout default)", "limits": limits},
        "not_judged": [lim["attribute"] for lim in limits if not lim["judged"]],
        "ranking": {
            "criteria": [
                {
                    "name": n,
                    "column": c,
                    "goal": g,
                    "low": lo,
                    "high": hi,
                    "weight": w,
                    "why": WHY[n],
                }
                for n, c, g, lo, hi, w in CRITERIA
            ],
            "source": "data/ranking.yaml",
        },
        "files": {
            "runs": scores.name,
            "clones": f"{stem}.clones{scores.suffix}",
            "rejects": f"{stem}.rejects.csv" if len(rejects) else None,
        },
    }
