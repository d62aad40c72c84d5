"""CLI commands on data: simulate, demo, features, validate."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from clonescout_cli.modelcmds import cmd_promote, cmd_train
from clonescout_cli.report import print_set_summary
from features.assemble import feature_table, featurize
from features.loader import CampaignData, load_campaign
from features.mapping import import_mapped, load_mapping
from features.spec import load_spec
from simulator.campaign import SimulationConfig, simulate_set, write_set


def _config(args: argparse.Namespace) -> SimulationConfig:
    return SimulationConfig(
        n_campaigns=args.campaigns,
        clones_per_campaign=args.clones_per_campaign,
        runs_per_clone=args.runs_per_clone,
        conditions_per_campaign=args.conditions_per_campaign,
        days=args.days,
        seed=args.seed,
    )


def _simulate(args: argparse.Namespace, out: Path) -> int:
    spec = load_spec(args.spec)
    config = _config(args)
    t0 = time.perf_counter()
    tables = simulate_set(config)
    files = write_set(tables, out, config, args.format)
    elapsed = time.perf_counter() - t0
    print(
        f"simulated {len(tables['runs'])} runs of {config.n_campaigns} campaigns "
        f"(seed {config.seed}) in {elapsed:.1f} s -> {out}/ "
        f"({', '.join(f.name for f in files)})",
        file=sys.stderr,
    )
    data = load_campaign(out, require_outcomes=True)  # the written set obeys the contract
    print_set_summary(data.tables(), spec)
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    return _simulate(args, args.out)


def cmd_demo(args: argparse.Namespace) -> int:
    """Simulate the default set, train with the demo budget, promote, print the metrics."""
    print("clonescout demo 1/3: simulate the default campaign set", file=sys.stderr)
    _simulate(args, args.out)
    print(
        f"\nclonescout demo 2/3: train at horizon day {args.horizon_day:g} "
        f"({args.trials} Optuna trials per model family, grouped CV by campaign)",
        file=sys.stderr,
    )
    train_args = argparse.Namespace(
        spec=args.spec,
        target=None,
        horizon_day=args.horizon_day,
        trials=args.trials,
        seed=args.seed,
        folds=5,
        no_curve=False,
        json=False,
    )
    cmd_train(train_args, load_campaign(args.out, require_outcomes=True))
    print("\nclonescout demo 3/3: promote the champion", file=sys.stderr)
    cmd_promote(argparse.Namespace(model="clonescout", version=None))
    print(
        "\nBrowse the runs, nested trials, baselines and the registered model: "
        "mlflow ui --backend-store-uri sqlite:///mlflow.db",
        file=sys.stderr,
    )
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    data, rejected = load_data(args.data, args.mapping, args.require_outcomes)
    counts = ", ".join(f"{len(df)} {name}" for name, df in data.tables().items())
    note = f"; {rejected} source rows rejected at import" if rejected else ""
    print(f"{args.data}: follows the data contract ({counts}{note})")
    return 0


def load_data(
    data: Path, mapping: Path | None, require_outcomes: bool = False
) -> tuple[CampaignData, int]:
    """A campaign folder, or a foreign file/folder through an import mapping.

    Returns the data and the number of source rows rejected at import (reported).
    """
    if mapping is None:
        return load_campaign(data, require_outcomes=require_outcomes), 0
    result = import_mapped(data, load_mapping(mapping))
    if len(result.rejects):
        print(
            f"import: {len(result.rejects)} of {result.rows_in} source rows rejected:",
            file=sys.stderr,
        )
        for r in result.rejects.head(10).itertuples():
            print(f"  {r.file} line {r.line}: {r.reason}", file=sys.stderr)
    return result.data, len(result.rejects)


def cmd_features(args: argparse.Namespace) -> int:
    data, _ = load_data(args.data, args.mapping)
    result = featurize(data, args.horizon_day)
    table = feature_table(result, data.outcomes)
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    table.to_parquet(tmp, index=False)
    tmp.replace(out)
    rejects_path = out.with_name(out.stem + ".rejects.csv")
    if len(result.rejects):
        result.rejects.to_csv(rejects_path, index=False)
    else:
        rejects_path.unlink(missing_ok=True)
    n_feat = len(result.features.columns)
    print(
        f"{result.n_runs_in} runs in: {len(result.features)} featurised "
        f"({n_feat} features at horizon day {args.horizon_day:g}), "
        f"{len(result.rejects)} rejected -> {out}"
    )
    if len(result.rejects):
        print(f"rejected runs and reasons: {rejects_path}")
        for reason, n in result.rejects["reason"].value_counts().items():
            print(f"  {n} x {reason}")
    return 0
