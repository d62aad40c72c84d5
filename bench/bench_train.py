"""Benchmark: the demo's training (default set, both model families, 15 + 15 trials,
grouped CV, baselines, horizon curve, bundle logging); target under 5 minutes on 2 cores.

Side by side in the same run: the PLS baseline alone on the same folds, the cheapest
model a SIMCA user would fit, to show what the tuned model costs in comparison.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import mlflow

from features.assemble import training_set
from features.loader import load_campaign
from simulator.campaign import SimulationConfig, simulate_set, write_set
from training import baselines
from training.cv import make_folds
from training.pipeline import train
from training.settings import TrainSettings

TARGET_S = 300.0
REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--trials", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cfg = SimulationConfig()
        write_set(simulate_set(cfg), root / "set", cfg, "parquet")
        data = load_campaign(root / "set", require_outcomes=True)
        mlflow.set_tracking_uri(f"sqlite:///{root}/mlflow.db")
        mlflow.create_experiment("bench", artifact_location=str(root / "artifacts"))
        mlflow.set_experiment("bench")
        settings = TrainSettings(spec_path=REPO / "data" / "spec.yaml", trials=args.trials)
        t0 = time.perf_counter()
        report = train(data, settings)
        train_s = time.perf_counter() - t0

        ts = training_set(data, list(report.metrics["targets"]), 7.0)
        folds = make_folds(ts.groups, 5)
        t0 = time.perf_counter()
        for t in ts.y.columns:
            baselines.pls(ts.X, ts.y[t].to_numpy(float), folds)
        pls_s = time.perf_counter() - t0
    result = {
        "benchmark": "train",
        "n_runs": report.metrics["n_runs"],
        "targets": list(report.metrics["targets"]),
        "trials_per_family": args.trials,
        "train_s": round(train_s, 1),
        "target_s": TARGET_S,
        "meets_target": train_s < TARGET_S,
        "share_of_target": round(train_s / TARGET_S, 2),
        "pls_baseline_alone_s": round(pls_s, 1),
        "ratio_train_to_pls": round(train_s / pls_s, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "metrics": report.metrics,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "metrics"}, indent=2))
    return 0 if result["meets_target"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
