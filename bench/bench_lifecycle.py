"""Benchmark: life after deployment on the twin (issue 26's acceptance), 20 campaigns a case.

Two training histories (the default set's design, seeds 100 and 101), each trained with a
small budget (3 Optuna trials per family, no learning curve). Against each model, 10 new
campaigns (32 clones x 2 runs, their own seeds) in three versions:

- ``same process``: new clones, same medium and process box. Any alarm is false: a drift
  verdict other than ``none`` before outcomes, or the monitor's ``degraded`` once the
  outcomes are added (target: at most 5 % of the 20);
- ``richer medium``: the same campaigns grown in a basal medium with 6 mM glutamine and
  7.2 g/L glucose instead of 4 mM and 6 g/L (more ammonia and lactate; simulator.kinetics
  GLN0_MM, GLC0_MM): drift must be flagged before outcomes (target: at least 90 %); once
  the outcomes are in, the monitor's coverage and verdict are reported as they are;
- ``untried region``: the campaigns' DOE drawn from a box the history never ran (shift
  to 29-31 °C instead of 31-36.5, feed 5.5-7 % instead of 2.5-5.5 %; simulator.design
  DOE_BOX); same targets as the richer medium.

Retraining with a richer-medium campaign is ``bench_retraining`` (20 retrains, the same
histories and campaigns).

Every campaign is scored as ``clonescout score`` scores a chunk (serving.batch.score), and
its drift and monitor verdicts come from the same code as the commands'.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pandas as pd
from benchio import (  # bench/ is on the path when a benchmark runs
    finish,
    map_histories,
    patched,
    row,
)

import simulator.design as design
import simulator.kinetics as kinetics
from features.contract.loader import CampaignData, load_campaign
from features.contract.spec import DEFAULT_SPEC_PATH
from models.drift import NONE
from models.flags import OBSERVED_PREFIX
from serving.batch.score import ChunkScorer, ServedBundle
from serving.monitor import DEGRADED, monitor_version
from simulator.campaign import SimulationConfig, simulate_set, write_set
from simulator.labexport import relabel_tables
from training.pipeline import train
from training.settings import TrainSettings

HISTORIES = (100, 101)
NEW_PER_HISTORY = 10
RICHER = {"GLN0_MM": 6.0, "GLC0_MM": 40.0}
UNTRIED = {"temp_after_shift_c": (29.0, 31.0), "feed_pct": (5.5, 7.0)}
TARGET_FALSE, TARGET_FOUND = 0.05, 0.90
SCENARIOS = ("same process", "richer medium", "untried region")


@contextlib.contextmanager
def _scenario(name: str) -> Iterator[None]:
    if name == "richer medium":
        with patched(kinetics, **RICHER):
            yield
    elif name == "untried region":
        with patched(design, DOE_BOX={**design.DOE_BOX, **UNTRIED}):
            yield
    else:
        yield


def _tables(cfg: SimulationConfig, scenario: str, prefix: str) -> dict[str, pd.DataFrame]:
    with _scenario(scenario):
        return relabel_tables(simulate_set(cfg), prefix)


def _load(tables: dict[str, pd.DataFrame], cfg: SimulationConfig, root: Path) -> CampaignData:
    folder = Path(tempfile.mkdtemp(dir=root))
    write_set(tables, folder, cfg, "parquet")
    return load_campaign(folder, require_outcomes=True)


def _train(data: CampaignData, root: Path, name: str, threads: int = 0) -> ServedBundle:
    mlflow.set_tracking_uri(f"sqlite:///{root}/mlflow.db")
    mlflow.set_experiment("lifecycle")
    settings = TrainSettings(
        spec_path=DEFAULT_SPEC_PATH, trials=3, curve_horizons=(), model_name=name, threads=threads
    )
    report = train(data, settings)
    bundle = mlflow.pyfunc.load_model(report.model_uri).unwrap_python_model().bundle  # type: ignore[attr-defined]
    return ServedBundle(
        bundle, name, str(report.registered_version or 1), report.model_uri, reasons="none"
    )


def judge(served: ServedBundle, data: CampaignData) -> dict:
    """Drift before outcomes, then the monitor once they are in (one campaign)."""
    scorer = ChunkScorer(served)
    scored, _, _ = scorer.score(
        CampaignData(data.folder, data.clones, data.runs, data.samples, None)
    )
    (drift,) = scorer.drift_summary()["campaigns"]
    assert data.outcomes is not None
    obs = data.outcomes.set_index("run_id").reindex(scored["run_id"])
    joined = scored.copy()
    for t in served.bundle.targets:
        if t in obs.columns:
            joined[OBSERVED_PREFIX + t] = obs[t].to_numpy(float)
    b = served.bundle
    result = monitor_version(joined, b.manifest["cv_metrics"], b.predictor.spec, b.targets)
    checks = {c["what"]: c["realized"] for c in result["checks"]}
    coverage = {
        t: checks.get(f"{t} coverage_90") for t in b.targets if f"{t} coverage_90" in checks
    }
    return {
        "drift": drift["verdict"],
        "drifted": drift["drifted"][:6],
        "outside_share": drift["outside_share"],
        "monitor": result["verdict"],
        "degraded": result["degraded"],
        "judged_runs": result["judged_runs"],
        "coverage_90": coverage,
    }


def _mean_coverage(cases: list[dict]) -> dict[str, float]:
    frame = pd.DataFrame([c["coverage_90"] for c in cases], dtype=float)
    return {str(t): round(float(v), 3) for t, v in frame.mean().items()}


def one_history(h: int, per_history: int, threads: int) -> dict[str, list[dict]]:
    """One training history's model judged on its new campaigns, in each scenario."""
    cases: dict[str, list[dict]] = {s: [] for s in SCENARIOS}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cfg = SimulationConfig(seed=h)
        served = _train(_load(simulate_set(cfg), cfg, root), root, f"lifecycle-{h}", threads)
        for j in range(per_history):
            new_cfg = SimulationConfig(
                n_campaigns=1, clones_per_campaign=32, seed=9000 + 10 * h + j
            )
            for s in SCENARIOS:
                got = judge(served, _load(_tables(new_cfg, s, f"N{j}"), new_cfg, root))
                cases[s].append({"history": h, "seed": new_cfg.seed, **got})
                print(h, j, s, got["drift"], got["monitor"], got["degraded"][:3], flush=True)
    return cases


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--per-history", type=int, default=NEW_PER_HISTORY)
    ap.add_argument("--histories", type=int, nargs="+", default=list(HISTORIES))
    ap.add_argument("--jobs", type=int, default=0, help="histories at once (0: one per core)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    parts, jobs = map_histories(
        one_history, args.histories, args.jobs, per_history=args.per_history
    )
    cases = {s: [c for p in parts for c in p[s]] for s in SCENARIOS}
    same = cases["same process"]
    false_alarms = sum(c["drift"] != NONE or c["monitor"] == DEGRADED for c in same)
    found = {s: sum(c["drift"] != NONE for c in cases[s]) for s in SCENARIOS[1:]}
    n = len(same)
    result = {
        "benchmark": "lifecycle",
        "machine": f"{platform.machine()}, {platform.python_version()}, {sys.platform}",
        "same_process_alarms": false_alarms,
        "same_process_drift_alarms": sum(c["drift"] != NONE for c in same),
        "same_process_degraded": sum(c["monitor"] == DEGRADED for c in same),
        "drift_found": found,
        "degraded_when_shifted": {
            s: sum(c["monitor"] == DEGRADED for c in cases[s]) for s in SCENARIOS[1:]
        },
        "coverage_90_by_scenario": {s: _mean_coverage(cases[s]) for s in SCENARIOS},
        "cases_per_scenario": n,
        "cases": cases,
        "meets_target": bool(
            false_alarms / n <= TARGET_FALSE and all(v / n >= TARGET_FOUND for v in found.values())
        ),
        "jobs": jobs,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    table = [
        row(f"alarms, same process ({n} campaigns)", round(false_alarms / n, 3), "share",
            target=f"<= {TARGET_FALSE:g}", met=false_alarms / n <= TARGET_FALSE),
    ] + [
        row(f"drift found before outcomes, {s} ({n})", round(v / n, 3), "share",
            target=f">= {TARGET_FOUND:g}", met=v / n >= TARGET_FOUND)
        for s, v in found.items()
    ]  # fmt: skip
    return finish(result, args.out, table, hide=("cases",))


if __name__ == "__main__":
    raise SystemExit(main())
