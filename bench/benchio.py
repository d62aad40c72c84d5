"""What every benchmark does last: write its JSON result, show it, exit 1 if it missed."""

from __future__ import annotations

import json
from pathlib import Path


def finish(result: dict, out: Path, hide: tuple[str, ...] = ()) -> int:
    """Write ``result`` to ``out``; print it without the ``hide`` keys; 0 if on target."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in hide}, indent=2))
    return 0 if result["meets_target"] else 1


def small_registered_model(root: Path, name: str = "clonescout-bench"):
    """Train and register a model in a throw-away MLflow store under ``root``.

    6 simulated campaigns and a small tuning budget: speed does not depend on accuracy.
    Returns the model URI and the training data.
    """
    import mlflow

    from features.loader import load_campaign
    from features.spec import DEFAULT_SPEC_PATH
    from simulator.campaign import SimulationConfig, simulate_set, write_set
    from training.pipeline import train
    from training.settings import TrainSettings

    cfg = SimulationConfig(n_campaigns=6, clones_per_campaign=30, seed=21, deep_clone_share=0.0)
    write_set(simulate_set(cfg), root / "set", cfg, "parquet")
    data = load_campaign(root / "set", require_outcomes=True)
    mlflow.set_tracking_uri(f"sqlite:///{root}/mlflow.db")
    mlflow.create_experiment("bench", artifact_location=str(root / "artifacts"))
    mlflow.set_experiment("bench")
    settings = TrainSettings(
        spec_path=DEFAULT_SPEC_PATH,
        trials=3,
        n_folds=3,
        inner_folds=2,
        curve_horizons=(),
        model_name=name,
    )
    train(data, settings)
    return f"models:/{name}/1", data
