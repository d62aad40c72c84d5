"""Nested evaluation: every reported number comes from runs no choice was made on.

The outer folds hold out whole campaigns (or clones, when there are fewer than three
campaigns). Inside each outer fold the whole recipe (:mod:`training.recipe`) is fitted on
the remaining runs alone — tuning on inner folds, interval scale and quantiles, risk
residuals, applicability limits, PLS components — and then predicts the held-out
campaigns exactly as the logged bundle would (:class:`models.predictor.Predictor`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.conformal import LEVELS
from models.spec_risk import out_of_spec_probability
from training.cv import fold_index, make_folds
from training.dataset import TrainingSet
from training.recipe import FittedRecipe, Recipe, fit_recipe

log = logging.getLogger(__name__)


@dataclass
class OuterPredictions:
    """Held-out predictions of every run, from the outer fold that held it out."""

    index: pd.Index
    folds: list[tuple[np.ndarray, np.ndarray]]
    point: pd.DataFrame
    lower: dict[tuple[str, float], np.ndarray]
    upper: dict[tuple[str, float], np.ndarray]
    risk: dict[str, np.ndarray]
    status: np.ndarray
    missing: list[list[str]]
    pls: pd.DataFrame
    pls_risk: dict[str, np.ndarray]
    titer: pd.DataFrame  # columns only for targets the titer line could be fitted on
    params: list[dict[str, dict]] = field(default_factory=list)  # per outer fold
    pls_components: list[dict[str, int]] = field(default_factory=list)
    selection: list[dict[str, dict]] = field(default_factory=list)  # per outer fold
    not_judged: list[str] = field(default_factory=list)

    @property
    def fold(self) -> np.ndarray:
        return fold_index(self.folds, len(self.index))

    @property
    def unknown(self) -> np.ndarray:
        return (self.status == "outside") | np.array([bool(m) for m in self.missing])


def outer_folds(ts: TrainingSet, n_folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return make_folds(ts.groups.reindex(ts.X.index), n_folds)


def _empty(ts: TrainingSet, folds) -> OuterPredictions:
    n, targets = len(ts.X), list(ts.y.columns)

    def nan() -> pd.DataFrame:
        return pd.DataFrame(np.full((n, len(targets)), np.nan), index=ts.X.index, columns=targets)

    return OuterPredictions(
        ts.X.index,
        folds,
        nan(),
        {(t, lv): np.full(n, np.nan) for t in targets for lv in LEVELS},
        {(t, lv): np.full(n, np.nan) for t in targets for lv in LEVELS},
        {},
        np.full(n, "", dtype=object),
        [[] for _ in range(n)],
        nan(),
        {},
        nan(),
    )


def _pls_risk(fitted: FittedRecipe, pls_pred: pd.DataFrame, group: str) -> np.ndarray | None:
    limits, _ = fitted.predictor.judged(group)
    if not limits:
        return None
    cols = [lim.attribute for lim in limits]
    return out_of_spec_probability(
        pls_pred[cols].to_numpy(float), fitted.pls_residuals[cols].to_numpy(float), limits
    )


def _put(frame: pd.DataFrame, rows: np.ndarray, values: pd.DataFrame) -> None:
    """Write ``values`` (some of ``frame``'s columns) into ``frame`` at positions ``rows``."""
    for col in values.columns:
        frame.loc[frame.index[rows], col] = values[col].to_numpy()


def _store(out: OuterPredictions, fitted: FittedRecipe, X_test: pd.DataFrame, te) -> None:
    raw = fitted.predictor.raw(X_test)
    _put(out.point, te, pd.DataFrame(raw.point))
    for key, v in raw.lower.items():
        out.lower[key][te] = v
        out.upper[key][te] = raw.upper[key]
    for g, r in raw.risk.items():
        out.risk.setdefault(g, np.full(len(out.index), np.nan))[te] = r
    out.status[te] = raw.status
    for i, m in zip(te, raw.missing, strict=True):
        out.missing[i] = m
    pls = fitted.pls_predict(X_test)
    _put(out.pls, te, pls)
    for g in ("glycans", "downstream"):
        pls_risk = _pls_risk(fitted, pls, g)
        if pls_risk is not None:
            out.pls_risk.setdefault(g, np.full(len(out.index), np.nan))[te] = pls_risk
    _put(out.titer, te, fitted.titer_predict(X_test))
    out.params.append(fitted.params)
    out.pls_components.append(fitted.pls_components)
    out.selection.append(fitted.selection)
    out.not_judged = fitted.predictor.not_judged()


def run_outer(
    ts: TrainingSet,
    recipe: Recipe,
    folds: list[tuple[np.ndarray, np.ndarray]],
    fixed_params: dict[str, dict] | None = None,
) -> OuterPredictions:
    """Fit the recipe without each outer fold and predict that fold."""
    out = _empty(ts, folds)
    groups = ts.groups.reindex(ts.X.index)
    titer_ok: set[str] = set()
    for k, (train, test) in enumerate(folds):
        log.info(
            "outer fold %d/%d: fitting the recipe on %d runs, predicting %d held-out runs",
            k + 1,
            len(folds),
            len(train),
            len(test),
        )
        fitted = fit_recipe(
            ts.X.iloc[train],
            ts.y.iloc[train],
            groups.iloc[train],
            recipe,
            fixed_params=fixed_params,
        )
        titer_ok |= set(fitted.titer)
        _store(out, fitted, ts.X.iloc[test], test)
    out.titer = out.titer[[t for t in out.titer.columns if t in titer_ok]]
    return out
