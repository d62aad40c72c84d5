"""The nested evaluation at one horizon day, turned into the metrics contract.

Produces the JSON of DESIGN.md §6 — per target the model's Spearman, R², MAE and interval
coverage at 80/90%, the baselines beside it, the noise ceiling when a ``truth`` table
exists, the glycan risk's AUROC and Brier beside the same risk from PLS — plus how the
numbers were obtained (``evaluation``), coverage per predicted-value quartile and per
held-out campaign, per-fold figures (for the fold-to-fold spread that promotion needs),
the applicability domain's held-out rates, and any baseline that was skipped and why.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.contract.spec import ProductSpec
from features.contract.truth import noise_ceiling_r2
from models.applicability import BORDERLINE, OUTSIDE
from models.flags import at_risk
from models.ranking import expected_product
from training import baselines
from training.cv import regression_metrics
from training.dataset import TrainingSet
from training.decision import PRODUCT, decision_block
from training.evaluate import (
    coverage_blocks,
    flag_metrics,
    flag_per_fold,
    paired_difference,
    per_campaign,
    per_fold,
    risk_metrics,
    risk_per_fold,
)
from training.nested import OuterPredictions, run_outer
from training.recipe import Recipe

NOMINAL_OUTSIDE = 0.01  # the 99% limits: 1% of new runs like the training ones fall outside


@dataclass
class Evaluation:
    """Outer held-out predictions and the metrics computed from them."""

    horizon_day: float
    outer: OuterPredictions
    metrics: dict  # the JSON contract (without run id)
    glyco_outside: np.ndarray | None
    campaigns: pd.DataFrame

    @property
    def glyco_risk_oof(self) -> np.ndarray | None:
        return self.outer.risk.get("glycans")


def folds_digest(fold_of_group: dict[str, int]) -> str:
    body = json.dumps(sorted(fold_of_group.items())).encode()
    return hashlib.sha256(body).hexdigest()[:16]


def _titer_block(ts: TrainingSet, outer: OuterPredictions, t: str, y: np.ndarray, h: float):
    col = baselines.titer_feature(ts.X, h)
    if t not in outer.titer.columns or col is None:
        return {"skipped": True, "reason": baselines.no_titer_reason(h)}
    # Spearman of the titer line fitted on the training folds, not of raw titer: for a
    # target that falls with titer, ranking by raw titer would give a negative rho that
    # any model beats by being positive; the line learns the direction like the model.
    pred = outer.titer[t].to_numpy(float)
    return {
        **regression_metrics(y, pred),
        "feature": col,
        "per_fold": per_fold(y, pred, outer.folds),
    }


def _target_block(ts: TrainingSet, outer: OuterPredictions, t: str, h: float) -> dict:
    y = ts.y[t].to_numpy(float)
    point = outer.point[t].to_numpy(float)
    flat, detail = coverage_blocks(y, outer, t, ts.campaigns.reindex(ts.X.index).to_numpy())
    pls = outer.pls[t].to_numpy(float)
    return {
        "model": {
            **regression_metrics(y, point),
            **flat,
            "coverage": detail,
            "per_fold": per_fold(y, point, outer.folds),
            "family_per_outer_fold": [s[t]["label"] for s in outer.selection if t in s],
            "weights_per_outer_fold": [s[t]["weights"] for s in outer.selection if t in s],
        },
        "baselines": {
            "titer_rank": _titer_block(ts, outer, t, y, h),
            "pls": {
                **regression_metrics(y, pls),
                "per_fold": per_fold(y, pls, outer.folds),
                "n_components": [c[t] for c in outer.pls_components],
            },
        },
    }


def _risk_block(ts: TrainingSet, outer: OuterPredictions, spec: ProductSpec, group: str):
    limits = spec.glycans if group == "glycans" else spec.downstream
    judged = [lim.attribute for lim in limits if lim.attribute in ts.y.columns]
    if not judged or group not in outer.risk:
        return None, None
    outside = spec.out_of_spec(ts.y[judged], group).to_numpy(float)
    model, pls = outer.risk[group], outer.pls_risk[group]
    m_folds, p_folds = (
        risk_per_fold(model, outside, outer.folds),
        risk_per_fold(pls, outside, outer.folds),
    )
    block = {
        "model": {**risk_metrics(model, outside), "per_fold": m_folds},
        "baselines": {"pls": {**risk_metrics(pls, outside), "per_fold": p_folds}},
        "judged": judged,
        "not_judged": [lim.attribute for lim in limits if lim.attribute not in judged],
        "brier_minus_pls": paired_difference(m_folds["brier"], p_folds["brier"]),
        "observed_out_of_spec_share": float(np.nanmean(outside)),
    }
    return block, outside


def _flag_block(
    outer: OuterPredictions, spec: ProductSpec, outside: dict[str, np.ndarray]
) -> dict | None:
    """Nested flag precision and recall: the promise ``monitor`` holds realized flags to.

    A held-out run is flagged ``at risk`` by the deployed rule (:func:`models.flags.at_risk`
    on its outer-fold risks, the spec's ``risk_flag``) unless it would be ``unknown``; it is
    out of spec when any judged group was measured outside its limits. ``unknown`` runs are
    left out, as the monitor leaves them out.
    """
    groups = [g for g in outside if g in outer.risk]
    if not groups:
        return None
    n = len(outer.status)
    known = ~outer.unknown
    flagged = at_risk({g: outer.risk[g] for g in groups}, spec.risk_flag, n) & known
    pls = at_risk({g: outer.pls_risk[g] for g in groups}, spec.risk_flag, n) & known
    # out of spec in some group: 1 / 0, NaN where none was measured or the run is unknown
    bad = pd.DataFrame({g: outside[g] for g in groups}).max(axis=1).to_numpy(float, copy=True)
    bad[~known] = np.nan
    return {
        "model": {
            **flag_metrics(flagged, bad),
            "per_fold": flag_per_fold(flagged, bad, outer.folds),
        },
        "baselines": {
            "pls": {**flag_metrics(pls, bad), "per_fold": flag_per_fold(pls, bad, outer.folds)}
        },
        "risk_flag": spec.risk_flag,
        "groups": groups,
        "n_runs": int((~np.isnan(bad)).sum()),  # held-out runs judged: known and measured
        "n_flagged": int(flagged[~np.isnan(bad)].sum()),
        "n_out_of_spec": int(np.nansum(bad)),
    }


def _applicability(outer: OuterPredictions) -> dict:
    lacking = np.array([bool(m) for m in outer.missing])
    return {
        "nominal_outside": NOMINAL_OUTSIDE,
        "held_out_outside": float(np.mean(outer.status == OUTSIDE)),
        "held_out_borderline": float(np.mean(outer.status == BORDERLINE)),
        "held_out_missing_family": int(lacking.sum()),
        "held_out_unknown": float(np.mean(outer.unknown)),
        "limits_from": "held-out T² and DModX of inner folds (95th/99th percentiles)",
    }


def decision_figures(
    ts: TrainingSet,
    outer: OuterPredictions,
    h: float,
    truth: pd.DataFrame | None,
    outcomes: pd.DataFrame | None,
) -> dict:
    """Clone-choice figures for the yield and the expected product (:mod:`training.decision`)."""
    y = "dsp_yield_pct"
    if y not in ts.y.columns:
        return {}
    idx = ts.X.index
    measured = ts.y[[y]].copy()
    predicted = {
        "model": outer.point[[y]].copy(),
        "pls": outer.pls[[y]].copy(),
        "titer_rank": outer.titer[[c for c in outer.titer.columns if c == y]].copy(),
    }
    true = None
    if truth is not None and y in truth.columns:
        true = truth.set_index("run_id").reindex(idx)[[y]].copy()
    col = baselines.titer_feature(ts.X, h)
    final = "final_titer_g_l"
    if col is not None and outcomes is not None and final in outcomes.columns:
        titer_h = ts.X[col].astype(float)
        final_titer = outcomes.set_index("run_id")[final].reindex(idx)
        measured[PRODUCT] = expected_product(final_titer, ts.y[y])
        for frame in predicted.values():
            frame[PRODUCT] = expected_product(titer_h, frame[y]) if y in frame.columns else titer_h
        if true is not None and truth is not None and final in truth.columns:
            true_titer = truth.set_index("run_id").reindex(idx)[final]
            true[PRODUCT] = expected_product(true_titer, true[y])
    campaigns = ts.campaigns.reindex(idx)
    folds_of = [set(campaigns.iloc[te]) for _, te in outer.folds]
    clones = ts.ids.set_index("run_id")["clone_id"].reindex(idx)
    return decision_block(measured, predicted, clones, campaigns, folds_of, true)


def evaluation_block(ts: TrainingSet, outer: OuterPredictions, recipe: Recipe) -> dict:
    g = ts.grouping
    fold_of_group = {
        str(grp): int(k) for grp, k in zip(ts.groups.reindex(ts.X.index), outer.fold, strict=True)
    }
    return {
        "method": (
            f"nested cross-validation: {len(outer.folds)} outer folds grouped by {g.column}; "
            f"in each, the recipe is fitted on the other folds only (inner folds grouped by "
            f"{g.column}: {recipe.trials} Optuna trials per model family on "
            f"{recipe.inner_folds} folds; each target's learner family, the ridge-trend "
            "penalty, the PLS baseline's components, "
            "interval scale and quantiles, risk residuals and applicability limits from the "
            f"held-out predictions of {recipe.calibration_folds} calibration folds); "
            "every metric is computed on the outer held-out runs"
        ),
        "outer_folds": len(outer.folds),
        "inner_folds": recipe.inner_folds,
        "grouping": g.column,
        "grouping_note": g.note,
        "trials_per_family": recipe.trials,
        "fold_of_group": fold_of_group,
        "folds_hash": folds_digest(fold_of_group),
        "warnings": list(ts.warnings),
    }


def build_metrics(
    ts: TrainingSet,
    outer: OuterPredictions,
    recipe: Recipe,
    truth: pd.DataFrame | None,
    outcomes: pd.DataFrame | None,
) -> tuple[dict, np.ndarray | None]:
    h = recipe.horizon_day
    targets = {t: _target_block(ts, outer, t, h) for t in ts.y.columns}
    if truth is not None and outcomes is not None:
        for t, block in targets.items():
            if t in truth.columns:
                block["noise_ceiling_r2"] = noise_ceiling_r2(truth, outcomes, t)
    metrics: dict = {
        "horizon_day": h,
        "n_runs": len(ts.X),
        "n_campaigns": int(ts.campaigns.nunique()),
        "targets": targets,
    }
    glyco, outside = _risk_block(ts, outer, recipe.spec, "glycans")
    if glyco is not None:
        metrics["glyco_risk"] = glyco
    downstream, outside_downstream = _risk_block(ts, outer, recipe.spec, "downstream")
    if downstream is not None:
        metrics["downstream_risk"] = downstream
    measured = {"glycans": outside, "downstream": outside_downstream}
    flags = _flag_block(outer, recipe.spec, {g: o for g, o in measured.items() if o is not None})
    if flags is not None:
        metrics["flags"] = flags
    decision = decision_figures(ts, outer, h, truth, outcomes)
    if decision:
        metrics["decision"] = decision
    metrics["applicability"] = _applicability(outer)
    metrics["evaluation"] = evaluation_block(ts, outer, recipe)
    rejected = ts.rejects["stage"].value_counts().to_dict() if len(ts.rejects) else {}
    metrics["data"] = {
        "runs_in": ts.n_runs_in,
        "runs_used": len(ts.X),
        "runs_rejected": len(ts.rejects),
        "rejected_by_stage": {str(k): int(v) for k, v in rejected.items()},
        "runs_with_value": {t: int(ts.y[t].notna().sum()) for t in ts.y.columns},
    }
    return metrics, outside


def evaluate(
    ts: TrainingSet,
    recipe: Recipe,
    folds,
    truth: pd.DataFrame | None = None,
    outcomes: pd.DataFrame | None = None,
    fixed_params: dict[str, dict] | None = None,
) -> Evaluation:
    """Run the nested evaluation on ``folds`` and compute every reported metric."""
    outer = run_outer(ts, recipe, folds, fixed_params)
    metrics, outside = build_metrics(ts, outer, recipe, truth, outcomes)
    campaigns = per_campaign(ts.y, outer.point, ts.campaigns.reindex(ts.X.index))
    return Evaluation(recipe.horizon_day, outer, metrics, outside, campaigns)
