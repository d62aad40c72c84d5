"""Training settings, read once at the edge (CLI) and passed down."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CURVE_HORIZONS = (3.0, 5.0, 7.0, 10.0, 14.0)


@dataclass(frozen=True)
class TrainSettings:
    """What to train and how hard to search.

    ``trials`` is per model family (yield-like targets share one study, glycan attributes
    another), so the default demo budget of 15 is ~30 trials in all.
    """

    spec_path: Path
    targets: tuple[str, ...] = ()  # empty: purification yield + the spec's glycan attributes
    horizon_day: float = 7.0
    trials: int = 15
    n_folds: int = 5
    seed: int = 7
    curve_horizons: tuple[float, ...] = CURVE_HORIZONS
    experiment: str = "clonescout"
    model_name: str | None = "clonescout"  # None: log the bundle but do not register it

    def __post_init__(self) -> None:
        if self.trials < 1:
            raise ValueError(f"trials must be >= 1, got {self.trials}")
        if self.n_folds < 2:
            raise ValueError(f"n_folds must be >= 2, got {self.n_folds}")
        if self.horizon_day <= 0:
            raise ValueError(f"horizon_day must be > 0, got {self.horizon_day}")
