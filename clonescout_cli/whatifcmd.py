"""``clonescout whatif``: the process conditions a clone should run under."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from features.contract.files import write_text
from models.nextexp import NEXT_COLUMNS, Proposal, propose
from models.registry import DEFAULT_MODEL_URI
from models.whatif import DEFAULT_MAP, EPP, P_SPEC, WhatIfError, WhatIfResult, whatif

CANDIDATES = 500  # space-filling candidates when no grid is given
MAP_TEXT = ",".join(DEFAULT_MAP)  # --map's default


def add_whatif_parser(sub: argparse._SubParsersAction, default_model: str, positive_int) -> None:
    p = sub.add_parser(
        "whatif",
        help="score a clone under candidate process conditions; recommend one",
        description="Score one clone under a grid of candidate conditions (a file, a "
        "space-filling set over the training box, or a search of the box), keep only those "
        "inside the training box and the model's domain, and recommend the condition with "
        "the highest expected purified product whose P(meet every spec limit) is at least "
        "the platform's. Predictions are anchored on the clone's measured runs in --data.",
    )
    p.add_argument("--data", type=Path, required=True, help="campaign folder with the clone")
    p.add_argument("--mapping", type=Path, help="import mapping YAML for foreign layouts")
    p.add_argument("--clone", required=True, help="clone_id to score")
    how = p.add_mutually_exclusive_group()
    how.add_argument(
        "--grid",
        type=Path,
        help="candidate conditions (.csv or .parquet), one row each; columns are process "
        "factors, absent ones take the platform value",
    )
    how.add_argument(
        "--optimise",
        action="store_true",
        help="search the box around the best candidates (3 rounds of local moves)",
    )
    p.add_argument(
        "--candidates",
        type=positive_int,
        default=CANDIDATES,
        help=f"space-filling candidates when no --grid is given (default {CANDIDATES})",
    )
    p.add_argument(
        "--min-spec-prob",
        type=float,
        default=0.0,
        help="floor on P(meet every spec limit) for the recommendation, on top of 'no lower "
        "than the platform' (default 0: the platform's own probability)",
    )
    p.add_argument(
        "--map",
        default=MAP_TEXT,
        help=f"two factors for the design-space map (default {MAP_TEXT})",
    )
    p.add_argument(
        "--next",
        type=int,
        default=0,
        metavar="K",
        help="also propose the K experiments to run next for this clone (expected "
        "improvement on its own surface; default 0: none)",
    )
    p.add_argument("--out", type=Path, help="write the full result as JSON")
    p.add_argument(
        "--model",
        default=default_model,
        help=f"model URI (default {default_model}, resolved to a version)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the candidate set")
    p.set_defaults(func=cmd_whatif)


def read_grid(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise WhatIfError(f"--grid {path}: no such file")
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path)
    raise WhatIfError(f"--grid {path}: expected a .csv or .parquet file")


def clone_tables(data, clone_id: str) -> tuple[pd.Series, pd.DataFrame]:
    """The clone's row and its runs, or a clear error naming the clones there are."""
    hit = data.clones[data.clones["clone_id"].astype(str) == clone_id]
    if hit.empty:
        known = data.clones["clone_id"].astype(str).tolist()
        raise WhatIfError(
            f"clone {clone_id!r} is not in {data.folder} ({len(known)} clones: "
            f"{', '.join(known[:5])}{' ...' if len(known) > 5 else ''})"
        )
    return hit.iloc[0], data.runs[data.runs["clone_id"].astype(str) == clone_id]


def cmd_whatif(args: argparse.Namespace) -> int:
    return run_whatif(
        args.data, args.clone, args.model, args.mapping, args.grid, args.optimise,
        args.candidates, args.min_spec_prob, args.map, args.next, args.out, args.seed,
    )  # fmt: skip


def run_whatif(
    data: Path,
    clone_id: str,
    model: str = DEFAULT_MODEL_URI,
    mapping: Path | None = None,
    grid_file: Path | None = None,
    optimise: bool = False,
    candidates: int = CANDIDATES,
    min_spec_prob: float = 0.0,
    map_factors: str = MAP_TEXT,
    next_k: int = 0,
    out: Path | None = None,
    seed: int = 0,
) -> int:
    """One clone under candidate conditions: the recommendation (and next runs); JSON to OUT."""
    from clonescout_cli.common import load_data
    from models.registry import load_pinned, use_tracking

    if not 0 <= next_k <= 50:
        raise WhatIfError(f"--next must be 0-50 experiments, got {next_k}")
    factors = tuple(f.strip() for f in map_factors.split(","))
    if len(factors) != 2:
        raise WhatIfError(f"--map needs two factors separated by a comma, got {map_factors!r}")
    grid = read_grid(grid_file) if grid_file else None  # before the model and the data
    campaign = load_data(data, mapping, report=False)[0]
    clone, runs = clone_tables(campaign, clone_id)
    use_tracking()
    pinned = load_pinned(model)
    bundle, uri = pinned.bundle, pinned.uri
    if bundle.process is None:
        raise WhatIfError(
            f"model {uri} has no process model (trained before what-if existed, or its data "
            "had no varying conditions): retrain with `clonescout train`"
        )
    result = whatif(
        bundle.process,
        bundle.predictor.spec,
        clone,
        runs,
        campaign.outcomes,
        grid=grid,
        optimise=optimise,
        n_candidates=candidates,
        seed=seed,
        min_spec_prob=min_spec_prob,
        design_space=factors,  # type: ignore[arg-type]
    )
    print_result(result, uri)
    payload = {"model": uri, **result.to_dict()}
    if next_k:
        plan = propose(
            bundle.process,
            bundle.predictor.spec,
            clone,
            runs,
            campaign.outcomes,
            k=next_k,
            grid=grid,
            n_candidates=candidates,
            seed=seed,
        )
        print_plan(plan)
        payload["next_experiments"] = plan.to_dict()
    if out:
        write_text(out, json.dumps(payload, indent=2))
        print(f"full result (candidates, Pareto set, design space) -> {out}")
    return 0


def print_result(r: WhatIfResult, uri: str, out=None) -> None:
    """What a scientist reads first: the recommendation, its reasons, the Pareto set."""
    out = sys.stdout if out is None else out  # looked up now: a redirected stdout counts
    n_anchor = max(r.anchored_on.values(), default=0)
    print(
        f"clone {r.clone_id} (model {uri}): {len(r.scored)} candidates scored, "
        f"{len(r.excluded)} excluded; anchored on {n_anchor} measured run(s)",
        file=out,
    )
    if r.recommended is None:
        print("no recommendation: " + "; ".join(r.reasons), file=out)
    else:
        rec = r.recommended
        setting = ", ".join(f"{k} {_fmt(float(rec[k]))}" for k in r.reference)
        print(f"recommended: {setting}", file=out)
        for line in r.reasons:
            print(f"  - {line}", file=out)
        front = r.scored[r.scored["pareto"]].sort_values(EPP, ascending=False)
        print(f"Pareto set (expected product vs P(spec)): {len(front)} conditions", file=out)
        for _, row in front.head(5).iterrows():
            print(
                f"  {row[EPP]:.2f} g/L ({row[EPP + '_lo']:.2f}-{row[EPP + '_hi']:.2f}), "
                f"P(spec) {row[P_SPEC]:.2f}  [{row['source']}]",
                file=out,
            )
    if len(r.excluded):
        reasons = r.excluded["reason"].str.split("; ").explode().str.split(" = ").str[0]
        top = reasons.value_counts().head(3)
        print(
            "excluded (outside the training box or the model's domain): "
            + ", ".join(f"{k} ({v})" for k, v in top.items()),
            file=out,
        )


def print_plan(plan: Proposal, out=None) -> None:
    """The proposed next experiments, one line each, with why."""
    out = sys.stdout if out is None else out
    print(
        f"next {len(plan.proposed)} experiment(s) for clone {plan.clone_id} "
        f"(from {plan.n_measured} measured run(s)):",
        file=out,
    )
    factors = [c for c in plan.proposed.columns if c not in NEXT_COLUMNS]
    for i, (_, row) in enumerate(plan.proposed.iterrows(), start=1):
        setting = ", ".join(f"{f} {_fmt(float(row[f]))}" for f in factors)
        print(f"  {i}. {setting}", file=out)
        print(f"     {row['reason']}", file=out)


def _fmt(v: float) -> str:
    return "no shift" if v is None or np.isnan(v) else f"{v:.3g}"
