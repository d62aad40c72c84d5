"""Benchmark: featurise 10,000 runs x 15 samples (target < 10 s on 2 cores), memory peak.

Side by side in one process: the vectorised EarlyFeatures against a straightforward
per-run pandas loop computing a subset of the same features (values at standard days by
np.interp, last, max, slope, AUC), timed on a subset of runs and scaled to 10,000.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
from benchio import finish, row  # bench/ is on the path when a benchmark runs

from features.early import STANDARD_DAYS, EarlyFeatures
from simulator.campaign import SimulationConfig, simulate_set

TARGET_S = 10.0
CONFIG = SimulationConfig(
    n_campaigns=50, clones_per_campaign=100, runs_per_clone=2, seed=2, deep_clone_share=0.0
)
LOOP_RUNS = 300


def long_frame(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    runs = tables["runs"].rename(
        columns=lambda c: c if c in ("run_id", "clone_id") else "run__" + c
    )
    clones = (
        tables["clones"]
        .drop(columns=["campaign_id"])
        .rename(columns=lambda c: c if c == "clone_id" else "clone__" + c)
    )
    meta = runs.merge(clones, on="clone_id").drop(columns=["clone_id"])
    return tables["samples"].merge(meta, on="run_id")


def per_run_loop(frame: pd.DataFrame, measurements: list[str], horizon: float) -> pd.DataFrame:
    rows = {}
    for run_id, g in frame.groupby("run_id", sort=True):
        g = g[g["day"] <= horizon].sort_values("day")
        feats = {}
        for m in measurements:
            ok = g[m].notna()
            t, v = g.loc[ok, "day"].to_numpy(), g.loc[ok, m].to_numpy()
            for d in STANDARD_DAYS:
                if d <= horizon:
                    feats[f"{m}__d{d:g}"] = np.interp(d, t, v) if len(t) else np.nan
            feats[f"{m}__last"] = v[-1] if len(v) else np.nan
            feats[f"{m}__max"] = v.max() if len(v) else np.nan
            w = t >= horizon - 3
            feats[f"{m}__slope"] = np.polyfit(t[w], v[w], 1)[0] if w.sum() >= 2 else np.nan
            feats[f"{m}__auc"] = np.trapezoid(v, t) if len(t) >= 2 else np.nan
        rows[run_id] = feats
    return pd.DataFrame.from_dict(rows, orient="index")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--horizon-day", type=float, default=14.0)
    args = parser.parse_args()

    frame = long_frame(simulate_set(CONFIG))
    n_runs = frame["run_id"].nunique()
    tr = EarlyFeatures(horizon_day=args.horizon_day)
    tracemalloc.start()
    t0 = time.perf_counter()
    features = tr.fit(frame).transform(frame)
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    subset_ids = frame["run_id"].drop_duplicates().iloc[:LOOP_RUNS]
    subset = frame[frame["run_id"].isin(subset_ids)]
    t0 = time.perf_counter()
    per_run_loop(subset, tr.measurements_, args.horizon_day)
    loop_s = (time.perf_counter() - t0) / LOOP_RUNS * n_runs

    result = {
        "benchmark": "features",
        "n_runs": n_runs,
        "n_samples": len(frame),
        "samples_per_run": round(len(frame) / n_runs, 2),
        "horizon_day": args.horizon_day,
        "n_features": features.shape[1],
        "fit_transform_s": round(elapsed, 3),
        "target_s": TARGET_S,
        "meets_target": elapsed < TARGET_S,
        "python_alloc_peak_mb": round(peak / 2**20, 1),
        "process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "baseline_per_run_loop_s_for_n_runs": round(loop_s, 1),
        "baseline_computes": "values at standard days, last, max, slope, AUC only",
        "speedup_vs_per_run_loop": round(loop_s / elapsed, 1),
    }
    return finish(result, args.out, _table(result))


def _table(r: dict) -> list[dict]:
    return [
        row(
            f"early features of {r['n_runs']} runs ({r['n_features']} features, day "
            f"{r['horizon_day']:g})",
            r["fit_transform_s"],
            "s",
            r["baseline_per_run_loop_s_for_n_runs"],
            "a per-run loop computing " + r["baseline_computes"],
            f"< {TARGET_S:g} s",
            r["meets_target"],
        ),
        row("features: peak Python allocation", r["python_alloc_peak_mb"], "MB"),
    ]


if __name__ == "__main__":
    sys.exit(main())
