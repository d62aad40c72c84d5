"""Benchmark: ``clonescout monitor`` over 100,000 logged predictions with outcomes (< 10 s).

A prediction log (SQLite, as by default) holds 100,000 predictions of one model version
(200 campaigns x 250 clones x 2 runs; 8 targets with 80 % and 90 % intervals, two risks,
a flag) and an outcome for every run. Timed: the join of the log to its outcomes
(serving.outcomes.joined_frame) and every check, per version and per campaign
(serving.monitor.monitor_version). Beside it, in the same run: reading the predictions
table into pandas, the floor any monitor pays.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from benchio import finish, row  # bench/ is on the path when a benchmark runs

from features.contract.spec import DEFAULT_SPEC_PATH, load_spec
from serving.monitor import monitor_version
from serving.outcomes import content_hash, joined_frame
from serving.predlog import ModelIdentity, PredictionLog, prediction_ids, result_json, rows

TARGET_S = 10.0
RUNS = 100_000
CAMPAIGNS = 200
TARGETS = {
    "dsp_yield_pct": (72.0, 6.0),
    "g0f_pct": (40.0, 4.0),
    "g1f_pct": (30.0, 3.0),
    "g2f_pct": (8.0, 2.0),
    "man5_pct": (4.0, 1.5),
    "afucosylated_pct": (6.0, 1.5),
    "hmw_pct": (3.0, 1.5),
    "hcp_ppm": (300.0, 150.0),
}
CHUNK = 20_000


def _columns(rng: np.random.Generator, n: int) -> tuple[dict, dict]:
    """Predicted columns and the measured outcomes of ``n`` runs (calibrated by design)."""
    cols: dict = {}
    obs: dict = {}
    for t, (mean, sd) in TARGETS.items():
        truth = rng.normal(mean, sd, n)
        pred = truth + rng.normal(0, sd / 2, n)
        cols[t] = pred
        for lv, z in ((80, 1.2816), (90, 1.6449)):
            cols[f"{t}_lo{lv}"] = pred - z * sd / 2
            cols[f"{t}_hi{lv}"] = pred + z * sd / 2
        obs[t] = truth
    cols["glycans_risk"] = rng.uniform(0, 1, n)
    cols["downstream_risk"] = rng.uniform(0, 1, n)
    cols["flag"] = np.where(cols["glycans_risk"] > 0.5, "at risk", "ok")
    cols["applicability"] = np.full(n, "inside")
    cols["seen_in_training"] = np.full(n, "")
    return cols, obs


def build_log(path: Path) -> tuple[PredictionLog, float]:
    """The log with every prediction and outcome; returns it and the write time."""
    log = PredictionLog(f"sqlite:///{path}")
    model = ModelIdentity("clonescout-bench", "1", "0" * 64)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for start in range(0, RUNS, CHUNK):
        n = min(CHUNK, RUNS - start)
        idx = np.arange(start, start + n)
        run_ids = [f"R{i:06d}" for i in idx]
        clone = [f"C{i // 2:06d}" for i in idx]
        campaign = [f"K{i // (RUNS // CAMPAIGNS):03d}" for i in idx]
        prints = [f"{i:016x}" for i in idx]
        cols, obs = _columns(rng, n)
        ids = {
            "run_id": run_ids,
            "clone_id": clone,
            "campaign_id": campaign,
            "input_fingerprint": prints,
            "prediction_id": prediction_ids(model, run_ids, prints),
        }
        log.write(rows(cols, ids, model, "cli"))
        values = result_json(obs, {}, n)
        when = dt.datetime.now(dt.UTC)
        log.append_outcomes(
            [
                {
                    "received_at": when,
                    "source": "cli",
                    "run_id": r,
                    "prediction_id": None,
                    "origin": f"outcomes.csv:{i + 2}",
                    "content_hash": content_hash(r, "", v),
                    "outcome": v,
                }
                for i, r, v in zip(idx, run_ids, values, strict=True)
            ]
        )
    return log, time.perf_counter() - t0


def promised() -> dict:
    """Nested figures as a bundle's manifest holds them (what the monitor compares with)."""

    # the synthetic predictions' own figures: error SD = half the spread (R² 0.75, MAE
    # 0.4 of the spread, Spearman ~0.87), intervals at their nominal coverage
    def block(sd: float) -> dict:
        return {"r2": 0.75, "mae": 0.4 * sd, "spearman": 0.87, "coverage_80": 0.8,
                "coverage_90": 0.9}  # fmt: skip

    return {
        "targets": {t: {"model": block(sd)} for t, (_, sd) in TARGETS.items()},
        # a uniform risk against any outcome: E[(U - Y)²] = 1/3 whatever Y
        "glyco_risk": {"model": {"brier": 1 / 3}},
        "downstream_risk": {"model": {"brier": 1 / 3}},
        "decision": {"dsp_yield_pct": {"model": {"pairwise_all": 0.85}}},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    spec = load_spec(DEFAULT_SPEC_PATH)
    with tempfile.TemporaryDirectory() as tmp:
        log, write_s = build_log(Path(tmp) / "predictions.db")
        ours, floor, result = [], [], {}
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            joined = joined_frame(log)
            result = monitor_version(joined, promised(), spec, list(TARGETS))
            ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            log.frame("predictions")
            floor.append(time.perf_counter() - t0)
        log.close()
    median = float(np.median(ours))
    out = {
        "benchmark": "monitor",
        "machine": f"{platform.machine()}, {platform.python_version()}, {sys.platform}",
        "predictions": RUNS,
        "campaigns": CAMPAIGNS,
        "log_write_s": round(write_s, 2),
        "monitor_s_median": round(median, 2),
        "read_predictions_s_median": round(float(np.median(floor)), 2),
        "verdict": result.get("verdict"),
        "degraded": result.get("degraded"),
        "campaign_verdicts": pd.Series([c["verdict"] for c in result.get("campaigns", {}).values()])
        .value_counts()
        .to_dict(),
        "target_s": TARGET_S,
        "meets_target": median < TARGET_S,
    }
    table = [
        row(
            f"monitor, {RUNS:,} predictions with outcomes, {CAMPAIGNS} campaigns",
            round(median, 2),
            "s",
            round(float(np.median(floor)), 2),
            "reading the predictions table",
            f"< {TARGET_S:g} s",
            median < TARGET_S,
        )
    ]
    return finish(out, args.out, table)


if __name__ == "__main__":
    raise SystemExit(main())
