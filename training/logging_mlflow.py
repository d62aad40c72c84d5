"""MLflow logging helpers: flattened metrics and the one pyfunc bundle."""

from __future__ import annotations

import math
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import ModelSignature, infer_signature
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema, TensorSpec

from features.assemble import long_frame
from features.contract.loader import CampaignData
from models.bundle import Bundle
from models.packed import SAMPLES_COLUMN
from training.provenance import library_versions

REPO = Path(__file__).resolve().parents[1]
CODE_PATHS = [str(REPO / "features"), str(REPO / "models")]
ENTRY = str(REPO / "models" / "pyfunc_entry.py")  # models from code: no pickle


def flatten(tree: dict, prefix: str = "") -> dict[str, float]:
    out = {}
    for k, v in tree.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        elif isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            out[key] = float(v)
    return out


def log_metrics_tree(metrics: dict) -> None:
    mlflow.log_metrics(flatten({k: v for k, v in metrics.items() if k != "mlflow_run_id"}))


def log_families(selection: dict[str, dict]) -> None:
    """Each target's family weights (a tag with why, and metrics) and the inner scores."""
    for t, sel in selection.items():
        mlflow.set_tag(f"clonescout.family.{t}", sel["label"])
        mlflow.set_tag(f"clonescout.family.{t}.why", sel["why"][:5000])
    mlflow.log_metrics(flatten({t: sel["inner"] for t, sel in selection.items()}, "inner."))
    mlflow.log_metrics(flatten({t: sel["weights"] for t, sel in selection.items()}, "weight."))
    mlflow.log_dict(selection, "evaluation/model_families.json")


def _type(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_numeric_dtype(series):
        return "double"
    return "string"


def input_schema(example: pd.DataFrame) -> Schema:
    """Either layout of :class:`models.bundle.ClonescoutModel`: ``run_id`` required.

    The long layout has ``day`` (the bundle refuses a long frame without it); the packed
    layout (one row per run, for Spark) has ``samples_json`` instead. Every measurement and
    attribute is optional.
    """
    cols: list[ColSpec | TensorSpec] = [
        ColSpec("string", "run_id"),
        ColSpec("double", "day", required=False),
    ]
    cols += [
        ColSpec(_type(example[c]), c, required=False)
        for c in example.columns
        if c not in ("run_id", "day")
    ]
    cols.append(ColSpec("string", SAMPLES_COLUMN, required=False))
    return Schema(cols)


def campaign_list(ids: list[str], limit: int = 5000) -> str:
    """Campaign ids comma-joined within ``limit`` characters (the rest counted, not cut)."""
    text = ""
    for n, c in enumerate(ids):
        more = f" and {len(ids) - n} more"
        piece = (", " if text else "") + c
        if len(text) + len(piece) + len(more) > limit:
            return text + more
        text += piece
    return text


def log_bundle(bundle: Bundle, folder: Path, data: CampaignData, model_name: str | None):
    """Save the bundle, log it as a pyfunc with signature and example, register it."""
    bundle.save(folder)
    frame = long_frame(data)
    first_runs = frame["run_id"].drop_duplicates().iloc[:2]
    example = frame[frame["run_id"].isin(first_runs)].reset_index(drop=True)
    numeric = example.select_dtypes("number").columns
    example[numeric] = example[numeric].astype(float)
    output = bundle.score(example)
    signature = ModelSignature(
        inputs=input_schema(example),
        outputs=infer_signature(example, output).outputs,
        # per-run reasons: "reasons" all | flagged | none ("" follows the older "explain")
        params=ParamSchema(
            [ParamSpec("explain", "boolean", True), ParamSpec("reasons", "string", "")]
        ),
    )
    versions = library_versions()
    reqs = [
        f"{lib}=={versions[lib]}"
        for lib in ("numpy", "pandas", "scikit-learn", "xgboost", "pyyaml", "scipy", "mlflow")
    ]
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=ENTRY,
        artifacts={"bundle": str(folder)},
        signature=signature,
        input_example=example,
        pip_requirements=reqs,
        code_paths=CODE_PATHS,
        registered_model_name=model_name,
    )
    version = None
    if model_name:
        version = str(info.registered_model_version)
        client = mlflow.MlflowClient()
        man = bundle.manifest
        tags = {
            **{k: man[k] for k in ("training_data_hash", "code_commit", "horizon_day", "model_id")},
            "targets": ",".join(man["targets"]),
            "grouping": man["recipe"]["grouping"],
            "folds_hash": man["cv_metrics"]["evaluation"]["folds_hash"],
            "n_runs": man["cv_metrics"]["n_runs"],
            "spec_name": man["spec_name"],
            # which campaigns this version learned from (artifact data/campaigns.csv of
            # its run has runs and clones per campaign); a tag value holds 5000 characters
            "campaigns": campaign_list([c["campaign_id"] for c in man["training_campaigns"]]),
            "n_campaigns": len(man["training_campaigns"]),
        }
        for key, value in tags.items():
            client.set_model_version_tag(model_name, version, key, str(value))
    return info, version


def log_baselines(metrics: dict) -> None:
    """One nested run per baseline (titer rank, PLS) with its held-out metrics."""
    for name in ("titer_rank", "pls"):
        with mlflow.start_run(run_name=f"baseline-{name}", nested=True):
            mlflow.set_tag("clonescout.role", "baseline")
            for t, block in metrics["targets"].items():
                b = block.get("baselines", {}).get(name, {})
                if b.get("skipped"):
                    mlflow.set_tag(f"{t}.skipped", b["reason"])
                    continue
                for k in ("spearman", "r2", "mae"):
                    if b.get(k) is not None and b[k] == b[k]:
                        mlflow.log_metric(f"{t}.{k}", float(b[k]))
            risk = metrics.get("glyco_risk", {}).get("baselines", {}).get(name, {})
            for k in ("auroc", "brier"):
                if risk.get(k) is not None and risk[k] == risk[k]:
                    mlflow.log_metric(f"glyco_risk.{k}", float(risk[k]))
