"""CLI commands on data: simulate, features, validate."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from clonescout_cli.common import load_data
from clonescout_cli.report import print_realism, print_set_summary
from features.assemble import feature_table, featurize
from features.contract.files import write_atomic, write_table
from features.contract.loader import CampaignData, load_campaign
from features.contract.rejects import check_run_accounting, reason_counts
from features.contract.spec import DEFAULT_SPEC_PATH, load_spec
from simulator.campaign import SimulationConfig, simulate_set, write_set
from simulator.labexport import add_lab_quirks, relabel_tables


def simulation_config(args: argparse.Namespace) -> SimulationConfig:
    """The set's size and shape from ``add_simulation_args``' flags."""
    return SimulationConfig(
        n_campaigns=args.campaigns,
        clones_per_campaign=args.clones_per_campaign,
        runs_per_clone=args.runs_per_clone,
        conditions_per_campaign=args.conditions_per_campaign,
        deep_clone_share=args.deep_clone_share,
        deep_runs_per_clone=args.deep_runs_per_clone,
        days=args.days,
        seed=args.seed,
    )


def cmd_simulate(args: argparse.Namespace) -> int:
    return run_simulate(
        args.out, simulation_config(args), args.spec, args.format, args.lab_quirks, args.id_prefix
    )


def run_simulate(
    out: Path,
    config: SimulationConfig,
    spec_path: Path = DEFAULT_SPEC_PATH,
    fmt: str = "parquet",
    lab_quirks: float | None = None,
    id_prefix: str | None = None,
) -> int:
    """Simulate a set, write it (optionally as a lab exports it), print its summary.

    ``id_prefix``: campaigns named ``id_prefix``01, ... instead of C01, ... in every id (a
    later campaign of one's own, whose runs must not be taken for another set's).
    """
    spec = load_spec(spec_path)
    if lab_quirks is not None and fmt != "csv":
        raise ValueError("--lab-quirks writes text cells such as '<LOQ': use --format csv")
    t0 = time.perf_counter()
    tables = simulate_set(config)
    if id_prefix:
        tables = relabel_tables(tables, id_prefix)
    files = write_set(tables, out, config, fmt)
    elapsed = time.perf_counter() - t0
    print(
        f"simulated {len(tables['runs'])} runs of {config.n_campaigns} campaigns "
        f"(seed {config.seed}) in {elapsed:.1f} s -> {out}/ "
        f"({', '.join(f.name for f in files)})",
        file=sys.stderr,
    )
    if lab_quirks is not None:
        done = add_lab_quirks(out, lab_quirks, config.seed)
        write_table(done, out / "lab_quirks.csv")
        print(
            f"lab quirks: {len(done)} runs given one quirk each (what and where: "
            f"{out / 'lab_quirks.csv'})",
            file=sys.stderr,
        )
    data = load_campaign(out, require_outcomes=True)  # the written set obeys the contract
    print_set_summary(data.tables(), spec)
    print_realism(tables)
    return 0


def _print_notes_and_reasons(data: CampaignData, rejects: pd.DataFrame) -> None:
    if data.notes:
        print(f"notes ({len(data.notes)}):")
        for note in data.notes:
            print(f"  {note}")
    if len(rejects):
        print("rejected runs by reason:")
        for line in reason_counts(rejects):
            print(f"  {line}")


def cmd_validate(args: argparse.Namespace) -> int:
    return run_validate(args.data, args.mapping, args.require_outcomes, args.rejects, args.strict)


def run_validate(
    folder: Path,
    mapping: Path | None = None,
    require_outcomes: bool = False,
    rejects: Path | None = None,
    strict: bool = False,
) -> int:
    """Say how many runs came in, were kept and set aside (and why); 1 with --strict."""
    data, rejected_rows = load_data(folder, mapping, require_outcomes, report=False)
    n_in, kept, rejected = data.n_runs_in, len(data.runs), len(data.rejects)
    check_run_accounting(n_in, kept, rejected, "valid")
    print(f"{folder}: {n_in} runs in: {kept} valid, {rejected} rejected")
    counts = ", ".join(f"{len(df)} {name}" for name, df in data.tables().items())
    extra = f"; {rejected_rows} source rows rejected at import" if rejected_rows else ""
    print(f"kept: {counts}{extra}")
    _print_notes_and_reasons(data, data.rejects)
    if rejects is not None:
        write_table(data.rejects, rejects)
        print(f"rejected runs and reasons: {rejects}")
    return 1 if strict and rejected else 0


def cmd_features(args: argparse.Namespace) -> int:
    """Feature table of the kept runs; every run in is featurised or in FILE.rejects.csv."""
    data, _ = load_data(args.data, args.mapping, report=False)
    result = featurize(data, args.horizon_day)
    table = feature_table(result, data.outcomes)
    out: Path = args.out
    write_atomic(out, lambda tmp: table.to_parquet(tmp, index=False))
    rejects_path = out.with_name(out.stem + ".rejects.csv")
    if len(result.rejects):
        write_table(result.rejects, rejects_path)
    else:
        rejects_path.unlink(missing_ok=True)
    at = result.rejects["stage"].value_counts()
    print(
        f"{result.n_runs_in} runs in: {len(result.features)} featurised, "
        f"{len(result.rejects)} rejected ({at.get('load', 0)} at load, "
        f"{at.get('features', 0)} at features)"
    )
    n_feat = len(result.features.columns)
    print(f"{n_feat} features at horizon day {args.horizon_day:g} -> {out}")
    _print_notes_and_reasons(data, result.rejects)
    if len(result.rejects):
        print(f"rejected runs and reasons: {rejects_path}")
    return 0
