"""``clonescout monitor``: what each model version delivers on outcomes that came back.

Realized figures per version and campaign beside the promise each version was promoted on
(:mod:`serving.monitor`), printed or as JSON, and logged to MLflow as a monitoring run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clonescout_cli.outcomescmd import open_log

if TYPE_CHECKING:
    from serving.monitor import Promise

MONITOR_EXPERIMENT = "clonescout-monitoring"


def add_monitor_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "monitor",
        help="realized performance of each model version on outcomes that came back, "
        "beside what it promised",
    )
    p.add_argument("--model", help="registered model name to judge (default: every one logged)")
    p.add_argument(
        "--since",
        type=_date,
        help="only predictions logged on or after this date (YYYY-MM-DD, UTC)",
    )
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument(
        "--html",
        type=Path,
        metavar="FILE.html",
        help="also write the monitor's page: every figure beside its promise, predicted "
        "against realized, coverage by campaign and over time (opens with no network)",
    )
    p.add_argument(
        "--no-mlflow",
        action="store_true",
        help="do not log a monitoring run to MLflow (default: one run per model version)",
    )
    p.set_defaults(func=cmd_monitor)


def _date(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date such as 2026-11-30") from None


def cmd_monitor(args: argparse.Namespace) -> int:
    return run_monitor(args.model, args.since, args.json, not args.no_mlflow, args.html)


def _promise(name: str, version: str) -> Promise:
    """The version's nested figures, spec and targets (from its bundle in the registry)."""
    from models.registry import load_pinned, version_uri
    from serving.monitor import Promise

    uri = version_uri(name, version) if version.isdigit() else version
    bundle = load_pinned(uri).bundle
    return Promise(bundle.manifest.get("cv_metrics", {}), bundle.predictor.spec, bundle.targets)


def run_monitor(
    model: str | None = None,
    since: dt.datetime | None = None,
    as_json: bool = False,
    log_mlflow: bool = True,
    html: Path | None = None,
) -> int:
    """Join the log to its outcomes, judge every model version, print and log the result.

    ``html``: also write the monitor's page there (:mod:`serving.report.monitor_page`).
    """
    from serving.monitor import monitor_joined
    from serving.outcomes import joined_frame

    if html is not None:  # a wrong path is refused before any work
        from serving.report.monitor_page import page_path

        page_path(html)
    log = open_log()  # also points MLflow at this folder's store
    try:
        joined = joined_frame(log, model, since)
    finally:
        log.close()
    versions = monitor_joined(joined, _promise)
    if log_mlflow:
        # MLflow says "View run ... at" on stdout with a tracking server: keep stdout the result's
        with contextlib.redirect_stdout(sys.stderr):
            for result in versions:
                result["mlflow_run_id"] = _log_run(result, result["training_run"])
    out = {"log": log.where, "since": since.isoformat() if since else None, "versions": versions}
    if html is not None:
        from serving.report.monitor_page import write_monitor_page

        written = write_monitor_page(out, joined, html)
        print(f"monitor page: {written}", file=sys.stderr)
    if as_json:
        print(json.dumps(out, indent=2))
    else:
        _print(out)
    return 0


def _log_run(result: dict[str, Any], train_run: str) -> str:
    """One MLflow run per monitored version: realized figures, verdicts, the full JSON."""
    import mlflow

    mlflow.set_experiment(MONITOR_EXPERIMENT)
    name, version = result["model_name"], result["model_version"]
    with mlflow.start_run(run_name=f"monitor {name} v{version}") as run:
        mlflow.set_tags(
            {
                "clonescout.role": "monitor",
                "clonescout.model_name": name,
                "clonescout.model_version": version,
                "clonescout.training_run": train_run,
                "clonescout.verdict": result["verdict"],
                "clonescout.retrain_due": str(result["retrain"]["due"]).lower(),
            }
        )
        mlflow.log_metrics(
            {"judged_runs": result["judged_runs"], "predictions": result["predictions"]}
        )
        for c in result["checks"]:
            if c["realized"] is not None:
                mlflow.log_metric("realized." + c["what"].replace(" ", "."), c["realized"])
        mlflow.log_dict(result, "monitor.json")
        return run.info.run_id


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.3g}"


def _print(out: dict[str, Any]) -> None:
    if not out["versions"]:
        print(f"no logged prediction to judge in {out['log']}")
        return
    for v in out["versions"]:
        print(
            f"\n{v['model_name']} v{v['model_version']}: {v['verdict'].upper()} "
            f"({v['judged_runs']} runs of {v['judged_clones']} clones judged; "
            f"{v['predictions']} predictions logged, left out: "
            f"{v['left_out']['unknown']} unknown, {v['left_out']['seen_in_training']} in training)"
        )
        if v["degraded"]:
            print("degraded: " + ", ".join(v["degraded"]))
        print(
            f"  {'figure':<34} {'realized':>9} {'promised':>9} {'interval':>19} {'n':>6}  verdict"
        )
        for c in v["checks"]:
            lo, hi = c["interval"]
            interval = f"[{_fmt(lo)}, {_fmt(hi)}]" if lo is not None else ""
            print(
                f"  {c['what']:<34} {_fmt(c['realized']):>9} {_fmt(c['promised']):>9} "
                f"{interval:>19} {c['n']:>6}  {c['verdict']}"
            )
        print("  per campaign:")
        for cid, camp in v["campaigns"].items():
            extra = f": {', '.join(camp['degraded'])}" if camp["degraded"] else ""
            print(f"    {cid}: {camp['verdict']} ({camp['runs']} runs){extra}")
        print(
            ("retraining is DUE: " if v["retrain"]["due"] else "retraining: ") + v["retrain"]["why"]
        )
        if v.get("mlflow_run_id"):
            print(f"monitoring run logged to MLflow: {v['mlflow_run_id']} ({MONITOR_EXPERIMENT})")
    sys.stdout.flush()
