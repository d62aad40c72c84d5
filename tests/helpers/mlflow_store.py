"""An MLflow store of a test's own (database and artifacts under a temporary folder)."""

from __future__ import annotations

from pathlib import Path

import mlflow


def use_tmp_mlflow(root: Path, experiment: str) -> str:
    """An MLflow store of its own under ``root`` (database and artifacts)."""
    uri = f"sqlite:///{root}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(experiment) is None:
        mlflow.create_experiment(experiment, artifact_location=str(root / "artifacts"))
    mlflow.set_experiment(experiment)
    return uri
