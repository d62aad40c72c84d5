"""The titer-only baseline: a straight line of the outcome on the titer at the horizon.

Fitted by training (``training.baselines``) beside every model and stored in the bundle's
manifest, so that ``clonescout score`` can show what ranking by titer would have said on
the same new runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.numeric import column_medians

MIN_TITER_RUNS = 5


@dataclass(frozen=True)
class TiterLine:
    """Outcome = intercept + slope * titer; a missing titer takes the training median."""

    feature: str
    slope: float
    intercept: float
    fill: float

    @classmethod
    def fit(cls, X: pd.DataFrame, y: np.ndarray, feature: str) -> TiterLine | None:
        x = X[feature].to_numpy(float)
        ok = ~np.isnan(x) & ~np.isnan(y)
        if ok.sum() < MIN_TITER_RUNS or np.ptp(x[ok]) == 0:
            return None
        slope, intercept = np.polyfit(x[ok], y[ok], 1)
        return cls(feature, float(slope), float(intercept), float(column_medians(x[:, None])[0]))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.intercept + self.slope * X[self.feature].fillna(self.fill).to_numpy(float)

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict) -> TiterLine:
        return cls(str(d["feature"]), float(d["slope"]), float(d["intercept"]), float(d["fill"]))
