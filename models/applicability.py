"""Applicability domain: whether a new run lies inside the model's experience.

PCA on the standardised training features (missing values imputed with the training
median), as in SIMCA: Hotelling's T² measures how far a run lies *within* the model plane
from the centre; DModX measures how far it lies *off* the plane (the residual not
explained by the components), normalised by the pooled training residual (Eriksson et al.,
Multi- and Megavariate Data Analysis). The limits are the 95th and 99th percentiles of the
training runs' own T² and DModX: the textbook F-distribution limits assume normal scores,
and culture data with outliers and imputed gaps put ~12% of their own training runs
beyond the F-based 99% DModX limit. Beyond the 99% limit on either, a prediction is
"outside experience" and its flag reads "unknown".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.numeric import column_medians

INSIDE, BORDERLINE, OUTSIDE = "inside", "borderline", "outside"
VARIANCE_TO_EXPLAIN = 0.90
MAX_COMPONENTS = 20


@dataclass(frozen=True)
class ApplicabilityDomain:
    """Fitted PCA model of the training features, with T² and DModX limits."""

    median: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    components: np.ndarray  # (k, p)
    eigenvalues: np.ndarray  # (k,) variance of each score
    s0: float  # pooled residual standard deviation of the training set
    t2_limits: tuple[float, float]  # 95%, 99%
    dmodx_limits: tuple[float, float]

    @classmethod
    def fit(cls, X: np.ndarray) -> ApplicabilityDomain:
        X = np.asarray(X, dtype=float)
        n, p = X.shape
        median = column_medians(X)
        Z = np.where(np.isnan(X), median, X)
        mean, scale = Z.mean(axis=0), Z.std(axis=0)
        scale = np.where(scale > 1e-12, scale, 1.0)
        Z = (Z - mean) / scale
        _, sing, vt = np.linalg.svd(Z, full_matrices=False)
        var = sing**2 / (n - 1)
        share = np.cumsum(var) / var.sum()
        k = int(min(np.searchsorted(share, VARIANCE_TO_EXPLAIN) + 1, MAX_COMPONENTS, n - 2, p))
        comps, eig = vt[:k], var[:k]
        resid = Z - (Z @ comps.T) @ comps
        dof = max(p - k, 1)
        s0 = float(np.sqrt((resid**2).sum() / ((n - k - 1) * dof)))
        fitted = cls(median, mean, scale, comps, eig, s0, (np.inf, np.inf), (np.inf, np.inf))
        t2_train, dmodx_train, _ = fitted.score(X)
        t2 = tuple(float(np.quantile(t2_train, q)) for q in (0.95, 0.99))
        dm = tuple(float(np.quantile(dmodx_train, q)) for q in (0.95, 0.99))
        return cls(median, mean, scale, comps, eig, s0, t2, dm)  # type: ignore[arg-type]

    def score(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Hotelling T², DModX (normalised) and a status per row."""
        X = np.asarray(X, dtype=float)
        Z = (np.where(np.isnan(X), self.median, X) - self.mean) / self.scale
        t = Z @ self.components.T
        t2 = (t**2 / self.eigenvalues).sum(axis=1)
        resid = Z - t @ self.components
        dof = max(Z.shape[1] - len(self.eigenvalues), 1)
        dmodx = np.sqrt((resid**2).sum(axis=1) / dof) / self.s0
        status = np.where(
            (t2 > self.t2_limits[1]) | (dmodx > self.dmodx_limits[1]),
            OUTSIDE,
            np.where((t2 > self.t2_limits[0]) | (dmodx > self.dmodx_limits[0]), BORDERLINE, INSIDE),
        )
        return t2, dmodx, status

    def to_dict(self) -> dict:
        return {
            k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self.__dict__.items()
        }

    @classmethod
    def from_dict(cls, d: dict) -> ApplicabilityDomain:
        def arr(key: str) -> np.ndarray:
            return np.asarray(d[key], dtype=float)

        t2, dm = d["t2_limits"], d["dmodx_limits"]
        return cls(
            arr("median"),
            arr("mean"),
            arr("scale"),
            arr("components"),
            arr("eigenvalues"),
            float(d["s0"]),
            (float(t2[0]), float(t2[1])),
            (float(dm[0]), float(dm[1])),
        )
