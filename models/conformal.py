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

Whether and how a target's error varies from run to run is itself learned. Three scales
compete, simplest first: a constant; a line in the predicted value (the error of a
percentage grows away from its bound, an assay with a relative error errs more on high
values: on 192-run weak-signal sets a constant width covered the top quartile of predicted
HMW, G2F and Man5 at 0.84-0.86 and the bottom at 0.94-0.95, five sets pooled); and
shallow boosted trees on the predicted value and the features. Each is cross-fitted, and
the one whose intervals have the lowest mean interval score (Gneiting & Raftery 2007:
width plus 2/a times any miss) is kept, the simpler on a tie (:func:`choose_scale`). On a
few hundred runs a scale model is often mostly noise, and a noisy scale makes both the
intervals and the out-of-spec risk worse: cross-fitting makes it pay for that.

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
brings a new one. Grouped calibration folds put those offsets into the held-out residuals,
but a quantile of n runs from K campaigns knows the offsets' spread only as well as K
draws allow, and on few campaigns with large offsets the plain quantile covers a *new*
campaign's runs less often than it says (a simulation of 6 campaigns sharing 80% of the
error variance: 0.87 at a nominal 0.90). The level of the quantile is therefore itself
checked at the level of groups, as cross-conformal methods check a model (Barber et al.
2021, jackknife+; Dunn, Wasserman & Ramdas 2022 for two-layer, grouped data): each
calibration group is left out in turn, the quantile is taken of the other groups' scores,
and the share of the left-out group's runs it covers is counted. The level used is the
smallest one (from 1 - a up, in steps of ``GROUP_LEVEL_STEP``) whose leave-one-group-out
coverage reaches 1 - a. Without shared offsets that is 1 - a itself; the more a new group's
offset costs, the higher it goes, and no higher (same simulation: 0.89; 10 campaigns
sharing half the variance: plain 0.897, grouped 0.903, where a Kish design-effect
correction of the rank overshot to 0.933).

With too few calibration runs for a level (fewer than level/(1-level), i.e. 9 at 90%), or
too few campaigns to reach it when each is left out, the
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
MIN_SCALE_RUNS = 100  # fewer calibration runs: no scale trees
MIN_LINE_RUNS = 30  # fewer calibration runs: no scale line either (plain split-conformal)
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
SCALE_KINDS = ("constant", "line", "trees")  # simplest first (ScaleModel)
GROUP_LEVEL_STEP = 0.0025  # the quantile level is raised in these steps (module doc)
# fewer calibration groups: no leave-one-group-out check (each left-out quantile would come
# from three groups or fewer: the check's own noise would set the level; training warns)
MIN_LEVEL_GROUPS = 5


def min_calibration_runs(level: float) -> int:
    """Fewest calibration residuals for which the ``level`` quantile is finite.

    >>> min_calibration_runs(0.9), min_calibration_runs(0.8)
    (9, 4)
    """
    return math.ceil(round(level / (1.0 - level), 9))


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """Finite-sample conformal quantile of ``scores`` (NaN ignored); NaN if not estimable."""
    if math.isnan(level):
        return float("nan")
    s = np.sort(np.asarray(scores, dtype=float)[~np.isnan(scores)])
    rank = math.ceil(round((s.size + 1) * level, 9))
    return float(s[rank - 1]) if 0 < rank <= s.size else float("nan")


def group_level(scores: np.ndarray, groups: np.ndarray | None, level: float) -> float:
    """The quantile level whose leave-one-group-out coverage reaches ``level`` (module doc).

    ``level`` itself without groups or with fewer than ``MIN_LEVEL_GROUPS``; NaN when no
    estimable level reaches it (the data cannot calibrate a new group at this level).

    >>> rng = np.random.default_rng(0)
    >>> g = np.repeat(np.arange(12), 50)
    >>> independent = np.abs(rng.normal(size=600))
    >>> group_level(independent, g, 0.9) <= 0.91
    True
    >>> rng = np.random.default_rng(0)  # 8 campaigns whose offsets dominate the error
    >>> g8 = np.repeat(np.arange(8), 30)
    >>> group_level(np.abs(np.repeat(rng.normal(0, 2, 8), 30) + rng.normal(size=240)), g8, 0.9)
    0.915
    """
    if groups is None:
        return level
    s, g = np.asarray(scores, float), np.asarray(groups)
    ok = ~np.isnan(s)
    s, g = s[ok], g[ok]
    labels, inverse = np.unique(g, return_inverse=True)
    if labels.size < MIN_LEVEL_GROUPS:
        return level
    every = np.sort(s)
    own = [np.sort(s[inverse == k]) for k in range(labels.size)]
    p = level
    while p < 1.0:
        covered = 0
        for o in own:
            q = _quantile_without(every, o, p)
            if math.isnan(q):
                return float("nan")
            covered += int(np.searchsorted(o, q, side="right"))
        if covered / s.size >= level:
            return round(p, 6)
        p += GROUP_LEVEL_STEP
    return float("nan")


def _quantile_without(every: np.ndarray, own: np.ndarray, level: float) -> float:
    """:func:`conformal_quantile` of the sorted ``every`` without the sorted ``own`` in it.

    The r-th smallest of the rest lies among ``every``'s r-th to (r + len(own))-th values,
    so only that window is searched: memory O(n), time O(len(own) log len(own)).

    >>> every = np.arange(1.0, 11.0)
    >>> _quantile_without(every, np.array([9.0, 10.0]), 0.8), conformal_quantile(every[:8], 0.8)
    (8.0, 8.0)
    """
    n_rest = every.size - own.size
    rank = math.ceil(round((n_rest + 1) * level, 9))
    if not 0 < rank <= n_rest:
        return float("nan")
    window = np.arange(rank - 1, min(every.size, rank + own.size))
    below = window + 1 - np.searchsorted(own, every[window], side="right")
    return float(every[window[np.argmax(below >= rank)]])


def scale_inputs(pred: np.ndarray, X: np.ndarray) -> np.ndarray:
    """What the scale model sees: the predicted value first, then the run's features."""
    return np.column_stack([np.asarray(pred, np.float32), np.asarray(X, np.float32)])


@dataclass
class ScaleModel:
    """sigma(x): the expected absolute held-out error of a run.

    Three kinds, simplest first: a constant; a *line* in the predicted value (two numbers:
    the error grows or shrinks with the level, as a percentage near a bound or an assay
    with a relative error does); shallow boosted trees on the predicted value and the
    features. :meth:`IntervalCalibrator.fit` keeps the simplest that is not beaten.
    """

    floor: float
    constant: float  # used when there were too few runs for trees
    booster: xgb.Booster | None = None
    line: tuple[float, float] | None = None  # intercept, slope on the predicted value

    @property
    def kind(self) -> str:
        if self.booster is not None:
            return "trees"
        return "constant" if self.line is None else "line"

    @classmethod
    def constant_only(cls, abs_resid: np.ndarray) -> ScaleModel:
        """The same width for every run: the mean absolute residual."""
        a = np.asarray(abs_resid, dtype=float)
        constant = float(np.mean(a)) if a.size else 1.0
        floor = max(float(np.quantile(a, SCALE_FLOOR_QUANTILE)) if a.size else 0.0, 1e-9)
        return cls(floor, max(constant, floor))

    @classmethod
    def fit_line(cls, pred: np.ndarray, abs_resid: np.ndarray) -> ScaleModel:
        """|residual| by least squares on the predicted value (a constant if it cannot)."""
        flat = cls.constant_only(abs_resid)
        p, a = np.asarray(pred, float), np.asarray(abs_resid, float)
        if a.size < MIN_LINE_RUNS or np.ptp(p) == 0:
            return flat
        slope, intercept = np.polyfit(p, a, 1)
        return cls(flat.floor, flat.constant, None, (float(intercept), float(slope)))

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

    def set_threads(self, n: int) -> None:
        if self.booster is not None:
            self.booster.set_param("nthread", str(n))

    def predict(self, pred: np.ndarray, X: np.ndarray) -> np.ndarray:
        if self.line is not None:
            intercept, slope = self.line
            return np.maximum(intercept + slope * np.asarray(pred, float), self.floor)
        if self.booster is None:
            return np.full(len(pred), self.constant)
        sigma = self.booster.inplace_predict(scale_inputs(pred, X))  # as DMatrix + predict
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
    levels: dict[str, float] = field(default_factory=dict)  # level -> group-checked level
    adaptive: bool = field(init=False)

    def __post_init__(self) -> None:
        self.adaptive = self.scale.kind != "constant"

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
        ``groups`` (campaigns) set the level of the quantiles (module doc).
        """
        pred, y = np.asarray(pred, float), np.asarray(y, float)
        ok = ~np.isnan(pred) & ~np.isnan(y)
        resid = y - pred
        cross = {k: np.full(len(y), np.nan) for k in SCALE_KINDS}  # cross-fitted sigma(x)
        for train, test in folds:
            tr, te = train[ok[train]], test[ok[test]]
            a = np.abs(resid[tr])
            cross["constant"][te] = ScaleModel.constant_only(a).constant
            cross["line"][te] = ScaleModel.fit_line(pred[tr], a).predict(pred[te], X[te])
            cross["trees"][te] = ScaleModel.fit(pred[tr], X[tr], a, seed).predict(pred[te], X[te])
        a = np.abs(resid[ok])
        candidates = {
            "constant": ScaleModel.constant_only(a),
            "line": ScaleModel.fit_line(pred[ok], a),
            "trees": ScaleModel.fit(pred[ok], X[ok], a, seed),
        }
        kind = choose_scale(resid, {k: cross[k] for k, m in candidates.items() if m.kind == k})
        final, sigma = candidates[kind], cross[kind]
        scores = np.abs(resid) / sigma
        scored = ~np.isnan(scores)
        g = None if groups is None else np.asarray(groups)[scored]
        levels = {str(lv): group_level(scores[scored], g, lv) for lv in LEVELS}
        edges = bin_edges(pred[scored])
        which = np.searchsorted(edges, pred, side="right")
        quantiles = {
            str(lv): [
                conformal_quantile(scores[which == b], levels[str(lv)])
                for b in range(len(edges) + 1)
            ]
            for lv in LEVELS
        }
        return cls(final, edges, quantiles, int(scored.sum()), levels)

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
            "levels": self.levels,
            "floor": self.scale.floor,
            "constant": self.scale.constant,
            "adaptive": self.adaptive,
            "line": None if self.scale.line is None else list(self.scale.line),
        }

    @classmethod
    def load(cls, folder: Path, name: str, state: dict) -> IntervalCalibrator:
        booster, line = None, state.get("line")  # no line before issue 23
        if state["adaptive"] and line is None:
            booster = xgb.Booster()
            booster.load_model(folder / f"{name}.scale.ubj")
        scale = ScaleModel(
            float(state["floor"]),
            float(state["constant"]),
            booster,
            None if line is None else (float(line[0]), float(line[1])),
        )
        edges = [float(e) for e in state["edges"]]
        quantiles = {k: [float(q) for q in v] for k, v in state["quantiles"].items()}
        levels = {k: float(v) for k, v in state.get("levels", {}).items()}  # none before #23
        return cls(scale, edges, quantiles, int(state["n_calibration"]), levels)


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


def choose_scale(resid: np.ndarray, sigmas: dict[str, np.ndarray]) -> str:
    """The scale (``SCALE_KINDS``) whose cross-fitted intervals score best; ties: simpler.

    The interval score (Gneiting & Raftery 2007: width plus 2/a times any miss, summed
    over the levels) of intervals that no scale fitted on their run built, so a scale
    that learned noise pays for it here. Requiring more than one SE of the run-by-run
    difference was tried: on three 192-run weak sets it kept too many constant widths
    (pooled quartile coverage outside 85-95% in 5 target-quartiles, against 3 for this
    rule and 8 for a constant width alone).

    >>> r = np.random.default_rng(0).normal(size=400)
    >>> choose_scale(r, {"constant": np.ones(400), "line": np.ones(400)})
    'constant'
    """
    scores = {k: float(np.nanmean(_interval_scores(resid, s))) for k, s in sigmas.items()}
    return min((k for k in SCALE_KINDS if k in scores), key=lambda k: scores[k])


def _interval_scores(resid: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Each run's interval score, summed over the levels, of intervals +- q * sigma.

    NaN where a run has no residual or scale; +inf everywhere when a level's quantile is
    not estimable (such a scale can never be chosen).
    """
    out = np.full(len(resid), np.nan)
    ok = ~np.isnan(resid) & ~np.isnan(sigma)
    r, s = np.abs(resid[ok]), sigma[ok]
    total = np.zeros(ok.sum())
    for lv in LEVELS:
        q = conformal_quantile(r / s, lv)
        if np.isnan(q):
            return np.full(len(resid), np.inf)
        total += 2 * q * s + 2 / (1 - lv) * np.maximum(r - q * s, 0.0)
    out[ok] = total
    return out


def save_calibrators(calibrators: dict[str, IntervalCalibrator], folder: Path) -> None:
    state = {t: c.save(folder, t) for t, c in calibrators.items()}
    (folder / "intervals.json").write_text(json.dumps(state, indent=2))


def load_calibrators(folder: Path) -> dict[str, IntervalCalibrator]:
    state = json.loads((folder / "intervals.json").read_text())
    return {t: IntervalCalibrator.load(folder, t, s) for t, s in state.items()}
