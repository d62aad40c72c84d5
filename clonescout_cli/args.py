"""Argument types and argument groups shared by several ``clonescout`` commands."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from features.contract.spec import DEFAULT_SPEC_PATH
from simulator.campaign import SimulationConfig


def _number(text: str, kind: type, what: str, ok, bounds: str):
    """``text`` as ``kind`` if ``ok(value)``; else an argparse error naming ``bounds``."""
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"expected {bounds}, got {value}")
    return value


def positive_int(text: str) -> int:
    return _number(text, int, "a whole number", lambda v: v >= 1, "a number >= 1")


def nonnegative_int(text: str) -> int:
    return _number(text, int, "a whole number", lambda v: v >= 0, "a number >= 0")


def share(text: str) -> float:
    return _number(text, float, "a share such as 0.03", lambda v: 0 < v <= 1, "a share in (0, 1]")


def positive_float(text: str) -> float:
    return _number(text, float, "a number of days", lambda v: v > 0, "a number > 0")


def add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        type=Path,
        required=True,
        help="campaign folder (or a foreign file/folder with --mapping)",
    )
    p.add_argument("--mapping", type=Path, help="import mapping YAML for foreign layouts")


def add_horizon_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--horizon-day",
        type=positive_float,
        default=7.0,
        help="use samples up to this culture day (default 7)",
    )


# the set's size and shape: (flag, SimulationConfig field, type, help before the default)
SIMULATION_ARGS = (
    ("--campaigns", "n_campaigns", positive_int, "number of campaigns"),
    (
        "--clones-per-campaign",
        "clones_per_campaign",
        positive_int,
        "clones screened per campaign; real screens have 24-96",
    ),
    (
        "--runs-per-clone",
        "runs_per_clone",
        positive_int,
        "bioreactor runs (DOE conditions) per clone",
    ),
    (
        "--conditions-per-campaign",
        "conditions_per_campaign",
        positive_int,
        "size of each campaign's DOE",
    ),
    (
        "--deep-clone-share",
        "deep_clone_share",
        float,
        "share of each campaign's clones run under more conditions, so that clone x condition "
        "effects can be learnt",
    ),
    (
        "--deep-runs-per-clone",
        "deep_runs_per_clone",
        positive_int,
        "runs (conditions) of those clones",
    ),
    ("--days", "days", positive_int, "culture length in days"),
)


def add_simulation_args(p: argparse.ArgumentParser) -> None:
    d = SimulationConfig()
    for flag, field, kind, text in SIMULATION_ARGS:
        default = getattr(d, field)
        p.add_argument(flag, type=kind, default=default, help=f"{text} (default {default})")
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
        default=DEFAULT_SPEC_PATH,
        help=f"product spec the summary judges outcomes against (default {DEFAULT_SPEC_PATH})",
    )


def add_tuning_args(p: argparse.ArgumentParser) -> None:
    """Where Optuna's trials run: ``--workers``, ``--optuna-storage``, ``--threads``."""
    p.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="Optuna worker processes sharing each study (default 1: trials run here, one "
        "after the other, reproducibly; N > 1 is faster and not reproducible)",
    )
    p.add_argument(
        "--optuna-storage",
        default=os.environ.get("CLONESCOUT_OPTUNA_STORAGE") or None,
        metavar="URL",
        help="Optuna storage the studies live in: a database URL "
        "(postgresql+psycopg2://USER@HOST:PORT/DB?options=-csearch_path%%3Doptuna) or "
        "journal:PATH (default $CLONESCOUT_OPTUNA_STORAGE, else memory, or a scratch journal "
        "file with --workers > 1)",
    )
    p.add_argument(
        "--threads",
        type=nonnegative_int,
        default=os.environ.get("CLONESCOUT_THREADS", "0"),  # a string: parsed (checked) by type
        help="XGBoost threads of the tuning and of the model's fits, for the whole machine "
        "(shared out between the workers); the process model and the horizon curve use "
        "every core (default $CLONESCOUT_THREADS, else 0: every core)",
    )
