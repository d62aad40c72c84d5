"""Training settings, read once at the edge (CLI) and passed down."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from models.registry import MODEL_NAME

CURVE_HORIZONS = (3.0, 5.0, 7.0, 10.0, 14.0)


@dataclass(frozen=True)
class TrainSettings:
    """What to train and how hard to search.

    ``trials`` is per model family (yield-like targets share one study, glycan attributes
    another) and per tuning: the nested evaluation tunes once in each of the ``n_folds``
    outer folds (on ``inner_folds`` inner folds) and once more for the final model.
    """

    spec_path: Path
    targets: tuple[str, ...] = ()  # empty: purification yield + the spec's glycan attributes
    horizon_day: float = 7.0
    trials: int = 15
    n_folds: int = 5
    inner_folds: int = 3
    seed: int = 7
    exclude: tuple[str, ...] = ()  # feature name patterns left out (fnmatch)
    curve_horizons: tuple[float, ...] = CURVE_HORIZONS
    workers: int = 1  # Optuna worker processes sharing each study (1: in this process)
    optuna_storage: str | None = None  # RDB URL or journal:PATH; None: memory / scratch file
    threads: int = 0  # XGBoost threads for the whole machine, shared by workers; 0: all
    experiment: str = MODEL_NAME
    model_name: str | None = MODEL_NAME  # None: log the bundle but do not register it

    def __post_init__(self) -> None:
        if self.trials < 1:
            raise ValueError(f"trials must be >= 1, got {self.trials}")
        if self.n_folds < 3:
            raise ValueError(
                f"outer folds must be >= 3 for a nested evaluation, got {self.n_folds}"
            )
        if self.inner_folds < 2:
            raise ValueError(f"inner folds must be >= 2, got {self.inner_folds}")
        if self.workers < 1:
            raise ValueError(f"tuning workers must be >= 1, got {self.workers}")
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0 (0: every core), got {self.threads}")
        if self.horizon_day <= 0:
            raise ValueError(f"horizon_day must be > 0, got {self.horizon_day}")
