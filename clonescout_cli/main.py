"""The ``clonescout`` command: one entry point for every stage (DESIGN.md §6).

Configuration is read here, at the edge, and passed down as plain objects.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from clonescout_cli.args import (
    add_data_args,
    add_horizon_arg,
    add_simulation_args,
    add_tuning_args,
    positive_int,
    share,
)
from clonescout_cli.common import load_data
from clonescout_cli.datacmds import cmd_features, cmd_simulate, cmd_validate
from clonescout_cli.demo import DEFAULT_DEMO_DIR, cmd_demo
from clonescout_cli.modelcmds import cmd_promote, cmd_retrain, cmd_train
from clonescout_cli.monitorcmd import add_monitor_parser
from clonescout_cli.outcomescmd import add_outcomes_parser
from clonescout_cli.processcmd import add_process_parser
from clonescout_cli.reportcmd import add_report_parser
from clonescout_cli.scorecmd import cmd_score
from clonescout_cli.servecmd import add_serve_parser
from clonescout_cli.whatifcmd import add_whatif_parser
from features.contract.loader import ContractError
from features.contract.mapping import MappingError
from features.contract.spec import DEFAULT_SPEC_PATH, SpecError
from models.registry import DEFAULT_MODEL_URI, MODEL_NAME


def _add_simulate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="generate a campaign set with the digital twin")
    p.add_argument("--out", type=Path, required=True, help="folder to write the tables to")
    add_simulation_args(p)
    p.add_argument(
        "--lab-quirks",
        type=share,
        metavar="SHARE",
        help="write the set as a lab exports it: give this share of runs (e.g. 0.03) one "
        "quirk each ('<LOQ', overshoot, an orphan run, ...); needs --format csv",
    )
    p.add_argument(
        "--id-prefix",
        metavar="P",
        help="name the campaigns P01, P02, ... instead of C01, ... in every id (a new "
        "campaign whose runs must not share ids with an earlier set's)",
    )
    p.set_defaults(func=cmd_simulate)


def _add_demo_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the whole main job on the embedded default")
    p.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_DEMO_DIR,
        help=f"where the default set goes (default {DEFAULT_DEMO_DIR})",
    )
    p.add_argument(
        "--trials",
        type=positive_int,
        default=15,
        help="Optuna trials per model family (default 15, ~30 in all)",
    )
    p.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="Optuna worker processes for the training (default 1: reproducible)",
    )
    add_horizon_arg(p)
    add_simulation_args(p)
    p.set_defaults(func=cmd_demo)


def _add_features_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("features", help="early-horizon feature table of a campaign set")
    add_data_args(p)
    add_horizon_arg(p)
    p.add_argument("--out", type=Path, required=True, help="feature table (Parquet)")
    p.set_defaults(func=cmd_features)


def _add_train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="tune, evaluate (grouped CV) and log the model bundle")
    add_data_args(p)
    p.add_argument(
        "--target",
        action="append",
        help="outcome column to model (repeat for several; default: "
        "dsp_yield_pct and the spec's glycan attributes)",
    )
    add_horizon_arg(p)
    p.add_argument(
        "--trials",
        type=positive_int,
        default=15,
        help="Optuna trials per model family (default 15)",
    )
    p.add_argument(
        "--folds",
        type=positive_int,
        default=5,
        help="outer folds of the nested evaluation, grouped by campaign (default 5, min 3)",
    )
    p.add_argument(
        "--inner-folds",
        type=positive_int,
        default=3,
        help="inner folds for tuning and calibration inside each outer fold (default 3)",
    )
    p.add_argument(
        "--exclude",
        action="append",
        metavar="PATTERN",
        help="leave features out by name pattern, e.g. 'clone__ss_*' to train without the "
        "screen assays (repeatable; see `clonescout features` for the names)",
    )
    p.add_argument("--seed", type=int, default=7, help="seed of sampler and trees")
    add_tuning_args(p)
    p.add_argument("--spec", type=Path, default=DEFAULT_SPEC_PATH, help="product spec YAML")
    p.add_argument(
        "--no-curve",
        action="store_true",
        help="skip the metrics-vs-horizon curve (3, 5, 7, 10, 14 days)",
    )
    p.add_argument(
        "--json", action="store_true", help="print only the CV metrics as one JSON object on stdout"
    )
    p.set_defaults(func=lambda a: cmd_train(a, load_data(a.data, a.mapping, True)[0]))


def add_model_name_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model", default=MODEL_NAME, help=f"registered model name (default {MODEL_NAME})"
    )


def _add_promote_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "promote", help="move @champion to a version that passes the gate and is better"
    )
    add_model_name_arg(p)
    p.add_argument("--version", help="candidate version (default: the newest)")
    p.add_argument(
        "--data",
        type=Path,
        help="the candidate's training data: lets the champion be re-evaluated on the "
        "candidate's outer folds when the two were evaluated on different data or folds",
    )
    p.add_argument("--mapping", type=Path, help="import mapping YAML for --data")
    p.set_defaults(func=cmd_promote)


def _add_retrain_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "retrain",
        help="the champion's history plus new campaigns with outcomes: train with the "
        "champion's recipe, then the gate; promoted only if better",
    )
    p.add_argument(
        "--add",
        type=Path,
        nargs="+",
        action="extend",
        required=True,
        metavar="FOLDER",
        help="new campaign set(s) with outcomes, in the contract's shape (repeatable)",
    )
    p.add_argument(
        "--data",
        type=Path,
        help="the history the champion learned from (default: the folder its training run "
        "recorded); it must still hash to the champion's data",
    )
    p.add_argument("--mapping", type=Path, help="import mapping YAML for --data")
    p.add_argument("--add-mapping", type=Path, help="import mapping YAML for the --add sets")
    add_model_name_arg(p)
    p.add_argument(
        "--trials",
        type=positive_int,
        help="Optuna trials per model family (default: the champion's)",
    )
    add_tuning_args(p)
    p.add_argument("--spec", type=Path, default=DEFAULT_SPEC_PATH, help="product spec YAML")
    p.add_argument(
        "--no-curve",
        action="store_true",
        help="skip the metrics-vs-horizon curve (3, 5, 7, 10, 14 days)",
    )
    p.set_defaults(func=cmd_retrain)


def _add_score_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="score a campaign set with a pinned model")
    add_data_args(p)
    p.add_argument(
        "--model",
        default=DEFAULT_MODEL_URI,
        help=f"model URI (default {DEFAULT_MODEL_URI}, resolved to a version)",
    )
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="per-run scores (.csv or .parquet); beside it OUT.clones.*, OUT.rejects.csv "
        "and OUT.summary.json",
    )
    p.add_argument(
        "--ranking",
        type=Path,
        default=None,
        help="clone ranking criteria YAML (default: data/ranking.yaml, documented there)",
    )
    p.add_argument(
        "--chunk-runs",
        type=positive_int,
        default=None,
        help="runs scored per chunk (bounds memory; default 20000)",
    )
    p.add_argument(
        "--reasons",
        choices=("all", "flagged", "none"),
        default="all",
        help="per-run reasons, the top feature contributions (tree SHAP) per target: 'all' "
        "(default), 'flagged' (only runs at risk or near the edge of experience: every flag "
        "keeps its reasons, the other runs' cell is empty) or 'none' (no reasons column; "
        "fastest)",
    )
    p.add_argument(
        "--engine",
        choices=("local", "spark"),
        default="local",
        help="where the model runs: 'local' (default, this process) or 'spark' (the chunks' "
        "runs are scored by Spark executors through mlflow.pyfunc.spark_udf; the contract, "
        "ranking and files stay on this machine; needs Java 17)",
    )
    p.add_argument(
        "--spark-master",
        default="local[*]",
        help="Spark master URL for --engine spark (default local[*])",
    )
    p.set_defaults(func=cmd_score)


def _add_validate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate",
        help="check a campaign folder against the data contract; count kept and rejected runs",
    )
    p.add_argument("--data", type=Path, required=True, help="campaign folder")
    p.add_argument("--mapping", type=Path, help="import mapping YAML for foreign layouts")
    p.add_argument(
        "--require-outcomes",
        action="store_true",
        help="fail if the outcomes table is missing (training needs it)",
    )
    p.add_argument(
        "--rejects",
        type=Path,
        help="write the rejected runs (run_id, stage, reason) to this CSV file",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when any run was rejected (default: 0 whenever the set is usable)",
    )
    p.set_defaults(func=cmd_validate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clonescout",
        description="Predict purification yield and glycosylation risk of CHO clones "
        "from early culture data.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    _add_simulate_parser(sub)
    _add_demo_parser(sub)
    _add_features_parser(sub)
    _add_train_parser(sub)
    _add_promote_parser(sub)
    _add_retrain_parser(sub)
    _add_score_parser(sub)
    _add_validate_parser(sub)
    add_serve_parser(sub, DEFAULT_MODEL_URI, positive_int)
    add_report_parser(sub)
    add_whatif_parser(sub, DEFAULT_MODEL_URI, positive_int)
    add_process_parser(sub, DEFAULT_MODEL_URI, positive_int)
    add_outcomes_parser(sub)
    add_monitor_parser(sub)
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
