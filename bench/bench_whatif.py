"""Benchmark: what-if for one clone over a 500-point grid (< 1 s), and the closed loop.

Side by side in one process: :func:`models.whatif.whatif` scoring the 500 candidates in
one vectorised pass (with the recommendation's one-factor-at-a-time reasons and the
15 x 15 design-space map), against the same candidates scored one call at a time (timed
on 50 and scaled to 500). Then the closed loop of issue 12 on the default set: each of the
12 campaigns held out in turn, every clone re-run by the twin under its recommendation and
under the platform (noise-free truth). Last, the next-experiment loop: the twin plans runs
for the new clones of a held-out campaign (C11, not the campaign the tests use) with the
proposals, the model's greedy best guesses, uniform random runs and a space-filling DOE,
over several seeds, and reports the curves. Then the campaign condition of two held-out
campaigns chosen by process models that differ only in their seeds, ours (means of several
members) beside single members: the range of the chosen conditions' true gains. Writes JSON results.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchio import finish, row  # bench/ is on the path when a benchmark runs

from features.contract.loader import load_campaign
from features.contract.spec import DEFAULT_SPEC_PATH, load_spec
from models.whatif import space_filling, whatif
from simulator.campaign import SimulationConfig, simulate_set, write_set
from training.process import MEMBERS, fit_process_model
from twineval.process import (
    campaign_condition_truth,
    closed_loop,
    experiment_loop,
    loop_summary,
    seed_spread,
    summary,
)

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 1.0
TARGET_SHARE = 0.70
GRID = 500
LOOP = 50
LOOP_CAMPAIGN, LOOP_CLONES, LOOP_SEEDS = "C11", 12, (0, 1, 2, 3)
# the campaigns whose condition is chosen twice (issue 24: at C09 one seed's single model
# gained 0.45 g/L over the platform and the other's lost 0.09); only the seeds differ
STABILITY_CAMPAIGNS = ["C09", "C12"]
STABILITY_SEEDS, STABILITY_MEANS = 10, 6  # members fitted; means of MEMBERS drawn from them
TARGET_GAP = 0.05  # g/L: range of the true gains of the conditions the means choose


def measure_speed(data, spec, repeats: int) -> dict:
    """What-if of one clone over a 500-point grid, against one call per candidate."""
    t0 = time.perf_counter()
    pm = fit_process_model(data, spec)
    fit_s = time.perf_counter() - t0
    clone = data.clones.iloc[0]
    runs = data.runs[data.runs["clone_id"] == clone["clone_id"]]
    grid = space_filling(pm, GRID, seed=3)
    ours = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = whatif(pm, spec, clone, runs, data.outcomes, grid=grid)
        ours.append(time.perf_counter() - t0)
    assert len(res.scored) + len(res.excluded) == GRID + 1 + len(runs)
    t0 = time.perf_counter()
    for i in range(LOOP):
        whatif(pm, spec, clone, runs, data.outcomes, grid=grid.iloc[[i]], design_space=None)
    loop_s = (time.perf_counter() - t0) * GRID / LOOP
    median = statistics.median(ours)
    return {
        "process_model_fit_s": round(fit_s, 2),
        "whatif_500_grid_s_median": round(median, 3),
        "whatif_500_grid_s_all": [round(x, 3) for x in ours],
        "baseline_one_call_per_candidate_s": round(loop_s, 2),
        "ratio_baseline_over_ours": round(loop_s / median, 1),
    }


def measure_closed_loop(cfg, spec, data) -> dict:
    """Every clone re-run by the twin under its recommendation and under the platform."""
    t0 = time.perf_counter()
    df = closed_loop(cfg, spec, data=data)
    seconds = time.perf_counter() - t0
    per_campaign = df.groupby("campaign_id").apply(
        lambda g: float((g["true_rec"] > g["true_platform"] + 1e-9).mean()), include_groups=False
    )
    return {
        "closed_loop": {
            k: (round(v, 4) if isinstance(v, float) else v) for k, v in summary(df).items()
        },
        "closed_loop_share_by_campaign": {k: round(v, 3) for k, v in per_campaign.items()},
        "closed_loop_s": round(seconds, 1),
    }


def measure_next_experiments(cfg, spec, data) -> dict:
    t0 = time.perf_counter()
    loop = experiment_loop(
        cfg, spec, LOOP_CAMPAIGN, n_clones=LOOP_CLONES, seeds=LOOP_SEEDS, data=data
    )
    return {
        **loop_summary(loop),
        "campaign": LOOP_CAMPAIGN,
        "design": "4-run Latin-hypercube start shared by every strategy, then 4 rounds of 2",
        "how": (
            "process model fitted without the campaign; each round's pick is the run with "
            "the best measured purified product among runs measured in spec; the figure "
            "is the pick's true (noise-free) purified product, averaged over clones"
        ),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    spec = load_spec(DEFAULT_SPEC_PATH)
    cfg = SimulationConfig()
    with tempfile.TemporaryDirectory() as tmp:
        write_set(simulate_set(cfg), Path(tmp), cfg, "parquet")
        data = load_campaign(Path(tmp), require_outcomes=True)
    result = {
        "benchmark": "whatif",
        "machine": f"{platform.machine()}, {platform.python_version()}, {sys.platform}",
        **measure_speed(data, spec, args.repeats),
        "target_s": TARGET_S,
        **measure_closed_loop(cfg, spec, data),
        "target_share": TARGET_SHARE,
        "campaign_condition": _campaign_condition(cfg, spec, data),
        "stability": _stability(cfg, spec, data),
        "next_experiments": measure_next_experiments(cfg, spec, data),
    }
    s, nxt = result["closed_loop"], result["next_experiments"]
    result["meets_target"] = bool(
        result["whatif_500_grid_s_median"] < TARGET_S
        and s["share_rec_better"] >= TARGET_SHARE
        and s["oos_rate_rec"] <= s["oos_rate_platform"]
        and nxt["proposed_minus_random_g_l"] > 0
        and nxt["proposed_minus_space-filling_g_l"] > 0
        and result["stability"]["max_mean_range_g_l"] < TARGET_GAP
    )
    return finish(result, args.out, _table(result))


def _final(nxt: dict, strategy: str) -> float:
    curve = nxt["curves_g_l"][strategy]
    return curve[max(curve, key=int)]


def _table(r: dict) -> list[dict]:
    s, nxt, camp = r["closed_loop"], r["next_experiments"], r["campaign_condition"]
    n_runs = max(nxt["curves_g_l"]["proposed"], key=int)
    rows = [
        row(
            "what-if of one clone, 500 candidate conditions (median)",
            r["whatif_500_grid_s_median"],
            "s",
            r["baseline_one_call_per_candidate_s"],
            "one what-if call per candidate",
            f"< {TARGET_S:g} s",
            r["whatif_500_grid_s_median"] < TARGET_S,
        ),
        row(
            f"twin: share of {s['clones']} held-out clones whose recommendation beats the "
            "platform (true purified product)",
            s["share_rec_better"],
            "share",
            target=f">= {TARGET_SHARE:g}",
            met=s["share_rec_better"] >= TARGET_SHARE,
        ),
        row(
            "twin: true out-of-spec rate under the recommendations",
            s["oos_rate_rec"],
            "share",
            s["oos_rate_platform"],
            "the same clones under the platform condition",
            "not above the baseline",
            s["oos_rate_rec"] <= s["oos_rate_platform"],
        ),
    ]
    for other in ("random", "space-filling", "greedy"):
        rows.append(
            row(
                f"twin: next-experiment loop, true product of the pick after {n_runs} runs "
                f"({nxt['clones']} clones x {nxt['seeds']} seeds)",
                _final(nxt, "proposed"),
                "g/L",
                _final(nxt, other),
                f"{other} design, same runs",
                "> the baseline" if other != "greedy" else "",
                _final(nxt, "proposed") > _final(nxt, other) if other != "greedy" else None,
            )
        )
    for p in r["stability"]["per_campaign"]:
        rows.append(
            row(
                f"twin: campaign {p['campaign']} held out, its condition chosen by process "
                f"models that differ only in their seeds: range of the true mean gain over the "
                f"platform (ours: means of {MEMBERS} members, {STABILITY_MEANS} draws, disjoint "
                f"pair {p['disjoint_gap_g_l']:.3f} apart; baseline: {STABILITY_SEEDS} single "
                "members)",
                p["mean_range_g_l"],
                "g/L",
                p["single_range_g_l"],
                "single members",
                f"< {TARGET_GAP:g} g/L",
                p["mean_range_g_l"] < TARGET_GAP,
            )
        )
    rows.append(
        row(
            f"twin: one condition for campaign {camp['campaign']}, true share of clones better "
            "than the platform",
            camp.get("true_share_better"),
            "share",
        )
    )
    rows.append(
        row(
            f"twin: one condition for campaign {camp['campaign']}, true out-of-spec rate",
            camp.get("true_oos_rate"),
            "share",
            camp.get("true_oos_rate_platform"),
            "the platform condition",
        )
    )
    return rows


def _campaign_condition(cfg, spec, data) -> dict:
    """One condition for a held-out campaign (C12): the twin judges it against the platform."""
    t0 = time.perf_counter()
    r = campaign_condition_truth(cfg, spec, data, "C12")
    return {
        **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()},
        "seconds": round(time.perf_counter() - t0, 1),
        "how": "process model fitted without C12; truth = the twin's noise-free re-run of "
        "each clone's first run under the campaign condition and under the platform",
    }


def _stability(cfg, spec, data) -> dict:
    """The campaign condition's true worth over the process model's seeds alone, per campaign.

    Each member alone (a single model, the baseline) and means of ``MEMBERS`` members (ours)
    choose the condition of a held-out campaign; the twin judges every choice.
    """
    t0 = time.perf_counter()
    per = [
        seed_spread(cfg, spec, data, c, STABILITY_SEEDS, MEMBERS, STABILITY_MEANS)
        for c in STABILITY_CAMPAIGNS
    ]
    return {
        "per_campaign": [{k: _rounded(v) for k, v in p.items()} for p in per],
        "max_mean_range_g_l": round(max(p["mean_range_g_l"] for p in per), 4),
        "max_single_range_g_l": round(max(p["single_range_g_l"] for p in per), 4),
        "seconds": round(time.perf_counter() - t0, 1),
        "how": (
            f"each of {', '.join(STABILITY_CAMPAIGNS)} held out in turn; one process model of "
            f"{STABILITY_SEEDS} seed members fitted without it; each member alone and "
            f"{STABILITY_MEANS} means of {MEMBERS} members (the first two disjoint) choose the "
            "campaign condition; truth = the twin's noise-free re-run of each clone under "
            "each choice and under the platform"
        ),
    }


def _rounded(v):
    if isinstance(v, float):
        return round(v, 4)
    if isinstance(v, list):
        return [round(x, 4) for x in v]
    return v


if __name__ == "__main__":
    sys.exit(main())
