"""Benchmark: simulate 10,000 runs of 14 days, and the default set (each < 60 s on 2 cores).

Side by side in one process: the vectorised twin (all runs advance together) against the
same integrator called one run at a time (a per-run loop, what a straightforward port of
an ODE model does), timed on a subset and scaled to 10,000 runs. Then the default set
(`clonescout simulate`'s 1,440 runs with its clone screen, space-filling DOE and per-run
noise streams, written as Parquet) end to end (issue 11: < 60 s). Writes JSON results.
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from benchio import finish, row  # bench/ is on the path when a benchmark runs

from simulator.campaign import SimulationConfig, simulate_set, write_set
from simulator.design import design_set
from simulator.inputs import take
from simulator.kinetics import simulate_culture

TARGET_S = 60.0
CONFIG = SimulationConfig(
    n_campaigns=50, clones_per_campaign=100, runs_per_clone=2, seed=1, deep_clone_share=0.0
)
LOOP_RUNS = 100


def time_vectorised(repeats: int) -> tuple[list[float], list[float], int]:
    sim_s, total_s = [], []
    n = 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        tables = simulate_set(CONFIG)
        t1 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            write_set(tables, Path(tmp), CONFIG, "parquet")
        t2 = time.perf_counter()
        sim_s.append(t1 - t0)
        total_s.append(t2 - t0)
        n = len(tables["runs"])
    return sim_s, total_s, n


def time_per_run_loop() -> tuple[float, float]:
    """Integrator only: vectorised over LOOP_RUNS runs vs one call per run."""
    d = design_set(np.random.default_rng(1), 1, LOOP_RUNS, 1, 1)
    t0 = time.perf_counter()
    simulate_culture(d.biology, d.conditions, d.batch, CONFIG.days)
    t_vec = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(LOOP_RUNS):
        idx = np.array([i])
        simulate_culture(
            take(d.biology, idx), take(d.conditions, idx), take(d.batch, idx), CONFIG.days
        )
    t_loop = time.perf_counter() - t0
    return t_vec, t_loop


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    sim_s, total_s, n_runs = time_vectorised(args.repeats)
    t_vec, t_loop = time_per_run_loop()
    loop_10k = t_loop / LOOP_RUNS * n_runs
    median_total = statistics.median(total_s)
    default_s = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            cfg = SimulationConfig()
            write_set(simulate_set(cfg), Path(tmp), cfg, "parquet")
            default_s.append(time.perf_counter() - t0)
    result = {
        "benchmark": "simulate",
        "n_runs": n_runs,
        "days": CONFIG.days,
        "repeats": args.repeats,
        "simulate_s_median": round(statistics.median(sim_s), 3),
        "simulate_and_write_parquet_s_median": round(median_total, 3),
        "target_s": TARGET_S,
        "default_set_runs": len(simulate_set(SimulationConfig())["runs"]),
        "default_set_simulate_and_write_s_median": round(statistics.median(default_s), 3),
        "meets_target": median_total < TARGET_S and statistics.median(default_s) < TARGET_S,
        "baseline_per_run_loop_s_for_n_runs": round(loop_10k, 1),
        "integrator_speedup_vs_per_run_loop": round((t_loop / LOOP_RUNS) / (t_vec / LOOP_RUNS), 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    return finish(result, args.out, _table(result))


def _table(r: dict) -> list[dict]:
    target = f"< {TARGET_S:g} s"
    return [
        row(
            f"simulate + write Parquet, {r['n_runs']} runs of {r['days']} days (median)",
            r["simulate_and_write_parquet_s_median"],
            "s",
            r["baseline_per_run_loop_s_for_n_runs"],
            "the same kinetics integrated one run at a time (extrapolated)",
            target,
            r["simulate_and_write_parquet_s_median"] < TARGET_S,
        ),
        row(
            f"simulate + write the default set, {r['default_set_runs']} runs (median)",
            r["default_set_simulate_and_write_s_median"],
            "s",
            target=target,
            met=r["default_set_simulate_and_write_s_median"] < TARGET_S,
        ),
    ]


if __name__ == "__main__":
    sys.exit(main())
