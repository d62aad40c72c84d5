"""CLI commands that talk to MLflow: train, promote, score."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from features.assemble import long_frame, run_index
from features.loader import CampaignData

DEFAULT_STORE = "mlflow.db"  # MLflow's embedded default: sqlite:///mlflow.db + ./mlruns
DEFAULT_MODEL_URI = "models:/clonescout@champion"


def setup_mlflow(experiment: str | None) -> None:
    """Point MLflow at the embedded store unless the user set MLFLOW_TRACKING_URI."""
    import mlflow

    if not os.environ.get("MLFLOW_TRACKING_URI"):
        # absolute, so that the store is the one in the folder the command runs in
        mlflow.set_tracking_uri(f"sqlite:///{Path.cwd() / DEFAULT_STORE}")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    # inside `mlflow run` the experiment is chosen by --experiment-name; setting it errors
    if experiment and not os.environ.get("MLFLOW_RUN_ID"):
        mlflow.set_experiment(experiment)


def _fmt(x: float) -> str:
    return "   n/a" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:6.3f}"


def print_metrics_table(metrics: dict, out=sys.stdout) -> None:
    """Grouped-CV metrics beside the baselines and the noise ceiling."""
    print(
        f"\ngrouped-CV metrics at horizon day {metrics['horizon_day']:g} "
        f"({metrics['n_runs']} runs, {metrics['n_campaigns']} campaigns)",
        file=out,
    )
    head = (
        f"{'target':<18} {'model R2':>8} {'rho':>6} {'MAE':>7} {'cov80':>6} {'cov90':>6} | "
        f"{'PLS R2':>6} {'rho':>6} {'MAE':>7} | {'titer rho':>9} {'MAE':>7} | {'ceiling':>7}"
    )
    print(head, file=out)
    for t, b in metrics["targets"].items():
        m, bl = b["model"], b.get("baselines", {})
        p, tr = bl.get("pls", {}), bl.get("titer_rank", {})
        ceiling = b.get("noise_ceiling_r2", float("nan"))
        print(
            f"{t:<18} {_fmt(m['r2']):>8} {_fmt(m['spearman'])} {m['mae']:7.3f} "
            f"{_fmt(m['coverage_80'])} {_fmt(m['coverage_90'])} | {_fmt(p.get('r2'))} "
            f"{_fmt(p.get('spearman'))} {p.get('mae', float('nan')):7.3f} | "
            f"{_fmt(tr.get('spearman')):>9} {tr.get('mae', float('nan')):7.3f} | "
            f"{_fmt(ceiling):>7}",
            file=out,
        )
    if "glyco_risk" in metrics:
        g = metrics["glyco_risk"]
        pls = g.get("baselines", {}).get("pls", {})
        print(
            f"glycan out-of-spec risk: AUROC {_fmt(g['model']['auroc'])}, Brier "
            f"{_fmt(g['model']['brier'])}  (PLS-based: AUROC {_fmt(pls.get('auroc'))}, "
            f"Brier {_fmt(pls.get('brier'))})",
            file=out,
        )


def cmd_train(args: argparse.Namespace, data: CampaignData) -> int:
    from training.pipeline import train
    from training.settings import CURVE_HORIZONS, TrainSettings

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    settings = TrainSettings(
        spec_path=args.spec,
        targets=tuple(args.target or ()),
        horizon_day=args.horizon_day,
        trials=args.trials,
        seed=args.seed,
        n_folds=args.folds,
        curve_horizons=() if args.no_curve else CURVE_HORIZONS,
    )
    setup_mlflow(settings.experiment)
    import mlflow

    with contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.redirect_stdout(sys.stderr))  # stdout: only the JSON
        if os.environ.get("MLFLOW_RUN_ID"):  # inside `mlflow run`: resume the project's run
            stack.enter_context(mlflow.start_run())
        report = train(data, settings)
    if args.json:
        print(json.dumps(report.metrics))
        return 0
    print_metrics_table(report.metrics)
    if len(report.curve):
        print("\nhow early the prediction becomes reliable (grouped CV):")
        print(report.curve.round(3).to_string(index=False))
    where = (
        f", registered as version {report.registered_version}" if report.registered_version else ""
    )
    print(f"\nMLflow run {report.run_id}; model {report.model_uri}{where}")
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    from training.promote import promote

    setup_mlflow(None)
    d = promote(args.model, args.version)
    verb = "promoted" if d.promoted else "kept champion"
    who = f"version {d.candidate}" if d.promoted else f"version {d.champion}"
    print(
        f"{args.model}: {verb} {who} (candidate {d.candidate}, champion before: "
        f"{d.champion or 'none'})"
    )
    for r in d.reasons:
        print(f"  - {r}")
    return 0


def resolve_model(uri: str):
    """Load a pinned model: an alias is resolved to its version once, at start."""
    import mlflow
    from mlflow.exceptions import MlflowException

    version = None
    try:
        if uri.startswith("models:/") and "@" in uri:
            name, alias = uri[len("models:/") :].split("@", 1)
            mv = mlflow.MlflowClient().get_model_version_by_alias(name, alias)
            version = mv.version
            uri = f"models:/{name}/{version}"
        return mlflow.pyfunc.load_model(uri), uri, version
    except MlflowException as exc:
        raise ValueError(
            f"cannot load model {uri} from {mlflow.get_tracking_uri()} ({exc.message}); "
            "train one with `clonescout train` and `clonescout promote`, or pass --model"
        ) from None


def cmd_score(args: argparse.Namespace, data: CampaignData) -> int:
    setup_mlflow(None)
    model, uri, version = resolve_model(args.model)
    bundle = model.unwrap_python_model().bundle
    frame = long_frame(data)
    horizon = bundle.featurizer.horizon_day
    sampled = set(frame.loc[frame["day"] <= horizon, "run_id"])
    index = run_index(data)
    reject = ~index["run_id"].isin(sampled)
    rejects = index.loc[reject, ["run_id"]].assign(
        reason=f"no samples at or before horizon day {horizon:g}"
    )
    scored = model.predict(frame[frame["run_id"].isin(sampled)])
    scored.insert(1, "model_version", version or uri)
    _write(scored, args.out)
    rej_path = args.out.with_name(args.out.stem + ".rejects.csv")
    if len(rejects):
        rejects.to_csv(rej_path, index=False)
    print(
        f"{len(index)} runs in: {len(scored)} scored, {len(rejects)} rejected -> {args.out} "
        f"(model {uri})"
    )
    if data.outcomes is not None:
        _judge(scored, data.outcomes, bundle, frame[frame["run_id"].isin(sampled)])
    return 0


def _write(df: pd.DataFrame, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    if out.suffix == ".parquet":
        df.to_parquet(tmp, index=False)
    else:
        df.to_csv(tmp, index=False)
    tmp.replace(out)


def _judge(scored: pd.DataFrame, outcomes: pd.DataFrame, bundle, frame: pd.DataFrame) -> None:
    from training.cv import regression_metrics

    obs = outcomes.set_index("run_id").reindex(scored["run_id"])
    naive = bundle.naive(bundle.features(frame)).reindex(scored["run_id"])
    print("\nagainst the observed outcomes of the scored runs:")
    print(
        f"{'target':<18} {'model R2':>8} {'rho':>6} {'MAE':>8} | {'naive R2':>8} "
        f"{'rho':>6} {'MAE':>8}"
    )
    for t in bundle.targets:
        if t not in obs.columns:
            continue
        y = obs[t].to_numpy(float)
        m = regression_metrics(y, scored[t].to_numpy(float))
        n = regression_metrics(y, naive[t].to_numpy(float)) if t in naive else {}
        print(
            f"{t:<18} {_fmt(m['r2']):>8} {_fmt(m['spearman'])} {m['mae']:8.4f} | "
            f"{_fmt(n.get('r2', float('nan'))):>8} {_fmt(n.get('spearman', float('nan')))} "
            f"{n.get('mae', float('nan')):8.4f}"
        )
