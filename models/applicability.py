"""Applicability domain: whether a new run lies inside the model's experience.

PCA on the standardised training features (missing values imputed with the training
median), as in SIMCA: Hotelling's T² measures how far a run lies *within* the model plane
from the centre; DModX measures how far it lies *off* the plane (the residual not
explained by the components), normalised by the pooled training residual (Eriksson et al.,
Multi- and Megavariate Data Analysis).

The limits come from *held-out* scores: each fold's runs are scored by a PCA fitted
without them (same number of components as the final PCA). The training runs' own scores
are smaller than a new run's (the PCA was fitted to them), so limits taken from them put
several times the nominal share of new runs "outside"; the textbook F-distribution limits
assume normal scores, which culture data with outliers and imputed gaps do not have.

A run is "outside experience" when it exceeds the T² limit *or* the DModX limit, so the
two limits are set together: both at the same quantile q of their held-out scores, with q
the smallest (between 1 - a and 1 - a/2, Bonferroni) for which at most a share a of the
held-out runs exceeds either. a = 1% gives "outside", a = 5% "borderline".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.numeric import standardise, standardiser

INSIDE, BORDERLINE, OUTSIDE = "inside", "borderline", "outside"
VARIANCE_TO_EXPLAIN = 0.90
MAX_COMPONENTS = 20
ALPHAS = (0.05, 0.01)  # borderline, outside: share of held-out runs beyond either limit


@dataclass(frozen=True)
class ApplicabilityDomain:
    """Fitted PCA model of the training features, with T² and DModX limits."""

    median: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    components: np.ndarray  # (k, p)
    eigenvalues: np.ndarray  # (k,) variance of each score
    s0: float  # pooled residual standard deviation of the training set
    t2_limits: tuple[float, float] = (np.inf, np.inf)  # 95%, 99%
    dmodx_limits: tuple[float, float] = (np.inf, np.inf)

    @classmethod
    def fit_pca(cls, X: np.ndarray, k: int | None = None) -> ApplicabilityDomain:
        """The PCA alone (no limits); ``k`` components, or enough for 90% of the variance."""
        X = np.asarray(X, dtype=float)
        n, p = X.shape
        median, mean, scale = standardiser(X)
        Z = standardise(X, median, mean, scale)
        _, sing, vt = np.linalg.svd(Z, full_matrices=False)
        var = sing**2 / max(n - 1, 1)
        if k is None:
            share = np.cumsum(var) / max(var.sum(), 1e-12)
            k = int(np.searchsorted(share, VARIANCE_TO_EXPLAIN) + 1)
        k = int(max(1, min(k, MAX_COMPONENTS, n - 2, p)))
        comps, eig = vt[:k], np.maximum(var[:k], 1e-12)
        resid = Z - (Z @ comps.T) @ comps
        dof = max(p - k, 1)
        s0 = float(np.sqrt((resid**2).sum() / (max(n - k - 1, 1) * dof)))
        return cls(median, mean, scale, comps, eig, max(s0, 1e-12))

    @classmethod
    def fit(cls, X: np.ndarray, folds) -> ApplicabilityDomain:
        """PCA on all of ``X``, limits from held-out scores over ``folds`` (index pairs)."""
        X = np.asarray(X, dtype=float)
        final = cls.fit_pca(X)
        k = len(final.eigenvalues)
        t2 = np.full(len(X), np.nan)
        dmodx = np.full(len(X), np.nan)
        for train, test in folds:
            t2[test], dmodx[test], _ = cls.fit_pca(X[train], k).score(X[test])
        return final.with_limits(t2, dmodx)

    def with_limits(self, t2: np.ndarray, dmodx: np.ndarray) -> ApplicabilityDomain:
        """The same PCA with limits that put 5% / 1% of the given scores beyond either."""
        pairs = [_joint_limits(t2, dmodx, a) for a in ALPHAS]
        t2_lim = tuple(p[0] for p in pairs)
        dm_lim = tuple(p[1] for p in pairs)
        return ApplicabilityDomain(
            self.median,
            self.mean,
            self.scale,
            self.components,
            self.eigenvalues,
            self.s0,
            t2_lim,  # type: ignore[arg-type]
            dm_lim,  # type: ignore[arg-type]
        )

    def score(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Hotelling T², DModX (normalised) and a status per row."""
        X = np.asarray(X, dtype=float)
        Z = standardise(X, self.median, self.mean, self.scale)
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

    def explain(self, t2: float, dmodx: float) -> str:
        """Which limit a run crossed, in words."""
        parts = []
        if t2 > self.t2_limits[1]:
            parts.append(f"T² {t2:.3g} above the 99% limit {self.t2_limits[1]:.3g}")
        elif t2 > self.t2_limits[0]:
            parts.append(f"T² {t2:.3g} above the 95% limit {self.t2_limits[0]:.3g}")
        if dmodx > self.dmodx_limits[1]:
            parts.append(f"DModX {dmodx:.3g} above the 99% limit {self.dmodx_limits[1]:.3g}")
        elif dmodx > self.dmodx_limits[0]:
            parts.append(f"DModX {dmodx:.3g} above the 95% limit {self.dmodx_limits[0]:.3g}")
        # (the 95%/99% limits are joint: together they leave 5%/1% of held-out runs out)
        return "; ".join(parts)

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


def _joint_limits(t2: np.ndarray, dmodx: np.ndarray, alpha: float) -> tuple[float, float]:
    """Limits at one common quantile with at most ``alpha`` of runs beyond either."""
    ok = ~np.isnan(t2) & ~np.isnan(dmodx)
    t2, dmodx = t2[ok], dmodx[ok]
    for q in np.linspace(1 - alpha, 1 - alpha / 2, 51):
        a, b = float(np.quantile(t2, q)), float(np.quantile(dmodx, q))
        if np.mean((t2 > a) | (dmodx > b)) <= alpha:
            break
    return a, b
