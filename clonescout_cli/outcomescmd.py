"""``clonescout outcomes add``: outcomes of runs scored earlier, joined to their predictions."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from clonescout_cli.common import stages_text

if TYPE_CHECKING:
    from serving.predlog import PredictionLog


def add_outcomes_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("outcomes", help="outcomes that came back, joined to the logged predictions")
    inner = p.add_subparsers(dest="outcomes_command", required=True)
    add = inner.add_parser(
        "add",
        help="append an outcomes table (the contract's shape: run_id, endpoints, optionally "
        "prediction_id) to the prediction log",
    )
    add.add_argument(
        "data", type=Path, help="folder with outcomes.csv / outcomes.parquet, or that file"
    )
    add.add_argument(
        "--rejects", type=Path, help="write the rows set aside (run_id, stage, reason) here"
    )
    add.add_argument("--json", action="store_true", help="print the report as one JSON object")
    add.set_defaults(func=cmd_outcomes_add)


def open_log() -> PredictionLog:
    """The prediction log this folder's commands use (:mod:`serving.predlog`), or an error."""
    from models.registry import use_tracking
    from serving.predlog import LOG_ENV, LogError, PredictionLog, configured_url

    url = configured_url(use_tracking())
    if url is None:
        raise ValueError(
            f"the prediction log is off ({LOG_ENV}=off): outcomes and the monitor join to "
            "logged predictions; unset it or give the log's URL"
        )
    try:
        return PredictionLog(url)
    except LogError as exc:
        raise ValueError(str(exc)) from None


def cmd_outcomes_add(args: argparse.Namespace) -> int:
    return run_outcomes_add(args.data, args.rejects, args.json)


def run_outcomes_add(data: Path, rejects: Path | None = None, as_json: bool = False) -> int:
    """Hold the table to the contract, join it to the log, append; print what happened."""
    from features.contract.loader import load_outcomes
    from serving.outcomes import add_outcomes

    path, checked = load_outcomes(data)  # structural problems stop here, before the log
    log = open_log()
    try:
        report = add_outcomes(log, path, checked)
    finally:
        log.close()
    if rejects is not None and report.set_aside:
        rejects.parent.mkdir(parents=True, exist_ok=True)
        report.rejects.to_csv(rejects, index=False)
    if as_json:
        print(json.dumps({**report.to_dict(), "log": log.where}, indent=2))
        return 0
    joined = ", ".join(f"{n} of {k}" for k, n in report.by_model.items()) or "none"
    print(
        f"{report.rows_in} outcome rows in {path}: {report.appended} appended, "
        f"{report.already_recorded} already recorded, {report.set_aside} set aside "
        f"-> {log.where}"
    )
    print(f"endpoints: {', '.join(report.endpoints)}; rows answering predictions of: {joined}")
    if report.set_aside:
        stages = report.rejects["stage"].value_counts().sort_index()
        print(f"set aside ({stages_text({str(k): int(v) for k, v in stages.items()})}):")
        for r in report.rejects.head(10).itertuples():
            print(f"  {r.run_id}: {r.reason}")
        if report.set_aside > 10:
            more = f" (all in {rejects})" if rejects else " (--rejects FILE lists them all)"
            print(f"  ... {report.set_aside - 10} more{more}")
        if rejects is not None:
            print(f"rows set aside and reasons: {rejects}", file=sys.stderr)
    return 0
