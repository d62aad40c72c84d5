"""``clonescout train``: tune, evaluate by grouped CV, fit the bundle, log it to MLflow."""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from features.assemble import TrainingSet, numeric_outcomes, training_set
from features.loader import CampaignData
from features.spec import ProductSpec, load_spec
from models.applicability import ApplicabilityDomain
from models.bundle import Bundle
from models.conformal import conformal_halfwidth
from models.estimators import fit_model
from models.numeric import column_medians
from training import plots
from training.cv import make_folds
from training.evaluate import reliability_table
from training.experiment import Evaluation, evaluate
from training.logging_mlflow import log_bundle, log_metrics_tree
from training.provenance import code_commit, data_hash, library_versions
from training.settings import TrainSettings
from training.tuning import tune_family

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]


@dataclass
class TrainReport:
    """What a training run produced and where MLflow keeps it."""

    metrics: dict  # the JSON contract of DESIGN.md §6
    curve: pd.DataFrame
    run_id: str
    model_uri: str
    registered_version: str | None


def choose_targets(data: CampaignData, spec: ProductSpec, asked: tuple[str, ...]) -> list[str]:
    if data.outcomes is None:
        raise ValueError("training needs an outcomes table (outcomes.csv or .parquet)")
    available = numeric_outcomes(data.outcomes)
    if asked:
        return list(asked)
    default = [t for t in ("dsp_yield_pct", *spec.glycan_attributes) if t in available]
    if not default:
        raise ValueError(
            "no default target in the outcomes (dsp_yield_pct or the spec's "
            f"glycans); name one with --target, from: {', '.join(available)}"
        )
    return default


def families(targets: list[str], spec: ProductSpec) -> dict[str, list[str]]:
    glycans = [t for t in targets if t in spec.glycan_attributes]
    others = [t for t in targets if t not in glycans]
    return {k: v for k, v in (("yield", others), ("glycans", glycans)) if v}


def _folds(ts: TrainingSet, n_folds: int):
    return make_folds(ts.groups, n_folds, fallback=ts.ids.set_index("run_id")["clone_id"])


def _tune(ts: TrainingSet, fams: dict[str, list[str]], folds, s: TrainSettings) -> dict:
    params: dict[str, dict] = {}
    X = ts.X.to_numpy(np.float32)
    for name, targets in fams.items():
        with mlflow.start_run(run_name=f"tune-{name}", nested=True):
            mlflow.set_tag("clonescout.role", "tuning")
            best, study = tune_family(name, X, ts.y[targets], folds, s.trials, s.seed)
            mlflow.log_params(best)
            mlflow.log_metric("best_cv_scaled_mae", study.best_value)
        for t in targets:
            params[t] = best
    return params


def horizon_curve(
    data: CampaignData,
    targets: list[str],
    params: dict,
    spec: ProductSpec,
    s: TrainSettings,
    at_main: Evaluation,
) -> pd.DataFrame:
    rows = []
    for h in sorted(set(s.curve_horizons) | {s.horizon_day}):
        if h == s.horizon_day:
            ev = at_main
        else:
            ts = training_set(data, targets, h)
            ev = evaluate(ts, params, _folds(ts, s.n_folds), spec, s.seed, h, with_baselines=False)
        for t, block in ev.metrics["targets"].items():
            m = block["model"]
            rows.append(
                {
                    "horizon_day": h,
                    "target": t,
                    "r2": m["r2"],
                    "spearman": m["spearman"],
                    "mae": m["mae"],
                    "coverage_90": m["coverage_90"],
                }
            )
        if "glyco_risk" in ev.metrics:
            rows.append(
                {"horizon_day": h, "target": "glyco_risk", **ev.metrics["glyco_risk"]["model"]}
            )
    return pd.DataFrame(rows)


def fit_bundle(
    ts: TrainingSet,
    ev: Evaluation,
    params: dict,
    spec_path: Path,
    seed: int,
    manifest: dict,
    featurizer,
) -> Bundle:
    X = ts.X.to_numpy(np.float32)
    fitted, widths = {}, {}
    for t in ts.y.columns:
        y = ts.y[t].to_numpy(float)
        ok = ~np.isnan(y)
        fitted[t] = fit_model(X[ok], y[ok], params[t], seed)
        resid = np.abs(y - ev.oof[t].to_numpy(float))
        widths[t] = {str(level): conformal_halfwidth(resid, level) for level in (0.8, 0.9)}
    residuals = (ts.y - ev.oof).reset_index(drop=True)
    manifest = {**manifest, "naive_baseline": naive_baseline(ts, manifest["horizon_day"])}
    return Bundle(
        featurizer,
        fitted,
        widths,
        residuals,
        load_spec(spec_path),
        spec_path,
        ApplicabilityDomain.fit(ts.X.to_numpy(float)),
        manifest,
    )


def naive_baseline(ts: TrainingSet, horizon_day: float) -> dict:
    """Fit the titer-only baseline: each target on the titer at the horizon.

    It is kept in the bundle so that scored data with outcomes is judged against it too.
    """
    from training.baselines import titer_column

    col = titer_column(ts.X, horizon_day)
    x = ts.X[col].to_numpy(float)
    out = {}
    for t in ts.y.columns:
        y = ts.y[t].to_numpy(float)
        ok = ~np.isnan(x) & ~np.isnan(y)
        slope, intercept = np.polyfit(x[ok], y[ok], 1)
        out[t] = {
            "feature": col,
            "slope": float(slope),
            "intercept": float(intercept),
            "fill": float(column_medians(x[:, None])[0]),
        }
    return out


def train(data: CampaignData, s: TrainSettings) -> TrainReport:
    spec = load_spec(s.spec_path)
    targets = choose_targets(data, spec, s.targets)
    ts = training_set(data, targets, s.horizon_day)
    folds = _folds(ts, s.n_folds)
    fams = families(targets, spec)
    digest = data_hash(data.tables())
    log.info(
        "training %s on %d runs of %d campaigns at horizon day %g (%d rejected runs)",
        ", ".join(targets),
        len(ts.X),
        ts.groups.nunique(),
        s.horizon_day,
        len(ts.rejects),
    )
    # under `mlflow run` (or any open run) the training run nests inside it
    nested = mlflow.active_run() is not None
    with mlflow.start_run(run_name=f"train-h{s.horizon_day:g}", nested=nested) as run:
        mlflow.set_tag("clonescout.role", "train")
        mlflow.log_params(
            {
                "targets": ",".join(targets),
                "horizon_day": s.horizon_day,
                "trials_per_family": s.trials,
                "n_folds": len(folds),
                "seed": s.seed,
                "n_runs": len(ts.X),
                "n_campaigns": int(ts.groups.nunique()),
                "data_hash": digest,
                "n_rejected_runs": len(ts.rejects),
            }
        )
        params = _tune(ts, fams, folds, s)
        ev = evaluate(
            ts, params, folds, spec, s.seed, s.horizon_day, True, data.truth, data.outcomes
        )
        _log_baselines(ev)
        metrics = {**ev.metrics, "mlflow_run_id": run.info.run_id}
        log_metrics_tree(metrics)
        curve = horizon_curve(data, targets, params, spec, s, ev)
        with tempfile.TemporaryDirectory() as tmp:
            out = _write_artifacts(Path(tmp), metrics, curve, ev, ts)
            mlflow.log_artifacts(str(out), artifact_path="evaluation")
            manifest = {
                "model_id": f"{digest[:12]}-{run.info.run_id[:8]}",
                "targets": targets,
                "horizon_day": s.horizon_day,
                "feature_names": list(ts.X.columns),
                "training_data_hash": digest,
                "code_commit": code_commit(REPO),
                "libraries": library_versions(),
                "params": params,
                "spec_name": spec.name,
                "cv_metrics": metrics,
            }
            bundle = fit_bundle(ts, ev, params, s.spec_path, s.seed, manifest, ts.transformer)
            info, version = log_bundle(bundle, Path(tmp) / "bundle", data, s.model_name)
        return TrainReport(metrics, curve, run.info.run_id, info.model_uri, version)


def _log_baselines(ev: Evaluation) -> None:
    for name in ("titer_rank", "pls"):
        with mlflow.start_run(run_name=f"baseline-{name}", nested=True):
            mlflow.set_tag("clonescout.role", "baseline")
            for t, block in ev.metrics["targets"].items():
                for k, v in block.get("baselines", {}).get(name, {}).items():
                    mlflow.log_metric(f"{t}.{k}", float(v))
            if name == "pls" and "glyco_risk" in ev.metrics:
                for k, v in ev.metrics["glyco_risk"].get("baselines", {}).get("pls", {}).items():
                    mlflow.log_metric(f"glyco_risk.{k}", float(v))


def _write_artifacts(
    folder: Path, metrics: dict, curve: pd.DataFrame, ev: Evaluation, ts: TrainingSet
) -> Path:
    out = folder / "evaluation"
    out.mkdir()
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    curve.to_csv(out / "horizon_curve.csv", index=False)
    plots.horizon_plot(curve, out / "horizon_curve.png")
    ev.campaigns.to_csv(out / "per_campaign.csv", index=False)
    oof = ev.oof.add_prefix("pred__").join(ts.y).join(ts.groups)
    oof.to_csv(out / "oof_predictions.csv")
    if ev.glyco_risk_oof is not None and ev.glyco_outside is not None:
        table = reliability_table(ev.glyco_risk_oof, ev.glyco_outside)
        table.to_csv(out / "reliability.csv", index=False)
        plots.reliability_plot(
            table,
            out / "reliability.png",
            f"glycan risk, horizon day {ev.horizon_day:g} (grouped CV)",
        )
    return out
