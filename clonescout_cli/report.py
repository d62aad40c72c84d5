"""Plain-text summaries printed by the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.contract.spec import Limit, ProductSpec
from simulator.ranges import FINAL_TITER_MEDIAN_G_L, range_report


def _limit_text(lim: Limit) -> str:
    if lim.min > float("-inf") and lim.max < float("inf"):
        return f"{lim.min:g}-{lim.max:g}"
    return f"<= {lim.max:g}" if lim.max < float("inf") else f">= {lim.min:g}"


def print_set_summary(tables: dict[str, pd.DataFrame], spec: ProductSpec) -> None:
    """Ranges of a generated set against DESIGN.md §3, and its out-of-spec shares."""
    runs, clones = tables["runs"], tables["clones"]
    n_campaigns = clones["campaign_id"].nunique()
    print(
        f"\n{n_campaigns} campaigns, {len(clones)} clones, {len(runs)} runs, "
        f"{len(tables['samples'])} samples\n"
    )
    rep = range_report(tables)
    print(f"{'quantity':<18} {'unit':<13} {'p5':>8} {'median':>8} {'p95':>8}   target")
    for r in rep.itertuples():
        flag = "ok" if r.ok else "OUT OF RANGE"
        print(
            f"{r.quantity:<18} {r.unit:<13} {r.p5:8.2f} {r.median:8.2f} {r.p95:8.2f}   "
            f"{r.low:g}-{r.high:g}  {flag}"
        )
    med = float(tables["outcomes"]["final_titer_g_l"].median())
    lo, hi = FINAL_TITER_MEDIAN_G_L
    print(f"median final titer {med:.2f} g/L (target {lo:g}-{hi:g})")

    outcomes = tables["outcomes"]
    print(f"\nagainst spec '{spec.name}':")
    for group in ("glycans", "downstream"):
        share = spec.out_of_spec(outcomes, group)
        print(
            f"  out of spec on {group:<10} {share.mean():6.1%} of runs "
            f"({int(share.sum())} of {int(share.notna().sum())} with results)"
        )
    for lim in (*spec.glycans, *spec.downstream):
        if lim.attribute in outcomes.columns:
            bad = lim.outside(outcomes[lim.attribute]).mean()
            print(f"    {lim.attribute:<18} {_limit_text(lim):<14} {bad:6.1%} outside")
    y = outcomes["dsp_yield_pct"].quantile([0.05, 0.95])
    print(f"  purification yield spans {y.iloc[1] - y.iloc[0]:.1f} points (p5-p95)")


def _band(lo: float, hi: float) -> str:
    if np.isinf(lo) and np.isinf(hi):
        return "either way"
    if np.isinf(hi):
        return f"> {lo:g}"
    if np.isinf(lo):
        return f"< {hi:g}"
    return f"{lo:g}-{hi:g}"


def print_realism(tables: dict[str, pd.DataFrame]) -> None:
    """Stage-to-stage agreement, process-factor effects and noise ceilings (simulator.realism).

    Each row beside the published figure or band it is held to; the sources are in
    simulator/constants.py and simulator/realism.py.
    """
    from simulator.realism import noise_ceilings, process_effects, stage_agreement

    stages = stage_agreement(tables)
    if len(stages):
        print("\nscreen vs Ambr (platform run), Spearman within campaign (median):")
        for st in stages.to_dict("records"):
            flag = "ok" if st["ok"] else "OUTSIDE"
            band = _band(float(st["band_low"]), float(st["band_high"]))
            print(
                f"  {st['screen_assay']:<22} vs {st['ambr_attribute']:<17} "
                f"{st['spearman_within_campaign']:5.2f}   band {band} {flag}"
            )
    print("\nprocess factors on matched runs (60 clones, noise-free twin):")
    for e in process_effects().to_dict("records"):
        flag = "ok" if e["ok"] else "OUTSIDE"
        print(
            f"  {e['factor']:<28} {e['response']:<17} {e['effect']:+7.1f} {e['unit']:<6} "
            f"({e['matched_runs_same_way']:.0%} of runs the same way)  published "
            f"{_band(float(e['band_low']), float(e['band_high']))} {flag}"
        )
    ceilings = noise_ceilings(tables)
    if len(ceilings):
        print("\nnoise ceiling (R² of the noise-free outcome against the measured one):")
        print("  " + ", ".join(f"{r.target} {r.ceiling_r2:.3f}" for r in ceilings.itertuples()))
