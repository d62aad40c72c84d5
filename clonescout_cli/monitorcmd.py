"""``clonescout monitor``: what each model version delivers on outcomes that came back.

Realized figures per version and campaign beside the promise each version was promoted on
(:mod:`training.monitor`), printed or as JSON, and logged to MLflow as a monitoring run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from clonescout_cli.outcomescmd import open_log

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
    return run_monitor(args.model, args.since, args.json, not args.no_mlflow)


def _promises(name: str, version: str) -> tuple[dict, Any, list[str], str]:
    """The version's nested figures, spec, targets and training run (from its bundle)."""
    from models.registry import load_pinned, version_uri

    uri = version_uri(name, version) if version.isdigit() else version
    bundle = load_pinned(uri).bundle
    cv = bundle.manifest.get("cv_metrics", {})
    return cv, bundle.predictor.spec, bundle.targets, str(cv.get("mlflow_run_id", ""))


def run_monitor(
    model: str | None = None,
    since: dt.datetime | None = None,
    as_json: bool = False,
    log_mlflow: bool = True,
) -> int:
    """Join the log to its outcomes, judge every model version, print and log the result."""
    from serving.outcomes import joined_frame
    from training.monitor import monitor_version

    log = open_log()  # also points MLflow at this folder's store
    try:
        joined = joined_frame(log, model, since)
    finally:
        log.close()
    versions: list[dict[str, Any]] = []
    if not joined.empty:
        for (name, version), part in joined.groupby(["model_name", "model_version"], sort=True):
            cv, spec, targets, train_run = _promises(str(name), str(version))
            result = monitor_version(part, cv, spec, targets)
            result = {"model_name": name, "model_version": version, **result}
            result["retrain"] = retrain_advice(result)
            if log_mlflow:
                result["mlflow_run_id"] = _log_run(result, train_run)
            versions.append(result)
    out = {"log": log.where, "since": since.isoformat() if since else None, "versions": versions}
    if as_json:
        print(json.dumps(out, indent=2))
    else:
        _print(out)
    return 0


def retrain_advice(result: dict[str, Any]) -> dict[str, Any]:
    """Whether retraining is due, and why, from one version's monitor result."""
    if result["verdict"] == "degraded":
        return {
            "due": True,
            "why": "degraded beyond the promise's own uncertainty: "
            + ", ".join(result["degraded"]),
        }
    new = [c for c, v in result["campaigns"].items() if v["runs"]]
    if new:
        return {
            "due": False,
            "why": f"holds; {len(new)} campaign(s) with outcomes it has not learned from "
            f"({', '.join(new[:5])}{'…' if len(new) > 5 else ''}) can join its training data "
            "at the next retraining",
        }
    return {"due": False, "why": "no outcome judged yet"}


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
