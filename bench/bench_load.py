"""Benchmark: load a CSV campaign set of 10,000 runs with lab quirks (target < 5 s, 2 cores).

Side by side in one process: ``load_campaign`` (read, censored values, per-run contract
checks, rejects, typing) against the bare baseline ``pd.read_csv(..., dtype=str)`` of the
same four files, which only reads text. About 1% of the runs carry a quirk a lab file has:
'<LOQ' and '<0.5' cells, 'n.d.' outcomes, viability overshoot (100.4) and impossible
viability (140), a negative concentration, '5,2', an empty day, duplicate or swapped days,
an unknown clone, an empty scale, samples of an unknown run. Writes JSON results.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from benchio import finish, row  # bench/ is on the path when a benchmark runs

from features.contract.loader import load_campaign
from features.contract.rejects import check_run_accounting
from simulator.campaign import SimulationConfig, simulate_set, write_set
from simulator.labexport import add_lab_quirks

TARGET_S = 5.0
CONFIG = SimulationConfig(
    n_campaigns=50, clones_per_campaign=100, runs_per_clone=2, seed=2, deep_clone_share=0.0
)
TABLES = ("clones", "runs", "samples", "outcomes")
CORRUPT_SHARE = 0.01


def time_baseline(folder: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    frames = [pd.read_csv(folder / f"{t}.csv", dtype=str) for t in TABLES]
    return time.perf_counter() - t0, len(frames[2])


def time_load(folder: Path):
    t0 = time.perf_counter()
    data = load_campaign(folder, require_outcomes=True)
    return time.perf_counter() - t0, data


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_set(simulate_set(CONFIG), folder, CONFIG, "csv")
        (folder / "truth.csv").unlink()  # both sides read the same four tables
        touched = len(add_lab_quirks(folder, CORRUPT_SHARE))
        base, load = [], []
        for _ in range(args.repeats):  # interleaved, so both see the same warm file cache
            b, n_samples = time_baseline(folder)
            s, data = time_load(folder)
            base.append(b)
            load.append(s)
    load_s, base_s = statistics.median(load), statistics.median(base)
    check_run_accounting(data.n_runs_in, len(data.runs), len(data.rejects), "valid")
    result = {
        "benchmark": "load",
        "n_sample_rows": n_samples,
        "runs_corrupted": touched,
        "runs_in": data.n_runs_in,
        "runs_kept": len(data.runs),
        "runs_rejected": len(data.rejects),
        "notes": len(data.notes),
        "repeats": args.repeats,
        "load_campaign_s": round(load_s, 3),
        "baseline_read_csv_str_s": round(base_s, 3),
        "baseline_computes": "pd.read_csv(dtype=str) of the four tables only: no parsing, "
        "no checks, no typing",
        "ratio_to_baseline": round(load_s / base_s, 2),
        "target_s": TARGET_S,
        "meets_target": load_s < TARGET_S,
        "process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    return finish(result, args.out, _table(result))


def _table(r: dict) -> list[dict]:
    return [
        row(
            f"load + check {r['runs_in']} runs ({r['runs_corrupted']} corrupted, "
            f"{r['runs_rejected']} set aside)",
            r["load_campaign_s"],
            "s",
            r["baseline_read_csv_str_s"],
            r["baseline_computes"],
            f"< {TARGET_S:g} s",
            r["meets_target"],
        )
    ]


if __name__ == "__main__":
    sys.exit(main())
