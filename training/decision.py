"""Decision metrics: how often the model's ranking picks the clone a campaign lead should pick.

A campaign lead does not act on an R²; they choose which clones of a campaign go forward.
Two figures measure that choice, on clone means (a clone's runs averaged, as the ranking
does) of held-out runs, within each campaign:

- **pairwise clone choice**: of two clones of one campaign, how often the better-predicted
  one is the better-measured one. Pairs whose measured means differ by less than the
  noise of a clone mean cannot be told apart by any model and are left out (the gap is
  estimated from the data: the pooled within-clone SD of the measured runs, times
  sqrt(2 / runs per clone), the SD of a difference of two clone means); the figure over
  all pairs is given beside it. Wang et al. 2025 (Commun. Eng.) report 76.2 % for a
  hybrid model on day-9 data.
- **top-k capture**: of each campaign's best 10 % of clones (by the noise-free truth when
  a digital twin wrote one, else as measured), the share the model puts in its top 10 %
  and top 20 %.

Both for the yield and for the expected purified product (titer at the horizon x yield:
what the ranking sorts by; measured: final titer x measured yield). Each sits beside the
same figure for PLS, the titer rank and, on twin data, the noise-free truth: the ceiling
the measured data allow.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

TOP_SHARE = 0.10
WITHIN = (0.10, 0.20)
PRODUCT = "expected_product"


def clone_means(values: pd.Series, clones: pd.Series) -> pd.Series:
    """Mean of ``values`` per clone (runs with a missing value left out)."""
    return values.groupby(clones.reindex(values.index)).mean()


def noise_gap(y: pd.Series, clones: pd.Series) -> float:
    """SD of a difference of two clone means from run-to-run and assay noise alone.

    >>> y = pd.Series([1.0, 3.0, 10.0, 12.0], index=list("abcd"))
    >>> round(noise_gap(y, pd.Series(["k1", "k1", "k2", "k2"], index=list("abcd"))), 3)
    1.414
    """
    c = clones.reindex(y.index)
    known = y.notna()
    g = y[known].groupby(c[known])
    n = g.size()
    reps = n[n >= 2]
    if reps.empty:
        return float("nan")
    ss = g.var(ddof=1)[reps.index] * (reps - 1)
    pooled = float(np.sqrt(ss.sum() / (reps - 1).sum()))
    return pooled * float(np.sqrt(2.0 / n.mean()))


def pairwise(
    measured: pd.Series, predicted: pd.Series, campaign: pd.Series, gap: float
) -> tuple[float, int]:
    """Share of within-campaign clone pairs (measured means > ``gap`` apart) ordered right.

    A tie in the prediction counts one half. Returns (share, number of pairs).

    >>> m = pd.Series([1.0, 2.0, 3.0]); c = pd.Series(["A", "A", "A"])
    >>> pairwise(m, pd.Series([1.0, 3.0, 2.0]), c, 0.5)
    (0.6666666666666666, 3)
    """
    right, n = 0.0, 0
    for _, idx in campaign.groupby(campaign).groups.items():
        mm, pp = measured.reindex(idx).to_numpy(float), predicted.reindex(idx).to_numpy(float)
        ok = ~np.isnan(mm) & ~np.isnan(pp)
        mm, pp = mm[ok], pp[ok]
        for i, j in itertools.combinations(range(len(mm)), 2):
            d = mm[i] - mm[j]
            if abs(d) <= gap:
                continue
            n += 1
            dp = pp[i] - pp[j]
            right += 0.5 if dp == 0 else float(np.sign(dp) == np.sign(d))
    return (right / n if n else float("nan")), n


def top_k_capture(
    best: pd.Series, predicted: pd.Series, campaign: pd.Series, within: float
) -> float:
    """Share of each campaign's best ``TOP_SHARE`` clones in the predicted top ``within``.

    >>> b = pd.Series(range(10), dtype=float); c = pd.Series(["A"] * 10)
    >>> top_k_capture(b, b, c, 0.1), top_k_capture(b, -b, c, 0.2)
    (1.0, 0.0)
    """
    hit, total = 0, 0
    for _, idx in campaign.groupby(campaign).groups.items():
        bb, pp = best.reindex(idx).dropna(), predicted.reindex(idx).dropna()
        common = bb.index.intersection(pp.index)
        if len(common) < 2:
            continue
        bb, pp = bb[common], pp[common]
        k = max(1, round(TOP_SHARE * len(common)))
        k_in = max(1, round(within * len(common)))
        truly = set(bb.sort_values(ascending=False).index[:k])
        chosen = set(pp.sort_values(ascending=False).index[:k_in])
        hit += len(truly & chosen)
        total += k
    return hit / total if total else float("nan")


def _figures(measured, predicted, best, campaign, gap, folds_of) -> dict:
    acc, n = pairwise(measured, predicted, campaign, gap)
    acc_all, n_all = pairwise(measured, predicted, campaign, 0.0)
    out: dict = {"pairwise": acc, "pairs": n, "pairwise_all": acc_all, "pairs_all": n_all}
    for w in WITHIN:
        out[f"top10_in_top{round(w * 100)}"] = top_k_capture(best, predicted, campaign, w)
    out["per_fold"] = {
        "pairwise": [
            pairwise(measured, predicted, campaign[campaign.isin(cs)], gap)[0] for cs in folds_of
        ]
    }
    return out


def decision_block(
    measured: pd.DataFrame,
    predicted: dict[str, pd.DataFrame],
    clones: pd.Series,
    campaigns: pd.Series,
    folds_of: list[set],
    truth: pd.DataFrame | None = None,
) -> dict:
    """Decision metrics of each column of ``measured`` (run-level, index run_id).

    ``predicted`` maps a predictor's name ("model", "pls", "titer_rank") to its run-level
    predictions of the same columns (a column may be absent); ``truth`` the twin's
    noise-free values (optional); ``folds_of`` the campaigns of each outer fold.
    """
    clone_campaign = campaigns.groupby(clones.reindex(campaigns.index)).first()
    out: dict[str, dict] = {}
    for col in measured.columns:
        y = measured[col]
        m = clone_means(y, clones).dropna()
        camp = clone_campaign.reindex(m.index)
        gap = noise_gap(y, clones)
        has_truth = truth is not None and col in truth.columns
        best = m if truth is None or not has_truth else clone_means(truth[col], clones)
        best = best.reindex(m.index)
        block: dict = {
            "noise_gap": gap,
            "gap_from": "pooled within-clone SD of the measured runs x sqrt(2 / runs per clone)",
            "best_by": "noise-free truth" if has_truth else "measured",
            "clones": len(m),
        }
        for name, frame in predicted.items():
            if col in frame.columns:
                p = clone_means(frame[col], clones).reindex(m.index)
                block[name] = _figures(m, p, best, camp, gap if gap == gap else 0.0, folds_of)
        if has_truth:
            block["truth"] = _figures(m, best, best, camp, gap if gap == gap else 0.0, folds_of)
        out[col] = block
    return out
