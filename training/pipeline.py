"""``clonescout train``: check, evaluate by nested grouped CV, fit the bundle, log it.

Order of work: every precondition is checked before the first trial
(:mod:`training.dataset`); then the nested evaluation gives the reported numbers
(:mod:`training.nested`); then the same recipe is fitted on all runs and logged as the
one pyfunc bundle. A model whose intervals could not be calibrated is logged but not
registered, so it can never become champion.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd

from features.assemble import GROUP_COLUMN, long_frame
from features.contract.loader import CampaignData
from features.contract.spec import ProductSpec, load_spec
from models.bundle import Bundle
from models.conformal import LEVELS
from models.drift import DriftReference, build_reference, domain_columns, held_out_domain
from models.fingerprint import fingerprints
from models.process import ProcessModel
from training import plots
from training.curve import horizon_curve
from training.dataset import TrainingSet, prepare
from training.evaluate import reliability_table
from training.experiment import Evaluation, evaluate
from training.logging_mlflow import log_baselines, log_bundle, log_families, log_metrics_tree
from training.nested import outer_folds
from training.process import ProcessModelError, fit_process_model
from training.provenance import code_commit, data_hash, library_versions
from training.recipe import FittedRecipe, Recipe, fit_recipe
from training.settings import TrainSettings
from training.workers import SERIAL, Tuner, redact

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
    not_registered_because: str = ""


def choose_targets(data: CampaignData, spec: ProductSpec, asked: tuple[str, ...]) -> list[str]:
    if asked:
        return list(dict.fromkeys(asked))
    if data.outcomes is None:
        return ["dsp_yield_pct"]  # prepare() refuses with the reason
    available = set(data.outcomes.columns)
    # every attribute the spec limits is judged: the yield, the downstream limits (HMW,
    # HCP: what polishing pays for), the glycans
    downstream = [lim.attribute for lim in spec.downstream]
    wanted = ("dsp_yield_pct", *downstream, *spec.glycan_attributes)
    default = [t for t in dict.fromkeys(wanted) if t in available]
    if not default:
        raise ValueError(
            "no default target in the outcomes (dsp_yield_pct or the spec's glycans); name "
            f"one with --target, from: {', '.join(str(c) for c in data.outcomes if c != 'run_id')}"
        )
    return default


def families(targets: list[str], spec: ProductSpec) -> dict[str, list[str]]:
    glycans = [t for t in targets if t in spec.glycan_attributes]
    others = [t for t in targets if t not in glycans]
    return {k: v for k, v in (("yield", others), ("glycans", glycans)) if v}


def make_recipe(
    ts: TrainingSet, spec: ProductSpec, s: TrainSettings, tuner: Tuner = SERIAL
) -> Recipe:
    return Recipe(
        families=families(list(ts.y.columns), spec),
        spec=spec,
        horizon_day=s.horizon_day,
        measurements=list(ts.transformer.measurements_),
        trials=s.trials,
        inner_folds=s.inner_folds,
        seed=s.seed,
        tuner=tuner,
    )


def not_registrable(metrics: dict, final: FittedRecipe) -> str:
    """Why this model must not be registered ("" when it may be)."""
    why = []
    for t, block in metrics["targets"].items():
        for lv, rep in block["model"]["coverage"].items():
            if not rep["estimable"]:
                why.append(f"{t}: {lv} coverage not estimable ({rep['reason']})")
    for t, cal in final.predictor.intervals.items():
        why += [
            f"{t}: no {lv} interval (too few runs or campaigns)"
            for lv in LEVELS
            if not cal.estimable(lv)
        ]
    return "; ".join(why)


def train(data: CampaignData, s: TrainSettings) -> TrainReport:
    """Nested evaluation, the final fit and its registration, as one MLflow run.

    Every precondition (targets, data, the Optuna storage) is checked before any tuning;
    the tuning workers, if any, are started once and stopped at the end.
    """
    spec = load_spec(s.spec_path)
    targets = choose_targets(data, spec, s.targets)
    ts = prepare(data, targets, s.horizon_day, s.exclude)  # refuses here, before any tuning
    with Tuner(s.workers, s.optuna_storage, s.threads) as tuner:
        return _train(data, s, spec, ts, targets, make_recipe(ts, spec, s, tuner))


def _train(
    data: CampaignData,
    s: TrainSettings,
    spec: ProductSpec,
    ts: TrainingSet,
    targets: list[str],
    recipe: Recipe,
) -> TrainReport:
    folds = outer_folds(ts, s.n_folds)
    digest = data_hash(data.tables())
    log.info(
        "training %s on %d runs of %d campaigns at horizon day %g: %d runs in, %d used, "
        "%d rejected; CV grouped by %s",
        ", ".join(targets),
        len(ts.X),
        ts.campaigns.nunique(),
        s.horizon_day,
        ts.n_runs_in,
        len(ts.X),
        len(ts.rejects),
        ts.grouping.column,
    )
    for w in ts.warnings:
        log.warning("warning: %s", w)
    nested = mlflow.active_run() is not None  # under `mlflow run` the run nests inside it
    with mlflow.start_run(run_name=f"train-h{s.horizon_day:g}", nested=nested) as run:
        _log_inputs(ts, s, targets, len(folds), digest, data.folder)
        ev = evaluate(ts, recipe, folds, data.truth, data.outcomes)
        ev.metrics["evaluation"]["excluded_features"] = list(s.exclude)
        metrics = {**ev.metrics, "mlflow_run_id": run.info.run_id}
        log_metrics_tree(metrics)
        log_baselines(metrics)
        log.info("nested evaluation done; fitting the recipe on all %d runs", len(ts.X))
        final = fit_recipe(ts.X, ts.y, ts.groups.reindex(ts.X.index), recipe, log_mlflow=True)
        metrics["model_families"] = final.selection
        log_families(final.selection)
        curve = horizon_curve(data, ts, ev, spec, s.curve_horizons, s.seed, s.exclude)
        process = _process_model(data, spec, s.seed, metrics)
        why_not = not_registrable(metrics, final)
        with tempfile.TemporaryDirectory() as tmp:
            out = _write_artifacts(Path(tmp), metrics, curve, ev, ts)
            mlflow.log_artifacts(str(out), artifact_path="evaluation")
            bundle = _bundle(data, ts, final, s, metrics, digest, run.info.run_id)
            bundle.process = process
            name = None if why_not else s.model_name
            if why_not:
                log.warning("model logged but NOT registered: %s", why_not)
                mlflow.set_tag("clonescout.not_registered", why_not)
            info, version = log_bundle(bundle, Path(tmp) / "bundle", data, name)
        return TrainReport(metrics, curve, run.info.run_id, info.model_uri, version, why_not)


def _process_model(
    data: CampaignData, spec: ProductSpec, seed: int, metrics: dict
) -> ProcessModel | None:
    """The what-if model, or None with the reason in ``metrics`` (the bundle still serves)."""
    try:
        process = fit_process_model(data, spec, seed)
    except ProcessModelError as err:
        log.warning("no process model in this bundle (what-if unavailable): %s", err)
        metrics["process_model"] = {"skipped": str(err)}
        mlflow.set_tag("clonescout.process_model", f"skipped: {err}")
        return None
    metrics["process_model"] = process.metrics
    for t, block in process.metrics["targets"].items():
        for kind in ("no_anchor", "one_run_anchor"):
            if kind in block:
                mlflow.log_metric(f"process.{t}.{kind}.r2", block[kind]["r2"])
    return process


def _bundle(
    data: CampaignData,
    ts: TrainingSet,
    final: FittedRecipe,
    s: TrainSettings,
    metrics: dict,
    digest: str,
    run_id: str,
) -> Bundle:
    frame = long_frame(data)
    frame = frame[frame["run_id"].isin(set(ts.X.index))]
    manifest = {
        "model_id": f"{digest[:12]}-{run_id[:8]}",
        "targets": list(ts.y.columns),
        "horizon_day": s.horizon_day,
        "feature_names": final.predictor.feature_names,
        "dropped_features": final.dropped,
        "required_families": sorted(final.predictor.required),
        "training_data_hash": digest,
        "code_commit": code_commit(REPO),
        "libraries": library_versions(),
        "params": final.params,
        "pls_components": final.pls_components,
        "model_families": final.selection,
        "spec_name": final.predictor.spec.name,
        "recipe": {
            "trials_per_family": s.trials,
            "outer_folds": metrics["evaluation"]["outer_folds"],
            "inner_folds": s.inner_folds,
            "grouping": ts.grouping.column,
            "seed": s.seed,
            "exclude": list(s.exclude),
        },
        "naive_baseline": {t: line.to_dict() for t, line in final.titer.items()},
        "cv_metrics": metrics,
        "drift_reference": _drift_reference(ts, final).to_dict(),
        "training_campaigns": learned_from(ts).to_dict(orient="records"),
    }
    return Bundle(
        ts.transformer,
        final.predictor,
        s.spec_path,
        manifest,
        {str(k): str(v) for k, v in fingerprints(frame, ts.transformer).items()},
    )


def _drift_reference(ts: TrainingSet, final: FittedRecipe) -> DriftReference:
    """Per training campaign, the model's features and held-out T², DModX (models.drift)."""
    predictor = final.predictor
    ids = ts.ids.set_index("run_id").reindex(ts.X.index)
    A = predictor.matrix(ts.X).astype(float)
    campaigns = ids[GROUP_COLUMN].astype(str)
    t2, dmodx = held_out_domain(A, campaigns.to_numpy(), predictor.domain)
    X = ts.X.reindex(columns=predictor.feature_names)
    return build_reference(X, ids["clone_id"], campaigns, domain_columns(t2, dmodx))


def learned_from(ts: TrainingSet) -> pd.DataFrame:
    """The campaigns a model learns from: runs and clones used per campaign, sorted."""
    ids = ts.ids.set_index("run_id").reindex(ts.X.index)
    table = ids.groupby(ids[GROUP_COLUMN].astype(str)).agg(
        runs=("clone_id", "size"), clones=("clone_id", "nunique")
    )
    return table.rename_axis("campaign_id").reset_index().sort_values("campaign_id")


def _log_inputs(
    ts: TrainingSet, s: TrainSettings, targets, n_folds: int, digest: str, folder: Path
) -> None:
    mlflow.set_tag("clonescout.role", "train")
    mlflow.set_tag("clonescout.grouping", ts.grouping.column)
    mlflow.log_params(
        {
            "targets": ",".join(targets),
            "horizon_day": s.horizon_day,
            "trials_per_family": s.trials,
            "outer_folds": n_folds,
            "inner_folds": s.inner_folds,
            "grouping": ts.grouping.column,
            "seed": s.seed,
            "exclude": ",".join(s.exclude) or "-",
            "optuna_workers": s.workers,
            "optuna_storage": redact(s.optuna_storage)
            if s.optuna_storage
            else ("memory" if s.workers == 1 else "scratch journal file"),
            "n_runs_in": ts.n_runs_in,
            "n_runs": len(ts.X),
            "n_rejected_runs": len(ts.rejects),
            "n_campaigns": int(ts.campaigns.nunique()),
            "data_hash": digest,
            # where the data was read (a default for `clonescout retrain`, which checks
            # that the folder still hashes to data_hash before it trusts it)
            "data_folder": str(Path(folder).resolve())[:500],
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rejects.csv"
        ts.rejects.to_csv(path, index=False)
        mlflow.log_artifact(str(path), artifact_path="data")
        path = Path(tmp) / "campaigns.csv"  # what this version learned from
        learned_from(ts).to_csv(path, index=False)
        mlflow.log_artifact(str(path), artifact_path="data")


def _write_artifacts(
    folder: Path, metrics: dict, curve: pd.DataFrame, ev: Evaluation, ts: TrainingSet
) -> Path:
    out = folder / "evaluation"
    out.mkdir()
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    if len(curve):
        curve.to_csv(out / "horizon_curve.csv", index=False)
        plots.horizon_plot(curve, out / "horizon_curve.png")
    ev.campaigns.to_csv(out / "per_campaign.csv", index=False)
    held_out = ev.outer.point.add_prefix("pred__").join(ts.y)
    held_out["outer_fold"] = ev.outer.fold
    held_out["campaign_id"] = ts.campaigns.reindex(ts.X.index)
    held_out["applicability"] = ev.outer.status
    held_out.to_csv(out / "outer_predictions.csv")
    risk, outside = ev.glyco_risk_oof, ev.glyco_outside
    if risk is not None and outside is not None:
        table = reliability_table(risk, outside)
        table.to_csv(out / "reliability.csv", index=False)
        plots.reliability_plot(
            table,
            out / "reliability.png",
            f"glycan risk, horizon day {ev.horizon_day:g} (nested CV, outer folds)",
        )
    return out
