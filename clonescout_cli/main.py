"""The ``clonescout`` command: one entry point for every stage (DESIGN.md §6).

Configuration is read here, at the edge, and passed down as plain objects.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from clonescout_cli.modelcmds import DEFAULT_MODEL_URI, cmd_promote, cmd_score, cmd_train
from clonescout_cli.report import print_set_summary
from features.assemble import feature_table, featurize
from features.loader import CampaignData, ContractError, load_campaign
from features.mapping import MappingError, import_mapped, load_mapping
from features.spec import SpecError, load_spec
from simulator.campaign import SimulationConfig, simulate_set, write_set

# the spec that ships with the project (resolved from the source tree, not the cwd)
DEFAULT_SPEC = Path(__file__).resolve().parents[1] / "data" / "spec.yaml"
DEFAULT_DEMO_DIR = Path("data/generated/default")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of days, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {value}")
    return value


def _add_simulation_args(p: argparse.ArgumentParser) -> None:
    d = SimulationConfig()
    p.add_argument(
        "--campaigns",
        type=_positive_int,
        default=d.n_campaigns,
        help=f"number of campaigns (default {d.n_campaigns})",
    )
    p.add_argument(
        "--clones-per-campaign",
        type=_positive_int,
        default=d.clones_per_campaign,
        help="clones screened per campaign; real screens have 24-96 "
        f"(default {d.clones_per_campaign})",
    )
    p.add_argument(
        "--runs-per-clone",
        type=_positive_int,
        default=d.runs_per_clone,
        help=f"bioreactor runs (DOE conditions) per clone (default {d.runs_per_clone})",
    )
    p.add_argument(
        "--conditions-per-campaign",
        type=_positive_int,
        default=d.conditions_per_campaign,
        help=f"size of each campaign's DOE (default {d.conditions_per_campaign})",
    )
    p.add_argument(
        "--days",
        type=_positive_int,
        default=d.days,
        help=f"culture length in days (default {d.days})",
    )
    p.add_argument("--seed", type=int, default=d.seed, help=f"random seed (default {d.seed})")
    p.add_argument(
        "--format",
        choices=("parquet", "csv"),
        default="parquet",
        help="file format of the tables (default parquet)",
    )
    p.add_argument(
        "--spec",
        type=Path,
        default=DEFAULT_SPEC,
        help=f"product spec the summary judges outcomes against (default {DEFAULT_SPEC})",
    )


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clonescout",
        description="Predict purification yield and glycosylation risk of CHO clones "
        "from early culture data.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("simulate", help="generate a campaign set with the digital twin")
    p.add_argument("--out", type=Path, required=True, help="folder to write the tables to")
    _add_simulation_args(p)
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("demo", help="the whole main job on the embedded default")
    p.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_DEMO_DIR,
        help=f"where the default set goes (default {DEFAULT_DEMO_DIR})",
    )
    p.add_argument(
        "--trials",
        type=_positive_int,
        default=15,
        help="Optuna trials per model family (default 15, ~30 in all)",
    )
    p.add_argument(
        "--horizon-day",
        type=_positive_float,
        default=7.0,
        help="use samples up to this culture day (default 7)",
    )
    _add_simulation_args(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("features", help="early-horizon feature table of a campaign set")
    p.add_argument(
        "--data",
        type=Path,
        required=True,
        help="campaign folder (or a foreign file/folder with --mapping)",
    )
    p.add_argument("--mapping", type=Path, help="import mapping YAML for foreign layouts")
    p.add_argument(
        "--horizon-day",
        type=_positive_float,
        default=7.0,
        help="use samples up to this culture day (default 7)",
    )
    p.add_argument("--out", type=Path, required=True, help="feature table (Parquet)")
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("train", help="tune, evaluate (grouped CV) and log the model bundle")
    p.add_argument(
        "--data",
        type=Path,
        required=True,
        help="campaign folder (or a foreign file/folder with --mapping)",
    )
    p.add_argument("--mapping", type=Path, help="import mapping YAML for foreign layouts")
    p.add_argument(
        "--target",
        action="append",
        help="outcome column to model (repeat for several; default: "
        "dsp_yield_pct and the spec's glycan attributes)",
    )
    p.add_argument(
        "--horizon-day",
        type=_positive_float,
        default=7.0,
        help="use samples up to this culture day (default 7)",
    )
    p.add_argument(
        "--trials",
        type=_positive_int,
        default=15,
        help="Optuna trials per model family (default 15)",
    )
    p.add_argument("--folds", type=_positive_int, default=5, help="grouped CV folds (default 5)")
    p.add_argument("--seed", type=int, default=7, help="seed of sampler and trees")
    p.add_argument("--spec", type=Path, default=DEFAULT_SPEC, help="product spec YAML")
    p.add_argument(
        "--no-curve",
        action="store_true",
        help="skip the metrics-vs-horizon curve (3, 5, 7, 10, 14 days)",
    )
    p.add_argument(
        "--json", action="store_true", help="print only the CV metrics as one JSON object on stdout"
    )
    p.set_defaults(func=lambda a: cmd_train(a, load_data(a.data, a.mapping, True)[0]))

    p = sub.add_parser("promote", help="move @champion to the newest version if it is better")
    p.add_argument("--model", default="clonescout", help="registered model name")
    p.add_argument("--version", help="candidate version (default: the newest)")
    p.set_defaults(func=cmd_promote)

    p = sub.add_parser("score", help="score a campaign set with a pinned model")
    p.add_argument(
        "--data",
        type=Path,
        required=True,
        help="campaign folder (or a foreign file/folder with --mapping)",
    )
    p.add_argument("--mapping", type=Path, help="import mapping YAML for foreign layouts")
    p.add_argument(
        "--model",
        default=DEFAULT_MODEL_URI,
        help=f"model URI (default {DEFAULT_MODEL_URI}, resolved to a version)",
    )
    p.add_argument("--out", type=Path, required=True, help="scores file (.csv or .parquet)")
    p.set_defaults(func=lambda a: cmd_score(a, load_data(a.data, a.mapping)[0]))

    p = sub.add_parser("validate", help="check a campaign folder against the data contract")
    p.add_argument("--data", type=Path, required=True, help="campaign folder")
    p.add_argument("--mapping", type=Path, help="import mapping YAML for foreign layouts")
    p.add_argument(
        "--require-outcomes",
        action="store_true",
        help="fail if the outcomes table is missing (training needs it)",
    )
    p.set_defaults(func=cmd_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ContractError, SpecError, MappingError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
