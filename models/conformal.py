"""Intervals whose width follows the local difficulty, and out-of-spec probabilities.

Normalised split-conformal (Papadopoulos et al. 2008; Lei et al. 2018, §5.2): a *scale
model* sigma(x) learns how large the held-out error tends to be for a run (from its
predicted value and its features), and the conformal quantile q is taken of the
normalised scores |y - yhat| / sigma(x). The interval yhat +- q * sigma(x) is then wide
where the model is usually wrong (e.g. Man5 of a high-qP clone) and narrow where it is
usually right, while keeping the finite-sample guarantee: q is the ceil((n+1)(1-a))-th
smallest of n scores, which covers a new exchangeable run with probability >= 1-a.

The scores must not come from the scale model that was fitted on them (it would have
learned those very residuals and the quantile would be too small), so the scale model is
*cross-fitted*: the score of each calibration run uses a scale model fitted on the other
folds. The scale model kept for new runs is fitted on all calibration runs.

Whether a target's error really varies from run to run is itself learned: the adaptive
scale is kept only if its cross-fitted intervals have a lower mean interval score
(Gneiting & Raftery 2007: width plus 2/a times any miss) than a constant width on the same
calibration runs. On a few hundred runs a scale model is often mostly noise, and a noisy
scale makes both the intervals and the out-of-spec risk worse.

A normalised score still only promises coverage on average over all runs: where the scale
model is a little off (the lowest G2F values, Man5 near its spec limit), coverage drifts
from nominal in one range of predicted values while the total looks right. The quantile is
therefore taken separately in bins of the predicted value (a *Mondrian* conformal
regressor, Vovk et al. 2005 §4.5; Boström & Johansson 2020 combine it with normalisation):
up to four bins at the quartiles of the calibration predictions, each with at least
``MIN_BIN_RUNS`` runs, so each range of predictions gets its own finite-sample guarantee.
Fewer runs per bin would trade the drift for the sampling noise of the bin's own quantile
(on a 200-run set, bins of ~53 runs gave a held-out 80% coverage of 0.74).

Calibration runs are not independent draws: runs of one campaign share its offset (a media
lot, an assay's drift), which the campaign's own runs cannot reveal, and a new campaign
brings a new one. Grouped calibration folds put that offset into the held-out residuals,
but a quantile of n runs from K campaigns knows the offsets' spread only as well as K
draws allow. The finite-sample correction therefore uses the *effective* number of runs,
n_eff = n / deff (the quantile is taken at level (1 - a)(1 + 1 / n_eff) of the scores),
with Kish's design effect deff = 1 + (m - 1) ICC (Kish 1965, *Survey Sampling* §5.4; m the
size-weighted mean runs per group, ICC the one-way ANOVA intra-class
correlation of the signed normalised residuals). Without a shared offset (ICC 0) this is
the plain conformal quantile; the more of the error a group shares and the fewer groups
there are, the higher the quantile is taken: the interval widens by what a new group's
offset costs, and no more.

With too few effective calibration runs for a level (fewer than level/(1-level), i.e. 9
at 90%) the
quantile is *not estimable*: it is NaN, never an infinite width reported as coverage 1.0.

The predictive distribution of a run's glycan profile is its prediction plus each
calibration run's held-out residual *vector*: the correlation between attributes (G0F up
when G2F down) is kept, and the probability of being out of spec is re-computed for any
spec without retraining (:mod:`models.spec_risk` holds that one rule). The vectors are
used as they are, not rescaled by sigma(x): on both twin sets measured, rescaling made the
risk's Brier score worse (default set 0.0990 vs 0.0983, 360 runs 0.141 vs 0.139) — for a
probability pooled over four attributes the scale model's noise costs more than its
conditioning gains.

>>> conformal_quantile(np.array([1.0, 2.0, 3.0, 4.0]), 0.5)
3.0
>>> bool(np.isnan(conformal_quantile(np.array([1.0, 2.0, 3.0]), 0.9)))
True
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xgboost as xgb

LEVELS = (0.8, 0.9)
MIN_SCALE_RUNS = 100  # fewer calibration runs: constant scale (plain split-conformal)
SCALE_FLOOR_QUANTILE = 0.10  # sigma(x) never below the 10th percentile of |residual|
SCALE_PARAMS = {
    "objective": "reg:squarederror",
    "tree_method": "hist",
    "max_bin": 64,
    "max_depth": 2,
    "eta": 0.05,
    "min_child_weight": 20.0,
    "subsample": 0.8,
    "colsample_bytree": 0.5,
    "nthread": 0,  # every core (XGBoost's default)
}
SCALE_ROUNDS = 100
MAX_BINS = 4  # Mondrian bins of the predicted value (quartiles)
MIN_BIN_RUNS = 100  # fewer calibration runs per bin: fewer bins (one bin = plain quantile)


def min_calibration_runs(level: float) -> int:
    """Fewest calibration residuals for which the ``level`` quantile is finite.

    >>> min_calibration_runs(0.9), min_calibration_runs(0.8)
    (9, 4)
    """
    return math.ceil(round(level / (1.0 - level), 9))


def conformal_quantile(scores: np.ndarray, level: float, deff: float = 1.0) -> float:
    """Finite-sample conformal quantile of ``scores`` (NaN ignored); NaN if not estimable.

    With a design effect ``deff`` > 1 the rank is that of n / deff effective runs.

    >>> s = np.arange(1.0, 101.0)
    >>> conformal_quantile(s, 0.9), conformal_quantile(s, 0.9, deff=5.0)
    (91.0, 95.0)
    """
    s = np.sort(np.asarray(scores, dtype=float)[~np.isnan(scores)])
    if not s.size:
        return float("nan")
    n_eff = s.size / max(float(deff), 1.0)
    share = (n_eff + 1) * level / n_eff  # deff 1: rank ceil((n + 1) level), as always
    rank = math.ceil(round(share * s.size, 9))
    return float(s[rank - 1]) if 0 < rank <= s.size else float("nan")


def design_effect(resid: np.ndarray, groups: np.ndarray | None) -> float:
    """Kish's design effect 1 + (m - 1) ICC of residuals clustered in ``groups``.

    ICC from the one-way ANOVA (unequal group sizes: m0 of Snedecor & Cochran), clipped
    at 0; m is the size-weighted mean group size.

    >>> g = np.repeat(np.arange(10), 10)
    >>> offsets = np.repeat(np.linspace(-1.0, 1.0, 10), 10)
    >>> round(design_effect(offsets + 0.01 * np.tile(np.arange(10), 10), g), 1)
    10.0
    >>> design_effect(np.tile(np.arange(10.0), 10), g)
    1.0
    """
    if groups is None:
        return 1.0
    r, g = np.asarray(resid, float), np.asarray(groups)
    ok = ~np.isnan(r)
    r, g = r[ok], g[ok]
    _, inv, counts = np.unique(g, return_inverse=True, return_counts=True)
    k, n = counts.size, r.size
    if k < 2 or n <= k:
        return 1.0
    means = np.bincount(inv, weights=r) / counts
    msb = float(np.sum(counts * (means - r.mean()) ** 2)) / (k - 1)
    msw = float(np.sum((r - means[inv]) ** 2)) / (n - k)
    m0 = (n - float(np.sum(counts**2)) / n) / (k - 1)
    denom = msb + (m0 - 1.0) * msw
    icc = min(max((msb - msw) / denom, 0.0), 1.0) if denom > 0 else 0.0
    return 1.0 + (float(np.sum(counts**2)) / n - 1.0) * icc


def scale_inputs(pred: np.ndarray, X: np.ndarray) -> np.ndarray:
    """What the scale model sees: the predicted value first, then the run's features."""
    return np.column_stack([np.asarray(pred, np.float32), np.asarray(X, np.float32)])


@dataclass
class ScaleModel:
    """sigma(x): the expected absolute held-out error of a run (shallow boosted trees)."""

    floor: float
    constant: float  # used when there were too few runs for trees
    booster: xgb.Booster | None = None

    @classmethod
    def constant_only(cls, abs_resid: np.ndarray) -> ScaleModel:
        """The same width for every run: the mean absolute residual."""
        a = np.asarray(abs_resid, dtype=float)
        constant = float(np.mean(a)) if a.size else 1.0
        floor = max(float(np.quantile(a, SCALE_FLOOR_QUANTILE)) if a.size else 0.0, 1e-9)
        return cls(floor, max(constant, floor))

    @classmethod
    def fit(cls, pred: np.ndarray, X: np.ndarray, abs_resid: np.ndarray, seed: int) -> ScaleModel:
        a = np.asarray(abs_resid, dtype=float)
        flat = cls.constant_only(a)
        if a.size < MIN_SCALE_RUNS:
            return flat
        floor, constant = flat.floor, flat.constant
        dtrain = xgb.DMatrix(scale_inputs(pred, X), label=a)
        booster = xgb.train({**SCALE_PARAMS, "seed": seed}, dtrain, num_boost_round=SCALE_ROUNDS)
        return cls(floor, constant, booster)

    def predict(self, pred: np.ndarray, X: np.ndarray) -> np.ndarray:
        if self.booster is None:
            return np.full(len(pred), self.constant)
        sigma = self.booster.predict(xgb.DMatrix(scale_inputs(pred, X)))
        return np.maximum(sigma.astype(float), self.floor)


@dataclass
class IntervalCalibrator:
    """Normalised, Mondrian-binned conformal intervals of one target.

    ``edges`` are the inner edges of the predicted-value bins (empty: one bin);
    ``quantiles`` maps a level ("0.9") to one q per bin, NaN when not estimable;
    ``n_calibration`` is the number of held-out residuals the quantiles come from.
    """

    scale: ScaleModel
    edges: list[float]
    quantiles: dict[str, list[float]]
    n_calibration: int
    design_effect: float = 1.0  # of the calibration groups (1: runs independent)
    adaptive: bool = field(init=False)

    def __post_init__(self) -> None:
        self.adaptive = self.scale.booster is not None

    @classmethod
    def fit(
        cls,
        pred: np.ndarray,
        y: np.ndarray,
        X: np.ndarray,
        folds,
        seed: int,
        groups: np.ndarray | None = None,
    ) -> IntervalCalibrator:
        """Calibrate on held-out predictions ``pred`` of ``y``; ``folds`` index ``pred``.

        Each run's score |y - pred| / sigma comes from a scale model that did not see it;
        ``groups`` (campaigns) set the design effect of the quantiles (module doc).
        """
        pred, y = np.asarray(pred, float), np.asarray(y, float)
        ok = ~np.isnan(pred) & ~np.isnan(y)
        resid = y - pred
        adaptive = np.full(len(y), np.nan)  # cross-fitted sigma(x) of each run
        constant = np.full(len(y), np.nan)  # cross-fitted mean |residual|
        for train, test in folds:
            tr, te = train[ok[train]], test[ok[test]]
            sm = ScaleModel.fit(pred[tr], X[tr], np.abs(resid[tr]), seed)
            adaptive[te] = sm.predict(pred[te], X[te])
            constant[te] = ScaleModel.constant_only(np.abs(resid[tr])).constant
        final = ScaleModel.fit(pred[ok], X[ok], np.abs(resid[ok]), seed)
        if final.booster is not None and _interval_score(resid, adaptive) >= _interval_score(
            resid, constant
        ):
            final = ScaleModel.constant_only(np.abs(resid[ok]))  # the variation was noise
            sigma = constant
        else:
            sigma = adaptive if final.booster is not None else constant
        scores = np.abs(resid) / sigma
        scored = ~np.isnan(scores)
        deff = design_effect(resid / sigma, groups)
        edges = bin_edges(pred[scored])
        which = np.searchsorted(edges, pred, side="right")
        quantiles = {
            str(lv): [
                conformal_quantile(scores[which == b], lv, deff) for b in range(len(edges) + 1)
            ]
            for lv in LEVELS
        }
        return cls(final, edges, quantiles, int(scored.sum()), deff)

    def estimable(self, level: float) -> bool:
        return not any(math.isnan(q) for q in self.quantiles[str(level)])

    def multiplier(self, pred: np.ndarray, level: float) -> np.ndarray:
        """The conformal quantile q of each run's bin (NaN when not estimable)."""
        q = np.asarray(self.quantiles[str(level)], dtype=float)
        return q[np.searchsorted(self.edges, np.asarray(pred, float), side="right")]

    def halfwidth(self, pred: np.ndarray, X: np.ndarray, level: float) -> np.ndarray:
        return self.multiplier(pred, level) * self.scale.predict(pred, X)

    # -- persistence (XGBoost UBJ + JSON, no pickle) ----------------------------------
    def save(self, folder: Path, name: str) -> dict:
        if self.scale.booster is not None:
            self.scale.booster.save_model(folder / f"{name}.scale.ubj")
        return {
            "edges": self.edges,
            "quantiles": self.quantiles,
            "n_calibration": self.n_calibration,
            "design_effect": self.design_effect,
            "floor": self.scale.floor,
            "constant": self.scale.constant,
            "adaptive": self.adaptive,
        }

    @classmethod
    def load(cls, folder: Path, name: str, state: dict) -> IntervalCalibrator:
        booster = None
        if state["adaptive"]:
            booster = xgb.Booster()
            booster.load_model(folder / f"{name}.scale.ubj")
        scale = ScaleModel(float(state["floor"]), float(state["constant"]), booster)
        edges = [float(e) for e in state["edges"]]
        quantiles = {k: [float(q) for q in v] for k, v in state["quantiles"].items()}
        deff = float(state.get("design_effect", 1.0))  # bundles before issue 23: none
        return cls(scale, edges, quantiles, int(state["n_calibration"]), deff)


def bin_edges(pred: np.ndarray) -> list[float]:
    """Inner edges of the predicted-value bins: quartiles, fewer bins on fewer runs.

    >>> bin_edges(np.arange(400.0))
    [99.75, 199.5, 299.25]
    >>> bin_edges(np.arange(250.0)), bin_edges(np.arange(160.0))
    ([124.5], [])
    """
    n_bins = max(1, min(MAX_BINS, len(pred) // MIN_BIN_RUNS))
    if n_bins == 1:
        return []
    edges = np.quantile(pred, np.arange(1, n_bins) / n_bins)
    return [float(e) for e in np.unique(edges)]


def _interval_score(resid: np.ndarray, sigma: np.ndarray) -> float:
    """Mean interval score over the levels of intervals +- q * sigma (lower is better)."""
    ok = ~np.isnan(resid) & ~np.isnan(sigma)
    r, s = np.abs(resid[ok]), sigma[ok]
    total = 0.0
    for lv in LEVELS:
        q = conformal_quantile(r / s, lv)
        if np.isnan(q):
            return float("inf")
        total += float(np.mean(2 * q * s + 2 / (1 - lv) * np.maximum(r - q * s, 0.0)))
    return total


def save_calibrators(calibrators: dict[str, IntervalCalibrator], folder: Path) -> None:
    state = {t: c.save(folder, t) for t, c in calibrators.items()}
    (folder / "intervals.json").write_text(json.dumps(state, indent=2))


def load_calibrators(folder: Path) -> dict[str, IntervalCalibrator]:
    state = json.loads((folder / "intervals.json").read_text())
    return {t: IntervalCalibrator.load(folder, t, s) for t, s in state.items()}
