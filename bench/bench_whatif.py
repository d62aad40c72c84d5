"""Benchmark: what-if for one clone over a 500-point grid (< 1 s), and the closed loop.

Side by side in one process: :func:`models.whatif.whatif` scoring the 500 candidates in
one vectorised pass (with the recommendation's one-factor-at-a-time reasons and the
15 x 15 design-space map), against the same candidates scored one call at a time (timed
on 50 and scaled to 500). Then the closed loop of issue 12 on the default set: each of the
12 campaigns held out in turn, every clone re-run by the twin under its recommendation and
under the platform (noise-free truth). Since issue 24 the loop judges each clone's *final*
recommendation (the campaign condition unless the evidence says otherwise) against the
platform and against the campaign condition, with predicted against true gains; the same
is done for ``make demo``'s new campaign, by two process models that differ only in their
seed. Last, the next-experiment loop: the twin plans runs
for the new clones of a held-out campaign (C11, not the campaign the tests use) with the
proposals, the model's greedy best guesses, uniform random runs and a space-filling DOE,
over several seeds, and reports the curves. Then the campaign condition of two held-out
campaigns chosen by process models that differ only in their seeds, ours (means of several
members) beside single members: the range of the chosen conditions' true gains. Writes JSON results.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchio import finish, row  # bench/ is on the path when a benchmark runs

from clonescout_cli.demo import LAB_CAMPAIGNS, LAB_CLONES, LAB_SEED
from features.contract.loader import load_campaign
from features.contract.spec import DEFAULT_SPEC_PATH, load_spec
from models.whatif import space_filling, whatif
from simulator.campaign import SimulationConfig, simulate_set, write_set
from training.process import MEMBERS, fit_process_model
from twineval.process import (
    closed_loop,
    experiment_loop,
    judge,
    loop_summary,
    seed_spread,
    simulated,
    summary,
)

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 1.0
TARGET_SHARE = 0.80  # clones whose final recommendation truly beats the platform (issue 24)
TARGET_PRECISION = 0.70  # clones told they need their own condition that truly do
TARGET_PREDICTED = 25.0  # % : mean predicted gain within this of the mean true gain
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
    """Every clone's final recommendation re-run by the twin, against the platform and more."""
    t0 = time.perf_counter()
    df = closed_loop(cfg, spec, data=data)
    seconds = time.perf_counter() - t0
    by = df.groupby("campaign_id")
    per_campaign = {
        c: {
            "share_better_than_platform": round(
                float((g["true_final"] > g["true_platform"] + 1e-9).mean()), 3
            ),
            "true_gain_g_l": round(float((g["true_final"] - g["true_platform"]).mean()), 3),
            "predicted_gain_g_l": round(float(g["predicted_final_gain"].mean()), 3),
            "campaign_condition_true_gain_g_l": round(
                float((g["true_campaign"] - g["true_platform"]).mean()), 3
            ),
        }
        for c, g in by
    }
    return {
        "closed_loop": {k: _rounded(v) for k, v in summary(df).items()},
        "closed_loop_by_campaign": per_campaign,
        "closed_loop_s": round(seconds, 1),
    }


def measure_demo_campaign(cfg, spec, data) -> dict:
    """``make demo``'s new campaign (4 x 32 clones, seed 11), judged by the twin.

    Two process models fitted on the whole default set that differ only in their seed (the
    one `train` uses and the next): the demo's process step, judged clone by clone, and the
    gap between the two campaign conditions' true gains. The lab's quirks are left out
    (they set a few runs aside; the clones are the same).
    """
    t0 = time.perf_counter()
    lab_cfg = dataclasses.replace(
        cfg, n_campaigns=LAB_CAMPAIGNS, clones_per_campaign=LAB_CLONES, seed=LAB_SEED
    )
    lab = simulated(lab_cfg)
    out: dict = {"models": {}}
    gains = []
    for seed in (cfg.seed, cfg.seed + 1):
        pm = fit_process_model(data, spec, seed=seed)
        df = judge(lab_cfg, spec, pm, lab.clones, lab).assign(campaign_id="lab")
        s = summary(df)
        gains.append(s["campaign_condition_mean_gain_g_l"])
        out["models"][f"seed {seed}"] = {k: _rounded(v) for k, v in s.items() if k != "how"}
    out["campaign_condition_gap_g_l"] = round(abs(gains[0] - gains[1]), 4)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    out["how"] = (
        "process models fitted on the 12 default campaigns (seeds as named); the lab's 128 "
        "clones processed as one campaign, as `clonescout process` does in the demo; truth = "
        "the twin's noise-free re-run of each clone's first run under each condition"
    )
    return out


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
        "demo_campaign": measure_demo_campaign(cfg, spec, data),
        "stability": _stability(cfg, spec, data),
        "next_experiments": measure_next_experiments(cfg, spec, data),
    }
    s, nxt = result["closed_loop"], result["next_experiments"]
    result["meets_target"] = bool(
        result["whatif_500_grid_s_median"] < TARGET_S
        and all(_met(x) for x in [s, *result["demo_campaign"]["models"].values()])
        and result["demo_campaign"]["campaign_condition_gap_g_l"] < TARGET_GAP
        and nxt["proposed_minus_random_g_l"] > 0
        and nxt["proposed_minus_space-filling_g_l"] > 0
        and result["stability"]["max_mean_range_g_l"] < TARGET_GAP
    )
    return finish(result, args.out, _table(result))


def _met(s: dict) -> bool:
    """Issue 24's acceptance on one judged set of clones (a summary of twineval.process)."""
    precision = s["own_for_gain_truly_better"]
    return bool(
        s["share_better_than_platform"] >= TARGET_SHARE
        and s["oos_rate_final"] <= s["oos_rate_platform"]
        and s["mean_gain_over_campaign_condition_g_l"] >= 0
        and (s["told_own_for_gain"] == 0 or precision >= TARGET_PRECISION)
        and abs(s["predicted_over_true_pct"]) <= TARGET_PREDICTED
    )


def _final(nxt: dict, strategy: str) -> float:
    curve = nxt["curves_g_l"][strategy]
    return curve[max(curve, key=int)]


def _table(r: dict) -> list[dict]:
    s, nxt = r["closed_loop"], r["next_experiments"]
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
        *_judged_rows(f"twin, {s['clones']} held-out clones (leave one campaign out)", s),
        *[
            r
            for name, m in r["demo_campaign"]["models"].items()
            for r in _judged_rows(f"twin, make demo's new campaign ({name})", m)
        ],
        row(
            "twin, make demo's new campaign: the campaign condition's true gain, process "
            "models differing only in their seed (gap)",
            r["demo_campaign"]["campaign_condition_gap_g_l"],
            "g/L",
            target=f"< {TARGET_GAP:g} g/L",
            met=r["demo_campaign"]["campaign_condition_gap_g_l"] < TARGET_GAP,
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
    return rows


def _judged_rows(what: str, s: dict) -> list[dict]:
    """The acceptance rows of issue 24 for one judged set of clones."""
    told, precision = s["told_own_for_gain"], s["own_for_gain_truly_better"]
    return [
        row(
            f"{what}: share of clones whose final recommendation beats the platform",
            s["share_better_than_platform"],
            "share",
            s["campaign_condition_share_better_than_platform"],
            "the campaign condition for every clone",
            f">= {TARGET_SHARE:g}",
            s["share_better_than_platform"] >= TARGET_SHARE,
        ),
        row(
            f"{what}: true out-of-spec rate under the final recommendations",
            s["oos_rate_final"],
            "share",
            s["oos_rate_platform"],
            "the platform",
            "not above the baseline",
            s["oos_rate_final"] <= s["oos_rate_platform"],
        ),
        row(
            f"{what}: mean true gain of the final recommendation over the platform",
            s["mean_gain_over_platform_g_l"],
            "g/L",
            s["campaign_condition_mean_gain_g_l"],
            "the campaign condition for every clone",
            ">= the baseline",
            s["mean_gain_over_campaign_condition_g_l"] >= 0,
        ),
        row(
            f"{what}: mean true gain over the campaign condition in product that meets the "
            "spec (the spec moves trade product for spec)",
            s["mean_in_spec_gain_over_campaign_condition_g_l"],
            "g/L",
        ),
        row(
            f"{what}: clones told they need their own condition for product ({told}) that "
            "truly do better under it",
            precision,
            "share",
            target=f">= {TARGET_PRECISION:g}",
            met=None if told == 0 else precision >= TARGET_PRECISION,
        ),
        row(
            f"{what}: mean predicted gain over the platform (corrected) against the true gain",
            s["predicted_gain_g_l"],
            "g/L",
            s["mean_gain_over_platform_g_l"],
            "the true gain",
            f"within {TARGET_PREDICTED:g}%",
            abs(s["predicted_over_true_pct"]) <= TARGET_PREDICTED,
        ),
    ]


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
