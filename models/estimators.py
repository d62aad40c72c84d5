"""The per-target model: a convex blend of linear models and boosted trees.

Four *learner families* serve each target, simplest first: ``titer`` (a straight line on
the titer at the horizon: ranking by titer, today's practice), ``pls`` (partial least
squares, what SIMCA users have), ``ridge`` (the linear trend alone) and ``boosted`` (the
trend, when tuned on, plus boosted trees on its residuals). :mod:`training.selection`
weighs them on grouped inner folds; the target's model is the ``blend`` of the families
with those weights (a family alone is a blend with one weight of 1). The three linear
families are stored the same way, one coefficient per standardised feature, so a weighted
sum of them is again one linear model, and the blend is at most that linear part plus the
boosted member scaled by its weight. Its reasons stay exact: the linear shares plus the
weight times the boosted member's tree SHAP.

Culture-to-quality relations are largely additive (a screen G0F, an Mn²⁺ supplement and
the ammonia level each move G0F by their own amount) with interactions and thresholds on
top. Trees approximate additive effects only in steps, so a target may start from a
linear trend — ridge regression on the standardised features (missing values: training
median) — and let XGBoost boost what it leaves (``base_margin``), as linear-tree boosting
does. Ridge rather than PLS: culture features come in correlated families (ammonia on
days 0-7, its maximum, slope and area), and ridge spreads weight evenly across a family
(the grouping effect; Hastie, Tibshirani & Friedman, ESL §3.4.1), where PLS with many
components trades large opposite coefficients within it. Both predict held-out campaigns
about as well, but on a 6-campaign twin set the G0F response to 60% more early ammonia
flips to the wrong sign with 15-20 PLS components and keeps the biological sign with the
ridge trend. The penalty is chosen per target on grouped held-out folds; whether a family
uses the trend at all is tuned. Both parts are saved without pickle: the trend as one
coefficient per feature.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xgboost as xgb

from models.numeric import standardise, standardiser

DEFAULT_PARAMS = {
    "n_estimators": 300,
    "learning_rate": 0.05,
    "max_depth": 4,
    "min_child_weight": 3.0,
    "subsample": 0.8,
    "colsample_bytree": 0.5,
    "reg_lambda": 1.0,
    "linear_base": False,
    "trend_alpha": 30.0,
}
FAMILIES = ("titer", "pls", "ridge", "boosted")  # simplest first
MAX_BIN = 64


@dataclass
class LinearTrend:
    """Linear (ridge) trend on median-imputed, standardised features."""

    median: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # per standardised feature
    intercept: float

    @classmethod
    def standardiser(cls, X: np.ndarray) -> LinearTrend:
        """Median imputation and standardisation learned from ``X`` (no coefficients yet)."""
        median, mean, scale = standardiser(X)
        return cls(median, mean, scale, np.zeros(X.shape[1]), 0.0)

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, alpha: float) -> LinearTrend:
        """Ridge with penalty ``alpha`` on the standardised features (intercept unpenalised).

        The standardised training features have mean 0, so the intercept is mean(y).
        """
        base = cls.standardiser(X)
        coef = ridge_path(base.standardised(X), y, (alpha,))[0]
        return cls(base.median, base.mean, base.scale, coef, float(np.mean(y)))

    def standardised(self, X: np.ndarray) -> np.ndarray:
        return standardise(X, self.median, self.mean, self.scale)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.standardised(X) @ self.coef + self.intercept

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Exact additive share of each feature (relative to the training mean)."""
        return self.standardised(X) * self.coef

    def to_dict(self) -> dict:
        return {
            k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self.__dict__.items()
        }

    @classmethod
    def from_dict(cls, d: dict) -> LinearTrend:
        def arr(key: str) -> np.ndarray:
            return np.asarray(d[key], dtype=float)

        return cls(arr("median"), arr("mean"), arr("scale"), arr("coef"), float(d["intercept"]))


def shap_matrix(X: np.ndarray) -> xgb.DMatrix:
    """The runs as XGBoost's SHAP needs them, built once for every target's contributions."""
    return xgb.DMatrix(np.asarray(X, np.float32))


def ridge_path(Z: np.ndarray, y: np.ndarray, alphas) -> np.ndarray:
    """Ridge coefficients of centred ``y`` on column-centred ``Z`` for each alpha (rows).

    One SVD serves every alpha: coef = V diag(s / (s² + alpha)) Uᵀ (y - ȳ).

    >>> Z = np.array([[-1.0], [0.0], [1.0]])
    >>> ridge_path(Z, np.array([1.0, 2.0, 3.0]), (0.0, 2.0)).round(3).tolist()
    [[1.0], [0.5]]
    """
    u, s, vt = np.linalg.svd(Z - Z.mean(axis=0), full_matrices=False)
    uty = u.T @ (y - y.mean())
    return np.stack([vt.T @ (s / (s**2 + a) * uty) for a in alphas])


def pls_as_linear(X: np.ndarray, y: np.ndarray, n_components: int) -> LinearTrend:
    """PLS on the median-imputed, standardised features, as a :class:`LinearTrend`.

    PLS predicts linearly, so its fitted model is one coefficient per standardised feature
    and an intercept: stored and explained like the ridge trend, without pickle.
    """
    from sklearn.cross_decomposition import PLSRegression

    base = LinearTrend.standardiser(X)
    Z = base.standardised(X)
    k = max(1, min(int(n_components), len(y) - 1, X.shape[1]))
    pls = PLSRegression(n_components=k, scale=False).fit(Z, y)
    coef = np.asarray(pls.coef_, dtype=float).reshape(-1)
    intercept = float(np.ravel(pls.intercept_)[0]) - float(pls._x_mean @ coef)
    return LinearTrend(base.median, base.mean, base.scale, coef, intercept)


def line_as_linear(X: np.ndarray, y: np.ndarray, column: int) -> LinearTrend:
    """A least-squares line on one column (missing: its median), as a :class:`LinearTrend`.

    >>> X = np.array([[1.0, 5.0], [2.0, 3.0], [3.0, np.nan]])
    >>> line_as_linear(X, np.array([2.0, 4.0, 6.0]), 0).predict(np.array([[4.0, 0.0]]))
    array([8.])
    """
    base = LinearTrend.standardiser(X)
    z = base.standardised(X)[:, column]
    coef = np.zeros(X.shape[1])
    zc = z - z.mean()
    denom = float(zc @ zc)
    coef[column] = float(zc @ (y - y.mean())) / denom if denom > 0 else 0.0
    intercept = float(y.mean()) - coef[column] * float(z.mean())
    return LinearTrend(base.median, base.mean, base.scale, coef, intercept)


def combine_linear(parts: list[tuple[float, LinearTrend]]) -> LinearTrend:
    """The weighted sum of linear models fitted on the same runs, as one linear model.

    Each was standardised on the same features, so only coefficients and intercepts add.

    >>> X, y = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]]), np.array([1.0, 2.0, 4.0])
    >>> a, b = line_as_linear(X, y, 0), line_as_linear(X, y, 1)
    >>> both = combine_linear([(0.25, a), (0.75, b)])
    >>> bool(np.allclose(both.predict(X), 0.25 * a.predict(X) + 0.75 * b.predict(X)))
    True
    """
    first = parts[0][1]
    for _, p in parts[1:]:
        if not (np.allclose(p.median, first.median) and np.allclose(p.scale, first.scale)):
            raise ValueError("linear members of a blend must be standardised on the same runs")
    coef = sum((w * p.coef for w, p in parts), np.zeros_like(first.coef))
    intercept = float(sum(w * p.intercept for w, p in parts))
    return LinearTrend(first.median, first.mean, first.scale, coef, intercept)


@dataclass
class TargetModel:
    """One target's model: a linear part, boosted trees (on an optional trend), or a blend.

    A blend scales the boosted member (trees on its own ``trend``) by ``booster_weight``
    and adds ``linear``, the weighted sum of the linear members.
    """

    booster: xgb.Booster | None
    trend: LinearTrend | None = None
    booster_weight: float = 1.0
    linear: LinearTrend | None = None

    @property
    def family(self) -> str:
        """``linear`` (any weighted sum of titer line, PLS, ridge), ``boosted`` or ``blend``."""
        if self.booster is None:
            return "linear"
        return "blend" if self._blended else "boosted"

    @property
    def _blended(self) -> bool:
        return self.booster is not None and (self.booster_weight != 1.0 or self.linear is not None)

    def _outside(self, tree_part: np.ndarray, X: np.ndarray, contributions: bool) -> np.ndarray:
        """Scale the boosted member by its weight and add the blend's linear members."""
        out = self.booster_weight * np.asarray(tree_part, float)
        if self.linear is not None:
            lin = self.linear.contributions if contributions else self.linear.predict
            out = out + lin(X.astype(float))
        return out.astype(np.float32)

    @property
    def _linear(self) -> LinearTrend:
        if self.trend is None:
            raise ValueError("a model without trees needs its linear part")
        return self.trend

    def _margin(self, X: np.ndarray) -> np.ndarray | None:
        return None if self.trend is None else self.trend.predict(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, np.float32)
        if self.booster is None:
            return self._linear.predict(X.astype(float)).astype(np.float32)
        # in place: no DMatrix copy of the runs; the same numbers as DMatrix + predict
        # (tests/model/test_scoring_fast_path.py holds them equal)
        out = self.booster.inplace_predict(X, base_margin=self._margin(X))
        return self._outside(out, X, contributions=False) if self._blended else out

    def contributions(self, X: np.ndarray, matrix: xgb.DMatrix | None = None) -> np.ndarray:
        """Per-feature contributions: tree SHAP (Lundberg 2020) plus the linear shares.

        A linear model's contributions are exact: coefficient times standardised value.
        ``matrix``: ``X`` as a DMatrix, shared by the targets (:func:`shap_matrix`); a
        base margin moves only SHAP's bias column, which is dropped, so none is needed.
        """
        X = np.asarray(X, np.float32)
        if self.booster is None:
            return self._linear.contributions(X.astype(float))
        shap = self.booster.predict(
            shap_matrix(X) if matrix is None else matrix, pred_contribs=True
        )[:, :-1]
        if self.trend is not None:
            shap = shap + self.trend.contributions(X.astype(float))
        return self._outside(shap, X, contributions=True) if self._blended else shap

    def set_threads(self, n: int) -> None:
        if self.booster is not None:
            self.booster.set_param("nthread", str(n))

    def save(self, folder: Path, name: str) -> None:
        if self.booster is not None:
            self.booster.save_model(folder / f"{name}.ubj")
        if self.trend is not None:
            (folder / f"{name}.trend.json").write_text(json.dumps(self.trend.to_dict()))
        if self._blended:
            blend = {
                "booster_weight": self.booster_weight,
                "linear": None if self.linear is None else self.linear.to_dict(),
            }
            (folder / f"{name}.blend.json").write_text(json.dumps(blend))

    @classmethod
    def load(cls, folder: Path, name: str) -> TargetModel:
        booster = None
        if (folder / f"{name}.ubj").exists():
            booster = xgb.Booster()
            booster.load_model(folder / f"{name}.ubj")
        trend_path = folder / f"{name}.trend.json"
        trend = (
            LinearTrend.from_dict(json.loads(trend_path.read_text()))
            if trend_path.exists()
            else None
        )
        if booster is None and trend is None:
            raise FileNotFoundError(f"no model for target {name!r} in {folder}")
        blend_path = folder / f"{name}.blend.json"
        if not blend_path.exists():
            return cls(booster, trend)
        blend = json.loads(blend_path.read_text())
        linear = None if blend["linear"] is None else LinearTrend.from_dict(blend["linear"])
        return cls(booster, trend, float(blend["booster_weight"]), linear)


def fit_model(
    X: np.ndarray, y: np.ndarray, params: dict, seed: int, threads: int = 0
) -> TargetModel:
    """Fit one target's model of the family ``params["family"]`` (default ``boosted``).

    ``pls`` takes ``n_components``, ``ridge`` its ``trend_alpha``; ``boosted`` fits hist
    trees (missing values handled natively) on the optional trend's residuals.
    ``threads`` is XGBoost's ``nthread``: 0 uses every core; parallel tuning workers pass
    their share so that N workers do not run N x cores threads.
    """
    family = params.get("family", "boosted")
    if family == "blend":
        return _fit_blend(X, y, params, seed, threads)
    if family == "titer":
        return TargetModel(None, line_as_linear(np.asarray(X, float), y, int(params["column"])))
    if family == "pls":
        return TargetModel(None, pls_as_linear(np.asarray(X, float), y, params["n_components"]))
    if family == "ridge":
        return TargetModel(None, LinearTrend.fit(np.asarray(X, float), y, params["trend_alpha"]))
    if family != "boosted":
        raise ValueError(f"unknown model family {family!r}; expected one of {FAMILIES} or 'blend'")
    p = {**DEFAULT_PARAMS, **{k: v for k, v in params.items() if k != "family"}}
    X = np.asarray(X, np.float32)
    trend = (
        LinearTrend.fit(X.astype(float), y, float(p["trend_alpha"])) if p["linear_base"] else None
    )
    margin = None if trend is None else trend.predict(X.astype(float))
    dtrain = xgb.DMatrix(X, label=y, base_margin=margin)
    booster_params = {
        "objective": "reg:squarederror",
        "tree_method": "hist",
        "max_bin": MAX_BIN,
        "eta": p["learning_rate"],
        "max_depth": int(p["max_depth"]),
        "min_child_weight": p["min_child_weight"],
        "subsample": p["subsample"],
        "colsample_bytree": p["colsample_bytree"],
        "lambda": p["reg_lambda"],
        "nthread": threads,
        "seed": seed,
    }
    booster = xgb.train(booster_params, dtrain, num_boost_round=int(p["n_estimators"]))
    return TargetModel(booster, trend)


def _fit_blend(X: np.ndarray, y: np.ndarray, params: dict, seed: int, threads: int) -> TargetModel:
    """Fit each member with a positive weight and add them up (module doc).

    ``params``: ``weights`` (family -> weight, summing to 1) and ``members`` (family ->
    that family's parameters).
    """
    weights = {f: float(w) for f, w in params["weights"].items() if float(w) > 0.0}
    fitted = {f: fit_model(X, y, params["members"][f], seed, threads) for f in weights}
    linear = [(w, fitted[f]._linear) for f, w in weights.items() if f != "boosted"]
    combined = combine_linear(linear) if linear else None
    if "boosted" not in fitted:
        return TargetModel(None, combined)
    boosted = fitted["boosted"]
    return TargetModel(boosted.booster, boosted.trend, weights["boosted"], combined)
