"""Benchmark: drift before outcomes (models.drift), its cost and how often it is right.

Speed: the drift verdict of a 500-run campaign (statistics of its runs, every test, the
Benjamini-Hochberg step), target < 1 s, beside featurising the same 500 runs (the work
scoring already pays for them) measured in the same run.

Alarms on the twin: references from 4 histories (the default set's design, seeds 100-103),
each judged against 5 new campaigns (32 clones x 2 runs, other seeds), so 20 cases per
scenario:
- ``same process``: new clones, same medium and process box; an alarm here is false
  (target: at most 5 % of cases);
- ``richer medium``: the same campaign design grown in a basal medium with 6 mM glutamine
  and 7.2 g/L glucose instead of 4 mM and 6 g/L (simulator.kinetics GLN0_MM, GLC0_MM: more
  ammonia from glutamine, more lactate from glucose); a drift must be flagged (target: at
  least 90 %).

What this benchmark does not use: a trained model. The reference is built from every
non-constant feature of the featurizer and a PCA domain fitted with campaign-held-out
limits, as training does (training.pipeline._drift_reference), without the learners'
feature selection; a model drops some features, so its campaigns are judged on fewer.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from benchio import finish, patched, row  # bench/ is on the path when a benchmark runs

import simulator.kinetics as kinetics
from features.assemble import GROUP_COLUMN, long_frame, run_index
from features.contract.loader import CampaignData, load_campaign
from models import drift
from models.applicability import ApplicabilityDomain
from simulator.campaign import SimulationConfig, simulate_set, write_set
from training.dataset import prepare

TARGET_S = 1.0
TARGET_FALSE = 0.05
TARGET_FOUND = 0.90
HISTORIES = (100, 101, 102, 103)
NEW_PER_HISTORY = 5
RICHER = {"GLN0_MM": 6.0, "GLC0_MM": 40.0}


def _load(cfg: SimulationConfig) -> CampaignData:
    with tempfile.TemporaryDirectory() as tmp:
        write_set(simulate_set(cfg), Path(tmp), cfg, "parquet")
        return load_campaign(Path(tmp), require_outcomes=True)


class History:
    """A training history's featurizer, feature names, PCA domain and drift reference."""

    def __init__(self, seed: int):
        ts = prepare(_load(SimulationConfig(seed=seed)), ["dsp_yield_pct"], 7.0)
        X = ts.X.select_dtypes("number")
        X = X.loc[:, X.std() > 0]
        ids = ts.ids.set_index("run_id").reindex(X.index)
        campaigns = ids[GROUP_COLUMN].astype(str)
        A = X.to_numpy(float)
        c = campaigns.to_numpy()
        folds = [(np.flatnonzero(c != k), np.flatnonzero(c == k)) for k in np.unique(c)]
        self.transformer, self.names = ts.transformer, list(X.columns)
        self.domain = ApplicabilityDomain.fit(A, folds)
        t2, dmodx = drift.held_out_domain(A, c, self.domain)
        self.reference = drift.build_reference(
            X, ids["clone_id"], campaigns, drift.domain_columns(t2, dmodx)
        )

    def features(self, data: CampaignData) -> pd.DataFrame:
        return self.transformer.transform(long_frame(data))

    def scored(self, data: CampaignData, X: pd.DataFrame) -> dict:
        """What scoring gives drift per run (models.drift.DRIFT_FIELDS), rows as ``X``."""
        ids = run_index(data).set_index("run_id").reindex(X.index)
        t2, dmodx, status = self.domain.score(X.reindex(columns=self.names).to_numpy(float))
        return {
            "t2": t2,
            "dmodx": dmodx,
            "applicability": status,
            "clone_id": ids["clone_id"].to_numpy(),
            "campaign_id": ids[GROUP_COLUMN].to_numpy(),
        }

    def verdict(self, data: CampaignData) -> drift.Verdict:
        X = self.features(data)
        stats = drift.scored_stats(self.reference, X, self.scored(data, X))
        assert stats is not None
        return drift.assess_all(self.reference, stats)[0]


def measure_speed(history: History, repeats: int) -> dict:
    cfg = SimulationConfig(n_campaigns=1, clones_per_campaign=250, seed=9, deep_clone_share=0.0)
    data = _load(cfg)
    frame = long_frame(data)
    X = history.features(data)
    scored = history.scored(data, X)
    ours, base = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        stats = drift.scored_stats(history.reference, X, scored)
        drift.drift_summary(history.reference, stats)
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        history.transformer.transform(frame)
        base.append(time.perf_counter() - t0)
    return {
        "runs": len(X),
        "tests": len(history.reference.columns) + 1,
        "drift_s_median": round(float(np.median(ours)), 4),
        "features_s_median": round(float(np.median(base)), 4),
    }


def measure_alarms() -> dict:
    cases: dict[str, list[dict]] = {"same process": [], "richer medium": []}
    for h_seed in HISTORIES:
        history = History(h_seed)
        for j in range(NEW_PER_HISTORY):
            cfg = SimulationConfig(
                n_campaigns=1, clones_per_campaign=32, seed=7000 + 10 * h_seed + j
            )
            same = history.verdict(_load(cfg))
            with patched(kinetics, **RICHER):
                rich = history.verdict(_load(cfg))
            for name, v in (("same process", same), ("richer medium", rich)):
                cases[name].append(
                    {
                        "history": h_seed,
                        "campaign_seed": cfg.seed,
                        "verdict": v.verdict,
                        "drifted": v.drifted[:8],
                        "outside_share": round(v.outside_share, 3),
                    }
                )
    return {
        name: {
            "cases": len(rows),
            "alarms": sum(r["verdict"] != drift.NONE for r in rows),
            "detail": rows,
        }
        for name, rows in cases.items()
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    t0 = time.perf_counter()
    alarms = measure_alarms()
    speed = measure_speed(History(HISTORIES[0]), args.repeats)
    same, rich = alarms["same process"], alarms["richer medium"]
    false_share = same["alarms"] / same["cases"]
    found_share = rich["alarms"] / rich["cases"]
    result = {
        "benchmark": "drift",
        "machine": f"{platform.machine()}, {platform.python_version()}, {sys.platform}",
        **speed,
        "target_s": TARGET_S,
        "alarms": alarms,
        "richer_medium": RICHER,
        "false_alarm_share": false_share,
        "richer_medium_found_share": found_share,
        "meets_target": bool(
            speed["drift_s_median"] < TARGET_S
            and false_share <= TARGET_FALSE
            and found_share >= TARGET_FOUND
        ),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    table = [
        row(
            f"drift verdict, {speed['runs']}-run campaign ({speed['tests']} tests)",
            speed["drift_s_median"],
            "s",
            speed["features_s_median"],
            "featurising the same runs",
            f"< {TARGET_S:g} s",
            speed["drift_s_median"] < TARGET_S,
        ),
        row(
            f"drift alarms, same process ({same['cases']} new campaigns)",
            round(false_share, 3),
            "share",
            target=f"<= {TARGET_FALSE:g}",
            met=false_share <= TARGET_FALSE,
        ),
        row(
            f"drift found, richer medium ({rich['cases']} campaigns)",
            round(found_share, 3),
            "share",
            target=f">= {TARGET_FOUND:g}",
            met=found_share >= TARGET_FOUND,
        ),
    ]
    return finish(result, args.out, table, hide=("alarms",))


if __name__ == "__main__":
    raise SystemExit(main())
