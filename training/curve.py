"""How early a prediction becomes reliable: the metrics against the horizon day.

At each horizon the features are recomputed from samples up to that day, and each outer
fold refits its targets with the hyper-parameters *that fold* chose at the main horizon
(on its own training runs), so no horizon's numbers use the held-out campaigns for any
choice. To keep the curve affordable it is not re-tuned per horizon, and its 90% coverage
and glycan risk come from the other outer folds' held-out residuals (cross-conformal,
constant width; Vovk 2015) rather than from an inner calibration — the same method at
every horizon, including the main one, so the curve compares like with like.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from features.contract.loader import CampaignData
from features.contract.spec import ProductSpec
from models.conformal import conformal_quantile
from models.estimators import fit_model
from models.spec_risk import out_of_spec_probability
from training.cv import regression_metrics
from training.dataset import TrainingSet, prepare
from training.evaluate import risk_metrics
from training.experiment import Evaluation
from training.preconditions import TrainingRefused
from training.recipe import usable_features

log = logging.getLogger(__name__)


def cross_conformal_coverage(y: np.ndarray, pred: np.ndarray, folds, level: float) -> float:
    """Coverage on each held-out fold of constant intervals calibrated on the other folds."""
    resid = np.abs(y - pred)
    hits, n = 0, 0
    for _, test in folds:
        others = np.setdiff1d(np.arange(len(y)), test)
        w = conformal_quantile(resid[others], level)
        r = resid[test]
        r = r[~np.isnan(r)]
        if np.isnan(w):
            return float("nan")
        hits += int((r <= w).sum())
        n += r.size
    return hits / n if n else float("nan")


def cross_risk(pred: pd.DataFrame, observed: pd.DataFrame, folds, spec: ProductSpec) -> np.ndarray:
    """Glycan out-of-spec probability of each run from residual vectors of the other folds."""
    limits = [lim for lim in spec.glycans if lim.attribute in pred.columns]
    cols = [lim.attribute for lim in limits]
    resid = (observed[cols] - pred[cols]).to_numpy(float)
    out = np.full(len(pred), np.nan)
    for _, test in folds:
        others = np.setdiff1d(np.arange(len(pred)), test)
        out[test] = out_of_spec_probability(pred[cols].to_numpy(float)[test], resid[others], limits)
    return out


def _refit(ts: TrainingSet, folds, params: list[dict], seed: int) -> pd.DataFrame:
    out = pd.DataFrame(np.nan, index=ts.X.index, columns=ts.y.columns)
    for k, (train, test) in enumerate(folds):
        names, _ = usable_features(ts.X.iloc[train])
        A = ts.X[names].to_numpy(np.float32)
        for j, t in enumerate(ts.y.columns):
            y = ts.y[t].to_numpy(float)
            tr = train[~np.isnan(y[train])]
            out.iloc[test, j] = fit_model(A[tr], y[tr], params[k][t], seed).predict(A[test])
    return out


def _folds_for(ts: TrainingSet, fold_of_group: dict[str, int], n_folds: int):
    fold = ts.groups.reindex(ts.X.index).map(fold_of_group).to_numpy()
    idx = np.arange(len(fold))
    known = ~pd.isna(fold)
    return [(idx[known & (fold != k)], idx[known & (fold == k)]) for k in range(n_folds)]


def _rows(h: float, ts: TrainingSet, point: pd.DataFrame, folds, spec) -> list[dict]:
    rows = []
    for t in ts.y.columns:
        y, p = ts.y[t].to_numpy(float), point[t].to_numpy(float)
        rows.append(
            {
                "horizon_day": h,
                "target": t,
                **regression_metrics(y, p),
                "coverage_90": cross_conformal_coverage(y, p, folds, 0.9),
            }
        )
    glycans = [lim.attribute for lim in spec.glycans if lim.attribute in ts.y.columns]
    if glycans:
        risk = cross_risk(point, ts.y, folds, spec)
        outside = spec.out_of_spec(ts.y[glycans]).to_numpy(float)
        rows.append({"horizon_day": h, "target": "glyco_risk", **risk_metrics(risk, outside)})
    return rows


def horizon_curve(
    data: CampaignData,
    main: TrainingSet,
    ev: Evaluation,
    spec: ProductSpec,
    horizons: tuple[float, ...],
    seed: int,
    exclude: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Metrics per horizon day (the main horizon's points are its nested predictions)."""
    if not horizons:
        return pd.DataFrame()
    fold_of_group = ev.metrics["evaluation"]["fold_of_group"]
    n_folds = len(ev.outer.folds)
    rows = _rows(ev.horizon_day, main, ev.outer.point, ev.outer.folds, spec)
    for h in sorted(set(horizons) - {ev.horizon_day}):
        try:
            ts = prepare(data, list(main.y.columns), h, exclude)
        except TrainingRefused as exc:
            log.warning("horizon day %g left out of the curve: %s", h, exc.problems)
            continue
        folds = _folds_for(ts, fold_of_group, n_folds)
        point = _refit(ts, folds, ev.outer.params, seed)
        rows += _rows(h, ts, point, folds, spec)
    return pd.DataFrame(rows).sort_values(["horizon_day", "target"], kind="stable")
