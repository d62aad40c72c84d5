"""Realized performance: what a model delivers on outcomes that came back, beside its promise.

Input: one row per logged prediction (distinct prediction id) joined to the latest outcome
of its run (:func:`serving.outcomes.joined_frame`). Judged are the runs the model gave a
number for (not ``unknown``) that were not in its training set (``seen_in_training``
empty): figures on training runs would be in-sample.

Per model version, and per campaign within it:
- each target's R², MAE and Spearman, and the coverage of its 80 % and 90 % intervals;
- pairwise clone choice: of two clones of one campaign, how often the one predicted better
  (clone means of predicted yield) was measured better (training.decision.pairwise, all
  pairs);
- flag precision and recall: of the runs flagged ``at risk``, the share measured out of
  spec, and of those measured out of spec, the share flagged;
- the Brier score of each risk (glycans, downstream) against the measured out-of-spec.

Each figure sits beside what the model promised when it was promoted: its nested,
campaign-grouped figures in the bundle's manifest (``cv_metrics``). A figure is
*degraded* when it is worse than the promise beyond its own uncertainty:
- coverage: the Clopper-Pearson interval of the realized share (scipy.stats.binomtest)
  lies wholly below the promised coverage;
- the others: the percentile interval of a bootstrap over clones (clones resampled with
  their runs; a clone's runs are not independent) lies wholly on the worse side.
The intervals are two-sided at 1 - alpha / m, with m the checks of one verdict
(Bonferroni): with a dozen checks per version, a per-check 5 % would call a healthy model
degraded most of the time. Flag precision and recall have no nested promise yet, so they
are reported without a verdict.

Below ``MIN_RUNS`` judged runs (or ``MIN_CLONES`` clones for a bootstrap) a figure is
reported with verdict ``too few outcomes``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from features.contract.spec import ProductSpec
from models.flags import FLAG_RISK, FLAG_UNKNOWN
from models.flags import OBSERVED_PREFIX as OBS
from training.cv import regression_metrics
from training.decision import pairwise

ALPHA = 0.05  # family-wise, per verdict
BOOTSTRAPS = 400
MIN_RUNS = 10
MIN_CLONES = 5
HOLDS, DEGRADED, TOO_FEW, NO_PROMISE = "holds", "degraded", "too few outcomes", "no promise"
HIGHER_IS_BETTER = {"r2": True, "spearman": True, "pairwise": True, "mae": False, "brier": False}


@dataclass(frozen=True)
class Check:
    """One realized figure beside its promise, with its interval and verdict."""

    what: str  # e.g. "dsp_yield_pct coverage_90"
    metric: str
    realized: float
    promised: float | None
    low: float
    high: float
    n: int
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        def r(x: float | None) -> float | None:
            return None if x is None or not np.isfinite(x) else round(float(x), 4)

        return {
            "what": self.what,
            "metric": self.metric,
            "realized": r(self.realized),
            "promised": r(self.promised),
            "interval": [r(self.low), r(self.high)],
            "n": self.n,
            "verdict": self.verdict,
        }


def judged_rows(joined: pd.DataFrame) -> pd.DataFrame:
    """Rows with a number from the model, an outcome, and not in its training set."""
    obs = [c for c in joined.columns if c.startswith(OBS)]
    has_obs = joined[obs].notna().any(axis=1) if obs else pd.Series(False, index=joined.index)
    keep = joined["flag"].ne(FLAG_UNKNOWN) & joined["seen_in_training"].fillna("").eq("")
    return joined[keep & has_obs]


def _bootstrap(
    frame: pd.DataFrame, stat, level: float, rng: np.random.Generator
) -> tuple[float, float]:
    """Percentile interval of ``stat(frame)`` over clones resampled with their runs."""
    clones = frame["clone_id"].to_numpy()
    codes, uniq = pd.factorize(clones)
    rows_of = [np.flatnonzero(codes == k) for k in range(len(uniq))]
    values = []
    for _ in range(BOOTSTRAPS):
        pick = rng.integers(0, len(uniq), len(uniq))
        idx = np.concatenate([rows_of[k] for k in pick])
        part = frame.iloc[idx].copy()
        # a clone drawn twice is two clones (pairwise pools by clone)
        part["clone_id"] = np.repeat(np.arange(len(pick)), [len(rows_of[k]) for k in pick])
        values.append(stat(part))
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not v.size:
        return float("nan"), float("nan")
    tail = (1 - level) / 2
    return float(np.quantile(v, tail)), float(np.quantile(v, 1 - tail))


def _worse(metric: str, low: float, high: float, promised: float) -> bool:
    if HIGHER_IS_BETTER[metric]:
        return high < promised
    return low > promised


class Judge:
    """Builds the checks of one group of rows against one model's promises."""

    def __init__(self, promised: dict, spec: ProductSpec, targets: list[str], seed: int = 0):
        self.promised = promised
        self.spec = spec
        self.targets = targets
        self.seed = seed

    def _promise(self, t: str, metric: str) -> float | None:
        if metric == "pairwise":
            block = self.promised.get("decision", {}).get(t, {}).get("model", {})
            value = block.get("pairwise_all")
        elif metric == "brier":  # the nested figures name the glycan risk glyco_risk
            key = "glyco_risk" if t == "glycans" else f"{t}_risk"
            value = self.promised.get(key, {}).get("model", {}).get("brier")
        else:
            value = self.promised.get("targets", {}).get(t, {}).get("model", {}).get(metric)
        return None if value is None or not np.isfinite(value) else float(value)

    def _plan(self, rows: pd.DataFrame) -> list[tuple[str, str, str, Any]]:
        """(what, metric, target, statistic) of every check that applies to ``rows``."""
        plan: list[tuple[str, str, str, Any]] = []
        for t in self.targets:
            if OBS + t not in rows or t not in rows:
                continue
            for lv in (80, 90):
                if f"{t}_lo{lv}" in rows:
                    plan.append((f"{t} coverage_{lv}", f"coverage_{lv}", t, None))
            for metric in ("r2", "mae", "spearman"):
                plan.append((f"{t} {metric}", metric, t, _regression(t, metric)))
        y = "dsp_yield_pct"
        if OBS + y in rows and y in rows:
            plan.append((f"{y} pairwise clone choice", "pairwise", y, _pairwise(y)))
        for group in ("glycans", "downstream"):
            if f"{group}_risk" in rows and self._outside(rows, group) is not None:
                plan.append((f"{group}_risk brier", "brier", group, self._brier(group)))
        return plan

    def _outside(self, rows: pd.DataFrame, group: str) -> pd.Series | None:
        limits = self.spec.glycans if group == "glycans" else self.spec.downstream
        cols = [lim.attribute for lim in limits if OBS + lim.attribute in rows]
        if not cols:
            return None
        obs = rows[[OBS + c for c in cols]].rename(columns=lambda c: c[len(OBS) :])
        return self.spec.out_of_spec(obs, group)

    def _brier(self, group: str):
        def stat(rows: pd.DataFrame) -> float:
            out = self._outside(rows, group)
            p = rows[f"{group}_risk"].to_numpy(float)
            y = np.asarray(out, dtype=float) if out is not None else np.full(len(rows), np.nan)
            ok = np.isfinite(p) & np.isfinite(y)
            return float(np.mean((p[ok] - y[ok]) ** 2)) if ok.sum() >= MIN_RUNS else float("nan")

        return stat

    def checks(self, rows: pd.DataFrame) -> list[Check]:
        """Every check of ``rows`` (one model version's judged rows, or one campaign's)."""
        plan = self._plan(rows)
        m = sum(1 for _, metric, t, _ in plan if self._promise(t, metric) is not None)
        level = 1 - ALPHA / max(m, 1)
        rng = np.random.default_rng(self.seed)
        out = []
        for what, metric, t, stat in plan:
            promised = self._promise(t, metric)
            if stat is None:  # coverage: binomial
                out.append(self._coverage(rows, what, metric, t, promised, level))
                continue
            n = int(rows[OBS + t].notna().sum()) if OBS + t in rows else len(rows)
            realized = stat(rows)
            clones = rows["clone_id"].nunique()
            if n < MIN_RUNS or clones < MIN_CLONES or not np.isfinite(realized):
                out.append(Check(what, metric, realized, promised, np.nan, np.nan, n, TOO_FEW))
                continue
            low, high = _bootstrap(rows, stat, level, rng)
            verdict = (
                NO_PROMISE
                if promised is None
                else DEGRADED
                if _worse(metric, low, high, promised)
                else HOLDS
            )
            out.append(Check(what, metric, realized, promised, low, high, n, verdict))
        out += self._flags(rows)
        return out

    def _coverage(self, rows, what, metric, t, promised, level) -> Check:
        lv = metric.split("_")[1]
        y = rows[OBS + t].to_numpy(float)
        lo, hi = rows[f"{t}_lo{lv}"].to_numpy(float), rows[f"{t}_hi{lv}"].to_numpy(float)
        ok = np.isfinite(y) & np.isfinite(lo) & np.isfinite(hi)
        n = int(ok.sum())
        k = int(((lo <= y) & (y <= hi))[ok].sum())
        if n < MIN_RUNS:
            return Check(what, metric, k / n if n else np.nan, promised, np.nan, np.nan, n, TOO_FEW)
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=level, method="exact")
        verdict = NO_PROMISE if promised is None else DEGRADED if ci.high < promised else HOLDS
        return Check(what, metric, k / n, promised, ci.low, ci.high, n, verdict)

    def _flags(self, rows: pd.DataFrame) -> list[Check]:
        """Flag precision and recall against any spec limit measured out (no promise)."""
        parts = [self._outside(rows, g) for g in ("glycans", "downstream")]
        parts = [p for p in parts if p is not None]
        if not parts:
            return []
        bad = pd.concat(parts, axis=1).astype(float).max(axis=1).to_numpy()  # NaN: not measured
        flagged = rows["flag"].eq(FLAG_RISK).to_numpy()
        ok = np.isfinite(bad)
        bad_b = bad[ok] > 0
        fl = flagged[ok]
        precision = bad_b[fl].mean() if fl.any() else np.nan
        recall = fl[bad_b].mean() if bad_b.any() else np.nan
        return [
            Check("flag precision", "precision", precision, None, np.nan, np.nan, int(fl.sum()),
                  NO_PROMISE),
            Check("flag recall", "recall", recall, None, np.nan, np.nan, int(bad_b.sum()),
                  NO_PROMISE),
        ]  # fmt: skip


def _regression(t: str, metric: str):
    def stat(rows: pd.DataFrame) -> float:
        return regression_metrics(rows[OBS + t].to_numpy(float), rows[t].to_numpy(float))[metric]

    return stat


def _pairwise(t: str):
    def stat(rows: pd.DataFrame) -> float:
        clones = rows.groupby("clone_id").agg(
            obs=(OBS + t, "mean"), pred=(t, "mean"), campaign=("campaign_id", "first")
        )
        return pairwise(clones["obs"], clones["pred"], clones["campaign"], 0.0)[0]

    return stat


def verdict_of(checks: list[Check]) -> dict[str, Any]:
    """The group's verdict: degraded (and which figures), holds, or too few outcomes."""
    judged = [c for c in checks if c.verdict in (HOLDS, DEGRADED)]
    degraded = [c.what for c in checks if c.verdict == DEGRADED]
    if degraded:
        return {"verdict": DEGRADED, "degraded": degraded}
    if not judged:
        return {"verdict": TOO_FEW, "degraded": []}
    return {"verdict": HOLDS, "degraded": []}


def monitor_version(
    joined: pd.DataFrame,
    promised: dict,
    spec: ProductSpec,
    targets: list[str],
    seed: int = 0,
) -> dict[str, Any]:
    """The realized figures of one model version's joined predictions, and per campaign."""
    rows = judged_rows(joined)
    judge = Judge(promised, spec, targets, seed)
    overall = judge.checks(rows)
    campaigns = {}
    for c, part in rows.groupby("campaign_id", sort=True):
        checks = judge.checks(part)
        campaigns[str(c)] = {
            "runs": len(part),
            "clones": int(part["clone_id"].nunique()),
            **verdict_of(checks),
            "checks": [x.to_dict() for x in checks],
        }
    unknown = int(joined["flag"].eq(FLAG_UNKNOWN).sum())
    seen = int(joined["seen_in_training"].fillna("").ne("").sum())
    return {
        "predictions": len(joined),
        "judged_runs": len(rows),
        "judged_clones": int(rows["clone_id"].nunique()),
        "left_out": {"unknown": unknown, "seen_in_training": seen},
        "alpha": ALPHA,
        **verdict_of(overall),
        "checks": [x.to_dict() for x in overall],
        "campaigns": campaigns,
    }
