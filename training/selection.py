"""Which learner family each target uses: chosen by the data, on grouped inner folds.

On a few hundred noisy runs boosted trees fit noise that a linear model cannot, and on a
large, rich set they find interactions and thresholds a linear model misses. No rule on
data size can say which regime a user's data is in; held-out error can. Each target's
families (:data:`models.estimators.FAMILIES`) are compared on the same grouped
calibration folds, by their held-out predictions:

- a campaign lead acts on the order of the clones, and a lower MAE bought with a worse
  order is no gain. So a family is out when its ranking (mean fold Spearman) is worse than
  the best-ranking family's by more than one SE (paired over the folds), or worse than
  that of any simpler family: complexity must not cost order. (On the default set boosted
  trees lowered the HCP MAE on the inner folds by more than one SE while ordering the
  runs a little worse than PLS; held out, they then ranked HCP worse than PLS, 0.447
  against 0.477, with no gain in MAE. Their inner advantage is also optimistic: their
  hyper-parameters were tuned on the same runs, PLS and ridge have one knob each.)
- of the others, the family with the lowest mean fold MAE is the *best*;
- every family whose mean fold MAE is within one standard error of the best (the SE of
  the fold-by-fold difference to the best, a paired comparison) *ties* with it;
- of the tied families the simplest wins (:data:`models.estimators.FAMILIES` is ordered
  simplest first), the "one-standard-error rule" of Breiman et al. 1984 (CART §3.4.3)
  and Hastie, Tibshirani & Friedman, ESL §7.10: a more complex model must earn its place
  by more than the noise of the comparison.

The selection is part of the recipe, so the nested evaluation's outer folds judge the whole
procedure, selection included.

>>> y, idx = np.arange(20.0), np.arange(20)
>>> folds = [(idx[idx >= 10], idx[idx < 10]), (idx[idx < 10], idx[idx >= 10])]
>>> sel = choose_family(y, {"pls": y + 1.0, "ridge": y + 0.9, "boosted": y + 0.1}, folds)
>>> sel.chosen, sel.why
('boosted', 'boosted: fold MAE 0.100 against 0.900 for ridge, the best simpler family: \
better by more than one SE (0.000) of the fold-by-fold difference')
>>> noisy = y + np.where(idx < 10, 0.2, 1.6)  # worse on one fold, better on the other
>>> choose_family(y, {"pls": y + 1.0, "boosted": noisy}, folds).chosen
'pls'

"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.estimators import FAMILIES
from training.evaluate import per_fold
from training.gate import paired


@dataclass(frozen=True)
class Selection:
    """The chosen family of one target, why, and every family's inner scores."""

    chosen: str
    why: str
    inner: dict[str, dict[str, float | bool | None]]  # family -> fold MAE, SE, Spearman

    def to_dict(self) -> dict:
        return {"family": self.chosen, "why": self.why, "inner": self.inner}


def _fold_scores(y: np.ndarray, pred: np.ndarray, folds) -> dict[str, np.ndarray]:
    """MAE and Spearman of each fold's held-out runs (NaN where one cannot be computed)."""
    scores = per_fold(y, np.asarray(pred, float), folds)
    return {
        k: np.array([np.nan if v is None else v for v in scores[k]]) for k in ("mae", "spearman")
    }


def _se(a: np.ndarray, b: np.ndarray) -> float:
    """SE of the fold-by-fold difference a - b (0 without two folds to spread over)."""
    se = paired(list(a), list(b))[1]
    return 0.0 if np.isnan(se) else se


def choose_family(y: np.ndarray, oof: dict[str, np.ndarray], folds) -> Selection:
    """The simplest family within one paired SE of the lowest held-out MAE (module doc)."""
    y = np.asarray(y, float)
    scores = {f: _fold_scores(y, p, folds) for f, p in oof.items()}
    rhos = {f: sc["spearman"] for f, sc in scores.items()}
    rho = {f: float(np.nanmean(r)) if np.isfinite(r).any() else -np.inf for f, r in rhos.items()}
    top = max(rho, key=lambda f: rho[f])
    order = [f for f in FAMILIES if f in oof]
    no_worse_than_simpler = [
        f for i, f in enumerate(order) if all(rho[f] >= rho[g] for g in order[:i])
    ]
    ranks_well = [f for f in no_worse_than_simpler if rho[f] >= rho[top] - _se(rhos[f], rhos[top])]
    means = {f: float(np.nanmean(scores[f]["mae"])) for f in ranks_well}
    best = min(means, key=lambda f: (means[f], FAMILIES.index(f)))
    ses = {f: _se(scores[f]["mae"], scores[best]["mae"]) for f in means}
    tied = [f for f in FAMILIES if f in means and means[f] <= means[best] + ses[f]]
    chosen = tied[0]
    out_ranked = [f for f in FAMILIES if f in oof and f not in ranks_well]
    inner = {
        f: {
            "mae": round(float(np.nanmean(scores[f]["mae"])), 6),
            "mae_se_vs_best": round(ses[f], 6) if f in ses else None,
            "spearman": round(rho[f], 6) if np.isfinite(rho[f]) else None,
            "ranks_within_one_se": f in ranks_well,
        }
        for f in FAMILIES
        if f in oof
    }
    why = _why(chosen, best, means, ses)
    if out_ranked:
        why += (
            "; out for ranking worse (than the best by more than one SE, or than a simpler "
            f"family): {', '.join(out_ranked)}"
        )
    return Selection(chosen, why, inner)


def _why(chosen: str, best: str, means: dict, ses: dict) -> str:
    simpler = [f for f in FAMILIES[: FAMILIES.index(chosen)] if f in means]
    if chosen == best and simpler:
        runner = min(simpler, key=lambda f: means[f])
        return (
            f"{chosen}: fold MAE {means[chosen]:.3f} against {means[runner]:.3f} for "
            f"{runner}, the best simpler family: better by more than one SE "
            f"({ses[runner]:.3f}) of the fold-by-fold difference"
        )
    if chosen == best:
        return f"{chosen}: the lowest held-out fold MAE ({means[chosen]:.3f})"
    return (
        f"{chosen}: fold MAE {means[chosen]:.3f}, within one SE ({ses[chosen]:.3f}) of the "
        f"best, {best} ({means[best]:.3f}); the simpler family wins a tie"
    )
