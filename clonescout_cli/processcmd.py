"""``clonescout process``: process conditions for a whole scored campaign (report section 8)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from features.contract.files import write_text
from models.campaign_process import MAX_SPEC_DROP, CampaignProcess
from models.gains import MIN_OWN_GAIN
from models.registry import DEFAULT_MODEL_URI
from models.whatif import WhatIfError

TOP_MAPS = 3  # design-space maps for this many top-ranked clones
SHARED_CANDIDATES = 300  # space-filling candidates scored for every clone


def add_process_parser(sub: argparse._SubParsersAction, default_model: str, positive_int) -> None:
    p = sub.add_parser(
        "process",
        help="recommend conditions for every clone of a scored campaign; one platform for most",
        description="For every clone of a campaign scored by `clonescout score`: today's "
        "conditions against the recommended ones (as `clonescout whatif`), the single "
        "condition that serves most clones and the clones that need their own, and design-"
        "space maps for the top-ranked clones. Writes SCORES' .process.json, which "
        "`clonescout report` shows as its process section.",
    )
    p.add_argument("--data", type=Path, required=True, help="the campaign folder that was scored")
    p.add_argument("--mapping", type=Path, help="import mapping YAML for foreign layouts")
    p.add_argument(
        "--scores", type=Path, required=True, help="the per-run file of `clonescout score`"
    )
    p.add_argument(
        "--top",
        type=positive_int,
        default=TOP_MAPS,
        help="design-space maps for this many top clones",
    )
    p.add_argument(
        "--candidates",
        type=positive_int,
        default=SHARED_CANDIDATES,
        help="shared space-filling candidates scored for every clone "
        f"(default {SHARED_CANDIDATES})",
    )
    p.add_argument(
        "--min-own-gain",
        type=float,
        default=MIN_OWN_GAIN,
        help="g/L of purified product a clone's own condition must be worth over the "
        "campaign condition, at the lower end of its 90%% interval, before the clone is "
        f"told it needs it (default {MIN_OWN_GAIN})",
    )
    p.add_argument(
        "--max-spec-drop",
        type=float,
        default=MAX_SPEC_DROP,
        help="a clone whose P(meet every spec limit) the campaign condition would lower by "
        "more than this from the platform's gets a condition that keeps it "
        f"(default {MAX_SPEC_DROP}; 1 never moves a clone for spec)",
    )
    p.add_argument("--model", default=default_model, help=f"model URI (default {default_model})")
    p.add_argument("--seed", type=int, default=0, help="seed of the candidate set")
    p.set_defaults(func=cmd_process)


def cmd_process(args: argparse.Namespace) -> int:
    return run_process(
        args.data, args.scores, args.model, args.mapping, args.top, args.candidates,
        args.min_own_gain, args.seed, args.max_spec_drop,
    )  # fmt: skip


def run_process(
    data: Path,
    scores: Path,
    model: str = DEFAULT_MODEL_URI,
    mapping: Path | None = None,
    top: int = TOP_MAPS,
    candidates: int = SHARED_CANDIDATES,
    min_own_gain: float = MIN_OWN_GAIN,
    seed: int = 0,
    max_spec_drop: float = MAX_SPEC_DROP,
) -> int:
    """Conditions for every clone of a scored campaign; writes SCORES' .process.json."""
    from clonescout_cli.common import load_data
    from models.campaign_process import campaign_process
    from models.registry import load_pinned, use_tracking
    from serving.batch.write import ScoreOutputs
    from serving.report import sibling

    if not 0.0 <= min_own_gain < 100.0:
        raise WhatIfError(f"--min-own-gain must be a gain in g/L, 0 or more, got {min_own_gain}")
    if not 0.0 <= max_spec_drop <= 1.0:
        raise WhatIfError(f"--max-spec-drop must lie in 0-1 (a probability), got {max_spec_drop}")
    clones_file = ScoreOutputs.for_out(scores).clones
    if not clones_file.is_file():
        raise WhatIfError(f"--scores {scores}: {clones_file} not found; run `score` first")
    scored = (
        pd.read_parquet(clones_file)
        if clones_file.suffix == ".parquet"
        else pd.read_csv(clones_file)
    )
    campaign = load_data(data, mapping, report=False)[0]
    ids = set(campaign.clones["clone_id"].astype(str))
    absent = sorted(set(scored["clone_id"].astype(str)) - ids)
    if absent:
        raise WhatIfError(
            f"--scores names clones that --data {data} does not have: {absent[:5]}"
            f"{' ...' if len(absent) > 5 else ''} (score and data must be the same campaign)"
        )
    use_tracking()
    pinned = load_pinned(model)
    bundle, uri = pinned.bundle, pinned.uri
    if bundle.process is None:
        raise WhatIfError(f"model {uri} has no process model: retrain with `clonescout train`")
    ranked = scored.dropna(subset=["rank"]).sort_values("rank")
    best = ranked["clone_id"].astype(str).head(top).tolist()
    in_scores = campaign.clones["clone_id"].astype(str).isin(scored["clone_id"].astype(str))
    clones = campaign.clones[in_scores]
    result = campaign_process(
        bundle.process, bundle.predictor.spec, clones, campaign.runs, campaign.outcomes, best,
        n_candidates=candidates, seed=seed, min_own_gain=min_own_gain,
        max_spec_drop=max_spec_drop,
    )  # fmt: skip
    out = sibling(scores, "process.json")
    write_text(out, json.dumps({"model": uri, **result.to_dict()}, indent=2))
    print_campaign(result, best)
    print(f"process recommendations for {len(clones)} clones -> {out}")
    return 0


def print_campaign(r: CampaignProcess, top: list[str], out=None) -> None:
    """The campaign condition against the platform, and who needs another."""
    out = sys.stdout if out is None else out
    s = r.campaign_summary
    if r.campaign_condition is None:
        print(f"no campaign condition: {s.get('reason')}", file=out)
        return
    changed = [
        f"{f} {r.platform[f]:.3g} -> {r.campaign_condition[f]:.3g}"
        for f in r.factors
        if abs(r.campaign_condition[f] - r.platform[f]) > 1e-9
    ]
    print("one condition for the campaign: " + (", ".join(changed) or "the platform"), file=out)
    print(
        f"  gain over the platform {s['campaign_gain_g_l']:+.2f} g/L per clone "
        f"({s['level']:.0%}: {s['campaign_gain_g_l_lo']:+.2f} to "
        f"{s['campaign_gain_g_l_hi']:+.2f}); "
        f"{s['campaign_gain_how']}",
        file=out,
    )
    print(
        f"  {s['share_campaign_condition']:.0%} of clones take it; "
        f"{s['clones_own_for_gain']} need their own condition for product (own optimum "
        f"beyond {s['min_own_gain_g_l']:.2f} g/L better at its 90% lower bound), "
        f"{s['clones_own_for_spec']} to keep their P(spec) at the platform's",
        file=out,
    )
    for _, row in r.per_clone[r.per_clone["clone_id"].isin(top)].iterrows():
        print(
            f"  top clone {row['clone_id']}: today {row['today_product_g_l']:.2f} g/L, "
            f"{row['final_recommendation']} {row['final_gain_g_l']:+.2f} g/L over the platform",
            file=out,
        )
